"""A content store on an IPFS node, through the kubo RPC API (kubo, or js-ipfs which serves the same).

add, cat, pin and unpin go through ``ipfshttpclient`` (0.7.0, unmaintained: it stays inside this
module; ``Client(addr)`` skips its version check, which refuses every current node). What it lacks
(version, block/stat, dag/import, dag/export) goes through ``requests``, streaming both ways.

Nothing the node says is trusted. ``add`` computes the CID locally while uploading and refuses a
node that names the content differently (:class:`CIDMismatch`, e.g. a node configured with another
chunker). ``cat`` re-imports the bytes as they arrive and holds the last piece back until they hash
to the CID asked for, so a reader never receives all of a corrupted file without an exception;
this checks content imported with kubo's defaults, i.e. every CID the stores here make, and refuses
others. CARs are verified block by block in both directions.

A node may look for a missing block on the network until ``timeout`` seconds pass between two
bytes; that is reported as ContentNotFound. ``has`` never looks beyond the node (kubo's ``offline``
option; js-ipfs, which ignores it, answers within ``lookup_timeout``).
"""

from __future__ import annotations

import contextlib
import hashlib
import ipaddress
import json
import uuid
import warnings
from collections.abc import Callable, Iterator
from typing import Any, BinaryIO, TypeVar
from urllib.parse import urlsplit

import ipfshttpclient
import requests
import urllib3
from ipfshttpclient import exceptions as ipfs_errors

from datamarket.errors import ConfigError
from datamarket.storage import car, unixfs
from datamarket.storage.base import (
    CIDMismatch,
    ContentCorrupted,
    ContentNotFound,
    InvalidCar,
    StorageError,
    StoreUnavailable,
    UnsupportedContent,
)
from datamarket.storage.cid import CHUNK_SIZE, CID, IDENTITY, RAW, SHA2_256

T = TypeVar("T")


class KuboStore:
    """A :class:`~datamarket.storage.base.BlockStore` backed by the IPFS node at ``api_url``
    (``http://host:port``, the node's ``Addresses.API``). Nothing is contacted until first use."""

    def __init__(self, api_url: str, *, timeout: float = 60.0, lookup_timeout: float = 2.0) -> None:
        self.api_url = _normalize_url(api_url)
        self._timeout = timeout
        self._lookup_timeout = lookup_timeout
        self._client = ipfshttpclient.Client(_multiaddr(self.api_url), chunk_size=CHUNK_SIZE, timeout=timeout)
        self._http = requests.Session()

    def __repr__(self) -> str:
        return f"KuboStore({self.api_url!r})"

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> KuboStore:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def version(self) -> str:
        """The node's version, e.g. ``0.29.0`` for kubo (also a check that it answers)."""
        with self._post("version") as response:
            return str(response.json()["Version"])

    def identity(self) -> tuple[str, list[str]]:
        """The node's peer id and the multiaddrs it listens on (``/api/v0/id``; none when offline)."""
        with self._post("id") as response:
            try:
                answer = response.json()
            except ValueError:
                answer = None
        peer = answer.get("ID") if isinstance(answer, dict) else None
        addresses = (answer.get("Addresses") or []) if isinstance(answer, dict) else None
        if not isinstance(peer, str) or not isinstance(addresses, list):
            raise StoreUnavailable(f"IPFS node at {self.api_url}: /api/v0/id answered no peer id")
        return peer, [a for a in addresses if isinstance(a, str)]

    def add(self, stream: BinaryIO, *, cid_version: int = 1, only_hash: bool = False) -> str:
        local = unixfs.FileImporter(cid_version=cid_version)
        answer = self._call(
            lambda: self._client.add(
                _Hashing(stream, local),
                cid_version=cid_version,
                raw_leaves=cid_version == 1,
                only_hash=only_hash,
                pin=not only_hash,
            ),
            what="add",
        )
        expected = local.finish().cid
        cid = _parse_cid(answer["Hash"])
        if cid != expected:
            raise CIDMismatch(
                f"the node named the content {cid}, kubo's defaults name it {expected}",
                details={"node_cid": str(cid), "expected_cid": str(expected)},
            )
        return str(cid)

    def cat(self, cid: str) -> Iterator[bytes]:
        root = CID.parse(cid)
        pieces = self._call(lambda: self._client.cat(str(root), stream=True, timeout=self._timeout), what=cid)
        return self._verified(root, pieces)

    def pin(self, cid: str) -> None:
        root = CID.parse(cid)
        self._call(lambda: self._client.pin.add(str(root), timeout=self._timeout), what=cid)

    def unpin(self, cid: str) -> None:
        root = CID.parse(cid)
        try:
            self._call(lambda: self._client.pin.rm(str(root)), what=cid)
        except StorageError as exc:
            if "not pinned" not in exc.message:
                raise

    def has(self, cid: str) -> bool:
        root = CID.parse(cid)
        params = {"arg": str(root), "offline": "true", "timeout": f"{self._lookup_timeout}s"}
        try:
            with self._post("block/stat", params=params):
                return True
        except ContentNotFound:
            return False

    def get_block(self, cid: str) -> bytes:
        """The block, from the node's own blockstore only (``offline``), checked against its hash."""
        block_cid = CID.parse(cid)
        if block_cid.hash_code == IDENTITY:
            return block_cid.digest
        params = {"arg": str(block_cid), "offline": "true", "timeout": f"{self._lookup_timeout}s"}
        with self._post("block/get", params=params, stream=True) as response:
            block = bytearray()
            for piece in self._guard(response.iter_content(64 * 1024), what=cid):
                block += piece
                if len(block) > car.MAX_SECTION:  # no block is this large: stop reading
                    break
        if len(block) > car.MAX_SECTION or not block_cid.matches(block):
            raise ContentCorrupted(
                f"what the node returned for block {cid} does not hash to it", details={"cid": cid}
            )
        return bytes(block)

    def pinned(self, cid: str) -> bool:
        """Whether ``cid`` is pinned (recursively) on the node."""
        root = CID.parse(cid)
        try:
            with self._post("pin/ls", params={"arg": str(root), "type": "recursive"}) as response:
                keys = response.json().get("Keys", {})
        except StorageError as exc:
            if "not pinned" in exc.message:
                return False
            raise
        return any(_parse_cid(key) == root for key in keys)

    def export_car(self, cid: str, out: BinaryIO) -> None:
        root = CID.parse(cid)
        with self._post("dag/export", params={"arg": str(root)}, stream=True) as response:
            response.raw.decode_content = True
            reader = self._call(lambda: car.CarReader(response.raw), what=cid)
            if reader.roots != [root]:
                raise InvalidCar(f"the node exported a CAR for {[str(r) for r in reader.roots]}, not {cid}")
            out.write(reader.header_bytes)
            for block_cid, block in self._guard(reader, what=cid):
                out.write(car.encode_section(block_cid, block))

    def import_car(self, stream: BinaryIO) -> list[str]:
        reader = car.CarReader(stream)  # verified here: a node need not check what it imports
        boundary = uuid.uuid4().hex
        headers = {"Content-Type": f"multipart/form-data; boundary={boundary}"}
        with self._post("dag/import", data=_car_upload(reader, boundary), headers=headers) as response:
            lines = [json.loads(line) for line in response.iter_lines() if line.strip()]
        roots = []
        for line in lines:
            root = line.get("Root") or {}
            if root.get("PinErrorMsg"):
                raise ContentNotFound(f"the node could not pin a root of the CAR: {root['PinErrorMsg']}")
            roots.append(str(_parse_cid(root["Cid"]["/"])))
        expected = sorted(str(root) for root in reader.roots)
        if sorted(roots) != expected:
            raise InvalidCar(f"the node imported roots {roots}, the CAR names {expected}")
        return [str(root) for root in reader.roots]

    def _verified(self, root: CID, pieces: Iterator[bytes]) -> Iterator[bytes]:
        check = _ContentCheck(root)
        held: bytes | None = None
        try:
            for piece in self._guard(pieces, what=str(root)):
                if piece:
                    check.feed(piece)
                    if held is not None:
                        yield held
                    held = piece
        finally:
            close = getattr(pieces, "close", None)
            if close is not None:
                close()
        if not check.matches():
            raise ContentCorrupted(
                f"what the node returned for {root} does not hash to it "
                "(corrupted, or not imported with kubo's default settings)",
                details={"cid": str(root)},
            )
        if held is not None:
            yield held

    def _guard(self, items: Iterator[T], *, what: str) -> Iterator[T]:
        iterator = iter(items)
        while True:
            item = self._call(lambda: next(iterator, _END), what=what)
            if item is _END:
                return
            yield item

    def _call(self, action: Callable[[], T], *, what: str) -> T:
        """Run an ipfshttpclient or requests call, with its errors turned into StorageErrors."""
        try:
            with warnings.catch_warnings():
                # ipfshttpclient passes urllib3 an argument that it deprecated; nothing to act on.
                warnings.filterwarnings("ignore", message=".*'strict' parameter", category=FutureWarning)
                return action()
        except ipfs_errors.TimeoutError as exc:
            raise ContentNotFound(f"{what}: not found within {self._timeout} s ({exc})") from None
        except ipfs_errors.ConnectionError as exc:
            raise StoreUnavailable(f"IPFS node at {self.api_url} unreachable: {exc}") from None
        except ipfs_errors.ErrorResponse as exc:
            raise _node_error(str(exc), what) from None
        except ipfs_errors.Error as exc:
            raise StoreUnavailable(f"IPFS node at {self.api_url}: {exc}") from None
        except (requests.Timeout, urllib3.exceptions.ReadTimeoutError) as exc:
            raise ContentNotFound(f"{what}: not found within {self._timeout} s ({exc})") from None
        except (requests.RequestException, urllib3.exceptions.HTTPError) as exc:
            raise StoreUnavailable(f"IPFS node at {self.api_url} unreachable: {exc}") from None

    @contextlib.contextmanager
    def _post(
        self, command: str, *, params: dict[str, str] | None = None, **kwargs: Any
    ) -> Iterator[requests.Response]:
        url = f"{self.api_url}/api/v0/{command}"
        what = (params or {}).get("arg", command)
        response = self._call(
            lambda: self._http.post(url, params=params, timeout=self._timeout, **kwargs), what=what
        )
        try:
            if response.status_code != 200:
                try:
                    message = response.json().get("Message", response.text)
                except ValueError:
                    message = response.text
                raise _node_error(f"{command}: {message}", what)
            yield response
        finally:
            response.close()


_END: Any = object()


class _ContentCheck:
    """Whether a file's bytes, fed in pieces, are the content of ``root``: a raw block is one
    sha2-256 over all of them; a dag-pb file is re-imported with the CID's version."""

    def __init__(self, root: CID) -> None:
        self._root = root
        if root.codec == RAW:
            if root.hash_code != SHA2_256:
                raise UnsupportedContent(f"{root}: hash function 0x{root.hash_code:x} is not supported")
            self._digest = hashlib.sha256()
            self.feed: Callable[[bytes], None] = self._digest.update
        else:
            self._importer = unixfs.FileImporter(cid_version=root.version)
            self.feed = self._importer.write

    def matches(self) -> bool:
        if self._root.codec == RAW:
            return self._digest.digest() == self._root.digest
        return self._importer.finish().cid == self._root


class _Hashing:
    """A read-only stream that feeds what is read from it to an importer."""

    def __init__(self, stream: BinaryIO, importer: unixfs.FileImporter) -> None:
        self._stream = stream
        self._importer = importer
        self.name = "file"

    def read(self, size: int = -1) -> bytes:
        data = self._stream.read(size)
        if data:
            self._importer.write(data)
        return data


def _car_upload(reader: car.CarReader, boundary: str) -> Iterator[bytes]:
    yield (
        f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="dag.car"\r\n'
        "Content-Type: application/octet-stream\r\n\r\n"
    ).encode()
    yield reader.header_bytes
    for cid, block in reader:
        yield car.encode_section(cid, block)
    yield f"\r\n--{boundary}--\r\n".encode()


def _node_error(message: str, what: str) -> StorageError:
    lowered = message.lower()
    if "not found" in lowered or "timed out" in lowered or "could not find" in lowered:
        return ContentNotFound(f"{what}: {message}", details={"cid": what})
    if "directory" in lowered or "unsupported" in lowered:
        return UnsupportedContent(f"{what}: {message}")
    return StorageError(f"IPFS node: {message}", details={"cid": what})


def _parse_cid(text: str) -> CID:
    try:
        return CID.parse(text)
    except StorageError:
        raise StoreUnavailable(f"the IPFS node answered {text!r}, which is not a CID") from None


def _normalize_url(url: str) -> str:
    url = url.rstrip("/")
    if url.endswith("/api/v0"):
        url = url[: -len("/api/v0")]
    try:
        parts = urlsplit(url)
        valid = parts.scheme in ("http", "https") and bool(parts.hostname) and not parts.path
        _ = parts.port  # ValueError for a port that is not a number
    except ValueError:
        valid = False
    if not valid:
        raise ConfigError(f"{url!r} is not an IPFS API URL like http://127.0.0.1:5001")
    return url


def _multiaddr(url: str) -> str:
    parts = urlsplit(url)
    host = parts.hostname or ""
    port = parts.port or (443 if parts.scheme == "https" else 80)
    try:
        protocol = "ip4" if ipaddress.ip_address(host).version == 4 else "ip6"
    except ValueError:
        protocol = "dns"
    return f"/{protocol}/{host}/tcp/{port}/{parts.scheme}"
