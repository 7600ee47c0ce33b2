"""What following every open run costs: the state it keeps and a load with nothing new, at 10k
and 100k open runs per provider; and what the re-read window behind the cursor costs a load with
nothing new (requests and time, with the window and without it).

    .venv/bin/python benchmarks/open_runs_benchmark.py                  # 10k and 100k open runs
    .venv/bin/python benchmarks/open_runs_benchmark.py --open 2000      # a quick look

The simulators serve from their own process with half of their runs never ending (zombies); each
load is `agent-runs load` in its own process (wall, CPU and peak RSS from os.wait4). The state's
size is dlt's local state file and the compressed form dlt stores in the destination with every
load; "as before" is what the previous state form (each open run's whole record) would hold. The
open runs counted are those the last load followed (after the first load: the ones it listed).
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
from pathlib import Path

from dlt.common.versioned_state import compress_state
from run_benchmark import AGENT_RUNS, Measured, Simulators, fresh_dir, load_env, measure

from agent_runs.simulators import BrowserbaseSimulator, TinyFishSimulator

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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--open", type=int, nargs="+", default=[10_000, 100_000], help="open runs per provider")
    parser.add_argument("--repeat", type=int, default=3, help="loads with nothing new to take the median of")
    parser.add_argument("--seed", type=int, default=7)
    options = parser.parse_args()
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
    print("| " + " | ".join(rows[0]) + " |")
    print("|" + "---|" * len(rows[0]))
    for row in rows:
        print(
            "| " + " | ".join(f"{value:,}" if isinstance(value, int) else str(value) for value in row.values()) + " |"
        )


if __name__ == "__main__":
    main()
