"""Shared fixtures: every provider's simulator on loopback (each with its own clock), an isolated
working directory and dlt data dir per test, the environment a user would set. Helpers are in
tests/utils.py."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from filelock import FileLock

from agent_runs.providers import PROVIDERS
from agent_runs.simulators import BrowserbaseSimulator, TinyFishSimulator
from agent_runs.simulators.browser_use import BrowserUseSimulator
from agent_runs.simulators.skyvern import SkyvernSimulator
from tests.utils import BROWSER_USE_KEY, BROWSERBASE_KEY, DEMO_RUNS, SKYVERN_KEY, TINYFISH_KEY, agent_runs


@pytest.fixture(scope="session")
def demo(tmp_path_factory: pytest.TempPathFactory, worker_id: str) -> Path:
    """A directory where `agent-runs demo --runs DEMO_RUNS` has run, what it printed in `demo.out`:
    made once a test run and shared by its workers (tests work on copies of it, utils.copy_of)."""
    root = tmp_path_factory.getbasetemp()
    root = root if worker_id == "master" else root.parent  # the run's directory, above each worker's
    directory = root / "demo"
    with FileLock(root / "demo.lock"):
        if not (directory / "demo.out").exists():
            shutil.rmtree(directory, ignore_errors=True)
            directory.mkdir()
            result = agent_runs(directory, "demo", "--runs", str(DEMO_RUNS))
            assert result.returncode == 0, result.stderr
            (directory / "demo.out").write_text(result.stdout)
    return directory


@pytest.fixture
def workdir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A fresh directory as cwd, with dlt's state kept inside it and no keys from the caller."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("DLT_DATA_DIR", str(tmp_path / "dlt-data"))
    for provider in PROVIDERS.values():
        monkeypatch.delenv(provider.api_key_variable, raising=False)
        monkeypatch.delenv(provider.base_url_variable, raising=False)
    monkeypatch.setenv("RUNTIME__REQUEST_BACKOFF_FACTOR", "0")  # retries without sleeping in tests
    return tmp_path


def runs(request: pytest.FixtureRequest, provider: str, default: int) -> int:
    """The simulator's history: `default`, or what the test's `@pytest.mark.runs(provider=N)` says
    (a test whose point is not the history's size keeps its reads few)."""
    marker = request.node.get_closest_marker("runs")
    return int(marker.kwargs.get(provider, default)) if marker else default


@pytest.fixture
def tinyfish(request: pytest.FixtureRequest) -> Iterator[TinyFishSimulator]:
    size = runs(request, "tinyfish", 300)
    with TinyFishSimulator(api_key=TINYFISH_KEY, runs=size, future_runs=120, seed=11, new_fields=True) as simulator:
        yield simulator


@pytest.fixture
def browserbase(request: pytest.FixtureRequest) -> Iterator[BrowserbaseSimulator]:
    with BrowserbaseSimulator(
        api_key=BROWSERBASE_KEY, runs=runs(request, "browserbase", 800), future_runs=300, seed=12
    ) as simulator:
        yield simulator


@pytest.fixture
def browser_use(request: pytest.FixtureRequest) -> Iterator[BrowserUseSimulator]:
    size = runs(request, "browser_use", 500)
    with BrowserUseSimulator(
        api_key=BROWSER_USE_KEY, runs=size, future_runs=150, seed=13, new_fields=True
    ) as simulator:
        yield simulator


@pytest.fixture
def skyvern(request: pytest.FixtureRequest) -> Iterator[SkyvernSimulator]:
    size = runs(request, "skyvern", 600)
    with SkyvernSimulator(api_key=SKYVERN_KEY, runs=size, future_runs=200, seed=14, new_fields=True) as simulator:
        yield simulator


@pytest.fixture
def simulators(request: pytest.FixtureRequest) -> dict[str, Any]:
    """Every provider's simulator (the fixture of its name) by provider name, for tests over all providers."""
    return {name: request.getfixturevalue(name) for name in PROVIDERS}


@pytest.fixture
def provider_env(workdir: Path, request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """Configured as a user would: keys and base URLs in the SDKs' environment variables, of the
    simulators the test names (every one if it names `simulators`, or none)."""
    named = [name for name in PROVIDERS if name in request.fixturenames]
    wanted = list(PROVIDERS) if "simulators" in request.fixturenames or not named else named
    simulators = {name: request.getfixturevalue(name) for name in wanted}
    env = {}
    for name, simulator in simulators.items():
        env[PROVIDERS[name].api_key_variable] = simulator.api_key
        env[PROVIDERS[name].base_url_variable] = simulator.base_url
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    return env


def pytest_xdist_auto_num_workers(config: pytest.Config) -> int:
    """`-n auto`: a worker more than the cores. Tests also wait (a Retry-After, a subprocess
    starting, dbt's parse), and the extra worker fills those waits (docs/performance.md)."""
    return (os.cpu_count() or 1) + 1


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "runs(provider=N): the size of that provider's simulated history")
    config.addinivalue_line("markers", "long: a test of a minute or so, started first")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """The long tests first, so that the workers do not wait for one of them at the end."""
    items.sort(key=lambda item: item.get_closest_marker("long") is None)


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("promise", "the model-based test of the promise (tests/test_promise.py)")
    group.addoption("--promise-walks", type=int, default=3, help="seeded walks to take (seeds 1..N)")
    group.addoption("--promise-steps", type=int, default=25, help="random steps in each walk")
    group.addoption("--promise-seed", type=int, default=None, help="walk this seed only (to reproduce a failure)")
