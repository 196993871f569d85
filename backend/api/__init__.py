"""The catalog and audit API (``/api/v1``) over the catalog the indexer writes, and the app that also
serves the web pages (``backend.web``): ``create_app(engine, chain_id=...)`` in ``backend.api.app``."""
