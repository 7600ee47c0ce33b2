"""What a load did: per account and run list the runs written, the open runs refreshed and still
followed, and what failed (from the listing resources' state); the summary the command prints and
writes for monitors (`--json`), and `load_runs()` returns."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field

from dlt.extract import DltSource
from dlt.pipeline.pipeline import Pipeline

from agent_runs.providers import PROVIDERS
from agent_runs.resources.isolation import FAILURES_KEY, REFRESH_KEY
from agent_runs.sending.accounts import owner_of
from agent_runs.settings import SOURCE_NAME, STEPS_TABLE_NAME, TABLE_NAME


@dataclass
class AccountOutcome:
    """What a load did for one run list of one account: runs written, open runs refreshed and still
    followed, and what failed (nothing: `status` ok)."""

    provider: str
    account: str
    run_family: str
    runs_loaded: int = 0
    open_runs_refreshed: int = 0
    open_runs_following: int = 0
    runs_steps_read: int = 0  # runs whose steps this load read (new, ended, or backfilled)
    failures: list[dict[str, str]] = field(default_factory=list)  # {where, reason, at}

    @property
    def status(self) -> str:
        return "failed" if self.failures else "ok"


@dataclass
class LoadSummary:
    """What a load did, for the command's summary and for callers that check it."""

    runs_by_provider: dict[str, int]
    seconds: float
    destination: str
    dataset_name: str
    pipeline_name: str
    location: str
    load_ids: list[str] = field(default_factory=list)
    finished_interrupted: list[str] = field(default_factory=list)  # load ids a killed load had left
    open_runs_refresh: dict[str, dict[str, int]] = field(default_factory=dict)  # per account, see open_runs.py
    accounts: list[AccountOutcome] = field(default_factory=list)  # per account and run list

    @property
    def total_runs(self) -> int:
        return sum(self.runs_by_provider.values())

    @property
    def failed(self) -> list[AccountOutcome]:
        return [outcome for outcome in self.accounts if outcome.failures]

    @property
    def nothing_loaded(self) -> bool:
        return nothing_loaded(self.accounts)

    def as_json(self) -> str:
        """The summary for monitors: totals, and per account and run list what it did or why it failed."""
        return json.dumps(
            {
                "status": "failed" if self.nothing_loaded else "partial" if self.failed else "ok",
                "runs_loaded": self.total_runs,
                "seconds": round(self.seconds, 3),
                "destination": self.destination,
                "dataset": self.dataset_name,
                "load_ids": self.load_ids,
                "accounts": [
                    {
                        **{key: value for key, value in vars(outcome).items() if key != "failures"},
                        "status": outcome.status,
                        "errors": outcome.failures,
                    }
                    for outcome in self.accounts
                ],
            },
            indent=2,
        )

    def __str__(self) -> str:
        per_provider = ", ".join(f"{name} {count:,}" for name, count in self.runs_by_provider.items())
        lines = []
        if self.finished_interrupted:
            lines.append(
                f"Finished {len(self.finished_interrupted)} load package(s) an interrupted load had left "
                f"({', '.join(self.finished_interrupted)}), then loaded what is new."
            )
        lines += [
            f"Loaded {self.total_runs:,} runs ({per_provider}) into {self.destination} "
            f"{self.location} dataset {self.dataset_name}, table {TABLE_NAME}, in {self.seconds:.1f} s"
        ]
        steps_read = sum(outcome.runs_steps_read for outcome in self.accounts)
        if steps_read:
            lines.append(f"Read the steps of {steps_read:,} runs into table {STEPS_TABLE_NAME}")
        for name, report in self.open_runs_refresh.items():
            if report.get("open") or report.get("following"):
                given_up = f", {report['given_up']:,} past the age limit" if report.get("given_up") else ""
                if report.get("settling"):
                    given_up += f", {report['settling']:,} ended lately read again (late fields)"
                lines.append(
                    f"  {name}: refreshed {report.get('open', 0):,} open runs: {report.get('by_listing', 0):,} by "
                    f"re-listing ({report.get('listing_pages', 0):,} pages), {report.get('by_id', 0):,} fetched by "
                    f"id, {report.get('missing', 0):,} gone from the API{given_up}; "
                    f"following {report['following']:,} open runs until they end"
                )
        return "\n".join(lines)

    def failure_lines(self) -> list[str]:
        return failure_lines(self.accounts)


def nothing_loaded(outcomes: Sequence[AccountOutcome]) -> bool:
    """Every account failed (in one of its run lists at least)."""
    failed = {(outcome.provider, outcome.account) for outcome in outcomes if outcome.failures}
    return bool(failed) and failed == {(outcome.provider, outcome.account) for outcome in outcomes}


def failure_lines(outcomes: Sequence[AccountOutcome]) -> list[str]:
    """Each failure of an account in a load, in a line (none: every account is current)."""
    lines = [f"FAILED: {failure['where']}: {failure['reason']}" for o in outcomes for failure in o.failures]
    if lines:
        lines.append("The accounts that failed keep their cursors; the next load that reaches them catches up.")
    return lines


def open_runs_reports(pipeline: Pipeline, source: DltSource) -> dict[str, dict[str, int]]:
    """What each account's open-runs refresh did in this load (kept in its listing resource's
    state), by `<provider>` for the default account and `<provider>_<account>` for named ones."""
    resources = pipeline.state.get("sources", {}).get(SOURCE_NAME, {}).get("resources", {})
    reports = {}
    for name in listing_resources(source):
        state = resources.get(name, {})
        report = dict(state.get(REFRESH_KEY, {}))
        # still open of the runs followed before, and the open runs this load listed first
        report["following"] = report.get("still_open", 0) + state.get("listed_open", 0)
        reports[name.removesuffix("_runs")] = report
    return reports


def account_outcomes(
    pipeline: Pipeline,
    source: DltSource,
    by_list: dict[tuple[str, str, str], int],
    reports: dict[str, dict[str, int]] | None = None,
) -> list[AccountOutcome]:
    """What the load did for each account's run list: the rows it wrote (`by_list`), its open-runs
    refresh (`reports`, open_runs_reports: read from the state if not given) and the failures its
    listing's state keeps."""
    resources = pipeline.state.get("sources", {}).get(SOURCE_NAME, {}).get("resources", {})
    reports = open_runs_reports(pipeline, source) if reports is None else reports
    outcomes = []
    for name in listing_resources(source):
        owner = owner_of(name)
        if owner is None:
            continue
        report = reports[name.removesuffix("_runs")]
        outcomes.append(
            AccountOutcome(
                *owner,
                runs_loaded=by_list.get(owner, 0),
                open_runs_refreshed=report.get("open", 0),
                open_runs_following=report["following"],
                runs_steps_read=report.get("steps_read", 0) + resources.get(name, {}).get("steps_read", 0),
                failures=list(resources.get(name, {}).get(FAILURES_KEY, {}).values()),
            )
        )
    return outcomes


def listing_resources(source: DltSource) -> list[str]:
    """The listing resources (`<prefix>_runs`): not the open-runs refresh's, nor the steps'."""
    return [name for name in source.selected_resources if name.endswith("_runs") and not name.endswith("_open_runs")]


def runs_by_provider(source: DltSource, by_list: dict[tuple[str, str, str], int]) -> dict[str, int]:
    """The runs written per provider (every provider of the source, 0 if none), from the runs
    written per account and run list."""
    counts = dict.fromkeys(providers_of(source), 0)
    for (provider, _, _), count in by_list.items():
        counts[provider] = counts.get(provider, 0) + count
    return counts


def providers_of(source: DltSource) -> list[str]:
    listed = listing_resources(source)
    return [name for name in PROVIDERS if any(resource.startswith(f"{name}_") for resource in listed)]
