"""intentedge core: pure Python shared by the Worker (Pyodide) and the backend jobs (CPython).

No I/O, no clocks, no randomness of its own: callers pass them in.
"""

from .config import Bundle, Choice, Rule, Slot, compile_bundle
from .eligibility import may_personalize_request, may_personalize_response, media_type
from .errors import ConfigError, IntentEdgeError, Problem, SchemaError, VersionError
from .fragments import ContentType, Fragment, Operation
from .logs import log_line
from .origin import OriginURLError, upstream_url

__version__ = "0.1.0"

__all__ = [
    "Bundle",
    "Choice",
    "ConfigError",
    "ContentType",
    "Fragment",
    "IntentEdgeError",
    "Operation",
    "OriginURLError",
    "Problem",
    "Rule",
    "SchemaError",
    "Slot",
    "VersionError",
    "compile_bundle",
    "log_line",
    "may_personalize_request",
    "may_personalize_response",
    "media_type",
    "upstream_url",
]
