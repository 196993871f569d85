"""How ``datamarket compute`` shows a job: its status as JSON or lines, and a live progress line."""

from __future__ import annotations

import sys
from typing import Any

import click


def progress_text(status: dict[str, Any]) -> str:
    progress = status.get("progress")
    shown = f"{progress * 100:5.1f}%" if isinstance(progress, int | float) and 0 <= progress <= 1 else ""
    return f"{status.get('state', '?'):<10} {shown}".rstrip()


class ProgressLine:
    """One live line on stderr: rewritten in place on a terminal, a new line per change elsewhere."""

    def __init__(self, enabled: bool) -> None:
        self.enabled = enabled
        self.tty = sys.stderr.isatty()
        self.last = ""

    def __call__(self, status: dict[str, Any]) -> None:
        text = progress_text(status)
        if not self.enabled or text == self.last:
            return
        if self.tty:
            click.echo("\r" + text.ljust(len(self.last)), nl=False, err=True)
        else:
            click.echo(text, err=True)
        self.last = text

    def close(self) -> None:
        if self.enabled and self.tty and self.last:
            click.echo("", err=True)


def status_payload(handle: Any, status: dict[str, Any]) -> dict[str, Any]:
    return {
        **status,
        "job_id": handle.job_id,
        "state": status.get("state"),
        "timings": status.get("timings") or {},
        "epsilon": status.get("epsilon"),
        "progress": status.get("progress"),
        "error": status.get("error"),
        "receipt": status.get("receipt"),
    }


def status_lines(status: dict[str, Any]) -> list[str]:
    lines = [f"job        {status['job_id']}", f"state      {progress_text(status)}"]
    algorithm = status.get("algorithm")
    if algorithm is not None:
        shown = algorithm if isinstance(algorithm, str) else f"bundle {algorithm.get('sha256', '?')}"
        lines.append(f"algorithm  {shown}")
    epsilon = status.get("epsilon")
    if isinstance(epsilon, dict):
        lines.append(f"epsilon    requested {epsilon.get('requested')}, charged {epsilon.get('charged')}")
    timings = status.get("timings") or {}
    if timings:
        lines.append("timings    " + ", ".join(f"{k} {v:.1f}s" for k, v in timings.items() if _number(v)))
    error = status.get("error")
    if error:
        lines.append(f"error      {error.get('code')}: {error.get('message')}")
    receipt = status.get("receipt")
    if receipt:
        lines.append(f"receipt    {receipt.get('tx')} (block {receipt.get('block')})")
    return lines


def _number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


__all__ = ["ProgressLine", "progress_text", "status_lines", "status_payload"]
