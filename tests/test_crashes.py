"""A load killed with SIGKILL in any step (extract, normalize, load), then run again after runs
finished and new ones arrived, finishes what was left and loads what is new: the table equals
the API; two loads of one pipeline at once: the second refuses."""

from __future__ import annotations

import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import dagster as dg
import pytest
from dagster_dlt import DagsterDltResource

from agent_runs import agent_runs_source
from agent_runs.integrations.dagster_assets import agent_runs_assets
from agent_runs.loading.pipeline import load_runs, make_pipeline
from agent_runs.settings import DATASET_NAME
from agent_runs.simulators import BrowserbaseSimulator, TinyFishSimulator
from tests.utils import AGENT_RUNS, BROWSERBASE_KEY, TINYFISH_KEY, agent_runs, assert_table_equals_api, cli_env

PIPELINE = "agent_runs_duckdb_agent_runs"


@pytest.fixture
def slow_simulators() -> Iterator[dict[str, Any]]:
    """Enough pages, each a little slow, that a load takes a few seconds to kill in."""
    with (
        TinyFishSimulator(api_key=TINYFISH_KEY, runs=3000, seed=21, latency_s=0.01) as tinyfish,
        BrowserbaseSimulator(api_key=BROWSERBASE_KEY, runs=20000, seed=22, latency_s=0.01) as browserbase,
    ):
        yield {"tinyfish": tinyfish, "browserbase": browserbase}


def keys_for(simulators: dict[str, Any]) -> dict[str, str]:
    return {
        "TINYFISH_API_KEY": TINYFISH_KEY,
        "TINYFISH_BASE_URL": simulators["tinyfish"].base_url,
        "BROWSERBASE_API_KEY": BROWSERBASE_KEY,
        "BROWSERBASE_BASE_URL": simulators["browserbase"].base_url,
    }


def package_files(workdir: Path, stage: str) -> list[Path]:
    return list((workdir / "dlt-data" / "pipelines" / PIPELINE).glob(stage))


# When to kill: a condition on what the load has done so far.
KILL_WHEN: dict[str, Callable[[Path, dict[str, Any]], bool]] = {
    "extract": lambda workdir, simulators: len(simulators["tinyfish"].requests) >= 10,
    "normalize": lambda workdir, simulators: bool(package_files(workdir, "normalize/extracted/*")),
    "load": lambda workdir, simulators: bool(package_files(workdir, "load/normalized/*/started_jobs/*")),
}


@pytest.mark.parametrize("step", list(KILL_WHEN))
def test_a_load_killed_in_any_step_is_completed_exactly_by_the_next(
    step: str, slow_simulators: dict[str, Any], workdir: Path
) -> None:
    env = keys_for(slow_simulators)
    load = subprocess.Popen([AGENT_RUNS, "load"], cwd=workdir, env=cli_env(env, workdir), stderr=subprocess.PIPE)
    deadline = time.monotonic() + 120
    while not KILL_WHEN[step](workdir, slow_simulators):
        assert load.poll() is None, f"the load ended before the {step} step could be interrupted"
        assert time.monotonic() < deadline
        time.sleep(0.002)
    load.kill()
    assert load.wait() == -9

    # Life goes on before the scheduler's next run: runs finish, new ones arrive.
    for simulator in slow_simulators.values():
        simulator.clock.advance(40 * 60)
        simulator.add_runs([simulator.clock.now_us - 1_000_000 * seconds for seconds in (5, 5, 60)])
    rerun = agent_runs(workdir, "load", env=env)
    assert rerun.returncode == 0, rerun.stderr
    if step == "load":  # killed while loading: its package is finished first, and said so
        assert "interrupted load had left" in rerun.stdout, rerun.stdout
    for provider, simulator in slow_simulators.items():
        assert_table_equals_api(workdir, provider, simulator)  # finished the old load, and loaded what is new


def test_a_second_load_of_the_same_pipeline_refuses_while_the_first_runs(
    slow_simulators: dict[str, Any], workdir: Path
) -> None:
    env = keys_for(slow_simulators)
    first = subprocess.Popen(
        [AGENT_RUNS, "load"], cwd=workdir, env=cli_env(env, workdir), stderr=subprocess.PIPE, text=True
    )
    deadline = time.monotonic() + 60
    while len(slow_simulators["tinyfish"].requests) < 3:
        assert first.poll() is None and time.monotonic() < deadline
        time.sleep(0.01)
    second = agent_runs(workdir, "load", env=env)
    assert second.returncode == 1
    assert "another load of pipeline" in second.stderr and "did nothing" in second.stderr
    assert first.wait(timeout=120) == 0, first.stderr.read() if first.stderr else ""
    for provider, simulator in slow_simulators.items():
        assert_table_equals_api(workdir, provider, simulator)


def leave_an_unloaded_package(simulators: dict[str, Any]) -> None:
    """What a load killed after its normalize step leaves: a package dlt has not loaded. Then runs
    finish and new ones arrive before the next load."""
    load_runs()
    for simulator in simulators.values():
        simulator.clock.advance(20 * 60)
    pipeline, _ = make_pipeline("duckdb", DATASET_NAME)
    pipeline.extract(agent_runs_source())
    pipeline.normalize()
    assert pipeline.has_pending_data
    for simulator in simulators.values():
        simulator.clock.advance(40 * 60)
        simulator.add_runs([simulator.clock.now_us - 2_000_000])


def test_load_runs_finishes_what_a_killed_load_left_then_loads_what_is_new(
    provider_env: dict[str, str], simulators: dict[str, Any], workdir: Path
) -> None:
    leave_an_unloaded_package(simulators)
    summary = load_runs()
    assert len(summary.finished_interrupted) == 1 and summary.finished_interrupted[0] in summary.load_ids
    for provider, simulator in simulators.items():
        assert_table_equals_api(workdir, provider, simulator)


def test_the_dagster_assets_finish_what_a_killed_load_left_then_load_what_is_new(
    provider_env: dict[str, str], simulators: dict[str, Any], workdir: Path
) -> None:
    leave_an_unloaded_package(simulators)
    result = dg.materialize([agent_runs_assets()], resources={"dlt_resource": DagsterDltResource()})
    assert result.success
    for provider, simulator in simulators.items():
        assert_table_equals_api(workdir, provider, simulator)
