"""Gunicorn settings shared by ``datamarket-provider serve`` and the local market (``datamarket up``,
``gunicorn -c python:provider.gunicorn_conf``): the worker processes count their metrics together.

Each gunicorn worker is a process of its own; without a shared place for their counters,
``GET /metrics`` would show only the counts of whichever worker answered it. prometheus_client's
multiprocess mode keeps every process's values in files under ``PROMETHEUS_MULTIPROC_DIR``, which
must be named before a worker imports prometheus_client, hence this hook in the master.

The workers are gevent workers (:mod:`datamarket.gunicorn_worker`): a client that trickles its
request holds one greenlet, not a worker, and gunicorn's own error answers are JSON.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from datamarket.gunicorn_worker import WORKER_CLASS, WORKER_CONNECTIONS

MULTIPROCESS_ENV = "PROMETHEUS_MULTIPROC_DIR"

#: Gunicorn's control socket has one path per user (``~/.gunicorn/gunicorn.ctl``): several providers
#: on one machine would share it, and one stopping removes another's. The provider does not use it.
control_socket_disable = True
worker_class = WORKER_CLASS
worker_connections = WORKER_CONNECTIONS


def multiprocess_dir() -> str:
    """The folder of the workers' metrics files (``PROMETHEUS_MULTIPROC_DIR``), or ``""`` outside
    multiprocess mode: the one place the provider reads it."""
    return os.environ.get(MULTIPROCESS_ENV) or ""


def on_starting(server: Any) -> None:
    """In the master, before any worker starts: a folder for the workers' metrics (``metrics/``
    under the provider's data folder unless ``PROMETHEUS_MULTIPROC_DIR`` names one), emptied of an
    earlier run's files."""
    folder = multiprocess_dir()
    if not folder:
        from provider.settings import ProviderSettings

        folder = str(ProviderSettings.load().data_dir / "metrics")
        os.environ[MULTIPROCESS_ENV] = folder
    path = Path(folder)
    path.mkdir(parents=True, exist_ok=True)
    for stale in path.glob("*.db"):
        stale.unlink()
