"""The typed rows (shared/reports/rows.py): each kind of row serialises to the JSON keys its
reports have always carried, plus the schema-2 "target", and comes back from them unchanged
(the committed reports were written before the rows were typed)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from shared.reports.rows import SCHEMA, ParallelRow, RunRow, ScaleRow

RESULTS = Path(__file__).resolve().parent.parent / "results"


def committed(name: str, key: str) -> list[dict]:
    return json.loads((RESULTS / name).read_text())[key]


@pytest.mark.parametrize(("name", "key", "kind"), [("cpu_xor.json", "runs", RunRow), ("scale_cpu.json", "rows", ScaleRow),
                                                   ("parallel_cpu.json", "rows", ParallelRow)])
def test_committed_rows_round_trip_to_the_same_keys(name, key, kind):
    for data in committed(name, key):
        row = kind.from_json(data)
        assert row.extra == {}, row.extra  # every committed key is a field of the row's class
        out = row.to_json()
        assert out.pop("target") == row.target
        data.pop("target", None)
        assert out == data  # every key and value of the committed report, none added, none lost
        assert kind.from_json(row.to_json()) == row


def test_every_run_names_what_ran():
    keras = RunRow("keras", "compiled", "cpu", "ok", keras_backend="jax")
    assert (keras.target, keras.library) == ("keras:jax", "keras (jax)")
    assert RunRow("torch", "eager", "cpu", "ok").to_json()["target"] == "torch"
    assert SCHEMA == 2


def test_a_row_refuses_a_field_it_does_not_have():
    row = RunRow("numpy", "eager", "cpu", "ok")
    with pytest.raises(AttributeError, match="no field 'finall_loss'"):
        row.update(finall_loss=1.0)


def test_empty_fields_every_row_has_are_written_and_others_left_out():
    out = RunRow("jax", "all", "all", "skipped", "not installed").to_json()
    assert out["timing"] is None and out["predictions"] is None and out["speed_vs_numpy"] is None
    assert "keras_backend" not in out and "diff" not in out and "parity_ok" not in out
    assert set(ScaleRow("jax", "all", "skipped", "not installed").to_json()) == {"target", "framework", "device", "status",
                                                                                 "reason"}
