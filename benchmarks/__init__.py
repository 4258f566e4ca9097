"""Timing claims, each with the command that reproduces it; `python -m benchmarks` runs them all."""
