"""`agent-runs verify`: the table compared with what the APIs say now. Each account's run list is
read whole with the walks of a first load (open rows confirmed where the list's status lags) and
compared in Arrow with the rows the destination holds for it, up to the newest run loaded (runs
created since are the next load's, not drift). The steps of the runs that ended since steps are
loaded are read again and compared with `run_steps` too. With `repair`, the API's view of every
drifted run (and of its steps) is written through the same merge, and rows of runs the API no
longer lists are flagged, as a load flags them."""

import json
import logging
import time
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, date, datetime
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from agent_runs.loading.loaded import LoadedRuns
from agent_runs.loading.pipeline import (
    as_delta_tables,
    finish_interrupted_load,
    make_pipeline,
    only_load_of,
    run_retrying_schema_races,
)
from agent_runs.providers import PageNumberPaging, RunList
from agent_runs.reading.confirm import confirm_open
from agent_runs.reading.lister import Lister
from agent_runs.reading.steps import steps_tables
from agent_runs.reading.walks import walk_history
from agent_runs.resources.isolation import STEPS_BACKFILLED_KEY
from agent_runs.resources.source import checked_range, configured_accounts
from agent_runs.resources.steps_outbox import STEPS_FROM_KEY, StepsPlan
from agent_runs.rows.compare import any_of, differences, runs_whose_steps_differ
from agent_runs.rows.schema import (
    RUN_STEPS_ARROW_SCHEMA,
    RUNS_ARROW_SCHEMA,
    flagged_missing,
    into_runs_table,
    into_steps_table,
    json_text_is_intended,
    parse_timestamp,
)
from agent_runs.sending.accounts import Account
from agent_runs.settings import DATASET_NAME, RELIST_LAG, SOURCE_NAME, VERIFY_VALUE_CHARS

logger = logging.getLogger(SOURCE_NAME)


@dataclass
class Drift:
    """One run whose row is not what the API says: `missing` (listed, no row), `extra` (a row, not
    listed, not flagged), `differs` (these columns: the table's value, the API's), `duplicate`
    (the table holds it more than once), `steps_differ` (its rows in `run_steps` are not the API's steps:
    how many the table has, how many the API)."""

    run_id: str
    kind: str
    columns: dict[str, tuple[str, str]] = field(default_factory=dict)


@dataclass
class ListReport:
    """One account's run list, compared."""

    provider: str
    account: str
    run_family: str
    compared: int = 0  # runs listed by the API or held by the table, in the range compared
    drifts: list[Drift] = field(default_factory=list)
    not_compared: int = 0  # rows older than what the list can reach

    def count(self, kind: str) -> int:
        return sum(drift.kind == kind for drift in self.drifts)


@dataclass
class VerifyReport:
    lists: list[ListReport]
    requests: int
    seconds: float
    repaired: int = 0  # rows written (the API's view) or flagged by --repair

    @property
    def drifted(self) -> bool:
        return any(report.drifts for report in self.lists)

    def as_json(self) -> str:
        return json.dumps(asdict(self) | {"drifted": self.drifted}, indent=2, default=str)

    def __str__(self) -> str:
        lines = []
        for report in self.lists:
            lines.append(
                f"{report.provider} ({report.account}, {report.run_family}): {report.compared:,} runs compared, "
                f"{report.count('missing')} missing, {report.count('extra')} extra, "
                f"{report.count('differs')} differing, {report.count('duplicate')} duplicated, "
                f"{report.count('steps_differ')} with other steps than the API's"
                + (
                    f"; {report.not_compared:,} older rows beyond the list's reach not compared"
                    if report.not_compared
                    else ""
                )
            )
            for drift in report.drifts:
                changes = ", ".join(f"{name}: {old} -> {new}" for name, (old, new) in drift.columns.items())
                lines.append(f"  {drift.kind} {drift.run_id}" + (f" ({changes})" if changes else ""))
        verdict = "drift found" if self.drifted else "the table equals the API"
        if self.repaired:
            verdict = f"repaired: {self.repaired} row(s) written as the API says"
        lines.append(f"{verdict} ({self.requests:,} requests, {self.seconds:.1f} s)")
        return "\n".join(lines)


def verify_runs(
    *,
    providers: Sequence[str] | None = None,
    destination: str = "duckdb",
    dataset_name: str = DATASET_NAME,
    since: datetime | date | str | None = None,
    until: datetime | date | str | None = None,
    repair: bool = False,
    pipeline_name: str | None = None,
    workers: int | None = None,
    progress: bool = False,
) -> VerifyReport:
    """Compare the `runs` table with what the APIs say now, for every configured account (or
    `providers`) and runs created in [since, until]; with `repair`, write the API's view of every
    drifted run (and flag the rows of runs the API no longer lists). What `agent-runs verify` runs."""
    started = time.monotonic()
    since_at, until_at = checked_range(since, until, workers, 0)
    accounts = configured_accounts(providers, None)
    pipeline, _ = make_pipeline(destination, dataset_name, pipeline_name, progress)
    reports, fixes, step_fixes = [], [], []
    for account in accounts:
        for run_list in account.provider.lists:
            with LoadedRuns(pipeline, account.provider, account.name, run_list.name) as loaded:
                table = loaded.rows_created(since_at, until_at)
                api = api_rows(account, run_list, since_at, workers)
                report, fix = compared(account, run_list, table, api, until_at)
                steps_from = steps_start(pipeline, account, run_list)
                if run_list.steps is not None and steps_from is not None:
                    step_fixes += steps_compared(account, run_list, loaded, api, StepsPlan.fixed(steps_from), report)
            reports.append(report)
            fixes += fix
    repaired = write_repairs(pipeline, fixes, step_fixes) if repair else 0
    requests = sum(account.rate_limit.answered for account in accounts)
    return VerifyReport(reports, requests, time.monotonic() - started, repaired)


def api_rows(account: Account, run_list: RunList, since: datetime | None, workers: int | None) -> pa.Table:
    """Every run the list shows from `since` to now, as `runs` rows (open rows confirmed), once each."""
    lister, chosen, pages = walk_history(account, run_list, since, None, workers, RELIST_LAG)
    logger.info("%s (account %s): reading everything to verify; %s", lister.name, account.name, chosen.reason)
    tables = [confirm_open(lister, page) for page in pages if page is not None]
    api = pa.concat_tables(tables) if tables else RUNS_ARROW_SCHEMA.empty_table()
    return last_of_each(api)


def compared(
    account: Account, run_list: RunList, table: pa.Table, api: pa.Table, until: datetime | None
) -> tuple[ListReport, list[pa.Table]]:
    """The report of one run list, and the rows that would repair it."""
    report = ListReport(account.provider.name, account.name, run_list.name)
    newest = pc.max(table["created_at"]).as_py() if table.num_rows else None
    bound = min(filter(None, (until, newest)), default=None)  # runs after the newest row: the next load's
    floor = reach_floor(run_list, api)  # of everything listed: the reach is the list's, not the range's
    if bound is not None:
        api = api.filter(pc.less_equal(api["created_at"], bound))
    if floor is not None:
        older = pc.less(table["created_at"], floor)
        report.not_compared = pc.sum(older).as_py() or 0
        table = table.filter(pc.invert(older))
    for run_id, count in rows_per_run(table).items():
        if count > 1:
            report.drifts.append(Drift(run_id, "duplicate"))
    table = last_of_each(table)
    in_table = pc.is_in(api["run_id"], table["run_id"])
    listed = pc.is_in(table["run_id"], api["run_id"])
    gone = table.filter(pc.and_(pc.invert(listed), table["missing_from_api_at"].is_null()))
    report.drifts += [Drift(run_id, "missing") for run_id in api.filter(pc.invert(in_table))["run_id"].to_pylist()]
    report.drifts += [Drift(run_id, "extra") for run_id in gone["run_id"].to_pylist()]
    both = api.filter(in_table)
    before = table.take(pc.index_in(both["run_id"], value_set=table["run_id"]))
    differing = differences(both, before)
    for position in pc.indices_nonzero(any_of(differing.values(), both.num_rows)).to_pylist():
        columns = {
            name: (cut(before[name][position].as_py()), cut(both[name][position].as_py()))
            for name, differs in differing.items()
            if differs[position].as_py()
        }
        report.drifts.append(Drift(both["run_id"][position].as_py(), "differs", columns))
    report.compared = api.num_rows + gone.num_rows
    drifted = pa.array([drift.run_id for drift in report.drifts], pa.string())
    fix = [api.filter(pc.is_in(api["run_id"], drifted)), flagged_missing(gone)]
    return report, [rows for rows in fix if rows.num_rows]


def steps_start(pipeline: Any, account: Account, run_list: RunList) -> datetime | None:
    """From when the account's run list has its steps loaded (steps_outbox.StepsPlan): its listing's state."""
    state = pipeline.state.get("sources", {}).get(SOURCE_NAME, {}).get("resources", {})
    listing = state.get(account.listing_name(run_list), {})
    noted = [listing[key] for key in (STEPS_FROM_KEY, STEPS_BACKFILLED_KEY) if listing.get(key)]
    return min(parse_timestamp(moment) for moment in noted) if noted else None


def steps_compared(
    account: Account, run_list: RunList, loaded: LoadedRuns, api: pa.Table, plan: StepsPlan, report: ListReport
) -> list[pa.Table]:
    """The steps of the runs the API shows ended (from when steps are loaded) read again and
    compared with `run_steps`: a run whose steps differ is a drift (`steps`); returns the API's
    steps of those runs, which repair them."""
    run_ids = plan.runs_to_read(api)
    lister = Lister(run_list, account.client, account.name)
    fresh = [table for table in steps_tables(lister, run_ids)]
    api_steps = pa.concat_tables(fresh) if fresh else RUN_STEPS_ARROW_SCHEMA.empty_table()
    held = loaded.step_rows(run_ids)
    drifted = runs_whose_steps_differ(api_steps, held)
    mine, theirs = rows_per_run(held), rows_per_run(api_steps)
    for run_id in drifted:
        report.drifts.append(
            Drift(run_id, "steps_differ", {"step_rows": (str(mine.get(run_id, 0)), str(theirs.get(run_id, 0)))})
        )
    return [api_steps.filter(pc.is_in(api_steps["run_id"], pa.array(drifted, pa.string())))] if drifted else []


def rows_per_run(table: pa.Table) -> dict[str, int]:
    """How many rows of the table each run has."""
    counted = pc.value_counts(table["run_id"])
    return dict(zip(counted.field("values").to_pylist(), counted.field("counts").to_pylist(), strict=True))


def reach_floor(run_list: RunList, api: pa.Table) -> datetime | None:
    """The oldest run listed, if the list's reach (its last page) was met: older rows cannot be compared."""
    paging = run_list.paging
    if not isinstance(paging, PageNumberPaging) or paging.max_page is None or not api.num_rows:
        return None
    if api.num_rows < paging.max_page * run_list.page_size:
        return None
    return pc.min(api["created_at"]).as_py()


def last_of_each(table: pa.Table) -> pa.Table:
    """One row a run: the last of a run the table (or a walk) holds more than once."""
    if not table.num_rows:
        return table
    ids = table["run_id"].combine_chunks()
    last = pc.index_in(ids, value_set=pc.unique(ids))  # the position of each row's run among the unique ids
    keep = pa.array(sorted({run: position for position, run in enumerate(last.to_pylist())}.values()), pa.int64())
    return table if len(keep) == table.num_rows else table.take(keep)


def cut(value: Any) -> str:
    text = "null" if value is None else value.isoformat() if isinstance(value, datetime) else str(value)
    return text if len(text) <= VERIFY_VALUE_CHARS else text[: VERIFY_VALUE_CHARS - 1] + "…"


def write_repairs(pipeline: Any, fixes: list[pa.Table], step_fixes: list[pa.Table] = ()) -> int:  # type: ignore[assignment]
    """The API's view of the drifted runs (and the flagged rows of runs gone), and the steps of
    runs whose steps drifted, through the merge."""
    if not fixes and not step_fixes:
        return 0
    rows = pa.concat_tables(fixes) if fixes else RUNS_ARROW_SCHEMA.empty_table()
    steps = pa.concat_tables(step_fixes) if step_fixes else RUN_STEPS_ARROW_SCHEMA.empty_table()

    def repaired() -> Iterator[pa.Table]:
        yield rows

    def repaired_steps() -> Iterator[pa.Table]:
        yield steps

    resources = [into_runs_table(repaired, "verify_repair"), into_steps_table(repaired_steps, "verify_repair_steps")]
    as_delta_tables(resources, pipeline)
    with only_load_of(pipeline), json_text_is_intended():
        finish_interrupted_load(pipeline)
        run_retrying_schema_races(pipeline, resources)
    repaired_runs = rows.num_rows + len(set(steps["run_id"].to_pylist()))
    logger.info("verify: wrote %d run(s) as the API says at %s", repaired_runs, datetime.now(UTC).isoformat())
    return repaired_runs
