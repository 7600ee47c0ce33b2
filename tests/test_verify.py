"""`agent-runs verify`: an exact table verifies with no false drift (ties, naive timestamps, JSON
text); drift on either side (the API edits a finished run, a terminal run changes status again, a
run leaves the list; rows deleted, duplicated or edited in the destination) is named exactly, run
and column; `--repair` then makes the table equal the API; exit codes 0, 3 and 1."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import duckdb
import pytest

from agent_runs import PROVIDERS, verify_runs
from agent_runs.loading.pipeline import load_runs
from agent_runs.rows.schema import TERMINAL_STATUSES
from agent_runs.simulators import Fault
from tests.utils import agent_runs, read_runs

OTHER_OUTCOME = {"completed": "failed", "failed": "completed", "cancelled": "completed", "timed_out": "completed"}


def finished_runs(simulator: Any, provider: str, count: int) -> list[Any]:
    """`count` runs of the provider's first list that have ended (and never were open when loaded)."""
    family = PROVIDERS[provider].lists[0].name
    truth = simulator.current_truth()
    runs = [
        run
        for run in simulator.visible_runs()
        if truth[run.run_id]["status"] in TERMINAL_STATUSES and truth[run.run_id]["run_family"] == family
    ]
    return runs[len(runs) // 3 :: max(1, len(runs) // (3 * count))][:count]


def drift_both_sides(simulator: Any, provider: str, database: Path | None) -> dict[str, tuple[str, set[str]]]:
    """Drift of every kind; what verify must say of each run: its kind and (some of) its columns."""
    edited, reopened, gone, deleted, duplicated, hand_edited = finished_runs(simulator, provider, 6)
    edited.task = "The API edited this finished run's task"
    reopened.outcome = OTHER_OUTCOME[reopened.outcome]
    simulator.removed.add(gone.run_id)
    expected = {
        edited.run_id: ("differs", {"task"}),
        reopened.run_id: ("differs", {"status", "provider_status"}),
        gone.run_id: ("extra", set()),
    }
    if database is not None:
        with duckdb.connect(str(database)) as connection:
            connection.execute("DELETE FROM agent_runs.runs WHERE run_id = ?", [deleted.run_id])
            connection.execute(
                "INSERT INTO agent_runs.runs SELECT * FROM agent_runs.runs WHERE run_id = ?", [duplicated.run_id]
            )
            connection.execute(
                "UPDATE agent_runs.runs SET num_steps = 9999, task = 'x' WHERE run_id = ?", [hand_edited.run_id]
            )
        expected |= {
            deleted.run_id: ("missing", set()),
            duplicated.run_id: ("duplicate", set()),
            hand_edited.run_id: ("differs", {"task"}),
        }
    return expected


def drifts_of(report: Any) -> dict[str, tuple[str, set[str]]]:
    return {drift.run_id: (drift.kind, set(drift.columns)) for each in report.lists for drift in each.drifts}


@pytest.mark.parametrize("provider", list(PROVIDERS))
def test_an_exact_table_verifies_with_no_false_drift(
    provider: str, provider_env: dict[str, str], workdir: Path
) -> None:
    load_runs(providers=[provider])
    report = verify_runs(providers=[provider])
    assert not report.drifted, str(report)
    rows = read_runs(workdir / "agent-runs.duckdb")
    assert sum(each.compared for each in report.lists) == len(rows) > 0


@pytest.mark.parametrize("provider", list(PROVIDERS))
def test_drift_on_both_sides_is_named_then_repaired(
    provider: str, provider_env: dict[str, str], simulators: dict[str, Any], workdir: Path
) -> None:
    simulator = simulators[provider]
    load_runs(providers=[provider])
    expected = drift_both_sides(simulator, provider, workdir / "agent-runs.duckdb")

    found = agent_runs(workdir, "verify", "--provider", provider, "--json", "drift.json", env=provider_env)
    assert found.returncode == 3, found.stderr
    drifts = {
        drift["run_id"]: (drift["kind"], set(drift["columns"]))
        for each in json.loads((workdir / "drift.json").read_text())["lists"]
        for drift in each["drifts"]
    }
    assert set(drifts) == set(expected), found.stdout
    for run_id, (kind, columns) in expected.items():
        assert drifts[run_id][0] == kind and columns <= drifts[run_id][1], (run_id, drifts[run_id])
        assert run_id in found.stdout
    assert "9999" in found.stdout and "'x'" not in found.stdout  # old -> new values, as they are

    repaired = agent_runs(workdir, "verify", "--provider", provider, "--repair", env=provider_env)
    assert repaired.returncode == 0, repaired.stdout + repaired.stderr
    again = agent_runs(workdir, "verify", "--provider", provider, env=provider_env)
    assert again.returncode == 0, again.stdout
    assert "Warning" not in found.stderr + repaired.stderr + again.stderr  # nothing but what concerns the user
    rows = read_runs(workdir / "agent-runs.duckdb")  # fails on a duplicate key
    for run_id, want in simulator.current_truth().items():  # the simulation's own view, not verify's
        assert {column: rows[provider, run_id][column] for column in want} == want, run_id
    gone = next(run_id for run_id, (kind, _) in expected.items() if kind == "extra")
    assert rows[provider, gone]["missing_from_api_at"] is not None


def test_the_files_destination_verifies_and_repairs(provider_env: dict[str, str], tinyfish: Any, workdir: Path) -> None:
    load_runs(providers=["tinyfish"], destination="filesystem")
    assert not verify_runs(providers=["tinyfish"], destination="filesystem").drifted
    expected = drift_both_sides(tinyfish, "tinyfish", None)
    report = verify_runs(providers=["tinyfish"], destination="filesystem", repair=True)
    assert {run_id: kind for run_id, (kind, _) in drifts_of(report).items()} == {
        run_id: kind for run_id, (kind, _) in expected.items()
    }
    assert not verify_runs(providers=["tinyfish"], destination="filesystem").drifted


def test_an_api_that_fails_cannot_be_verified_exit_1(
    provider_env: dict[str, str], tinyfish: Any, workdir: Path
) -> None:
    load_runs(providers=["tinyfish"])
    tinyfish.faults.extend([Fault(500)] * 10)
    result = agent_runs(workdir, "verify", "--provider", "tinyfish", env=provider_env)
    assert result.returncode == 1 and "could not verify" in result.stderr
    assert provider_env["TINYFISH_API_KEY"] not in result.stdout + result.stderr
