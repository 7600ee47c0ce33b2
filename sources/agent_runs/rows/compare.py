"""Rows compared column by column in Arrow: which runs changed since they were loaded (the open-runs
refresh writes only those) and which columns of a loaded row differ from the API's (verify)."""

import json
from collections.abc import Iterable
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from agent_runs.rows.schema import JSON_COLUMNS


def differences(fresh: pa.Table, before: pa.Table, known: pa.Array | None = None) -> dict[str, pa.Array]:
    """For each column of `fresh`, which of its rows differ from the row at the same position of
    `before` (null equals null). JSON that differs as text only is compared decoded (a warehouse
    may store it re-formatted), except in the rows `known` to differ already: decoding them would
    change nothing a caller that wants only the rows asks."""
    differing = {}
    for name in fresh.column_names:
        now, then = fresh[name], before[name]
        same = pc.or_(pc.fill_null(pc.equal(now, then), False), pc.and_(now.is_null(), then.is_null()))
        differs = pc.invert(same)
        if isinstance(differs, pa.ChunkedArray):
            differs = differs.combine_chunks()
        if name in JSON_COLUMNS:
            check = differs if known is None else pc.and_(differs, pc.invert(known))
            positions = pc.indices_nonzero(check)
            if len(positions):
                texts = zip(now.take(positions).to_pylist(), then.take(positions).to_pylist(), strict=True)
                same_decoded = [
                    position
                    for position, (text, other) in zip(positions.to_pylist(), texts, strict=True)
                    if decoded(text) == decoded(other)
                ]
                rows = pa.array(range(fresh.num_rows), pa.int64())
                differs = pc.and_(differs, pc.invert(pc.is_in(rows, pa.array(same_decoded, pa.int64()))))
        differing[name] = differs
    return differing


def any_of(columns: Iterable[pa.Array], rows: int) -> pa.Array:
    """Which rows any of these boolean columns marks."""
    result = pa.repeat(False, rows)
    for column in columns:
        result = pc.or_(result, column)
    return result


def changed_rows(fresh: pa.Table, loaded: pa.Table) -> pa.Table:
    """The rows of `fresh` that differ from the row of the same run in `loaded` (or have none).
    JSON is decoded only for rows nothing else has shown to differ."""
    positions = pc.index_in(fresh["run_id"], value_set=loaded["run_id"])
    before = loaded.take(positions)  # a null position (no loaded row) takes a row of nulls
    plain = [name for name in fresh.column_names if name not in JSON_COLUMNS]
    texts = [name for name in fresh.column_names if name in JSON_COLUMNS]
    differs = any_of(
        [positions.is_null(), *differences(fresh.select(plain), before.select(plain)).values()], fresh.num_rows
    )
    differs = any_of(
        [differs, *differences(fresh.select(texts), before.select(texts), differs).values()], fresh.num_rows
    )
    return fresh if pc.all(differs).as_py() else fresh.filter(differs)


def decoded(text: str | None) -> Any:
    return None if text is None else json.loads(text)
