"""Rows compared column by column in Arrow: which runs changed since they were loaded (the open-runs
refresh writes only those) and which columns of a loaded row differ from the API's (verify)."""

import json
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from .schema import JSON_COLUMNS


def differences(fresh: pa.Table, before: pa.Table) -> dict[str, pa.Array]:
    """For each column of `fresh`, which of its rows differ from the row at the same position of
    `before` (null equals null). JSON that differs as text only is compared decoded: a warehouse
    may store it re-formatted."""
    differing = {}
    for name in fresh.column_names:
        now, then = fresh[name], before[name]
        same = pc.or_(pc.fill_null(pc.equal(now, then), False), pc.and_(now.is_null(), then.is_null()))
        differs = pc.invert(same)
        if isinstance(differs, pa.ChunkedArray):
            differs = differs.combine_chunks()
        if name in JSON_COLUMNS and pc.any(differs).as_py():
            positions = pc.indices_nonzero(differs).to_pylist()
            really = [
                position for position in positions if decoded(now[position].as_py()) != decoded(then[position].as_py())
            ]
            differs = pc.is_in(pa.array(range(fresh.num_rows), pa.int64()), pa.array(really, pa.int64()))
        differing[name] = differs
    return differing


def changed_rows(fresh: pa.Table, loaded: pa.Table) -> pa.Table:
    """The rows of `fresh` that differ from the row of the same run in `loaded` (or have none)."""
    positions = pc.index_in(fresh["run_id"], value_set=loaded["run_id"])
    before = loaded.take(positions)  # a null position (no loaded row) takes a row of nulls
    differs = positions.is_null()
    for column in differences(fresh, before).values():
        differs = pc.or_(differs, column)
    return fresh if pc.all(differs).as_py() else fresh.filter(differs)


def decoded(text: str | None) -> Any:
    return None if text is None else json.loads(text)
