"""One account's failure stops that account only: each resource of an account runs isolated, so a
rejected key, an outage that outlasts the retries, a page that cannot be trusted or any other
error of its API ends that resource alone. Its state (cursor, re-read window, refresh report) is
put back as it was before the load, the failure is recorded in its listing's state (what the
load's summary reports), and every other account's runs are loaded and committed in the same load.
The next good load of the account then catches up from where it was."""

from __future__ import annotations

import copy
import functools
import logging
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from typing import Any, TypeVar

import dlt
from dlt.destinations.exceptions import DatabaseException

from agent_runs.errors import NoProviderConfigured, ProviderError
from agent_runs.settings import SOURCE_NAME

logger = logging.getLogger(SOURCE_NAME)
Item = TypeVar("Item")
FAILURES_KEY = "last_failures"  # in the listing's state: {resource: failure} of the last load
REFRESH_KEY = "last_refresh"  # in the listing's state, owned by the open-runs refresh
STEPS_BACKFILLED_KEY = "steps_backfilled_from"  # in the listing's state, owned by the open-runs refresh
SHARED_KEYS = frozenset({FAILURES_KEY, REFRESH_KEY, STEPS_BACKFILLED_KEY})

# Errors that are not the account's: the destination's, or the configuration's. They fail the load.
NOT_THE_ACCOUNTS = (DatabaseException, NoProviderConfigured)


def isolated(
    generator: Callable[..., Iterator[Item]],
    resource: str,
    state_name: str,
    where: str,
    keys: tuple[str, ...] | None = None,
) -> Callable[..., Iterator[Item]]:
    """The resource's generator, made to fail alone.

    Args:
        generator: the resource's generator function (its signature is kept: dlt reads it).
        resource: the resource's name (a failure is recorded under it).
        state_name: the resource state the generator changes, where failures are kept too.
        where: what the failure message names (the provider, the account, the endpoint).
        keys: the keys of that state the generator owns (None: all but the failures and those
            another resource owns, `SHARED_KEYS`); put back as they were if it fails.
    """

    @functools.wraps(generator)
    def run(*args: Any, **kwargs: Any) -> Iterator[Item]:
        state = dlt.current.source_state().setdefault("resources", {}).setdefault(state_name, {})

        def owned(key: str) -> bool:
            return key in keys if keys is not None else key not in SHARED_KEYS

        saved = copy.deepcopy({key: value for key, value in state.items() if owned(key)})
        try:
            yield from generator(*args, **kwargs)
        except GeneratorExit:  # dlt closed it early (past `until`): it did not fail
            state.get(FAILURES_KEY, {}).pop(resource, None)
            raise
        except NOT_THE_ACCOUNTS:
            raise
        except Exception as error:  # the account's API, whatever went wrong with it
            for key in [key for key in {*state, *saved} if owned(key)]:
                put_back(state, key, saved)
            failure = {"where": where, "reason": message_of(error), "at": datetime.now(UTC).isoformat()}
            state.setdefault(FAILURES_KEY, {})[resource] = failure
            logger.error("%s failed; the other accounts go on: %s", where, failure["reason"])
            return
        state.get(FAILURES_KEY, {}).pop(resource, None)

    return run


def put_back(container: dict[str, Any], key: str, saved: dict[str, Any]) -> None:
    """`container[key]` as `saved` has it (absent if `saved` has no `key`), dicts changed in
    place: dlt's incremental keeps a reference to its own part of the state."""
    if key not in saved:
        container.pop(key, None)
        return
    current, was = container.get(key), saved[key]
    if isinstance(current, dict) and isinstance(was, dict):
        for name in [*current, *was]:
            put_back(current, name, was)
    else:
        container[key] = was


def message_of(error: BaseException) -> str:
    """What went wrong, in a line: our errors say it themselves; others with their type."""
    text = str(error).strip().splitlines()[0] if str(error).strip() else ""
    return text if isinstance(error, ProviderError) else f"{type(error).__name__}: {text}"
