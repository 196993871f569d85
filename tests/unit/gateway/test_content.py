"""GET and HEAD /ipfs/{cid} over a real embedded store, through the Flask test client."""

from __future__ import annotations

import hashlib
import io
import random
from pathlib import Path

import pytest
from flask.testing import FlaskClient

from datamarket.storage.car import CarReader, encode_header
from datamarket.storage.cid import CHUNK_SIZE, CID, DAG_PB, RAW
from datamarket.storage.embedded import EmbeddedStore
from datamarket.storage.unixfs import MAX_LINKS
from gateway.app import create_app
from gateway.settings import GatewaySettings

RAW_ACCEPT = {"Accept": "application/vnd.ipld.raw"}
CAR_ACCEPT = {"Accept": "application/vnd.ipld.car"}
IMMUTABLE = "public, max-age=29030400, immutable"
#: Three levels: more leaves than one node links to, so the root links to inner nodes.
BIG = (MAX_LINKS + 3) * CHUNK_SIZE + 5


def sample(size: int, seed: int = 0) -> bytes:
    return random.Random(f"{seed}-{size}").randbytes(size)


@pytest.fixture
def store(tmp_path: Path) -> EmbeddedStore:
    return EmbeddedStore(tmp_path / "store", sync=False)


def client_for(store: EmbeddedStore, **settings: object) -> FlaskClient:
    app = create_app(GatewaySettings.from_mapping({"store": str(store.root), **settings}), store=store)
    return app.test_client()


@pytest.fixture
def client(store: EmbeddedStore) -> FlaskClient:
    return client_for(store)


def car_blocks(body: bytes) -> tuple[list[CID], list[tuple[CID, bytes]]]:
    reader = CarReader(io.BytesIO(body))
    return reader.roots, list(reader)


def exported(store: EmbeddedStore, cid: str) -> bytes:
    out = io.BytesIO()
    store.export_car(cid, out)
    return out.getvalue()


@pytest.mark.parametrize("version", [0, 1])
def test_raw_answers_the_root_block_with_the_trustless_headers(store, client, version):
    cid = store.add(io.BytesIO(sample(3 * CHUNK_SIZE)), cid_version=version)
    answer = client.get(f"/ipfs/{cid}", headers=RAW_ACCEPT)
    assert answer.status_code == 200
    root = CID.parse(cid)
    assert root.matches(answer.data) and answer.data == store.get_block(cid)
    headers = answer.headers
    assert headers["Content-Type"] == "application/vnd.ipld.raw"
    assert headers["Content-Length"] == str(len(answer.data))
    assert headers["Cache-Control"] == IMMUTABLE
    assert headers["X-Content-Type-Options"] == "nosniff"
    assert headers["Access-Control-Allow-Origin"] == "*"
    assert headers["Vary"] == "Accept"
    assert headers["Etag"] == f'"{cid}.raw"'
    assert headers["Content-Disposition"] == f'attachment; filename="{cid}.bin"'
    assert headers["X-Ipfs-Path"] == f"/ipfs/{cid}"
    assert headers["Content-Location"] == f"/ipfs/{cid}?format=raw"


def test_a_leaf_block_is_served_on_its_own(store, client):
    data = sample(2 * CHUNK_SIZE + 1)
    cid = store.add(io.BytesIO(data))
    leaf = CID.of_block(data[:CHUNK_SIZE], version=1, codec=RAW)
    answer = client.get(f"/ipfs/{leaf}?format=raw")
    assert answer.status_code == 200 and answer.data == data[:CHUNK_SIZE]
    assert "Content-Location" not in answer.headers  # the URL names its format already
    assert cid != str(leaf)


@pytest.mark.parametrize("version", [0, 1])
@pytest.mark.parametrize("size", [0, 1, CHUNK_SIZE, CHUNK_SIZE + 1, BIG])
def test_car_is_the_whole_dag_in_dfs_order_as_ipfs_dag_export_writes_it(store, client, version, size):
    data = sample(size, seed=version)
    cid = store.add(io.BytesIO(data), cid_version=version)
    answer = client.get(f"/ipfs/{cid}", headers=CAR_ACCEPT)
    assert answer.status_code == 200
    assert answer.headers["Content-Type"] == "application/vnd.ipld.car; version=1; order=dfs; dups=n"
    assert answer.headers["Content-Disposition"] == f'attachment; filename="{cid}.car"'
    assert answer.headers["Cache-Control"] == IMMUTABLE
    assert answer.headers["Etag"] == f'"{cid}.car.all.dfs.dups-n"'
    assert answer.data == exported(store, cid)
    roots, blocks = car_blocks(answer.data)
    assert [str(root) for root in roots] == [cid]
    assert str(blocks[0][0]) == cid
    assert all(block_cid.matches(block) for block_cid, block in blocks)
    payload = b"".join(block for block_cid, block in blocks if block_cid.codec == RAW or version == 0)
    if version == 1:
        assert payload == data


def test_big_car_streams_block_by_block(store, client):
    cid = store.add(io.BytesIO(sample(BIG)))
    answer = client.get(f"/ipfs/{cid}?format=car", buffered=False)
    assert answer.is_streamed
    pieces = list(answer.response)
    # The header, then one piece per block: no piece holds the whole DAG.
    assert pieces[0] == encode_header([CID.parse(cid)])
    assert len(pieces) == 1 + len(car_blocks(b"".join(pieces))[1])
    assert max(len(piece) for piece in pieces) < CHUNK_SIZE + 64
    answer.close()


def test_dups_y_sends_a_repeated_block_each_time_and_dups_n_once(store, client):
    # Every chunk of this file is the same bytes: one leaf block, linked many times.
    data = b"\x07" * (4 * CHUNK_SIZE)
    cid = store.add(io.BytesIO(data))
    once = client.get(f"/ipfs/{cid}", headers={"Accept": "application/vnd.ipld.car; dups=n"})
    every = client.get(f"/ipfs/{cid}", headers={"Accept": "application/vnd.ipld.car; order=dfs; dups=y"})
    assert once.headers["Content-Type"].endswith("dups=n")
    assert every.headers["Content-Type"] == "application/vnd.ipld.car; version=1; order=dfs; dups=y"
    assert once.headers["Etag"] != every.headers["Etag"]
    _, once_blocks = car_blocks(once.data)
    _, every_blocks = car_blocks(every.data)
    assert len(once_blocks) == 2  # the root and the one leaf
    assert len(every_blocks) == 5  # the root and the leaf four times
    assert {cid for cid, _ in once_blocks} == {cid for cid, _ in every_blocks}
    query = client.get(f"/ipfs/{cid}?format=car&car-dups=y")
    assert query.data == every.data


def test_dag_scope_block_is_the_root_alone_and_entity_the_whole_file(store, client):
    cid = store.add(io.BytesIO(sample(3 * CHUNK_SIZE)))
    block = client.get(f"/ipfs/{cid}?format=car&dag-scope=block")
    _, blocks = car_blocks(block.data)
    assert [str(c) for c, _ in blocks] == [cid] and blocks[0][1] == store.get_block(cid)
    assert block.headers["Etag"] == f'"{cid}.car.block.dfs.dups-n"'
    entity = client.get(f"/ipfs/{cid}?format=car&dag-scope=entity")
    assert entity.data == exported(store, cid)
    assert client.get(f"/ipfs/{cid}?format=car&dag-scope=some").status_code == 400


def test_format_query_wins_over_accept(store, client):
    cid = store.add(io.BytesIO(sample(10)))
    answer = client.get(f"/ipfs/{cid}?format=raw", headers=CAR_ACCEPT)
    assert answer.headers["Content-Type"] == "application/vnd.ipld.raw"
    answer = client.get(f"/ipfs/{cid}?format=car", headers=RAW_ACCEPT)
    assert answer.headers["Content-Type"].startswith("application/vnd.ipld.car")


def test_head_answers_the_headers_without_a_body(store, client):
    cid = store.add(io.BytesIO(sample(2 * CHUNK_SIZE)))
    raw = client.head(f"/ipfs/{cid}", headers=RAW_ACCEPT)
    assert raw.status_code == 200 and raw.data == b""
    assert raw.headers["Content-Length"] == str(len(store.get_block(cid)))
    car = client.head(f"/ipfs/{cid}?format=car")
    assert car.status_code == 200 and car.data == b""
    assert car.headers["Content-Type"].startswith("application/vnd.ipld.car; version=1")
    missing = client.head(f"/ipfs/{CID.of_block(b'absent', version=1, codec=RAW)}?format=raw")
    assert missing.status_code == 404


def test_if_none_match_with_the_etag_is_304(store, client):
    cid = store.add(io.BytesIO(sample(5)))
    answer = client.get(f"/ipfs/{cid}", headers={**RAW_ACCEPT, "If-None-Match": f'"{cid}.raw"'})
    assert answer.status_code == 304 and answer.data == b""
    assert answer.headers["Etag"] == f'"{cid}.raw"'


@pytest.mark.parametrize(
    "accept",
    [
        "text/html",
        "*/*",
        "application/json",
        "application/vnd.ipld.car; version=2",
        "application/vnd.ipld.car; order=random",
        "application/vnd.ipld.raw; q=0",
    ],
)
def test_formats_it_does_not_serve_are_406(store, client, accept):
    cid = store.add(io.BytesIO(sample(5)))
    answer = client.get(f"/ipfs/{cid}", headers={"Accept": accept})
    assert answer.status_code == 406
    assert answer.json["error"]["code"] == "not_acceptable"
    assert "application/vnd.ipld.raw" in answer.json["error"]["message"]
    assert answer.headers["Access-Control-Allow-Origin"] == "*"


@pytest.mark.parametrize(
    "query", ["format=json", "format=dag-json", "format=tar", "format=car&car-version=2"]
)
def test_format_queries_it_does_not_serve_are_406(store, client, query):
    cid = store.add(io.BytesIO(sample(5)))
    assert client.get(f"/ipfs/{cid}?{query}").status_code == 406


def test_no_accept_and_no_format_is_400_format_required(store, client):
    cid = store.add(io.BytesIO(sample(5)))
    answer = client.get(f"/ipfs/{cid}")
    assert answer.status_code == 400 and answer.json["error"]["code"] == "format_required"


def test_the_best_served_media_range_wins(store, client):
    cid = store.add(io.BytesIO(sample(5)))
    accept = "text/html, application/vnd.ipld.raw;q=0.5, application/vnd.ipld.car;q=0.9"
    answer = client.get(f"/ipfs/{cid}", headers={"Accept": accept})
    assert answer.headers["Content-Type"].startswith("application/vnd.ipld.car")


@pytest.mark.parametrize("method", ["post", "put", "delete", "patch", "options"])
def test_writes_and_other_methods_are_405(store, client, method):
    cid = store.add(io.BytesIO(sample(5)))
    answer = getattr(client, method)(f"/ipfs/{cid}", headers=RAW_ACCEPT, data=b"x")
    assert answer.status_code == 405
    assert answer.json["error"]["code"] == "method_not_allowed"
    assert set(answer.headers["Allow"].split(", ")) == {"GET", "HEAD"}


@pytest.mark.parametrize("text", ["nope", "Qm123", "bafy!!", "z", "f01"])
def test_a_bad_cid_is_400_invalid_cid(client, text):
    answer = client.get(f"/ipfs/{text}", headers=RAW_ACCEPT)
    assert answer.status_code == 400
    assert answer.json["error"]["code"] == "invalid_cid"
    assert text in answer.json["error"]["message"]


def test_an_absent_cid_is_404_without_the_store_s_path(store, client):
    absent = CID.of_block(b"not stored", version=1, codec=RAW)
    for path in (f"/ipfs/{absent}?format=raw", f"/ipfs/{absent}?format=car"):
        answer = client.get(path)
        assert answer.status_code == 404
        assert answer.json["error"]["code"] == "content_not_found"
        assert answer.json["error"]["details"] == {"cid": str(absent)}
        assert str(store.root) not in answer.get_data(as_text=True)
        assert answer.headers["Cache-Control"] == "no-store"


def test_only_if_cached_is_412_for_an_absent_root(store, client):
    absent = CID.of_block(b"not stored", version=1, codec=RAW)
    answer = client.get(f"/ipfs/{absent}?format=raw", headers={"Cache-Control": "only-if-cached"})
    assert answer.status_code == 412 and answer.json["error"]["code"] == "not_cached"
    cid = store.add(io.BytesIO(sample(5)))
    assert (
        client.get(f"/ipfs/{cid}?format=raw", headers={"Cache-Control": "only-if-cached"}).status_code == 200
    )


def test_paths_below_a_cid_are_404(store, client):
    cid = store.add(io.BytesIO(sample(5)))
    answer = client.get(f"/ipfs/{cid}/file.txt?format=car")
    assert answer.status_code == 404 and answer.json["error"]["code"] == "path_not_served"


def test_the_probe_cid_answers_empty(client):
    raw = client.get("/ipfs/bafkqaaa?format=raw")
    assert raw.status_code == 200 and raw.data == b""
    car = client.get("/ipfs/bafkqaaa?format=car")
    roots, blocks = car_blocks(car.data)
    assert [str(root) for root in roots] == ["bafkqaaa"] and blocks == []


def test_a_corrupted_root_block_is_never_served(store, client):
    cid = store.add(io.BytesIO(sample(CHUNK_SIZE)))
    path = next(p for p in (store.root / "blocks").rglob("*") if p.is_file())
    path.write_bytes(b"tampered" + path.read_bytes()[8:])
    answer = client.get(f"/ipfs/{cid}?format=raw")
    assert answer.status_code == 502 and answer.json["error"]["code"] == "content_corrupted"
    assert b"tampered" not in answer.data


def test_a_corrupted_inner_block_cuts_the_car_off(store, client):
    data = sample(3 * CHUNK_SIZE)
    cid = store.add(io.BytesIO(data))
    leaf = CID.of_block(data[CHUNK_SIZE : 2 * CHUNK_SIZE], version=1, codec=RAW)
    path = next(p for p in (store.root / "blocks").rglob("*") if p.name == leaf.multihash.hex())
    path.write_bytes(b"\0" * CHUNK_SIZE)
    answer = client.get(f"/ipfs/{cid}?format=car", buffered=False)
    assert answer.status_code == 200  # sent before the walk met the bad block
    with pytest.raises(Exception, match="does not match its hash"):
        b"".join(answer.response)


def test_a_dag_past_the_limits_is_cut_off(store):
    cid = store.add(io.BytesIO(sample(4 * CHUNK_SIZE)))
    client = client_for(store, max_dag_blocks="3")
    answer = client.get(f"/ipfs/{cid}?format=car", buffered=False)
    with pytest.raises(Exception, match="larger than 3 blocks"):
        b"".join(answer.response)
    assert client_for(store, max_dag_blocks="5").get(f"/ipfs/{cid}?format=car").status_code == 200


def test_a_codec_it_cannot_walk_is_refused_before_the_car_starts(store, client):
    # A dag-cbor block (0x71) in the store: served raw, but its links cannot be followed.
    block = b"\xa1\x61a\x01"
    cbor = CID(1, 0x71, bytes((0x12, 32)) + hashlib.sha256(block).digest())
    with store._batch() as put:
        put(cbor, block)
    assert client.get(f"/ipfs/{cbor}?format=raw").data == block
    answer = client.get(f"/ipfs/{cbor}?format=car")
    assert answer.status_code == 422 and answer.json["error"]["code"] == "unsupported_content"
    assert client.get(f"/ipfs/{cbor}?format=car&dag-scope=block").status_code == 200


def test_entity_bytes_is_refused_by_name(store, client):
    cid = store.add(io.BytesIO(sample(5)))
    answer = client.get(f"/ipfs/{cid}?format=car&entity-bytes=0:10")
    assert answer.status_code == 400 and answer.json["error"]["details"] == {"parameter": "entity-bytes"}


def test_cidv0_and_cidv1_of_one_dag_pb_root_are_the_same_block(store, client):
    cid = store.add(io.BytesIO(sample(2 * CHUNK_SIZE)), cid_version=0)
    v1 = CID.parse(cid).to_v1()
    assert v1.codec == DAG_PB
    assert client.get(f"/ipfs/{v1}?format=raw").data == client.get(f"/ipfs/{cid}?format=raw").data


def test_healthz(store, tmp_path):
    assert client_for(store).get("/healthz").status_code == 503  # no folder yet
    store.add(io.BytesIO(b"x"))
    answer = client_for(store).get("/healthz")
    assert answer.status_code == 200 and answer.json == {"checks": {"store": "ok"}, "status": "ok"}


def test_requests_past_a_class_s_rate_limit_are_429(store):
    cid = store.add(io.BytesIO(sample(5)))
    client = client_for(store, rate_limit_cars="2/minute", rate_limit_blocks="3/minute")
    for _ in range(2):
        assert client.get(f"/ipfs/{cid}?format=car").status_code == 200
    refused = client.get(f"/ipfs/{cid}", headers=CAR_ACCEPT)
    assert refused.status_code == 429 and refused.json["error"]["code"] == "rate_limited"
    assert int(refused.headers["Retry-After"]) >= 1
    assert refused.headers["Access-Control-Allow-Origin"] == "*"
    # Raw blocks are counted apart from CARs.
    assert [client.get(f"/ipfs/{cid}?format=raw").status_code for _ in range(4)] == [200, 200, 200, 429]
    assert client.get("/healthz").status_code == 200
