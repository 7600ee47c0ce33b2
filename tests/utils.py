"""Helpers the tests share: the keys the simulators accept, a reader for the loaded table, the
check that the table equals the API, and `agent-runs` run as a user runs it."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections import Counter
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import duckdb
import pytest

from agent_runs.providers import PROVIDERS
from agent_runs.rows.schema import RUNS_COLUMNS
from agent_runs.settings import STEPS_TABLE_NAME

TINYFISH_KEY = "tf-test-key-3f9a1c77d2e84b1a"
BROWSERBASE_KEY = "bb-test-key-9e2d4b6a1f0c3e58"
BROWSER_USE_KEY = "bu_test-key-5c1e7a9b3d2f4e60"
SKYVERN_KEY = "sk-test-key-2b8d6f0a4c1e3a97"
DEMO_RUNS = 400  # the shared demo's size (conftest.demo)

# The run id's key in each API's records.
ID_FIELD = {name: provider.lists[0].fields["run_id"][0] for name, provider in PROVIDERS.items()}


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


def copy_of(directory: Path, tmp_path: Path) -> Path:
    """A copy of a directory a shared fixture made (the demo's), to change freely."""
    shutil.copytree(directory, tmp_path / "work")
    return tmp_path / "work"


def cli_env(extra: dict[str, str], workdir: Path) -> dict[str, str]:
    """The environment for running `agent-runs` as a subprocess, isolated to workdir."""
    env = {key: value for key, value in os.environ.items() if not key.endswith("_API_KEY")}
    env.update(DLT_DATA_DIR=str(workdir / "dlt-data"), RUNTIME__REQUEST_BACKOFF_FACTOR="0", **extra)
    return env


def refresh_report(summary: Any, provider: str) -> dict[str, int]:
    """The open-runs refresh of a provider's default account in a load, its run lists summed."""
    names = {provider} | {f"{provider}_{run_list.name}" for run_list in PROVIDERS[provider].lists}
    total: Counter[str] = Counter()
    for name, report in summary.open_runs_refresh.items():
        if name in names:
            total.update(report)
    return dict(total)


def listing_state_names(provider: str) -> list[str]:
    """The listing resources' names (their state's keys) of a provider's default account."""
    lists = PROVIDERS[provider].lists
    return [f"{provider}_runs"] if len(lists) == 1 else [f"{provider}_{run_list.name}_runs" for run_list in lists]


def is_steps_read(request: Any, provider: str) -> bool:
    """Whether a request read runs' steps (run_steps), not runs: a path of its own (`.../events`),
    or the batch read with the steps' options. (Browser Use's v2 steps come with the task's own
    read: that request is both.)"""
    for run_list in PROVIDERS[provider].lists:
        read = run_list.steps
        if read is None:
            continue
        if read.batch and read.params and all(request.params.get(k) == v for k, v in read.params.items()):
            return True
        if read.path_template is not None:
            before, after = read.path_template.split("{run_id}")
            if after and request.path.startswith(before) and request.path.endswith(after):
                return True
    return False


def runs_requests(simulator: Any, provider: str) -> list[Any]:
    """The simulator's requests for runs: every request but the reads of steps."""
    return [request for request in simulator.requests if not is_steps_read(request, provider)]


def by_id_requests(simulator: Any, provider: str) -> list[Any]:
    """The simulator's requests for one run: its get-by-id path, or a list searched for an id
    (not the reads that confirm an open row of a list whose status lags: `confirmations`, nor
    the reads of steps)."""
    lists = PROVIDERS[provider].lists
    paths = {run_list.runs_path for run_list in lists}
    lookups = {key for run_list in lists if run_list.lookup_params for key in run_list.lookup_params("x")}
    confirming = set(confirmations(simulator, provider))
    return [
        request
        for request in runs_requests(simulator, provider)
        if (request.path not in paths or lookups & set(request.params)) and id(request) not in confirming
    ]


def confirmations(simulator: Any, provider: str) -> dict[int, Any]:
    """The simulator's requests that confirm an open row by the run's own read, by their `id()`."""
    prefixes = tuple(
        run_list.confirm_path_template.split("{run_id}")[0]
        for run_list in PROVIDERS[provider].lists
        if run_list.confirm_path_template
    )
    return {id(request): request for request in simulator.requests if prefixes and request.path.startswith(prefixes)}


def open_filter_values(provider: str, run_family: str) -> set[str]:
    """The status spellings a run list's open-run listings ask for."""
    (run_list,) = [run_list for run_list in PROVIDERS[provider].lists if run_list.name == run_family]
    values: set[str] = set()
    for open_filter in run_list.open_run_filters:
        for value in open_filter.values():
            values.update(value if isinstance(value, list) else [value])
    return values


def resource_names(providers: Iterable[str]) -> list[str]:
    """The dlt resources of these providers' default accounts: each run list's refresh and listing,
    and the one resource of the steps they read."""
    return [
        name.removesuffix("_runs") + suffix
        for provider in providers
        for name in listing_state_names(provider)
        for suffix in ("_open_runs", "_runs")
    ] + [STEPS_TABLE_NAME]


def small_pages(monkeypatch: pytest.MonkeyPatch, provider: str, size: int) -> None:
    """Every run list of the provider asks for pages of this size (page boundaries in a short test)."""
    for run_list in PROVIDERS[provider].lists:
        monkeypatch.setitem(run_list.__dict__, "page_size", size)  # a frozen declaration, for this test only


def rows_differing(query: Any, relation: str, other: str) -> tuple[int, int]:
    """(rows of `relation`, rows in one of the two relations and not the other, duplicates
    counted), compared in the database itself; `open_runs.age_hours` moves with the clock between
    two queries and is left out. `query(sql)` gives a query's column names and rows."""
    names, _ = query(f"SELECT * FROM {relation} LIMIT 0")
    listed = ", ".join(name for name in names if name != "age_hours")
    one, two = f"SELECT {listed} FROM {relation}", f"SELECT {listed} FROM {other}"
    _, ((count,),) = query(f"SELECT COUNT(*) FROM {relation}")
    _, ((differing,),) = query(
        f"SELECT COUNT(*) FROM (({one} EXCEPT ALL {two}) UNION ALL ({two} EXCEPT ALL {one})) AS differing"
    )
    return count, differing


TERMINAL = ("completed", "failed", "cancelled", "timed_out")


def read_steps(database: Path, dataset: str = "agent_runs") -> dict[tuple[str, str], list[str]]:
    """(provider, run_id) -> the run's step ids in `run_steps`, in step_index order."""
    with duckdb.connect(str(database), read_only=True) as connection:
        rows = connection.execute(
            f"SELECT provider, run_id, step_id FROM {dataset}.run_steps ORDER BY provider, run_id, step_index"
        ).fetchall()
    steps: dict[tuple[str, str], list[str]] = {}
    for provider, run_id, step_id in rows:
        steps.setdefault((provider, run_id), []).append(step_id)
    return steps


def assert_steps_equal_api(database: Path, simulators: dict[str, Any], dataset: str = "agent_runs") -> None:
    """Every run the table holds ended has exactly the steps the API has for it now; no step's run
    is missing from `runs`, and no open run has steps."""
    runs = read_runs(database, dataset)
    steps = read_steps(database, dataset)
    assert set(steps) <= set(runs), "a step whose run is not in runs"
    for (provider, run_id), row in runs.items():
        simulator = simulators.get(provider)
        if simulator is None or row["missing_from_api_at"] is not None:
            continue
        run = simulator.by_id.get(run_id)
        expected = simulator.step_ids(run, simulator.clock.now_us) if row["status"] in TERMINAL else []
        loaded = sorted(steps.get((provider, run_id), []))
        assert loaded == sorted(expected), (provider, run_id, row["status"], loaded[:5], sorted(expected)[:5])
