"""How a run list's history is walked: the choice of walk, in one place (`choose_walk`), an
account's history walked as chosen (`walk_history`, for the listing and verify alike), and the
walks, one module each. Every walk yields batches of `runs` rows (Arrow tables, one or more
pages' runs: a page is one HTTP answer), or None while its next page is on its way (dlt's signal
to serve other resources meanwhile).

- `split` (the walk `windows`): created-at windows walked at once (or one window: one walk); with `--workers N`,
  planned by probing where the runs are.
- `ahead`: by default, an oldest-first list: windows ahead of a first page that shows a long range.
- `back`: by default, a list that promises no order: windows back in time from a first page that
  looks newest first.
- `pages`: a frozen window of numbered pages whose first page says how many runs it holds: its
  pages asked for at once.
"""

from collections.abc import Iterator
from datetime import datetime, timedelta
from itertools import chain
from typing import Literal, NamedTuple

import pyarrow as pa

from agent_runs.providers import RunList
from agent_runs.reading.lister import Lister
from agent_runs.reading.walks.ahead import walk_ahead
from agent_runs.reading.walks.back import walk_back
from agent_runs.reading.walks.pages import walk_pages
from agent_runs.reading.walks.split import plan_windows, walk_windows
from agent_runs.reading.walks.window import Window
from agent_runs.sending.accounts import Account
from agent_runs.sending.by_id import server_now
from agent_runs.settings import MAX_CONCURRENCY

__all__ = ["Walk", "Window", "choose_walk", "walk"]


class Walk(NamedTuple):
    """A choice of walk: which, with how many workers (threads, and requests in flight), and why
    (said at INFO)."""

    kind: Literal["ahead", "back", "pages", "windows"]
    workers: int
    reason: str
    if_slow: bool = True  # ahead, back, pages: walk at once only while pages keep us waiting


def choose_walk(run_list: RunList, workers: int | None, until: datetime | None) -> Walk:
    """The walk for a run list, `--workers` (None: the default) and the range's end (`--until`;
    None: up to now). A frozen list (`RunList.frozen_walk`) fixes its own end when none is given."""
    frozen = run_list.frozen_walk and until is None
    up_to_now = until is None and not frozen
    by_time = run_list.filters_created_at
    if workers is None and up_to_now and by_time and run_list.row_order == "asc":
        return Walk("ahead", MAX_CONCURRENCY, "oldest first: a long range is walked as windows ahead of its first page")
    if workers is None and up_to_now and by_time and run_list.row_order is None:
        return Walk(
            "back", MAX_CONCURRENCY, "no promised order: a long range is walked as windows back from its first page"
        )
    if workers != 1 and run_list.pages_at_once and frozen:
        return Walk(
            "pages",
            workers or MAX_CONCURRENCY,
            "numbered pages over a frozen window: asked for at once",
            workers is None,
        )
    if workers == 1:
        return Walk("windows", 1, "one walk (--workers 1)")
    if not by_time:
        return Walk("windows", 1, "cannot be asked for a time range: one walk")
    if workers is None:
        return Walk("windows", 1, "one walk" if run_list.row_order else "promises no order: one walk")
    return Walk("windows", workers, f"created-at windows planned by probing, {workers} at a time")


def walk(
    chosen: Walk, lister: Lister, start: datetime | None, end: datetime | None, tail: list[Window]
) -> Iterator[pa.Table | None]:
    """The rows of [start, end) as the chosen walk reads them, then those of the `tail` windows
    (after a frozen window: the runs since its end), one walk each."""
    if chosen.kind == "ahead":
        batches = walk_ahead(lister, start, chosen.workers)
    elif chosen.kind == "back":
        batches = walk_back(lister, start, chosen.workers)
    elif chosen.kind == "pages":
        batches = walk_pages(lister, Window(start, end), chosen.workers, chosen.if_slow)
    else:
        batches = walk_windows(lister, plan_windows(lister, start, end, chosen.workers), chosen.workers)
    return chain(batches, walk_windows(lister, tail, 1)) if tail else batches


def walk_history(
    account: Account,
    run_list: RunList,
    start: datetime | None,
    end: datetime | None,
    workers: int | None,
    lag: timedelta,
) -> tuple[Lister, Walk, Iterator[pa.Table | None]]:
    """The rows of the runs created in [start, end) (end None: up to now) as the chosen walk reads them."""
    lister = Lister(run_list, account.client, account.name)
    chosen = choose_walk(run_list, workers, end)
    tail: list[Window] = []
    if run_list.frozen_walk and end is None:
        # Page numbers stay put only if no run can join the window: the long walk ends before the
        # re-read window (runs may become visible that late) and at least a second before the
        # server's clock (its Date header has whole seconds), so that even widened by the API's
        # bounds it is before any run created during the walk; the runs after it are a short walk
        # of their own.
        end = server_now(run_list, account.client()) - max(lag, timedelta(seconds=1))
        tail = [Window(end, None)]
    return lister, chosen, walk(chosen, lister, start, end, tail)
