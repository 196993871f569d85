"""Content identifiers, encryption and the data path: the bytes from the store to the buyer."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from bench_readme import machines
from bench_readme import references as ref
from bench_readme.markdown import NONE, fixed, number, percent, table
from bench_readme.results import Results
from bench_readme.section import Section

MIB = 2**20


def _mibs(value: float) -> str:
    return f"{fixed(value, 1)}"


def cid_fill(results: Results) -> dict[str, str]:
    r = results["cid.json"]
    speed, stream = r["mib_per_s"], r["stream"]
    slower = min(speed["cid_v0"], speed["cid_v1"])
    rows = [
        [
            "CID computation (the slower version) beside sha256 of the same bytes",
            f"{fixed(slower, 0)} vs {fixed(speed['sha256'], 0)} MiB/s ({percent(r['cid_vs_sha256'])})",
            str(ref.CID_VS_SHA256),
        ],
        ["CIDv0 / CIDv1", f"{_mibs(speed['cid_v0'])} / {_mibs(speed['cid_v1'])} MiB/s", NONE],
        ["sha256 in the importer's chunks", f"{_mibs(speed['sha256_chunks'])} MiB/s", NONE],
        [
            "embedded store: add / add with fsync / verified cat",
            f"{_mibs(speed['embedded_add'])} / {_mibs(speed['embedded_add_fsync'])} / "
            f"{_mibs(speed['embedded_cat'])} MiB/s",
            NONE,
        ],
        [
            f"memory while computing the CID of a {stream['bytes'] / 2**30:g} GiB stream",
            f"+{fixed(stream['rss_growth_mib'], 1)} MiB RSS ({fixed(stream['seconds'], 2)} s)",
            ref.CID_STREAM_MEMORY,
        ],
    ]
    return {
        "size_mib": str(r["size_mib"]),
        "repeat": str(r["repeat"]),
        "stream_gib": f"{stream['bytes'] / 2**30:g}",
        "machine": machines.describe(r),
        "table": table(["what", "figure", "target"], rows),
    }


def crypto_fill(results: Results) -> dict[str, str]:
    r = results["crypto.json"]
    speed = r["mib_per_s"]
    rows = [
        [
            f"encrypt / decrypt ({r['size_mib']} MiB file, {r['chunk_size'] // 1024} KiB chunks)",
            f"{fixed(speed['encrypt'], 0)} / {fixed(speed['decrypt'], 0)} MiB/s",
        ],
        [
            "plain read / plain copy of the same file",
            f"{fixed(speed['plain_read'], 0)} / {fixed(speed['plain_copy'], 0)} MiB/s",
        ],
        ["ciphertext beside the plaintext", f"+{number(r['ciphertext_overhead_bytes'])} bytes"],
    ]
    return {
        "size_mib": str(r["size_mib"]),
        "repeat": str(r["repeat"]),
        "chunk_kib": str(r["chunk_size"] // 1024),
        "machine": machines.describe(r),
        "table": table(["what", "figure"], rows),
    }


def _data_path_column(r: Mapping[str, Any]) -> list[str]:
    one, many, download = r["access_1_clients"], r["access_16_clients"], r["download"]
    return [
        f"{fixed(one['p50_ms'], 1)} / {fixed(one['p99_ms'], 1)} ms",
        f"{fixed(one['throughput_rps'], 1)} req/s",
        f"{fixed(many['p50_ms'], 0)} / {fixed(many['p99_ms'], 0)} ms",
        f"{fixed(many['throughput_rps'], 1)} req/s",
        f"{fixed(download['download_decrypt_mb_s'], 0)} vs {fixed(download['plain_read_mb_s'], 0)} MB/s "
        f"({percent(_ratio(download))})",
    ]


def _ratio(download: Mapping[str, Any]) -> float:
    """The download's speed beside the plain read's, from the two speeds shown beside it."""
    return download["download_decrypt_mb_s"] / download["plain_read_mb_s"]


DATA_PATH_ROWS = (
    "access request (POST /access), p50 / p99, one client",
    "the same: throughput",
    "16 concurrent clients: p50 / p99",
    "16 concurrent clients: throughput",
    "download + decrypt beside a plain, verified read of the ciphertext",
)


def data_path_fill(results: Results) -> dict[str, str]:
    r = results["data_path.json"]
    runs = [(f"`data_path.json`, host sha256 at {fixed(r['machine']['reference_sha256_mib_s'], 0)} MiB/s", r)]
    earlier = results.earlier_run("data_path.json")
    if earlier is not None:
        header = f"first run, host sha256 at {fixed(earlier['host_sha256_mib_s'], 0)} MiB/s"
        runs.insert(0, (header, earlier["figures"]))
    columns = [_data_path_column(run) for _, run in runs]
    targets = [str(ref.ACCESS_P50_MS), NONE, NONE, NONE, str(ref.DOWNLOAD_VS_PLAIN_READ)]
    anchors = [str(ref.OCEAN_SIGNATURES), NONE, NONE, NONE, str(ref.OCEAN_DOWNLOAD)]
    rows = [[what, *(c[i] for c in columns), targets[i], anchors[i]] for i, what in enumerate(DATA_PATH_ROWS)]
    header = ["what", *(h for h, _ in runs), "target", "Ocean"]
    sizes = sorted({run["download"]["bytes"] for _, run in runs})
    ratio = _ratio(r["download"]) * 100
    short = "" if ref.DOWNLOAD_VS_PLAIN_READ.met(ratio) else (
        "The download falls short of its target on this machine: a plain read of the ciphertext already "
        "hashes every block against its CID, and the download adds AES-GCM and the plaintext's sha256, "
        "three passes of roughly equal cost on two cores."
    )  # fmt: skip
    return {
        "runs": "both recorded runs" if len(runs) > 1 else "the recorded run",
        "download": " and ".join(
            f"a {fixed(b / MIB, 0)} MiB file ({number(b)} bytes of ciphertext)" for b in sizes
        ),
        "requests": str(r["access_1_clients"]["requests"]),
        "earlier": ""
        if earlier is None
        else f"The first run is kept in `bench/results/earlier/data_path.json` (from {earlier['source']}).",
        "table": table(header, rows),
        "short": short,
    }


SECTIONS = (
    Section(
        template="cid",
        title="Content identifiers",
        script="scripts/bench/cid_throughput.py",
        results=("cid.json",),
        measures="CID computation beside sha256, the embedded store, memory of a 2 GiB add",
        fill=cid_fill,
    ),
    Section(
        template="crypto",
        title="Encryption",
        script="scripts/bench/crypto_throughput.py",
        results=("crypto.json",),
        measures="the streaming AEAD beside plain file I/O",
        fill=crypto_fill,
    ),
    Section(
        template="data_path",
        title="Data path",
        script="scripts/bench/data_path.py",
        results=("data_path.json",),
        measures="access request latency and throughput, download and decrypt",
        fill=data_path_fill,
    ),
)
