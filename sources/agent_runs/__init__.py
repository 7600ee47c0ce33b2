"""The agent-runs dlt source: TinyFish and Browserbase run history in one `runs` table.

import dlt
from agent_runs import agent_runs_source

pipeline = dlt.pipeline("agent_runs", destination="duckdb", dataset_name="agent_runs")
pipeline.run(agent_runs_source())
"""

import logging
import re
from collections.abc import Callable, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from itertools import islice
from typing import Any

import dlt
import pyarrow as pa
import pyarrow.compute as pc
from dlt.common.typing import TSecretStrValue
from dlt.extract import DltResource
from dlt.sources.helpers.rest_client import RESTClient

from .backfill import plan_windows, walk_windows
from .browserbase import BROWSERBASE
from .helpers import (
    ApiKeyRejected,
    MalformedPage,
    Provider,
    ProviderError,
    RateLimit,
    fetch_run,
    paginate_runs,
    runs_client,
    runs_table,
)
from .loaded import LoadedRuns
from .open_runs import RecentRuns, changed_rows, is_open, without
from .schema import DEFAULT_ACCOUNT, RUNS_COLUMNS, TERMINAL_STATUSES, UNIFIED_STATUSES
from .settings import (
    PRIMARY_KEY,
    REFRESH_WORKERS,
    RELIST_LAG,
    ROWS_PER_COMPARISON,
    ROWS_PER_TABLE,
    ROWS_PER_YIELD,
    TABLE_NAME,
)
from .tinyfish import TINYFISH

PROVIDERS: dict[str, Provider] = {TINYFISH.name: TINYFISH, BROWSERBASE.name: BROWSERBASE}
ACCOUNT_NAME = re.compile(r"[a-z0-9_]{1,40}")


@dataclass(frozen=True)
class Account:
    """One API key of one provider. Agencies have several per provider; each gets its own
    resources and state (its own cursor and open runs), and its name in the `account` column."""

    provider: Provider
    api_key: str = field(repr=False)
    base_url: str
    name: str = DEFAULT_ACCOUNT

    @property
    def resource_prefix(self) -> str:
        """`browserbase` for the default account (so its state keeps its name), else `browserbase_<name>`."""
        return self.provider.name if self.name == DEFAULT_ACCOUNT else f"{self.provider.name}_{self.name}"

    def client(self, rate_limit: RateLimit | None = None) -> RESTClient:
        return runs_client(self.base_url, self.provider.api_key_header, self.api_key, rate_limit)


SOURCE_NAME = "agent_runs"
logger = logging.getLogger(SOURCE_NAME)


class JsonTextIsIntended(logging.Filter):
    """JSON columns travel in Arrow as JSON text (the form dlt itself gives them); dlt would warn on
    every page that the Arrow type (text) differs from the column's hint (json)."""

    def filter(self, record: logging.LogRecord) -> bool:
        return "when merging arrow schema with dlt schema" not in record.getMessage()


def quiet_json_text_warnings() -> None:
    dlt_logger = logging.getLogger("dlt")
    if not any(isinstance(existing, JsonTextIsIntended) for existing in dlt_logger.filters):
        dlt_logger.addFilter(JsonTextIsIntended())


__all__ = [
    "PROVIDERS",
    "RUNS_COLUMNS",
    "SOURCE_NAME",
    "TERMINAL_STATUSES",
    "UNIFIED_STATUSES",
    "Account",
    "ApiKeyRejected",
    "MalformedPage",
    "NoProviderConfigured",
    "ProviderError",
    "agent_runs_source",
    "open_runs_resource",
    "runs_resource",
    "utc_moment",
]


def list_runs(
    account: Account,
    created_at: dlt.sources.incremental[datetime],
    workers: int = 1,
    lag: timedelta = RELIST_LAG,
) -> Iterator[pa.Table | None]:
    """Every page of the account's list-runs endpoint within the incremental window, as Arrow
    tables of `runs` rows. The window starts `lag` before the newest run loaded so far (dlt's
    incremental lag), so runs that became visible late are loaded; runs loaded before are skipped
    there. While the next page is on its way it yields None, dlt's signal to go on with other
    resources: that is how several accounts are extracted at once, each walked by its own threads."""
    provider = account.provider
    recent = RecentRuns(dlt.current.resource_state())
    loaded_before = recent.loaded_since(created_at.start_value)
    rate_limit = RateLimit()

    def new_client() -> RESTClient:
        return account.client(rate_limit)

    logger.info(
        "%s (account %s): listing runs created from %s",
        provider.display_name,
        account.name,
        created_at.start_value or "the start",
    )
    windows = plan_windows(provider, new_client, created_at.start_value, created_at.end_value, workers)
    if len(windows) > 1:
        logger.info("%s: walking %d created-at windows with %d workers", provider.display_name, len(windows), workers)
    tables, rows, listed_open = [], 0, 0
    for table in walk_windows(provider, new_client, windows, workers, account.name):
        if table is None:  # still on its way: dlt serves the other accounts' resources meanwhile
            yield None
            continue
        if len(loaded_before):
            table = without(table, loaded_before)
        recent.note_listed(table, lag)
        listed_open += pc.sum(is_open(table)).as_py() or 0
        tables.append(table)
        rows += table.num_rows
        if rows >= ROWS_PER_TABLE:  # dlt's cost per item is fixed: hand it a few thousand rows at a time
            yield pa.concat_tables(tables)
            tables, rows = [], 0
            recent.forget_before(lag)  # a first load lists every run: keep the window's only
    if rows:
        yield pa.concat_tables(tables)
    recent.forget_before(lag)
    recent.state["listed_open"] = listed_open  # new open runs, followed from the next load on
    pa.default_memory_pool().release_unused()  # Arrow keeps freed pages for reuse; the load step needs them more


def refresh_open_runs(account: Account, max_age: timedelta | None = None) -> Iterator[pa.Table]:
    """Current rows for the account's runs loaded while open (read back from the destination),
    where they changed: those still open from the API's open-status listings, the others by id.
    A run the API no longer knows (404) keeps its row as loaded, with `missing_from_api_at` set."""
    recent = RecentRuns(dlt.current.resource_state(f"{account.resource_prefix}_runs"))
    report = {"open": 0, "by_listing": 0, "listing_pages": 0, "by_id": 0, "missing": 0, "given_up": 0, "ended": 0}
    newest = recent.newest_created
    if newest is not None:  # else nothing was loaded yet: no need to ask the destination (or create its file)
        with LoadedRuns(dlt.current.pipeline(), account.provider.name, account.name) as loaded:
            followed = loaded.open_runs()
            if max_age is not None:
                too_old = pc.less(followed["created_at"], newest - max_age)
                report["given_up"] = pc.sum(too_old).as_py() or 0
                followed = followed.filter(pc.invert(too_old))
            yield from refreshed(account, followed, loaded, report)
    report["still_open"] = report["open"] - report["ended"] - report["missing"]
    recent.state["last_refresh"] = report


def refreshed(account: Account, followed: pa.Table, loaded: LoadedRuns, report: dict[str, int]) -> Iterator[pa.Table]:
    """The rows of the followed runs that changed since they were loaded (see refresh_open_runs)."""
    provider = account.provider
    report["open"] = followed.num_rows
    created = dict(zip(followed["run_id"].to_pylist(), followed["created_at"].to_pylist(), strict=True))
    client = account.client()

    def changed(tables: list[pa.Table]) -> pa.Table:
        table = pa.concat_tables(tables)
        report["ended"] += table.num_rows - (pc.sum(is_open(table)).as_py() or 0)
        return changed_rows(table, loaded.rows(table["run_id"].to_pylist()))

    unseen = set(created)
    if created:
        span = provider.window_params(min(created.values()), max(created.values()))
        followed_ids = followed["run_id"].combine_chunks()
        for status in provider.open_statuses:
            pending: list[pa.Table] = []
            for page in paginate_runs(provider, client, {**span, "status": status}, account.name):
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
    with ThreadPoolExecutor(max_workers=REFRESH_WORKERS) as pool:
        fetched = zip(by_id, pool.map(lambda run_id: fetch_run(provider, client, run_id), by_id), strict=True)
        while batch := list(islice(fetched, ROWS_PER_YIELD)):
            report["by_id"] += len(batch)
            found = [record for _, record in batch if record is not None]
            if found:
                yield changed([runs_table(provider, found, f"{provider.runs_path}/{{run_id}}", account.name)])
            gone = [run_id for run_id, record in batch if record is None]
            if gone:  # gone from the API: keep the row as loaded, flagged, and stop following it
                report["missing"] += len(gone)
                yield flagged_missing(loaded.rows(gone))


def flagged_missing(table: pa.Table) -> pa.Table:
    column = table.schema.get_field_index("missing_from_api_at")
    now = pa.array([datetime.now(UTC)] * table.num_rows, table.schema.field(column).type)
    return table.set_column(column, table.schema.field(column), now)


def utc_moment(value: Any, name: str) -> datetime:
    """A datetime, a date or an ISO 8601 string (what `--since` takes) as an aware UTC datetime; no
    offset reads as UTC. ValueError naming `name` for anything else."""
    moment = value
    if isinstance(value, str):
        try:
            moment = datetime.fromisoformat(value.strip())
        except ValueError:
            raise ValueError(
                f"{name}={value!r} is not a date or ISO 8601 date-time (e.g. 2026-01-31 or 2026-01-31T12:00:00Z)"
            ) from None
    elif isinstance(value, date) and not isinstance(value, datetime):
        moment = datetime(value.year, value.month, value.day)
    if not isinstance(moment, datetime):
        raise ValueError(f"{name} must be a datetime, a date or an ISO 8601 string, not {type(value).__name__}")
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


class NoProviderConfigured(ValueError):
    """No API key for any provider asked for: a configuration problem, not a failed load."""


def into_runs_table(generator: Callable[..., Iterator[Any]], name: str) -> DltResource:
    """A resource that merges rows into the unified `runs` table: the table's contract in one place."""
    return dlt.resource(
        generator,
        name=name,
        table_name=TABLE_NAME,
        primary_key=PRIMARY_KEY,
        write_disposition="merge",
        columns=RUNS_COLUMNS,
    )


def runs_resource(
    account: Account,
    since: datetime | None = None,
    until: datetime | None = None,
    workers: int = 1,
    lag: timedelta = RELIST_LAG,
) -> DltResource:
    """New runs of an account as a merge resource into `runs`, incremental on created_at; its own
    state (named `<provider>[_<account>]_runs`) keeps each account's cursor and open runs apart.

    Args:
        account: the provider, key and base URL to list.
        since / until: the created-at range of a first load (later loads continue from the cursor).
        workers: > 1 walks a long range as created-at windows in parallel (see backfill.py).
        lag: how far behind the newest loaded run each load lists again (runs visible late).
    """
    resource = into_runs_table(list_runs, f"{account.resource_prefix}_runs")
    created_at = dlt.sources.incremental[datetime](
        "created_at",
        initial_value=since,
        end_value=until,
        row_order=account.provider.row_order,
        primary_key=PRIMARY_KEY,
        lag=lag.total_seconds() or None,
    )
    return resource(account, created_at=created_at, workers=workers, lag=lag)


def open_runs_resource(account: Account, max_age: timedelta | None = None) -> DltResource:
    """The account's open runs brought up to date, merged over their rows in `runs`.

    Args:
        account: the provider, key and base URL whose open runs to refresh.
        max_age: stop following runs open this long before the newest; None: until they end.
    """
    return into_runs_table(refresh_open_runs, f"{account.resource_prefix}_open_runs")(account, max_age)


def named_accounts(accounts: Mapping[str, Any]) -> list[Account]:
    """`[sources.agent_runs.accounts.<name>]` tables: provider, api_key and optionally base_url."""
    parsed = []
    for name, settings in accounts.items():
        where = f"[sources.agent_runs.accounts.{name}]"
        if not ACCOUNT_NAME.fullmatch(name) or name == DEFAULT_ACCOUNT:
            raise NoProviderConfigured(f"{where}: account names are 1-40 of a-z, 0-9, _ (and not `default`)")
        if (
            not isinstance(settings, Mapping)
            or settings.get("provider") not in PROVIDERS
            or not settings.get("api_key")
        ):
            raise NoProviderConfigured(f"{where} needs provider = one of {', '.join(PROVIDERS)}, and api_key")
        provider = PROVIDERS[settings["provider"]]
        parsed.append(
            Account(provider, settings["api_key"], settings.get("base_url") or provider.default_base_url, name)
        )
    return parsed


@dlt.source(name=SOURCE_NAME, section=SOURCE_NAME, max_table_nesting=0)
def agent_runs_source(
    tinyfish_api_key: TSecretStrValue | None = dlt.secrets.value,
    browserbase_api_key: TSecretStrValue | None = dlt.secrets.value,
    tinyfish_base_url: str | None = None,
    browserbase_base_url: str | None = None,
    providers: Sequence[str] | None = None,
    since: datetime | date | str | None = None,
    until: datetime | date | str | None = None,
    open_runs_max_age_days: float | None = None,
    workers: int = 1,
    accounts: dict[str, Any] | None = dlt.secrets.value,
    lag_minutes: float = RELIST_LAG.total_seconds() / 60,
) -> list[DltResource]:
    """Run history of every provider that has an API key (or of `providers` only).

    Keys come from `TINYFISH_API_KEY` / `BROWSERBASE_API_KEY` or `[sources.agent_runs]` in
    .dlt/secrets.toml; base URLs likewise from `TINYFISH_BASE_URL` / `BROWSERBASE_BASE_URL`.
    `since` / `until` narrow the first load (later loads continue from the stored cursor).
    More keys per provider go in `[sources.agent_runs.accounts.<name>]` tables (provider, api_key,
    base_url); their rows carry the account's name in the `account` column.

    Args:
        tinyfish_api_key / browserbase_api_key: the default accounts' keys.
        tinyfish_base_url / browserbase_base_url: another host (a proxy, a simulator).
        providers: load only these (default: every provider with a key; one named without a key fails).
        since / until: the created-at range of a first load or a backfill: a datetime, a date or an
            ISO 8601 string (no offset: UTC).
        open_runs_max_age_days: stop following open runs created this long before the newest loaded
            run (their rows keep what was last seen). None, the default: follow them until they end.
        workers: > 1 walks a long history (a first load, a backfill) as that many concurrent
            created-at windows per provider.
        accounts: named accounts, `{name: {provider, api_key, base_url}}`.
        lag_minutes: every load lists again the runs created this long before the newest loaded
            one, for runs that became visible in the API late (0: off).
    """
    if workers < 1:
        raise ValueError(f"workers must be at least 1, got {workers}")
    since = None if since is None else utc_moment(since, "since")
    until = None if until is None else utc_moment(until, "until")
    if since is not None and until is not None and since >= until:
        raise ValueError(f"since ({since.isoformat()}) must be before until ({until.isoformat()})")
    if lag_minutes < 0:
        raise ValueError(f"lag_minutes must be 0 or more, got {lag_minutes}")
    quiet_json_text_warnings()
    max_age = None if open_runs_max_age_days is None else timedelta(days=open_runs_max_age_days)
    lag = timedelta(minutes=lag_minutes)
    keys = {TINYFISH.name: tinyfish_api_key, BROWSERBASE.name: browserbase_api_key}
    base_urls = {TINYFISH.name: tinyfish_base_url, BROWSERBASE.name: browserbase_base_url}
    wanted = list(providers) if providers else list(PROVIDERS)
    unknown = sorted(set(wanted) - set(PROVIDERS))
    if unknown:
        raise NoProviderConfigured(f"unknown provider(s) {', '.join(unknown)}; known: {', '.join(PROVIDERS)}")
    configured = [account for account in named_accounts(accounts or {}) if account.provider.name in wanted]
    resources, skipped = [], []
    for name in wanted:
        provider = PROVIDERS[name]
        these = [account for account in configured if account.provider is provider]
        if keys[name]:
            these.insert(0, Account(provider, keys[name], base_urls[name] or provider.default_base_url))
        elif not these and providers:
            raise NoProviderConfigured(f"no API key for {provider.display_name}: set {name.upper()}_API_KEY")
        elif not these:
            skipped.append(provider)
        for account in these:
            # The refresh goes first, so it works on the open runs of earlier loads only.
            resources.append(open_runs_resource(account, max_age))
            resources.append(runs_resource(account, since, until, workers, lag))
    if not resources:
        raise NoProviderConfigured(
            "No API key configured. Set TINYFISH_API_KEY and/or BROWSERBASE_API_KEY (or add them under "
            "[sources.agent_runs] in .dlt/secrets.toml), or try `agent-runs demo`, which needs none."
        )
    for provider in skipped:
        logger.warning(
            "Skipping %s: no API key (set %s_API_KEY to load it).", provider.display_name, provider.name.upper()
        )
    return resources
