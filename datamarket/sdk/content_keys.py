"""The publisher's own copy of each dataset's content key, kept on the machine that published it.

Publishing wraps the content key to the provider's public key; the publisher keeps the key itself
here, so that it can wrap it again to another provider (``datamarket dataset set-provider``)
without the old provider's help. One file per dataset, ``<home>/content-keys/<chain id>-<market>-
<datatoken>.json``, mode 0600 in a 0700 folder, written atomically. The file holds a secret: it is
never printed, and errors name the dataset, never the key. It also records the offer the key was
first wrapped under (download, or compute only), so that a later wrap cannot widen it whatever the
metadata document says by then.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

from eth_utils import to_checksum_address

from datamarket.atomic_files import write_atomically
from datamarket.crypto.contexts import COMPUTE, DOWNLOAD
from datamarket.errors import DatamarketError


class ContentKeyError(DatamarketError):
    code = "content_key_unavailable"


@dataclass(frozen=True)
class ContentKey:
    chain_id: int
    market: str
    datatoken: str
    offer: str
    key: bytes = field(repr=False)


def keys_dir(home: Path) -> Path:
    return Path(home) / "content-keys"


def _path(folder: Path, chain_id: int, market: str, datatoken: str) -> Path:
    return folder / f"{int(chain_id)}-{to_checksum_address(market)}-{to_checksum_address(datatoken)}.json"


def save(folder: Path, entry: ContentKey) -> Path:
    """Write the entry (mode 0600, atomically); ContentKeyError when the folder is not usable."""
    if entry.offer not in (DOWNLOAD, COMPUTE) or len(entry.key) != 32:
        raise ValueError("a content key is 32 bytes with the offer 'download' or 'compute'")
    folder = Path(folder)
    try:
        folder.mkdir(mode=0o700, parents=True, exist_ok=True)
    except OSError as exc:
        raise ContentKeyError(f"cannot create the content-key folder {folder}: {exc.strerror}") from None
    final = _path(folder, entry.chain_id, entry.market, entry.datatoken)
    record = {
        "chain_id": int(entry.chain_id),
        "market": to_checksum_address(entry.market),
        "datatoken": to_checksum_address(entry.datatoken),
        "offer": entry.offer,
        "content_key": entry.key.hex(),
    }
    try:
        write_atomically(final, json.dumps(record, sort_keys=True).encode())
    except OSError as exc:
        raise ContentKeyError(f"cannot write the content key of {entry.datatoken}: {exc.strerror}") from None
    return final


def load(folder: Path, chain_id: int, market: str, datatoken: str) -> ContentKey:
    """The dataset's entry; ContentKeyError when this machine has none or it is unreadable."""
    path = _path(Path(folder), chain_id, market, datatoken)
    try:
        record = json.loads(path.read_text())
        key = bytes.fromhex(record["content_key"])
        entry = ContentKey(record["chain_id"], record["market"], record["datatoken"], record["offer"], key)
    except FileNotFoundError:
        raise ContentKeyError(
            f"this machine holds no content key of {datatoken}: run this where the dataset was published",
            details={"datatoken": datatoken},
        ) from None
    except (OSError, ValueError, KeyError, TypeError):
        raise ContentKeyError(f"the content-key file of {datatoken} is unreadable") from None
    if (
        entry.chain_id != int(chain_id)
        or entry.market != to_checksum_address(market)
        or entry.datatoken != to_checksum_address(datatoken)
        or entry.offer not in (DOWNLOAD, COMPUTE)
        or len(entry.key) != 32
    ):
        raise ContentKeyError(f"the content-key file of {datatoken} does not describe this dataset")
    return entry


__all__ = ["ContentKey", "ContentKeyError", "keys_dir", "load", "save"]
