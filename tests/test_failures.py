"""What the APIs can do wrong, injected into the simulators: rate limits and server errors are
retried (as configured), pages that cannot be trusted stop the load with an error that names the
provider, the endpoint and the fault, and the next load ends exactly equal to the API's view."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from pathlib import Path
from typing import Any

import orjson
import pytest

from agent_runs.loading.pipeline import load_runs
from agent_runs.loading.summary import LoadSummary
from agent_runs.simulators import Fault, TinyFishSimulator
from tests.utils import agent_runs, assert_table_equals_api, read_runs


def page(data: Any, has_more: bool = False, cursor: str | None = None) -> bytes:
    return orjson.dumps({"data": data, "pagination": {"total": 1, "has_more": has_more, "next_cursor": cursor}})


MALFORMED = {
    "not JSON": (Fault(200, body=b"<html>Service maintenance</html>"), "not JSON"),
    "truncated JSON": (Fault(200, body=page([{"run_id": "r"}])[:40]), "not JSON"),
    "no data list": (Fault(200, body=b'{"pagination": {"has_more": false}}'), "without a `data` list"),
    "has_more without a cursor": (Fault(200, body=page([], has_more=True)), "has_more but sent no cursor"),
    "a run without run_id": (
        Fault(200, body=page([{"status": "RUNNING", "created_at": "2026-01-01T00:00:00Z"}])),
        "without a valid `run_id`",
    ),
    "a run without created_at": (Fault(200, body=page([{"run_id": "r", "status": "RUNNING"}])), "`created_at`"),
    "runs that are not objects": (Fault(200, body=page(["r1", "r2"])), "expected a run object"),
}


def failure_of(summary: LoadSummary, provider: str) -> str:
    """The one failure of the provider's account in a load, as its summary says it."""
    (failed,) = [outcome for outcome in summary.failed if outcome.provider == provider]
    (failure,) = failed.failures
    return f"{failure['where']}: {failure['reason']}"


@pytest.mark.parametrize("fault", list(MALFORMED))
def test_a_malformed_page_stops_the_load_clearly_and_the_next_load_is_exact(
    fault: str, provider_env: dict[str, str], simulators: dict[str, Any], workdir: Path
) -> None:
    tinyfish = simulators["tinyfish"]
    load_runs(providers=["browserbase"])  # already loaded: must survive the failure untouched
    before = read_runs(workdir / "agent-runs.duckdb")
    injected, message = MALFORMED[fault]
    tinyfish.faults.extend([None, injected])  # the second page is bad
    summary = load_runs(providers=["tinyfish"])
    cause = failure_of(summary, "tinyfish")
    assert summary.nothing_loaded and "TinyFish" in cause and message in cause
    after = read_runs(workdir / "agent-runs.duckdb")
    assert {key: row for key, row in after.items() if key[0] == "browserbase"} == before  # nothing lost

    load_runs(providers=["tinyfish"])
    assert_table_equals_api(workdir, "tinyfish", tinyfish)
    assert_table_equals_api(workdir, "browserbase", simulators["browserbase"])


def test_a_repeated_cursor_stops_instead_of_looping(
    provider_env: dict[str, str], tinyfish: TinyFishSimulator, workdir: Path
) -> None:
    loop = Fault(200, body=page([], has_more=True, cursor="c2FtZQ=="))
    tinyfish.faults.extend([loop, loop])
    assert "repeated a page cursor" in failure_of(load_runs(providers=["tinyfish"]), "tinyfish")
    assert len(tinyfish.requests) == 2


@pytest.mark.parametrize("retry_after", ["1", "http-date"])
def test_429_waits_the_retry_after_then_repeats_the_request(
    retry_after: str, provider_env: dict[str, str], tinyfish: TinyFishSimulator, workdir: Path
) -> None:
    if retry_after == "http-date":
        retry_after = format_datetime(datetime.now(UTC) + timedelta(seconds=2), usegmt=True)
    tinyfish.faults.extend([None, Fault(429, retry_after=retry_after)])
    started = time.monotonic()
    load_runs(providers=["tinyfish"])
    assert time.monotonic() - started >= 1.0
    statuses = [request.status for request in tinyfish.requests]
    assert statuses[:3] == [200, 429, 200]
    assert tinyfish.requests[1].params == tinyfish.requests[2].params  # the same page asked again
    assert_table_equals_api(workdir, "tinyfish", tinyfish)


def test_server_errors_drops_and_timeouts_are_retried(
    provider_env: dict[str, str], tinyfish: TinyFishSimulator, workdir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("RUNTIME__REQUEST_TIMEOUT", "1")
    # The first page: answered too late (a read timeout), then 500, then 502, then it comes.
    tinyfish.faults.extend([Fault(200, delay_s=2), Fault(500), Fault(502), None, Fault(503), Fault(0), Fault(504)])
    load_runs(providers=["tinyfish"])
    assert_table_equals_api(workdir, "tinyfish", tinyfish)

    def first_page_statuses() -> list[int]:
        return sorted(request.status for request in tinyfish.requests if "cursor" not in request.params)

    deadline = time.monotonic() + 10  # the late answer is logged when it is sent, after the client gave up
    while len(first_page_statuses()) < 4 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert first_page_statuses() == [200, 200, 500, 502]  # the timed-out request was asked again
    assert [request.status for request in tinyfish.requests].count(0) == 1  # the dropped connection too


def test_a_page_that_keeps_failing_names_provider_endpoint_and_status_and_the_rerun_resumes(
    provider_env: dict[str, str], tinyfish: TinyFishSimulator, workdir: Path
) -> None:
    (workdir / ".dlt").mkdir()
    (workdir / ".dlt" / "config.toml").write_text("[runtime]\nrequest_max_attempts = 3\n")
    tinyfish.faults.extend([None, None, Fault(503), Fault(503), Fault(503)])
    failed = agent_runs(workdir, "load", "--provider", "tinyfish", env=provider_env)
    assert failed.returncode == 1
    assert "TinyFish" in failed.stderr and "/v1/runs" in failed.stderr and "503" in failed.stderr
    assert [request.status for request in tinyfish.requests] == [200, 200, 503, 503, 503]  # attempts as configured

    tinyfish.requests.clear()
    assert agent_runs(workdir, "load", "--provider", "tinyfish", env=provider_env).returncode == 0
    assert_table_equals_api(workdir, "tinyfish", tinyfish)
    # Nothing had been committed, so the rerun is a whole first load: every run served exactly once.
    served = [request.records for request in tinyfish.requests if request.path == "/v1/runs"]
    assert sum(served) == len(tinyfish.current_runs())
