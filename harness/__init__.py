"""Tally's harness: builds and starts the real stack, drives workloads and faults, judges the counts."""
