"""`--destination filesystem` keeps the merge: the runs land in a Delta table (Parquet files plus a
log) that a second load updates in place; DuckDB (over the files the log lists), Polars and
pyarrow read the same rows as the DuckDB destination."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import duckdb
import polars
from deltalake import DeltaTable

from agent_runs.loading.pipeline import load_runs
from agent_runs.rows.schema import RUNS_COLUMNS
from tests.utils import read_runs

DELTA_TABLE = Path("agent-runs-files") / "agent_runs" / "runs"
JSON_COLUMNS = ("result", "result_schema", "extra")


def keyed(rows: list[dict[str, Any]], json_text: bool = True) -> dict[tuple[str, str], dict[str, Any]]:
    """Rows by key; JSON columns decoded when they are JSON text (`json_text`)."""
    for row in rows:
        for column in JSON_COLUMNS:
            if json_text and isinstance(row[column], str):
                row[column] = json.loads(row[column])
    return {
        (row["provider"], row["run_id"]): {
            column: row[column] if column != "missing_from_api_at" else row[column] is not None
            for column in RUNS_COLUMNS
        }
        for row in rows
    }


def test_delta_table_is_updated_in_place_and_every_engine_reads_the_duckdb_rows(
    provider_env: dict[str, str], simulators: dict[str, Any], workdir: Path
) -> None:
    # A first load; then runs finish, new ones arrive and an open run disappears (its row, read
    # back from the Delta table, is kept and flagged).
    for first in (True, False):
        into_duckdb, into_files = (load_runs(destination=name) for name in ("duckdb", "filesystem"))
        assert into_files.runs_by_provider == into_duckdb.runs_by_provider  # read back from the Delta table
        assert into_files.open_runs_refresh == into_duckdb.open_runs_refresh
        for simulator in simulators.values():
            simulator.clock.advance(40 * 60)
            if first:
                simulator.removed.add(next(run.run_id for run in simulator.visible_runs() if run.finished_us is None))
    assert sum(report["missing"] for report in into_files.open_runs_refresh.values()) == len(simulators)

    expected = keyed(list(read_runs(workdir / "agent-runs.duckdb").values()), json_text=False)  # decoded already
    assert sum(row["missing_from_api_at"] for row in expected.values()) == len(simulators)
    table = DeltaTable(str(workdir / DELTA_TABLE))
    assert table.version() >= 1  # two commits: the second load merged, it did not start over

    from_pyarrow = table.to_pyarrow_table().to_pylist()
    from_polars = polars.read_delta(str(workdir / DELTA_TABLE)).to_dicts()
    with duckdb.connect() as connection:
        connection.execute("SET TimeZone = 'UTC'")
        cursor = connection.execute("SELECT * FROM read_parquet(?)", [table.file_uris()])
        names = [column[0] for column in cursor.description]
        from_duckdb = [dict(zip(names, values, strict=True)) for values in cursor.fetchall()]

    for engine, rows in (("pyarrow", from_pyarrow), ("polars", from_polars), ("duckdb", from_duckdb)):
        assert len(rows) == len(expected), f"{engine}: one row per run, no duplicates"
        assert keyed(rows) == expected, engine
