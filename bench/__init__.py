"""Benchmarks for Tandau. Run by hand (see bench/README.md); never collected as unit tests."""
