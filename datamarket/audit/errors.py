"""Why an audit could not be made (a problem it finds is not an error: it is in the report).

AuditError (DatamarketError)
├── UnknownDataset (LookupError): the market has no such dataset, or not in the blocks read
├── ChainMismatch (ValueError): the dataset id names another chain than the node's
├── BackendUnavailable (ConnectionError): the backend did not answer, or not with JSON
└── ResultFolderError (ValueError): a result folder that no output hash can be computed for
"""

from __future__ import annotations

from datamarket.errors import DatamarketError


class AuditError(DatamarketError):
    code = "audit_error"


class UnknownDataset(AuditError, LookupError):
    code = "unknown_dataset"


class ChainMismatch(AuditError, ValueError):
    code = "chain_mismatch"


class BackendUnavailable(AuditError, ConnectionError):
    code = "backend_unavailable"


class ResultFolderError(AuditError, ValueError):
    code = "invalid_result_folder"


__all__ = ["AuditError", "BackendUnavailable", "ChainMismatch", "ResultFolderError", "UnknownDataset"]
