"""The agent-runs dlt source: every configured account of every provider, merged into one `runs`
table. Per account and run list, two resources: the listing of new runs (new_runs.py) and the
refresh of the runs loaded while open (open_runs.py); and one resource for the steps they read
(run_steps.py).

(No `from __future__ import annotations` here: dlt reads the signature at run time to resolve
the arguments from configuration.)
"""

import logging
from collections.abc import Mapping, Sequence
from datetime import UTC, date, datetime, timedelta
from typing import Any

import dlt
from dlt.common.typing import TSecretStrValue
from dlt.extract import DltResource

from agent_runs.errors import NoProviderConfigured
from agent_runs.providers import PROVIDERS
from agent_runs.resources.new_runs import runs_resource
from agent_runs.resources.open_runs import open_runs_resource
from agent_runs.resources.options import LoadOptions
from agent_runs.resources.run_steps import run_steps_resource
from agent_runs.resources.steps_outbox import StepsOutbox
from agent_runs.rows.schema import declare_tables
from agent_runs.sending.accounts import Account, default_accounts, named_accounts
from agent_runs.settings import RELIST_LAG, SOURCE_NAME

logger = logging.getLogger(SOURCE_NAME)


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


@dlt.source(name=SOURCE_NAME, section=SOURCE_NAME, max_table_nesting=0)
def agent_runs_source(
    providers: Sequence[str] | None = None,
    since: datetime | date | str | None = None,
    until: datetime | date | str | None = None,
    open_runs_max_age_days: float | None = None,
    workers: int | None = None,
    accounts: dict[str, Any] | None = dlt.secrets.value,
    lag_minutes: float = RELIST_LAG.total_seconds() / 60,
    api_keys: Mapping[str, TSecretStrValue] | None = None,
    base_urls: Mapping[str, str] | None = None,
    account_names: Sequence[str] | None = None,
    steps: bool = True,
    steps_since: datetime | date | str | None = None,
) -> list[DltResource]:
    """Run history of every provider that has an API key (or of `providers` only).

    A provider's key comes from `<NAME>_API_KEY` (e.g. TINYFISH_API_KEY, the variable its own SDK
    reads) or `<name>_api_key` under [sources.agent_runs] in .dlt/secrets.toml; its host likewise
    from `<NAME>_BASE_URL` or `<name>_base_url`. More keys per provider go in
    `[sources.agent_runs.accounts.<name>]` tables (provider, api_key, base_url); their rows carry
    the account's name in the `account` column.

    Args:
        providers: load only these (default: every provider with a key; one named without a key fails).
        since / until: the created-at range of a first load or a backfill (a datetime, a date or an
            ISO 8601 string; no offset: UTC). Later loads continue from the stored cursor.
        open_runs_max_age_days: stop following open runs created this long before the newest loaded
            run (their rows keep what was last seen). None, the default: follow them until they end.
        workers: how a long history (a first load, a backfill) is walked (walks.choose_walk): None,
            the default, at once as its first page allows; 1 as one walk; N > 1 as N created-at
            windows at a time, planned by probing. Also a cap on each key's requests in flight.
        accounts: named accounts, `{name: {provider, api_key, base_url}}`.
        lag_minutes: every load lists again the runs created this long before the newest loaded
            one, for runs that became visible in the API late (0: off).
        api_keys: keys of the default accounts by provider name, instead of the configured ones.
        base_urls: hosts by provider name (a proxy, a simulator), instead of the configured ones.
        account_names: only these accounts (`default` for a provider's own key), e.g. one
            partition of a load partitioned by account.
        steps: load what each run did step by step into `run_steps` (of the runs that end from the
            first load with steps on).
        steps_since: read the steps of runs that ended since then too (as `since`): a backfill of
            runs loaded before, done once.
    """
    since, until = checked_range(since, until, workers, lag_minutes)
    declare_tables(dlt.current.source_schema(), steps)
    options = LoadOptions(
        since=since,
        until=until,
        workers=workers,
        lag=timedelta(minutes=lag_minutes),
        max_age=None if open_runs_max_age_days is None else timedelta(days=open_runs_max_age_days),
        outbox=StepsOutbox() if steps else None,
        steps_since=None if steps_since is None else utc_moment(steps_since, "steps_since"),
    )
    resources = []
    for account in configured_accounts(providers, accounts, api_keys, base_urls, account_names):
        resources += account_resources(account, options)
    if options.outbox is not None and options.outbox.producers:
        resources.append(run_steps_resource(options.outbox))
    return resources


def account_resources(account: Account, options: LoadOptions) -> list[DltResource]:
    """An account's two resources per run list: the refresh of its open runs first (so it works on
    the open runs of earlier loads only), then the listing of new runs."""
    if options.workers is not None:  # a cap on the key's requests in flight too
        account.rate_limit.cap(options.workers)
    resources = []
    for run_list in account.provider.lists:
        refresh, listing = open_runs_resource(account, run_list, options), runs_resource(account, run_list, options)
        if (outbox := options.steps_of(run_list)) is not None:
            outbox.produced_by(refresh.name, listing.name)
        resources += [refresh, listing]
    return resources


def configured_accounts(
    providers: Sequence[str] | None,
    accounts: Mapping[str, Any] | None,
    api_keys: Mapping[str, TSecretStrValue] | None = None,
    base_urls: Mapping[str, str] | None = None,
    account_names: Sequence[str] | None = None,
) -> list[Account]:
    """The accounts to load (of `account_names` only, if given): the default account of each
    provider with a key, then its named ones; a provider asked for by name without a key is an
    error, one not asked for is skipped with a warning. NoProviderConfigured when no account is left."""
    wanted = list(providers) if providers else list(PROVIDERS)
    unknown = sorted(set(wanted) - set(PROVIDERS)) + sorted(set(api_keys or {}) - set(PROVIDERS))
    if unknown:
        raise NoProviderConfigured(f"unknown provider(s) {', '.join(unknown)}; known: {', '.join(PROVIDERS)}")
    defaults = default_accounts(wanted, api_keys, base_urls)
    named = [account for account in named_accounts(accounts or {}) if account.provider.name in wanted]
    chosen, skipped = [], []
    for name in wanted:
        provider = PROVIDERS[name]
        these = [account for account in named if account.provider is provider]
        if name in defaults:
            these.insert(0, defaults[name])
        elif not these and providers:
            raise NoProviderConfigured(f"no API key for {provider.display_name}: set {provider.api_key_variable}")
        elif not these:
            skipped.append(provider)
        chosen += these
    if not chosen:
        variables = " and/or ".join(provider.api_key_variable for provider in PROVIDERS.values())
        raise NoProviderConfigured(
            f"No API key configured. Set {variables} (or add them under "
            "[sources.agent_runs] in .dlt/secrets.toml), or try `agent-runs demo`, which needs none."
        )
    for provider in skipped:  # not configured is a choice, not a fault: said at INFO (-v), not every hour
        logger.info("Skipping %s: no API key (set %s to load it).", provider.display_name, provider.api_key_variable)
    return [account for account in chosen if account_names is None or account.name in account_names]


def checked_range(
    since: datetime | date | str | None, until: datetime | date | str | None, workers: int | None, lag_minutes: float
) -> tuple[datetime | None, datetime | None]:
    """`since` and `until` as UTC moments; ValueError naming what is wrong with any argument."""
    if workers is not None and workers < 1:
        raise ValueError(f"workers must be at least 1, got {workers}")
    since = None if since is None else utc_moment(since, "since")
    until = None if until is None else utc_moment(until, "until")
    if since is not None and until is not None and since >= until:
        raise ValueError(f"since ({since.isoformat()}) must be before until ({until.isoformat()})")
    if lag_minutes < 0:
        raise ValueError(f"lag_minutes must be 0 or more, got {lag_minutes}")
    return since, until
