"""Incremental loading, for both providers: the second load asks only for what is new, nothing is
lost or duplicated at page boundaries, at timestamp ties or at the inclusive `startAt` boundary,
and --since/--until narrow a load exactly."""

from __future__ import annotations

import gc
import os
import subprocess
import sys
from collections import Counter
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import orjson
import pyarrow as pa
import pytest

from agent_runs import agent_runs_source, utc_moment
from agent_runs.loading.pipeline import GC_THRESHOLD, load_runs, make_pipeline
from agent_runs.loading.summary import LoadSummary
from agent_runs.settings import RELIST_LAG
from agent_runs.simulators import BrowserbaseSimulator, Fault
from tests.utils import ID_FIELD, assert_table_equals_api, read_runs, small_pages

PROVIDERS = ["tinyfish", "browserbase"]
CREATED_FIELD = {"tinyfish": "created_at", "browserbase": "createdAt"}
LIST_PATH = {"tinyfish": "/v1/runs", "browserbase": "/v1/agents/runs"}


def created(provider: str, record: dict[str, Any]) -> datetime:
    return datetime.fromisoformat(record[CREATED_FIELD[provider]])


def loaded_ids(workdir: Path, provider: str) -> set[str]:
    return {run_id for (name, run_id) in read_runs(workdir / "agent-runs.duckdb") if name == provider}


@pytest.mark.parametrize("provider", PROVIDERS)
def test_second_load_asks_only_for_new_runs(
    provider: str, provider_env: dict[str, str], simulators: dict[str, Any], workdir: Path
) -> None:
    simulator = simulators[provider]
    load_runs(providers=[provider])
    first_view = simulator.current_runs()
    last_loaded = max(created(provider, record) for record in first_view)

    simulator.requests.clear()
    simulator.clock.advance(3 * 3600)  # new runs appear
    summary = load_runs(providers=[provider])

    view = simulator.current_runs()
    assert loaded_ids(workdir, provider) == {record[ID_FIELD[provider]] for record in view}
    new_runs = [record for record in view if created(provider, record) > last_loaded]
    assert len(new_runs) >= 100, "the scenario should add a few pages of runs"
    was_open = {
        record[ID_FIELD[provider]]: record
        for record in first_view
        if record["status"] in ("PENDING", "RUNNING", "PAUSED")
    }
    assert summary.open_runs_refresh[provider]["open"] == len(was_open)
    changed = sum(
        record != was_open[record[ID_FIELD[provider]]] for record in view if record[ID_FIELD[provider]] in was_open
    )
    assert 0 < changed < len(was_open)  # some ended or moved on, some zombies did not
    assert summary.runs_by_provider == {provider: len(new_runs) + changed}  # new rows + open rows that changed

    # The incremental listing (the open-runs refresh asks with an upper bound, or by id).
    list_requests = [
        request
        for request in simulator.requests
        if request.path == LIST_PATH[provider] and not {"created_before", "endAt"} & set(request.params)
    ]
    lagged = last_loaded - RELIST_LAG  # runs that became visible late are listed again
    if provider == "tinyfish":
        asked_from = lagged - timedelta(milliseconds=1)
        assert {request.params["created_after"] for request in list_requests} == {
            asked_from.isoformat().replace("+00:00", "Z")
        }
        assert {request.params["sort_direction"] for request in list_requests} == {"asc"}
        re_read = [record for record in view if asked_from < created(provider, record) <= last_loaded]
    else:
        assert {request.params["startAt"] for request in list_requests} == {lagged.isoformat().replace("+00:00", "Z")}
        re_read = [record for record in view if lagged <= created(provider, record) <= last_loaded]
    # The API served the new runs and the re-read window again, nothing older.
    assert sum(request.records for request in list_requests) == len(new_runs) + len(re_read)

    rows = read_runs(workdir / "agent-runs.duckdb")
    for record in new_runs:
        row = rows[provider, record[ID_FIELD[provider]]]
        assert row["provider_status"] == record["status"]
        assert row["created_at"] == created(provider, record)


@pytest.mark.parametrize("provider", PROVIDERS)
def test_ties_at_page_and_load_boundaries(
    provider: str,
    provider_env: dict[str, str],
    simulators: dict[str, Any],
    workdir: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    simulator = simulators[provider]
    small_pages(monkeypatch, provider, 7)  # many page boundaries
    ties = Counter(run.created_us for run in simulator.history[:400])
    tied_time = max(moment for moment, count in ties.items() if count >= 2)
    simulator.clock.set(tied_time)  # the first load ends on a timestamp several runs share
    load_runs(providers=[provider])
    first_view = simulator.current_runs()
    assert Counter(created(provider, record) for record in first_view).most_common(1)[0][1] >= 2
    assert loaded_ids(workdir, provider) == {record[ID_FIELD[provider]] for record in first_view}

    simulator.clock.advance(2 * 3600)
    load_runs(providers=[provider])
    view = simulator.current_runs()
    assert loaded_ids(workdir, provider) == {
        record[ID_FIELD[provider]] for record in view
    }  # read_runs checks no duplicates


@pytest.mark.parametrize("provider", PROVIDERS)
def test_since_and_until_narrow_the_load_exactly(
    provider: str, provider_env: dict[str, str], simulators: dict[str, Any], workdir: Path
) -> None:
    view = simulators[provider].current_runs()
    moments = sorted(created(provider, record) for record in view)
    since, until = moments[len(moments) // 4], moments[len(moments) // 2]
    load_runs(providers=[provider], since=since, until=until)
    expected = {record[ID_FIELD[provider]] for record in view if since <= created(provider, record) < until}
    assert loaded_ids(workdir, provider) == expected


def duckdb_memory_and_threads(summary: LoadSummary) -> tuple[str, int]:
    """The memory limit and threads the load's DuckDB connection runs with."""
    pipeline, _ = make_pipeline("duckdb", summary.dataset_name, summary.pipeline_name)
    with pipeline.sql_client() as client:
        [(memory_limit, threads)] = client.execute_sql(
            "SELECT current_setting('memory_limit'), current_setting('threads')"
        )
    return memory_limit, threads


def test_the_default_duckdb_file_is_loaded_with_little_memory(provider_env: dict[str, str], workdir: Path) -> None:
    pool = pa.default_memory_pool().backend_name
    summary = load_runs(providers=["browserbase"])
    assert duckdb_memory_and_threads(summary) == ("61.0 MiB", 1)  # DuckDB spells 64MB (decimal) in MiB
    assert pa.default_memory_pool().backend_name == pool  # a library call leaves the process's allocator alone


def test_the_command_gives_freed_arrow_buffers_back_at_once() -> None:
    """The command's process is its own: it takes the system allocator before Arrow starts."""
    code = "import agent_runs.cli, pyarrow; print(pyarrow.default_memory_pool().backend_name)"
    env = {name: value for name, value in os.environ.items() if name != "ARROW_DEFAULT_MEMORY_POOL"}
    answer = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
    assert answer.stdout.strip() == "system"


def test_the_default_duckdb_file_takes_the_configured_memory_limit(
    provider_env: dict[str, str], workdir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DESTINATION__DUCKDB__CREDENTIALS__GLOBAL_CONFIG", '{"memory_limit": "1GB"}')
    summary = load_runs(providers=["browserbase"])
    assert summary.location == str(workdir / "agent-runs.duckdb")
    assert duckdb_memory_and_threads(summary) == ("953.6 MiB", 1)  # the rest of the defaults stay


def test_the_load_runs_with_fewer_gc_passes_and_puts_the_threshold_back(
    provider_env: dict[str, str], workdir: Path
) -> None:
    before = gc.get_threshold()
    during: list[int] = []
    source = agent_runs_source(providers=["browserbase"])
    source.resources["browserbase_runs"].add_map(lambda table: during.append(gc.get_threshold()[0]) or table)
    load_runs(source=source)
    assert during and set(during) == {max(GC_THRESHOLD, before[0])}
    assert gc.get_threshold() == before


def test_a_run_listed_on_two_pages_of_one_load_is_one_row(
    provider_env: dict[str, str], browserbase: BrowserbaseSimulator, workdir: Path
) -> None:
    """Browserbase promises no order: a listing that shifts while it is walked can show a run on two
    pages. The merge de-duplicates the staged rows (what dlt's `deduplicated` option would skip)."""
    first, repeated, last = browserbase.current_runs()[:3]
    browserbase.faults.extend(
        [
            Fault(200, body=orjson.dumps({"data": [first, repeated], "limit": 2, "nextCursor": "page-2"})),
            Fault(200, body=orjson.dumps({"data": [repeated, last], "limit": 2, "nextCursor": None})),
        ]
    )
    summary = load_runs(providers=["browserbase"])
    assert set(read_runs(workdir / "agent-runs.duckdb")) == {  # read_runs fails on a duplicate row
        ("browserbase", record["runId"]) for record in (first, repeated, last)
    }
    assert summary.runs_by_provider == {"browserbase": 3}


def test_a_configured_duckdb_file_gets_the_same_merge(
    provider_env: dict[str, str], browserbase: BrowserbaseSimulator, workdir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`[destination.duckdb] credentials` (here from the environment) picks the file; the load is
    the same DuckDB destination, with its cheaper de-duplication of staged rows."""
    configured = workdir / "elsewhere" / "runs.duckdb"
    configured.parent.mkdir()
    monkeypatch.setenv("DESTINATION__DUCKDB__CREDENTIALS", str(configured))
    first, repeated = browserbase.current_runs()[:2]
    browserbase.faults.append(
        Fault(200, body=orjson.dumps({"data": [first, repeated, repeated], "limit": 3, "nextCursor": None}))
    )
    summary = load_runs(providers=["browserbase"])
    assert summary.location == "(as configured)" and not (workdir / "agent-runs.duckdb").exists()
    assert set(read_runs(configured)) == {("browserbase", first["runId"]), ("browserbase", repeated["runId"])}
    merge_sql = "".join(path.read_text() for path in (workdir / "dlt-data").rglob("completed_jobs/runs.*.sql"))
    assert "copy_number > 1" in merge_sql  # repeats were found by (key, rowid), not by numbering whole rows


@pytest.mark.parametrize("provider", PROVIDERS)
def test_runs_that_become_visible_late_are_loaded_by_the_next_load(
    provider: str, provider_env: dict[str, str], simulators: dict[str, Any], workdir: Path
) -> None:
    simulator = simulators[provider]
    load_runs(providers=[provider])
    now = simulator.clock.now_us
    # Created before the newest loaded run, committed minutes late: listed only after it was loaded.
    late = simulator.add_runs([now - 90_000_000, now - 30_000_000, now - 30_000_000], visible_after_s=200)
    simulator.clock.advance(30)
    simulator.add_runs([simulator.clock.now_us - 1_000_000])  # a run created after them, visible at once
    load_runs(providers=[provider])
    assert not {run.run_id for run in late} & loaded_ids(workdir, provider)  # not listed yet
    simulator.clock.advance(200)
    simulator.requests.clear()
    summary = load_runs(providers=[provider])
    assert_table_equals_api(workdir, provider, simulator)
    assert {run.run_id for run in late} <= loaded_ids(workdir, provider)
    assert summary.runs_by_provider[provider] >= len(late)


def test_since_and_until_take_what_the_command_takes_or_say_what_is_wrong(
    provider_env: dict[str, str], tinyfish: Any, workdir: Path
) -> None:
    load_runs(providers=["tinyfish"], since="2026-01-01T03:00:00", until="2026-01-01T05:00:00+00:00")
    created = [row["created_at"] for row in read_runs(workdir / "agent-runs.duckdb").values()]
    assert created and min(created) >= datetime(2026, 1, 1, 3, tzinfo=UTC)  # no offset: UTC
    assert max(created) < datetime(2026, 1, 1, 5, tzinfo=UTC)
    assert utc_moment(date(2026, 1, 2), "until") == datetime(2026, 1, 2, tzinfo=UTC)  # a date is its midnight, UTC
    with pytest.raises(ValueError, match="since='last tuesday' is not a date"):
        load_runs(providers=["tinyfish"], since="last tuesday")
    with pytest.raises(ValueError, match="must be before until"):
        load_runs(providers=["tinyfish"], since="2026-02-01", until="2026-01-01")
