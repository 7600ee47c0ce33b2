"""How the steps the resources that write `runs` read reach the one that writes `run_steps`:
which runs' steps a load reads (`StepsPlan`; the reading itself is reading/steps.py), `with_steps`,
the step those resources take their rows through, and the outbox that carries the steps on
(`StepsOutbox`) to run_steps.py.

A run's steps are read once it has ended and again whenever its row is written again (it changed:
a late verdict, a repair). They are read before the run's row is handed on, and follow it into
the same load package: if the read fails, neither is written and the account fails alone
(isolation.py), so no run is ever written ended without its steps. Runs that ended
before `StepsPlan.since` are not read: by default that is the moment of the first load with
steps; `--steps-since` moves it back (older runs already loaded are read by the open-runs
refresh, once)."""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Generator, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from functools import cached_property
from typing import Any, TypeVar

import pyarrow as pa
import pyarrow.compute as pc

from agent_runs.reading.lister import Lister
from agent_runs.reading.steps import read_steps
from agent_runs.rows.schema import is_open, parse_timestamp
from agent_runs.settings import STEPS_RUNS_AT_ONCE

Done = TypeVar("Done")
STEPS_FROM_KEY = "steps_from"  # in the listing's state: runs that end from then on have their steps read


@dataclass
class StepsPlan:
    """Whose steps a load reads: the runs that ended at or after `since` (None: read none).

    Steps are read for the runs that end from the first load with steps on: that load notes, in
    the listing's state, the API's clock at its first answer (its `Date`), which is known only
    once a request was answered; until then `since` is not decided. `--steps-since` moves it back.
    """

    state: dict[str, Any] | None  # the listing's state; None: steps are not read
    steps_since: datetime | None = None
    first_answer: Callable[[], datetime | None] = lambda: None  # the API's clock at this load's first answer
    note: bool = False  # the listing notes the moment (it owns the state); the refresh only reads it

    @classmethod
    def fixed(cls, since: datetime) -> StepsPlan:
        """The plan of runs that ended at or after `since`, whatever a state says."""
        return cls({STEPS_FROM_KEY: since.isoformat()})

    @cached_property
    def since(self) -> datetime | None:
        if self.state is None:
            return None
        noted = self.state.get(STEPS_FROM_KEY)
        first = parse_timestamp(noted) if noted else self.first_answer()
        if first is None:
            return self.steps_since
        start = first if self.steps_since is None else min(first, self.steps_since)
        if self.note and not noted:
            self.state[STEPS_FROM_KEY] = start.isoformat()
        return start

    def settle(self) -> None:
        """Decide `since` now (once a request was answered), noting it if this plan notes it."""
        _ = self.since

    def to_read(self, table: pa.Table) -> pa.ChunkedArray | None:
        """Which of these `runs` rows are of runs whose steps are read (ended at or after `since`);
        None when none is."""
        if self.since is None or table.num_rows == 0:
            return None
        ended_at = pc.coalesce(table["finished_at"], table["updated_at"], table["created_at"])
        since = pa.scalar(self.since, ended_at.type)
        wanted = pc.fill_null(pc.and_(pc.invert(is_open(table)), pc.greater_equal(ended_at, since)), False)
        return wanted if pc.any(wanted).as_py() else None

    def runs_to_read(self, table: pa.Table) -> list[str]:
        """The runs of these `runs` rows whose steps are read."""
        wanted = self.to_read(table)
        return [] if wanted is None else table.filter(wanted)["run_id"].to_pylist()


class StepsOutbox:
    """The `run_steps` rows the source's resources have read, on their way to its one steps
    resource (run_steps.py): put there only once the rows of their runs were handed to dlt.
    dlt's incremental reads every item of a listing resource as `runs` rows, so the steps travel
    in a resource of their own; the same load package holds both."""

    def __init__(self) -> None:
        self.producers: set[str] = set()  # the resources that put rows here, by name
        self.finished: set[str] = set()
        self.tables: deque[pa.Table] = deque()

    def produced_by(self, *resources: str) -> None:
        self.producers.update(resources)

    def put(self, table: pa.Table) -> None:
        self.tables.append(table)

    def finish(self, producer: str) -> None:
        self.finished.add(producer)


@contextmanager
def producing(outbox: StepsOutbox | None, producer: str) -> Iterator[None]:
    """The work of a resource that fills the outbox: it is finished, for the outbox, however it ends."""
    try:
        yield
    finally:
        if outbox is not None:
            outbox.finish(producer)


def with_steps(
    lister: Lister,
    plan: StepsPlan,
    items: Generator[pa.Table | None, None, Done],
    outbox: StepsOutbox,
    count: dict[str, int],
) -> Generator[pa.Table | None, None, Done]:
    """The resource's `runs` rows, the steps of each table's ended runs read before the table is
    handed on and put in the outbox once it was (`count["steps_read"]`: runs whose steps were
    read). While steps are on their way it yields None, so that dlt serves other accounts meanwhile.
    Returns what `items` returns."""
    while True:
        try:
            table = next(items)
        except StopIteration as finished:
            return finished.value  # type: ignore[no-any-return]
        wanted = None if table is None else plan.to_read(table)
        if wanted is None:  # nothing to read: the table goes on whole
            yield table
            continue
        for start in range(0, table.num_rows, STEPS_RUNS_AT_ONCE):  # the steps of a slice held at a time
            rows = table.slice(start, STEPS_RUNS_AT_ONCE)
            run_ids = rows.filter(wanted.slice(start, STEPS_RUNS_AT_ONCE))["run_id"].to_pylist()
            steps = yield from read_steps(lister, run_ids)
            count["steps_read"] = count.get("steps_read", 0) + len(run_ids)
            try:
                yield rows
            finally:  # dlt has the runs' rows (it may close the resource at this yield): their steps follow
                for read in steps:
                    outbox.put(read)
