"""Rows already in the destination, read back (from a SQL warehouse or from the Delta table of the
filesystem destination alike): which runs were loaded while open, and their rows as loaded, to
tell whether a refreshed run changed and to keep the row of a run the API no longer knows; and
the steps of runs as loaded (verify compares them)."""

from contextlib import ExitStack
from datetime import datetime
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
from dlt.destinations.exceptions import DatabaseUndefinedRelation
from dlt.destinations.sql_client import SqlClientBase
from dlt.pipeline.pipeline import Pipeline

from agent_runs.providers import Provider
from agent_runs.rows.schema import (
    JSON_COLUMNS,
    RUN_STEPS_ARROW_SCHEMA,
    RUNS_ARROW_SCHEMA,
    RUNS_COLUMNS,
    TERMINAL_STATUSES,
    json_text,
)
from agent_runs.settings import STEPS_TABLE_NAME, TABLE_NAME

OPEN_RUNS_SCHEMA = pa.schema([RUNS_ARROW_SCHEMA.field("run_id"), RUNS_ARROW_SCHEMA.field("created_at")])


def writes_files(pipeline: Pipeline) -> bool:
    """The filesystem destination: a Delta table, no SQL views, rows read from the table itself."""
    return pipeline.destination.destination_type.endswith("filesystem")


def has_loaded(pipeline: Pipeline, table: str) -> bool:
    """Whether this pipeline has loaded rows into `table` (a pipeline that never ran has no schema)."""
    if pipeline.default_schema_name is None:
        return False
    return table in pipeline.default_schema.data_table_names(seen_data_only=True)


class LoadedRuns:
    """An account's rows in the destination, read back over one connection for a whole refresh
    (opened at the first question: a load that has nothing to ask creates no database file)."""

    def __init__(self, pipeline: Pipeline, provider: Provider, account: str, run_family: str) -> None:
        self.pipeline = pipeline
        self.provider = provider.name
        self.account = account
        self.run_family = run_family
        self.files = writes_files(pipeline)
        self._client: SqlClientBase[Any] | None = None
        self._closing = ExitStack()
        self._has_table: bool | None = None

    def __enter__(self) -> "LoadedRuns":
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._closing.close()

    def open_runs(self) -> pa.Table:
        """`run_id` and `created_at` of the runs loaded while open: not terminal, not flagged as
        gone from the API. None before the first load."""
        terminal = sorted(TERMINAL_STATUSES)
        if self.files:
            table = self.delta_rows(["run_id", "created_at", "status", "missing_from_api_at"])
            still_open = pc.and_(
                pc.invert(pc.is_in(table["status"], pa.array(terminal))), table["missing_from_api_at"].is_null()
            )
            return table.filter(still_open).select(OPEN_RUNS_SCHEMA.names).cast(OPEN_RUNS_SCHEMA)
        query = (
            "SELECT run_id, created_at FROM {table} WHERE provider = %s AND account = %s AND run_family = %s "
            f"AND status NOT IN ({', '.join(['%s'] * len(terminal))}) AND missing_from_api_at IS NULL"
        )
        rows = self.sql_rows(query, *terminal)
        return pa.Table.from_pylist(
            [dict(zip(OPEN_RUNS_SCHEMA.names, row, strict=True)) for row in rows], OPEN_RUNS_SCHEMA
        )

    def recently_ended(self, since: datetime, before: datetime | None = None) -> pa.Table:
        """`run_id` and `created_at` of the runs that ended at or after `since` (and before
        `before`), terminal, not flagged as gone: their late fields may still come. Where a list gives no finished time,
        a terminal run's `updated_at` is when it last changed: it ended then or before."""
        terminal = sorted(TERMINAL_STATUSES)
        if self.files:
            columns = ["run_id", "created_at", "status", "finished_at", "updated_at", "missing_from_api_at"]
            table = self.delta_rows(columns)
            ended_at = pc.coalesce(table["finished_at"], table["updated_at"])
            ended = pc.and_(
                pc.and_(pc.is_in(table["status"], pa.array(terminal)), table["missing_from_api_at"].is_null()),
                pc.fill_null(pc.greater_equal(ended_at, since), False),
            )
            if before is not None:
                ended = pc.and_(ended, pc.fill_null(pc.less(ended_at, before), False))
            return table.filter(ended).select(OPEN_RUNS_SCHEMA.names).cast(OPEN_RUNS_SCHEMA)
        query = (
            "SELECT run_id, created_at FROM {table} WHERE provider = %s AND account = %s AND run_family = %s "
            f"AND status IN ({', '.join(['%s'] * len(terminal))}) AND missing_from_api_at IS NULL "
            "AND COALESCE(finished_at, updated_at) >= %s"
            + (" AND COALESCE(finished_at, updated_at) < %s" if before is not None else "")
        )
        rows = self.sql_rows(query, *terminal, since, *([before] if before is not None else []))
        return pa.Table.from_pylist(
            [dict(zip(OPEN_RUNS_SCHEMA.names, row, strict=True)) for row in rows], OPEN_RUNS_SCHEMA
        )

    def rows(self, run_ids: list[str]) -> pa.Table:
        """The `runs` rows of these runs as loaded (in the `runs` Arrow schema); none for a run
        the destination does not have."""
        if not run_ids:
            return RUNS_ARROW_SCHEMA.empty_table()
        if self.files:
            table = self.delta_rows(list(RUNS_COLUMNS))
            table = table.filter(pc.is_in(table["run_id"], pa.array(run_ids, pa.string())))
            return table.select(RUNS_ARROW_SCHEMA.names).cast(RUNS_ARROW_SCHEMA)
        return self.sql_table(f"run_id IN ({', '.join(['%s'] * len(run_ids))})", *run_ids)

    def step_rows(self, run_ids: list[str]) -> pa.Table:
        """The `run_steps` rows of these runs as loaded (in the `run_steps` Arrow schema)."""
        if not run_ids:
            return RUN_STEPS_ARROW_SCHEMA.empty_table()
        if self.files:
            from dlt.common.libs.deltalake import get_delta_tables

            try:
                delta = get_delta_tables(self.pipeline, STEPS_TABLE_NAME)[STEPS_TABLE_NAME]
            except Exception:  # no steps table yet
                return RUN_STEPS_ARROW_SCHEMA.empty_table()
            filters = [("provider", "=", self.provider), ("account", "=", self.account)]
            table = delta.to_pyarrow_table(columns=RUN_STEPS_ARROW_SCHEMA.names, filters=filters)
            return table.filter(pc.is_in(table["run_id"], pa.array(run_ids, pa.string()))).cast(RUN_STEPS_ARROW_SCHEMA)
        if not has_loaded(self.pipeline, STEPS_TABLE_NAME):
            return RUN_STEPS_ARROW_SCHEMA.empty_table()
        client = self.sql_client()
        dialect = self.pipeline.destination.capabilities().sqlglot_dialect
        names = RUN_STEPS_ARROW_SCHEMA.names
        selected = [
            "CAST(extra AS TEXT)" if name == "extra" and dialect in ("postgres", "duckdb") else name for name in names
        ]
        sql = (
            f"SELECT {', '.join(selected)} FROM {client.make_qualified_table_name(STEPS_TABLE_NAME)} "
            f"WHERE provider = %s AND account = %s AND run_id IN ({', '.join(['%s'] * len(run_ids))})"
        )
        records = [
            dict(zip(names, row, strict=True))
            for row in client.execute_sql(sql, self.provider, self.account, *run_ids) or []
        ]
        for record in records:
            if record["extra"] is not None and not isinstance(record["extra"], str):
                record["extra"] = json_text(record["extra"])
        return pa.Table.from_pylist(records, schema=RUN_STEPS_ARROW_SCHEMA)

    def rows_created(self, since: datetime | None, until: datetime | None) -> pa.Table:
        """Every row of the account's run list created in [since, until] (either open: unbounded),
        as loaded; a run the destination holds twice is two rows."""
        if self.files:
            table = self.delta_rows(list(RUNS_COLUMNS))
            if since is not None:
                table = table.filter(pc.greater_equal(table["created_at"], since))
            if until is not None:
                table = table.filter(pc.less_equal(table["created_at"], until))
            return table.select(RUNS_ARROW_SCHEMA.names).cast(RUNS_ARROW_SCHEMA)
        conditions, params = ["1 = 1"], []
        for bound, operator in ((since, ">="), (until, "<=")):
            if bound is not None:
                conditions.append(f"created_at {operator} %s")
                params.append(bound)
        return self.sql_table(" AND ".join(conditions), *params)

    def sql_table(self, condition: str, *params: Any) -> pa.Table:
        """The account's rows of its run list that meet a SQL condition, in the `runs` Arrow schema."""
        if not self.has_table():
            return RUNS_ARROW_SCHEMA.empty_table()
        columns = RUNS_ARROW_SCHEMA.names
        dialect = self.pipeline.destination.capabilities().sqlglot_dialect
        # A driver may decode JSON (and a JSON string would then read as JSON text): ask for the text.
        as_text = dialect in ("postgres", "redshift", "duckdb")
        selected = [f"CAST({name} AS TEXT)" if as_text and name in JSON_COLUMNS else name for name in columns]
        query = (
            f"SELECT {', '.join(selected)} FROM {{table}} WHERE provider = %s AND account = %s AND run_family = %s "
            f"AND {condition}"
        )
        if dialect == "duckdb":  # straight to Arrow: no Python object a value, a whole history fits
            sql, all_params = self.sql_query(query, *params)
            # A relation, not a cursor's result: its rows go to Arrow once (a DB-API result copies them).
            relation = self.sql_client().native_connection.sql(sql.replace("%s", "?"), params=all_params)
            table = (getattr(relation, "to_arrow_table", None) or relation.arrow)()  # DuckDB 2 renamed it
            return table.rename_columns(columns).cast(RUNS_ARROW_SCHEMA)
        records: list[dict[str, Any]] = [dict(zip(columns, row, strict=True)) for row in self.sql_rows(query, *params)]
        for record in records:  # JSON comes back as text, or decoded by a warehouse's driver
            for column in JSON_COLUMNS:
                if record[column] is not None and not isinstance(record[column], str):
                    record[column] = json_text(record[column])
        return pa.Table.from_pylist(records, schema=RUNS_ARROW_SCHEMA)

    def sql_rows(self, query: str, *params: Any) -> list[Any]:
        """The rows of a query on the `runs` table (`{table}` in the query) for this account and run
        list (its provider, account and run_family: the query's first parameters); none when there
        is no table yet."""
        if not self.has_table():
            return []
        sql, all_params = self.sql_query(query, *params)
        return list(self.sql_client().execute_sql(sql, *all_params) or [])

    def sql_query(self, query: str, *params: Any) -> tuple[str, list[Any]]:
        """The query with the table filled in, and all its parameters (this run list's first)."""
        sql = query.format(table=self.sql_client().make_qualified_table_name(TABLE_NAME))
        return sql, [self.provider, self.account, self.run_family, *params]

    def sql_client(self) -> SqlClientBase[Any]:
        if self._client is None:
            self._client = self._closing.enter_context(self.pipeline.sql_client())
        return self._client

    def has_table(self) -> bool:
        """Whether the destination has the `runs` table yet."""
        if self._has_table is None:
            client = self.sql_client()
            try:
                with client.execute_query(f"SELECT 1 FROM {client.make_qualified_table_name(TABLE_NAME)} WHERE 1 = 0"):
                    self._has_table = True
            except DatabaseUndefinedRelation:
                self._has_table = False
        return self._has_table

    def delta_rows(self, columns: list[str]) -> pa.Table:
        """The account's rows of the Delta table (these columns); none when there is no table yet."""
        from dlt.common.libs.deltalake import get_delta_tables  # deltalake is heavy to import: only where used

        try:
            table = get_delta_tables(self.pipeline, TABLE_NAME)[TABLE_NAME]
        except Exception:  # dlt raises several types for a table that does not exist yet
            return RUNS_ARROW_SCHEMA.empty_table().select(columns)
        filters = [("provider", "=", self.provider), ("account", "=", self.account)]
        rows = table.to_pyarrow_table(columns=sorted({*columns, "run_family"}), filters=filters)
        rows = rows.filter(pc.fill_null(pc.equal(rows["run_family"], self.run_family), False))
        return rows.select(columns)
