"""Databases of their own on the machine's PostgreSQL server (127.0.0.1:5432, or
``DATAMARKET_TEST_POSTGRES``) for the tests that ask. Without a server those tests skip, except in CI
(CI=true), where they fail."""

from __future__ import annotations

import os
import uuid

import psycopg
import pytest

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
