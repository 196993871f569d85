"""Compute-to-data: jobs, the sandbox, built-in algorithms and the output policy (docs/compute.md)."""
