"""The ``datamarket`` command line. Commands are thin: parse, call one core function, print.

With ``--json`` a command's last line of output is one JSON object with what it produced. Errors
print ``error (<code>): <message>`` (or a JSON error object) and exit 1, never a stack trace; usage
errors exit 2 (:mod:`datamarket.cli.errors` is the one error path of every command).
"""

from datamarket.cli.commands import main

__all__ = ["main"]
