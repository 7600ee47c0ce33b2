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
changed are written again (compared with the row loaded before)."""

from collections.abc import Callable, Iterator, Sequence
from datetime import datetime

import dlt
import pyarrow as pa
import pyarrow.compute as pc
from dlt.extract import DltResource

from agent_runs.errors import ApiKeyRejected
from agent_runs.loading.loaded import LoadedRuns
from agent_runs.providers import RunList
from agent_runs.reading.confirm import confirm_open, confirmed_columns, overlay
from agent_runs.reading.lister import Lister
from agent_runs.reading.steps import read_steps
from agent_runs.resources.isolation import REFRESH_KEY, STEPS_BACKFILLED_KEY, isolated
from agent_runs.resources.options import EVERYTHING, LoadOptions
from agent_runs.resources.recent_runs import RecentRuns
from agent_runs.resources.steps_outbox import STEPS_FROM_KEY, StepsOutbox, StepsPlan, producing, with_steps
from agent_runs.rows.compare import changed_rows
from agent_runs.rows.from_pages import page_rows
from agent_runs.rows.schema import flagged_missing, into_runs_table, is_open, parse_timestamp
from agent_runs.sending.accounts import Account
from agent_runs.sending.by_id import fetched_by_id, key_works
from agent_runs.settings import LATE_FILL_FOR, ROWS_PER_COMPARISON, STEPS_RUNS_AT_ONCE


def open_runs_resource(account: Account, run_list: RunList, options: LoadOptions = EVERYTHING) -> DltResource:
    """The open runs of one of an account's run lists brought up to date, merged over their rows in
    `runs`, followed until they end (or until `options.max_age`)."""
    name = account.refresh_name(run_list)
    where = f"{account.provider.display_name} (account {account.name}) refreshing open runs of {run_list.runs_path}"
    refresh = isolated(
        refresh_open_runs, name, account.listing_name(run_list), where, (REFRESH_KEY, STEPS_BACKFILLED_KEY)
    )
    return into_runs_table(refresh, name)(account, run_list, options)


def refresh_open_runs(account: Account, run_list: RunList, options: LoadOptions) -> Iterator[pa.Table | None]:
    """Current rows for the account's runs loaded while open (read back from the destination),
    where they changed: those still open from the API's open-status listings, the others by id.
    A run the API no longer knows (404) keeps its row as loaded, with `missing_from_api_at` set.
    The steps of the runs that ended come just before their rows (steps_outbox.with_steps), and
    those of runs loaded before that ended since `options.steps_since` once (backfilled)."""
    with producing(options.steps_of(run_list), account.refresh_name(run_list)):
        yield from refreshed_runs(account, run_list, options)


def refreshed_runs(account: Account, run_list: RunList, options: LoadOptions) -> Iterator[pa.Table | None]:
    """refresh_open_runs' work (see refresh_open_runs)."""
    max_age, steps, steps_since = options.max_age, options.steps_of(run_list), options.steps_since
    recent = RecentRuns(dlt.current.resource_state(account.listing_name(run_list)))
    report = dict.fromkeys(
        ("open", "by_listing", "listing_pages", "by_id", "missing", "given_up", "ended", "settling"), 0
    )
    count = {"steps_read": 0}
    newest = recent.newest_created
    if newest is not None:  # else nothing was loaded yet: no need to ask the destination (or create its file)
        with LoadedRuns(dlt.current.pipeline(), account.provider, account.name, run_list.name) as loaded:
            followed = loaded.open_runs()
            if max_age is not None:
                too_old = pc.less(followed["created_at"], newest - max_age)
                report["given_up"] = pc.sum(too_old).as_py() or 0
                followed = followed.filter(pc.invert(too_old))
            settling: list[str] = []
            if run_list.late_fields:
                ended = loaded.recently_ended(newest - LATE_FILL_FOR)["run_id"].to_pylist()
                settling = sorted(set(ended) - set(followed["run_id"].to_pylist()))
            lister = Lister(run_list, account.client, account.name)
            plan = StepsPlan(None if steps is None else recent.state, steps_since, account.first_answer)
            changed = refreshed(lister, followed, loaded, report, settling)
            yield from changed if steps is None else with_steps(lister, plan, changed, steps, count)
            if steps is not None and steps_since is not None:
                yield from backfilled(lister, loaded, plan, steps_since, steps, count)
    report["still_open"] = report["open"] - report["ended"] - report["missing"]
    report["steps_read"] = count["steps_read"]
    recent.state[REFRESH_KEY] = report


def refreshed(
    lister: Lister,
    followed: pa.Table,
    loaded: LoadedRuns,
    report: dict[str, int],
    settling: Sequence[str] = (),
) -> Iterator[pa.Table]:
    """The rows of the followed runs that changed since they were loaded (see refresh_open_runs),
    and of the `settling` runs (ended, their late fields may still come), read again by id."""
    report["open"] = followed.num_rows
    created = dict(zip(followed["run_id"].to_pylist(), followed["created_at"].to_pylist(), strict=True))
    run_list = lister.run_list

    def changed(tables: list[pa.Table]) -> pa.Table:
        table = confirm_open(lister, pa.concat_tables(tables))
        report["ended"] += table.num_rows - (pc.sum(is_open(table)).as_py() or 0)
        return changed_rows(table, loaded.rows(table["run_id"].to_pylist()))

    unseen = set(created)
    if created:
        span = run_list.window_params(min(created.values()), max(created.values()))
        followed_ids = followed["run_id"].combine_chunks()
        for open_filter in run_list.open_run_filters:
            pending: list[pa.Table] = []
            for page in lister.rows({**span, **open_filter}):
                report["listing_pages"] += 1
                mine = pc.is_in(page["run_id"], followed_ids)
                if not pc.any(mine).as_py():
                    continue
                table = page.filter(mine)  # a run listed under two statuses (it moved on) counts once
                table = table.filter(pa.array([run_id in unseen for run_id in table["run_id"].to_pylist()]))
                unseen.difference_update(table["run_id"].to_pylist())
                report["by_listing"] += table.num_rows
                pending.append(table)
                if sum(map(len, pending)) >= ROWS_PER_COMPARISON:
                    yield changed(pending)
                    pending = []
            if pending:
                yield changed(pending)

    by_id = sorted(unseen, key=created.__getitem__)  # ended since the last load, or gone
    yield from read_again(lister, loaded, report, by_id, settling, changed)


def read_again(
    lister: Lister,
    loaded: LoadedRuns,
    report: dict[str, int],
    by_id: list[str],
    settling: Sequence[str],
    changed: Callable[[list[pa.Table]], pa.Table],
) -> Iterator[pa.Table]:
    """The rows of runs the list no longer shows open (`by_id`: ended since the last load, or gone)
    and of the `settling` runs, read by id: changed rows, rows confirmed beyond the list's search,
    and rows flagged gone (a 404, while the key still works)."""
    run_list, account = lister.run_list, lister.account
    key_checked = False
    for runs, settle in ((by_id, False), (list(settling), True)):  # settling: ended, late fields may change
        for fetched in fetched_by_id(run_list, lister.client, runs):
            report["settling" if settle else "by_id"] += (
                len(fetched.listed) + len(fetched.confirmed) + len(fetched.gone)
            )
            if fetched.listed:
                table = page_rows(run_list, fetched.listed, "of runs by id", account)
                yield changed_rows(table, loaded.rows(table["run_id"].to_pylist())) if settle else changed([table])
            if fetched.confirmed:  # beyond the reach of the list's search: status and times from the by-id read
                confirmed = page_rows(run_list, fetched.confirmed, "of runs read by id", account, True)
                before = loaded.rows(confirmed["run_id"].to_pylist())
                yield changed_rows(overlay(before, confirmed, confirmed_columns(run_list)), before)
            if fetched.gone:  # 404: gone from the API, unless the key itself no longer works
                if not key_checked and not key_works(run_list, lister.client()):
                    raise ApiKeyRejected(
                        f"{run_list.provider.display_name}: runs answered 404 while the key is refused: "
                        "not flagging them as gone; check the key"
                    )
                key_checked = True
                report["missing"] += 0 if settle else len(fetched.gone)
                yield flagged_missing(loaded.rows(fetched.gone))


def backfilled(
    lister: Lister,
    loaded: LoadedRuns,
    plan: StepsPlan,
    since: datetime,
    outbox: StepsOutbox,
    count: dict[str, int],
) -> Iterator[None]:
    """The steps of the runs loaded before steps were read from `since` on (ended since then, and
    before the moment steps were read from, or backfilled from): each such run once, however often
    a load is asked to backfill from the same date."""
    state = plan.state
    assert state is not None
    done_from = state.get(STEPS_BACKFILLED_KEY) or state.get(STEPS_FROM_KEY)
    before = parse_timestamp(done_from) if done_from else plan.first_answer()
    if before is None or since >= before:
        return
    run_ids = loaded.recently_ended(since, before)["run_id"].to_pylist()
    for start in range(0, len(run_ids), STEPS_RUNS_AT_ONCE):
        chunk = run_ids[start : start + STEPS_RUNS_AT_ONCE]
        for table in (yield from read_steps(lister, chunk)):
            outbox.put(table)
        count["steps_read"] += len(chunk)
    state[STEPS_BACKFILLED_KEY] = since.isoformat()
