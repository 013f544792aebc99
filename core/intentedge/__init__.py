"""intentedge core: pure Python shared by the Worker (Pyodide) and the backend jobs (CPython).

No I/O, no clocks, no randomness of its own: callers pass them in. The names below
are what the Worker and the CLI use; the modules hold the rest.
"""

from intentedge.conditions import compile_condition, eval_condition, validate_condition
from intentedge.contract.config import Bundle, Slot, compile_bundle, to_payload
from intentedge.context import RequestContext, RequestData
from intentedge.decision import Choice, Decision, decide
from intentedge.eligibility import may_personalize_request, may_personalize_response, media_type
from intentedge.errors import ConfigError, IntentEdgeError, Problem, SchemaError, VersionError
from intentedge.fragments import ContentType, Fragment, Operation
from intentedge.logs import log_line
from intentedge.origin import OriginURLError, upstream_url
from intentedge.profile import Profile
from intentedge.rules import Rule
from intentedge.session import Session, SessionKeys

__version__ = "0.1.0"

__all__ = [
    "Bundle",
    "Choice",
    "ConfigError",
    "ContentType",
    "Decision",
    "Fragment",
    "IntentEdgeError",
    "Operation",
    "OriginURLError",
    "Problem",
    "Profile",
    "RequestContext",
    "RequestData",
    "Rule",
    "SchemaError",
    "Session",
    "SessionKeys",
    "Slot",
    "VersionError",
    "compile_bundle",
    "compile_condition",
    "decide",
    "eval_condition",
    "log_line",
    "may_personalize_request",
    "may_personalize_response",
    "media_type",
    "to_payload",
    "upstream_url",
    "validate_condition",
]
