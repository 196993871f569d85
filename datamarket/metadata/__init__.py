"""Metadata documents: the datamarket/dataset@1 schema, profiles and validation.

Profiling lives in :mod:`datamarket.metadata.profile`, not re-exported here, so that readers that only
validate documents (the indexer, the provider) do not import pandas.
"""

from datamarket.metadata.document import (
    SCHEMA_ID,
    InvalidMetadata,
    MetadataError,
    MetadataHashMismatch,
    build_document,
    canonical_bytes,
    compute_service,
    document_sha256,
    download_service,
    file_entry,
    load,
    validate,
)

__all__ = [
    "SCHEMA_ID",
    "InvalidMetadata",
    "MetadataError",
    "MetadataHashMismatch",
    "build_document",
    "canonical_bytes",
    "compute_service",
    "document_sha256",
    "download_service",
    "file_entry",
    "load",
    "validate",
]
