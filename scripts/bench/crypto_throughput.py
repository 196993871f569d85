"""Throughput of the streaming AEAD against plain file I/O on the same bytes.

Usage: python scripts/bench/crypto_throughput.py [--mib 256] [--chunk-size 65536] [--repeat 3]

Writes a random file of --mib MiB in a temporary directory, then times (best of --repeat):
a plain read, a plain copy (read + write), encrypt_stream file -> file, decrypt_stream file -> file.
Prints a table and records it in bench/results/crypto.json. Figures are MiB of plaintext per second.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import cryptography

from datamarket.crypto.stream import DEFAULT_CHUNK_SIZE, decrypt_stream, encrypt_stream, new_content_key

RESULTS = Path(__file__).resolve().parents[2] / "bench" / "results" / "crypto.json"
_IO_BLOCK = 1024 * 1024


def _write_random(path: Path, size: int) -> None:
    with path.open("wb") as out:
        left = size
        while left:
            block = min(left, _IO_BLOCK)
            out.write(os.urandom(block))
            left -= block


def _plain_read(src: Path) -> None:
    with src.open("rb") as f:
        while f.read(_IO_BLOCK):
            pass


def _best_seconds(action: Callable[[], object], repeat: int) -> float:
    best = float("inf")
    for _ in range(repeat):
        start = time.perf_counter()
        action()
        best = min(best, time.perf_counter() - start)
    return best


def run(size_mib: int, chunk_size: int, repeat: int, workdir: Path) -> dict[str, object]:
    size = size_mib * 1024 * 1024
    key = new_content_key()
    plain, encrypted, decrypted, copied = (workdir / n for n in ("plain", "enc", "dec", "copy"))
    _write_random(plain, size)

    def encrypt() -> None:
        with plain.open("rb") as src, encrypted.open("wb") as dst:
            encrypt_stream(src, dst, key, chunk_size=chunk_size)

    def decrypt() -> None:
        with encrypted.open("rb") as src, decrypted.open("wb") as dst:
            decrypt_stream(src, dst, key)

    timings = {
        "plain_read": _best_seconds(lambda: _plain_read(plain), repeat),
        "plain_copy": _best_seconds(lambda: shutil.copyfile(plain, copied), repeat),
        "encrypt": _best_seconds(encrypt, repeat),
        "decrypt": _best_seconds(decrypt, repeat),
    }
    if decrypted.read_bytes() != plain.read_bytes():
        raise RuntimeError("decrypted file differs from the plaintext")
    return {
        "recorded": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "machine": {
            "python": platform.python_version(),
            "cryptography": cryptography.__version__,
            "processor": platform.machine(),
            "cpus": os.cpu_count(),
        },
        "size_mib": size_mib,
        "chunk_size": chunk_size,
        "repeat": repeat,
        "ciphertext_overhead_bytes": encrypted.stat().st_size - size,
        "mib_per_s": {name: round(size_mib / seconds, 1) for name, seconds in timings.items()},
        "seconds": {name: round(seconds, 4) for name, seconds in timings.items()},
    }


def print_table(result: dict[str, object]) -> None:
    rates: dict[str, float] = result["mib_per_s"]  # type: ignore[assignment]
    seconds: dict[str, float] = result["seconds"]  # type: ignore[assignment]
    print(f"{result['size_mib']} MiB, chunk size {result['chunk_size']}, best of {result['repeat']}")
    print(f"{'operation':<12} {'seconds':>9} {'MiB/s':>9}")
    for name, rate in rates.items():
        print(f"{name:<12} {seconds[name]:>9.3f} {rate:>9.1f}")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--mib", type=int, default=256)
    parser.add_argument("--chunk-size", type=int, default=DEFAULT_CHUNK_SIZE)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="dm-crypto-bench-") as tmp:
        result = run(args.mib, args.chunk_size, args.repeat, Path(tmp))
    print_table(result)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    print(f"recorded in {args.out}")


if __name__ == "__main__":
    main()
