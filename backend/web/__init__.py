"""The web pages the backend serves beside its API (``backend.web.views``)."""
