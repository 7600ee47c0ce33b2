"""Throughput, memory and parallel backfill of `agent-runs load`, against the bundled simulators
served from a separate process, compared in the same run with the fetch floor (plain requests +
orjson, nothing loaded) and with dlt's own `rest_api` source (the peer).

    .venv-bench/bin/python benchmarks/run_benchmark.py                      # 100k and 1M runs per provider
    .venv-bench/bin/python benchmarks/run_benchmark.py --runs 20000 --latency-runs 5000   # a quick look

(.venv-bench: `pip install -e ".[postgres]"`, what production has; see the README.)

Each contender is its own process; wall time, client CPU (user + system) and peak RSS come from
os.wait4. Up to --pairs-max-runs, the floor and the first load are measured in alternated pairs
(--pairs) and the table gives medians, with the range of the ratios: a machine's speed can drift
by a third within minutes. Prints a Markdown table (also written to benchmarks/RESULTS.md).
"""

from __future__ import annotations

import argparse
import os
import platform
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import astuple, dataclass
from pathlib import Path

import orjson

from agent_runs.analytics.views import ALL_VIEWS
from agent_runs.providers import PROVIDERS as REGISTRY

HERE = Path(__file__).resolve().parent
PROVIDERS = tuple(REGISTRY)
ALL_SECTIONS = (
    "throughput", "backfill", "accounts", "providers", "rate-limited", "sporadic", "verify", "transform", "steps",
)  # fmt: skip
PYTHON = sys.executable
AGENT_RUNS = str(Path(PYTHON).with_name("agent-runs"))


@dataclass
class Measured:
    wall_s: float
    cpu_s: float
    peak_rss_mib: float


class Simulators:
    """`python -m agent_runs.simulators` in its own process, so its CPU is not the client's."""

    def __init__(
        self,
        runs: int,
        latency: float = 0.0,
        seed: int = 7,
        open_share: float | None = None,
        providers: tuple[str, ...] = ("tinyfish", "browserbase"),
        rate_limit: float | None = None,
        gateway_every: tuple[int, int] | None = None,
        accounts: int = 1,
    ) -> None:
        command = [PYTHON, "-m", "agent_runs.simulators", "--runs", str(runs), "--latency", str(latency)]
        command += ["--accounts", str(accounts)]
        if gateway_every is not None:
            command += ["--refuse-every", str(gateway_every[0]), "--unavailable-every", str(gateway_every[1])]
        command += ["--seed", str(seed), "--providers", ",".join(providers)]
        command += [] if open_share is None else ["--open-share", str(open_share)]
        command += [] if rate_limit is None else ["--rate-limit", str(rate_limit)]
        self.process = subprocess.Popen(command, stdout=subprocess.PIPE, text=True)
        assert self.process.stdout is not None
        ready = orjson.loads(self.process.stdout.readline())
        self.served_by = ready  # each simulator's base URL and key, by name (`tinyfish`, `tinyfish_1`, …)
        self.env = {
            f"{name.upper()}_{key.upper()}": value
            for name, settings in ready.items()
            for key, value in settings.items()
        }

    def requests_served(self) -> int:
        return sum(self.served_each().values())

    def requests_refused(self) -> int:
        return sum(self.refused_each().values())

    def served_each(self) -> dict[str, int]:
        """Requests each simulator (each account) has answered so far, by name."""
        assert self.process.stdout is not None
        self.process.send_signal(signal.SIGUSR1)
        return orjson.loads(self.process.stdout.readline())

    def refused_each(self) -> dict[str, int]:
        """Requests each simulator has refused so far (429s, gateway faults), by name."""
        assert self.process.stdout is not None
        self.process.send_signal(signal.SIGUSR2)
        return orjson.loads(self.process.stdout.readline())

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait()


def measure(command: list[str], env: dict[str, str], cwd: Path) -> Measured:
    started = time.perf_counter()
    process = subprocess.Popen(command, env={**os.environ, **env}, cwd=cwd, stdout=subprocess.DEVNULL)
    _, status, usage = os.wait4(process.pid, 0)
    wall = time.perf_counter() - started
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"{' '.join(command)} failed with exit code {os.waitstatus_to_exitcode(status)}")
    return Measured(wall, usage.ru_utime + usage.ru_stime, usage.ru_maxrss / 1024)


def fresh_dir(root: Path, name: str) -> Path:
    path = root / name
    shutil.rmtree(path, ignore_errors=True)
    path.mkdir()
    return path


def load_env(directory: Path) -> dict[str, str]:
    return {"DLT_DATA_DIR": str(directory / "dlt"), "RUNTIME__LOG_LEVEL": "WARNING"}


def query(database: Path, sql: str) -> list[list[object]]:
    """A query on a loaded DuckDB file, run in a child process: Linux passes a process's peak RSS on
    to every process it starts (ru_maxrss survives fork and exec), so reading the table here would
    inflate the figures of every load measured after it."""
    code = (
        "import duckdb, orjson, sys; connection = duckdb.connect(sys.argv[1], read_only=True); "
        "print(orjson.dumps(connection.execute(sys.argv[2]).fetchall(), default=str).decode())"
    )
    answer = subprocess.run([PYTHON, "-c", code, str(database), sql], capture_output=True, check=True)
    return orjson.loads(answer.stdout)


def runs_digest(database: Path, table: str = "agent_runs.runs") -> tuple[int, int]:
    """Row count and an order-free checksum of every loaded value but dlt's load id: what two loads
    must agree on."""
    columns = [row[0] for row in query(database, f"DESCRIBE {table}") if row[0] != "_dlt_load_id"]
    count, checksum = query(
        database, f"SELECT count(*), sum(hash({', '.join(columns)})::HUGEINT)::VARCHAR FROM {table}"
    )[0]
    return int(count), int(checksum)


def count_rows(database: Path) -> int:
    return int(query(database, "SELECT count(*) FROM agent_runs.runs")[0][0])


def postgres_rows(dsn: str, dataset: str) -> int:
    import psycopg2  # installed with agent-runs[postgres]

    with psycopg2.connect(dsn) as connection, connection.cursor() as cursor:
        cursor.execute(f"SELECT count(*) FROM {dataset}.runs")
        count = cursor.fetchone()[0]
        cursor.execute(f"DROP SCHEMA {dataset} CASCADE")
        return count


def median_of(measured: list[Measured]) -> Measured:
    return Measured(*(statistics.median(values) for values in zip(*map(astuple, measured), strict=True)))


def ratios(loads: list[Measured], floors: list[Measured], field: str) -> str:
    """The load's figure over the floor's of the same pair: the median, and the range over pairs."""
    each = [getattr(load, field) / getattr(floor, field) for load, floor in zip(loads, floors, strict=True)]
    spread = f" ({min(each):.1f}-{max(each):.1f})" if len(each) > 1 else ""
    return f"{statistics.median(each):.1f}x{spread}"


def throughput(
    runs: int, root: Path, peer_max_runs: int, postgres: str | None, pairs: int
) -> list[tuple[str, str, Measured, str]]:
    rows: list[tuple[str, str, Measured, str]] = []
    simulators = Simulators(runs)
    label = f"{runs:,} runs x 2 providers"
    try:
        floors, firsts = [], []
        for _ in range(pairs):  # alternated, so a slow spell of the machine hits both alike
            floors.append(measure([PYTHON, str(HERE / "fetch_floor.py")], simulators.env, fresh_dir(root, "floor")))
            work = fresh_dir(root, "agent-runs")
            env = {**simulators.env, **load_env(work)}
            firsts.append(measure([AGENT_RUNS, "load"], env, work))
        of_pairs = f", medians of {pairs} pairs" if pairs > 1 else ""
        floor = median_of(floors)
        rows.append((label, "fetch floor (requests + orjson, nothing loaded)", floor, of_pairs[2:]))
        rows.append(
            (
                label,
                "agent-runs load (first load, DuckDB)",
                median_of(firsts),
                f"CPU {ratios(firsts, floors, 'cpu_s')} floor, wall {ratios(firsts, floors, 'wall_s')}{of_pairs}, "
                f"{count_rows(work / 'agent-runs.duckdb'):,} rows",
            )
        )
        before = simulators.requests_served()
        again = measure([AGENT_RUNS, "load"], env, work)
        requests = simulators.requests_served() - before
        rows.append((label, "agent-runs load (again, nothing new)", again, f"{requests:,} requests incl. open runs"))
        if runs <= peer_max_runs:
            peer_dir = fresh_dir(root, "peer")
            peer = measure(
                [PYTHON, str(HERE / "rest_api_peer.py"), str(peer_dir / "peer.duckdb")],
                {**simulators.env, **load_env(peer_dir)},
                peer_dir,
            )
            rows.append((label, "dlt rest_api (peer, DuckDB)", peer, f"CPU {peer.cpu_s / floor.cpu_s:.1f}x floor"))
        if postgres and runs <= peer_max_runs:
            dataset = f"bench_{runs}"
            pg_work = fresh_dir(root, "postgres")
            pg_env = {**simulators.env, **load_env(pg_work), "DESTINATION__POSTGRES__CREDENTIALS": postgres}
            into_postgres = measure(
                [AGENT_RUNS, "load", "--destination", "postgres", "--dataset", dataset], pg_env, pg_work
            )
            count = postgres_rows(postgres, dataset)
            rows.append((label, "agent-runs load (first load, PostgreSQL)", into_postgres, f"{count:,} rows"))
    finally:
        simulators.stop()
    return rows


def parallel_backfill(runs: int, latency: float, workers: int, root: Path) -> list[tuple[str, str, Measured, str]]:
    simulators = Simulators(runs, latency)
    label = f"{runs:,} runs x 2, {latency * 1000:.0f} ms a page"
    try:
        results = {}
        for count in (1, workers):
            work = fresh_dir(root, f"workers-{count}")
            results[count] = (
                measure([AGENT_RUNS, "load", "--workers", str(count)], {**simulators.env, **load_env(work)}, work),
                runs_digest(work / "agent-runs.duckdb"),
            )
    finally:
        simulators.stop()
    (one, one_rows), (many, many_rows) = results[1], results[workers]
    identical = "identical rows" if one_rows == many_rows else "ROWS DIFFER"
    return [
        (label, "agent-runs load --workers 1", one, f"{one_rows[0]:,} rows"),
        (label, f"agent-runs load --workers {workers}", many, f"{one.wall_s / many.wall_s:.1f}x faster, {identical}"),
    ]


def per_provider(runs: int, latency: float, root: Path) -> list[tuple[str, str, Measured, str]]:
    """Each provider's first load alone, at the same page latency: time per run against TinyFish's."""
    simulators = Simulators(runs, latency, providers=PROVIDERS)
    label = f"{runs:,} runs a provider, {latency * 1000:.0f} ms a page"
    rows, per_run = [], {}
    try:
        for provider in PROVIDERS:
            work = fresh_dir(root, f"provider-{provider}")
            measured = measure([AGENT_RUNS, "load", "--provider", provider], {**simulators.env, **load_env(work)}, work)
            loaded = count_rows(work / "agent-runs.duckdb")
            per_run[provider] = measured.wall_s / loaded
            versus = (
                f", {per_run[provider] / per_run['tinyfish']:.2f}x TinyFish's time a run"
                if provider != "tinyfish"
                else ""
            )
            rows.append(
                (
                    label,
                    f"agent-runs load --provider {provider}",
                    measured,
                    f"{loaded:,} rows, {per_run[provider] * 1e6:.0f} µs a run{versus}",
                )
            )
    finally:
        simulators.stop()
    return rows


def rate_limited(
    runs: int,
    latency: float,
    rate: float | None,
    root: Path,
    workers: int,
    providers: tuple[str, ...] = ("tinyfish", "browserbase"),
) -> list[tuple[str, str, Measured, str]]:
    """A first load of these providers against keys allowed `rate` requests a second (None:
    unlimited), as one walk (`--workers 1`), by default and with `--workers`: wall time against the
    API's speed limit (the slower provider's pages at that rate), requests, the share refused, and
    whether the rows are the one walk's (a checksum of every column)."""
    simulators = Simulators(runs, latency, providers=providers, rate_limit=rate)
    limit_text = f"{rate:g} requests/s" if rate else "no rate limit"
    label = f"{runs:,} runs x {len(providers)}, {latency * 1000:.0f} ms a page, {limit_text}"
    if providers != ("tinyfish", "browserbase"):
        label += f" ({', '.join(providers)})"
    pages = max(runs / REGISTRY[name].lists[0].page_size for name in providers)  # the slower provider's
    speed_limit_s = pages / rate if rate else pages * latency
    only = [arg for name in providers for arg in ("--provider", name)]
    rows, digests = [], {}
    try:
        for name, args in (("one walk", ["--workers", "1"]), ("default", []), ("workers", ["--workers", str(workers)])):
            work = fresh_dir(root, f"rate-{name}")
            served, refused = simulators.requests_served(), simulators.requests_refused()
            measured = measure([AGENT_RUNS, "load", *only, *args], {**simulators.env, **load_env(work)}, work)
            served, refused = simulators.requests_served() - served, simulators.requests_refused() - refused
            digests[name] = runs_digest(work / "agent-runs.duckdb")
            same = (
                "" if name == "one walk" else ", same rows" if digests[name] == digests["one walk"] else ", ROWS DIFFER"
            )
            rows.append(
                (
                    label,
                    f"agent-runs load {' '.join(args) or '(no flags)'}",
                    measured,
                    f"{measured.wall_s / speed_limit_s:.2f}x the speed limit ({speed_limit_s:.0f} s), {served:,} "
                    f"requests, {refused / max(served, 1):.0%} refused{same}",
                )
            )
    finally:
        simulators.stop()
    return rows


def sporadic_faults(runs: int, latency: float, root: Path) -> list[tuple[str, str, Measured, str]]:
    """Each provider alone, a first load against a busy gateway that refuses every 5th request
    (429) and answers every 7th 503, both with `Retry-After: 1`, whatever the pace: wall time
    against the same load without faults plus the seconds the API asked to wait."""
    rows = []
    for name in PROVIDERS:
        walls = {}
        for faults in (None, (5, 7)):
            simulators = Simulators(runs, latency, providers=(name,), gateway_every=faults)
            try:
                work = fresh_dir(root, f"sporadic-{name}-{faults is not None}")
                served, refused = simulators.requests_served(), simulators.requests_refused()
                walls[faults] = measure(
                    [AGENT_RUNS, "load", "--provider", name], {**simulators.env, **load_env(work)}, work
                )
                served, refused = simulators.requests_served() - served, simulators.requests_refused() - refused
            finally:
                simulators.stop()
        clean, faulted = walls[None], walls[(5, 7)]
        told_s = refused * 1.0  # every fault asked for 1 s
        rows.append(
            (
                f"{runs:,} {REGISTRY[name].display_name} runs, {latency * 1000:.0f} ms a page, every 5th request 429, every 7th 503",
                "agent-runs load (no flags)",
                faulted,
                f"{faulted.wall_s / (clean.wall_s + told_s):.2f}x (the load without faults, {clean.wall_s:.1f} s, + "
                f"{told_s:.0f} s told); {served:,} requests, {refused:,} faults",
            )
        )
    return rows


def verify_section(runs: int, root: Path) -> list[tuple[str, str, Measured, str]]:
    """A first load of TinyFish and Browserbase, then `agent-runs verify` of the same table: its time
    against the first load's, its requests, its memory."""
    simulators = Simulators(runs)
    label = f"{runs:,} runs x 2 providers"
    try:
        work = fresh_dir(root, "verify")
        env = {**simulators.env, **load_env(work)}
        served = simulators.requests_served()
        first = measure([AGENT_RUNS, "load"], env, work)
        load_requests = simulators.requests_served() - served
        served = simulators.requests_served()
        checked = measure([AGENT_RUNS, "verify"], env, work)
        verify_requests = simulators.requests_served() - served
    finally:
        simulators.stop()
    return [
        (label, "agent-runs load (first load)", first, f"{load_requests:,} requests"),
        (
            label,
            "agent-runs verify (no drift)",
            checked,
            f"{checked.wall_s / first.wall_s:.2f}x the first load's wall time, {verify_requests:,} requests",
        ),
    ]


def transform_section(runs: int, root: Path) -> list[tuple[str, str, Measured, str]]:
    """A first load of TinyFish and Browserbase, an hourly load (nothing new), then `agent-runs
    transform` (dbt run, then dbt test) on the same table: what transform adds to the hourly load."""
    simulators = Simulators(runs)
    label = f"{runs:,} runs x 2 providers"
    try:
        work = fresh_dir(root, "transform")
        env = {**simulators.env, **load_env(work)}
        measure([AGENT_RUNS, "load"], env, work)
        hourly = measure([AGENT_RUNS, "load"], env, work)
    finally:
        simulators.stop()
    built = measure([AGENT_RUNS, "transform"], env, work)
    return [
        (label, "agent-runs load (hourly, nothing new)", hourly, ""),
        (
            label,
            f"agent-runs transform ({len(ALL_VIEWS)} models, then the tests)",
            built,
            f"adds {built.wall_s / hourly.wall_s:.1f}x the hourly load's wall time",
        ),
    ]


def steps_section(runs: int, rate: float, root: Path) -> list[tuple[str, str, Measured, str]]:
    """Each provider alone, every run ended, `rate` requests a second a key: a first load that reads
    every run's steps (`--steps-since`) against the same load without steps. What the steps cost in
    requests (TinyFish: the batch read, 100 runs a request; the others one run a request), and the
    load's wall time against its speed limit (the requests it needed answered, at `rate` a second).
    Then `agent-runs verify`, which reads every run and its steps again and compares them with the
    table: its wall time against the load's."""
    rows = []
    for provider in PROVIDERS:
        label = f"{runs:,} ended {provider} runs, {rate:g} req/s"
        measured: dict[bool, tuple[Measured, int, str]] = {}
        verified: Measured | None = None
        for with_steps in (False, True):
            simulators = Simulators(runs, providers=(provider,), open_share=0.0, rate_limit=rate)
            try:
                work = fresh_dir(root, f"steps-{provider}-{with_steps}")
                steps = ["--steps-since", "2000-01-01"] if with_steps else ["--no-steps"]
                load = measure(
                    [AGENT_RUNS, "load", "--provider", provider, *steps], {**simulators.env, **load_env(work)}, work
                )
                answered = simulators.requests_served() - simulators.requests_refused()
                counted = "SELECT count(*), count(DISTINCT run_id) FROM agent_runs.run_steps"
                step_rows = query(work / "agent-runs.duckdb", counted)[0] if with_steps else [0, 0]
                measured[with_steps] = (load, answered, f"{step_rows[0]:,} steps of {step_rows[1]:,} runs")
                if with_steps:
                    environment = {**simulators.env, **load_env(work)}
                    verified = measure([AGENT_RUNS, "verify", "--provider", provider], environment, work)
            finally:
                simulators.stop()
        (plain, plain_requests, _), (load, requests, step_rows) = measured[False], measured[True]
        limit_s = requests / rate
        rows.append((label, "agent-runs load --no-steps", plain, f"{plain_requests:,} requests"))
        rows.append(
            (
                label,
                "agent-runs load, every run's steps",
                load,
                f"{step_rows}; {requests - plain_requests:,} requests for steps "
                f"({(requests - plain_requests) / runs:.2f} a run); wall {load.wall_s / limit_s:.2f}x the speed limit "
                f"({limit_s:.1f} s); RSS {load.peak_rss_mib / plain.peak_rss_mib:.2f}x without steps",
            )
        )
        if verified is not None:
            rows.append(
                (
                    label,
                    "agent-runs verify, every run's steps",
                    verified,
                    f"{verified.wall_s / load.wall_s:.2f}x the load's wall time",
                )
            )
        print(rows[-1], file=sys.stderr)
    return rows


def several_accounts(
    runs: int, latency: float, root: Path, counts: tuple[int, ...] = (1, 2, 4), rate: float | None = None
) -> list[tuple[str, str, Measured, str]]:
    """`counts` TinyFish accounts (each its own simulator and key, served from one process; `rate`
    requests a second per key), configured as named accounts, loaded at once: the wall time against
    the slowest account's speed limit (the requests it needed answered, at `rate` a second) and
    against one account's load alone, and the peak RSS against one account's."""
    rows = []
    label = f"{runs:,} TinyFish runs an account, {latency * 1000:.0f} ms a page" + (
        f", {rate:g} req/s a key" if rate else ""
    )
    alone: Measured | None = None
    for count in counts:
        simulators = Simulators(runs, latency, seed=100, providers=("tinyfish",), rate_limit=rate, accounts=count)
        try:
            work = fresh_dir(root, f"accounts-{count}")
            (work / ".dlt").mkdir()
            (work / ".dlt" / "secrets.toml").write_text(
                "".join(
                    f'[sources.agent_runs.accounts.account_{index}]\nprovider = "tinyfish"\n'
                    f'api_key = "{served["api_key"]}"\nbase_url = "{served["base_url"]}"\n'
                    for index, served in enumerate(simulators.served_by.values())
                )
            )
            measured = measure([AGENT_RUNS, "load", "--provider", "tinyfish"], load_env(work), work)
            refused = simulators.refused_each()
            answered = {name: served - refused[name] for name, served in simulators.served_each().items()}
            alone = alone or measured
            ratios = f"wall {measured.wall_s / alone.wall_s:.2f}x one account's, RSS {measured.peak_rss_mib / alone.peak_rss_mib:.2f}x"
            if rate:
                limit_s = max(answered.values()) / rate
                ratios = (
                    f"wall {measured.wall_s / limit_s:.2f}x the slowest account's speed limit ({limit_s:.1f} s), "
                    + ratios
                )
            rows.append(
                (
                    label,
                    f"agent-runs load, {count} account{'s' * (count > 1)}",
                    measured,
                    f"{count_rows(work / 'agent-runs.duckdb'):,} rows, {ratios}",
                )
            )
            print(rows[-1], file=sys.stderr)
        finally:
            simulators.stop()
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, nargs="+", default=[100_000, 1_000_000], help="runs per provider")
    parser.add_argument("--peer-max-runs", type=int, default=100_000, help="skip dlt rest_api above this size")
    parser.add_argument("--latency-runs", type=int, default=20_000)
    parser.add_argument("--latency", type=float, default=0.1)
    parser.add_argument("--workers", type=int, default=8)
    parser.add_argument("--accounts-runs", type=int, default=3000, help="runs per account (several accounts)")
    parser.add_argument("--accounts-latency", type=float, default=0.05)
    parser.add_argument(
        "--accounts",
        type=lambda text: tuple(int(part) for part in text.split(",")),
        default=(1, 2, 4),
        help="how many accounts to load at once, e.g. 1,8,32 (the first is the reference)",
    )
    parser.add_argument(
        "--accounts-rate", type=float, default=None, help="requests a second each account's key may make"
    )
    parser.add_argument("--provider-runs", type=int, default=10_000, help="runs of each provider loaded alone")
    parser.add_argument("--provider-latency", type=float, default=0.05)
    parser.add_argument("--rate-limited-runs", type=int, default=50_000, help="runs per provider, rate-limited API")
    parser.add_argument(
        "--rate-limited-providers",
        type=lambda text: tuple(text.split(",")),
        default=("tinyfish", "browserbase"),
        help="providers loaded against the rate-limited API, e.g. browserbase",
    )
    parser.add_argument(
        "--rate-limits",
        type=lambda text: tuple(float(part) if part else None for part in text.split("/")),
        nargs="*",
        default=[(0.2, 8.0), (0.1, 20.0), (0.1, None)],
        help="page latency s/requests a second (empty: unlimited), e.g. 0.2/8 0.1/20 0.1/",
    )
    parser.add_argument(
        "--verify-runs", type=int, default=100_000, help="runs per provider, verify and transform sections"
    )
    parser.add_argument("--steps-runs", type=int, default=10_000, help="ended runs per provider, steps section")
    parser.add_argument("--steps-rate", type=float, default=200.0, help="requests a second a key, steps section")
    parser.add_argument("--sporadic-runs", type=int, default=2000, help="runs per provider, busy gateway")
    parser.add_argument("--sporadic-latency", type=float, default=0.05)
    parser.add_argument(
        "--sections",
        default=",".join(ALL_SECTIONS),
        help="which sections to measure (comma-separated)",
    )
    parser.add_argument("--out", type=Path, default=HERE / "RESULTS.md")
    parser.add_argument(
        "--pairs", type=int, default=3, help="floor and first load measured this many times, alternated"
    )
    parser.add_argument("--pairs-max-runs", type=int, default=1_000_000, help="measure one pair above this size")
    parser.add_argument("--postgres", help="a PostgreSQL DSN: also load there (at sizes up to --peer-max-runs)")
    args = parser.parse_args()

    rows = []
    with tempfile.TemporaryDirectory(prefix="agent-runs-bench-") as temporary:
        root = Path(temporary)
        sections = set(args.sections.split(","))
        for runs in args.runs if "throughput" in sections else ():
            pairs = args.pairs if runs <= args.pairs_max_runs else 1
            rows += throughput(runs, root, args.peer_max_runs, args.postgres, pairs)
            print(f"done: {runs:,} runs", file=sys.stderr)
        if "backfill" in sections:
            rows += parallel_backfill(args.latency_runs, args.latency, args.workers, root)
        if "accounts" in sections:
            rows += several_accounts(args.accounts_runs, args.accounts_latency, root, args.accounts, args.accounts_rate)
        if "providers" in sections:
            rows += per_provider(args.provider_runs, args.provider_latency, root)
        for latency, rate in args.rate_limits if "rate-limited" in sections else ():
            rows += rate_limited(args.rate_limited_runs, latency, rate, root, args.workers, args.rate_limited_providers)
        if "verify" in sections:
            rows += verify_section(args.verify_runs, root)
        if "transform" in sections:
            rows += transform_section(args.verify_runs, root)
        if "sporadic" in sections:
            rows += sporadic_faults(args.sporadic_runs, args.sporadic_latency, root)
        if "steps" in sections:
            rows += steps_section(args.steps_runs, args.steps_rate, root)

    command = "python benchmarks/run_benchmark.py " + " ".join(sys.argv[1:])
    lines = [
        f"Measured {time.strftime('%Y-%m-%d')} on {platform.machine()} ({os.cpu_count()} cores), "
        f"Python {platform.python_version()}, with `{command.strip()}`.",
        "",
        "| data | what | wall s | client CPU s | peak RSS MiB | note |",
        "|---|---|---:|---:|---:|---|",
    ]
    for label, what, measured, note in rows:
        lines.append(
            f"| {label} | {what} | {measured.wall_s:.1f} | {measured.cpu_s:.1f} | {measured.peak_rss_mib:.0f} | {note} |"
        )
    report = "\n".join(lines) + "\n"
    print(report)
    if sections == set(ALL_SECTIONS):
        args.out.write_text(report)
    else:  # a few sections: added below the last whole run's table
        with args.out.open("a") as out:
            out.write("\n" + report)


if __name__ == "__main__":
    main()
