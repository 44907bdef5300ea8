"""Bad input: exit 2, one line on stderr naming the problem, no traceback, before training."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from shared.commands import cli
from shared.harness import registry

pytestmark = pytest.mark.quick  # the quick tier (bash test.sh --quick)

ROOT = Path(__file__).resolve().parent.parent
CSV_GOOD = "a,b,y\n1,2,0\n2,1,1\n3,3,0\n0,1,1\n"

CASES = {
    # id: (arguments, csv contents or None, words the message must contain)
    "arch-first-size": (["--arch", "3,2,1"], None, ["--arch 3,2,1", "first size must be 2"]),
    "arch-last-size": (["--arch", "2,2,2"], None, ["last size must be 1"]),
    "arch-zero": (["--arch", "2,0,1"], None, ["at least 1"]),
    "arch-negative": (["--arch", "2,-3,1"], None, ["at least 1"]),
    "arch-not-integer": (["--arch", "2,x,1"], None, ["'x' is not an integer"]),
    "arch-float": (["--arch", "2,2.5,1"], None, ["'2.5' is not an integer"]),
    "arch-one-layer": (["--arch", "2"], None, ["at least two layer sizes"]),
    "lr-zero": (["--lr", "0"], None, ["--lr", "positive"]),
    "lr-negative": (["--lr=-0.1"], None, ["--lr", "positive"]),
    "lr-not-number": (["--lr", "fast"], None, ["--lr", "'fast' is not a number"]),
    "lr-nan": (["--lr", "nan"], None, ["--lr", "positive"]),
    "steps-zero": (["--steps", "0"], None, ["--steps", "at least 1"]),
    "batch-zero": (["--batch-size", "0"], None, ["--batch-size", "at least 1"]),
    "batch-too-large": (["--batch-size", "5"], None, ["--batch-size 5", "larger than the 4 training samples"]),
    "repeat-zero": (["--repeat", "0"], None, ["--repeat", "at least 1"]),
    "threads-zero": (["--threads", "0"], None, ["--threads", "at least 1"]),
    "threads-negative": (["--threads=-2"], None, ["--threads", "at least 1"]),
    "threads-not-integer": (["--threads", "1.5"], None, ["--threads", "'1.5' is not an integer"]),
    "seed-negative": (["--seed=-1"], None, ["--seed"]),
    "unknown-task": (["--task", "mnist"], None, ["--task", "'mnist'"]),
    "unknown-library": (["--frameworks", "numpy,mxnet"], None, ["unknown library 'mxnet'"]),
    "unknown-mode": (["--mode", "lazy"], None, ["--mode", "'lazy'"]),
    "unknown-device": (["--device", "tpu"], None, ["--device", "'tpu'"]),
    "unknown-dtype": (["--dtype", "float16"], None, ["--dtype", "'float16'"]),
    "unknown-activation": (["--activation", "gelu"], None, ["--activation", "'gelu'"]),
    "book-other-task": (["--book", "--task", "linear"], None, ["--book", "task linear"]),
    "book-other-library": (["--book", "--frameworks", "torch"], None, ["--book", "NumPy"]),
    "book-with-lr": (["--book", "--lr", "0.5"], None, ["--book", "--lr"]),
    "data-missing": (["--task", "linear", "--data", "/nonexistent/x.csv", "--target", "y"], None, ["no such file"]),
    "data-folder": (["--task", "linear", "--data", "/tmp", "--target", "y"], None, ["is a folder"]),
    "data-binary": (["--task", "linear", "--target", "y"], b"\xff\xfe\x00\x81garbage", ["cannot read it"]),
    "data-empty": (["--task", "linear", "--target", "y"], "", ["the file is empty"]),
    "data-header-only": (["--task", "linear", "--target", "y"], "a,b,y\n", ["no data rows"]),
    "data-text-cell": (["--task", "linear", "--target", "y"], "a,b,y\n1,2,3\n4,five,6\n", ["row 2", "column 'b'", "'five'"]),
    "data-nan": (["--task", "linear", "--target", "y"], "a,b,y\n1,2,3\n4,nan,6\n", ["row 2", "column 'b'", "not a finite number"]),
    "data-inf": (["--task", "linear", "--target", "y"], "a,b,y\n1,2,inf\n4,5,6\n", ["row 1", "column 'y'", "not a finite"]),
    "data-ragged": (["--task", "linear", "--target", "y"], "a,b,y\n1,2,3\n4,5\n", ["row 2", "2 cells"]),
    "data-no-target": (["--task", "linear", "--target", "price"], CSV_GOOD, ["no column 'price'", "a, b, y"]),
    "data-without-target": (["--task", "linear"], CSV_GOOD, ["--data needs --target"]),
    "target-without-data": (["--task", "linear", "--target", "y"], None, ["--target needs --data"]),
    "data-with-xor": (["--task", "xor", "--target", "y"], CSV_GOOD, ["--data works with tasks linear"]),
    "logistic-three-classes": (["--task", "logistic", "--target", "y"], "a,y\n1,0\n2,1\n3,2\n", ["exactly two classes", "found 3"]),
    "softmax-one-class": (["--task", "softmax", "--target", "y"], "a,y\n1,0\n2,0\n", ["at least two classes", "found 1"]),
    "constant-feature": (["--task", "linear", "--target", "y"], "a,b,y\n1,2,3\n1,5,6\n", ["'a' is constant"]),
    "json-folder-missing": (["--json", "/nonexistent/out.json"], None, ["--json", "folder /nonexistent does not exist"]),
    "markdown-folder-missing": (["--markdown", "/nonexistent/r.md"], None, ["--markdown", "does not exist"]),
    "plots-folder-missing": (["--plots", "/nonexistent/a/b"], None, ["--plots", "does not exist"]),
    # Refused before training (they used to train, then fail with exit 1).
    "markdown-and-plots-to-stdout": (["--markdown", "-", "--plots", "-"], None, ["--markdown -", "only --json can write to stdout"]),
    "plots-to-stdout": (["--plots", "-"], None, ["--plots -", "expected a folder"]),
    "json-unwritable": (["--json", "/proc/out.json"], None, ["--json /proc/out.json", "cannot write in /proc"]),
    "steps-too-many": (["--steps", "100000000000"], None, ["--steps 100000000000", "at most", "steps fit"]),
    "empty-label": (["--task", "logistic", "--target", "y"], "a,y\n1,0\n2,\n3,1\n", ["row 2", "column 'y'", "label is empty"]),
    "duplicate-target": (["--task", "linear", "--target", "y"], "y,a,y\n1,2,3\n4,5,6\n7,8,10\n",
                         ["column 'y' appears 2 times", "columns 1 and 3"]),
    "duplicate-feature": (["--task", "linear", "--target", "y"], "a,a,y\n1,2,3\n4,5,6\n7,8,10\n", ["column 'a' appears 2 times"]),
    "features-unknown": (["--task", "linear", "--target", "y", "--features", "a,zz"], CSV_GOOD, ["no column 'zz' for --features"]),
    "features-include-target": (["--task", "linear", "--target", "y", "--features", "a,y"], CSV_GOOD, ["--features names the target"]),
    "features-without-data": (["--task", "linear", "--features", "a"], None, ["--features needs --data"]),
    "delimiter-unknown": (["--task", "linear", "--target", "y", "--delimiter", "#"], CSV_GOOD, ["--delimiter '#'"]),
    "text-column-hint": (["--task", "linear", "--target", "y"], "id,a,y\nr1,1,2\nr2,2,3\nr3,4,1\n",
                         ["row 1", "column 'id'", "'r1' is not a number", "--features can leave"]),
    "timeout-too-long": (["--timeout", "3e6"], None, ["--timeout", "more than a week"]),
    "arch-too-large": (["--arch", "2,1000000000000,1"], None, ["--arch 2,1000000000000,1", "weights would take"]),
    "json-is-markdown": (["--json", "/tmp/nn-rosetta-same.out", "--markdown", "/tmp/nn-rosetta-same.out"], None,
                         ["--json and --markdown name the same file"]),
    "json-onto-data": (["--task", "linear", "--target", "y", "--json", "DATA"], CSV_GOOD, ["--data and --json name the same file"]),
    "csv-huge-cell": (["--task", "linear", "--target", "y"], "a,y\n" + "1" * 200_000 + ",2\n", ["not a CSV file it can read"]),
    "csv-huge-value": (["--task", "linear", "--target", "y"], "a,b,y\n1e308,1,2\n-1e308,2,3\n1e308,3,5\n", ["'a' has values too large"]),
    "wrong-delimiter-hint": (["--task", "linear", "--target", "y", "--delimiter", ","], "a;b;y\n1;2;3\n4;5;6\n",
                             ["no column 'y'", "a;b;y"]),
}


@pytest.mark.parametrize("case", list(CASES))
def test_bad_input_is_one_line_and_exit_2(case, tmp_path):
    args, csv, words = CASES[case]
    if csv is not None:
        path = tmp_path / "data.csv"
        path.write_bytes(csv if isinstance(csv, bytes) else csv.encode())
        args = [a.replace("DATA", str(path)) for a in args] + ["--data", str(path)]
    result = subprocess.run([sys.executable, str(ROOT / "compare.py"), *args], capture_output=True, text=True, timeout=60,
                            cwd=tmp_path)
    lines = result.stderr.strip().splitlines()
    assert result.returncode == 2, result.stderr
    assert len(lines) == 1, result.stderr
    assert "Traceback" not in result.stderr
    assert lines[0].startswith("compare.py: error: ")
    for word in words:
        assert word in lines[0], lines[0]
    assert result.stdout == ""
    assert not (tmp_path / "-").exists()  # nothing made on the way out


def test_a_named_pipe_is_refused_and_left_alone(tmp_path):
    pipe = tmp_path / "out.json"
    os.mkfifo(pipe)
    result = subprocess.run([sys.executable, str(ROOT / "compare.py"), "--json", str(pipe)], capture_output=True, text=True,
                            timeout=60)
    assert result.returncode == 2 and "not a regular file" in result.stderr and len(result.stderr.splitlines()) == 1
    assert stat.S_ISFIFO(os.stat(pipe).st_mode)


def test_naming_every_library_explicitly_is_still_explicit(monkeypatch, capsys):
    monkeypatch.setattr(registry, "installed", lambda name: name != "jax")
    assert cli.main(["--frameworks", "numpy,torch,tensorflow,keras,jax", "--steps", "5"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "--frameworks jax" in err[0] and "pip install jax" in err[0]


def test_naming_a_missing_library_is_exit_2_with_the_install_command(monkeypatch, capsys):
    monkeypatch.setattr(registry, "installed", lambda name: name != "jax")
    assert cli.main(["--frameworks", "numpy,jax", "--steps", "5"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "pip install jax" in err[0]


def test_a_pipe_closed_early_is_not_an_error():
    result = subprocess.run(["bash", "-c", f"'{sys.executable}' '{ROOT / 'compare.py'}' code --list | head -1; echo ${{PIPESTATUS[0]}}"],
                            capture_output=True, text=True, timeout=60)
    assert result.stdout.split() == ["Surprises", "0"] and "error" not in result.stderr
