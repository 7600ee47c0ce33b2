"""Rows compared column by column in Arrow: which runs changed since they were loaded (the open-runs
refresh writes only those), which columns of a loaded row differ from the API's, and which runs'
steps differ from the API's (verify)."""

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
    differs = rows_differ(fresh, loaded, pc.index_in(fresh["run_id"], value_set=loaded["run_id"]))
    return fresh if pc.all(differs).as_py() else fresh.filter(differs)


def rows_differ(fresh: pa.Table, held: pa.Table, positions: pa.Array) -> pa.Array:
    """Which rows of `fresh` differ from the row of `held` at their position (null: none held,
    which differs). JSON is decoded only for rows nothing else has shown to differ."""
    before = held.take(positions)  # a null position takes a row of nulls
    plain = [name for name in fresh.column_names if name not in JSON_COLUMNS]
    texts = [name for name in fresh.column_names if name in JSON_COLUMNS]
    differs = any_of(
        [positions.is_null(), *differences(fresh.select(plain), before.select(plain)).values()], fresh.num_rows
    )
    return any_of([differs, *differences(fresh.select(texts), before.select(texts), differs).values()], fresh.num_rows)


def runs_whose_steps_differ(fresh: pa.Table, held: pa.Table) -> list[str]:
    """The runs whose `run_steps` rows as loaded (`held`) are not exactly the API's (`fresh`): a
    step missing, one too many or held twice, or one whose columns differ (JSON compared decoded)."""
    fresh_keys, held_keys = step_keys(fresh), step_keys(held)
    differs = rows_differ(fresh, held, pc.index_in(fresh_keys, value_set=held_keys))
    held_over = pc.invert(pc.is_in(held_keys, value_set=fresh_keys))  # steps the API does not have
    counted = pc.value_counts(held_keys)
    twice = counted.field("values").filter(pc.greater(counted.field("counts"), 1))
    held_over = pc.or_(held_over, pc.is_in(held_keys, value_set=twice))
    drifted = {*fresh.filter(differs)["run_id"].to_pylist(), *held.filter(held_over)["run_id"].to_pylist()}
    return sorted(drifted)


def step_keys(table: pa.Table) -> pa.Array:
    """Each step's key within an account's steps: its run and its id."""
    keys = pc.binary_join_element_wise(table["run_id"], table["step_id"], "\x1f")
    return keys.combine_chunks() if isinstance(keys, pa.ChunkedArray) else keys


def decoded(text: str | None) -> Any:
    return None if text is None else json.loads(text)
