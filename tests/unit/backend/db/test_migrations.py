"""The migrations build exactly the tables the models declare, and go down and up again."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect

from backend.db.engine import open_engine
from backend.db.migrate import downgrade, upgrade
from backend.db.models import Base

#: Kept in step by the migrations' own SQL (FTS5 and its shadow tables), not by the models.
SEARCH_TABLES = {"document_search"}


def differences(engine) -> list:
    with engine.connect() as connection:
        found = compare_metadata(MigrationContext.configure(connection), Base.metadata)
    return [d for d in found if not any(name in str(d) for name in SEARCH_TABLES)]


def test_the_migrated_schema_is_the_models(tmp_path) -> None:
    engine = open_engine(f"sqlite:///{tmp_path / 'catalog.db'}")
    upgrade(engine)
    assert differences(engine) == []
    assert "document_search" in inspect(engine).get_table_names()


def test_every_migration_goes_down_and_up(tmp_path) -> None:
    engine = open_engine(f"sqlite:///{tmp_path / 'catalog.db'}")
    upgrade(engine)
    downgrade(engine, "base")
    assert set(inspect(engine).get_table_names()) <= {"alembic_version"}
    upgrade(engine)
    assert differences(engine) == []


def test_sqlite_runs_in_wal_mode(tmp_path) -> None:
    engine = open_engine(f"sqlite:///{tmp_path / 'catalog.db'}")
    with engine.connect() as connection:
        assert connection.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
