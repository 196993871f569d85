"""``datamarket worker``: a Celery worker that runs compute jobs (docs/compute.md).

It reads the worker's settings (``compute_to_data.settings``: ``DATAMARKET_PROVIDER_*`` for what it
shares with the provider it works for, ``DATAMARKET_WORKER_*`` for its own, or ``--config``). It
refuses to start without bubblewrap, with a message that says how to install it.
"""

from __future__ import annotations

import os
import sys

import click

from datamarket.errors import DatamarketError


@click.command()
@click.option(
    "--queues",
    default="cpu",
    show_default=True,
    help="Resource classes to serve: cpu, gpu or cpu,gpu. A gpu worker runs one job per GPU.",
)
@click.option("--concurrency", type=click.IntRange(1, 256), help="Jobs at once (default: CPUs / 2, or GPUs).")
@click.option("--config", type=click.Path(dir_okay=False), help="TOML settings file.")
@click.option("--loglevel", default="INFO", show_default=True)
def worker(queues: str, concurrency: int | None, config: str | None, loglevel: str) -> None:
    """Run compute jobs: stage, sandbox, check, publish, post receipts."""
    from compute_to_data import sandbox
    from compute_to_data.celery_app import build_worker_app
    from compute_to_data.runner import GpuPool
    from compute_to_data.settings import WorkerSettings

    chosen = tuple(q.strip() for q in queues.split(",") if q.strip())
    if not chosen or any(q not in ("cpu", "gpu") for q in chosen):
        raise click.BadParameter("a list among cpu, gpu", param_hint="--queues")
    try:
        settings = WorkerSettings.load(config_file=config)
        sandbox.check_available()
    except DatamarketError as exc:
        click.echo(f"error ({exc.code}): {exc.message}", err=True)
        sys.exit(1)
    except sandbox.SandboxError as exc:
        click.echo(f"error ({exc.code}): {exc}", err=True)
        sys.exit(1)
    gpus = len(GpuPool.detect().devices) if "gpu" in chosen else 0
    if concurrency is None:
        concurrency = gpus if chosen == ("gpu",) and gpus else max(1, (os.cpu_count() or 2) // 2)
    click.echo(f"worker for {settings.provider_address}: queues {','.join(chosen)}, {gpus} GPU(s)", err=True)
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
