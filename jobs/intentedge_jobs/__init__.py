"""Backend jobs: the `intentedge` CLI and the local tooling around the Worker.

These run on CPython only and never reach the edge; the Worker bundle holds core/
(the `intentedge` package without this subpackage), worker/ and msgpack.
"""
