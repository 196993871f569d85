"""``datamarket worker``: a Celery worker that runs compute jobs (docs/compute.md).

It reads the worker's settings (``compute_to_data.settings``: ``DATAMARKET_PROVIDER_*`` for what it
shares with the provider it works for, ``DATAMARKET_WORKER_*`` for its own, or ``--config``). It
refuses to start without bubblewrap, with a message that says how to install it. Its failures take
the CLI's error path (:mod:`datamarket.cli.errors`).
"""

from __future__ import annotations

import json
import os

import click

from datamarket.cli.errors import Command, CommandError
from datamarket.cli.output import json_option


@click.command(cls=Command)
@click.option(
    "--queues",
    default="cpu",
    show_default=True,
    help="Resource classes to serve: cpu, gpu or cpu,gpu. A gpu worker runs one job per GPU.",
)
@click.option("--concurrency", type=click.IntRange(1, 256), help="Jobs at once (default: CPUs / 2, or GPUs).")
@click.option("--config", type=click.Path(dir_okay=False), help="TOML settings file.")
@click.option("--loglevel", default="INFO", show_default=True)
@json_option("Print the start line, or the error that stops the start, as one JSON object.")
def worker(queues: str, concurrency: int | None, config: str | None, loglevel: str, as_json: bool) -> None:
    """Run compute jobs: stage, sandbox, check, publish, post receipts."""
    from compute_to_data import sandbox
    from compute_to_data.celery_app import build_worker_app
    from compute_to_data.runner import GpuPool
    from compute_to_data.settings import WorkerSettings

    chosen = tuple(q.strip() for q in queues.split(",") if q.strip())
    if not chosen or any(q not in ("cpu", "gpu") for q in chosen):
        raise click.BadParameter("a list among cpu, gpu", param_hint=["--queues"])
    settings = WorkerSettings.load(config_file=config)
    try:
        sandbox.check_available()
    except sandbox.SandboxError as exc:
        raise CommandError(str(exc), code=exc.code) from None
    gpus = len(GpuPool.detect().devices) if "gpu" in chosen else 0
    if concurrency is None:
        concurrency = gpus if chosen == ("gpu",) and gpus else max(1, (os.cpu_count() or 2) // 2)
    if as_json:
        started = {"provider": settings.provider_address, "queues": list(chosen), "gpus": gpus,
                   "concurrency": concurrency}  # fmt: skip
        click.echo(json.dumps(started, sort_keys=True))
    else:
        shown = ",".join(chosen)
        click.echo(f"worker for {settings.provider_address}: queues {shown}, {gpus} GPU(s)", err=True)
    app = build_worker_app(settings, chosen)
    app.worker_main(
        [
            "worker",
            "--queues", ",".join(chosen),
            "--pool", "threads",
            "--concurrency", str(concurrency),
            "--loglevel", loglevel,
            "--hostname", f"datamarket-{os.getpid()}@%h",
            "--without-gossip", "--without-mingle", "--without-heartbeat",
        ]
    )  # fmt: skip


__all__ = ["worker"]
