"""The local market's chain node with its state on disk: ``python -m datamarket.chain_keeper STATE --
ANVIL [ARGS...]`` runs anvil (loaded from STATE when that file exists) and keeps STATE up to date.

anvil's own ``--state-interval`` rewrites its state file in place: a SIGKILL in the middle of a
write leaves a truncated file that anvil then refuses to load, and the whole chain is lost. Here the
keeper asks anvil for its state (``anvil_dumpState``) and replaces STATE atomically
(:mod:`datamarket.atomic_files`): a kill at any moment leaves the previous state or the new one.
It looks at the head every ``POLL_S`` and writes the state whenever a block was mined since the last
write (and every ``IDLE_WRITE_S`` anyway, for changes without a block). A SIGKILL of the keeper's
process group therefore loses at most the blocks of the last fraction of a second: the chain
restarts at an earlier head, as after a short reorganisation (docs/operations.md, "Faults").

anvil runs in a process group of its own, so a SIGTERM to the keeper's group (``datamarket down``)
reaches the keeper alone: it writes the state a last time, then stops anvil. The kernel kills anvil
when the keeper dies (``PR_SET_PDEATHSIG``), so a SIGKILL of the keeper's group leaves no anvil
running.
"""

from __future__ import annotations

import contextlib
import ctypes
import gzip
import itertools
import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from urllib.request import Request, urlopen

from datamarket.atomic_files import PUBLIC, write_atomically

POLL_S = 0.2
IDLE_WRITE_S = 5.0
RPC_TIMEOUT_S = 30.0
STOP_TIMEOUT_S = 10.0
PR_SET_PDEATHSIG = 1


def anvil_command(state: Path, anvil: list[str]) -> list[str]:
    """anvil's command line: ``anvil`` and its arguments, loading ``state`` when it exists."""
    return [*anvil, "--load-state", str(state)] if state.exists() else list(anvil)


def rpc_url(anvil: list[str]) -> str:
    """The node's JSON-RPC URL, from anvil's ``--host`` and ``--port`` (loopback, 8545 by default)."""
    values = dict(itertools.pairwise(anvil))
    return f"http://{values.get('--host', '127.0.0.1')}:{values.get('--port', '8545')}"


def call(url: str, method: str, params: list | None = None) -> object:
    body = json.dumps({"jsonrpc": "2.0", "id": 1, "method": method, "params": params or []}).encode()
    request = Request(url, body, {"Content-Type": "application/json"})
    with urlopen(request, timeout=RPC_TIMEOUT_S) as answer:
        reply = json.loads(answer.read())
    if "error" in reply:
        raise RuntimeError(f"{method}: {reply['error']}")
    return reply["result"]


def write_state(url: str, state: Path) -> None:
    """anvil's state now (gzip-compressed JSON, as hex) into ``state``, all or nothing."""
    dumped = call(url, "anvil_dumpState")
    assert isinstance(dumped, str)
    write_atomically(state, gzip.decompress(bytes.fromhex(dumped.removeprefix("0x"))), mode=PUBLIC)


def _die_with_parent() -> None:  # pragma: no cover - runs in the child between fork and exec
    parent = os.getppid()
    ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
    if os.getppid() != parent:  # the keeper died before the line above
        os._exit(1)


class Keeper:
    def __init__(self, state: Path, anvil: list[str]) -> None:
        self.state, self.anvil, self.url = state, anvil, rpc_url(anvil)
        self.stop = threading.Event()
        self.head: str | None = None
        self.written_at = 0.0

    def run(self) -> int:
        process = subprocess.Popen(
            anvil_command(self.state, self.anvil), stdin=subprocess.DEVNULL, process_group=0,
            preexec_fn=_die_with_parent,
        )  # fmt: skip
        for name in (signal.SIGTERM, signal.SIGINT):
            signal.signal(name, lambda *_: self.stop.set())
        try:
            while not self.stop.wait(POLL_S):
                if process.poll() is not None:
                    return process.returncode
                self.step()
            self.step(final=True)
            return 0
        finally:
            with contextlib.suppress(ProcessLookupError):
                process.terminate()
            try:
                process.wait(STOP_TIMEOUT_S)
            except subprocess.TimeoutExpired:
                process.kill()

    def step(self, *, final: bool = False) -> None:
        """Write the state if a block was mined since the last write (always when ``final``)."""
        try:
            head = call(self.url, "eth_blockNumber")
            idle = time.monotonic() - self.written_at >= IDLE_WRITE_S
            if head == self.head and not idle and not final:
                return
            write_state(self.url, self.state)
        except Exception as exc:  # not answering yet (starting), or busy: the next round tries again
            if self.head is not None or final:
                print(f"chain keeper: the state was not written ({type(exc).__name__}: {exc})", flush=True)
            return
        self.head, self.written_at = head, time.monotonic()  # type: ignore[assignment]


def main(argv: list[str]) -> int:
    if len(argv) < 3 or argv[1] != "--":
        print("usage: python -m datamarket.chain_keeper STATE -- ANVIL [ARGS...]", file=sys.stderr)
        return 2
    return Keeper(Path(argv[0]), argv[2:]).run()


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
