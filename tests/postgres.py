"""Databases of their own on the machine's PostgreSQL server (127.0.0.1:5432, or
``DATAMARKET_TEST_POSTGRES``) for the tests that ask. Without a server those tests skip, except in CI
(CI=true), where they fail."""

from __future__ import annotations

import os
import secrets
import uuid
from collections.abc import Iterator
from contextlib import contextmanager

import psycopg
import pytest
import sqlalchemy as sa

ADMIN_URL = os.environ.get("DATAMARKET_TEST_POSTGRES", "postgresql://root@127.0.0.1:5432/postgres")


def create_database(prefix: str) -> str:
    """A new empty database; its URL."""
    name = f"{prefix}_{uuid.uuid4().hex[:12]}"
    try:
        with psycopg.connect(ADMIN_URL, autocommit=True, connect_timeout=3) as admin:
            admin.execute(f'CREATE DATABASE "{name}"')
    except psycopg.OperationalError as exc:
        if os.environ.get("CI") == "true":
            raise
        pytest.skip(f"no PostgreSQL at {ADMIN_URL}: {exc}")
    return ADMIN_URL.rsplit("/", 1)[0] + "/" + name


def drop_database(url: str) -> None:
    with psycopg.connect(ADMIN_URL, autocommit=True) as admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{url.rsplit("/", 1)[1]}" WITH (FORCE)')


@contextmanager
def schema_url(prefix: str, url: str) -> Iterator[str]:
    """A schema of its own in the database at ``url``, for one test: the URL whose connections use
    it (their ``search_path``). The schema is dropped when the block ends; close what used it first."""
    schema = f"{prefix}_{secrets.token_hex(6)}"
    admin = sa.create_engine(url.replace("postgresql://", "postgresql+psycopg://", 1))
    try:
        with admin.begin() as conn:
            conn.exec_driver_sql(f"CREATE SCHEMA {schema}")
    except sa.exc.OperationalError as exc:
        admin.dispose()
        if os.environ.get("CI") == "true":
            pytest.fail(f"PostgreSQL is required in CI but unreachable: {type(exc.orig).__name__}")
        pytest.skip("PostgreSQL not reachable")
    separator = "&" if "?" in url else "?"
    try:
        yield f"{url}{separator}options=-csearch_path%3D{schema}"
    finally:
        with admin.begin() as conn:
            conn.exec_driver_sql(f"DROP SCHEMA {schema} CASCADE")
        admin.dispose()
