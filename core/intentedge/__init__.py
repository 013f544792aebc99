"""intentedge core: pure Python shared by the Worker (Pyodide) and the backend jobs (CPython).

No I/O, no clocks, no randomness of its own: callers pass them in. The names below are what the
Worker and the CLI use; the modules hold the rest. The wings have surfaces of their own:
`intentedge.contract` (the config/KV contract), `intentedge.caching` (cache policy).

    visitor_of(context, keys)                       who sent a request: may they be recognised?
    page_outcome(context, visitor, bundle, ...)     everything the Worker does to one HTML page
    admit(...), accept(...)                         the events endpoint's answer to one POST
"""

from intentedge.conditions import compile_condition, eval_condition, validate_condition
from intentedge.context import RequestContext, RequestData
from intentedge.contract.config import Bundle, Slot, compile_bundle, to_payload
from intentedge.decision import CONTROL, FALLBACK, Choice, Decision, decide
from intentedge.eligibility import may_personalize_request, may_personalize_response, media_type
from intentedge.errors import ConfigError, IntentEdgeError, Problem, SchemaError, VersionError
from intentedge.events.batch import EventRejected, Limits as EventLimits
from intentedge.events.endpoint import (EventsOutcome, accept, admit, budget_for, is_events_path,
                                        refusals_line, rejection)
from intentedge.events.outbox import Outbox
from intentedge.events.rate_limit import EventBudget
from intentedge.fragments import ContentType, Fragment, Operation
from intentedge.logs import log_line
from intentedge.origin import OriginURLError, upstream_url
from intentedge.outcome import PageOutcome, grants_shared_storage, page_outcome, personal_headers
from intentedge.preview import mint_token, preview_url, without_preview_params
from intentedge.profile import Profile
from intentedge.rules import Rule
from intentedge.session import COOKIE_NAME, Session, SessionKeyError, SessionKeys
from intentedge.visitor import Visitor, profile_from_bytes, visitor_of

__version__ = "0.1.0"

__all__ = [
    "COOKIE_NAME", "CONTROL", "FALLBACK",
    "Bundle", "Choice", "ConfigError", "ContentType", "Decision", "EventBudget", "EventLimits", "EventRejected",
    "EventsOutcome", "Fragment", "IntentEdgeError", "Operation", "OriginURLError", "Outbox", "PageOutcome",
    "Problem", "Profile", "RequestContext", "RequestData", "Rule", "SchemaError", "Session", "SessionKeyError",
    "SessionKeys", "Slot", "VersionError", "Visitor",
    "accept", "admit", "budget_for", "compile_bundle", "compile_condition", "decide",
    "eval_condition", "grants_shared_storage", "is_events_path", "log_line", "may_personalize_request",
    "may_personalize_response", "media_type", "mint_token", "page_outcome", "personal_headers", "preview_url",
    "profile_from_bytes", "refusals_line", "rejection", "to_payload", "upstream_url", "validate_condition",
    "visitor_of", "without_preview_params",
]
