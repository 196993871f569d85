"""The page tests use the API tests' catalog: a migrated SQLite file filled through ``Catalog``."""

from tests.unit.backend.api.conftest import app, catalog, engine  # noqa: F401
