"""agent-runs: web-agent run history from every provider in one `runs` table, with dlt.

    import dlt
    from agent_runs import agent_runs_source

    pipeline = dlt.pipeline("agent_runs_hourly", destination="duckdb", dataset_name="agent_runs")
    pipeline.run(agent_runs_source())

or `load_runs()`, what the `agent-runs load` command runs (see pipeline.py).

The names below are imported when first used: `import agent_runs.cli` must be able to choose
Arrow's allocator before anything imports pyarrow (see cli.py).
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

# name -> the module that defines it
EXPORTS = {
    "Account": "accounts",
    "ApiKeyRejected": "errors",
    "InvalidRecord": "errors",
    "LoadAlreadyRunning": "errors",
    "MalformedPage": "errors",
    "NoProviderConfigured": "errors",
    "NoRunsLoaded": "errors",
    "ProviderError": "errors",
    "runs_resource": "new_runs",
    "open_runs_resource": "open_runs",
    "LoadSummary": "summary",
    "create_views": "pipeline",
    "finish_interrupted_load": "pipeline",
    "load_runs": "pipeline",
    "transform_runs": "transform",
    "TransformReport": "transform",
    "verify_runs": "verify",
    "VerifyReport": "verify",
    "PROVIDERS": "providers",
    "Provider": "providers",
    "RUNS_COLUMNS": "schema",
    "TERMINAL_STATUSES": "schema",
    "UNIFIED_STATUSES": "schema",
    "SOURCE_NAME": "settings",
    "agent_runs_source": "source",
    "utc_moment": "source",
}
__all__ = [
    "PROVIDERS",
    "RUNS_COLUMNS",
    "SOURCE_NAME",
    "TERMINAL_STATUSES",
    "UNIFIED_STATUSES",
    "Account",
    "ApiKeyRejected",
    "InvalidRecord",
    "LoadAlreadyRunning",
    "LoadSummary",
    "MalformedPage",
    "NoProviderConfigured",
    "NoRunsLoaded",
    "Provider",
    "ProviderError",
    "TransformReport",
    "VerifyReport",
    "agent_runs_source",
    "create_views",
    "finish_interrupted_load",
    "load_runs",
    "open_runs_resource",
    "runs_resource",
    "transform_runs",
    "utc_moment",
    "verify_runs",
]

if TYPE_CHECKING:
    from .accounts import Account
    from .errors import (
        ApiKeyRejected,
        InvalidRecord,
        LoadAlreadyRunning,
        MalformedPage,
        NoProviderConfigured,
        NoRunsLoaded,
        ProviderError,
    )
    from .new_runs import runs_resource
    from .open_runs import open_runs_resource
    from .pipeline import create_views, finish_interrupted_load, load_runs
    from .providers import PROVIDERS, Provider
    from .schema import RUNS_COLUMNS, TERMINAL_STATUSES, UNIFIED_STATUSES
    from .settings import SOURCE_NAME
    from .source import agent_runs_source, utc_moment
    from .summary import LoadSummary
    from .transform import TransformReport, transform_runs
    from .verify import VerifyReport, verify_runs


def __getattr__(name: str) -> Any:
    if name not in EXPORTS:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f".{EXPORTS[name]}", __name__), name)
