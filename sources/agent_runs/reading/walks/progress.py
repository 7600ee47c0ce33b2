"""How far a long walk is, said at INFO (`-v`, `--progress`)."""

import logging
import time
from collections.abc import Callable

from agent_runs import settings

logger = logging.getLogger(settings.SOURCE_NAME)


class Progress:
    """Says every WALK_PROGRESS_EVERY_S the share walked (of the created-at range, or of the pages)
    and the time that share suggests is left."""

    def __init__(self, name: str, share_walked: Callable[[], float | None], of: str) -> None:
        self.name = name
        self.share_walked = share_walked
        self.of = of
        self.started = self.last_said = time.monotonic()

    def report(self) -> None:
        now = time.monotonic()
        if now - self.last_said < settings.WALK_PROGRESS_EVERY_S:
            return
        share = self.share_walked()
        if share is None:
            return
        self.last_said = now
        left = (now - self.started) * (1 - share) / share if share else None
        eta = f", about {left:,.0f} s left" if left is not None else ""
        logger.info("%s: %.0f %% of the %s walked%s", self.name, 100 * share, self.of, eta)
