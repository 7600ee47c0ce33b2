"""Serve every provider's simulator until interrupted, e.g. to point `agent-runs load` or a benchmark at them:

    python -m agent_runs.simulators --runs 100000 --latency 0.1

Prints one JSON line with each simulator's base URL and API key, then serves; on SIGUSR1 it prints
another line with the number of requests each has answered so far, on SIGUSR2 how many of them it
refused for the key's request rate (`--rate-limit`) or as a busy gateway (`--refuse-every`,
`--unavailable-every`).
"""

from __future__ import annotations

import argparse
import contextlib
import signal
import sys
import threading

import orjson

from agent_runs.providers import PROVIDERS
from agent_runs.simulators import simulator_class


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m agent_runs.simulators", description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3000, help="runs of history per provider")
    parser.add_argument("--latency", type=float, default=0.0, help="seconds each request waits before answering")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--open-share", type=float, default=None, help="share of runs that never end (2 %% if unset)")
    parser.add_argument("--rate-limit", type=float, default=None, help="requests a second each key may make")
    parser.add_argument("--refuse-every", type=int, default=None, help="answer every n-th request 429 (Retry-After: 1)")
    parser.add_argument(
        "--unavailable-every", type=int, default=None, help="answer every n-th request 503 (Retry-After: 1)"
    )
    parser.add_argument(
        "--providers", default=",".join(PROVIDERS), help="which to serve (comma-separated; default all)"
    )
    parser.add_argument(
        "--accounts",
        type=int,
        default=1,
        help="accounts of each provider: `<name>`, then `<name>_1`, … each its own key",
    )
    args = parser.parse_args()
    wanted = [name for name in args.providers.split(",") if name]
    unknown = sorted(set(wanted) - set(PROVIDERS))
    if unknown:
        parser.error(f"unknown provider(s) {', '.join(unknown)}; known: {', '.join(PROVIDERS)}")
    shared = {
        "latency_s": args.latency,
        "keep_requests": False,
        "open_share": args.open_share,
        "rate_limit": args.rate_limit,
        "refuse_every": args.refuse_every,
        "unavailable_every": args.unavailable_every,
    }
    simulators = {
        f"{name}_{copy}" if copy else name: simulator_class(name)(
            api_key=f"{name}-sim-key-{copy}" if copy else f"{name}-sim-key",
            runs=args.runs,
            seed=args.seed + index + 100 * copy,
            **shared,
        )
        for index, name in enumerate(PROVIDERS)
        if name in wanted
        for copy in range(args.accounts)
    }
    for simulator in simulators.values():
        simulator.start()
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGUSR1, lambda *_: print_line({name: sim.served for name, sim in simulators.items()}))
    signal.signal(
        signal.SIGUSR2,
        lambda *_: print_line({name: sim.refused + sim.gateway_faults for name, sim in simulators.items()}),
    )
    ready = {name: {"base_url": sim.base_url, "api_key": sim.api_key} for name, sim in simulators.items()}
    print_line(ready)  # after the handlers: a caller may signal as soon as it reads this
    with contextlib.suppress(KeyboardInterrupt):
        stop.wait()
    for simulator in simulators.values():
        simulator.stop()


def print_line(message: dict[str, object]) -> None:
    sys.stdout.write(orjson.dumps(message).decode() + "\n")
    sys.stdout.flush()


if __name__ == "__main__":
    main()
