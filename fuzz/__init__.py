"""Fuzzing with hypothesis: `targets` holds the properties and their strategies, `run` the script.

    .venv/bin/python -m fuzz.run [--examples N] [--target NAME]
"""
