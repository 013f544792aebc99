"""Everything the Worker keeps between requests, in one object: `ISOLATE`.

Module-level state lives as long as the isolate; keeping all of it here shows at a glance what
a request can find from an earlier one. Nothing random or I/O happens at import time.
"""

from intentedge import EventBudget, EventLimits, Outbox, budget_for

from isolate_handlers import SlotHandlers
from metadata import Metadata
from settings import Settings, read_settings


class Isolate:
    def __init__(self):
        self._env = None
        self._settings: Settings | None = None
        self.metadata = Metadata()                 # bundles, profiles, what the newest bundle says
        self.revalidating: set[str] = set()        # base-page cache keys with a revalidation in flight
        self.outbox = Outbox()                     # accepted event lines waiting for the sink
        self.budgets: dict[EventLimits, EventBudget] = {}   # events per visitor, client and isolate, by the limits
        self.warned: set[str] = set()              # one-time log lines already written
        self.timezone_offsets: dict[str, tuple[float, float]] = {}   # jsconvert.local_time's
        self.handlers = SlotHandlers()             # the rewriter's handlers, made once (isolate_handlers.py)

    def settings(self, env) -> Settings:
        """The vars and secrets, read on the first request and again only for another `env`: every
        read of `env` crosses the JS boundary, and the runtime hands each request the same object
        (one JS call to compare it)."""
        if self._settings is None or not self._env == env:
            self._settings, self._env = read_settings(env), env
        return self._settings

    def event_budget(self, limits: EventLimits) -> EventBudget:
        """The budget of these limits (a config that changes them starts a new one; the old goes)."""
        budget = self.budgets.get(limits)
        if budget is None:
            self.budgets.clear()
            budget = self.budgets[limits] = budget_for(limits)
        return budget

    def warn_once(self, what: str) -> bool:
        """True the first time `what` is asked about in this isolate."""
        if what in self.warned:
            return False
        self.warned.add(what)
        return True


ISOLATE = Isolate()
