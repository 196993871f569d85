"""``python -m gateway [OPTIONS]``: the same as ``datamarket gateway serve [OPTIONS]``."""

import sys

from gateway.cli import gateway

if __name__ == "__main__":
    gateway(["serve", *sys.argv[1:]], prog_name="datamarket gateway")
