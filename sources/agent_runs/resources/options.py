"""What a load asks of every account's resources, in one object (`LoadOptions`): the created-at
range of a first load, how a long history is walked, the re-read window, how long open runs are
followed, and where the steps of the runs that ended go."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from agent_runs.providers import RunList
from agent_runs.resources.steps_outbox import StepsOutbox
from agent_runs.settings import RELIST_LAG


@dataclass(frozen=True)
class LoadOptions:
    """The source's arguments, as its resources take them (agent_runs_source documents each)."""

    since: datetime | None = None  # the created-at range of a first load (later loads continue from the cursor)
    until: datetime | None = None
    workers: int | None = None  # how a long range is walked (walks.choose_walk)
    lag: timedelta = RELIST_LAG  # how far behind the newest loaded run each load lists again
    max_age: timedelta | None = None  # stop following runs open this long before the newest; None: until they end
    outbox: StepsOutbox | None = None  # where the steps of runs that ended go (None: steps are not read)
    steps_since: datetime | None = None  # read the steps of runs that ended since then too (once)

    def steps_of(self, run_list: RunList) -> StepsOutbox | None:
        """Where the steps of this run list's runs go; None when they are not read."""
        return self.outbox if run_list.steps else None


EVERYTHING = LoadOptions()  # the defaults: the whole history, open runs followed until they end, no steps
