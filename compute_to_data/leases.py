"""A worker's leases on the jobs it runs, renewed in the background (the job database's side is
:meth:`datamarket.jobs.store.JobStore.renew`)."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager

from datamarket.jobs.store import JobStore


class LeaseKeeper:
    """A worker's background thread: renews the leases of the jobs it runs and tells each job
    when its cancellation was asked for (through the job's threading.Event)."""

    def __init__(self, store: JobStore, *, lease_s: float) -> None:
        self.store, self.lease_s = store, lease_s
        self._held: dict[str, tuple[str, threading.Event]] = {}
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="lease-keeper", daemon=True)
        self._thread.start()

    @contextmanager
    def hold(self, job_id: str, owner: str) -> Iterator[threading.Event]:
        cancel = threading.Event()
        with self._lock:
            self._held[job_id] = (owner, cancel)
        try:
            yield cancel
        finally:
            with self._lock:
                self._held.pop(job_id, None)

    def _loop(self) -> None:
        while not self._stop.wait(self.lease_s / 3):
            with self._lock:
                held = dict(self._held)
            try:
                for job_id in self.store.renew({j: o for j, (o, _) in held.items()}, lease_s=self.lease_s):
                    held[job_id][1].set()
            except Exception:  # a database hiccup must not kill the thread; the next round retries
                continue

    def stop(self) -> None:
        self._stop.set()


__all__ = ["LeaseKeeper"]
