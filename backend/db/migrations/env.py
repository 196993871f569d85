"""Alembic's environment: the engine comes from ``backend.db.migrate`` (never from a file)."""

from __future__ import annotations

from alembic import context

from backend.db.models import Base

engine = context.config.attributes["engine"]
with engine.connect() as connection:
    context.configure(connection=connection, target_metadata=Base.metadata, transaction_per_migration=True)
    with context.begin_transaction():
        context.run_migrations()
    connection.commit()
