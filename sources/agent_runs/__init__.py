"""The agent-runs dlt source: TinyFish and Browserbase run history in one `runs` table.

import dlt
from agent_runs import agent_runs_source

pipeline = dlt.pipeline("agent_runs", destination="duckdb", dataset_name="agent_runs")
pipeline.run(agent_runs_source())
"""

import logging
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from typing import Any

import dlt
from dlt.common.typing import TSecretStrValue
from dlt.extract import DltResource

from .browserbase import BROWSERBASE
from .helpers import ApiKeyRejected, MalformedPage, Provider, ProviderError, fetch_run, paginate_rows, runs_client
from .open_runs import OpenRuns, plan_refresh
from .schema import RUNS_COLUMNS, TERMINAL_STATUSES, UNIFIED_STATUSES
from .settings import PRIMARY_KEY, REFRESH_WORKERS, ROWS_PER_YIELD, TABLE_NAME
from .tinyfish import TINYFISH

PROVIDERS: dict[str, Provider] = {TINYFISH.name: TINYFISH, BROWSERBASE.name: BROWSERBASE}
SOURCE_NAME = "agent_runs"
logger = logging.getLogger(SOURCE_NAME)

__all__ = [
    "PROVIDERS",
    "RUNS_COLUMNS",
    "SOURCE_NAME",
    "TERMINAL_STATUSES",
    "UNIFIED_STATUSES",
    "ApiKeyRejected",
    "MalformedPage",
    "NoProviderConfigured",
    "ProviderError",
    "agent_runs_source",
    "open_runs_resource",
    "runs_resource",
]


def list_runs(
    provider: Provider,
    api_key: str,
    base_url: str,
    created_at: dlt.sources.incremental[datetime],
) -> Iterator[list[dict[str, Any]]]:
    """Every page of the provider's list-runs endpoint within the incremental window, as unified
    rows; runs still open are remembered so later loads bring them up to date."""
    open_runs = OpenRuns(dlt.current.resource_state())
    client = runs_client(base_url, provider.api_key_header, api_key)
    for rows in paginate_rows(provider, client, provider.window_params(created_at.start_value, created_at.end_value)):
        open_runs.note_listed(rows)
        yield rows


def refresh_open_runs(
    provider: Provider, api_key: str, base_url: str, max_age: timedelta | None = None
) -> Iterator[Any]:
    """Current rows for every open run the listing resource remembers (merged over the stale ones);
    a run the API no longer knows (404) keeps its last-seen row, with `missing_from_api_at` set."""
    open_runs = OpenRuns(dlt.current.resource_state(f"{provider.name}_runs"))
    created = open_runs.created()
    report = {"open": len(created), "by_listing": 0, "listing_pages": 0, "by_id": 0, "missing": 0, "given_up": 0}
    if max_age is not None:
        cutoff = datetime.now(UTC) - max_age
        for run_id in [run_id for run_id, moment in created.items() if moment < cutoff]:
            del created[run_id], open_runs.runs[run_id]
            report["given_up"] += 1
    plan = plan_refresh(created, open_runs.created_per_hour, provider.page_size)
    client = runs_client(base_url, provider.api_key_header, api_key)

    seen: set[str] = set()
    if plan.window_start is not None:
        for rows in paginate_rows(provider, client, provider.window_params(plan.window_start, plan.window_end)):
            report["listing_pages"] += 1
            mine = [row for row in rows if row["run_id"] in plan.in_window]
            for row in mine:
                open_runs.note_refreshed(row)
                seen.add(row["run_id"])
            report["by_listing"] += len(mine)
            if mine:
                yield mine

    by_id = plan.by_id + sorted(plan.in_window - seen)  # in the window but not listed: ask directly
    with ThreadPoolExecutor(max_workers=REFRESH_WORKERS) as pool:
        batch: list[dict[str, Any]] = []
        for run_id, row in zip(by_id, pool.map(lambda run_id: fetch_run(provider, client, run_id), by_id), strict=True):
            report["by_id"] += 1
            if row is None:  # gone from the API: keep the last-seen row, flagged, and stop following it
                report["missing"] += 1
                row = {**open_runs.runs.pop(run_id), "missing_from_api_at": datetime.now(UTC)}
                batch.append(row)
                continue
            open_runs.note_refreshed(row)
            batch.append(row)
            if len(batch) >= ROWS_PER_YIELD:
                yield batch
                batch = []
        if batch:
            yield batch
    report["still_open"] = len(open_runs.runs)
    open_runs.state["last_refresh"] = report


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
    provider: Provider,
    api_key: str,
    base_url: str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
) -> DltResource:
    """New runs of a provider as a merge resource into `runs`, incremental on created_at; its own
    state (named `<provider>_runs`) keeps each provider's cursor and open runs apart."""
    resource = into_runs_table(list_runs, f"{provider.name}_runs")
    created_at = dlt.sources.incremental[datetime](
        "created_at", initial_value=since, end_value=until, row_order=provider.row_order, primary_key=PRIMARY_KEY
    )
    return resource(provider, api_key, base_url or provider.default_base_url, created_at=created_at)


def open_runs_resource(
    provider: Provider, api_key: str, base_url: str | None = None, max_age: timedelta | None = None
) -> DltResource:
    """The provider's open runs brought up to date, merged over their rows in `runs`."""
    resource = into_runs_table(refresh_open_runs, f"{provider.name}_open_runs")
    return resource(provider, api_key, base_url or provider.default_base_url, max_age)


@dlt.source(name=SOURCE_NAME, section=SOURCE_NAME, max_table_nesting=0)
def agent_runs_source(
    tinyfish_api_key: TSecretStrValue | None = dlt.secrets.value,
    browserbase_api_key: TSecretStrValue | None = dlt.secrets.value,
    tinyfish_base_url: str | None = None,
    browserbase_base_url: str | None = None,
    providers: Sequence[str] | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    open_runs_max_age_days: float | None = None,
) -> list[DltResource]:
    """Run history of every provider that has an API key (or of `providers` only).

    Keys come from `TINYFISH_API_KEY` / `BROWSERBASE_API_KEY` or `[sources.agent_runs]` in
    .dlt/secrets.toml; base URLs likewise from `TINYFISH_BASE_URL` / `BROWSERBASE_BASE_URL`.
    `since` / `until` narrow the first load (later loads continue from the stored cursor).
    Runs loaded while open are refreshed on every load until they end; `open_runs_max_age_days`
    stops following those created longer ago than that.
    """
    max_age = timedelta(days=open_runs_max_age_days) if open_runs_max_age_days else None
    keys = {TINYFISH.name: tinyfish_api_key, BROWSERBASE.name: browserbase_api_key}
    base_urls = {TINYFISH.name: tinyfish_base_url, BROWSERBASE.name: browserbase_base_url}
    wanted = list(providers) if providers else list(PROVIDERS)
    unknown = sorted(set(wanted) - set(PROVIDERS))
    if unknown:
        raise NoProviderConfigured(f"unknown provider(s) {', '.join(unknown)}; known: {', '.join(PROVIDERS)}")
    resources, skipped = [], []
    for name in wanted:
        provider = PROVIDERS[name]
        if keys[name]:
            # The refresh goes first, so it works on the open runs of earlier loads only.
            resources.append(open_runs_resource(provider, keys[name], base_urls[name], max_age))
            resources.append(runs_resource(provider, keys[name], base_urls[name], since, until))
        elif providers:
            raise NoProviderConfigured(f"no API key for {provider.display_name}: set {name.upper()}_API_KEY")
        else:
            skipped.append(provider)
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
