"""``python -m backend``: the same as ``datamarket indexer run``."""

from backend.cli import indexer

if __name__ == "__main__":
    indexer(["run"], prog_name="datamarket indexer")
