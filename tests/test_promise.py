"""The promise, checked as a model-based test: after every `agent-runs load` that exits 0, the
`runs` table equals what the APIs say now, whatever happened before.

A seeded random walk drives every provider's simulator and the command together. Each step is one rule:
runs arrive (bursts, ties on created_at, quiet spells; or during a load, while its pages are
read), time passes (minutes to weeks: runs
start, pause and end), a run open for weeks ends, runs become visible late, runs disappear (404),
pages fail (429 with Retry-After, 5xx, or so often that the account fails), one provider's
account stays broken for a few loads (its key revoked, or its API down) while the others change
(each such load exits 4 and the others' rows must equal their API), the API is slow and
rate-limited (a long range is walked as windows, paced by 429s) or refuses requests whatever
the pace (a busy gateway), a Skyvern task ends while its list keeps showing it open, a Skyvern run
is named by newer runs a search for it finds first, then ends, `verify`
checks the table right after a load (and finds the drift a rule injected), the dbt package's
contract tests pass right after a load (`agent-runs transform`), a judge rules on (and bills) a
finished run after a load saw it end, a load is killed with
SIGKILL at a random point of its extract, normalize or load step, or a load completes. After
every load that exits 0 the table is compared, field for field, with the simulations' own truth
(never through the connector's mapping), every ended run's steps in `run_steps` are the API's
steps, whole (and no step is of a run the table lacks), and the state is checked to stay within
the re-read window.

Loads run `agent-runs load` in a forked child process (the simulators keep serving from this
one); a kill point is armed in the child, which kills itself with SIGKILL when it is reached, so
dlt's folders and the DuckDB file are left exactly as a kill leaves them.

The short walk runs in CI; the long one: `pytest tests/test_promise.py --promise-walks 20 --promise-steps 200`.
A failure names its seed: `--promise-seed N` walks that one again.
"""

from __future__ import annotations

import importlib
import json
import os
import random
import signal
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import dlt
import duckdb
import pytest

from agent_runs.providers import PROVIDERS
from agent_runs.rows.schema import TERMINAL_STATUSES, parse_timestamp
from agent_runs.settings import RELIST_LAG
from agent_runs.simulators import Fault, SimulatedClock, simulator_class
from agent_runs.simulators.browser_use import JUDGE_DELAY_S
from agent_runs.simulators.core import MICROS
from tests.utils import listing_state_names, read_runs, read_steps

# Small pages in the loading child: ties on page boundaries, faults between pages. (Skyvern's
# `/v1/runs` reaches 100 pages: 800 runs at 8 a page, more than a walk makes.)
PAGE_SIZES = {"tinyfish": 7, "browserbase": 9, "browser_use": 6, "skyvern": 8}

# Runs before the first load (a minute apart): an hour's worth, or four (a first load cut into windows).
HISTORY_RUNS = (60, 250)
STEPS_SINCE = "2000-01-01"  # every load reads the steps of every run that ended (the first backfills the history)
PIPELINE = "agent_runs_duckdb_agent_runs"
LOAD_DEADLINE_S = 120
# What a load imports on its way (Parquet, SQLAlchemy for dlt's connection strings, pytz): imported
# once in this process, which every load is forked from, not again in each child.
PRELOADED = ("pyarrow.parquet", "pyarrow.fs", "sqlalchemy", "pytz", "netrc")
OPEN = ("pending", "running", "paused")

# Where a load can be killed: (module, class, method, before or after the call). The n-th call
# (drawn at random) kills; a load that makes fewer calls completes.
KILL_POINTS: list[tuple[str, str, str, str]] = [
    ("agent_runs.sending.transport", "ProviderTransport", "send", "after"),  # extract: mid-walk, mid-refresh
    ("dlt.pipeline.pipeline", "Pipeline", "normalize", "before"),  # extracted, not normalized
    ("dlt.normalize.normalize", "Normalize", "spool_files", "after"),  # normalized, not committed
    ("dlt.load.load", "Load", "w_run_job", "after"),  # some tables loaded, not all
    ("dlt.load.load", "Load", "complete_package", "before"),  # every job done, package open
    ("dlt.load.load", "Load", "complete_package", "after"),  # loaded, the command not finished
    ("agent_runs.loading.pipeline", "", "create_views", "before"),  # loaded, views not yet refreshed
]


def arm_kill(point: tuple[str, str, str, str], nth: int) -> None:
    """In the child: SIGKILL this process at the n-th call of the kill point."""
    module_name, class_name, method, when = point
    owner: Any = importlib.import_module(module_name)
    if class_name:
        owner = getattr(owner, class_name)
    original = getattr(owner, method)
    calls = [0]

    def kill_at_nth(*args: Any, **kwargs: Any) -> Any:
        calls[0] += 1
        if when == "before" and calls[0] == nth:
            os.kill(os.getpid(), signal.SIGKILL)
        result = original(*args, **kwargs)
        if when == "after" and calls[0] == nth:
            os.kill(os.getpid(), signal.SIGKILL)
        return result

    setattr(owner, method, kill_at_nth)
    if not class_name:  # a module function: callers in the same module see the module global
        sys.modules[module_name].__dict__[method] = kill_at_nth


def run_load(
    workdir: Path,
    env: dict[str, str],
    kill: tuple[tuple[str, str, str, str], int] | None,
    args: tuple[str, ...] = ("load",),
) -> int:
    """`agent-runs load` (or other `args`) in a forked child; its exit code, or -9 when it was killed."""
    pid = os.fork()
    if pid == 0:  # the child: never returns
        code = 70
        try:
            os.chdir(workdir)
            os.environ.update(env)
            output = os.open(workdir / "last-load.log", os.O_WRONLY | os.O_CREAT | os.O_TRUNC)
            os.dup2(output, 1)
            os.dup2(output, 2)
            # pytest's capture replaced sys.stdout/stderr: write where the file descriptors now go
            sys.stdout = open(1, "w", buffering=1, closefd=False)  # noqa: SIM115
            sys.stderr = open(2, "w", buffering=1, closefd=False)  # noqa: SIM115
            for provider, page_size in PAGE_SIZES.items():
                for run_list in PROVIDERS[provider].lists:
                    run_list.__dict__["page_size"] = page_size  # a frozen declaration, in this child only
            # Pages joined as at page size 100 (5 of them), so windows learn how far they are as often.
            importlib.import_module("agent_runs.settings").ROWS_PER_MAPPING = 5 * min(PAGE_SIZES.values())
            if kill is not None:
                arm_kill(*kill)
            from agent_runs.cli import cli

            cli.main(list(args), prog_name="agent-runs", standalone_mode=True)
            code = 0
        except SystemExit as exit_:
            code = exit_.code if isinstance(exit_.code, int) else 1
        except BaseException:
            import traceback

            traceback.print_exc()
        finally:
            sys.stdout.flush()
            sys.stderr.flush()
            os._exit(code)
    deadline = time.monotonic() + LOAD_DEADLINE_S
    while True:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            return os.waitstatus_to_exitcode(status)
        if time.monotonic() > deadline:
            os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
            raise AssertionError(f"a load did not finish in {LOAD_DEADLINE_S} s")
        time.sleep(0.005)


@dataclass
class Walk:
    """The world of one walk: two simulated APIs on one clock, a working directory, the log."""

    seed: int
    workdir: Path
    simulators: dict[str, Any]
    env: dict[str, str]
    rng: random.Random
    log: list[str] = field(default_factory=list)
    last_load_us: int = 0  # the clock when the last load started
    loaded_ok: int = 0
    killed: int = 0
    failed: int = 0
    verified: int = 0  # verify runs checked (drift found and repaired, or none)
    broken: dict[str, tuple[str, int]] = field(default_factory=dict)  # provider -> (how, loads left broken)
    faulty: set[str] = field(default_factory=set)  # providers whose faults the next load meets
    loads_with_one_broken: int = 0  # loads that met a broken account (and exited 4)
    transformed: int = 0  # dbt builds of the package checked after a load

    @property
    def now_us(self) -> int:
        return next(iter(self.simulators.values())).clock.now_us

    def any_simulator(self) -> tuple[str, Any]:
        name = self.rng.choice(sorted(self.simulators))
        return name, self.simulators[name]


# --- the rules -------------------------------------------------------------------------------
def runs_arrive(walk: Walk) -> None:
    """A burst of runs created since the last load (within the last minutes), some on the very
    same microsecond (ties). Runs created before runs already listed are the next rule's."""
    name, simulator = walk.any_simulator()
    count = walk.rng.choice((1, 3, 12, 40))
    since = max(walk.last_load_us, walk.now_us - 600 * MICROS)
    moments = sorted(walk.rng.randint(since, walk.now_us) for _ in range(count))
    if count > 1:  # ties
        moments += walk.rng.sample(moments, k=max(1, count // 4))
    simulator.add_runs(moments)
    walk.log.append(f"{name}: {len(moments)} runs arrive")


def time_passes(walk: Walk) -> None:
    """Minutes to weeks (a quiet spell): runs start, pause, finish."""
    seconds = walk.rng.choice((20, 300, 3600, 6 * 3600, 9 * 86400, 30 * 86400))
    next(iter(walk.simulators.values())).clock.advance(seconds)  # one clock for all
    walk.log.append(f"{seconds} s pass")


def a_long_open_run_ends(walk: Walk) -> None:
    """A run stuck open (for weeks, maybe) is ended by the platform's janitor."""
    name, simulator = walk.any_simulator()
    stuck = [run for run in simulator.visible_runs() if run.finished_us is None]
    if stuck:
        run = stuck[0] if walk.rng.random() < 0.5 else walk.rng.choice(stuck)  # the oldest, or any
        outcome = walk.rng.choice(("cancelled", "timed_out", "failed", "completed"))
        simulator.end_run(run.run_id, outcome)
        age_days = (walk.now_us - run.created_us) / MICROS / 86400
        walk.log.append(f"{name}: {run.run_id[:8]}, open {age_days:.1f} days, ends {outcome}")


def runs_visible_late(walk: Walk) -> None:
    """Runs created up to a minute ago that the list shows only minutes later."""
    name, simulator = walk.any_simulator()
    moments = [walk.now_us - walk.rng.randrange(0, 60 * MICROS) for _ in range(walk.rng.randint(1, 4))]
    delay_s = walk.rng.uniform(10, RELIST_LAG.total_seconds() / 2)
    simulator.add_runs(moments, visible_after_s=delay_s)
    walk.log.append(f"{name}: {len(moments)} runs visible {delay_s:.0f} s late")


def a_run_disappears(walk: Walk) -> None:
    """The API forgets a run (deleted, retention): 404 from now on, listed no more."""
    name, simulator = walk.any_simulator()
    runs = simulator.visible_runs()
    if runs:
        run = walk.rng.choice(runs)
        simulator.removed.add(run.run_id)
        walk.log.append(f"{name}: {run.run_id[:8]} ({run.phase(walk.now_us)}) disappears")


def a_task_ends_behind_its_list(walk: Walk) -> None:
    """Skyvern's `/v1/runs` status is a best-effort copy: an open task run of any age ends, and the
    list (its status filter and search too) keeps showing it as it was; its own read says it ended."""
    simulator = walk.simulators["skyvern"]
    open_tasks = [run for run in simulator.visible_runs() if run.family == "tasks" and run.finished_us is None]
    if open_tasks:
        run = walk.rng.choice(open_tasks)
        outcome = walk.rng.choice(("completed", "failed", "cancelled", "timed_out"))
        simulator.end_behind_the_list(run.run_id, outcome)
        walk.log.append(f"skyvern: task {run.run_id[:12]} ends {outcome}, its list row stays open")


def a_judge_rules_after_runs_ended(walk: Walk) -> None:
    """Browser Use's judge rules on a finished task or run minutes after it ended, and a v4 run's
    judge is billed to it (cost and tokens grow; v4 has no finished time): a load between the end
    and the verdict sees none; a later one (however much later) must bring the verdict and the
    bill in."""
    clock = next(iter(walk.simulators.values())).clock
    clock.advance(JUDGE_DELAY_S // 2)
    walk.log.append(f"{JUDGE_DELAY_S // 2} s pass (tasks end; their judge rules later)")
    load(walk, kill=None)
    clock.advance(walk.rng.choice((JUDGE_DELAY_S, 3 * 86400)))
    walk.log.append("the judge has ruled")


def a_search_finds_newer_runs_first(walk: Walk) -> None:
    """Skyvern finds one run by a search of its list, which also matches runs naming it among their
    parameters (retries, chains), newest first: an open run of any age is named by a burst of newer
    runs (more than a search's pages may hold), then ends. Its end must reach the table, and it
    must never be flagged gone."""
    simulator = walk.simulators["skyvern"]
    open_runs = [run for run in simulator.visible_runs() if run.finished_us is None]
    if not open_runs:
        return
    run = walk.rng.choice(open_runs)
    count = walk.rng.choice((12, 90))
    since = max(walk.last_load_us, walk.now_us - 600 * MICROS)
    for newer in simulator.add_runs(sorted(walk.rng.randint(since, walk.now_us) for _ in range(count))):
        simulator.names[newer.run_id] = run.run_id
    outcome = walk.rng.choice(("completed", "failed", "cancelled", "timed_out"))
    simulator.end_run(run.run_id, outcome)
    walk.log.append(f"skyvern: {count} newer runs name {run.run_id[:12]}, which ends {outcome}")


def a_busy_gateway(walk: Walk) -> None:
    """The next load meets 429s and 503s whatever its pace (every n-th request): it waits out what
    it is told, and neither loses nor doubles a run."""
    name, simulator = walk.any_simulator()
    simulator.refuse_every, simulator.unavailable_every = walk.rng.choice((3, 5)), 7
    simulator.gateway_retry_after = "0"
    walk.faulty.add(name)
    walk.log.append(f"{name}: every {simulator.refuse_every}th request refused, every 7th unavailable")
    try:
        load(walk, kill=None)
    finally:
        simulator.refuse_every = simulator.unavailable_every = None


def the_table_is_verified(walk: Walk) -> None:
    """Right after a load that exits 0, `agent-runs verify` finds exactly the drift the model knows
    of: rows of runs the API forgot that no load flags (they were terminal), and a row this rule
    edits or deletes in the table. `--repair` then makes verify exit 0, and the promise holds."""
    load(walk, kill=None)
    if walk.log[-1] != "load: exit 0":
        return
    database = walk.workdir / "agent-runs.duckdb"
    rows = read_runs(database)
    expected = {
        run_id
        for (provider, run_id), row in rows.items()
        if run_id in walk.simulators[provider].removed and row["missing_from_api_at"] is None
    }
    listed = [key for key in sorted(rows) if key[1] not in walk.simulators[key[0]].removed]
    if listed and walk.rng.random() < 0.7:
        _, run_id = walk.rng.choice(listed)
        change = walk.rng.choice(("UPDATE agent_runs.runs SET task = 'edited by hand'", "DELETE FROM agent_runs.runs"))
        with duckdb.connect(str(database)) as connection:
            connection.execute(f"{change} WHERE run_id = ?", [run_id])
        expected.add(run_id)
        walk.log.append(f"the table's row of {run_id[:12]} changed by hand ({change.split()[0]})")
    code = run_load(walk.workdir, walk.env, None, ("verify", "--json", "verify.json"))
    report = json.loads((walk.workdir / "verify.json").read_text()) if code in (0, 3) else {"lists": []}
    found = {drift["run_id"] for each in report["lists"] for drift in each["drifts"]}
    walk.log.append(f"verify: exit {code}, {len(found)} drifted")
    walk.verified += 1
    assert (code, found) == (3 if expected else 0, expected), (
        f"verify found {sorted(found)[:5]}, not {sorted(expected)[:5]}"
    )
    if expected:
        assert run_load(walk.workdir, walk.env, None, ("verify", "--repair")) == 0
        assert run_load(walk.workdir, walk.env, None, ("verify",)) == 0
        walk.log.append("verify --repair, then verify: exit 0")
    check_the_promise(walk)


def the_contract_tests_pass(walk: Walk) -> None:
    """Right after a load that exits 0, whatever kills, faults and late endings came before, the
    dbt package's tests of the contract pass (`agent-runs transform`): one row a run, statuses
    among the unified ones, ends not before starts, keys set."""
    load(walk, kill=None)
    if walk.log[-1] != "load: exit 0":
        return
    code = run_load(walk.workdir, walk.env, None, ("transform", "--dataset", "agent_runs"))
    walk.log.append(f"transform: exit {code}")
    walk.transformed += 1
    assert code == 0, "the dbt package's tests failed after a load that exited 0"


def pages_fail(walk: Walk) -> None:
    """The next requests meet 429s with Retry-After and server errors, fewer than the retries."""
    name, simulator = walk.any_simulator()
    faults: list[Fault | None] = []
    for _ in range(walk.rng.randint(1, 6)):
        faults += [None] * walk.rng.randint(0, 4)
        faults.append(walk.rng.choice((Fault(429, retry_after="0"), Fault(500), Fault(503), Fault(0))))
    simulator.faults.extend(faults)
    walk.faulty.add(name)
    walk.log.append(f"{name}: {sum(fault is not None for fault in faults)} faults ahead")


def an_account_breaks_for_a_while(walk: Walk) -> None:
    """One provider's API stays broken for a few loads, its key revoked or the API down (500 to
    everything), while the others change: every load of them exits 4, the others' rows equal
    their API after each; once it recovers, a load that exits 0 makes its rows equal too."""
    name, _ = walk.any_simulator()
    if walk.broken:
        return
    how = walk.rng.choice(("revoked key", "outage"))
    walk.broken[name] = (how, walk.rng.randint(1, 3))
    walk.log.append(f"{name}: {how} for {walk.broken[name][1]} load(s)")


def break_accounts(walk: Walk) -> None:
    """Before a load: what is broken stays broken (an outage's faults are armed again)."""
    for name, (how, _) in walk.broken.items():
        simulator = walk.simulators[name]
        if how == "revoked key":
            simulator.api_key = "revoked"
        else:
            simulator.faults[:] = [Fault(500)] * 10_000


def mend_accounts(walk: Walk, all_of_them: bool = False) -> None:
    """After a load: a broken account is one load nearer to recovering."""
    for name, (how, left) in list(walk.broken.items()):
        if left > 1 and not all_of_them:
            walk.broken[name] = (how, left - 1)
            continue
        del walk.broken[name]
        walk.simulators[name].api_key = walk.env[PROVIDERS[name].api_key_variable]
        walk.simulators[name].faults.clear()
        walk.log.append(f"{name}: recovered")


def runs_arrive_during_a_load(walk: Walk) -> None:
    """While the next load reads its pages, runs are created (now): a newest-first list by page
    numbers shows the rows after them a page later, so a walk meets some runs twice."""
    name, simulator = walk.any_simulator()
    at_request, count = walk.rng.randint(1, 6), walk.rng.choice((1, 5, 20))
    calls = [0]

    arrived: set[str] = set()

    def arrive(path: str, params: dict[str, str]) -> None:
        calls[0] += 1
        if calls[0] == at_request:
            arrived.update(run.run_id for run in simulator.add_runs([simulator.clock.now_us] * count))

    simulator.on_request = arrive
    walk.log.append(f"{name}: {count} runs will arrive at request {at_request} of the next load")
    try:
        # Runs created after the load has read past them are the next load's: this one may lack them.
        load(walk, kill=None, may_lack=arrived)
    finally:
        simulator.on_request = None


def a_load_completes(walk: Walk) -> None:
    load(walk, kill=None)


def a_load_meets_a_slow_rate_limited_api(walk: Walk) -> None:
    """Pages keep the load waiting and the key may make few requests a second: a long range is
    walked at once (windows ahead of an oldest-first page, cut again for idle workers; windows back
    in time from a page that looks newest first; numbered pages asked for at once), paced by 429s
    with Retry-After. Sometimes killed on the way."""
    for simulator in walk.simulators.values():
        simulator.latency_s, simulator.rate_limit = 0.045, 80.0  # a second's worth at once, as most APIs allow
    walk.log.append("the APIs answer in 45 ms, 80 requests a second")
    try:
        kill = None
        if walk.rng.random() < 0.3:
            kill = (KILL_POINTS[0], walk.rng.randint(1, 30))
        load(walk, kill=kill)
    finally:
        for simulator in walk.simulators.values():
            simulator.latency_s, simulator.rate_limit = 0.0, None


def a_load_is_killed(walk: Walk) -> None:
    point = walk.rng.choice(KILL_POINTS)
    nth = walk.rng.randint(1, 12) if point[2] == "send" else walk.rng.randint(1, 2)
    load(walk, kill=(point, nth))


def a_load_fails(walk: Walk) -> None:
    """An API that keeps failing: its account fails alone (exit 4) and the others load; the
    failed one leaves nothing half-done behind (the next good load makes it exact)."""
    name, simulator = walk.any_simulator()
    simulator.faults.extend([None] * walk.rng.randint(0, 6) + [Fault(500)] * 10)
    walk.faulty.add(name)
    walk.log.append(f"{name} failing")
    load(walk, kill=None)


RULES: list[tuple[Callable[[Walk], None], int]] = [
    (runs_arrive, 4),
    (runs_arrive_during_a_load, 2),
    (time_passes, 4),
    (a_long_open_run_ends, 2),
    (runs_visible_late, 2),
    (a_run_disappears, 1),
    (pages_fail, 2),
    (a_task_ends_behind_its_list, 2),
    (a_busy_gateway, 1),
    (a_judge_rules_after_runs_ended, 1),
    (a_search_finds_newer_runs_first, 1),
    (an_account_breaks_for_a_while, 1),
    (the_table_is_verified, 1),
    (the_contract_tests_pass, 1),
    (a_load_completes, 4),
    (a_load_meets_a_slow_rate_limited_api, 1),  # and half the first loads
    (a_load_is_killed, 3),
    (a_load_fails, 1),
]


def load(walk: Walk, kill: tuple[tuple[str, str, str, str], int] | None, may_lack: set[str] | None = None) -> None:
    walk.last_load_us = walk.now_us
    report = walk.workdir / "last-load.json"
    report.unlink(missing_ok=True)
    break_accounts(walk)
    code = run_load(walk.workdir, walk.env, kill, ("load", "--json", str(report), "--steps-since", STEPS_SINCE))
    for simulator in walk.simulators.values():
        simulator.faults.clear()  # faults not met by this load are not carried to the next
    what = "load" if kill is None else f"load killed at call {kill[1]} of {kill[0][1]}.{kill[0][2]} ({kill[0][3]})"
    walk.log.append(f"{what}: exit {code}")
    # Faults are fewer than a request's retries, but concurrent requests share them: one request
    # may meet more than its share and its account fail (exit 4, or 1 if it was the only one).
    faulty, walk.faulty = walk.faulty | set(walk.broken), set()
    broken = set(walk.broken)
    mend_accounts(walk)
    if code in (1, 4) and faulty and report.exists():
        failed = {outcome["provider"] for outcome in json.loads(report.read_text())["accounts"] if outcome["errors"]}
        assert failed and failed <= faulty, f"{what}: {failed} failed, only {faulty} had faults"
        assert broken <= failed, f"{what}: {broken} were broken and did not fail"
        assert (code == 1) == (failed == set(walk.simulators)), f"{what} exited {code} with {failed} failed"
        walk.failed += 1
        walk.loads_with_one_broken += bool(broken)
        if code == 4:  # the others are current all the same
            check_the_promise(walk, may_lack or set(), failed)
        return
    assert code in (0, -9), f"{what} exited {code}"
    assert not broken or code == -9, f"{what} exited {code} while {broken} was broken"
    if code == 0:
        walk.loaded_ok += 1
        check_the_promise(walk, may_lack or set())
    else:
        walk.killed += 1


# --- the invariant ----------------------------------------------------------------------------
def check_the_promise(
    walk: Walk,
    may_lack: set[str] = frozenset(),  # type: ignore[assignment]
    failed: set[str] = frozenset(),  # type: ignore[assignment]
) -> None:
    """After exit 0 (or 4, for the accounts that did not fail): every run the API knows is a row
    equal to the API's view, field for field; a row the API no longer has is a run it forgot
    (flagged if it was open when last seen); no row twice; the state holds only the re-read
    window's ids, not one entry per open run."""
    rows = read_runs(walk.workdir / "agent-runs.duckdb")  # fails on a duplicate key
    steps = read_steps(walk.workdir / "agent-runs.duckdb")
    orphans = set(steps) - set(rows)
    assert not orphans, f"steps of runs not in the table: {sorted(orphans)[:5]}"
    state = dlt.attach(PIPELINE).state["sources"]["agent_runs"]["resources"]
    for provider, simulator in walk.simulators.items():
        if provider in failed:
            continue
        truth = simulator.current_truth()
        mine = {run_id: row for (name, run_id), row in rows.items() if name == provider}
        missing = set(truth) - set(mine) - may_lack
        assert not missing, f"{provider}: runs the API lists are not in the table: {sorted(missing)[:5]}"
        for run_id, want in truth.items():
            if run_id not in mine:
                continue  # created during the load, after it had read past them
            got = {column: mine[run_id][column] for column in want}
            assert got == want, f"{provider} {run_id}: table {diff(got, want)}"
        for run_id, row in mine.items():  # run_steps: an ended run's steps are the API's, whole
            if run_id in simulator.removed or row["missing_from_api_at"] is not None:
                continue
            run = simulator.by_id[run_id]
            want_steps = simulator.step_ids(run, walk.now_us) if row["status"] in TERMINAL_STATUSES else []
            got_steps = steps.get((provider, run_id), [])
            assert sorted(got_steps) == sorted(want_steps), (
                f"{provider} {run_id} ({row['status']}): {len(got_steps)} steps in run_steps, the API has {len(want_steps)}"
            )
        forgotten = set(mine) - set(truth)
        assert forgotten <= simulator.removed, f"{provider}: rows of runs the API never had: {forgotten}"
        for run_id in forgotten:
            row = mine[run_id]
            if row["status"] not in TERMINAL_STATUSES:
                assert row["missing_from_api_at"] is not None, f"{provider} {run_id}: gone, yet shown as open"
        # The state: nothing per open run (the open rows are what is followed), and only the ids
        # the next re-read window can list again.
        for name, run_list in zip(listing_state_names(provider), PROVIDERS[provider].lists, strict=True):
            listing_state = state.get(name, {})
            recent = listing_state.get("recent_runs", {})
            assert "open_runs" not in listing_state
            family = [row for row in mine.values() if row["run_family"] == run_list.name]
            if family:
                window_start = max(row["created_at"] for row in family) - RELIST_LAG
                assert all(parse_timestamp(created) >= window_start for created in recent.values()), name
            assert len(json.dumps(listing_state, default=str)) <= 2000 + 100 * len(recent), (
                f"{name}: the state outgrew its window"
            )


def diff(got: dict[str, Any], want: dict[str, Any]) -> str:
    return ", ".join(f"{key}={got[key]!r} but the API says {want[key]!r}" for key in want if got[key] != want[key])


# --- the walk ---------------------------------------------------------------------------------
@pytest.fixture
def world(tmp_path: Path, request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> Iterator[Walk]:
    seed = request.param
    for module in PRELOADED:
        importlib.import_module(module)
    monkeypatch.setenv("DLT_DATA_DIR", str(tmp_path / "dlt-data"))
    monkeypatch.chdir(tmp_path)
    clock = SimulatedClock(0)
    with ExitStack() as serving:
        simulators = {
            # A fifth of the runs never end by themselves (until a rule ends them): zombies of any age.
            name: serving.enter_context(
                simulator_class(name)(
                    api_key=f"{name}-promise-key",
                    runs=HISTORY_RUNS[seed % 2],
                    seed=seed + index,
                    clock=clock,
                    open_share=0.2,
                )
            )
            for index, name in enumerate(PROVIDERS)
        }
        clock.set(max(run.created_us for simulator in simulators.values() for run in simulator.history) + MICROS)
        env = {
            "DLT_DATA_DIR": str(tmp_path / "dlt-data"),
            "RUNTIME__REQUEST_BACKOFF_FACTOR": "0",
            "RUNTIME__REQUEST_MAX_ATTEMPTS": "4",
        }
        for name, simulator in simulators.items():
            env[PROVIDERS[name].api_key_variable] = simulator.api_key
            env[PROVIDERS[name].base_url_variable] = simulator.base_url
        yield Walk(seed, tmp_path, simulators, env, random.Random(seed))


def walk_seeds(config: pytest.Config) -> list[int]:
    if config.getoption("promise_seed") is not None:
        return [config.getoption("promise_seed")]
    return list(range(1, config.getoption("promise_walks") + 1))


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "world" in metafunc.fixturenames:
        metafunc.parametrize("world", walk_seeds(metafunc.config), indirect=True, ids=lambda seed: f"seed{seed}")


@pytest.mark.long
def test_after_every_load_that_exits_0_the_table_equals_the_api(world: Walk, request: pytest.FixtureRequest) -> None:
    steps = request.config.getoption("promise_steps")
    rules, weights = zip(*RULES, strict=True)
    try:
        # the first load: of a history of 1 or 7 hours, from an API that answers at once or a slow one
        (a_load_meets_a_slow_rate_limited_api if world.rng.random() < 0.5 else a_load_completes)(world)
        for _ in range(steps):
            world.rng.choices(rules, weights)[0](world)
        mend_accounts(world, all_of_them=True)
        a_load_completes(world)  # whatever the walk left, one load makes the table current
    except AssertionError as error:
        trail = "\n  ".join(world.log[-25:])
        last_load = (world.workdir / "last-load.log").read_text()[-3000:]
        raise AssertionError(
            f"seed {world.seed} (rerun: --promise-seed {world.seed}): {error}\nlast steps:\n  {trail}\n"
            f"the last load said:\n{last_load}"
        ) from error
    assert world.loaded_ok >= 2
    print(
        f"seed {world.seed}: {steps} steps, {world.loaded_ok} loads checked, {world.killed} killed, "
        f"{world.failed} failed on faults ({world.loads_with_one_broken} with an account broken), {world.verified} "
        f"verified, {world.transformed} transformed"
    )
