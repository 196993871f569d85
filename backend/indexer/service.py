"""Running the indexer: migrate the catalog, take the writer's lock, follow the chain and fetch documents.

``run(settings, stop)`` is what ``datamarket indexer run`` calls; tests and ``datamarket up`` run the
same code in a process of its own. A second indexer on the same database waits for the lock and
takes over when the first stops or dies.
"""

from __future__ import annotations

import logging
import threading

import requests
from sqlalchemy import Engine
from sqlalchemy.exc import OperationalError
from web3 import HTTPProvider, Web3

from backend.db.engine import open_engine
from backend.db.lock import writer_lock
from backend.db.migrate import upgrade
from backend.indexer.documents import DocumentFetcher
from backend.indexer.follower import Indexer
from backend.settings import BackendSettings
from datamarket.chain.logs import Rpc
from datamarket.errors import ConfigError
from datamarket.storage import open_store

log = logging.getLogger("datamarket.indexer")


def rpc_for(settings: BackendSettings) -> Rpc:
    session = requests.Session()
    session.trust_env = False  # the node is named explicitly: no proxy from the environment
    provider = HTTPProvider(
        settings.rpc_url, request_kwargs={"timeout": settings.rpc_timeout_s}, session=session
    )
    return Rpc(Web3(provider))


#: After the catalog database dropped a connection, the indexer waits this long, then takes the
#: writer's lock again (on a new connection) and goes on from the checkpoint.
RECONNECT_S = 1.0


def run(settings: BackendSettings, stop: threading.Event, *, on_lock: threading.Event | None = None) -> None:
    """Index until ``stop`` is set. ``on_lock`` is set once this process holds the writer's lock."""
    if not settings.store:
        raise ConfigError(
            "invalid backend settings: store: required by the indexer (DATAMARKET_BACKEND_STORE)"
        )
    engine = open_engine(settings.database_url or "")
    upgrade(engine)
    while not stop.is_set():
        try:
            _index_while_held(settings, engine, stop, on_lock)
        except OperationalError as exc:  # a lost connection (the server ended the session, or restarted)
            log.warning("the catalog database dropped a connection (%s); taking the writer's lock again",
                        type(exc.orig).__name__)  # fmt: skip
            stop.wait(RECONNECT_S)


def _index_while_held(
    settings: BackendSettings, engine: Engine, stop: threading.Event, on_lock: threading.Event | None
) -> None:
    """Take the writer's lock and index from the checkpoint until ``stop`` is set; raises the
    driver's error when a connection (the lock's among them) is lost."""
    log.info("waiting for the catalog's writer lock")
    with writer_lock(engine, stop) as lock:
        if not lock:
            return
        log.info("holding the catalog's writer lock; indexing market %s", settings.market)
        if on_lock is not None:
            on_lock.set()
        indexer = Indexer(
            engine, rpc_for(settings), settings.market, deploy_block=settings.market_deploy_block,
            confirmations=settings.confirmations, max_span=settings.max_log_range,
        )  # fmt: skip
        indexer.open()
        fetcher = DocumentFetcher(engine, open_store(settings.store), max_bytes=settings.max_metadata_bytes,
                                  retry_max_s=settings.document_retry_max_s)  # fmt: skip
        done = threading.Event()
        documents = threading.Thread(target=fetcher.run, args=(done,), name="documents", daemon=True)
        documents.start()
        try:
            indexer.run(stop, poll_s=settings.poll_interval_s, check=lock.check)
        finally:
            done.set()
            documents.join(timeout=10)


__all__ = ["rpc_for", "run"]
