"""Hashes of token-id sequences for the raw-row scan: ids are mixed (splitmix64, a bijection) and
combined as sum(m[i] * B**i) mod 2**64."""

from __future__ import annotations

import math

import numpy as np

_U64 = np.uint64
_BASE = 0x9E3779B97F4A7C15 | 1
_BASE_INV = pow(_BASE, -1, 1 << 64)
_UNKNOWN = 1 << 62  # the id of a stream token that is no input token
_MIX_ADD = _U64(0x632BE59BD9B4E019)
_MIX_C1 = _U64(0xBF58476D1CE4E5B9)
_MIX_C2 = _U64(0x94D049BB133111EB)
_S30, _S27, _S31 = _U64(30), _U64(27), _U64(31)


def _mix(ids: np.ndarray) -> np.ndarray:
    z = ids.astype(_U64) + _MIX_ADD
    z = (z ^ (z >> _S30)) * _MIX_C1
    z = (z ^ (z >> _S27)) * _MIX_C2
    return z ^ (z >> _S31)


class _Powers:
    """B**i and B**-i mod 2**64, grown on demand."""

    def __init__(self) -> None:
        self.pw = np.ones(1, dtype=_U64)
        self.ipw = np.ones(1, dtype=_U64)

    def get(self, n: int) -> tuple[np.ndarray, np.ndarray]:
        if len(self.pw) < n:
            size = max(n, 2 * len(self.pw), 1024)
            pw = np.empty(size, dtype=_U64)
            ipw = np.empty(size, dtype=_U64)
            pw[0] = ipw[0] = 1
            pw[1:] = _U64(_BASE)
            ipw[1:] = _U64(_BASE_INV)
            np.cumprod(pw, out=pw)
            np.cumprod(ipw, out=ipw)
            self.pw, self.ipw = pw, ipw
        return self.pw, self.ipw


_POWERS = _Powers()


def _segment_hashes(mixed: np.ndarray, starts: np.ndarray, lengths: np.ndarray) -> np.ndarray:
    """Hashes of disjoint, consecutive, non-empty segments that tile ``mixed``."""
    pw, _ = _POWERS.get(int(lengths.max()) + 1)
    local = np.arange(len(mixed), dtype=np.int64) - np.repeat(starts, lengths)
    return np.add.reduceat(mixed * pw[local], starts)


def _anchor_hashes(mixed: np.ndarray, starts: np.ndarray, k: np.ndarray) -> np.ndarray:
    """Hashes of ``mixed[starts[i] : starts[i] + k[i]]`` for k <= 4."""
    pw, _ = _POWERS.get(5)
    out = np.zeros(len(starts), dtype=_U64)
    for t in range(4):
        valid = t < k
        idx = np.where(valid, starts + t, 0)
        out += np.where(valid, mixed[idx] * pw[t], _U64(0))
    return out


def _sliding_hashes(mixed: np.ndarray, width: int) -> np.ndarray:
    """Hash of every window of ``width`` items (len(mixed) - width + 1 of them)."""
    pw, _ = _POWERS.get(width)
    n = len(mixed) - width + 1
    out = mixed[:n].copy()
    for t in range(1, width):
        out += mixed[t : t + n] * pw[t]
    return out


class _HashTable:
    """Sorted 64-bit hashes (each with a reference) behind a bitmap of their top bits, so that most
    needles are dismissed by one gather before the binary search."""

    def __init__(self, hashes: np.ndarray, refs: np.ndarray, *, presorted: bool = False) -> None:
        """``presorted``: ``hashes`` and ``refs`` are already in order (another table's arrays)."""
        if presorted:
            self.hashes, self.refs = hashes, refs
        else:
            order = np.argsort(hashes, kind="stable")
            self.hashes = hashes[order]
            self.refs = refs[order]
        bits = min(26, max(16, math.ceil(math.log2(max(len(hashes), 1) * 16))))
        self.shift = _U64(64 - bits)
        self.bitmap = np.zeros(1 << bits, dtype=bool)
        self.bitmap[self.hashes >> self.shift] = True

    def lookup(self, needles: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(indices of the needles found, lo, hi): ``hashes[lo:hi]`` equal each found needle."""
        candidates = np.nonzero(self.bitmap[needles >> self.shift])[0]
        values = needles[candidates]
        lo = np.searchsorted(self.hashes, values, "left")
        hi = np.searchsorted(self.hashes, values, "right")
        hit = hi > lo
        return candidates[hit], lo[hit], hi[hit]


def _float_bits(values: np.ndarray) -> np.ndarray:
    """Bit patterns (as uint64) of float32/float64 values, -0.0 counted as 0.0. Signalling NaNs
    (any bytes read as floats hold some) make numpy warn on the addition; they match nothing."""
    with np.errstate(invalid="ignore"):
        if values.dtype == np.float32:
            return (values + np.float32(0.0)).view(np.uint32).astype(_U64)
        return (values.astype(np.float64) + 0.0).view(_U64)
