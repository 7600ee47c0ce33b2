"""Keeping runs that were loaded while still open (pending, running, paused) up to date until
they end: a created-at cursor alone never sees them again.

The listing resource remembers, in its dlt resource state, every loaded run that is not terminal
and how many runs were created per hour. Each load then refreshes the open runs the cheapest
way: one re-list of the created-at window from some open run up to the newest one (a request per
page of everything created in it) plus one request per older open run fetched by id. The window
start is chosen to minimise the requests; a run stuck open for weeks costs one request by id,
never a re-read of weeks of history. State is saved by dlt only with the load it describes.
"""

import bisect
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from .helpers import RunsPage
from .schema import TERMINAL_STATUSES, parse_timestamp
from .settings import CREATED_PER_HOUR_DAYS

HOUR_S = 3600


def hour_of(moment: datetime) -> int:
    return int(moment.timestamp()) // HOUR_S


class OpenRuns:
    """The open runs (each with its creation time and its last-seen record, as the API sent it) and
    the created-per-hour counts, kept in the listing resource's state."""

    def __init__(self, state: dict[str, Any]) -> None:
        self.state = state
        self.runs: dict[str, dict[str, Any]] = state.setdefault("open_runs", {})  # run_id -> created_at, record
        self.created_per_hour: dict[str, int] = state.setdefault("created_per_hour", {})

    @property
    def newest_created(self) -> datetime | None:
        newest = self.state.get("newest_created_at")
        return parse_timestamp(newest) if newest else None

    def note_listed(self, page: RunsPage) -> None:
        if page.table.num_rows:
            newest, known = pc.max(page.table["created_at"]).as_py(), self.newest_created
            if known is None or newest > known:
                self.state["newest_created_at"] = newest.isoformat()
        hours = pc.divide(page.table["created_at"].cast(pa.int64()), HOUR_S * 1_000_000)
        for item in pc.value_counts(hours).to_pylist():
            hour = str(item["values"])
            self.created_per_hour[hour] = self.created_per_hour.get(hour, 0) + item["counts"]
        self.note_refreshed(page, only_open=True)
        if len(self.created_per_hour) > CREATED_PER_HOUR_DAYS * 24:
            newest = max(int(hour) for hour in self.created_per_hour)
            for hour in [hour for hour in self.created_per_hour if int(hour) < newest - CREATED_PER_HOUR_DAYS * 24]:
                del self.created_per_hour[hour]

    def note_refreshed(self, page: RunsPage, only_open: bool = False) -> None:
        """Remember the page's open runs; forget the ones that ended (unless only_open: a first sight)."""
        ended = pc.is_in(page.table["status"], pa.array(sorted(TERMINAL_STATUSES)))
        if only_open:
            page = page.where(pc.invert(ended))
            ended = pa.array([False] * page.table.num_rows)
        run_ids = page.table["run_id"].to_pylist()
        created = page.table["created_at"].to_pylist()
        for run_id, moment, record, is_ended in zip(run_ids, created, page.records, ended.to_pylist(), strict=True):
            if is_ended:
                self.runs.pop(run_id, None)
            else:
                self.runs[run_id] = {"created_at": moment.isoformat(), "record": record}

    def created(self) -> dict[str, datetime]:
        return {run_id: parse_timestamp(run["created_at"]) for run_id, run in self.runs.items()}


@dataclass
class RefreshPlan:
    window_start: datetime | None = None  # re-list runs created in [window_start, window_end]
    window_end: datetime | None = None
    in_window: set[str] = field(default_factory=set)
    by_id: list[str] = field(default_factory=list)
    estimated_requests: int = 0


def plan_refresh(open_runs: Mapping[str, datetime], created_per_hour: Mapping[str, int], page_size: int) -> RefreshPlan:
    """Choose the window start (an open run's creation time, or none) that minimises
    requests = open runs older than it (by id) + pages to re-list the window."""
    oldest_first = sorted(open_runs.items(), key=lambda item: item[1])
    if not oldest_first:
        return RefreshPlan()
    hours = sorted((int(hour), count) for hour, count in created_per_hour.items())
    hour_keys = [hour for hour, _ in hours]
    runs_from_hour = [0] * (len(hours) + 1)  # runs created in hours[i:] up to the newest open run
    newest_hour = hour_of(oldest_first[-1][1])
    for index in range(len(hours) - 1, -1, -1):
        hour, count = hours[index]
        runs_from_hour[index] = runs_from_hour[index + 1] + (count if hour <= newest_hour else 0)

    best_cost, best_start = len(oldest_first), len(oldest_first)  # everything by id
    for position, (_, created) in enumerate(oldest_first):
        if not hours or hour_of(created) < hour_keys[0]:
            continue  # older than what we counted: the window's size is unknown
        listed = runs_from_hour[bisect.bisect_left(hour_keys, hour_of(created))]
        cost = position + max(1, math.ceil(listed / page_size))
        if cost < best_cost:
            best_cost, best_start = cost, position
    plan = RefreshPlan(estimated_requests=best_cost, by_id=[run_id for run_id, _ in oldest_first[:best_start]])
    if best_start < len(oldest_first):
        plan.window_start, plan.window_end = oldest_first[best_start][1], oldest_first[-1][1]
        plan.in_window = {run_id for run_id, _ in oldest_first[best_start:]}
    return plan
