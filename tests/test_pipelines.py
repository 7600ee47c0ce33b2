"""The example pipelines in pipelines/ run as written: the script loads what the command loads,
and the Dagster example's definitions load."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path
from typing import Any

import dagster as dg

from agent_runs.providers import PROVIDERS
from tests.utils import assert_table_equals_api, cli_env, resource_names

PIPELINES = Path(__file__).resolve().parent.parent / "pipelines"


def test_the_example_pipeline_script_loads_every_provider(
    provider_env: dict[str, str], simulators: dict[str, Any], workdir: Path
) -> None:
    script = PIPELINES / "agent_runs_pipeline.py"
    result = subprocess.run(
        [sys.executable, str(script)], cwd=workdir, env=cli_env(provider_env, workdir), capture_output=True, text=True
    )
    assert result.returncode == 0, result.stderr
    assert "Loaded" in result.stdout
    for name, simulator in simulators.items():
        assert_table_equals_api(workdir, name, simulator)


def test_the_dagster_example_defines_the_assets_and_the_schedule(provider_env: dict[str, str], workdir: Path) -> None:
    spec = importlib.util.spec_from_file_location("agent_runs_dagster_example", PIPELINES / "agent_runs_dagster.py")
    assert spec is not None and spec.loader is not None
    example = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(example)
    definitions = example.defs()
    assert definitions.get_schedule_def("agent_runs_daily") is not None
    assets = [key for key in definitions.resolve_all_asset_keys() if key.path[-1].startswith("dlt_agent_runs_")]
    assert len(assets) == len(resource_names(PROVIDERS))
    assert dg.AssetKey("agent_runs_dbt") in definitions.resolve_all_asset_keys()  # the dbt step after the load
