"""``python -m gateway``: the same as ``datamarket gateway serve``."""

from gateway.cli import gateway

if __name__ == "__main__":
    gateway(["serve"], prog_name="datamarket gateway")
