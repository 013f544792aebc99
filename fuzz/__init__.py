"""Fuzzing with hypothesis: `targets` holds the properties and their strategies, `run` the script
(docs/fuzzing.md says what each target checks and what it found).

    .venv/bin/python -m fuzz.run [--examples N] [--target NAME]
"""
