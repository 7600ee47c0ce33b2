"""What both simulators share: a deterministic run history on a movable clock, and a loopback
HTTP server with auth, latency and fault injection.

Each run is generated once from the seed as a timeline (created, started, paused, finished);
what the API shows for it is derived from the simulated clock at request time, so runs move
from pending to running to a terminal status as a test advances the clock, and runs created
"in the future" appear only once the clock passes their creation time.
"""

from __future__ import annotations

import base64
import bisect
import functools
import math
import random
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email.utils import formatdate
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, ClassVar
from urllib.parse import parse_qs, urlsplit

import orjson

MICROS = 1_000_000
SHUTDOWN_POLL_S = 0.02  # how soon a stopped simulator's server thread notices
# The columns of what a run cost, which model ran it and whether it reached its goal: null unless a
# simulator's API reports them.
COST_COLUMNS = ("cost_usd", "credits", "model", "goal_achieved", "goal_verdict_by", "input_tokens", "output_tokens")
# How each run writes its timestamps; the value is quantised to what the format can express,
# so every rendering is exact. Real APIs mix these, the connector must read all of them.
TIME_FORMATS = ("seconds_z", "millis_z", "micros_z", "micros_offset")
# "micros_naive": no offset at all (UTC meant), as some APIs write every timestamp.
QUANTUM_US = {"seconds_z": MICROS, "millis_z": 1000, "micros_z": 1, "micros_offset": 1, "micros_naive": 1}

TASKS = (
    "Find all pricing information on {site}",
    "Extract the product catalogue from {site}",
    "Log in to {site} and download the latest invoice",
    "Check whether {site} lists a careers page — и вернуть ссылку",
    "Summarise the reviews on {site} 🚀",
    "Collect contact emails from {site}",
)
SITES = ("example.com", "acme.io", "shop.test", "linkedin.com", "news.example.org")


@functools.lru_cache(maxsize=1 << 16)
def whole_seconds(seconds: int) -> str:
    """A moment's date and time to the second (strftime is most of a formatting's cost; runs and
    their steps share their seconds)."""
    return datetime.fromtimestamp(seconds, UTC).strftime("%Y-%m-%dT%H:%M:%S")


def format_time(micros: int, time_format: str) -> str:
    fraction = micros % MICROS
    base = whole_seconds(micros // MICROS)
    if time_format == "seconds_z":
        return base + "Z"
    if time_format == "millis_z":
        return f"{base}.{fraction // 1000:03d}Z"
    if time_format == "micros_z":
        return f"{base}.{fraction:06d}Z"
    if time_format == "micros_naive":
        return f"{base}.{fraction:06d}"
    return f"{base}.{fraction:06d}+00:00"


def parse_time(text: str) -> int:
    """Parse an RFC 3339 query parameter into epoch microseconds; ValueError when invalid."""
    moment = datetime.fromisoformat(text)
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    delta = moment - datetime(1970, 1, 1, tzinfo=UTC)
    return delta // timedelta(microseconds=1)


@dataclass(slots=True)
class SimRun:
    """One run's whole life, fixed at generation; the API view is derived from the clock."""

    index: int
    run_id: str
    created_us: int
    started_us: int | None  # None: cancelled before it started
    paused_us: int | None  # start of a pause (waiting for input), ends at resumed_us
    resumed_us: int | None
    finished_us: int | None  # None: never finishes (a zombie, stuck open)
    outcome: str  # completed, failed, cancelled, timed_out
    task: str
    steps: int
    time_format: str
    agent_id: str | None
    proxy_country: str | None
    extra_fields: dict[str, Any] | None
    visible_us: int | None = None  # listed and fetchable only from then (a late commit); None: on creation
    family: str = ""  # which of the API's run lists has it (a simulator with several sets it)

    def phase(self, now_us: int) -> str:
        """pending, running, paused or the terminal outcome, at the simulated time now_us."""
        if self.finished_us is not None and now_us >= self.finished_us:
            return self.outcome
        if self.started_us is None or now_us < self.started_us:
            return "pending"
        if self.paused_us is not None and self.paused_us <= now_us < (self.resumed_us or 0):
            return "paused"
        return "running"

    def updated_us(self, now_us: int) -> int:
        moments = (self.created_us, self.started_us, self.paused_us, self.resumed_us, self.finished_us)
        return max(moment for moment in moments if moment is not None and moment <= now_us)

    def steps_at(self, now_us: int) -> int:
        """Steps grow while the run works, reaching the final count when it finishes."""
        if self.started_us is None or now_us < self.started_us:
            return 0
        if self.finished_us is None:
            return min(self.steps, 1 + (now_us - self.started_us) // (30 * MICROS))
        if now_us >= self.finished_us:
            return self.steps
        done = (now_us - self.started_us) / max(1, self.finished_us - self.started_us)
        return int(self.steps * done)

    def step_moments(self, now_us: int) -> list[int]:
        """When each step the run has taken by now began (steps_at of them), spread evenly over
        its working time: fixed once the run has ended, whatever the clock says later."""
        started, count = self.started_by(now_us), self.steps_at(now_us)
        if started is None or not count:
            return []
        end = self.finished_us if self.finished_us is not None else started + self.steps * 30 * MICROS
        return [started + (end - started) * number // (self.steps + 1) for number in range(count)]

    def time(self, micros: int | None) -> str | None:
        return None if micros is None else format_time(micros, self.time_format)

    def started_by(self, now_us: int) -> int | None:
        return self.started_us if self.started_us is not None and self.started_us <= now_us else None


def moment(micros: int | None) -> datetime | None:
    """Epoch microseconds as an aware UTC datetime, exactly (no float on the way)."""
    return None if micros is None else datetime(1970, 1, 1, tzinfo=UTC) + timedelta(microseconds=micros)


def seconds_between(start_us: int | None, end_us: int | None) -> float | None:
    return None if start_us is None or end_us is None else (end_us - start_us) / MICROS


class SimulatedClock:
    """The simulators' notion of now; tests advance it to let runs finish and new ones appear."""

    def __init__(self, now_us: int) -> None:
        self._now_us = now_us
        self._lock = threading.Lock()

    @property
    def now_us(self) -> int:
        return self._now_us

    def advance(self, seconds: float) -> None:
        with self._lock:
            self._now_us += int(seconds * MICROS)

    def set(self, now_us: int) -> None:
        with self._lock:
            self._now_us = now_us


@dataclass(frozen=True)
class Character:
    """How a platform's runs tend to go: the shares that fail, are cancelled and time out, and how
    long a run works at most (the demo gives each provider its own, so they differ as real ones do)."""

    failed: float = 0.13
    cancelled: float = 0.05
    timed_out: float = 0.04
    longest_work_s: float = 1800.0


TYPICAL = Character()


def make_run(
    rng: random.Random,
    index: int,
    created: int,
    time_format: str,
    *,
    outcomes: tuple[str, ...],
    with_pauses: bool,
    new_fields: bool,
    open_share: float | None = None,
    character: Character = TYPICAL,
) -> SimRun:
    """One run's whole life from the random stream: it starts within 30 s, works 5 s to
    `character.longest_work_s` and ends in one of the outcomes, in the character's shares (2 %
    never end: zombies, stuck open; `open_share` sets that share)."""
    quantum = QUANTUM_US[time_format]
    roll = rng.random()
    if open_share is not None:
        roll = 0.0 if rng.random() < open_share else 0.02 + roll * 0.98
    started: int | None = created + int(rng.uniform(0.2, 30) * MICROS)
    finished: int | None = started + int(rng.uniform(5, character.longest_work_s) * MICROS)
    outcome = "completed"
    failed_below = 0.02 + character.failed
    cancelled_below = failed_below + character.cancelled
    if roll < 0.02:
        finished = None  # a zombie: stays open until end_run()
    elif roll < failed_below:
        outcome = "failed"
    elif roll < cancelled_below:
        outcome = "cancelled"
        if rng.random() < 0.5:
            started = None  # cancelled while still queued
            finished = created + int(rng.uniform(1, 120) * MICROS)
    elif roll < cancelled_below + character.timed_out:
        outcome = "timed_out"
        finished = started + 3600 * MICROS
    paused = resumed = None
    if with_pauses and started is not None and finished is not None and rng.random() < 0.06:
        paused = started + (finished - started) // 3
        resumed = started + 2 * (finished - started) // 3
    return SimRun(
        index=index,
        run_id=str(uuid.UUID(int=rng.getrandbits(128), version=4)),
        created_us=created,
        started_us=None if started is None else started - started % quantum,
        paused_us=None if paused is None else paused - paused % quantum,
        resumed_us=None if resumed is None else resumed - resumed % quantum,
        finished_us=None if finished is None else finished - finished % quantum,
        outcome=outcome if outcome in outcomes else "failed",
        task=rng.choice(TASKS).format(site=rng.choice(SITES)),
        steps=rng.randint(1, 60),
        time_format=time_format,
        agent_id=f"agent_{rng.randint(1, 5)}" if rng.random() < 0.7 else None,
        proxy_country=rng.choice(("US", "DE", "GB", None)),
        extra_fields={"priority": rng.randint(1, 5), "labels": ["sim", time_format]}
        if new_fields and rng.random() < 0.3
        else None,
    )


def generate_runs(
    *,
    seed: int,
    runs: int,
    future_runs: int,
    outcomes: tuple[str, ...],
    with_pauses: bool,
    new_fields: bool,
    mean_gap_s: float = 60.0,
    open_share: float | None = None,
    character: Character = TYPICAL,
) -> tuple[list[SimRun], int]:
    """The history (sorted by created time, then run id) and the clock's start: just after the
    last of the first `runs` runs, so the `future_runs` appear as the clock moves on."""
    rng = random.Random(seed)
    history: list[SimRun] = []
    created_us = int(datetime(2026, 1, 1, tzinfo=UTC).timestamp()) * MICROS
    for index in range(runs + future_runs):
        if index == 0 or rng.random() > 0.08:
            time_format = rng.choice(TIME_FORMATS)
            quantum = QUANTUM_US[time_format]
            created_us += max(quantum, int(rng.expovariate(1 / mean_gap_s) * MICROS))
            created = created_us - created_us % quantum
        # else: ~8% of runs share the previous run's created time (and its format) exactly
        history.append(
            make_run(
                rng,
                index,
                created,
                time_format,
                outcomes=outcomes,
                with_pauses=with_pauses,
                new_fields=new_fields,
                open_share=open_share,
                character=character,
            )
        )
    history.sort(key=lambda run: (run.created_us, run.run_id))
    for position, run in enumerate(history):
        run.index = position  # a serial that picks the run's variant when rendered; fixed from now on
    clock_start = history[runs - 1].created_us + MICROS if runs else created_us
    return history, clock_start


def encode_cursor(run: SimRun) -> str:
    """Opaque like the real ones (standard base64, so it may hold '+', '/' and '='); a keyset
    cursor, (created, run id), so it stays valid when runs are inserted before it mid-walk."""
    raw = f"{run.created_us}|{run.run_id}".encode()
    return base64.b64encode(b"\xfb" + raw).decode()


def decode_cursor(cursor: str, keys: list[tuple[int, str]]) -> int:
    """The position (in the sorted history) of the run the cursor points after; ValueError for a
    cursor we never issued."""
    try:
        raw = base64.b64decode(cursor, validate=True)
        created_text, run_id = raw[1:].decode().split("|")
        key = (int(created_text), run_id)
    except (ValueError, UnicodeDecodeError) as error:
        raise ValueError("invalid cursor") from error
    position = bisect.bisect_left(keys, key)
    if not raw.startswith(b"\xfb") or position == len(keys) or keys[position] != key:
        raise ValueError("invalid cursor")
    return position


@dataclass
class Fault:
    """An injected failure for the next matching request."""

    status: int  # 429, 500, ...; 0 drops the connection without an answer; 200 answers normally
    retry_after: str | None = None
    body: bytes | None = None  # a raw body to send instead of an error (e.g. truncated JSON)
    delay_s: float = 0.0  # wait this long before answering (a read timeout on the client)


@dataclass
class RecordedRequest:
    path: str
    params: dict[str, str]
    status: int
    records: int
    answered_at: float = field(default_factory=time.monotonic)  # to order requests across simulators
    query: dict[str, list[str]] = field(default_factory=dict)  # every value of a repeated parameter


class ApiError(Exception):
    def __init__(self, status: int, body: dict[str, Any]) -> None:
        super().__init__(status)
        self.status = status
        self.body = body


@dataclass
class SimulatorBase:
    """A provider simulator: subclasses render runs and implement the endpoints."""

    api_key: str = "sim-key"
    runs: int = 1000
    future_runs: int = 0
    seed: int = 7
    latency_s: float = 0.0
    fault_rate: float = 0.0  # share of requests answered with a random 429/5xx
    # A busy gateway, whatever the pace: every n-th request refused (429) or unavailable (503),
    # each with this Retry-After.
    refuse_every: int | None = None
    unavailable_every: int | None = None
    gateway_retry_after: str = "1"
    rate_limit: float | None = None  # requests a second this key may make (a token bucket); beyond: 429 at once
    rate_burst: int | None = None  # the bucket's size (default: a second's worth)
    # Answers say what is left (`X-RateLimit-Limit/-Remaining/-Reset`), as many APIs do; none of the
    # providers documents such headers, so they are off unless a test asks for them.
    rate_limit_headers: bool = False
    new_fields: bool = False  # runs carry fields the published API does not have (yet)
    open_share: float | None = None  # the share of runs that never end (default: 2 %)
    character: Character = TYPICAL  # how its runs tend to go (outcome shares, how long they work)
    clock: SimulatedClock | None = None
    host: str = "127.0.0.1"
    port: int = 0
    faults: list[Fault | None] = field(default_factory=list)  # consumed in order; None answers normally
    removed: set[str] = field(default_factory=set)  # run ids the API no longer knows (404, unlisted)
    requests: list[RecordedRequest] = field(default_factory=list)
    keep_requests: bool = True  # off for long benchmarks, which would hold millions of records
    served: int = 0  # requests answered, kept even when the requests themselves are not
    refused: int = 0  # of them, refused for the key's request rate (429)
    gateway_faults: int = 0  # of them, answered 429 or 503 by refuse_every / unavailable_every
    _gateway_count: int = field(default=0, repr=False)  # requests counted for refuse_every / unavailable_every
    in_flight: int = 0  # requests being answered now
    most_in_flight: int = 0  # the most at once so far

    on_request: Callable[[str, dict[str, str]], None] | None = (
        None  # called before each answer (tests change the API mid-walk)
    )

    auth_header: ClassVar[str] = ""
    unauthorized_status: ClassVar[int] = 401
    outcomes: ClassVar[tuple[str, ...]] = ()
    with_pauses: ClassVar[bool] = False

    def __post_init__(self) -> None:
        self.history, clock_start = generate_runs(
            seed=self.seed,
            runs=self.runs,
            future_runs=self.future_runs,
            outcomes=self.outcomes,
            with_pauses=self.with_pauses,
            new_fields=self.new_fields,
            open_share=self.open_share,
            character=self.character,
        )
        for run in self.history:
            self.adopt(run)
        self.history.sort(key=lambda run: (run.created_us, run.run_id))
        self.reindex()
        self._run_rng = random.Random(self.seed + 2)  # runs added later: the same seed, the same runs
        self.late_runs = 0  # runs added with a visibility delay
        if self.clock is None:
            self.clock = SimulatedClock(clock_start)
        self._fault_rng = random.Random(self.seed + 1)
        self._lock = threading.Lock()
        self._listings: dict[tuple[Any, ...], list[SimRun]] = {}
        self.changes = 0  # runs ended by hand so far (a listing by status changes with them)
        self._server: ThreadingHTTPServer | None = None

    def listed(self, key: tuple[Any, ...], build: Callable[[], list[SimRun]]) -> list[SimRun]:
        """A listing's runs in its order, built once for as long as nothing changes (the clock, the
        history, removals, ended runs): a page-number walk then slices it, instead of filtering the
        whole history for every page."""
        stamp = (key, self.clock.now_us, len(self.history), len(self.removed), self.changes)
        with self._lock:
            cached = self._listings.get(stamp)
        if cached is None:
            cached = build()
            with self._lock:
                self._listings = {stamp: cached, **dict(list(self._listings.items())[-7:])}
        return cached

    def reindex(self) -> None:
        """The lookups over the sorted history, after it changed."""
        self.created = [run.created_us for run in self.history]
        self.keys = [(run.created_us, run.run_id) for run in self.history]  # what cursors point at
        self.by_id = {run.run_id: run for run in self.history}
        self.by_index = {run.index: run for run in self.history}
        self.position = {run.run_id: position for position, run in enumerate(self.history)}

    # --- changing the history, as life does (tests drive these) -------------------------------
    def add_runs(self, created_us: list[int], visible_after_s: float = 0.0) -> list[SimRun]:
        """New runs created at these moments (equal moments are ties); with `visible_after_s`, each
        is listed and fetchable only that long after its creation (a transaction that commits late,
        a replica behind), so it can appear after runs created later than it."""
        added = []
        with self._lock:
            for created in created_us:
                time_format = self._run_rng.choice(TIME_FORMATS)
                created -= created % QUANTUM_US[time_format]
                run = make_run(
                    self._run_rng,
                    len(self.history) + len(added),
                    created,
                    time_format,
                    outcomes=self.outcomes,
                    with_pauses=self.with_pauses,
                    new_fields=self.new_fields,
                    open_share=self.open_share,
                    character=self.character,
                )
                if visible_after_s:
                    run.visible_us = created + int(visible_after_s * MICROS)
                    self.late_runs += 1
                self.adopt(run)
                added.append(run)
            self.history = sorted([*self.history, *added], key=lambda run: (run.created_us, run.run_id))
            self.reindex()
        return added

    def end_run(self, run_id: str, outcome: str) -> None:
        """An open run ends now (a janitor cancels a zombie, a stuck run times out at last)."""
        run = self.by_id[run_id]
        now_us = self.clock.now_us
        assert run.phase(now_us) in ("pending", "running", "paused"), f"{run_id} has already ended"
        self.changes += 1
        run.finished_us = now_us - now_us % QUANTUM_US[run.time_format]
        run.outcome = outcome if outcome in self.outcomes else "failed"
        if run.paused_us is not None and run.paused_us <= now_us < (run.resumed_us or 0):
            run.resumed_us = run.finished_us  # the pause ends with the run
        if run.started_us is not None and run.started_us > now_us:  # ended before it started: it never will
            run.started_us = None
        if run.paused_us is not None and run.paused_us > now_us:  # nor pause later
            run.paused_us = run.resumed_us = None

    # --- what subclasses provide -------------------------------------------------------
    def adopt(self, run: SimRun) -> None:
        """Make a generated run this API's own (its id format, its run list), before it is indexed."""

    def render(self, run: SimRun, now_us: int) -> dict[str, Any]:
        raise NotImplementedError

    def truth(self, run: SimRun, now_us: int) -> dict[str, Any]:
        """The run as the unified `runs` row should hold it, derived from the simulation itself
        (not from the rendered record, nor through the connector's mapping): what tests compare
        the loaded table with."""
        raise NotImplementedError

    def route(self, path: str, params: dict[str, str], query: dict[str, list[str]]) -> tuple[Any, int]:
        """Answer a GET: (body, number of runs in it); raise ApiError for a 4xx. `params` holds the
        last value of each query parameter, `query` every value (repeated parameters)."""
        raise NotImplementedError

    def step_ids(self, run: SimRun, now_us: int) -> list[str]:
        """The ids of the run's steps (events, messages, timeline nodes) as the API has them now,
        each as `run_steps.step_id` holds it: the truth a test holds `run_steps` to."""
        raise NotImplementedError

    def route_post(self, path: str, payload: Any) -> tuple[Any, int]:
        """Answer a POST with this decoded JSON body, as route answers a GET."""
        raise ApiError(405, self.error_body(405, "Method Not Allowed"))

    def error_body(self, status: int, message: str) -> dict[str, Any]:
        """An error answer as the provider writes it."""
        raise NotImplementedError

    def unauthorized(self) -> dict[str, Any]:
        raise NotImplementedError

    # --- the history as the API sees it now ----------------------------------------------
    def visible_end(self, now_us: int) -> int:
        """Runs [0, visible_end) were created by now_us; later ones are still in the future."""
        return bisect.bisect_right(self.created, now_us)

    def visible_runs(self) -> list[SimRun]:
        now_us = self.clock.now_us
        return [run for run in self.history[: self.visible_end(now_us)] if self.exists(run)]

    def current_runs(self) -> list[dict[str, Any]]:
        """Every run the API would list right now, rendered as on the wire (tests compare)."""
        now_us = self.clock.now_us
        return [self.render(run, now_us) for run in self.visible_runs()]

    def current_truth(self, account: str = "default") -> dict[str, dict[str, Any]]:
        """Every run the API knows now as its unified row, by run id (see `truth`)."""
        now_us = self.clock.now_us
        return {run.run_id: {**self.truth(run, now_us), "account": account} for run in self.visible_runs()}

    def exists(self, run: SimRun) -> bool:
        """Listed and fetchable now: created, committed (visible), not removed."""
        now_us = self.clock.now_us
        return (
            run.run_id not in self.removed
            and run.created_us <= now_us
            and (run.visible_us is None or run.visible_us <= now_us)
        )

    def get_run(self, run_id: str) -> SimRun | None:
        run = self.by_id.get(run_id)
        return run if run is not None and self.exists(run) else None

    @property
    def hides_runs(self) -> bool:
        """Whether some created runs are not listed (removed, or not yet visible)."""
        return bool(self.removed) or self.late_runs > 0

    def created_range(self, after_us: int | None, before_us: int | None, *, inclusive: bool) -> range:
        """Indexes of visible runs created within the bounds, by bisection on the sorted history."""
        now_end = self.visible_end(self.clock.now_us)
        if after_us is None:
            low = 0
        elif inclusive:
            low = bisect.bisect_left(self.created, after_us)
        else:
            low = bisect.bisect_right(self.created, after_us)
        if before_us is None:
            high = now_end
        elif inclusive:
            high = min(now_end, bisect.bisect_right(self.created, before_us))
        else:
            high = min(now_end, bisect.bisect_left(self.created, before_us))
        return range(low, max(low, high))

    @staticmethod
    def page_after(
        candidates: range,
        cursor_index: int | None,
        descending: bool,
        keep: Callable[[SimRun], bool],
        history: list[SimRun],
        limit: int,
    ) -> tuple[list[SimRun], bool]:
        """Up to `limit` matching runs after the cursor in the order asked; and whether more follow."""
        ordered: Iterator[int]
        if descending:
            start = candidates.stop - 1 if cursor_index is None else min(candidates.stop, cursor_index) - 1
            ordered = iter(range(start, candidates.start - 1, -1))
        else:
            start = candidates.start if cursor_index is None else max(candidates.start, cursor_index + 1)
            ordered = iter(range(start, candidates.stop))
        page: list[SimRun] = []
        for index in ordered:
            run = history[index]
            if keep(run):  # keep() also drops runs not visible now
                if len(page) == limit:
                    return page, True
                page.append(run)
        return page, False

    # --- HTTP -------------------------------------------------------------------------------
    @property
    def base_url(self) -> str:
        assert self._server is not None, "start() the simulator first"
        return f"http://{self.host}:{self._server.server_address[1]}"

    def start(self) -> SimulatorBase:
        self._server = QuietServer((self.host, self.port), _handler_for(self))
        self._server.daemon_threads = True
        # serve_forever looks for shutdown() between polls: half a second by default, on every stop
        serve = functools.partial(self._server.serve_forever, poll_interval=SHUTDOWN_POLL_S)
        threading.Thread(target=serve, daemon=True, name=type(self).__name__).start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def __enter__(self) -> SimulatorBase:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def take_token(self) -> float:
        """0 when the key may make a request now (a token taken from its bucket), else the seconds
        until the next token: the request is refused with 429 and a Retry-After."""
        if self.rate_limit is None:
            return 0.0
        with self._lock:
            tokens, now = self.tokens()
            if tokens >= 1:
                self._bucket = (tokens - 1, now)
                return 0.0
            self._bucket = (tokens, now)
            return (1 - tokens) / self.rate_limit

    def tokens(self) -> tuple[float, float]:
        """The key's bucket now (requests it may make), and the monotonic time; under the lock."""
        assert self.rate_limit is not None
        capacity = float(self.rate_burst or max(1, round(self.rate_limit)))
        now = time.monotonic()
        tokens, last = getattr(self, "_bucket", (capacity, now))
        return min(capacity, tokens + (now - last) * self.rate_limit), now

    def allowance_headers(self) -> dict[str, str]:
        """What the key has left of its rate (`rate_limit_headers`): whole requests, and the seconds
        until the next one is allowed."""
        if not self.rate_limit_headers or self.rate_limit is None:
            return {}
        with self._lock:
            tokens, _ = self.tokens()
        reset = 0 if tokens >= 1 else math.ceil((1 - tokens) / self.rate_limit)
        return {
            "X-RateLimit-Limit": str(self.rate_limit),
            "X-RateLimit-Remaining": str(math.floor(tokens)),
            "X-RateLimit-Reset": str(reset),
        }

    def next_fault(self) -> Fault | None:
        with self._lock:
            if self.faults:
                return self.faults.pop(0)
            if self.refuse_every or self.unavailable_every:
                self._gateway_count += 1
                for every, status in ((self.refuse_every, 429), (self.unavailable_every, 503)):
                    if every and self._gateway_count % every == 0:
                        self.gateway_faults += 1
                        return Fault(status, retry_after=self.gateway_retry_after)
        if self.fault_rate and self._fault_rng.random() < self.fault_rate:
            status = self._fault_rng.choice((429, 500, 502, 503, 504))
            return Fault(status, retry_after="0" if status == 429 else None)
        return None

    def record(
        self, path: str, params: dict[str, str], status: int, records: int, query: dict[str, list[str]] | None = None
    ) -> None:
        with self._lock:
            self.served += 1
            if not self.keep_requests:
                return
            self.requests.append(RecordedRequest(path, params, status, records, query=query or {}))


class QuietServer(ThreadingHTTPServer):
    """A client that goes away mid-request (a killed load, a read timeout) is part of the tests."""

    def handle_error(self, request: Any, client_address: Any) -> None:
        if not isinstance(sys.exc_info()[1], ConnectionError):
            super().handle_error(request, client_address)


def _handler_for(simulator: SimulatorBase) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        disable_nagle_algorithm = True  # headers and body go out as two writes: no 40 ms delayed-ACK stall

        def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - stdlib signature
            """Quiet: tests and benchmarks would drown in access logs."""

        def date_time_string(self, timestamp: float | None = None) -> str:
            """The `Date` header: the simulated clock, as a real server sends its own."""
            return formatdate(simulator.clock.now_us / MICROS if timestamp is None else timestamp, usegmt=True)

        def do_GET(self) -> None:
            self.serve(None)

        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(length) if length else b""
            try:
                payload: Any = orjson.loads(raw) if raw else None
            except orjson.JSONDecodeError:
                payload = ApiError(400, simulator.error_body(400, "the body is not JSON"))
            self.serve(payload if payload is not None else {})

        def serve(self, payload: Any) -> None:
            """Answer a GET (`payload` None) or a POST with its decoded JSON body."""
            with simulator._lock:
                simulator.in_flight += 1
                simulator.most_in_flight = max(simulator.most_in_flight, simulator.in_flight)
            self.counted = True
            try:
                self.answer(payload)
            finally:
                self.answered()

        def answered(self) -> None:
            """Out of flight once the answer starts going back (the client may send its next request then)."""
            if self.counted:
                self.counted = False
                with simulator._lock:
                    simulator.in_flight -= 1

        def answer(self, payload: Any) -> None:
            url = urlsplit(self.path)
            query = parse_qs(url.query, keep_blank_values=True)
            params = {key: values[-1] for key, values in query.items()}
            if isinstance(payload, dict):  # a POST's options are recorded as its parameters (not its ids)
                params.update({key: value for key, value in payload.items() if isinstance(value, str)})
            if self.headers.get(simulator.auth_header) != simulator.api_key:
                status = simulator.unauthorized_status
                simulator.record(url.path, params, status, 0)  # before answering: tests read it right after
                self.send(status, orjson.dumps(simulator.unauthorized()))
                return
            wait_s = simulator.take_token()
            if wait_s:  # over the key's rate: refused at once, saying when to come back
                simulator.refused += 1
                simulator.record(url.path, params, 429, 0)
                retry_after = str(max(1, math.ceil(wait_s)))
                self.send(
                    429, orjson.dumps(simulator.error_body(429, "rate limit exceeded")), {"Retry-After": retry_after}
                )
                return
            if simulator.latency_s:
                time.sleep(simulator.latency_s)
            if simulator.on_request is not None:
                simulator.on_request(url.path, params)
            fault = simulator.next_fault()
            if fault is not None and fault.delay_s:
                time.sleep(fault.delay_s)
            if fault is not None and fault.status == 200 and fault.body is None:
                fault = None  # only slow: answer as usual
            if fault is not None:
                simulator.record(url.path, params, fault.status, 0)
                if fault.status == 0:
                    self.close_connection = True
                    self.connection.close()
                    return
                if fault.body is not None:
                    self.send(fault.status, fault.body)
                    return
                headers = {"Retry-After": fault.retry_after} if fault.retry_after is not None else {}
                self.send(fault.status, orjson.dumps(simulator.error_body(fault.status, "injected")), headers)
                return
            try:
                if isinstance(payload, ApiError):
                    raise payload
                if payload is None:
                    body, count = simulator.route(url.path, params, query)
                else:
                    body, count = simulator.route_post(url.path, payload)
                status = 200
            except ApiError as error:
                body, count, status = error.body, 0, error.status
            simulator.record(url.path, params, status, count, query)
            self.send(status, orjson.dumps(body), simulator.allowance_headers())

        def send(self, status: int, payload: bytes, headers: dict[str, str] | None = None) -> None:
            self.answered()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(payload)))
            for name, value in (headers or {}).items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(payload)

    return Handler
