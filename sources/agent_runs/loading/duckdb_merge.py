"""DuckDB as agent-runs loads it: with capped memory, and a merge that finds repeated staged rows
cheaply. The same DuckDB destination otherwise: named `duckdb`, configured under
`[destination.duckdb]`, its file readable by any DuckDB."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import dlt
from dlt.common.destination.client import FollowupJobRequest, PreparedTableSchema
from dlt.common.schema.typing import TSortOrder
from dlt.destinations.impl.duckdb.configuration import DuckDbCredentials
from dlt.destinations.impl.duckdb.duck import DuckDbClient
from dlt.destinations.sql_jobs import SqlMergeFollowupJob

from agent_runs.settings import DUCKDB_SETTINGS


class StagedRowsDeduplicatedByKey(SqlMergeFollowupJob):
    """dlt's merge, with one change: the staged rows a key has more than once are found by
    numbering the key and DuckDB's rowid alone, not whole rows: dlt's window drags every column
    (JSON included) through DuckDB's spill to disk, several times as long as a plain insert. One
    row a key is loaded, as dlt's own merge does."""

    @classmethod
    def gen_select_from_dedup_sql(
        cls,
        table_name: str,
        primary_keys: Sequence[str],
        columns: Sequence[str],
        dedup_sort: tuple[str, TSortOrder] | None = None,
        condition: str | None = None,
        condition_columns: Sequence[str] | None = None,
        skip_dedup: bool = False,
    ) -> str:
        if skip_dedup or dedup_sort is not None:  # not used by `runs`: dlt's own SQL
            return super().gen_select_from_dedup_sql(
                table_name, primary_keys, columns, dedup_sort, condition, condition_columns, skip_dedup
            )
        later_copies = (
            f"SELECT rowid FROM (SELECT rowid, ROW_NUMBER() OVER (PARTITION BY {', '.join(primary_keys)}) AS copy_number"
            f" FROM {table_name}) AS numbered WHERE copy_number > 1"
        )
        return (
            f"SELECT {', '.join(columns)} FROM {table_name}"
            f" WHERE ({condition or '1 = 1'}) AND rowid NOT IN ({later_copies})"
        )


class DuckDbClientDeduplicatingByKey(DuckDbClient):
    def _create_merge_followup_jobs(self, table_chain: Sequence[PreparedTableSchema]) -> list[FollowupJobRequest]:
        return [StagedRowsDeduplicatedByKey.from_table_chain(table_chain, self.sql_client)]


class duckdb_runs(dlt.destinations.duckdb):  # noqa: N801 (dlt destinations are named in lower case)
    """DuckDB, configured and named as `duckdb`, merging with StagedRowsDeduplicatedByKey."""

    _partial: Any = None

    @property
    def client_class(self) -> type[DuckDbClient]:
        return DuckDbClientDeduplicatingByKey

    def configuration(self, initial_config: Any, accept_partial: bool = False) -> Any:
        """The configuration, resolved once for the capabilities: dlt asks for them dozens of times a
        load, each time resolving the same partial configuration from every config provider (a
        factory lives for one load or command, whose configuration does not change meanwhile)."""
        if not accept_partial:
            return super().configuration(initial_config, accept_partial)
        if self._partial is None:
            self._partial = super().configuration(initial_config, accept_partial=True)
        return self._partial


def duckdb_destination(path: str | None) -> duckdb_runs:
    """DuckDB writing to `path` with DUCKDB_SETTINGS, under what `[destination.duckdb.credentials]
    global_config` sets; None: the file configured for dlt, with its own settings."""
    if path is None:
        return duckdb_runs(destination_name="duckdb")
    configured = dlt.config.get("destination.duckdb.credentials.global_config", dict) or {}
    credentials = DuckDbCredentials(path, global_config={**DUCKDB_SETTINGS, **configured})
    return duckdb_runs(credentials, destination_name="duckdb")
