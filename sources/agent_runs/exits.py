"""How a command fails: an unknown destination refused before any request, a failed load turned
into one clear line (the cause dlt wrapped, and what to do), and the documented exit code."""

from __future__ import annotations

import difflib
import sys
from collections.abc import Callable

import click
from dlt.common.configuration.exceptions import ConfigurationException
from dlt.pipeline.exceptions import PipelineStepFailed

from agent_runs.errors import LoadAlreadyRunning, NoProviderConfigured, ProviderError
from agent_runs.loading.summary import LoadSummary

EXIT_LOAD_FAILED = 1
EXIT_BAD_CONFIG = 2
EXIT_DRIFT = 3  # verify: the table differs from what the API says
EXIT_SOME_FAILED = 4  # load: some accounts failed, every other one loaded


def check_destination(name: str) -> None:
    """Refuse an unknown destination before anything is requested."""
    import dlt.destinations
    from dlt.common.destination.reference import DestinationReference

    try:
        DestinationReference.from_reference(name)
    except Exception as error:  # dlt raises several types for an unknown or uninstalled destination
        known = sorted(set(dlt.destinations.__all__) - {"destination"})
        if name in known:  # known to dlt, but its client library is not installed
            reason = str(error).strip().splitlines()[0].rstrip(":")
            raise click.BadParameter(
                f"destination {name!r} cannot be used here: {reason}", param_hint="--destination"
            ) from None
        close = difflib.get_close_matches(name, known, n=1)
        hint = f"did you mean {close[0]!r}? " if close else ""
        raise click.BadParameter(
            f"unknown destination {name!r}; {hint}dlt knows {', '.join(known)}", param_hint="--destination"
        ) from None


def run_load(load: Callable[[], LoadSummary]) -> LoadSummary:
    """Run a load, turning failures into one clear line and the documented exit code."""
    try:
        return load()
    except NoProviderConfigured as error:
        fail(str(error), EXIT_BAD_CONFIG)
    except LoadAlreadyRunning as error:
        fail(str(error), EXIT_LOAD_FAILED)
    except PipelineStepFailed as error:
        cause = root_cause(error)
        if isinstance(cause, NoProviderConfigured | ConfigurationException):
            fail(str(cause), EXIT_BAD_CONFIG)
        what = str(cause) if isinstance(cause, ProviderError) else f"{type(cause).__name__}: {cause}"
        if is_duckdb_out_of_memory(cause):
            what = DUCKDB_OUT_OF_MEMORY.format(duckdb_says=str(cause).splitlines()[0])
        fail(f"Load failed in the {error.step} step: {what}", EXIT_LOAD_FAILED)
    except ConfigurationException as error:
        fail(str(error), EXIT_BAD_CONFIG)
    raise AssertionError("unreachable")


DUCKDB_OUT_OF_MEMORY = (
    "DuckDB ran out of its memory limit ({duckdb_says}). Raise it, e.g. "
    'DESTINATION__DUCKDB__CREDENTIALS__GLOBAL_CONFIG=\'{{"memory_limit": "1GB"}}\' or '
    'global_config = {{memory_limit = "1GB"}} under [destination.duckdb.credentials], and run the '
    "load again: it finishes this one first. Nothing loaded before is lost."
)


def is_duckdb_out_of_memory(cause: BaseException) -> bool:
    import duckdb  # only on this failure path: the command starts without it

    return isinstance(cause, duckdb.OutOfMemoryException)


def root_cause(error: BaseException) -> BaseException:
    """The innermost error dlt wrapped, or the first of ours on the way down."""
    while True:
        if isinstance(error, ProviderError):
            return error
        inner = getattr(error, "exception", None) or error.__cause__
        if inner is None or inner is error:
            return error
        error = inner


def fail(message: str, exit_code: int) -> None:
    click.echo(f"agent-runs: {message}", err=True)
    sys.exit(exit_code)
