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
    "Account": "sending.accounts",
    "ApiKeyRejected": "errors",
    "InvalidRecord": "errors",
    "LoadAlreadyRunning": "errors",
    "MalformedPage": "errors",
    "NoProviderConfigured": "errors",
    "NoRunsLoaded": "errors",
    "ProviderError": "errors",
    "LoadOptions": "resources.options",
    "runs_resource": "resources.new_runs",
    "open_runs_resource": "resources.open_runs",
    "LoadSummary": "loading.summary",
    "create_views": "loading.pipeline",
    "finish_interrupted_load": "loading.pipeline",
    "json_text_is_intended": "rows.schema",
    "load_runs": "loading.pipeline",
    "transform_runs": "analytics.transform",
    "TransformReport": "analytics.transform",
    "verify_runs": "loading.verify",
    "VerifyReport": "loading.verify",
    "PROVIDERS": "providers",
    "Provider": "providers",
    "RUNS_COLUMNS": "rows.schema",
    "TERMINAL_STATUSES": "rows.schema",
    "UNIFIED_STATUSES": "rows.schema",
    "SOURCE_NAME": "settings",
    "agent_runs_source": "resources.source",
    "utc_moment": "resources.source",
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
    "LoadOptions",
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
    "json_text_is_intended",
    "load_runs",
    "open_runs_resource",
    "runs_resource",
    "transform_runs",
    "utc_moment",
    "verify_runs",
]

if TYPE_CHECKING:
    from agent_runs.analytics.transform import TransformReport, transform_runs
    from agent_runs.errors import (
        ApiKeyRejected,
        InvalidRecord,
        LoadAlreadyRunning,
        MalformedPage,
        NoProviderConfigured,
        NoRunsLoaded,
        ProviderError,
    )
    from agent_runs.loading.pipeline import create_views, finish_interrupted_load, load_runs
    from agent_runs.loading.summary import LoadSummary
    from agent_runs.loading.verify import VerifyReport, verify_runs
    from agent_runs.providers import PROVIDERS, Provider
    from agent_runs.resources.new_runs import runs_resource
    from agent_runs.resources.open_runs import open_runs_resource
    from agent_runs.resources.options import LoadOptions
    from agent_runs.resources.source import agent_runs_source, utc_moment
    from agent_runs.rows.schema import RUNS_COLUMNS, TERMINAL_STATUSES, UNIFIED_STATUSES, json_text_is_intended
    from agent_runs.sending.accounts import Account
    from agent_runs.settings import SOURCE_NAME


def __getattr__(name: str) -> Any:
    if name not in EXPORTS:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f".{EXPORTS[name]}", __name__), name)
