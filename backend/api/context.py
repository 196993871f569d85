"""What the app's views share: the catalog's engine, the chain id, and the request's snapshot."""

from __future__ import annotations

from contextlib import ExitStack, suppress
from dataclasses import dataclass

from flask import Flask, current_app, g
from sqlalchemy import Connection, Engine
from sqlalchemy.exc import DBAPIError

from backend.api import snapshot

EXTENSION = "datamarket.backend"


@dataclass(frozen=True)
class ApiContext:
    engine: Engine
    chain_id: int
    #: Where the app is reachable from outside (the OpenAPI document's server, pages' canonical links).
    public_url: str | None = None


def current() -> ApiContext:
    return current_app.extensions[EXTENSION]


def catalog() -> Connection:
    """The request's connection: one read snapshot for all of the request's queries."""
    if "catalog" not in g:
        stack = ExitStack()
        g.catalog_stack = stack
        g.catalog = stack.enter_context(snapshot.read(current().engine))
    return g.catalog


def install(app: Flask, ctx: ApiContext) -> None:
    app.extensions[EXTENSION] = ctx

    @app.teardown_appcontext
    def _close(_exc: BaseException | None) -> None:
        stack = g.pop("catalog_stack", None)
        g.pop("catalog", None)
        if stack is not None:
            # The answer (a 503) is already made; a connection that broke cannot roll back.
            with suppress(DBAPIError):
                stack.close()


__all__ = ["EXTENSION", "ApiContext", "catalog", "current", "install"]
