"""Fuzz targets: the properties that untrusted input must not break, and the strategies that feed them.

Each target is a plain function of hypothesis-generated inputs that raises on a violated
property (an AssertionError, or whatever escaped the code under test), registered under its
name in `TARGETS` (registry.py). `Target.test(settings)` is the hypothesis test that `fuzz.run`
runs with 100,000 inputs and tests/fuzz/test_targets.py with a few hundred. `RUNS` counts the
inputs each target has seen. A target named `subject.property` lives in the module `subject`
here; strategies.py holds the strategies the subjects share.

    session.load           load() of any string: None, or a session dump() writes back within the bound
    session.round_trip     a Session as the engine builds it: dump() fits the 1 KB bound, load() gives it
                           back minus the least history trimming had to drop
    session.tamper         a genuine cookie edited, or signed with a key we do not hold: refused, or read
                           exactly as the genuine one (no forgery)
    session.cookie_header  cookie_value() of any header; of a well-formed one, the first pz cookie
    schema.decode          decode() of any bytes: an Envelope or SchemaError, and the same one with
                           msgpack's C extension and with its pure-Python fallback (what the Worker runs)
    schema.round_trip      encode() then decode(), with both msgpacks: the same payload
    bundles.bundle         bundle_from_bytes() of a sound envelope around a (corrupted) config: a Bundle,
                           or ConfigError if the payload is not a map; the CLI's strict compile: ConfigError
    visitor.profile        profile_from_bytes(): SchemaError, or a Profile of non-negative numbers whose
                           readings never raise
    conditions.evaluate    compile_condition and validate_condition never raise, problems are one line
                           each; a matcher, guarded or not, returns a bool; $not and $nor negate it
    conditions.regex_time  a $regex on an adversarial request path answers within 0.1 s (ReDoS)
    fragments.render       compile_template raises only TemplateError, rendering only MissingParameter;
                           escaped output is the template's own text plus each value html-escaped
"""

# Importing a subject registers its targets, in this order (fuzz.run's default order).
from fuzz.targets import session, schema, conditions, fragments, bundles, visitor  # noqa: F401
from fuzz.targets.registry import RUNS, TARGETS, Target, fuzz_settings

__all__ = ["RUNS", "TARGETS", "Target", "fuzz_settings"]
