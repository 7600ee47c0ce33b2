"""Sending a provider's requests: the API key only ever to the configured origin, and every
request of a key through its one rate limit (shared by each window of a listing and the open-runs
refresh), which waits out what the API asks for and paces the key only where pacing helps."""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from collections import deque
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any
from urllib.parse import urlsplit

from dlt.common.configuration import resolve_configuration
from dlt.common.configuration.specs import RuntimeConfiguration
from dlt.sources.helpers.requests import Client
from dlt.sources.helpers.rest_client import RESTClient
from dlt.sources.helpers.rest_client.auth import APIKeyAuth
from requests import PreparedRequest, Response
from requests.adapters import HTTPAdapter

from agent_runs.settings import (
    INITIAL_CONCURRENCY,
    KEPT_CONNECTIONS,
    LONG_HOLD_S,
    MAX_CONCURRENCY,
    MAX_IN_FLIGHT,
    MAX_INTERVAL_S,
    MIN_INTERVAL_S,
    PACE_TRIAL_ANSWERS,
    RATE_LIMITED_FOR_S,
    SOURCE_NAME,
)

logger = logging.getLogger(SOURCE_NAME)
IN_FLIGHT = threading.BoundedSemaphore(MAX_IN_FLIGHT)


@dataclass
class Trial:
    """A slower pace on probation: the pace it replaced, the answers a second that pace got (holds
    included), and the answers to requests sent at the slower pace so far."""

    interval: float
    concurrency: int
    answered_per_s: float
    since: float  # requests started from then on (the end of the 429's hold) are at the slower pace
    answers: int = 0
    refused: int = 0


class RequestPace:
    """How fast one key's requests may start (`interval` between starts) and how many may be in
    flight (`concurrency`), learnt from the answers; a pure policy, driven by the moments given.

    A 429 says the key went too fast, or that the API refuses some requests whatever the pace (a
    busy gateway). Only the first is cured by going slower, so a slower pace is a trial: after a
    429 the interval is doubled (at least to the pace the API answered at) and the concurrency
    halved; once PACE_TRIAL_ANSWERS requests sent at that pace are answered, the answers a second
    it got (the Retry-Afters it met included) are compared with the last PACE_TRIAL_ANSWERS
    before it (the 429's own Retry-After included). If the slower pace got more, or was refused
    nothing (a whole-second Retry-After in a short trial can hide the gain), it stays, and
    creeps back up (1 % shorter an interval an answer, one more in flight after as many answers as
    it allows). If not, slowing down bought nothing: the old pace is given back, and the next trial
    waits twice as many answers as the last, so refusals that never follow the pace cost a few
    trials, not a crawl. Whatever the pace, every Retry-After is waited out (RateLimit.hold)."""

    def __init__(self, max_concurrency: int = MAX_CONCURRENCY, concurrency: int = INITIAL_CONCURRENCY) -> None:
        self.max_concurrency = max_concurrency
        self.concurrency = min(concurrency, max_concurrency)
        self.interval = 0.0  # seconds between request starts
        self.trial: Trial | None = None
        self.given_back = 0  # trials that bought nothing, in a row
        self._put_off = 0  # answers before the next trial may start
        self._recent: deque[tuple[float, bool]] = deque(maxlen=PACE_TRIAL_ANSWERS)  # when, and refused or not
        self._answered = 0  # since the concurrency last changed

    def answered(
        self, now: float, refused: bool, started: float, free_since: float = 0.0, resume_at: float = 0.0
    ) -> None:
        """An answer came at `now` to a request started at `started`. `free_since`: when the key's
        last hold before this answer ended; `resume_at`: when its requests may start again."""
        trial = self.trial
        if trial is not None:
            if started >= trial.since:
                trial.answers += 1
                trial.refused += refused
                if trial.answers >= PACE_TRIAL_ANSWERS:
                    self._judge(trial, now)
        elif refused and self._put_off <= 0:
            self._slow_down(now, free_since, max(now, resume_at))
        elif not refused:
            self._put_off -= 1
            self._speed_up()
        self._recent.append((now, refused))

    def _slow_down(self, now: float, free_since: float, resume_at: float) -> None:
        answered = [*self._recent, (now, True)]
        since = answered[0][0] if len(answered) > 1 else now - 1.0
        got = sum(not refused for _, refused in answered) / max(resume_at - since, 1e-3)
        self.trial = Trial(self.interval, self.concurrency, got, since=resume_at)
        window_start = max(now - 1.0, free_since)
        recent = sum(1 for moment, refused in self._recent if moment > window_start and not refused)
        paced = (now - window_start) / recent if recent else 0.0
        self.interval = min(MAX_INTERVAL_S, max(2 * self.interval, paced, MIN_INTERVAL_S))
        self.concurrency = max(1, self.concurrency // 2)
        self._answered = 0

    def _judge(self, trial: Trial, now: float) -> None:
        self.trial = None
        got = (trial.answers - trial.refused) / max(now - trial.since, 1e-3)
        if not trial.refused or got > 1.1 * trial.answered_per_s:
            self.given_back = 0
            return
        self.interval, self.concurrency = trial.interval, trial.concurrency
        self.given_back += 1
        self._put_off = PACE_TRIAL_ANSWERS * 2**self.given_back

    def _speed_up(self) -> None:
        self.interval *= 0.99
        self._answered += 1
        if self._answered >= self.concurrency and self.concurrency < self.max_concurrency:
            self.concurrency += 1
            self._answered = 0


class RateLimit:
    """One per API key, shared by every request made with it, so that a load runs at the API's
    speed limit without being refused more than it must:

    - After a 429, every request waits out its Retry-After, not just the one that was told; so
      after an answer that says the key has no requests left until a reset (`X-RateLimit-*`).
    - Requests start at most one per `pace.interval`, at most `pace.concurrency` at once (RequestPace)."""

    def __init__(self, max_concurrency: int = MAX_CONCURRENCY, concurrency: int = INITIAL_CONCURRENCY) -> None:
        self.pace = RequestPace(max_concurrency, concurrency)
        self.in_flight = 0
        self.answered = 0  # requests of this key answered (any status)
        self.refused = 0  # 429s answered to this key
        self.held_s = 0.0  # seconds the key was told to wait, in all
        self._next_start = 0.0
        self._resume_at = 0.0  # no request starts before then (a hold)
        self._free_since = 0.0  # when the key's last hold before the current one ended
        self._changed = threading.Condition()

    @property
    def concurrency(self) -> int:
        return self.pace.concurrency

    @property
    def interval(self) -> float:
        return self.pace.interval

    def cap(self, max_concurrency: int) -> None:
        """Never more than this many requests in flight (`--workers`)."""
        with self._changed:
            self.pace.max_concurrency = max_concurrency
            self.pace.concurrency = min(self.pace.concurrency, max_concurrency)

    def wait(self) -> None:
        while (delay := self._resume_at - time.monotonic()) > 0:
            time.sleep(delay)

    def hold(self, seconds: float) -> None:
        """No request of the key starts for this long (what the API asked for)."""
        with self._changed:
            now = time.monotonic()
            if self._resume_at <= now:  # the key was free since its last hold ended
                self._free_since = self._resume_at
            self.held_s += max(0.0, now + seconds - max(self._resume_at, now))
            self._resume_at = max(self._resume_at, now + seconds)

    def acquire(self) -> float:
        """Wait for any hold, a free slot and the request's turn; the moment the request starts."""
        while True:
            self.wait()
            with self._changed:
                self._changed.wait_for(lambda: self.in_flight < self.pace.concurrency)
                now = time.monotonic()
                start = max(now, self._next_start)
                if start <= now and now >= self._resume_at:
                    self.in_flight += 1
                    self._next_start = now + self.pace.interval
                    return now
            time.sleep(max(start - now, 0.001))  # not its turn yet (or a hold came meanwhile)

    def release(self, status: int, started: float) -> None:
        """The answer to a request started at `started` (acquire's moment) came back with `status`."""
        with self._changed:
            self.in_flight -= 1
            now = time.monotonic()
            self.answered += 1
            self.refused += status == 429
            free_since = self._resume_at if self._resume_at <= now else self._free_since
            self.pace.answered(now, status == 429, started, free_since, self._resume_at)
            self._changed.notify_all()


def wait_before_next(response: Response) -> float | None:
    """How long this answer says to wait before the key's next request, if it says: a 429's
    `retry-after-ms` or `Retry-After`; any answer's `X-RateLimit-Remaining: 0` (or IETF
    `RateLimit-Remaining`) with its reset, in seconds or as a Unix time."""
    headers = response.headers
    if response.status_code == 429:
        with contextlib.suppress(KeyError, ValueError):
            return float(headers["retry-after-ms"]) / 1000
        return retry_after_seconds(headers.get("Retry-After"))
    for prefix in ("x-ratelimit-", "ratelimit-"):
        remaining, reset = headers.get(prefix + "remaining"), headers.get(prefix + "reset")
        try:
            if remaining is None or float(remaining) > 0 or reset is None:
                continue
            seconds = float(reset)
        except ValueError:
            continue
        return max(0.0, seconds - time.time() if seconds > 1e9 else seconds)  # a Unix time, or seconds
    return None


def retry_after_seconds(value: str | None) -> float | None:
    """`Retry-After` as seconds: either a number of seconds or an HTTP date."""
    if not value:
        return None
    if value.strip().isdigit():
        return float(value)
    try:
        return max(0.0, (parsedate_to_datetime(value) - datetime.now(UTC)).total_seconds())
    except (TypeError, ValueError):
        return None


class ProviderTransport(HTTPAdapter):
    """Every request of a provider's client passes here: it waits for the shared rate limit, and the
    API key header goes only to the configured origin (requests itself keeps custom headers on a
    redirect to another host; it only drops `Authorization`)."""

    def __init__(self, base_url: str, api_key_header: str, rate_limit: RateLimit) -> None:
        # A connection kept for each thread that may ask at once (walks, refreshes, steps reads),
        # so none is thrown away on its return (urllib3 would warn at every one).
        super().__init__(pool_maxsize=KEPT_CONNECTIONS)
        self.origin = urlsplit(base_url)[:2]
        self.api_key_header = api_key_header
        self.rate_limit = rate_limit
        self.answered = False
        self.first_date: str | None = None  # the `Date` of the first answer (the API's clock then)

    def send(self, request: PreparedRequest, *args: Any, **kwargs: Any) -> Response:
        """The request, asked again after each 429's Retry-After for up to RATE_LIMITED_FOR_S: being
        told to slow down is how an API paces a load, not a failure (dlt's retries are for those)."""
        if urlsplit(request.url)[:2] != self.origin:
            request.headers.pop(self.api_key_header, None)
        give_up_at = time.monotonic() + RATE_LIMITED_FOR_S
        while True:
            started = self.rate_limit.acquire()
            status = 0
            try:
                with IN_FLIGHT:  # every account's requests together, however many accounts
                    response = super().send(request, *args, **kwargs)
                status = response.status_code
                if not self.answered:
                    self.first_date, self.answered = response.headers.get("Date"), True
                seconds = wait_before_next(response)
                if status == 429:
                    self.rate_limit.hold(1.0 if seconds is None else seconds)  # `Retry-After: 0` means at once
                elif seconds:  # the key's allowance is spent until then: no request would be answered
                    if seconds >= LONG_HOLD_S:
                        logger.warning(
                            "%s says the API key has no requests left for %.0f s (its rate-limit headers): waiting",
                            urlsplit(request.url).netloc,
                            seconds,
                        )
                    self.rate_limit.hold(min(seconds, RATE_LIMITED_FOR_S))
            finally:
                self.rate_limit.release(status, started)
            if status != 429 or time.monotonic() >= give_up_at:
                return response
            response.close()


class KeyClients:
    """The clients of one API key, one a thread (a requests session is not shared between
    threads), made when a thread first asks and kept for its next walks: all of them send through
    one transport (the key's connections, kept alive between requests, and its rate limit) and
    take dlt's `[runtime]` settings read once, not once a client."""

    def __init__(self, base_url: str, api_key_header: str, api_key: str, rate_limit: RateLimit | None = None) -> None:
        self.base_url = base_url.rstrip("/")
        self.auth = APIKeyAuth(name=api_key_header, api_key=api_key, location="header")
        self.transport = ProviderTransport(self.base_url, api_key_header, rate_limit or RateLimit())
        self.runtime: RuntimeConfiguration | None = None
        self.of_thread = threading.local()

    def __call__(self) -> RESTClient:
        """The calling thread's client."""
        client: RESTClient | None = getattr(self.of_thread, "client", None)
        if client is None:
            client = self.of_thread.client = self.new()
        return client

    def new(self) -> RESTClient:
        """A client whose requests go through dlt's retrying session (5xx, connection errors; limits
        under `[runtime]` in config.toml) and the key's transport."""
        if self.runtime is None:
            self.runtime = resolve_configuration(RuntimeConfiguration())
        runtime = self.runtime
        retrying = Client(
            raise_for_status=False,
            request_timeout=runtime.request_timeout,
            request_max_attempts=runtime.request_max_attempts,
            request_backoff_factor=runtime.request_backoff_factor,
            request_max_retry_delay=runtime.request_max_retry_delay,
        )
        client = RESTClient(base_url=self.base_url, auth=self.auth, session=retrying.session, config=runtime)
        client.session.mount("http://", self.transport)
        client.session.mount("https://", self.transport)
        return client


def runs_client(base_url: str, api_key_header: str, api_key: str, rate_limit: RateLimit | None = None) -> RESTClient:
    """One client of a key (KeyClients, for a caller that needs one)."""
    return KeyClients(base_url, api_key_header, api_key, rate_limit).new()
