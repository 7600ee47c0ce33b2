"""Shared fixtures: both simulators on loopback (each with its own clock), an isolated working directory and
dlt data dir per test, the environment a user would set, and a reader for the loaded table."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import duckdb
import pytest

from agent_runs.schema import RUNS_COLUMNS
from agent_runs.simulators import BrowserbaseSimulator, TinyFishSimulator

TINYFISH_KEY = "tf-test-key-3f9a1c77d2e84b1a"
BROWSERBASE_KEY = "bb-test-key-9e2d4b6a1f0c3e58"


@pytest.fixture
def workdir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A fresh directory as cwd, with dlt's state kept inside it and no keys from the caller."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("DLT_DATA_DIR", str(tmp_path / "dlt-data"))
    for name in ("TINYFISH_API_KEY", "BROWSERBASE_API_KEY", "TINYFISH_BASE_URL", "BROWSERBASE_BASE_URL"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("RUNTIME__REQUEST_BACKOFF_FACTOR", "0")  # retries without sleeping in tests
    return tmp_path


@pytest.fixture
def tinyfish() -> Iterator[TinyFishSimulator]:
    with TinyFishSimulator(api_key=TINYFISH_KEY, runs=450, future_runs=120, seed=11, new_fields=True) as simulator:
        yield simulator


@pytest.fixture
def browserbase() -> Iterator[BrowserbaseSimulator]:
    with BrowserbaseSimulator(api_key=BROWSERBASE_KEY, runs=2300, future_runs=300, seed=12) as simulator:
        yield simulator


@pytest.fixture
def simulators(tinyfish: TinyFishSimulator, browserbase: BrowserbaseSimulator) -> dict[str, Any]:
    """Both simulators by provider name, for tests parametrised over providers."""
    return {"tinyfish": tinyfish, "browserbase": browserbase}


# The run id's key in each API's records.
ID_FIELD = {"tinyfish": "run_id", "browserbase": "runId"}


@pytest.fixture
def provider_env(
    workdir: Path, tinyfish: TinyFishSimulator, browserbase: BrowserbaseSimulator, monkeypatch: pytest.MonkeyPatch
) -> dict[str, str]:
    """Configured as a user would: keys and base URLs in the SDKs' environment variables."""
    env = {
        "TINYFISH_API_KEY": TINYFISH_KEY,
        "TINYFISH_BASE_URL": tinyfish.base_url,
        "BROWSERBASE_API_KEY": BROWSERBASE_KEY,
        "BROWSERBASE_BASE_URL": browserbase.base_url,
    }
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    return env


JSON_COLUMNS = ("result", "result_schema", "extra")


def read_runs(database: Path, dataset: str = "agent_runs") -> dict[tuple[str, str], dict[str, Any]]:
    """The loaded `runs` table keyed by (provider, run_id), JSON columns decoded, times in UTC."""
    with duckdb.connect(str(database), read_only=True) as connection:
        connection.execute("SET TimeZone = 'UTC'")
        cursor = connection.execute(f"SELECT * FROM {dataset}.runs")
        names = [column[0] for column in cursor.description]
        rows = [dict(zip(names, values, strict=True)) for values in cursor.fetchall()]
    for row in rows:
        for column in JSON_COLUMNS:
            if row[column] is not None:
                row[column] = json.loads(row[column])
    keyed = {(row["provider"], row["run_id"]): row for row in rows}
    assert len(keyed) == len(rows), "duplicate (provider, run_id) rows"
    return keyed


def assert_table_equals_api(
    workdir: Path, provider: str, simulator: Any, account: str = "default"
) -> dict[tuple[str, str], dict[str, Any]]:
    """The account's rows in `runs` are exactly what the API knows now, column for column; the
    expected rows come from the simulation's own truth, never through the connector's mapping."""
    rows = read_runs(workdir / "agent-runs.duckdb")
    expected = simulator.current_truth(account)
    mine = {run_id for (name, run_id), row in rows.items() if name == provider and row["account"] == account}
    assert mine == set(expected)
    for run_id, want in expected.items():
        got = rows[provider, run_id]
        assert {column: got[column] for column in RUNS_COLUMNS} == want, run_id
    return rows


AGENT_RUNS = str(Path(sys.executable).parent / "agent-runs")


def agent_runs(workdir: Path, *args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """`agent-runs ARGS` as a user runs it: a subprocess in workdir, with only the given keys."""
    return subprocess.run(
        [AGENT_RUNS, *args], cwd=workdir, env=cli_env(env or {}, workdir), capture_output=True, text=True, timeout=300
    )


def cli_env(extra: dict[str, str], workdir: Path) -> dict[str, str]:
    """The environment for running `agent-runs` as a subprocess, isolated to workdir."""
    env = {key: value for key, value in os.environ.items() if not key.endswith("_API_KEY")}
    env.update(DLT_DATA_DIR=str(workdir / "dlt-data"), RUNTIME__REQUEST_BACKOFF_FACTOR="0", **extra)
    return env


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("promise", "the model-based test of the promise (tests/test_promise.py)")
    group.addoption("--promise-walks", type=int, default=3, help="seeded walks to take (seeds 1..N)")
    group.addoption("--promise-steps", type=int, default=25, help="random steps in each walk")
    group.addoption("--promise-seed", type=int, default=None, help="walk this seed only (to reproduce a failure)")
