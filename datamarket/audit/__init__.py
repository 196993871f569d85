"""The auditor's tool: a dataset's history rebuilt from the chain alone, checked, and compared with
what the backend serves; and which compute receipt produced a released result.

- :mod:`~datamarket.audit.history`: read the market's events from a node and replay them;
- :mod:`~datamarket.audit.documents`: fetch each metadata document and check it against its hash;
- :mod:`~datamarket.audit.report`: the report and its problems, from events alone (no I/O);
- :mod:`~datamarket.audit.comparison`: the backend's answers against the report;
- :mod:`~datamarket.audit.provenance`: a result folder's output hash, and the receipts that commit to it;
- :mod:`~datamarket.audit.formats`: the report as JSON, CSV or text;
- :mod:`~datamarket.audit.audits`: the two audits, from a node to a report.

``datamarket audit`` (``datamarket/cli/audit.py``) is their command line; ``docs/audit.md`` says what
an audit checks and what it cannot know.
"""
