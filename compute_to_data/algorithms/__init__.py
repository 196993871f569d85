"""The built-in algorithms: each module is one standalone script, copied alone into the sandbox as
/job/algorithm/main.py (see compute_to_data/builtins.py and docs/compute.md, "The algorithm interface").

Nothing here is meant to be imported by the platform: the scripts import only the standard library and
numpy, pandas, torch, opacus, safetensors and sentence-transformers, never this repository.
"""
