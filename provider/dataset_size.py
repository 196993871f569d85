"""The dataset size the provider takes for compute (``datamarket.jobs.dataset_size``)."""

from __future__ import annotations

from datamarket.metadata.resolve import DatasetDocument
from provider.errors import Unprocessable


def check_dataset_size(doc: DatasetDocument, max_bytes: int) -> None:
    """422 ``dataset_too_large`` when the dataset's declared size (the ``size`` of its verified
    document's file) is over ``max_bytes``. Called before anything is written: no nonce is
    consumed and no job is made for a refused request."""
    size = int(doc.file["size"])
    if size > max_bytes:
        raise Unprocessable(
            f"the dataset is {size} bytes; this provider runs compute jobs on datasets of at most "
            f"{max_bytes} bytes",
            code="dataset_too_large",
            details={"size": size, "max_dataset_bytes": max_bytes},
        )


__all__ = ["check_dataset_size"]
