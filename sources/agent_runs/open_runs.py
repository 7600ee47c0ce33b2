"""Keeping runs that were loaded while still open (pending, running, paused) up to date until
they end: a created-at cursor alone never sees them again.

The listing resource remembers, in its dlt resource state, every loaded run that is not terminal,
with its last-seen record. Each load asks the API for what is open now: one listing per open
status (`status=RUNNING`, ...) over the created-at span of the remembered runs, so the cost is a
page per hundreds of open runs, not a re-read of history. A remembered run that is in none of
those listings has ended (or paused, or moved on between two requests) and is fetched by id. Only
runs whose record changed are loaded again. State is saved by dlt only with the load it describes.
"""

from datetime import datetime, timedelta
from typing import Any, NamedTuple

import pyarrow as pa
import pyarrow.compute as pc

from .helpers import RunsPage
from .schema import TERMINAL_STATUSES, parse_timestamp

TERMINAL = pa.array(sorted(TERMINAL_STATUSES))


def remembered(created_at: datetime, record: dict[str, Any]) -> dict[str, Any]:
    """An open run as the state keeps it: its creation time, and its record as last seen."""
    return {"created_at": created_at.isoformat(), "record": record}


class ListedPage(NamedTuple):
    """A page of the listing as the listing resource needs it: its rows, and its open runs in the
    form they are remembered. The records of ended runs are dropped as soon as the page is read,
    so pages waiting for dlt hold Arrow rows, not Python dicts."""

    table: pa.Table
    open_runs: dict[str, dict[str, Any]]  # run_id -> created_at, record

    @classmethod
    def of(cls, page: RunsPage) -> "ListedPage":
        is_open = pc.invert(pc.is_in(page.table["status"], TERMINAL))
        open_runs: dict[str, dict[str, Any]] = {}
        if pc.any(is_open).as_py():
            opened = page.where(is_open)
            for run_id, moment, record in zip(
                opened.table["run_id"].to_pylist(), opened.table["created_at"].to_pylist(), opened.records, strict=True
            ):
                open_runs.setdefault(run_id, remembered(moment, record))
        return cls(page.table, open_runs)


class OpenRuns:
    """The open runs, each with its creation time and its last-seen record as the API sent it, kept
    in the listing resource's state."""

    def __init__(self, state: dict[str, Any]) -> None:
        self.state = state
        self.runs: dict[str, dict[str, Any]] = state.setdefault("open_runs", {})  # run_id -> created_at, record
        state.pop("created_per_hour", None)  # what earlier versions kept to plan a re-list

    @property
    def newest_created(self) -> datetime | None:
        newest = self.state.get("newest_created_at")
        return parse_timestamp(newest) if newest else None

    def note_listed(self, page: ListedPage) -> None:
        """Remember the page's open runs seen for the first time. Runs already remembered are left
        to the refresh, which loads them only if their record changed: a listing that re-reads a
        boundary run must not update its remembered record first."""
        if page.table.num_rows:
            newest, known = pc.max(page.table["created_at"]).as_py(), self.newest_created
            if known is None or newest > known:
                self.state["newest_created_at"] = newest.isoformat()
        for run_id, run in page.open_runs.items():
            self.runs.setdefault(run_id, run)

    def note_refreshed(self, page: RunsPage) -> RunsPage:
        """Keep the page's runs that are still open up to date and forget the ones that ended. Returns
        the runs whose record changed since last seen: the only ones worth loading again."""
        run_ids = page.table["run_id"].to_pylist()
        changed = [
            record != self.runs.get(run_id, {}).get("record")
            for run_id, record in zip(run_ids, page.records, strict=True)
        ]
        if not all(changed):
            page = page.where(pa.array(changed, pa.bool_()))
            run_ids = page.table["run_id"].to_pylist()
        ended = pc.is_in(page.table["status"], TERMINAL).to_pylist()
        created = page.table["created_at"].to_pylist()
        for run_id, moment, record, is_ended in zip(run_ids, created, page.records, ended, strict=True):
            if is_ended:
                self.runs.pop(run_id, None)
            else:
                self.runs[run_id] = remembered(moment, record)
        return page

    def give_up_older_than(self, max_age: timedelta) -> list[str]:
        """Stop following runs created more than max_age before the newest listed run (the API's own
        clock: robust to skew and to quiet weeks); their rows keep what was last seen."""
        newest = self.newest_created
        if newest is None:
            return []
        cutoff = newest - max_age
        given_up = [run_id for run_id, run in self.runs.items() if parse_timestamp(run["created_at"]) < cutoff]
        for run_id in given_up:
            del self.runs[run_id]
        return given_up
