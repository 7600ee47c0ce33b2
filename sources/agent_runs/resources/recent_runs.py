"""What the listing of new runs keeps in each account's state: the newest creation time listed, and
the ids of the runs within the re-read window behind it. The refresh of open runs reads it too
(the newest run loaded), so it lives apart from both resources."""

from datetime import datetime, timedelta
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from agent_runs.rows.schema import parse_timestamp

NEWEST_KEY = "newest_created_at"


class RecentRuns:
    """What the listing resource keeps in its state: the newest creation time listed, and the ids
    of the runs created within the re-read window behind it (already loaded: skipped when read
    again). Bounded by the runs of one window, whatever the history or the open runs."""

    def __init__(self, state: dict[str, Any]) -> None:
        self.state = state
        self.ids: dict[str, str] = state.setdefault("recent_runs", {})  # run_id -> created_at

    @property
    def newest_created(self) -> datetime | None:
        newest = self.state.get(NEWEST_KEY)
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
            self.state[NEWEST_KEY] = newest.isoformat()
            known = newest
        recent = table.filter(pc.greater_equal(table["created_at"], known - lag))
        # ISO 8601 text made in Arrow: a Python datetime a run would cost more than the rest of this
        created = pc.strftime(recent["created_at"], format="%Y-%m-%dT%H:%M:%S+00:00")  # %S has the µs
        self.ids.update(zip(recent["run_id"].to_pylist(), created.to_pylist(), strict=True))

    def forget_before(self, lag: timedelta) -> None:
        """Keep only the runs the next load's re-read window can list again."""
        newest = self.newest_created
        if newest is not None:
            cutoff = newest - lag
            self.ids = {run_id: created for run_id, created in self.ids.items() if parse_timestamp(created) >= cutoff}
            self.state["recent_runs"] = self.ids
