"""Prometheus metrics, in a registry of the app's own (two apps in one process never collide).

Under gunicorn (``provider.gunicorn_conf``) every worker process writes its counts under
``PROMETHEUS_MULTIPROC_DIR``, and ``/metrics`` adds up those of all the workers, whichever answers.
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST
from prometheus_client.multiprocess import MultiProcessCollector

from provider.gunicorn_conf import multiprocess_dir

CONTENT_TYPE = CONTENT_TYPE_LATEST


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self.requests = Counter(
            "datamarket_provider_requests",
            "HTTP requests answered",
            ["endpoint", "method", "status"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "datamarket_provider_request_seconds",
            "Time to answer a request",
            ["endpoint"],
            registry=self.registry,
        )
        self.errors = Counter(
            "datamarket_provider_errors",
            "Error responses by code",
            ["code", "status"],
            registry=self.registry,
        )
        self.access_granted = Counter(
            "datamarket_provider_access_granted", "Content keys released", registry=self.registry
        )
        self.quotes_issued = Counter(
            "datamarket_provider_quotes_issued", "Provider-fee quotes signed", registry=self.registry
        )

        self.compute_jobs = Counter(
            "datamarket_provider_compute_jobs",
            "Compute jobs accepted",
            ["environment"],
            registry=self.registry,
        )

    def record_error(self, status: int, code: str) -> None:
        self.errors.labels(code=code, status=str(status)).inc()

    def count(self, name: str, **labels: str) -> float:
        """The current value of a counter sample (for tests and the health page)."""
        value = self._view().get_sample_value(name + "_total", labels or None)
        return value or 0.0

    def exposition(self) -> bytes:
        return generate_latest(self._view())

    def _view(self) -> CollectorRegistry:
        """This process's registry, or, in multiprocess mode, the sum over every worker's files."""
        folder = multiprocess_dir()
        if not folder:
            return self.registry
        merged = CollectorRegistry()
        MultiProcessCollector(merged, path=folder)
        return merged


__all__ = ["CONTENT_TYPE", "Metrics"]
