"""The listing: new runs of an account, page by page from its list endpoint, incremental on
created_at. Its state keeps the newest creation time listed and the ids of the runs created
within the re-read window (`lag`) behind it: every load lists that window again to catch runs
that became visible late, and skips the runs it already has.

(No `from __future__ import annotations` here: dlt reads the incremental argument's annotation
at run time; as a string it is not recognised, and the cursor is not kept between loads.)
"""

import logging
from collections.abc import Generator, Iterator
from datetime import datetime, timedelta

import dlt
import pyarrow as pa
import pyarrow.compute as pc
from dlt.extract import DltResource

from agent_runs.errors import ApiKeyRejected
from agent_runs.providers import RunList
from agent_runs.reading.confirm import confirm_open
from agent_runs.reading.lister import Lister
from agent_runs.reading.walks import walk_history
from agent_runs.resources.isolation import isolated
from agent_runs.resources.options import EVERYTHING, LoadOptions
from agent_runs.resources.recent_runs import RecentRuns
from agent_runs.resources.steps_outbox import StepsPlan, producing, with_steps
from agent_runs.rows.schema import into_runs_table, is_open
from agent_runs.sending.accounts import Account
from agent_runs.sending.by_id import key_works
from agent_runs.settings import PRIMARY_KEY, ROWS_PER_TABLE, SOURCE_NAME

logger = logging.getLogger(SOURCE_NAME)


def runs_resource(account: Account, run_list: RunList, options: LoadOptions = EVERYTHING) -> DltResource:
    """New runs of one of an account's run lists as a merge resource into `runs`, incremental on
    created_at from `options.since` (to `until`); its own state (named
    `<provider>[_<account>][_<list>]_runs`) keeps each account's cursor and re-read window apart."""
    name = account.listing_name(run_list)
    where = f"{account.provider.display_name} (account {account.name}) listing {run_list.runs_path}"
    resource = into_runs_table(isolated(list_runs, name, name, where), name)
    created_at = dlt.sources.incremental[datetime](
        "created_at",
        initial_value=options.since,
        end_value=options.until,
        row_order="asc" if run_list.row_order == "asc" else None,  # a newest-first walk stops itself
        primary_key=PRIMARY_KEY,
        lag=options.lag.total_seconds() or None,
    )
    return resource(account, run_list, created_at=created_at, options=options)


def list_runs(
    account: Account,
    run_list: RunList,
    created_at: dlt.sources.incremental[datetime],
    options: LoadOptions,
) -> Iterator[pa.Table | None]:
    """Every page of the run list within the incremental window, as Arrow tables of `runs` rows.
    The window starts `options.lag` before the newest run loaded so far (dlt's incremental lag), so
    runs that became visible late are loaded; runs loaded before are skipped there. While the next
    page is on its way it yields None, dlt's signal to go on with other resources: that is how
    several accounts are extracted at once, each walked by its own threads. The steps of the runs
    that ended come just before their rows (steps_outbox.with_steps)."""
    with producing(options.steps_of(run_list), account.listing_name(run_list)):
        yield from new_runs_of(account, run_list, created_at, options)


def new_runs_of(
    account: Account, run_list: RunList, created_at: dlt.sources.incremental[datetime], options: LoadOptions
) -> Iterator[pa.Table | None]:
    """list_runs' work (see list_runs)."""
    recent = RecentRuns(dlt.current.resource_state())
    start, lag, steps = created_at.start_value, options.lag, options.steps_of(run_list)
    lister, chosen, rows = walk_history(account, run_list, start, created_at.end_value, options.workers, lag)
    plan = StepsPlan(None if steps is None else recent.state, options.steps_since, account.first_answer, note=True)
    logger.info(
        "%s (account %s): listing created from %s; %s", lister.name, account.name, start or "the start", chosen.reason
    )
    listed, count = 0, {"steps_read": 0}
    try:
        fresh = new_rows(lister, rows, recent.loaded_since(start), recent, lag)
        listed = yield from fresh if steps is None else with_steps(lister, plan, fresh, steps, count)
    except ApiKeyRejected as refused:
        if not (run_list.optional and key_works(account.provider.lists[0], account.client())):
            raise
        logger.warning(
            "%s (account %s): %s answered HTTP %s although the key works for %s: the account has no "
            "access to it (e.g. a Zero Data Retention project); skipped.",
            account.provider.display_name,
            account.name,
            run_list.runs_path,
            refused.status,
            account.provider.lists[0].runs_path,
        )
    recent.forget_before(lag)
    recent.state["steps_read"] = count["steps_read"]
    plan.settle()  # the first load with steps notes when, even if it wrote nothing
    if listed >= ROWS_PER_TABLE:
        # Arrow keeps freed pages for reuse; the load step needs them more. Not after a short
        # listing: handing memory back walks the whole heap, a cost paid again for every account.
        pa.default_memory_pool().release_unused()


def new_rows(
    lister: Lister, batches: Iterator[pa.Table | None], loaded_before: pa.Array, recent: RecentRuns, lag: timedelta
) -> Generator[pa.Table | None, None, int]:
    """The walk's rows without the runs loaded before, their open rows confirmed where the list's
    status can lag, handed to dlt a few thousand at a time (its cost is per item); the state notes
    the newest run and the re-read window's ids as they pass. Returns how many rows it handed on."""
    tables, rows, listed_open, listed = [], 0, 0, 0
    for table in batches:
        if table is None:  # still on its way: dlt serves the other accounts' resources meanwhile
            yield None
            continue
        if len(loaded_before):
            table = without(table, loaded_before)
        table = confirm_open(lister, table)
        recent.note_listed(table, lag)
        listed_open += pc.sum(is_open(table)).as_py() or 0
        tables.append(table)
        rows += table.num_rows
        listed += table.num_rows
        if rows >= ROWS_PER_TABLE:
            yield pa.concat_tables(tables)
            tables, rows = [], 0
            recent.forget_before(lag)  # a first load lists every run: keep the window's only
    if rows:
        yield pa.concat_tables(tables)
    recent.state["listed_open"] = listed_open  # new open runs, followed from the next load on
    return listed


def without(table: pa.Table, run_ids: pa.Array) -> pa.Table:
    """The rows of other runs than these."""
    keep = pc.invert(pc.is_in(table["run_id"], run_ids))
    return table if pc.all(keep).as_py() else table.filter(keep)
