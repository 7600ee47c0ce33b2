"""Accounts: one API key of one provider each. The default account of a provider is its
`<NAME>_API_KEY`; more are named in `[sources.agent_runs.accounts.<name>]`. Each account gets its
own resources and state (its own cursor), and its name in the `account` column."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import dlt
from dlt.sources.helpers.rest_client import RESTClient

from agent_runs.errors import NoProviderConfigured
from agent_runs.providers import PROVIDERS, Provider, RunList
from agent_runs.reading.paging import clock_of
from agent_runs.rows.schema import DEFAULT_ACCOUNT
from agent_runs.sending.transport import KeyClients, RateLimit

ACCOUNT_NAME = re.compile(r"[a-z0-9_]{1,40}")
SECTION = "sources.agent_runs"


@dataclass(frozen=True)
class Account:
    """One API key of one provider, with the host it is sent to and the name its rows carry."""

    provider: Provider
    api_key: str = field(repr=False)
    base_url: str
    name: str = DEFAULT_ACCOUNT
    rate_limit: RateLimit = field(default_factory=RateLimit, repr=False, compare=False)  # the key's, shared

    def resource_prefix(self, run_list: RunList) -> str:
        """`<provider>` for the default account (so its state keeps its name), else
        `<provider>_<account>`; then `_<list>` when the provider has several run lists."""
        prefix = self.provider.name if self.name == DEFAULT_ACCOUNT else f"{self.provider.name}_{self.name}"
        return prefix if len(self.provider.lists) == 1 else f"{prefix}_{run_list.name}"

    def listing_name(self, run_list: RunList) -> str:
        """The name of the run list's listing resource, and of its state (the refresh keeps its
        report there too)."""
        return f"{self.resource_prefix(run_list)}_runs"

    def refresh_name(self, run_list: RunList) -> str:
        """The name of the run list's open-runs refresh resource."""
        return f"{self.resource_prefix(run_list)}_open_runs"

    clients: KeyClients = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        clients = KeyClients(self.base_url, self.provider.api_key_header, self.api_key, self.rate_limit)
        object.__setattr__(self, "clients", clients)  # frozen: set once, here

    def client(self) -> RESTClient:
        """The calling thread's client of the account's key: its requests share the key's
        connections, rate limit and concurrency."""
        return self.clients()

    def first_answer(self) -> datetime | None:
        """The API's clock at the first answer to this account's key in this process (its `Date`;
        the local clock if it sent none); None before any answer."""
        transport = self.clients.transport
        return clock_of(transport.first_date) if transport.answered else None


def owner_of(resource_name: str) -> tuple[str, str, str] | None:
    """The provider, account and run list of a listing resource (`<resource_prefix>_runs`, the
    inverse of Account.resource_prefix); None for a name no account gives."""
    for provider in PROVIDERS.values():
        rest = resource_name.removesuffix("_runs")
        if rest != provider.name and not rest.startswith(f"{provider.name}_"):
            continue
        rest = rest.removeprefix(provider.name)
        run_list = provider.lists[0]
        if len(provider.lists) > 1:
            run_list = next((each for each in provider.lists if rest.endswith(f"_{each.name}")), None)
            if run_list is None:
                continue
            rest = rest.removesuffix(f"_{run_list.name}")
        return provider.name, rest.removeprefix("_") or DEFAULT_ACCOUNT, run_list.name
    return None


def configured(provider: Provider, setting: str) -> str | None:
    """`<name>_<setting>` from [sources.agent_runs] (.dlt/ files or SOURCES__AGENT_RUNS__… variables),
    else from the top level: the `<NAME>_<SETTING>` variable the provider's own SDK reads."""
    key = f"{provider.name}_{setting}"
    accessor = dlt.secrets if setting == "api_key" else dlt.config
    return accessor.get(f"{SECTION}.{key}") or accessor.get(key) or None


def default_accounts(
    wanted: list[str], api_keys: Mapping[str, str] | None, base_urls: Mapping[str, str] | None
) -> dict[str, Account]:
    """The default account of each wanted provider that has a key (given, or configured)."""
    accounts = {}
    for name in wanted:
        provider = PROVIDERS[name]
        api_key = (api_keys or {}).get(name) or configured(provider, "api_key")
        if api_key:
            base_url = (base_urls or {}).get(name) or configured(provider, "base_url") or provider.default_base_url
            accounts[name] = Account(provider, str(api_key), base_url)
    return accounts


def named_accounts(accounts: Mapping[str, Any]) -> list[Account]:
    """`[sources.agent_runs.accounts.<name>]` tables: provider, api_key and optionally base_url."""
    parsed = []
    for name, settings in accounts.items():
        where = f"[{SECTION}.accounts.{name}]"
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
