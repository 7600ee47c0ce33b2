"""Rows already in the destination, read back: the last-seen row of a run the API no longer knows
(the state keeps only a fingerprint of each open run, not its record), from a SQL warehouse or
from the Delta table of the filesystem destination alike."""

from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
from dlt.pipeline.pipeline import Pipeline

from .schema import RUNS_ARROW_SCHEMA, RUNS_COLUMNS, json_text
from .settings import TABLE_NAME

JSON_COLUMNS = [name for name, column in RUNS_COLUMNS.items() if column["data_type"] == "json"]


def writes_files(pipeline: Pipeline) -> bool:
    """The filesystem destination: a Delta table, no SQL views, rows read from the table itself."""
    return pipeline.destination.destination_type.endswith("filesystem")


def loaded_rows(pipeline: Pipeline, provider: str, account: str, run_ids: list[str]) -> pa.Table:
    """The `runs` rows of these runs as loaded (in the `runs` Arrow schema); none for a run the
    destination does not have."""
    if not run_ids:
        return RUNS_ARROW_SCHEMA.empty_table()
    if writes_files(pipeline):
        from dlt.common.libs.deltalake import get_delta_tables  # deltalake costs 20 MiB: only where used

        table = get_delta_tables(pipeline, TABLE_NAME)[TABLE_NAME].to_pyarrow_table(
            columns=list(RUNS_COLUMNS), filters=[("provider", "=", provider), ("account", "=", account)]
        )
        table = table.filter(pc.is_in(table["run_id"], pa.array(run_ids, pa.string())))
        return table.select(RUNS_ARROW_SCHEMA.names).cast(RUNS_ARROW_SCHEMA)
    with pipeline.sql_client() as client:
        columns = ", ".join(client.escape_column_name(name) for name in RUNS_COLUMNS)
        placeholders = ", ".join(["%s"] * len(run_ids))
        query = (
            f"SELECT {columns} FROM {client.make_qualified_table_name(TABLE_NAME)} "
            f"WHERE provider = %s AND account = %s AND run_id IN ({placeholders})"
        )
        rows = client.execute_sql(query, provider, account, *run_ids) or []
    records: list[dict[str, Any]] = [dict(zip(RUNS_COLUMNS, row, strict=True)) for row in rows]
    for record in records:  # JSON comes back as text (DuckDB) or decoded (PostgreSQL)
        for column in JSON_COLUMNS:
            if record[column] is not None and not isinstance(record[column], str):
                record[column] = json_text(record[column])
    return pa.Table.from_pylist(records, schema=RUNS_ARROW_SCHEMA)
