"""Reproducible benchmarks of a node and the coordinator: `bench/run` (see docs/benchmarks.md)."""
