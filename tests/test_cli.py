"""The `agent-runs` command as a user runs it (a subprocess in a fresh directory): exit codes,
messages, the demo, Parquet output, and API keys that never reach the disk or the terminal."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from agent_runs.demo import DEMO_PLATFORMS
from agent_runs.providers import PROVIDERS
from agent_runs.simulators import BrowserbaseSimulator, Fault, TinyFishSimulator
from tests.utils import (
    BROWSERBASE_KEY,
    DEMO_RUNS,
    TINYFISH_KEY,
    agent_runs,
    assert_table_equals_api,
    copy_of,
    read_runs,
)


def files_containing(root: Path, secret: str) -> list[Path]:
    needle = secret.encode()
    return [path for path in root.rglob("*") if path.is_file() and needle in path.read_bytes()]


def test_the_command_gives_arrow_the_system_allocator_before_arrow_starts() -> None:
    """mimalloc, Arrow's default, keeps freed memory per thread: the command's peak is lower without it."""
    code = "import agent_runs.cli, pyarrow; print(pyarrow.default_memory_pool().backend_name)"
    environment = {name: value for name, value in os.environ.items() if name != "ARROW_DEFAULT_MEMORY_POOL"}
    answer = subprocess.run([sys.executable, "-c", code], env=environment, capture_output=True, text=True, check=True)
    assert answer.stdout.strip() == "system"


def test_no_key_at_all_is_a_configuration_error(workdir: Path) -> None:
    result = agent_runs(workdir, "load")
    assert result.returncode == 2
    assert "TINYFISH_API_KEY" in result.stderr and "agent-runs demo" in result.stderr
    assert not (workdir / "agent-runs.duckdb").exists()


@pytest.mark.parametrize(
    ("args", "complaint"),
    [
        (["--since", "last tuesday"], "not a date"),
        (["--since", "2026-03-01", "--until", "2026-02-01"], "must be before --until"),
        (["--provider", "openai"], "openai"),
        (["--destination", "nowhere"], "unknown destination"),
        (["--workers", "0"], "--workers"),
        (["--open-runs-max-age-days", "-1"], "--open-runs-max-age-days"),
    ],
)
def test_bad_options_exit_2_before_any_request(
    workdir: Path, tinyfish: TinyFishSimulator, args: list[str], complaint: str
) -> None:
    env = {"TINYFISH_API_KEY": TINYFISH_KEY, "TINYFISH_BASE_URL": tinyfish.base_url}
    result = agent_runs(workdir, "load", *args, env=env)
    assert result.returncode == 2 and complaint in result.stderr
    assert tinyfish.requests == [] and not (workdir / "agent-runs.duckdb").exists()


def test_rejected_key_names_the_provider_and_never_shows_the_key(workdir: Path, tinyfish: TinyFishSimulator) -> None:
    wrong_key = "tf-wrong-key-5a5a5a5a5a5a"
    env = {"TINYFISH_API_KEY": wrong_key, "TINYFISH_BASE_URL": tinyfish.base_url}
    result = agent_runs(workdir, "--verbose", "load", env=env)
    assert result.returncode == 1
    assert "TinyFish rejected the API key (HTTP 401" in result.stderr
    assert wrong_key not in result.stdout + result.stderr
    assert files_containing(workdir, wrong_key) == []


def test_keys_stay_out_of_debug_logs_and_failures(workdir: Path, tinyfish: TinyFishSimulator) -> None:
    """The noisiest output there is: dlt's debug log of a load that fails part-way through."""
    tinyfish.faults.extend([None, Fault(200, body=b"<html>truncated")])
    env = {"TINYFISH_API_KEY": TINYFISH_KEY, "TINYFISH_BASE_URL": tinyfish.base_url, "RUNTIME__LOG_LEVEL": "DEBUG"}
    result = agent_runs(workdir, "--verbose", "load", env=env)
    assert result.returncode == 1 and "not JSON" in result.stderr
    assert "GET request" in result.stderr  # the requests were logged, the header was not
    assert TINYFISH_KEY not in result.stdout + result.stderr
    assert files_containing(workdir, TINYFISH_KEY) == []


@pytest.mark.runs(tinyfish=150, browserbase=250)  # where keys could leak is not a matter of size
def test_keys_appear_nowhere_after_a_load(
    workdir: Path, tinyfish: TinyFishSimulator, browserbase: BrowserbaseSimulator
) -> None:
    # One key from the environment, one from .dlt/secrets.toml, as users configure them.
    (workdir / ".dlt").mkdir()
    (workdir / ".dlt" / "secrets.toml").write_text(f'[sources.agent_runs]\nbrowserbase_api_key = "{BROWSERBASE_KEY}"\n')
    env = {"TINYFISH_API_KEY": TINYFISH_KEY, "TINYFISH_BASE_URL": tinyfish.base_url}
    env["BROWSERBASE_BASE_URL"] = browserbase.base_url
    result = agent_runs(workdir, "--verbose", "load", env=env)
    assert result.returncode == 0, result.stderr
    counts = {
        name: len(simulator.current_runs())
        for name, simulator in (("tinyfish", tinyfish), ("browserbase", browserbase))
    }
    assert (
        f"Loaded {sum(counts.values()):,} runs (tinyfish {counts['tinyfish']}, browserbase {counts['browserbase']})"
        in result.stdout
    )
    # dbt runs with the same environment, as a scheduler's `load && transform` does (its logs and
    # target/ are written under the pipeline's directory, in workdir).
    built = agent_runs(workdir, "--verbose", "transform", env=env)
    assert built.returncode == 0, built.stderr
    for key in (TINYFISH_KEY, BROWSERBASE_KEY):
        assert key not in result.stdout + result.stderr + built.stdout + built.stderr
        assert [path.name for path in files_containing(workdir, key)] == ["secrets.toml"] * (key == BROWSERBASE_KEY)
    rows = read_runs(workdir / "agent-runs.duckdb")
    assert len(rows) == sum(counts.values())


def test_demo_needs_no_keys_and_prints_a_summary_and_a_query(demo: Path, tmp_path: Path) -> None:
    """The demo (the shared fixture: `agent-runs demo` run once, with no key set) and what it printed."""
    workdir = copy_of(demo, tmp_path)
    printed = (workdir / "demo.out").read_text()
    volumes = {name: int(DEMO_RUNS * share) for name, (share, _, _) in zip(PROVIDERS, DEMO_PLATFORMS, strict=True)}
    per_provider = ", ".join(f"{name} {count}" for name, count in volumes.items())
    assert f"Loaded {sum(volumes.values()):,} runs ({per_provider})" in printed
    assert "SELECT * FROM agent_runs_demo.runs LIMIT 5" in printed
    rows = read_runs(workdir / "agent-runs.duckdb", dataset="agent_runs_demo")
    assert len(rows) == sum(volumes.values())
    # The providers differ as real ones do: volumes, and the share of runs that failed.
    failed = {
        name: sum(row["status"] == "failed" for (p, _), row in rows.items() if p == name) / volumes[name]
        for name in PROVIDERS
    }
    assert len(set(volumes.values())) == len(PROVIDERS) and max(failed.values()) > 2 * min(failed.values())

    # The report rebuilds from the demo's data, with no options or naming the demo's dataset.
    (workdir / "agent-runs-report.html").unlink()
    for args in ([], ["--dataset", "agent_runs_demo"]):
        again = agent_runs(workdir, "report", *args)
        assert again.returncode == 0, again.stderr
        assert (workdir / "agent-runs-report.html").stat().st_size > 10_000
        assert ("using the demo's dataset agent_runs_demo" in again.stdout) == (not args)
        (workdir / "agent-runs-report.html").unlink()


def test_duckdb_out_of_memory_says_how_to_raise_the_limit_and_the_next_load_finishes(
    workdir: Path, browserbase: BrowserbaseSimulator
) -> None:
    env = {"BROWSERBASE_API_KEY": BROWSERBASE_KEY, "BROWSERBASE_BASE_URL": browserbase.base_url}
    starved = agent_runs(
        workdir, "load", env={**env, "DESTINATION__DUCKDB__CREDENTIALS__GLOBAL_CONFIG": '{"memory_limit": "1MB"}'}
    )
    assert starved.returncode == 1
    assert "DuckDB ran out of its memory limit" in starved.stderr
    assert "DESTINATION__DUCKDB__CREDENTIALS__GLOBAL_CONFIG" in starved.stderr

    again = agent_runs(workdir, "load", env=env)
    assert again.returncode == 0, again.stderr
    assert_table_equals_api(workdir, "browserbase", browserbase)


def test_global_options_go_on_either_side_of_the_subcommand(workdir: Path, tinyfish: TinyFishSimulator) -> None:
    env = {"TINYFISH_API_KEY": TINYFISH_KEY, "TINYFISH_BASE_URL": tinyfish.base_url}
    for args in (["-v", "load"], ["load", "-v"], ["load", "--verbose", "--provider", "tinyfish"]):
        result = agent_runs(workdir, *args, env=env)
        assert result.returncode == 0, result.stderr
        assert "INFO" in result.stderr, args  # verbose wherever it stands


def test_an_unknown_destination_is_named_with_the_closest_and_the_known_ones(workdir: Path) -> None:
    result = agent_runs(workdir, "load", "--destination", "duckbd")
    assert result.returncode == 2
    message = result.stderr.strip().splitlines()[-1]
    assert "unknown destination 'duckbd'" in message and "did you mean 'duckdb'?" in message
    assert "postgres" in message and not message.endswith(":")


def test_an_api_out_of_reach_is_named_with_what_to_check_and_leaves_no_database(workdir: Path) -> None:
    with socket.socket() as probe:  # a loopback port nothing listens on: connections are refused
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    env = {"TINYFISH_API_KEY": TINYFISH_KEY, "TINYFISH_BASE_URL": f"http://127.0.0.1:{port}"}
    result = agent_runs(workdir, "load", env=env | {"RUNTIME__REQUEST_MAX_ATTEMPTS": "2"})
    assert result.returncode == 1
    (message,) = [line for line in result.stderr.splitlines() if line.startswith("FAILED: TinyFish (account default)")]
    assert f"TinyFish: could not reach 127.0.0.1:{port} (nothing accepts connections there" in message
    assert "TINYFISH_BASE_URL" in message and "Traceback" not in result.stderr
    assert not (workdir / "agent-runs.duckdb").exists()
