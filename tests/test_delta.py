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

from agent_runs.schema import RUNS_COLUMNS
from agent_runs_pipeline import load_runs
from conftest import read_runs

DELTA_TABLE = Path("agent-runs-files") / "agent_runs" / "runs"
JSON_COLUMNS = ("result", "result_schema", "extra")


def keyed(rows: list[dict[str, Any]]) -> dict[tuple[str, str], dict[str, Any]]:
    for row in rows:
        for column in JSON_COLUMNS:
            if isinstance(row[column], str):
                row[column] = json.loads(row[column])
    return {(row["provider"], row["run_id"]): {column: row[column] for column in RUNS_COLUMNS} for row in rows}


def test_delta_table_is_updated_in_place_and_every_engine_reads_the_duckdb_rows(
    provider_env: dict[str, str], simulators: dict[str, Any], workdir: Path
) -> None:
    for _ in range(2):  # a first load; then runs finish and new ones arrive
        into_duckdb, into_files = (load_runs(destination=name) for name in ("duckdb", "filesystem"))
        assert into_files.runs_by_provider == into_duckdb.runs_by_provider  # read back from the Delta table
        for simulator in simulators.values():
            simulator.clock.advance(40 * 60)

    expected = {
        key: {column: row[column] for column in RUNS_COLUMNS}
        for key, row in read_runs(workdir / "agent-runs.duckdb").items()
    }
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
