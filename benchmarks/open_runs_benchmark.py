"""What following every open run costs: the state it keeps and a load with nothing new, at 10k
and 100k open runs per provider; and what the re-read window behind the cursor costs a load with
nothing new (requests and time, with the window and without it).

    .venv/bin/python benchmarks/open_runs_benchmark.py                  # 10k and 100k open runs
    .venv/bin/python benchmarks/open_runs_benchmark.py --open 2000      # a quick look
    .venv/bin/python benchmarks/open_runs_benchmark.py --refresh 5000   # requests per refreshed run, each provider

The simulators serve from their own process with half of their runs never ending (zombies); each
load is `agent-runs load` in its own process (wall, CPU and peak RSS from os.wait4). The state's
size is dlt's local state file and the compressed form dlt stores in the destination with every
load; "as before" is what the previous state form (each open run's whole record) would hold. The
open runs counted are those the last load followed (after the first load: the ones it listed).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

from dlt.common.versioned_state import compress_state
from run_benchmark import AGENT_RUNS, Measured, Simulators, fresh_dir, load_env, measure

from agent_runs.loading.pipeline import load_runs
from agent_runs.providers import PROVIDERS as REGISTRY
from agent_runs.simulators import BrowserbaseSimulator, TinyFishSimulator, simulator_class

OPEN_SHARE = 0.5
PIPELINE = "agent_runs_duckdb_agent_runs"


def state_sizes(directory: Path) -> tuple[int, int, int]:
    """Bytes of the local state file, of the compressed state dlt ships, and open runs followed."""
    path = directory / "dlt" / "pipelines" / PIPELINE / "state.json"
    state = json.loads(path.read_text())
    resources = state["sources"]["agent_runs"]["resources"]
    following = sum(
        resource.get("last_refresh", {}).get("still_open", 0) + resource.get("listed_open", 0)
        for resource in resources.values()
    )
    return path.stat().st_size, len(compress_state(state)), following


def previous_form_bytes(runs: int, seed: int) -> int:
    """The open runs as the previous state kept them: {run_id: {created_at, record}}, both providers."""
    total = 0
    for simulator in (
        TinyFishSimulator(runs=runs, seed=seed, open_share=OPEN_SHARE),
        BrowserbaseSimulator(runs=runs, seed=seed + 1, open_share=OPEN_SHARE),
    ):
        now = simulator.clock.now_us
        kept = {
            run.run_id: {"created_at": simulator.truth(run, now)["created_at"].isoformat(), "record": record}
            for run in simulator.visible_runs()
            if run.phase(now) in ("pending", "running", "paused")
            for record in [simulator.render(run, now)]
        }
        total += len(json.dumps(kept))
    return total


def nothing_new(directory: Path, env: dict[str, str], simulators: Simulators, args: list[str]) -> tuple[Measured, int]:
    before = simulators.requests_served()
    measured = measure([AGENT_RUNS, "load", *args], env, directory)
    return measured, simulators.requests_served() - before


def requests_per_refreshed_run(open_runs: int, seed: int, root: Path) -> list[dict[str, object]]:
    """Each provider alone, in this process: a first load follows `open_runs` open runs, every one
    of them then ends (weeks later, say), and the next load brings them up to date: the requests
    that load makes for each run it refreshed (a batch read serves many a request; the rest one
    each, or a search)."""
    rows: list[dict[str, object]] = []
    for name in REGISTRY:
        directory = fresh_dir(root, f"refresh-{name}")
        simulator = simulator_class(name)(runs=int(open_runs / OPEN_SHARE), seed=seed, open_share=OPEN_SHARE)
        simulator.keep_requests = False
        provider = REGISTRY[name]
        with (
            simulator,
            patched_environ(
                {
                    **load_env(directory),
                    provider.api_key_variable: simulator.api_key,
                    provider.base_url_variable: simulator.base_url,
                }
            ),
        ):
            os.chdir(directory)
            load_runs(providers=[name])
            now = simulator.clock.now_us
            for run in simulator.visible_runs():
                if run.phase(now) in ("pending", "running", "paused"):
                    simulator.end_run(run.run_id, "completed")
            simulator.clock.advance(1)
            served = simulator.served
            started = time.perf_counter()
            summary = load_runs(providers=[name])
            wall = time.perf_counter() - started
            requests = simulator.served - served
        refreshed = sum(report["open"] for key, report in summary.open_runs_refresh.items() if key.startswith(name))
        row = {
            "provider": provider.display_name,
            "runs refreshed": refreshed,
            "requests": requests,
            "requests per refreshed run": round(requests / max(1, refreshed), 3),
            "load s": round(wall, 1),
        }
        rows.append(row)
        print(row, file=sys.stderr)
    return rows


@contextlib.contextmanager
def patched_environ(values: dict[str, str]) -> Iterator[None]:
    saved = dict(os.environ)
    os.environ.update(values)
    try:
        yield
    finally:
        os.environ.clear()
        os.environ.update(saved)


def print_table(rows: list[dict[str, object]]) -> None:
    print("| " + " | ".join(rows[0]) + " |")
    print("|" + "---|" * len(rows[0]))
    for row in rows:
        print(
            "| " + " | ".join(f"{value:,}" if isinstance(value, int) else str(value) for value in row.values()) + " |"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--open", type=int, nargs="+", default=[10_000, 100_000], help="open runs per provider")
    parser.add_argument("--refresh", type=int, help="only: requests per refreshed open run, with this many open runs")
    parser.add_argument("--repeat", type=int, default=3, help="loads with nothing new to take the median of")
    parser.add_argument("--seed", type=int, default=7)
    options = parser.parse_args()
    if options.refresh:
        cwd = os.getcwd()
        with tempfile.TemporaryDirectory() as temporary:
            rows = requests_per_refreshed_run(options.refresh, options.seed, Path(temporary))
            os.chdir(cwd)
        print_table(rows)
        return
    rows = []
    with tempfile.TemporaryDirectory() as temporary:
        root = Path(temporary)
        for open_runs in options.open:
            runs = int(open_runs / OPEN_SHARE)
            simulators = Simulators(runs, seed=options.seed, open_share=OPEN_SHARE)
            try:
                directory = fresh_dir(root, f"open-{open_runs}")
                env = {**load_env(directory), **simulators.env}
                first = measure([AGENT_RUNS, "load"], env, directory)
                local, shipped, following = state_sizes(directory)
                figures: dict[str, list[tuple[Measured, int]]] = {"window": [], "no window": []}
                for _ in range(options.repeat):  # alternated, so drift hits both alike
                    figures["window"].append(nothing_new(directory, env, simulators, []))
                    figures["no window"].append(nothing_new(directory, env, simulators, ["--lag-minutes", "0"]))
            finally:
                simulators.stop()
            row = {
                "open runs (both providers)": following,
                "first load s": round(first.wall_s, 1),
                "state.json KiB": round(local / 1024),
                "state shipped KiB": round(shipped / 1024),
                "as before KiB": round(previous_form_bytes(runs, options.seed) / 1024),
            }
            for name, samples in figures.items():
                row[f"nothing new s ({name})"] = round(statistics.median(m.wall_s for m, _ in samples), 2)
                row[f"CPU s ({name})"] = round(statistics.median(m.cpu_s for m, _ in samples), 2)
                row[f"requests ({name})"] = statistics.median(requests for _, requests in samples)
            rows.append(row)
            print(row, file=sys.stderr)
    print_table(rows)


if __name__ == "__main__":
    main()
