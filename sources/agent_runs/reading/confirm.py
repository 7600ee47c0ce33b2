"""Open rows of a list whose status is a copy that can lag (`RunList.confirm_path_template`), confirmed by
the API's authoritative read of each run before they are written: a run that ended while its list
row still says it is open is written as ended. Only the columns the read is trusted for (status
and times) are taken from it; every other column stays as the list has it, so a row's shape does
not depend on whether it was confirmed."""

from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from agent_runs.providers import RunList
from agent_runs.reading.lister import Lister
from agent_runs.rows.from_pages import page_rows
from agent_runs.rows.schema import is_open
from agent_runs.sending.by_id import fetch_confirmation, fetched_each


def confirmed_columns(run_list: RunList) -> tuple[str, ...]:
    """The columns taken from the authoritative read: those its `confirm_fields` map (the key
    aside), with the status and duration they decide."""
    mapped = [column for column in run_list.confirm_fields if column not in ("run_id", "created_at")]
    return (*mapped, "status", "duration_s")


def confirm_open(lister: Lister, table: pa.Table) -> pa.Table:
    """`table` with its open rows' status and times as the authoritative read says (the rows as
    they are for a list that needs no confirmation, or a run the read no longer knows)."""
    run_list = lister.run_list
    if run_list.confirm_path_template is None or not table.num_rows:
        return table
    run_ids = table.filter(is_open(table))["run_id"].to_pylist()
    if not run_ids:
        return table

    def fetch(run_id: str) -> dict[str, Any] | None:
        return fetch_confirmation(run_list, lister.client(), run_id)  # each thread its own client

    records = [record for found, _ in fetched_each(fetch, run_ids) for record in found]
    if not records:
        return table
    confirmed = page_rows(
        run_list, records, f"of runs confirmed by {run_list.confirm_path_template}", lister.account, True
    )
    return overlay(table, confirmed, confirmed_columns(run_list))


def overlay(table: pa.Table, fresh: pa.Table, columns: tuple[str, ...]) -> pa.Table:
    """`table` with these columns taken from the row of the same run in `fresh`, where it has one."""
    positions = pc.index_in(table["run_id"], value_set=fresh["run_id"])
    has_fresh = positions.is_valid()
    for name in columns:
        index = table.schema.get_field_index(name)
        taken = fresh[name].take(positions)
        table = table.set_column(index, table.schema.field(index), pc.if_else(has_fresh, taken, table[name]))
    return table
