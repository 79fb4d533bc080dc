"""Benchmarks: each prints its figures next to a raw-driver floor measured in the same run."""
