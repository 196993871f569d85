"""The built-in algorithms: each is one script, staged into the sandbox as /job/algorithm/main.py beside
the modules it needs (`_job.py`, the job interface of every built-in, and `_training.py`, the training
core of train_tabular and text_classifier); see datamarket/builtins.py and docs/compute.md, "The
algorithm interface".

Nothing here is meant to be imported by the platform: the scripts and their modules import only the
standard library and numpy, pandas, torch, opacus, safetensors and sentence-transformers (and each other),
never this repository.
"""
