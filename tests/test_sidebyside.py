"""The side-by-side page and terminal view: every library × function cell, each code block the
exact source it names, the committed page current, bad names refused, and the page's own
controls working in a real (headless) browser."""

from __future__ import annotations

import html
import io
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from rich.console import Console

from shared.commands import code
from shared.studies.sidebyside import PARALLEL_ROWS, ROWS, RUNTIME_ROWS, SURPRISES, cells, engine_titles, library_titles
from shared.studies.sidebyside_html import page

pytestmark = pytest.mark.quick  # the quick tier (bash test.sh --quick)

ROOT = Path(__file__).resolve().parent.parent
COMMITTED = ROOT / "results" / "side_by_side.html"
PIECE = re.compile(r'<div class="piece" data-name="([^"]*)" data-file="([^"]*)" data-lines="(\d+)-(\d+)">'
                   r'<div class="where">[^<]*</div><pre class="code highlight"><code>(.*?)</code></pre></div>', re.S)


def generated() -> str:
    return page(code.load_report(code.DEFAULT_REPORT, required=False), code.DEFAULT_REPORT,  # what `code --html` writes
                code.load_parallel_report(), code.PARALLEL_REPORT)


def text_of(fragment: str) -> str:
    return html.unescape(re.sub(r"<[^>]+>", "", fragment))


def test_every_cell_is_there_and_every_block_is_the_source():
    text = generated()
    for rows, prefix, part in ((ROWS, "", "lesson"), (RUNTIME_ROWS, "runtime-", "runtime")):
        for row in rows:
            anchor = prefix + ("surprises" if row == SURPRISES else row)
            start = text.index(f'<tr id="{anchor}">')
            segment = text[start:text.index("</tr>", start)]
            assert re.findall(r'<td data-lib="(\w+)">', segment) == list(library_titles()), row
            files = {path for path in re.findall(r'data-file="([^"]+)"', segment)}
            assert files <= {f"implementations/{lib}/{part}.py" for lib in library_titles()}, (row, files)
    blocks = PIECE.findall(text)
    assert len(blocks) >= sum(len(c.pieces) for part in ("lesson", "runtime") for c in cells(part=part).values())
    for name, path, first, last, body in blocks:
        lines = (ROOT / path).read_text().splitlines()[int(first) - 1:int(last)]
        assert text_of(body) == "\n".join(lines), (path, name)
    assert "NumPy has no compiler" in text  # NumPy's compile_training says why it is absent


def test_the_lessons_come_first_and_the_runtimes_after_them_folded():
    text = generated()
    lesson, runtime = text.index('<table id="rosetta"'), text.index('<section id="runtime"><details>')
    assert lesson < runtime < text.index('<section id="seed">')
    assert text.index('<tr id="configure">') < text.index('<tr id="build_model">') < text.index('<tr id="train">')
    assert "<details open" not in text  # folded until a reader opens it
    rosetta = text[lesson:runtime]
    assert not any(f'<tr id="{row}">' in rosetta for row in RUNTIME_ROWS if row != SURPRISES)


def test_the_data_parallel_engines_are_on_the_page_cell_by_cell():
    text = generated()
    table = cells(tuple(engine_titles()), part="parallel")
    for row in PARALLEL_ROWS:
        anchor = "parallel-" + ("surprises" if row == SURPRISES else row)
        start = text.index(f'<tr id="{anchor}">')
        segment = text[start:text.index("</tr>", start)]
        assert re.findall(r'<td data-lib="(\w+)">', segment) == list(engine_titles()), row
        for library in engine_titles():
            assert all(f'data-name="{p.name}" data-file="{p.path}"' in segment for p in table[(library, row)].pieces)
    assert table[("keras", "train_step")].pieces == () and "fit takes each step" in text
    assert [p.name for p in table[("jax", "build_model")].pieces] == ["build_model", "_global"]


def test_helpers_sit_in_the_row_of_their_user():
    table = cells()
    assert [p.name for p in table[("numpy", "forward")].pieces] == ["forward", "_outputs"]
    assert {"_fit", "LossHistory"} <= {p.name for p in table[("keras", "train")].pieces}
    assert {"MLP", "Dense"} <= {p.name for p in table[("tensorflow", "build_model")].pieces}
    assert {"Compiled", "_training_loop", "_pure_step"} <= {p.name for p in table[("torch", "compile_training")].pieces}
    assert table[("numpy", "compile_training")].pieces == () and "compiler" in table[("numpy", "compile_training")].absent
    assert "_probe_cpu" in [p.name for p in cells(part="runtime")[("torch", "probe_machine")].pieces]


def test_the_committed_page_is_current():
    """Regenerate with: python compare.py code --html results/side_by_side.html"""
    assert COMMITTED.read_text() == generated()


def test_the_seed_section_marks_the_quirk():
    seed = generated().split('<section id="seed">')[1]
    marks = re.findall(r'<mark class="quirk">(.*?)</mark>', seed)
    assert len(marks) == 3 and all("tanh" in text_of(m) or "activity_derivative" in text_of(m) for m in marks)
    assert "def gradients" in text_of(seed)  # the reference beside it


def test_proof_header_from_the_report():
    text = generated()
    proof = text.split('<section id="proof">')[1].split("</section>")[0]
    assert "tolerance 1e-09" in proof and "µs/step" in proof and "first call" in proof and "Measured on" in proof
    assert proof.count("<tr>") >= 9  # the reference and every run that finished


@pytest.mark.parametrize("argv,words", [
    (["code", "gradient"], ["no function 'gradient'", "gradients", "train_step"]),
    (["code", "loss", "--frameworks", "numpy,mxnet"], ["unknown library 'mxnet'", "numpy, torch, tensorflow, keras, jax"]),
    (["code"], ["name a FUNCTION"]),
    (["code", "--html", "/nonexistent/p.html"], ["--html", "does not exist"]),
    (["code", "--html", "/tmp/nn-rosetta-p.html", "--report", "/nonexistent.json"], ["--report /nonexistent.json", "no such file"]),
    (["code", "--html", "/tmp/nn-rosetta-p.html", "--report", str(ROOT / "pyproject.toml")], ["cannot read it as JSON"]),
    (["code", "--html", "/tmp/nn-rosetta-p.html", "--report", str(ROOT / "results" / "scale_cpu.json")],
     ["not a compare.py JSON report"]),
])
def test_bad_names_exit_2_with_one_line(argv, words):
    result = subprocess.run([sys.executable, str(ROOT / "compare.py"), *argv], capture_output=True, text=True, timeout=60)
    assert result.returncode == 2 and result.stdout == ""
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and all(w in lines[0] for w in words), lines


def test_terminal_view_in_columns_and_one_below_the_other():
    for width, columns in ((200, True), (80, False)):
        console = Console(width=width, file=io.StringIO(), color_system=None)
        code.show("lesson", "gradients", ["numpy", "jax"], console)
        out = console.file.getvalue()
        assert "def gradients(model" in out and "return jax.grad(loss)" in out
        assert ("NumPy · gradients" in out) is not columns
    result = subprocess.run([sys.executable, str(ROOT / "compare.py"), "code", "--list"], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0 and result.stdout.split() == [*ROWS, *(r for r in RUNTIME_ROWS if r not in ROWS)]


CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
HEADLESS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
            "--disable-component-update", "--disable-sync", "--virtual-time-budget=3000"]


def chromium(tmp_path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([CHROMIUM, *HEADLESS, f"--user-data-dir={tmp_path / 'profile'}", *args], capture_output=True, text=True,
                          timeout=120)


@pytest.mark.skipif(CHROMIUM is None, reason="needs Debian's chromium (apt-get install chromium; .ci/run installs it)")
def test_in_a_real_browser_a_library_can_be_hidden(tmp_path):
    url = COMMITTED.as_uri()
    shown = chromium(tmp_path, "--dump-dom", url)
    every = list(library_titles())  # the registry's libraries, in the page's order
    assert f'data-visible="{",".join(every)}"' in shown.stdout
    hidden = chromium(tmp_path, "--dump-dom", url + "?hide=keras")  # the page's own control, through its address
    assert f'data-visible="{",".join(n for n in every if n != "keras")}"' in hidden.stdout
    two = chromium(tmp_path, "--dump-dom", url + "?only=numpy,jax")
    assert 'data-visible="numpy,jax"' in two.stdout
    shot = tmp_path / "page.png"
    chromium(tmp_path, f"--screenshot={shot}", "--window-size=1366,900", url)
    from matplotlib.image import imread

    image = imread(shot)
    assert image.shape[:2] == (900, 1366) and image.std() > 0.05
