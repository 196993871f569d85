"""The backend: the indexer (chain events into a database), the catalog and audit API, the web pages."""
