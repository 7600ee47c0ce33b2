"""Keeping runs that were loaded while still open (pending, running, paused) up to date until
they end, however long that takes: a created-at cursor alone never sees them again.

The listing resource remembers, in its dlt resource state, every loaded run that is not terminal:
only its creation time and a fingerprint of its record as last seen, so the state stays small
however many runs never end (dlt stores and ships it with every load). Each load asks the API for
what is open now: one listing per open status (`status=RUNNING`, ...) over the created-at span of
the remembered runs, so the cost is a page per hundreds of open runs, not a re-read of history. A
remembered run that is in none of those listings has ended (or paused, or moved on between two
requests) and is fetched by id; one the API no longer knows (404) keeps its row as loaded, read
back from the destination, flagged. Only runs whose fingerprint changed are loaded again.

The state also keeps the ids of the terminal runs created within the re-read window (`lag`)
behind the newest one: every load lists that window again to catch runs that became visible late,
and skips the runs it already has. State is saved by dlt only with the load it describes.
"""

import hashlib
import json
from datetime import datetime, timedelta
from typing import Any, NamedTuple

import orjson
import pyarrow as pa
import pyarrow.compute as pc

from .helpers import RunsPage
from .schema import TERMINAL_STATUSES, parse_timestamp

TERMINAL = pa.array(sorted(TERMINAL_STATUSES))


def fingerprint(record: dict[str, Any]) -> str:
    """16 hex digits that change when anything in the record does (keys in any order)."""
    try:
        canonical = orjson.dumps(record, option=orjson.OPT_SORT_KEYS)
    except TypeError:  # an integer beyond 64 bits, which orjson refuses
        canonical = json.dumps(record, sort_keys=True, separators=(",", ":")).encode()
    return hashlib.blake2b(canonical, digest_size=8).hexdigest()


def remembered(created_at: datetime, record: dict[str, Any]) -> list[str]:
    """An open run as the state keeps it: [creation time, fingerprint of the record last seen]."""
    return [created_at.isoformat(), fingerprint(record)]


class ListedPage(NamedTuple):
    """A page of the listing as the listing resource needs it: its rows, and its open runs in the
    form they are remembered. Records are dropped as soon as the page is read (in the fetching
    thread), so pages waiting for dlt hold Arrow rows, not Python dicts."""

    table: pa.Table
    open_runs: dict[str, list[str]]  # run_id -> [created_at, fingerprint]

    @classmethod
    def of(cls, page: RunsPage) -> "ListedPage":
        is_open = pc.invert(pc.is_in(page.table["status"], TERMINAL))
        open_runs: dict[str, list[str]] = {}
        if pc.any(is_open).as_py():
            opened = page.where(is_open)
            for run_id, moment, record in zip(
                opened.table["run_id"].to_pylist(), opened.table["created_at"].to_pylist(), opened.records, strict=True
            ):
                open_runs.setdefault(run_id, remembered(moment, record))
        return cls(page.table, open_runs)

    def without(self, run_ids: pa.Array) -> "ListedPage":
        """The page without these runs."""
        keep = pc.invert(pc.is_in(self.table["run_id"], run_ids))
        if pc.all(keep).as_py():
            return self
        dropped = set(pc.filter(self.table["run_id"], pc.invert(keep)).to_pylist())
        return ListedPage(
            self.table.filter(keep),
            {run_id: run for run_id, run in self.open_runs.items() if run_id not in dropped},
        )


class OpenRuns:
    """The open runs (creation time and fingerprint each) and the recently loaded terminal runs,
    kept in the listing resource's state."""

    def __init__(self, state: dict[str, Any]) -> None:
        self.state = state
        self.runs: dict[str, list[str]] = state.setdefault("open_runs", {})  # run_id -> [created_at, fingerprint]
        self.recent: dict[str, str] = state.setdefault("recent_runs", {})  # run_id -> created_at, terminal
        state.pop("created_per_hour", None)  # what earlier versions kept to plan a re-list
        for run_id, run in self.runs.items():  # earlier versions kept the whole record
            if isinstance(run, dict):
                self.runs[run_id] = [run["created_at"], fingerprint(run["record"])]

    @property
    def newest_created(self) -> datetime | None:
        newest = self.state.get("newest_created_at")
        return parse_timestamp(newest) if newest else None

    def known_since(self, start: datetime | None) -> pa.Array:
        """Ids of the runs loaded before that were created at or after `start`: open ones (the
        refresh follows them) and recent terminal ones. A listing that reads that span again
        skips them; what is left is new, or became visible late."""
        known = [
            run_id
            for run_id, created in [*((run_id, run[0]) for run_id, run in self.runs.items()), *self.recent.items()]
            if start is None or parse_timestamp(created) >= start
        ]
        return pa.array(known, pa.string())

    def note_listed(self, page: ListedPage, lag: timedelta) -> None:
        """Remember the page's open runs, and its terminal runs within `lag` of the newest run."""
        if not page.table.num_rows:
            return
        newest, known = pc.max(page.table["created_at"]).as_py(), self.newest_created
        if known is None or newest > known:
            self.state["newest_created_at"] = newest.isoformat()
            known = newest
        for run_id, run in page.open_runs.items():
            self.runs.setdefault(run_id, run)
        recent = pc.and_(
            pc.is_in(page.table["status"], TERMINAL), pc.greater_equal(page.table["created_at"], known - lag)
        )
        if pc.any(recent).as_py():
            ended = page.table.filter(recent)
            self.recent.update(
                zip(
                    ended["run_id"].to_pylist(),
                    (moment.isoformat() for moment in ended["created_at"].to_pylist()),
                    strict=False,
                )
            )

    def note_refreshed(self, page: RunsPage) -> RunsPage:
        """Keep the page's runs that are still open up to date and forget the ones that ended. Returns
        the runs whose record changed since last seen: the only ones worth loading again."""
        run_ids = page.table["run_id"].to_pylist()
        fingerprints = [fingerprint(record) for record in page.records]
        changed = [
            print_now != (self.runs.get(run_id) or (None, None))[1]
            for run_id, print_now in zip(run_ids, fingerprints, strict=True)
        ]
        ended = pc.is_in(page.table["status"], TERMINAL).to_pylist()
        created = page.table["created_at"].to_pylist()
        for run_id, moment, print_now, is_ended in zip(run_ids, created, fingerprints, ended, strict=True):
            if is_ended:
                self.runs.pop(run_id, None)
                self.recent[run_id] = moment.isoformat()  # the listing may read it again: skip it there
            else:
                self.runs[run_id] = [moment.isoformat(), print_now]
        return page if all(changed) else page.where(pa.array(changed, pa.bool_()))

    def forget(self, run_ids: list[str]) -> None:
        """Stop following these runs (gone from the API)."""
        for run_id in run_ids:
            self.runs.pop(run_id, None)

    def forget_recent_before(self, lag: timedelta) -> None:
        """Keep only the recent terminal runs the next load's re-read window can list again."""
        newest = self.newest_created
        if newest is not None:
            cutoff = newest - lag
            self.recent = {
                run_id: created for run_id, created in self.recent.items() if parse_timestamp(created) >= cutoff
            }
            self.state["recent_runs"] = self.recent

    def give_up_older_than(self, max_age: timedelta | None) -> list[str]:
        """Stop following runs created more than max_age before the newest listed run (the API's own
        clock: robust to skew and to quiet weeks); their rows keep what was last seen. None (the
        default): follow every open run until it ends."""
        newest = self.newest_created
        if newest is None or max_age is None:
            return []
        cutoff = newest - max_age
        given_up = [run_id for run_id, run in self.runs.items() if parse_timestamp(run[0]) < cutoff]
        self.forget(given_up)
        return given_up
