"""Walking a history: the walk chosen for each list, `--workers` and range; windows walked
concurrently load exactly what one cursor walk loads, a run on a window boundary lands in one
window only, and the windows cover the span that holds runs."""

from __future__ import annotations

import logging
import math
from datetime import UTC, datetime, timedelta
from itertools import pairwise
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest

from agent_runs import PROVIDERS
from agent_runs.loading.pipeline import load_runs
from agent_runs.providers.tinyfish import CREATED_AFTER_OVERLAP
from agent_runs.reading.lister import Lister
from agent_runs.reading.walks import Window, choose_walk
from agent_runs.reading.walks.pages import NeighbourPages
from agent_runs.reading.walks.split import history_span, plan_windows, walk_windows
from agent_runs.rows.mapping import to_table
from agent_runs.sending.transport import RateLimit, runs_client
from agent_runs.settings import PROBE_RESOLUTION
from agent_runs.simulators import TinyFishSimulator
from agent_runs.simulators.core import MICROS
from tests.utils import assert_table_equals_api, read_runs, small_pages

# How each run list that filters by creation time is asked for a window (those that cannot are walked once).
WINDOW_PARAMS = {
    "/v1/runs": ("created_after", "created_before"),
    "/v1/agents/runs": ("startAt", "endAt"),
    "/api/v2/tasks": ("after", "before"),
}


def without_load_ids(rows: dict[tuple[str, str], dict[str, Any]]) -> dict[tuple[str, str], dict[str, Any]]:
    return {key: {name: value for name, value in row.items() if name != "_dlt_load_id"} for key, row in rows.items()}


UNTIL = datetime(2026, 1, 1, tzinfo=UTC)
# (provider, list) -> the walk for --workers None, 1 and 4, up to now; then None up to a given end
CHOICES = {
    ("tinyfish", "runs"): (("ahead", 8), ("windows", 1), ("windows", 4), ("windows", 1)),
    ("browserbase", "agent_runs"): (("back", 8), ("windows", 1), ("windows", 4), ("windows", 1)),
    ("browser_use", "v2_tasks"): (("pages", 8), ("windows", 1), ("pages", 4), ("windows", 1)),
    ("browser_use", "v4_runs"): (("windows", 1), ("windows", 1), ("windows", 1), ("windows", 1)),
    ("skyvern", "workflows"): (("windows", 1), ("windows", 1), ("windows", 1), ("windows", 1)),
    ("skyvern", "tasks"): (("windows", 1), ("windows", 1), ("windows", 1), ("windows", 1)),
}


@pytest.mark.parametrize(("provider", "family"), list(CHOICES))
def test_the_walk_is_chosen_from_the_declaration_the_workers_and_the_range(provider: str, family: str) -> None:
    (run_list,) = [each for each in PROVIDERS[provider].lists if each.name == family]
    chosen = [choose_walk(run_list, workers, None) for workers in (None, 1, 4)] + [choose_walk(run_list, None, UNTIL)]
    assert [(walk.kind, walk.workers) for walk in chosen] == list(CHOICES[provider, family])
    assert all(walk.reason for walk in chosen)
    if not run_list.filters_created_at:  # the reason says why a long history is one walk
        assert chosen[0].reason == "cannot be asked for a time range: one walk"
    if run_list.pages_at_once:  # by default only while pages keep us waiting; asked for, always
        assert (chosen[0].if_slow, chosen[2].if_slow) == (True, False)


@pytest.mark.parametrize("provider", list(PROVIDERS))
def test_workers_load_exactly_what_one_cursor_walk_loads(
    provider: str, provider_env: dict[str, str], simulators: dict[str, Any], workdir: Path
) -> None:
    simulator = simulators[provider]
    load_runs(providers=[provider], dataset_name="one_walk", workers=1)
    simulator.requests.clear()
    load_runs(providers=[provider], dataset_name="four_workers", workers=4)

    database = workdir / "agent-runs.duckdb"
    parallel = read_runs(database, "four_workers")
    assert without_load_ids(parallel) == without_load_ids(read_runs(database, "one_walk"))
    assert len(parallel) == len(simulator.current_runs())
    for run_list in PROVIDERS[provider].lists:
        asked = [request for request in simulator.requests if request.path == run_list.runs_path]
        probes = [request for request in asked if request.params.get(run_list.page_size_param) == "1"]
        if not run_list.filters_created_at:  # no time filter: one walk, no probes
            assert not probes and asked
            continue
        if run_list.pages_at_once:  # numbered pages of a frozen window, asked for at once
            page_param = run_list.paging.page_param  # type: ignore[union-attr]
            frozen = [request for request in asked if request not in probes and "before" in request.params]
            numbers = sorted(int(request.params[page_param]) for request in frozen)
            assert len(probes) == 1 and numbers == list(range(1, len(numbers) + 1)) and len(numbers) > 3
            continue
        # It really was parallel: one-run probes, then several windows each walked with its own bounds.
        assert probes
        low, high = WINDOW_PARAMS[run_list.runs_path]
        windows = {(request.params.get(low), request.params.get(high)) for request in asked if request not in probes}
        assert len(windows) >= 4


def test_a_run_on_a_window_boundary_lands_in_one_window() -> None:
    boundary = datetime(2026, 1, 2, tzinfo=UTC)
    records = [
        {"runId": name, "createdAt": moment.isoformat()}
        for name, moment in (("before", boundary - timedelta(microseconds=1)), ("on", boundary), ("after", boundary))
    ]
    page = to_table("browserbase", PROVIDERS["browserbase"].lists[0].fields, records)
    earlier, later = Window(None, boundary), Window(boundary, None)
    assert earlier.trim(page)["run_id"].to_pylist() == ["before"]
    assert later.trim(page)["run_id"].to_pylist() == ["on", "after"]


@pytest.mark.runs(browserbase=2300)  # a history long enough for every worker's windows
def test_windows_cover_the_span_that_holds_runs(simulators: dict[str, Any]) -> None:
    simulator = simulators["browserbase"]
    provider = PROVIDERS["browserbase"].lists[0]
    rate_limit = RateLimit()

    def client_of_thread() -> Any:
        return runs_client(simulator.base_url, provider.provider.api_key_header, simulator.api_key, rate_limit)

    runs = simulator.current_runs()
    oldest = min(datetime.fromisoformat(record["createdAt"]) for record in runs)
    newest = max(datetime.fromisoformat(record["createdAt"]) for record in runs)
    now = datetime.now(UTC)  # months after the simulated history: the windows must not spread to here
    lister = Lister(provider, client_of_thread, "default")
    span = history_span(lister, None, now, workers=4)
    assert span is not None
    assert oldest - timedelta(hours=1) <= span[0] <= oldest and newest <= span[1] <= newest + timedelta(hours=1)

    windows = plan_windows(lister, None, None, workers=4)
    assert windows[0].start is None and windows[-1].end is None  # nothing outside the probed span is lost
    assert all(low.end == high.start for low, high in pairwise(windows))
    assert len(windows) == 16 and windows[-1].start < newest
    assert plan_windows(lister, None, None, workers=1) == [Window(None, None)]
    assert plan_windows(lister, now, None, workers=4) == [Window(now, None)]  # nothing after now


def test_an_oldest_first_list_is_searched_at_one_end_only(tinyfish: TinyFishSimulator) -> None:
    """The first one-run probe of an oldest-first list shows its oldest run: only the newest end is
    searched, between that run and now, not from EARLIEST_RUN_PROBE."""
    run_list = PROVIDERS["tinyfish"].lists[0]
    runs = tinyfish.current_runs()
    oldest = min(datetime.fromisoformat(record["created_at"]) for record in runs)
    newest = max(datetime.fromisoformat(record["created_at"]) for record in runs)
    lister = Lister(
        run_list, lambda: runs_client(tinyfish.base_url, run_list.provider.api_key_header, tinyfish.api_key), "default"
    )
    now, workers = newest + timedelta(days=30), 4
    span = history_span(lister, None, now, workers)
    assert span is not None
    assert span[0] == oldest and newest <= span[1] <= newest + PROBE_RESOLUTION
    probes = [request for request in tinyfish.requests if request.params.get(run_list.page_size_param) == "1"]
    rounds = math.ceil(math.log((now - oldest) / PROBE_RESOLUTION, workers + 1))
    assert len(probes) <= 1 + workers * rounds


def test_an_idle_worker_takes_half_of_the_window_with_the_most_runs_ahead(monkeypatch: pytest.MonkeyPatch) -> None:
    """Two workers, a short window and a long one: once the short one is walked, the long one is
    cut in two, and its halves again, each cut on a whole second that five runs share (ties on
    every boundary). Every run is listed once."""
    small_pages(monkeypatch, "tinyfish", 20)
    with TinyFishSimulator(api_key="k", runs=0, seed=5) as simulator:
        first = simulator.clock.now_us - 3600 * MICROS
        simulator.add_runs([first + second * MICROS for second in range(600) for _ in range(5)])
        simulator.latency_s = 0.003
        run_list = PROVIDERS["tinyfish"].lists[0]
        rate_limit = RateLimit()

        def client_of_thread() -> Any:
            return runs_client(simulator.base_url, run_list.provider.api_key_header, simulator.api_key, rate_limit)

        start = datetime.fromtimestamp(first / MICROS, UTC)
        short = Window(start, start + timedelta(seconds=2))
        long = Window(start + timedelta(seconds=2), start + timedelta(seconds=700))  # bounded: only those are cut
        pages = walk_windows(Lister(run_list, client_of_thread, "default"), [short, long], workers=2)
        listed = [run_id for page in pages if page is not None for run_id in page["run_id"].to_pylist()]

    assert sorted(listed) == sorted(run.run_id for run in simulator.visible_runs())  # each once
    starts = {request.params.get("created_after") for request in simulator.requests}
    assert len(starts) >= 4  # the two windows, and at least two cuts
    cuts = {datetime.fromisoformat(start) + CREATED_AFTER_OVERLAP for start in starts if start}
    assert all(cut.microsecond == 0 for cut in cuts)  # on a second that five runs share


def test_pages_asked_for_at_once_pass_a_run_shared_with_a_neighbour_once() -> None:
    """A run removed while pages are read moves the runs after it one place up: page 2, read
    after it, begins with page 1's last run and ends with page 3's first."""
    pages = NeighbourPages()

    def page(*ids: str) -> pa.Table:
        return pa.table({"run_id": list(ids)})

    assert pages.first_seen(1, page("a", "b", "c"))["run_id"].to_pylist() == ["a", "b", "c"]
    assert pages.first_seen(3, page("f", "g", "h"))["run_id"].to_pylist() == ["f", "g", "h"]
    assert pages.first_seen(2, page("c", "d", "e", "f"))["run_id"].to_pylist() == ["d", "e"]
    assert pages.first_seen(4, page("h", "i"))["run_id"].to_pylist() == ["i"]
    assert 2 not in pages.ids and 3 not in pages.ids  # both neighbours taken: forgotten


@pytest.mark.long
def test_workers_against_a_rate_limited_api_lose_and_double_nothing(
    workdir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Eight windows over a key allowed 15 requests a second: refused requests wait out their
    Retry-After and are asked again; the table is the API's, each run once."""
    small_pages(monkeypatch, "tinyfish", 20)  # many pages: many requests
    with TinyFishSimulator(api_key="k", runs=600, seed=41, rate_limit=15, rate_burst=5) as simulator:
        monkeypatch.setenv("TINYFISH_API_KEY", "k")
        monkeypatch.setenv("TINYFISH_BASE_URL", simulator.base_url)
        load_runs(providers=["tinyfish"], workers=8)
        assert_table_equals_api(workdir, "tinyfish", simulator)
        assert any(request.status == 429 for request in simulator.requests)


def test_by_default_a_long_first_load_is_cut_into_windows_and_an_hourly_load_stays_one_walk(
    provider_env: dict[str, str], tinyfish: TinyFishSimulator, workdir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """No flags: the first page shows a long history (and its Date header where it ends), and it
    kept us waiting: the rest is walked as windows, with no probes; an hour later the load is one
    walk again, one page. An API that answers at once is one walk (windows would only cost CPU)."""
    small_pages(monkeypatch, "tinyfish", 50)
    tinyfish.latency_s = 0.08
    load_runs(providers=["tinyfish"])
    assert_table_equals_api(workdir, "tinyfish", tinyfish)
    listing = [
        request for request in tinyfish.requests if request.path == "/v1/runs" and "status" not in request.params
    ]
    windows = {request.params.get("created_before") for request in listing}
    assert len(windows) > 2  # the first walk, then windows with their own bounds
    assert not [request for request in listing if request.params.get("limit") == "1"]  # no probes
    assert sum(request.records for request in listing) <= len(tinyfish.current_runs()) + 2 * len(windows)

    tinyfish.requests.clear()
    tinyfish.clock.advance(3600)
    load_runs(providers=["tinyfish"])
    assert_table_equals_api(workdir, "tinyfish", tinyfish)
    listing = [
        request for request in tinyfish.requests if request.path == "/v1/runs" and "status" not in request.params
    ]
    new_runs = sum(request.records for request in listing)
    assert len(listing) == new_runs // 50 + 1 and all("created_before" not in request.params for request in listing)

    tinyfish.latency_s = 0.0
    tinyfish.requests.clear()
    load_runs(providers=["tinyfish"], dataset_name="answered_at_once")
    listing = [
        request for request in tinyfish.requests if request.path == "/v1/runs" and "status" not in request.params
    ]
    assert all("created_before" not in request.params for request in listing)  # one walk


def test_a_short_history_is_one_walk_even_when_pages_keep_us_waiting(
    provider_env: dict[str, str], workdir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Three pages of runs over days, each page slow: windows would cost a request each for a page
    or less of runs, so the history is read as one walk, page by page (one account of hundreds)."""
    small_pages(monkeypatch, "tinyfish", 50)
    with TinyFishSimulator(api_key="k", runs=0, seed=3) as simulator:
        days_ago = simulator.clock.now_us - 3 * 86_400 * MICROS
        simulator.add_runs([days_ago + index * 1_700 * MICROS for index in range(140)])
        simulator.latency_s = 0.08
        monkeypatch.setenv("TINYFISH_API_KEY", "k")
        monkeypatch.setenv("TINYFISH_BASE_URL", simulator.base_url)
        load_runs(providers=["tinyfish"])
        assert_table_equals_api(workdir, "tinyfish", simulator)
        listing = [request for request in simulator.requests if request.path == "/v1/runs"]
    assert all("created_before" not in request.params for request in listing)  # no windows
    assert len(listing) == 3


def test_a_long_walk_says_how_far_it_is_and_how_long_it_will_take(
    provider_env: dict[str, str],
    simulators: dict[str, Any],
    workdir: Path,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    monkeypatch.setattr("agent_runs.settings.WALK_PROGRESS_EVERY_S", 0.0)  # every time: the test does not wait
    small_pages(monkeypatch, "tinyfish", 25)
    simulators["tinyfish"].latency_s = 0.08  # pages that keep us waiting: windows
    with caplog.at_level(logging.INFO, logger="agent_runs"):
        load_runs(providers=["tinyfish"])
    said = [record.getMessage() for record in caplog.records if "of the created-at range walked" in record.getMessage()]
    shares = [int(message.split(": ")[-1].split(" %")[0]) for message in said]
    assert said and shares == sorted(shares) and shares[-1] >= 90
    assert any("s left" in message for message in said)
