"""Sending requests: one rate limit across a key's workers that waits out every Retry-After and
paces the key only while pacing lowers the refusals, and an API key only ever sent to the
configured origin."""

from __future__ import annotations

import heapq
import threading
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from requests import Response

from agent_runs import PROVIDERS, ApiKeyRejected
from agent_runs.reading.lister import Lister
from agent_runs.sending import transport
from agent_runs.sending.transport import RateLimit, RequestPace, retry_after_seconds, runs_client, wait_before_next
from agent_runs.settings import MAX_CONCURRENCY
from agent_runs.simulators import Fault, TinyFishSimulator
from tests.utils import small_pages


def test_retry_after_in_seconds_or_as_an_http_date() -> None:
    assert retry_after_seconds("3") == 3.0 and retry_after_seconds("0") == 0.0
    asked = time.time()
    in_ten_seconds = format_datetime(datetime.now(UTC) + timedelta(seconds=10), usegmt=True)  # whole seconds
    seconds = retry_after_seconds(in_ten_seconds) or 0
    assert 10 - 1 - (time.time() - asked) <= seconds <= 10  # however long the machine took in between
    assert retry_after_seconds("soon") is None and retry_after_seconds(None) is None


def answer(status: int, **headers: str) -> Response:
    response = Response()
    response.status_code = status
    response.headers.update({name.replace("_", "-"): value for name, value in headers.items()})
    return response


def test_an_answer_says_how_long_to_wait_in_any_of_the_usual_headers() -> None:
    assert wait_before_next(answer(429, retry_after="2")) == 2.0
    assert wait_before_next(answer(429, retry_after="2", retry_after_ms="1500")) == 1.5  # the finer one
    assert wait_before_next(answer(200, x_ratelimit_remaining="0", x_ratelimit_reset="3")) == 3.0
    in_five_seconds = str(int(time.time()) + 5)  # a Unix time
    assert (
        3.5 <= (wait_before_next(answer(200, x_ratelimit_remaining="0", x_ratelimit_reset=in_five_seconds)) or 0) <= 5
    )
    assert wait_before_next(answer(200, ratelimit_remaining="0", ratelimit_reset="4")) == 4.0  # IETF draft names
    assert wait_before_next(answer(200, x_ratelimit_remaining="7", x_ratelimit_reset="3")) is None  # some left
    assert wait_before_next(answer(200, x_ratelimit_remaining="0", x_ratelimit_reset="soon")) is None
    assert wait_before_next(answer(200)) is None


@pytest.mark.parametrize("says_what_is_left", [True, False])
def test_a_key_that_says_its_requests_are_spent_waits_for_the_reset_instead_of_a_429(
    says_what_is_left: bool, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """Three requests at once, then one a second: with `X-RateLimit-*` headers a walk of five pages
    waits when told none is left (a long wait is said), and is never refused; without them it
    learns from a 429."""
    small_pages(monkeypatch, "tinyfish", 10)
    monkeypatch.setattr("agent_runs.sending.transport.LONG_HOLD_S", 0.5)  # a second is long here
    with TinyFishSimulator(
        api_key="k", runs=45, rate_limit=1, rate_burst=3, rate_limit_headers=says_what_is_left
    ) as simulator:
        run_list = PROVIDERS["tinyfish"].lists[0]
        lister = Lister(
            run_list, lambda: runs_client(simulator.base_url, run_list.provider.api_key_header, "k"), "default"
        )
        pages = list(lister.rows(lister.params(None, None)))
    assert sum(page.num_rows for page in pages) == 45
    assert (simulator.refused == 0) is says_what_is_left
    said = [record.getMessage() for record in caplog.records if "no requests left" in record.getMessage()]
    assert bool(said) is says_what_is_left and all("127.0.0.1" in message for message in said)


class ObservedRateLimit(RateLimit):
    """A rate limit that says when it was told to hold, and until when."""

    def __init__(self) -> None:
        super().__init__()
        self.held = threading.Event()
        self.until = 0.0

    def hold(self, seconds: float) -> None:
        super().hold(seconds)
        self.until = self._resume_at
        self.held.set()


def test_a_429_pauses_every_worker_of_the_provider(tinyfish: TinyFishSimulator) -> None:
    provider = PROVIDERS["tinyfish"].lists[0]
    rate_limit = ObservedRateLimit()
    tinyfish.faults.append(Fault(429, retry_after="2"))
    first = runs_client(tinyfish.base_url, provider.provider.api_key_header, tinyfish.api_key, rate_limit)
    second = runs_client(tinyfish.base_url, provider.provider.api_key_header, tinyfish.api_key, rate_limit)

    told = threading.Thread(target=lambda: first.get(provider.runs_path, params={"limit": 1}))
    told.start()
    assert rate_limit.held.wait(timeout=30), "the 429 never reached the rate limit"
    response = second.get(provider.runs_path, params={"limit": 1})  # a worker that was not told
    told.join(timeout=30)
    assert response.status_code == 200 and not told.is_alive()
    assert [request.status for request in tinyfish.requests] == [429, 200, 200]
    # Neither worker asked again before the Retry-After had passed (the simulator stamps each answer).
    assert all(request.answered_at >= rate_limit.until for request in tinyfish.requests[1:])


@pytest.fixture
def redirect_to(tinyfish: TinyFishSimulator) -> Iterator[str]:
    """A server on another origin that redirects every request to the simulator, like a hostile
    or misconfigured proxy; the base URL a user might configure by mistake."""

    class Redirect(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(302)
            self.send_header("Location", tinyfish.base_url + self.path)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Redirect)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def test_the_api_key_is_not_sent_across_a_redirect_to_another_origin(
    tinyfish: TinyFishSimulator, redirect_to: str
) -> None:
    provider = PROVIDERS["tinyfish"].lists[0]
    client = runs_client(redirect_to, provider.provider.api_key_header, tinyfish.api_key)
    with pytest.raises(ApiKeyRejected):
        list(Lister(provider, lambda: client, "default").rows(provider.window_params(None, None)))
    assert [request.status for request in tinyfish.requests] == [401]  # it arrived without the key


def test_concurrency_grows_while_the_api_keeps_up_and_halves_on_a_429() -> None:
    limit = RateLimit(max_concurrency=8, concurrency=2)
    for _ in range(2 + 3 + 4):  # as many answers as it allows, each time: 2 -> 3 -> 4 -> 5
        limit.release(200, limit.acquire())
    assert limit.concurrency == 5
    limit.release(429, limit.acquire())
    assert (limit.concurrency, limit.refused) == (2, 1)
    for _ in range(100):
        limit.release(200, limit.acquire())
    assert limit.concurrency == 8  # never above its cap


def test_a_429_storm_lowers_the_concurrency_of_every_request_of_the_key() -> None:
    """Eight workers on one key over a 3-requests-a-second API: the key's requests in flight never
    exceed its concurrency, which the 429s lower; every request is answered in the end."""
    peak, lowest = [0], [8]

    class Watched(RateLimit):
        def acquire(self) -> float:
            started = super().acquire()
            peak[0] = max(peak[0], self.in_flight - self.concurrency)
            return started

        def release(self, status: int, started: float) -> None:
            super().release(status, started)
            lowest[0] = min(lowest[0], self.concurrency)

    limit = Watched(max_concurrency=8, concurrency=8)
    run_list = PROVIDERS["tinyfish"].lists[0]
    with TinyFishSimulator(api_key="k", runs=10, rate_limit=3, rate_burst=3) as simulator:

        def worker() -> None:
            client = runs_client(simulator.base_url, run_list.provider.api_key_header, "k", limit)
            for _ in range(2):
                assert client.get(run_list.runs_path, params={"limit": 1}).status_code == 200

        threads = [threading.Thread(target=worker) for _ in range(8)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=120)
        statuses = [request.status for request in simulator.requests]
    assert statuses.count(200) == 16 and limit.refused == statuses.count(429) > 0
    assert peak[0] <= 0 and lowest[0] < 8


def test_workers_cap_the_requests_in_flight_of_a_key(
    provider_env: dict[str, str], tinyfish: TinyFishSimulator, workdir: Path
) -> None:
    from agent_runs.loading.pipeline import load_runs

    tinyfish.latency_s = 0.02
    load_runs(providers=["tinyfish"], workers=3)
    assert 1 < tinyfish.most_in_flight <= 3


# --- the pace, on a simulated clock -------------------------------------------------------------
LATENCY_S = 0.05  # every answer comes this long after its request starts


def drive(pace: RequestPace, refuse: Callable[[float], float], answers: int) -> list[tuple[float, float]]:
    """Requests started as `pace` allows (one per interval, `concurrency` in flight, none during the
    Retry-After of a 429) until `answers` came back, on a simulated clock: `refuse(started)` is the
    Retry-After of a refused request, 0 when it is answered. The moment and Retry-After of each answer."""
    now, next_start, held_until = 0.0, 0.0, 0.0
    free_since = 0.0
    in_flight: list[float] = []  # start moments (every answer takes LATENCY_S: a heap by start is by answer)
    answered: list[tuple[float, float]] = []
    while len(answered) < answers:
        if len(in_flight) < pace.concurrency and now >= max(next_start, held_until):
            heapq.heappush(in_flight, now)
            next_start = now + pace.interval
            continue
        moments = [in_flight[0] + LATENCY_S] if in_flight else []
        if len(in_flight) < pace.concurrency:
            moments.append(max(next_start, held_until))
        now = max(now, min(moments))
        if in_flight and in_flight[0] + LATENCY_S <= now:
            started = heapq.heappop(in_flight)
            retry_after = refuse(started)
            if retry_after:
                if held_until <= now:
                    free_since = held_until
                held_until = max(held_until, now + retry_after)
            pace.answered(now, bool(retry_after), started, held_until if held_until <= now else free_since, held_until)
            answered.append((now, retry_after))
    return answered


def token_bucket(rate: float, burst: int) -> Callable[[float], float]:
    """An API that allows `rate` requests a second: beyond, 429 with the whole seconds to the next."""
    bucket = {"tokens": float(burst), "at": 0.0}

    def refuse(moment: float) -> float:
        tokens = min(burst, bucket["tokens"] + (moment - bucket["at"]) * rate)
        bucket["at"] = moment
        if tokens >= 1:
            bucket["tokens"] = tokens - 1
            return 0.0
        bucket["tokens"] = tokens
        return float(max(1, -(-(1 - tokens) // rate)))

    return refuse


def every_nth(n: int, retry_after: float = 1.0) -> Callable[[float], float]:
    """A busy gateway: every n-th request is refused, whatever the pace."""
    count = [0]

    def refuse(moment: float) -> float:
        count[0] += 1
        return retry_after if count[0] % n == 0 else 0.0

    return refuse


@pytest.mark.parametrize(
    ("rate", "burst", "share"),
    [
        (8, 8, 0.7),  # a second's worth at once
        (5, 1, 0.5),  # one at a time: each refusal's whole-second Retry-After wastes four requests' time
        (15, 5, 0.7),
    ],
)
def test_refusals_that_follow_the_pace_slow_the_key_to_the_apis_rate(rate: int, burst: int, share: float) -> None:
    """`rate` requests a second allowed, 160 possible: the key slows to about the rate and is then
    seldom refused, whatever the burst the API allows."""
    answers = drive(RequestPace(), token_bucket(rate=rate, burst=burst), 3000)
    later = answers[1000:]
    refused = sum(1 for _, retry_after in later if retry_after)
    served = len(later) - refused
    got = served / (later[-1][0] - later[0][0])
    assert refused / len(later) <= 0.05
    assert share * rate <= got <= rate + 0.5


def test_refusals_that_do_not_follow_the_pace_are_waited_out_not_paced() -> None:
    """Every 5th request refused with `Retry-After: 1` at any pace: the load takes the seconds it
    was told plus its requests at full concurrency (within 1.5x), and ends at the pace it started."""
    pace = RequestPace()
    answers = drive(pace, every_nth(5), 1000)
    held, held_until = 0.0, 0.0  # the seconds no request could start: Retry-Afters told, overlaps once
    for moment, retry_after in answers:
        held += max(0.0, moment + retry_after - max(held_until, moment))
        held_until = max(held_until, moment + retry_after)
    ideal = held + len(answers) * LATENCY_S / MAX_CONCURRENCY
    assert answers[-1][0] <= 1.5 * ideal, f"{answers[-1][0]:.0f} s for {held:.0f} s held"
    assert pace.interval < 0.01 and pace.given_back >= 2  # slowing down was tried, and given back


def test_a_slower_pace_is_kept_only_if_it_gets_more_answers_a_second() -> None:
    for refused_in_trial, kept in ((0, True), (4, False)):
        pace = RequestPace(concurrency=8)
        for index in range(19):  # quick answers, then a refusal held a second: a trial at half the concurrency
            pace.answered(index * 0.01, False, index * 0.01)
        pace.answered(0.19, True, 0.18, resume_at=1.19)
        assert pace.trial is not None and pace.concurrency == 4 and pace.interval > 0
        moment = 1.19
        for index in range(20):  # at the slower pace: 20 answers in a second, or 4 of them held a second each
            refused = index % 5 == 4 and index // 5 < refused_in_trial
            moment += 0.05 + refused
            pace.answered(moment, refused, moment - 0.05)
        assert pace.trial is None and (pace.concurrency == 4) is kept and (pace.given_back == 0) is kept


def test_requests_in_flight_are_bounded_in_all_however_many_accounts(
    tinyfish: TinyFishSimulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Every account's key keeps its own pace, under one bound of requests in flight in all: 24
    accounts asking at once never have more than that bound answered at a time."""
    monkeypatch.setattr(transport, "IN_FLIGHT", threading.BoundedSemaphore(5))
    tinyfish.latency_s = 0.05
    clients = [runs_client(tinyfish.base_url, "X-API-Key", tinyfish.api_key, RateLimit()) for _ in range(24)]

    def ask(client: Any) -> None:
        for _ in range(3):
            assert client.get("/v1/runs", params={"limit": 1}).ok

    threads = [threading.Thread(target=ask, args=(client,)) for client in clients]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert tinyfish.served == 72 and 1 < tinyfish.most_in_flight <= 5
