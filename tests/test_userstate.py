"""Your own starting point: --init, --order and --save-weights round-trip bit for bit, bad files
are one line and exit 2 before anything trains, the README's scikit-learn round trip lands on
scikit-learn's trained weights in every library, and the Python entry point
(shared/studies/train.py) gives the same numbers as compare.py."""

from __future__ import annotations

import json
import re
import shlex
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from conftest import BESIDE, problem_for, run_compare

ROOT = Path(__file__).resolve().parent.parent
SHORT = ["--frameworks", f"numpy,{BESIDE}", "--repeat", "1", "--device", "cpu"]


def saved(folder: Path) -> dict[str, list[np.ndarray]]:
    out = {}
    for path in sorted(folder.glob("*.npz")):
        with np.load(path) as archive:
            out[path.name] = [archive[f"arr_{i}"] for i in range(len(archive.files))]
    return out


def test_saved_weights_and_order_fed_back_give_bit_identical_runs(tmp_path):
    first, second = tmp_path / "first", tmp_path / "second"
    code, report = run_compare(tmp_path, *SHORT, "--task", "softmax", "--steps", "30", "--seed", "7", "--dtype", "float32",
                               "--save-weights", str(first))
    assert code == 0
    names = {"initial.npz", "numpy-eager-cpu.npz", f"{BESIDE}-eager-cpu.npz", f"{BESIDE}-compiled-cpu.npz"}
    assert {p.name for p in first.iterdir()} == names | {"order.npy"}
    order = np.load(first / "order.npy")
    assert order.shape == (30, report["config"]["batch_size"]) and order.dtype == np.int64
    code, again = run_compare(tmp_path, *SHORT, "--task", "softmax", "--dtype", "float32", "--init", str(first / "initial.npz"),
                              "--order", str(first / "order.npy"), "--save-weights", str(second))
    assert code == 0 and again["config"]["steps"] == 30
    a, b = saved(first), saved(second)
    assert a.keys() == b.keys()
    for name in a:
        assert all(x.dtype == np.float32 and y.dtype == np.float32 and np.array_equal(x, y) for x, y in zip(a[name], b[name]))
    trained = [np.asarray(w, dtype=np.float32) for w in report["runs"][0]["weights"]]
    assert all(np.array_equal(x, y) for x, y in zip(a["numpy-eager-cpu.npz"], trained))  # what the report says


def test_an_order_as_text_and_a_longer_order_cut_to_the_steps(tmp_path):
    text = tmp_path / "order.txt"
    text.write_text("0\n3\n\n1, \n2\n3\n")
    code, report = run_compare(tmp_path, "--frameworks", "numpy", "--repeat", "1", "--device", "cpu", "--order", str(text),
                               "--steps", "4")
    assert code == 0 and report["config"]["steps"] == 4 and report["config"]["batch_size"] == 1


def write_npz(path: Path, *arrays) -> str:
    np.savez(path, *arrays)
    return str(path)


def bad_cases(tmp_path: Path) -> dict[str, tuple[list[str], list[str]]]:
    ok = [np.zeros((3, 2)), np.zeros((3, 1))]  # XOR's 2,2,1
    (tmp_path / "junk.npz").write_text("not a zip")
    (tmp_path / "wide.txt").write_text("0 1\n2\n")
    (tmp_path / "pairs.txt").write_text("0 1\n2 3\n")
    (tmp_path / "words.txt").write_text("0\nthree\n")
    np.save(tmp_path / "floats.npy", np.zeros((5, 1)))
    np.save(tmp_path / "far.npy", np.array([[0], [1], [4]]))
    np.save(tmp_path / "short.npy", np.zeros((3, 1), dtype=np.int64))
    (tmp_path / "a-file").write_text("")
    np.save(tmp_path / "one.npy", ok[0])
    np.savez(tmp_path / "archive.npz", np.zeros((3, 1), dtype=np.int64))
    (tmp_path / "archive.npy").write_bytes((tmp_path / "archive.npz").read_bytes())
    (tmp_path / "huge.txt").write_text("0\n99999999999999999999999\n")
    return {
        "init-missing": (["--init", str(tmp_path / "none.npz")], ["--init", "no such file"]),
        "init-junk": (["--init", str(tmp_path / "junk.npz")], ["--init", "not a NumPy .npz file"]),
        "init-count": (["--init", write_npz(tmp_path / "one.npz", ok[0])], ["holds arr_0", "expected 2 arrays"]),
        "init-shape": (["--init", write_npz(tmp_path / "shape.npz", ok[0], np.zeros((2, 1)))],
                       ["layer 1 (arr_1) has shape (2, 1), expected (3, 1)"]),
        "init-dtype": (["--init", write_npz(tmp_path / "ints.npz", ok[0].astype(int), ok[1])],
                       ["layer 0 (arr_0) has dtype int64"]),
        "init-nan": (["--init", write_npz(tmp_path / "nan.npz", ok[0], ok[1] + np.nan)], ["layer 1", "not finite"]),
        "order-range": (["--order", str(tmp_path / "far.npy")], ["step 3 takes row 4", "4 rows"]),
        "order-few-steps": (["--order", str(tmp_path / "short.npy"), "--steps", "5"], ["3 steps, fewer than --steps 5"]),
        "order-floats": (["--order", str(tmp_path / "floats.npy")], ["float64", "expected integers"]),
        "order-ragged": (["--order", str(tmp_path / "wide.txt")], ["line 2 has 1 rows, line 1 has 2"]),
        "order-words": (["--order", str(tmp_path / "words.txt")], ["line 2 is not a list of row numbers"]),
        "order-batch": (["--order", str(tmp_path / "pairs.txt"), "--batch-size", "1"], ["2 rows a step, but --batch-size 1"]),
        "save-weights-file": (["--save-weights", str(tmp_path / "a-file")], ["--save-weights", "not a folder"]),
        "book-init": (["--book", "--init", write_npz(tmp_path / "ok.npz", *ok)], ["--book", "drop --init"]),
        "init-npy": (["--init", str(tmp_path / "one.npy")], ["one array, not a .npz archive"]),
        "init-float32-range": (["--init", write_npz(tmp_path / "big.npz", ok[0] + 1e300, ok[1]), "--dtype", "float32"],
                               ["layer 0 (arr_0) holds a value beyond float32's range"]),
        "order-npz": (["--order", str(tmp_path / "archive.npy")], ["a .npz archive, not one .npy array"]),
        "order-huge": (["--order", str(tmp_path / "huge.txt")], ["a row number too large"]),
    }


CASES = ["init-missing", "init-junk", "init-count", "init-shape", "init-dtype", "init-nan", "order-range", "order-few-steps",
         "order-floats", "order-ragged", "order-words", "order-batch", "save-weights-file", "book-init", "init-npy",
         "init-float32-range", "order-npz", "order-huge"]


@pytest.mark.parametrize("case", CASES)
def test_a_bad_file_is_one_line_and_exit_2_with_nothing_trained(tmp_path, case):
    argv, words = bad_cases(tmp_path)[case]
    done = subprocess.run([sys.executable, "compare.py", "--frameworks", "numpy", "--device", "cpu", *argv,
                           "--json", str(tmp_path / "r.json")], cwd=ROOT, capture_output=True, text=True, timeout=60)
    lines = done.stderr.strip().splitlines()
    assert done.returncode == 2 and len(lines) == 1 and all(w in lines[0] for w in words), done.stderr
    assert not (tmp_path / "r.json").exists()


def readme_blocks() -> dict[str, str]:
    text = (ROOT / "README.md").read_text()
    return {name: body for name, body in re.findall(r"<!-- round-trip: (\w+) -->\n```\w+\n(.*?)```", text, re.S)}


@pytest.mark.timeout(600)  # every library, both modes (PyTorch compiles)
def test_the_readmes_scikit_learn_round_trip_lands_on_scikit_learns_weights(tmp_path):
    blocks = readme_blocks()
    assert set(blocks) == {"prepare", "train", "check"}
    (tmp_path / "prepare.py").write_text(blocks["prepare"])
    subprocess.run([sys.executable, "prepare.py"], cwd=tmp_path, check=True, timeout=120)
    command = shlex.split(blocks["train"].replace("\\\n", " "))
    assert command[:2] == ["python", "compare.py"]
    done = subprocess.run([sys.executable, str(ROOT / "compare.py"), *command[2:], "--json", "report.json"], cwd=tmp_path,
                          capture_output=True, text=True, timeout=540)
    assert done.returncode == 0, done.stderr[-2000:]
    (tmp_path / "check.py").write_text(blocks["check"])
    checked = subprocess.run([sys.executable, "check.py"], cwd=tmp_path, capture_output=True, text=True, timeout=60, check=True)
    differences = {line.split()[0]: float(line.split()[1]) for line in checked.stdout.splitlines()}
    ran = [r for r in json.loads((tmp_path / "report.json").read_text())["runs"] if r["status"] == "ok"]
    assert len(differences) == len(ran) >= 2
    assert max(differences.values()) <= 2.3e-16, differences  # what the README says


def test_the_python_entry_point_gives_compares_numbers(tmp_path):
    from shared.studies.train import train_library

    problem = problem_for("xor", "float64", steps=50, record_every=10)
    code, report = run_compare(tmp_path, "--frameworks", f"numpy,{BESIDE}", "--mode", "eager", "--repeat", "1", "--device",
                               "cpu", "--steps", "50", "--record-every", "10")
    assert code == 0
    trained = train_library(BESIDE, problem.x_train, problem.t_train, list(problem.weights), problem.schedule.indices,
                            problem.schedule.lr, output_activation="tanh", loss="half_sse", x_eval=problem.x_eval,
                            record_every=10)
    row = next(r for r in report["runs"] if r["framework"] == BESIDE)
    assert all(np.array_equal(a, np.asarray(b)) for a, b in zip(trained.weights, row["weights"]))
    assert np.array_equal(trained.predictions, np.asarray(row["predictions"]))
    assert trained.losses.tolist() == row["loss_history"]["values"] and trained.record_steps == row["loss_history"]["steps"]
    assert trained.dtype == "float64"


@pytest.mark.parametrize("change, words", [
    ({"library": "mxnet"}, "unknown library 'mxnet'"),
    ({"library": "keras"}, "name one"),
    ({"order": np.array([[0], [9]])}, "order: integer rows 0 to 3"),
    ({"weights": [np.zeros((3, 2)), np.zeros((2, 1))]}, "weights[1] has shape (2, 1), expected (3, 1)"),
    ({"t": np.zeros((3, 1))}, "x and t must be 2-D with one row per sample"),
    ({"lr": float("nan")}, "lr nan: a positive finite learning rate"),
])
def test_the_python_entry_point_refuses_bad_input_before_any_process_starts(change, words):
    from shared.studies.train import train_library

    problem = problem_for("xor", "float64", steps=5)
    arguments = {"library": "numpy", "x": problem.x_train, "t": problem.t_train, "weights": list(problem.weights),
                 "order": problem.schedule.indices, "lr": 0.1, **change}
    with pytest.raises(ValueError, match=re.escape(words)):
        train_library(**arguments)
