"""A load killed with SIGKILL in any step (extract, normalize, load) and run again ends with the
table a clean load makes, row for row; two loads of one pipeline at once: the second refuses."""

from __future__ import annotations

import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from agent_runs.simulators import BrowserbaseSimulator, TinyFishSimulator
from conftest import AGENT_RUNS, BROWSERBASE_KEY, TINYFISH_KEY, agent_runs, assert_table_equals_api, cli_env

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

    rerun = agent_runs(workdir, "load", env=env)
    assert rerun.returncode == 0, rerun.stderr
    for provider, simulator in slow_simulators.items():
        assert_table_equals_api(workdir, provider, simulator)


def test_a_second_load_of_the_same_pipeline_refuses_while_the_first_runs(
    slow_simulators: dict[str, Any], workdir: Path
) -> None:
    env = keys_for(slow_simulators)
    first = subprocess.Popen(
        [AGENT_RUNS, "load"], cwd=workdir, env=cli_env(env, workdir), stderr=subprocess.PIPE, text=True
    )
    while len(slow_simulators["tinyfish"].requests) < 3:
        assert first.poll() is None
        time.sleep(0.01)
    second = agent_runs(workdir, "load", env=env)
    assert second.returncode == 1
    assert "another load of pipeline" in second.stderr and "did nothing" in second.stderr
    assert first.wait(timeout=120) == 0, first.stderr.read() if first.stderr else ""
    for provider, simulator in slow_simulators.items():
        assert_table_equals_api(workdir, provider, simulator)
