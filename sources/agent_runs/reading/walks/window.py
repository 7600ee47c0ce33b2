"""A created-at window, half-open [start, end): the APIs' own bounds differ (exclusive and widened
by an overlap, or inclusive), so every page is trimmed to its window and a run on a boundary is
loaded once."""

from datetime import datetime
from typing import NamedTuple

import pyarrow as pa
import pyarrow.compute as pc


class Window(NamedTuple):
    start: datetime | None  # inclusive; None: from the beginning
    end: datetime | None  # exclusive; None: up to now

    def trim(self, batch: pa.Table) -> pa.Table:
        """The batch without runs outside the window (the APIs' bounds overlap at the edges)."""
        created = batch["created_at"]
        inside = None
        if self.start is not None:
            inside = pc.greater_equal(created, self.start)
        if self.end is not None:
            before_end = pc.less(created, self.end)
            inside = before_end if inside is None else pc.and_(inside, before_end)
        return batch if inside is None or pc.all(inside).as_py() else batch.filter(inside)

    def reached_start(self, batch: pa.Table) -> bool:
        """Whether a newest-first batch holds a run created before the window (so no later batch is in it)."""
        if self.start is None or not batch.num_rows:
            return False
        return bool(
            pc.less(pc.min(batch["created_at"]), pa.scalar(self.start, batch.schema.field("created_at").type)).as_py()
        )
