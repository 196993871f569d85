"""The catalog database: models, engine, migrations and the writer's lock."""
