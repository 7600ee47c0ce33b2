"""The registry and the one-module rule: everything about a provider's API (paths, headers,
parameter and field names, its name) is in its provider module and its simulator, nowhere else in
the package; the installed wheel holds the single package `agent_runs`."""

from __future__ import annotations

import re
import subprocess
import sys
import zipfile
from datetime import UTC, datetime
from pathlib import Path

import pytest

import agent_runs
from agent_runs.analytics.dbt_package import package_files
from agent_runs.analytics.views import ALL_VIEWS
from agent_runs.demo import DEMO_PLATFORMS
from agent_runs.providers import PROVIDERS, CursorPaging, Provider
from agent_runs.rows.schema import RUNS_COLUMNS
from agent_runs.settings import TABLE_NAME
from agent_runs.simulators import simulator_class
from tests.utils import cli_env

PACKAGE = Path(agent_runs.__file__).parent
REPOSITORY = PACKAGE.parent.parent


def own_files(name: str) -> set[Path]:
    return {PACKAGE / "providers" / f"{name}.py", PACKAGE / "simulators" / f"{name}.py"}


def wire_names(provider: Provider) -> set[str]:
    """The names the API defines: query parameters, body and record keys (those that are not
    also `runs` column names, which the unified schema uses for itself)."""
    moment = datetime(2026, 1, 1, tzinfo=UTC)
    names: set[str] = set()
    for run_list in provider.lists:
        names |= {*run_list.window_params(moment, moment), run_list.page_size_param, run_list.records_path}
        names |= {key for open_filter in run_list.open_run_filters for key in open_filter}
        names |= {key for path in run_list.fields.values() for key in path}
        names |= {*run_list.detail_only_fields, *run_list.secret_fields}
        if run_list.lookup_params is not None:
            names |= set(run_list.lookup_params("x"))
        paging = run_list.paging
        if isinstance(paging, CursorPaging):
            names |= {paging.cursor_param, *paging.cursor_path.split("."), *(paging.has_more_path or "").split(".")}
        else:
            names.add(paging.page_param)
    return names - set(RUNS_COLUMNS) - {TABLE_NAME, ""}  # `runs` is the table's name too


def paths(provider: Provider) -> set[str]:
    """Its endpoint paths (without the id of a get-by-id) and its auth header."""
    found = {provider.api_key_header}
    for run_list in provider.lists:
        found.add(run_list.runs_path)
        if run_list.run_path_template is not None:
            found.add(run_list.run_path_template.split("{")[0].rstrip("/"))
    return found


def places(needle: re.Pattern[str], files: set[Path]) -> list[str]:
    return [
        f"{path.relative_to(PACKAGE)}:{number}: {line.strip()}"
        for path in sorted(files)
        for number, line in enumerate(path.read_text().splitlines(), 1)
        if needle.search(line)
    ]


@pytest.mark.parametrize("name", list(PROVIDERS))
def test_a_provider_is_named_only_in_its_own_modules(name: str) -> None:
    provider = PROVIDERS[name]
    every_file = set(PACKAGE.rglob("*.py"))
    registries = {PACKAGE / "providers" / "__init__.py", PACKAGE / "simulators" / "__init__.py"}
    provider_modules = {path for path in every_file if path.parent.name in ("providers", "simulators")}
    shared = every_file - provider_modules | {PACKAGE / "providers" / "base.py", PACKAGE / "simulators" / "core.py"}
    # Its name: nowhere but its modules and the registries, not even in a docstring.
    for text in (provider.name, provider.display_name):
        pattern = re.compile(rf"\b{re.escape(text)}\b", re.IGNORECASE)
        assert places(pattern, every_file - own_files(name) - registries) == [], text
    # Its paths, its auth header, its wire names (as string literals): not in the shared code
    # (another provider's module may use the same path or word).
    for text in paths(provider):
        assert places(re.compile(re.escape(text)), shared) == [], text
    for key in wire_names(provider):
        assert places(re.compile(rf"""["']{re.escape(key)}["']"""), shared) == [], key


def test_the_registry_gives_every_provider_a_simulator_and_settings_of_its_own() -> None:
    assert list(PROVIDERS) and all(PROVIDERS[name].name == name for name in PROVIDERS)
    for name, provider in PROVIDERS.items():
        assert simulator_class(name).auth_header == provider.api_key_header
        assert provider.api_key_variable == f"{name.upper()}_API_KEY"
        for run_list in provider.lists:
            assert set(run_list.fields) <= set(RUNS_COLUMNS) and "run_id" in run_list.fields
            assert set(run_list.status_map.values()) <= agent_runs.UNIFIED_STATUSES
            assert run_list.run_path_template or run_list.lookup_params, "a way to fetch one run"
        assert len({run_list.name for run_list in provider.lists}) == len(provider.lists)
    variables = [provider.api_key_variable for provider in PROVIDERS.values()]
    assert len(set(variables)) == len(variables)


def test_the_command_offers_every_provider() -> None:
    from click.testing import CliRunner

    from agent_runs.cli import cli

    help_text = CliRunner().invoke(cli, ["load", "--help"]).output
    assert all(name in help_text for name in PROVIDERS)


@pytest.mark.long
def test_the_wheel_holds_the_single_package_agent_runs_and_its_command_works(tmp_path: Path) -> None:
    """What a regular install gets: only `agent_runs` at the top level, and everything the command
    needs inside it (the demo runs from the unpacked wheel, not from this checkout)."""
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--no-deps",
            "--no-build-isolation",
            "-w",
            str(tmp_path),
            str(REPOSITORY),
        ],
        check=True,
        capture_output=True,
    )
    (wheel,) = tmp_path.glob("agent_runs-*.whl")
    with zipfile.ZipFile(wheel) as archive:
        names = archive.namelist()
        entry_points = archive.read(next(name for name in names if name.endswith("entry_points.txt"))).decode()
        archive.extractall(tmp_path / "site")
    top_level = {name.split("/")[0] for name in names if not name.split("/")[0].endswith(".dist-info")}
    assert top_level == {"agent_runs"}
    assert "agent-runs = agent_runs.cli:main" in entry_points

    site, workdir = tmp_path / "site", tmp_path / "work"
    workdir.mkdir()

    def from_the_wheel(*args: str) -> subprocess.CompletedProcess[str]:
        """`agent-runs ARGS`, imported from the unpacked wheel, not from this checkout."""
        command = (
            "import sys, agent_runs.cli as cli; "
            f"assert cli.__file__.startswith({str(site)!r}), cli.__file__; "
            f"sys.argv = ['agent-runs', *{list(args)!r}]; cli.main()"
        )
        return subprocess.run(
            [sys.executable, "-c", command],
            cwd=workdir,
            env=cli_env({"PYTHONPATH": str(site)}, workdir),
            capture_output=True,
            text=True,
            timeout=300,
        )

    result = from_the_wheel("demo", "--runs", "200")
    assert result.returncode == 0, result.stderr
    assert f"Loaded {sum(int(200 * share) for share, _, _ in DEMO_PLATFORMS):,} runs" in result.stdout

    # The dbt package came with it, and builds from there.
    assert {f"agent_runs/analytics/dbt/{path}" for path in [*package_files(), "dbt_project.yml"]} <= set(names)
    result = from_the_wheel("transform")
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr
    assert f"Built {len(ALL_VIEWS)} models" in result.stdout


# Error bodies as each API sends them (its OpenAPI error schemas and SDK errors), and what a user is told.
ERROR_BODIES = [
    ("tinyfish", {"error": {"code": "UNAUTHORIZED", "message": "Invalid API key"}}, "Invalid API key"),
    ("browserbase", {"statusCode": 429, "error": "Too Many Requests", "message": "Rate limit"}, "Rate limit"),
    ("browser_use", {"detail": "Task not found"}, "Task not found"),
    ("browser_use", {"detail": {"message": "Account not found"}}, "Account not found"),
    (
        "browser_use",
        {"detail": [{"loc": ["query", "after"], "msg": "invalid datetime", "type": "x"}]},
        "invalid datetime",
    ),
    ("skyvern", {"detail": "Run not found"}, "Run not found"),
    ("skyvern", {"detail": [{"loc": ["query", "page"], "msg": "must be >= 1", "type": "x"}]}, "must be >= 1"),
    ("tinyfish", {"error": "a string, not the documented object"}, None),
    ("skyvern", ["not", "an", "object"], None),
]


@pytest.mark.parametrize(("provider", "body", "message"), ERROR_BODIES)
def test_an_error_body_is_read_at_the_declared_paths(provider: str, body: object, message: str | None) -> None:
    assert PROVIDERS[provider].error_message(body) == message
