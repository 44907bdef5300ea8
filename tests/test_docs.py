"""Docs that cannot rot unseen: every relative link and #anchor in README.md and docs/ resolves,
every command shown in a code block parses (its flags are the command line's own; nothing runs),
and every test a finding names exists. Each check is also shown failing on a broken case."""

from __future__ import annotations

import importlib
import re
import shlex
import unicodedata
from pathlib import Path

import pytest

from shared.commands.args import SUBCOMMANDS, UsageError

pytestmark = pytest.mark.quick  # the quick tier (bash test.sh --quick)

ROOT = Path(__file__).resolve().parent.parent
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
LINK = re.compile(r"!?\[[^\]]*\]\(([^)\s]+)\)")
FENCE = re.compile(r"^```(\w*)\n(.*?)^```", re.S | re.M)


def slug(heading: str) -> str:
    """A heading's anchor as GitHub makes it: lower case, punctuation but hyphens and underscores
    dropped, spaces to hyphens."""
    text = re.sub(r"[`*]|\[([^\]]*)\]\([^)]*\)", r"\1", heading.strip().lower())
    kept = "".join(c for c in text if c in " -_" or unicodedata.category(c)[0] in "LN")
    return kept.replace(" ", "-")


def anchors(path: Path) -> set[str]:
    text = FENCE.sub("", path.read_text())
    found, seen = set(), {}
    for heading in re.findall(r"^#{1,6} (.+)$", text, re.M):
        base = slug(heading)
        found.add(base if base not in seen else f"{base}-{seen[base]}")
        seen[base] = seen.get(base, 0) + 1
    return found


def link_problems(path: Path) -> list[str]:
    problems = []
    for target in LINK.findall(FENCE.sub("", path.read_text())):
        if re.match(r"[a-z]+:", target):
            continue  # an address outside the repository
        file, _, anchor = target.partition("#")
        where = (path.parent / file).resolve() if file else path
        if not where.exists():
            problems.append(f"{path.name}: {target}: no such file")
        elif anchor and where.suffix == ".md" and anchor not in anchors(where):
            problems.append(f"{path.name}: {target}: no heading with that anchor")
    return problems


def commands(path: Path) -> list[list[str]]:
    """Every command a code block shows (`python compare.py ...`, `bash run.sh ...`, ...), as words."""
    found = []
    for language, body in FENCE.findall(path.read_text()):
        if language not in ("", "bash", "sh", "console"):
            continue
        for line in body.replace("\\\n", " ").splitlines():
            line = line.split(" #", 1)[0].strip().removeprefix("$ ")
            line = re.sub(r"\$\{?[A-Z_]+\}?", "0", line)  # a shell variable the text sets per machine ($R, $I)
            if re.match(r"(python3? |bash |\.venv/bin/python )", line):
                found.append(shlex.split(line))
    return found


def command_problem(words: list[str]) -> str | None:
    """Why a shown command would not parse, or None: compare.py and its sub-commands through their
    own parsers, run.sh as compare.py, test.sh's own flag, any other script only by existing."""
    program, script, *args = words[0], words[1], *words[2:]
    if program.endswith("python") or program.endswith("python3"):
        if script == "compare.py":
            module = SUBCOMMANDS[args[0]].module if args and args[0] in SUBCOMMANDS else "shared.commands.compare"
            parser = importlib.import_module(module).build_parser()
            try:
                parser.parse_args(args[1:] if module != "shared.commands.compare" else args)
            except (UsageError, SystemExit) as exc:
                return f"{shlex.join(words)}: {exc}"
            return None
        if script == "results/regenerate.py":
            import results.regenerate as regenerate

            try:
                regenerate.build_parser().parse_args(args)
            except SystemExit:
                return f"{shlex.join(words)}: does not parse"
            return None
        return None if script == "-c" or (ROOT / script).exists() else f"{shlex.join(words)}: no script {script}"
    if script == "run.sh":
        return command_problem(["python", "compare.py", *args])
    if script == "test.sh":
        unknown = [a for a in args if a.startswith("-") and a not in ("--quick", "-x", "-q", "-k")]
        return f"{shlex.join(words)}: {unknown} are not test.sh's" if unknown else None
    return None if (ROOT / script).exists() else f"{shlex.join(words)}: no script {script}"


@pytest.mark.parametrize("path", DOCS, ids=lambda p: p.name)
def test_every_relative_link_and_anchor_resolves(path):
    assert link_problems(path) == []


@pytest.mark.parametrize("path", DOCS, ids=lambda p: p.name)
def test_every_command_shown_parses(path):
    shown = commands(path)
    assert [problem for words in shown if (problem := command_problem(words))] == []


def test_the_docs_show_commands_and_the_readme_the_two():
    readme = commands(ROOT / "README.md")
    assert ["bash", "run.sh"] in readme and ["bash", "test.sh"] in readme
    assert sum(len(commands(path)) for path in DOCS) >= 10


def test_every_test_a_finding_names_exists():
    text = (ROOT / "docs" / "findings.md").read_text()
    named = re.findall(r"(tests/\w+\.py)::(\w+)", text)
    assert len(named) >= 10
    for file, test in named:
        assert re.search(rf"^def {test}\(", (ROOT / file).read_text(), re.M), f"{file}::{test}"


def test_the_checks_fail_on_broken_cases(tmp_path):
    (tmp_path / "other.md").write_text("# A heading, with `code`\n\ntext\n")
    page = tmp_path / "page.md"
    page.write_text("[ok](other.md#a-heading-with-code) [gone](missing.md) [bad](other.md#nowhere) [web](https://example.org)\n"
                    "```bash\npython compare.py --frameworks torch --bogus\nbash test.sh --quick\n```\n")
    assert link_problems(page) == ["page.md: missing.md: no such file", "page.md: other.md#nowhere: no heading with that anchor"]
    problems = [command_problem(words) for words in commands(page)]
    assert problems[1] is None and "unrecognized arguments: --bogus" in problems[0]
    assert command_problem(["python", "compare.py", "explain", "--frameworks", "mxnet"])
    assert command_problem(["bash", "test.sh", "--fast"])
    assert slug("What `compare.py` prints") == "what-comparepy-prints"
    assert slug("A `torch.while_loop` of *steps*") == "a-torchwhile_loop-of-steps"
