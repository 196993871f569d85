"""Leaves a daemon behind: double fork, setsid, SIGTERM/SIGHUP ignored, still holding stdout. The
daemon re-executes itself with ``params.token`` in its command line and appends a line to
/out/daemon.log every 50 ms; the main process exits as soon as the daemon has written once."""

import json
import os
import signal
import sys
import time
from pathlib import Path

JOB = Path(os.environ.get("DATAMARKET_JOB_DIR", "/job"))
OUT = Path(os.environ.get("DATAMARKET_OUT_DIR", "/out"))


def daemon() -> None:
    for number in (signal.SIGTERM, signal.SIGHUP, signal.SIGINT):
        signal.signal(number, signal.SIG_IGN)
    with open(OUT / "daemon.log", "a") as log:
        while True:
            log.write(f"{time.time()}\n")
            log.flush()
            time.sleep(0.05)


def main() -> None:
    if len(sys.argv) > 2 and sys.argv[1] == "--daemon":
        daemon()
        return
    params = json.loads((JOB / "params.json").read_text()).get("params") or {}
    token = str(params.get("token", "datamarket-daemon"))
    child = os.fork()
    if child == 0:
        os.setsid()
        if os.fork() > 0:
            os._exit(0)
        os.execv(sys.executable, [sys.executable, os.path.abspath(__file__), "--daemon", token])
    os.waitpid(child, 0)
    deadline = time.monotonic() + 5
    while not (OUT / "daemon.log").exists() and time.monotonic() < deadline:
        time.sleep(0.01)
    print("main process exits, the daemon lives on", flush=True)


if __name__ == "__main__":
    main()
