"""``python -m compute_to_data``: the same as ``datamarket worker``."""

from compute_to_data.cli import worker

if __name__ == "__main__":
    worker(prog_name="datamarket worker")
