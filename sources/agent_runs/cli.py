"""`agent-runs`: a thin command over the package's functions (`load_runs`, `verify_runs`, `run_demo`,
`write_report`, `transform_pipeline`). Exit codes: 0 loaded (or, for verify, the table equals the API), 1 the load failed
(nothing committed is lost: the next run resumes from the last committed state) or could not be
verified, 2 bad usage or configuration (nothing was requested or written), 3 verify found drift,
4 some accounts failed and every other one loaded (exits.py)."""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any, TextIO

# The command's process is ours: Arrow takes the system allocator from its first buffer (it reads
# this when first imported). mimalloc keeps memory per thread; the system allocator gives it back
# at once, so a first load peaks lower. A library sets no process-wide state: load_runs leaves it be.
os.environ.setdefault("ARROW_DEFAULT_MEMORY_POOL", "system")

import click
import yaml
from dlt.common.configuration.exceptions import ConfigurationException
from dlt.destinations.exceptions import DatabaseException
from dlt.pipeline.exceptions import PipelineStepFailed
from dlt.pipeline.pipeline import Pipeline

from agent_runs.demo import DEMO_DATASET, DEMO_RUNS_PER_PROVIDER, run_demo, status_counts
from agent_runs.errors import LoadAlreadyRunning, NoProviderConfigured, NoRunsLoaded, ProviderError
from agent_runs.exits import (
    EXIT_BAD_CONFIG,
    EXIT_DRIFT,
    EXIT_LOAD_FAILED,
    EXIT_SOME_FAILED,
    check_destination,
    fail,
    root_cause,
    run_load,
)
from agent_runs.loading.loaded import has_loaded
from agent_runs.loading.pipeline import load_runs, make_pipeline, require_runs_table
from agent_runs.providers import PROVIDERS
from agent_runs.resources.source import utc_moment
from agent_runs.settings import DATASET_NAME, DEFAULT_DUCKDB_FILE, RELIST_LAG, SOURCE_NAME, TABLE_NAME

REPORT = Path("agent-runs-report.html")


class UtcDateTime(click.ParamType):
    """A date or ISO 8601 date-time; one with no offset is read as UTC."""

    name = "datetime"

    def convert(self, value: object, param: click.Parameter | None, ctx: click.Context | None) -> datetime:
        try:
            return utc_moment(value, "")
        except ValueError:
            self.fail(
                f"{value!r} is not a date or ISO 8601 date-time (e.g. 2026-01-31 or 2026-01-31T12:00:00Z)", param, ctx
            )


class DbtVariable(click.ParamType):
    """NAME=VALUE, the value read as dbt's --vars reads it (3 is a number)."""

    name = "NAME=VALUE"

    def convert(self, value: object, param: click.Parameter | None, ctx: click.Context | None) -> tuple[str, Any]:
        name, equals, text = str(value).partition("=")
        if not equals or not name:
            self.fail(f"{value!r} is not NAME=VALUE", param, ctx)
        return name, yaml.safe_load(text)


PROGRESS_OPTION = click.option(
    "--progress/--no-progress",
    default=sys.stderr.isatty(),
    help="Report progress on stderr every few seconds (default: when stderr is a terminal).",
)


def set_verbose(ctx: click.Context, param: click.Parameter, verbose: bool) -> None:
    """Logging at INFO for -v, WARNING otherwise; -v may come before or after the subcommand."""
    if verbose or not logging.getLogger().handlers:
        logging.basicConfig(
            level=logging.INFO if verbose else logging.WARNING,
            format="%(levelname)s %(name)s: %(message)s",
            force=verbose,
        )


VERBOSE_OPTION = click.option(
    "-v",
    "--verbose",
    is_flag=True,
    expose_value=False,
    is_eager=True,
    callback=set_verbose,
    help="Log what the connector does (never the keys).",
)


def providers_option(verb: str) -> Callable[[Any], Any]:
    return click.option(
        "--provider",
        "providers",
        multiple=True,
        type=click.Choice(sorted(PROVIDERS)),
        help=f"{verb} only this provider (repeatable). Default: every provider with a key.",
    )


@click.group()
@VERBOSE_OPTION
def cli() -> None:
    """Load web-agent run history from every provider into one `runs` table."""


@cli.command()
@VERBOSE_OPTION
@providers_option("Load")
@click.option(
    "--destination",
    default="duckdb",
    show_default=True,
    help=f"Any dlt destination; duckdb writes ./{DEFAULT_DUCKDB_FILE}, filesystem writes a Delta table of Parquet files.",
)
@click.option("--dataset", default=DATASET_NAME, show_default=True, help="Dataset (schema) to load into.")
@click.option("--since", type=UtcDateTime(), help="First load: only runs created at or after this time.")
@click.option("--until", type=UtcDateTime(), help="Only runs created before this time (a bounded backfill).")
@click.option("--full-refresh", is_flag=True, help="Drop the loaded runs and the cursor, and load everything again.")
@click.option(
    "--open-runs-max-age-days",
    type=click.FloatRange(min=0, min_open=True),
    default=None,
    help="Stop following open runs created this many days before the newest loaded run (their last-seen "
    "row stays). Default: follow every open run until the API shows it ended or gone.",
)
@click.option(
    "--lag-minutes",
    type=click.FloatRange(min=0),
    default=RELIST_LAG.total_seconds() / 60,
    show_default=True,
    help="List again the runs created this long before the newest loaded one: runs the API shows late.",
)
@click.option(
    "--workers",
    type=click.IntRange(min=1),
    default=None,
    help="Walk a long history (a first load, a backfill) as this many concurrent created-at windows per provider "
    "(1: one walk). Default: a long range is walked at once (windows, or pages) once its first page shows it is "
    "long, as fast as the API's rate limit allows.",
)
@click.option(
    "--json",
    "json_out",
    type=click.File("w"),
    default=None,
    help="Also write the load's summary as JSON to this file (`-`: standard output, the text summary then goes "
    "to standard error): per account, runs loaded, open runs refreshed and followed, status and error.",
)
@click.option(
    "--steps/--no-steps",
    default=True,
    show_default=True,
    help="Load what each run did step by step into `run_steps`: the steps of every run that ends from the first "
    "load with steps on.",
)
@click.option(
    "--steps-since",
    type=UtcDateTime(),
    default=None,
    help="Also read the steps of the runs that ended since this time (a backfill of runs loaded before; done once).",
)
@PROGRESS_OPTION
def load(
    providers: tuple[str, ...],
    destination: str,
    dataset: str,
    since: datetime | None,
    until: datetime | None,
    full_refresh: bool,
    open_runs_max_age_days: float | None,
    lag_minutes: float,
    workers: int | None,
    json_out: TextIO | None,
    steps: bool,
    steps_since: datetime | None,
    progress: bool,
) -> None:
    """Load runs created since the last load (the whole history the first time).

    Exit 0: every account is current; 4: some accounts failed (named), the others loaded; 1:
    nothing could be loaded; 2: bad configuration."""
    checked_options(since, until, destination, progress)
    summary = run_load(
        lambda: load_runs(
            providers=list(providers) or None,
            destination=destination,
            dataset_name=dataset,
            since=since,
            until=until,
            full_refresh=full_refresh,
            open_runs_max_age_days=open_runs_max_age_days,
            lag_minutes=lag_minutes,
            workers=workers,
            progress=progress,
            steps=steps,
            steps_since=steps_since,
        )
    )
    if json_out is not None:
        json_out.write(summary.as_json() + "\n")
    click.echo(summary, err=json_out is not None and json_out.name == "<stdout>")
    for line in summary.failure_lines():
        click.echo(line, err=True)
    if summary.nothing_loaded:
        sys.exit(EXIT_LOAD_FAILED)
    if summary.failed:
        sys.exit(EXIT_SOME_FAILED)


@cli.command()
@VERBOSE_OPTION
@click.option("--runs", default=DEMO_RUNS_PER_PROVIDER, show_default=True, help="Generated runs per provider.")
@PROGRESS_OPTION
def demo(runs: int, progress: bool) -> None:
    """Load generated runs from every provider's bundled simulator into ./agent-runs.duckdb; no keys needed."""
    summary = run_load(lambda: run_demo(runs_per_provider=runs, progress=progress))
    click.echo(summary)
    click.echo(f"\nRuns by status (SELECT provider, status, count(*) FROM {summary.dataset_name}.runs GROUP BY ALL):")
    for provider, status, count in status_counts(summary):
        click.echo(f"  {provider:<12} {status:<10} {count:>7,}")
    query = f"SELECT * FROM {summary.dataset_name}.runs LIMIT 5"
    python_query = f"import duckdb; duckdb.connect('{summary.location}').sql('{query}').show()"
    click.echo(f'\nQuery it yourself:  .venv/bin/python -c "{python_query}"')
    from agent_runs.analytics.report import write_report  # charting libraries load only for the report

    report = write_report(make_pipeline(summary.destination, summary.dataset_name, summary.pipeline_name)[0], REPORT)
    click.echo(f"Report (open it in a browser):  {report}")


@cli.command()
@VERBOSE_OPTION
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path), default=REPORT, show_default=True)
@click.option("--destination", default="duckdb", show_default=True, help="Where the runs were loaded.")
@click.option(
    "--dataset",
    default=None,
    help=f"Dataset the runs were loaded into. Default: {DATASET_NAME}, or the demo's {DEMO_DATASET} if only it has runs.",
)
def report(out: Path, destination: str, dataset: str | None) -> None:
    """Write one self-contained HTML report (charts of runs, outcomes, durations, failures, open runs)."""
    from agent_runs.analytics.report import write_report  # charting libraries load only for the report

    check_destination(destination)
    pipeline = loaded_pipeline(destination, dataset)
    click.echo(f"Report written to {write_report(pipeline, out)}")


@cli.command()
@VERBOSE_OPTION
@click.option("--destination", default="duckdb", show_default=True, help="Where the runs were loaded.")
@click.option(
    "--dataset",
    default=None,
    help=f"Dataset the runs were loaded into. Default: {DATASET_NAME}, or the demo's {DEMO_DATASET} if only it has runs.",
)
@click.option("--schema", default=None, help="Where the models are built. Default: the dataset's name + _dbt.")
@click.option(
    "--var",
    "dbt_vars",
    type=DbtVariable(),
    multiple=True,
    help="A dbt variable, e.g. --var agent_runs_warn_after_hours=3 (repeatable).",
)
def transform(destination: str, dataset: str | None, schema: str | None, dbt_vars: tuple[tuple[str, Any], ...]) -> None:
    """Build the dbt package (models: the analytics views; tests: the `runs` contract) with dbt:
    exit 0 when every model and test passes, 1 naming what failed (`pip install "agent-runs[dbt]"`)."""
    from agent_runs.analytics.transform import TransformError, TransformFailed, transform_pipeline

    check_destination(destination)
    pipeline = loaded_pipeline(destination, dataset)
    try:
        result = transform_pipeline(pipeline, schema=schema, dbt_vars=dict(dbt_vars))
    except TransformError as error:
        fail(str(error), EXIT_BAD_CONFIG)
    except (TransformFailed, LoadAlreadyRunning) as error:
        fail(str(error), EXIT_LOAD_FAILED)
    click.echo(result)


@cli.command()
@VERBOSE_OPTION
@providers_option("Verify")
@click.option("--destination", default="duckdb", show_default=True, help="Where the runs were loaded.")
@click.option("--dataset", default=DATASET_NAME, show_default=True, help="Dataset the runs were loaded into.")
@click.option("--since", type=UtcDateTime(), help="Only runs created at or after this time.")
@click.option("--until", type=UtcDateTime(), help="Only runs created at or before this time.")
@click.option("--repair", is_flag=True, help="Write the API's view of every drifted run, through the same merge.")
@click.option(
    "--json",
    "json_out",
    type=click.Path(dir_okay=False, allow_dash=True, path_type=Path),
    help="Also write the drift report as JSON to this file (- for stdout), for monitors.",
)
@click.option("--workers", type=click.IntRange(min=1), default=None, help="As for load: how a long history is walked.")
@PROGRESS_OPTION
def verify(
    providers: tuple[str, ...],
    destination: str,
    dataset: str,
    since: datetime | None,
    until: datetime | None,
    repair: bool,
    json_out: Path | None,
    workers: int | None,
    progress: bool,
) -> None:
    """Compare the `runs` table with what the APIs say now: exit 0 if equal, 3 on drift (with --repair:
    0 once repaired), 1 if it could not be verified."""
    from agent_runs.loading.verify import verify_runs

    checked_options(since, until, destination, progress)
    try:
        result = verify_runs(
            providers=list(providers) or None,
            destination=destination,
            dataset_name=dataset,
            since=since,
            until=until,
            repair=repair,
            workers=workers,
            progress=progress,
        )
    except (NoProviderConfigured, ConfigurationException) as error:
        fail(str(error), EXIT_BAD_CONFIG)
    except LoadAlreadyRunning as error:
        fail(str(error), EXIT_LOAD_FAILED)
    except (ProviderError, DatabaseException) as error:
        fail(f"could not verify: {error}", EXIT_LOAD_FAILED)
    except PipelineStepFailed as error:
        fail(f"could not repair: {root_cause(error)}", EXIT_LOAD_FAILED)
    click.echo(result)
    if json_out is not None:
        if str(json_out) == "-":
            click.echo(result.as_json())
        else:
            json_out.write_text(result.as_json() + "\n")
    if result.drifted and not result.repaired:
        sys.exit(EXIT_DRIFT)


def loaded_pipeline(destination: str, dataset: str | None) -> Pipeline:
    """The pipeline of the dataset (default: ours, or after `agent-runs demo` the demo's), which
    must have loaded runs."""
    pipeline, location = make_pipeline(destination, dataset or DATASET_NAME)
    if dataset is None and not has_loaded(pipeline, TABLE_NAME):
        demo_pipeline, _ = make_pipeline(destination, DEMO_DATASET)
        if has_loaded(demo_pipeline, TABLE_NAME):
            click.echo(f"No runs loaded into dataset {DATASET_NAME} yet: using the demo's dataset {DEMO_DATASET}.")
            return demo_pipeline
    try:
        require_runs_table(pipeline, location)
    except NoRunsLoaded as error:
        fail(str(error), EXIT_BAD_CONFIG)
    return pipeline


def checked_options(since: datetime | None, until: datetime | None, destination: str, progress: bool) -> None:
    """Refuse a range that ends before it starts and an unknown destination, before any request;
    with --progress, also say how far a long walk is and how long it will take."""
    if since and until and since >= until:
        raise click.BadParameter(f"--since ({since.isoformat()}) must be before --until ({until.isoformat()})")
    check_destination(destination)
    if progress:
        logging.getLogger(SOURCE_NAME).setLevel(min(logging.INFO, logging.getLogger(SOURCE_NAME).getEffectiveLevel()))


def main() -> None:
    cli()


if __name__ == "__main__":
    main()
