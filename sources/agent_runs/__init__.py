"""The agent-runs dlt source: TinyFish and Browserbase run history in one `runs` table.

import dlt
from agent_runs import agent_runs_source

pipeline = dlt.pipeline("agent_runs", destination="duckdb", dataset_name="agent_runs")
pipeline.run(agent_runs_source())
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import datetime

import dlt
from dlt.common.typing import TSecretStrValue
from dlt.extract import DltResource

from .browserbase import BROWSERBASE
from .helpers import ApiKeyRejected, MalformedPage, Provider, ProviderError, list_runs
from .schema import RUNS_COLUMNS, TERMINAL_STATUSES, UNIFIED_STATUSES
from .settings import PRIMARY_KEY, TABLE_NAME
from .tinyfish import TINYFISH

PROVIDERS: dict[str, Provider] = {TINYFISH.name: TINYFISH, BROWSERBASE.name: BROWSERBASE}
SOURCE_NAME = "agent_runs"
logger = logging.getLogger(SOURCE_NAME)

__all__ = [
    "PROVIDERS",
    "RUNS_COLUMNS",
    "TERMINAL_STATUSES",
    "UNIFIED_STATUSES",
    "ApiKeyRejected",
    "MalformedPage",
    "NoProviderConfigured",
    "ProviderError",
    "agent_runs_source",
    "runs_resource",
]


class NoProviderConfigured(ValueError):
    """No API key for any provider asked for: a configuration problem, not a failed load."""


def runs_resource(
    provider: Provider,
    api_key: str,
    base_url: str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
) -> DltResource:
    """The provider's runs as a merge resource into `runs`, incremental on created_at; its own
    state (named `<provider>_runs`) keeps each provider's cursor apart."""
    resource = dlt.resource(
        list_runs,
        name=f"{provider.name}_runs",
        table_name=TABLE_NAME,
        primary_key=PRIMARY_KEY,
        write_disposition="merge",
        columns=RUNS_COLUMNS,
    )
    created_at = dlt.sources.incremental[datetime](
        "created_at", initial_value=since, end_value=until, row_order=provider.row_order, primary_key=PRIMARY_KEY
    )
    return resource(provider, api_key, base_url or provider.default_base_url, created_at=created_at)


@dlt.source(name=SOURCE_NAME, section=SOURCE_NAME, max_table_nesting=0)
def agent_runs_source(
    tinyfish_api_key: TSecretStrValue | None = dlt.secrets.value,
    browserbase_api_key: TSecretStrValue | None = dlt.secrets.value,
    tinyfish_base_url: str | None = None,
    browserbase_base_url: str | None = None,
    providers: Sequence[str] | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
) -> list[DltResource]:
    """Run history of every provider that has an API key (or of `providers` only).

    Keys come from `TINYFISH_API_KEY` / `BROWSERBASE_API_KEY` or `[sources.agent_runs]` in
    .dlt/secrets.toml; base URLs likewise from `TINYFISH_BASE_URL` / `BROWSERBASE_BASE_URL`.
    `since` / `until` narrow the first load (later loads continue from the stored cursor).
    """
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
