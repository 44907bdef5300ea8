"""`compare.py tasks`: every task in one run, the matrix from ordinary compare runs, bad input
refused before anything trains."""

from __future__ import annotations

import json

from conftest import BESIDE

from shared.commands import cli
from shared.contract.tasks import TASKS
from shared.studies import every_task


def test_every_task_in_one_run_with_the_matrix_and_figure(tmp_path, capsys):
    path, md = tmp_path / "t.json", tmp_path / "t.md"
    code = cli.main(["tasks", "--frameworks", f"numpy,{BESIDE}", "--dtype", "float32", "--repeat", "1", "--json", str(path),
                     "--markdown", str(md), "--plots", str(tmp_path)])
    assert code == 0, capsys.readouterr().err
    report = json.loads(path.read_text())
    cells = {(c["task"], c["target"]): c for c in report["cells"]}
    assert set(cells) == {(task, target) for task in TASKS for target in ("numpy", BESIDE)}
    for (_, target), cell in cells.items():
        assert cell["status"] == "ok" and cell["step_us_median"] > 0 and cell["dtype"] == "float32"
        assert cell["mode"] == ("eager" if target == "numpy" else "compiled")
        assert target == "numpy" or cell["parity_ok"] is True
    assert [r["task"] for r in report["runs"]] == list(TASKS) and all(r["ok"] for r in report["runs"])
    text = md.read_text()
    assert "## float32" in text and f"| {BESIDE} | compiled |" in text and report["verdict"] in text
    assert (tmp_path / "every_task.png").read_bytes().startswith(b"\x89PNG")


def test_a_cell_out_of_parity_says_why():
    cell = every_task.Cell("xor", "float64", "keras:torch", "keras (torch)", "compiled", "ok", None, 10.0, 1.0, None, False,
                           100, None, "computed in float32, asked for float64")
    rows = every_task.matrix_rows([cell], "float64")
    assert rows[0][2] == "10.0 ≠" and rows[0][-1] == "xor: computed in float32, asked for float64"
    assert every_task.verdict([cell]).startswith("PARITY BROKEN")


def test_bad_input_is_refused_before_anything_trains(capsys):
    assert cli.main(["tasks", "--frameworks", "nope"]) == 2
    assert cli.main(["tasks", "--threads", "0"]) == 2
    err = capsys.readouterr().err
    assert "unknown library 'nope'" in err and "--threads" in err


def test_one_reason_for_several_tasks_is_said_once():
    cells = [every_task.Cell(task, "float64", "keras:torch", "keras (torch)", "all", "skipped", "float32 inside", None, None,
                             None, None, 0, None, None) for task in TASKS]
    assert every_task.matrix_rows(cells, "float64")[0][-1] == "every task: float32 inside"
    assert every_task.matrix_rows(cells[:2], "float64")[0][-1] == f"{', '.join(list(TASKS)[:2])}: float32 inside"


def test_a_heat_map_cell_never_reads_in_exponent_notation():
    labels = [every_task.cell_label(us) for us in (0.153, 0.27, 4.1, 9.96, 10.4, 99.4, 99.8, 715.2, 1472.4)]
    assert labels == ["0.15", "0.27", "4.1", "10", "10", "99", "100", "715", "1,472"]
