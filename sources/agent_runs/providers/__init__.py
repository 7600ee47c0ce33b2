"""The registry: every provider the connector knows, by the name in the `provider` column. The
command's `--provider` choices, the keys' names and the simulators all come from here.

Adding a provider: a module here declaring its `Provider`, one line below, its simulator in
`agent_runs/simulators/<name>.py` and its tests (see the README's "Adding a provider")."""

from agent_runs.providers.base import (
    CreatedFilter,
    CursorPaging,
    FieldMap,
    PageNumberPaging,
    Provider,
    RunList,
    StepsRead,
)
from agent_runs.providers.browser_use import BROWSER_USE
from agent_runs.providers.browserbase import BROWSERBASE
from agent_runs.providers.skyvern import SKYVERN
from agent_runs.providers.tinyfish import TINYFISH

PROVIDERS: dict[str, Provider] = {provider.name: provider for provider in (TINYFISH, BROWSERBASE, BROWSER_USE, SKYVERN)}

__all__ = [
    "PROVIDERS",
    "CreatedFilter",
    "CursorPaging",
    "FieldMap",
    "PageNumberPaging",
    "Provider",
    "RunList",
    "StepsRead",
]
