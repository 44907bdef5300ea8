"""Argument helpers shared by every sub-command: one-line usage errors (exit 2), number and list
parsers, and output paths checked before any work starts."""

from __future__ import annotations

import argparse
import os
import sys
import traceback
from collections.abc import Callable
from dataclasses import dataclass

from shared.contract.errors import Terminated, UsageError, one_line


class Parser(argparse.ArgumentParser):
    """argparse, but every usage error is one line and exit 2."""

    def error(self, message: str):
        raise UsageError(message)


def _integer(text: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not an integer") from None


def add_threads_flag(p) -> None:
    """--threads N, as compare and scale both take it."""
    p.add_argument("--threads", type=positive_int, metavar="N",
                   help="every library's intra-op (and inter-op) threads, as each sets them (default: each library's "
                        "own); the report records what each used")


def positive_int(text: str) -> int:
    value = _integer(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"{value} must be at least 1")
    return value


def non_negative_int(text: str) -> int:
    value = _integer(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"{value} must be at least 0")
    return value


def positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not value > 0 or value == float("inf"):
        raise argparse.ArgumentTypeError(f"{text} must be a positive finite number")
    return value


def timeout(text: str) -> float:
    """Seconds to wait for a worker's answer: positive, at most a week (the OS's wait has a limit)."""
    value = positive_float(text)
    if value > 7 * 24 * 3600:
        raise argparse.ArgumentTypeError(f"{text} is more than a week ({7 * 24 * 3600} s)")
    return value


def seed(text: str) -> int:
    value = _integer(text)
    if not 0 <= value < 2**32:
        raise argparse.ArgumentTypeError(f"{value} must be between 0 and 2**32 - 1 (NumPy's RandomState)")
    return value


def column_list(text: str) -> list[str]:
    names = [n.strip() for n in text.split(",")]
    if not all(names):
        raise argparse.ArgumentTypeError(f"{text!r}: expected a comma list of column names, e.g. age,bmi")
    if len(set(names)) != len(names):
        raise argparse.ArgumentTypeError(f"{text!r}: names a column more than once")
    return names


def architecture(text: str) -> tuple[int, ...]:
    parts = [p.strip() for p in text.split(",")]
    sizes = []
    for p in parts:
        try:
            sizes.append(int(p))
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r}: layer size {p!r} is not an integer") from None
    if any(s < 1 for s in sizes):
        raise argparse.ArgumentTypeError(f"{text!r}: layer sizes must be at least 1")
    if len(sizes) < 2:
        raise argparse.ArgumentTypeError(f"{text!r}: needs at least two layer sizes (inputs and outputs), e.g. 2,2,1")
    return tuple(sizes)


class Selection(list):
    """The names a comma-list flag chose, remembering whether the user named them (an
    explicit list) or wrote `all`."""

    def __init__(self, names, explicit: bool):
        super().__init__(names)
        self.explicit = explicit


def choice_list(allowed: tuple[str, ...], what: str, everything: tuple[str, ...] | None = None):
    """A comma list of `allowed` names, or `all` (= `everything`, by default all allowed)."""
    def parse(text: str) -> Selection:
        names = [n.strip() for n in text.split(",") if n.strip()]
        if text.strip() == "all":
            return Selection(everything or allowed, explicit=False)
        bad = [n for n in names if n not in allowed]
        if bad or not names:
            name = bad[0] if bad else text
            raise argparse.ArgumentTypeError(f"unknown {what} {name!r}; expected all or a comma list of {', '.join(allowed)}")
        return Selection(dict.fromkeys(names), explicit=True)
    return parse


def check_output_path(flag: str, path: str | None, folder: bool = False, stdout_ok: bool = False) -> None:
    """Refuse, before any training, an output path that could not be written afterwards."""
    if path is None:
        return
    if path == "-":
        if stdout_ok:
            return
        where = "a folder" if folder else "a file path"
        raise UsageError(f"{flag} -: expected {where}; only --json can write to stdout")
    if not path.strip():
        raise UsageError(f"{flag}: the path is empty")
    parent = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(parent):
        raise UsageError(f"{flag} {path}: folder {parent} does not exist")
    if folder:
        if os.path.exists(path) and not os.path.isdir(path):
            raise UsageError(f"{flag} {path}: exists and is not a folder")
        probe_folder = path if os.path.isdir(path) else parent
    else:
        if os.path.isdir(path):
            raise UsageError(f"{flag} {path}: is a folder, expected a file path")
        if os.path.lexists(path) and not os.path.isfile(path):
            raise UsageError(f"{flag} {path}: exists and is not a regular file (a pipe, device or broken link); "
                             "reports replace files whole, so choose another path")
        if os.path.isfile(path) and not os.access(path, os.W_OK):
            raise UsageError(f"{flag} {path}: the file is not writable")
        probe_folder = parent
    _check_writable_folder(flag, path, probe_folder)


def add_report_flags(p: argparse.ArgumentParser, plots: str) -> None:
    """--json, --markdown, --plots and --wide, the same in every sub-command that reports."""
    p.add_argument("--json", metavar="PATH", help="write the report as JSON (- for stdout, then nothing else goes there)")
    p.add_argument("--markdown", metavar="PATH", help="write the report as Markdown")
    p.add_argument("--plots", metavar="DIR", help=plots)
    p.add_argument("--wide", action="store_true",
                   help="show every column of the terminal table whatever the width (by default the columns that do "
                        "not fit are left out, in a fixed order; the JSON and Markdown reports carry them all)")


def check_report_paths(args, inputs: dict[str, str | None] | None = None) -> None:
    """The report flags' paths, each writable and none the same as another or as an input."""
    check_output_path("--json", args.json, stdout_ok=True)
    check_output_path("--markdown", args.markdown)
    check_output_path("--plots", args.plots, folder=True)
    check_distinct_paths({**(inputs or {}), "--json": args.json, "--markdown": args.markdown})


def check_distinct_paths(paths: dict[str, str | None]) -> None:
    """Two outputs to one file, or an output onto the input, would silently lose one of them."""
    seen: dict[str, str] = {}
    for flag, path in paths.items():
        if path is None or path == "-":
            continue
        real = os.path.realpath(path)
        if real in seen:
            raise UsageError(f"{seen[real]} and {flag} name the same file {path}; give each its own")
        seen[real] = flag


def _check_writable_folder(flag: str, path: str, folder: str) -> None:
    """Create and remove a temporary file there: permission bits alone do not tell (root, /proc,
    read-only mounts)."""
    import tempfile

    try:
        fd, probe = tempfile.mkstemp(dir=folder, prefix=".nn-rosetta-probe-")
    except OSError as exc:
        raise UsageError(f"{flag} {path}: cannot write in {folder} ({exc.strerror or exc.__class__.__name__})") from None
    os.close(fd)
    os.unlink(probe)


def guarded(prog: str, body: Callable[[list[str]], int], argv: list[str]) -> int:
    """Run a sub-command's body: a usage error is one line and exit 2, Ctrl-C exit 130, a bug
    of ours one line and exit 1 (the traceback with --debug)."""
    try:
        return body(argv)
    except BrokenPipeError:  # the reader went away (`compare.py code --list | head -1`): not an error of ours
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    except UsageError as exc:
        print(f"{prog}: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt as stop:
        print(f"{prog}: interrupted", file=sys.stderr)
        return 143 if isinstance(stop, Terminated) else 130
    except Exception as exc:
        if "--debug" in argv:
            traceback.print_exc()
        print(f"{prog}: internal error: {one_line(exc)} (run with --debug for the traceback)", file=sys.stderr)
        return 1


def first_paragraph(doc: str) -> str:
    """A module docstring's first paragraph, on one line: a command's --help description."""
    return " ".join(doc.strip().split("\n\n", 1)[0].split())


@dataclass(frozen=True)
class Subcommand:
    module: str  # the module whose main(argv) runs it
    summary: str  # what it does, for compare.py --help


SUBCOMMANDS = {  # `compare.py NAME ...` (shared/commands/cli.py dispatches)
    "scale": Subcommand("shared.commands.scale", "the GPU-vs-CPU scaling study"),
    "code": Subcommand("shared.commands.code", "the implementations side by side: a page or the terminal"),
    "parallel": Subcommand("shared.commands.parallel", "data-parallel training on each library's own engine"),
    "tasks": Subcommand("shared.commands.tasks", "every task × library in one run: the µs/step matrix"),
    "explain": Subcommand("shared.commands.explain", "where one library leaves NumPy: the first step, quantity and layer"),
}
