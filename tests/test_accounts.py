"""Several accounts per provider (an agency's Browserbase projects): each named account in
.dlt/secrets.toml gets its own resources and state, and its rows carry its name in `account`."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import dlt
import pytest

from agent_runs import NoProviderConfigured, agent_runs_source
from agent_runs.loading.pipeline import load_runs
from agent_runs.simulators import BrowserbaseSimulator, TinyFishSimulator
from tests.utils import BROWSERBASE_KEY, TINYFISH_KEY, agent_runs, assert_table_equals_api, read_runs

AGENCY_KEY = "bb-agency-key-7c1e9d3b5a2f4e60"


@pytest.fixture
def second_project() -> Iterator[BrowserbaseSimulator]:
    with BrowserbaseSimulator(api_key=AGENCY_KEY, runs=900, future_runs=100, seed=31) as simulator:
        yield simulator


def test_named_accounts_load_side_by_side_with_their_own_cursors(
    workdir: Path, tinyfish: Any, browserbase: BrowserbaseSimulator, second_project: BrowserbaseSimulator
) -> None:
    (workdir / ".dlt").mkdir()
    (workdir / ".dlt" / "secrets.toml").write_text(
        "[sources.agent_runs.accounts.client_b]\n"
        f'provider = "browserbase"\napi_key = "{AGENCY_KEY}"\nbase_url = "{second_project.base_url}"\n'
    )
    env = {
        "TINYFISH_API_KEY": TINYFISH_KEY,
        "TINYFISH_BASE_URL": tinyfish.base_url,
        "BROWSERBASE_API_KEY": BROWSERBASE_KEY,
        "BROWSERBASE_BASE_URL": browserbase.base_url,
    }
    first = agent_runs(workdir, "load", env=env)
    assert first.returncode == 0, first.stderr
    both_projects = len(browserbase.current_runs()) + len(second_project.current_runs())
    assert f"browserbase {both_projects:,}" in first.stdout  # summed over the provider's accounts
    assert_table_equals_api(workdir, "tinyfish", tinyfish)
    assert_table_equals_api(workdir, "browserbase", browserbase)
    assert_table_equals_api(workdir, "browserbase", second_project, account="client_b")

    # Only client_b has new runs: only its cursor moves, the others ask for nothing new.
    second_project.clock.advance(3 * 3600)
    browserbase.requests.clear()
    second_project.requests.clear()
    again = agent_runs(workdir, "load", env=env)
    assert again.returncode == 0, again.stderr
    assert_table_equals_api(workdir, "browserbase", second_project, account="client_b")
    assert_table_equals_api(workdir, "browserbase", browserbase)
    assert sum(request.records for request in second_project.requests) >= 100
    assert AGENCY_KEY not in first.stdout + first.stderr + again.stdout + again.stderr
    rows = read_runs(workdir / "agent-runs.duckdb")
    assert {row["account"] for row in rows.values()} == {"default", "client_b"}


def test_accounts_are_extracted_at_the_same_time(workdir: Path) -> None:
    # Pages answered 20 ms late; one account after the other, the first would be walked to its end
    # (30 pages) before the second's first request. At the same time, their listings overlap.
    with (
        TinyFishSimulator(api_key="tf-key-one", runs=3000, seed=41, latency_s=0.02) as one,
        TinyFishSimulator(api_key="tf-key-two", runs=3000, seed=42, latency_s=0.02) as two,
    ):
        accounts = {
            name: {"provider": "tinyfish", "api_key": simulator.api_key, "base_url": simulator.base_url}
            for name, simulator in (("one", one), ("two", two))
        }
        load_runs(source=agent_runs_source(accounts=accounts, workers=1))  # one walk each
        assert_table_equals_api(workdir, "tinyfish", one, account="one")
        assert_table_equals_api(workdir, "tinyfish", two, account="two")
    listing_one, listing_two = ([request.answered_at for request in sim.requests] for sim in (one, two))
    assert len(listing_one) >= 30 and len(listing_two) >= 30
    assert listing_two[0] < listing_one[-1] and listing_one[0] < listing_two[-1]


@pytest.mark.parametrize(
    ("accounts", "complaint"),
    [
        ({"Client B": {"provider": "browserbase", "api_key": "k"}}, "account names"),
        ({"client_b": {"provider": "openai", "api_key": "k"}}, "needs provider"),
        ({"client_b": {"provider": "browserbase"}}, "api_key"),
    ],
)
def test_a_misconfigured_account_is_a_configuration_error(
    accounts: dict[str, Any], complaint: str, workdir: Path
) -> None:
    with pytest.raises(NoProviderConfigured, match=complaint):
        dlt.pipeline("check", destination="duckdb").extract(agent_runs_source(accounts=accounts))
