"""Keeping runs that were loaded while still open (pending, running, paused) up to date until
they end, however long that takes: a created-at cursor alone never sees them again.

The runs to follow are the open rows of `runs` itself (not terminal, not flagged as gone), read
back from the destination at the start of each load: what was committed is exactly what is
followed, and dlt's state holds nothing per open run, so it stays small however many runs never
end (dlt stores the state with every load). Each load asks the API for what is open now: one
listing per open status (`status=RUNNING`, ...) over the created-at span of the followed runs, so
the cost is a page per hundreds of open runs, not a re-read of history. A followed run that is in
none of those listings has ended (or paused, or moved on between two requests) and is fetched by
id; one the API no longer knows (404) keeps its row as loaded, flagged. Only runs whose row
changed are written again (compared with the row loaded before).

The listing resource's state keeps the ids of the runs created within the re-read window (`lag`)
behind the newest one: every load lists that window again to catch runs that became visible
late, and skips the runs it already has.
"""

import json
from datetime import datetime, timedelta
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from .schema import JSON_COLUMNS, TERMINAL_STATUSES, parse_timestamp

TERMINAL = pa.array(sorted(TERMINAL_STATUSES))


def is_open(table: pa.Table) -> pa.ChunkedArray:
    return pc.invert(pc.is_in(table["status"], TERMINAL))


def without(table: pa.Table, run_ids: pa.Array) -> pa.Table:
    """The rows of other runs than these."""
    keep = pc.invert(pc.is_in(table["run_id"], run_ids))
    return table if pc.all(keep).as_py() else table.filter(keep)


def changed_rows(fresh: pa.Table, loaded: pa.Table) -> pa.Table:
    """The rows of `fresh` that differ from the row of the same run in `loaded` (or have none),
    compared column by column in Arrow; JSON that differs as text only is compared decoded (a
    warehouse may store it re-formatted)."""
    positions = pc.index_in(fresh["run_id"], value_set=loaded["run_id"])
    before = loaded.take(positions)  # a null position (no loaded row) takes a row of nulls
    differs = positions.is_null()
    json_differs = pa.repeat(False, fresh.num_rows)
    for name in fresh.column_names:
        now, then = fresh[name], before[name]
        same = pc.or_(pc.fill_null(pc.equal(now, then), False), pc.and_(now.is_null(), then.is_null()))
        if name in JSON_COLUMNS:
            json_differs = pc.or_(json_differs, pc.invert(same))
        else:
            differs = pc.or_(differs, pc.invert(same))
    text_only = pc.indices_nonzero(pc.and_(json_differs, pc.invert(differs)))
    if len(text_only):
        now_json, then_json = (
            table.take(text_only).select(sorted(JSON_COLUMNS)).to_pylist() for table in (fresh, before)
        )
        really = [
            position
            for position, now, then in zip(text_only.to_pylist(), now_json, then_json, strict=True)
            if decoded(now) != decoded(then)
        ]
        differs = pc.or_(differs, pc.is_in(pa.array(range(fresh.num_rows), pa.int64()), pa.array(really, pa.int64())))
    return fresh if pc.all(differs).as_py() else fresh.filter(differs)


def decoded(row: dict[str, str | None]) -> dict[str, Any]:
    return {name: None if text is None else json.loads(text) for name, text in row.items()}


class RecentRuns:
    """What the listing resource keeps in its state: the newest creation time listed, and the ids
    of the runs created within the re-read window behind it (already loaded: skipped when read
    again). Bounded by the runs of one window, whatever the history or the open runs."""

    def __init__(self, state: dict[str, Any]) -> None:
        self.state = state
        self.ids: dict[str, str] = state.setdefault("recent_runs", {})  # run_id -> created_at
        for earlier in ("open_runs", "created_per_hour"):  # what earlier versions kept
            state.pop(earlier, None)

    @property
    def newest_created(self) -> datetime | None:
        newest = self.state.get("newest_created_at")
        return parse_timestamp(newest) if newest else None

    def loaded_since(self, start: datetime | None) -> pa.Array:
        """Ids of the runs loaded before that were created at or after `start`."""
        return pa.array(
            [run_id for run_id, created in self.ids.items() if start is None or parse_timestamp(created) >= start],
            pa.string(),
        )

    def note_listed(self, table: pa.Table, lag: timedelta) -> None:
        """Move the newest creation time on, and remember the runs within `lag` of it."""
        if not table.num_rows:
            return
        newest, known = pc.max(table["created_at"]).as_py(), self.newest_created
        if known is None or newest > known:
            self.state["newest_created_at"] = newest.isoformat()
            known = newest
        recent = table.filter(pc.greater_equal(table["created_at"], known - lag))
        self.ids.update(
            zip(
                recent["run_id"].to_pylist(),
                (moment.isoformat() for moment in recent["created_at"].to_pylist()),
                strict=True,
            )
        )

    def forget_before(self, lag: timedelta) -> None:
        """Keep only the runs the next load's re-read window can list again."""
        newest = self.newest_created
        if newest is not None:
            cutoff = newest - lag
            self.ids = {run_id: created for run_id, created in self.ids.items() if parse_timestamp(created) >= cutoff}
            self.state["recent_runs"] = self.ids
