"""Benchmarks: measured side by side with the ceilings of our own stack (`make bench`)."""
