"""Takes memory: ``params.mode == "once"`` asks for ``params.gib`` GiB in one allocation (default 20);
``"touch"`` grows by 64 MiB pieces it writes to, until it is stopped."""

import json
import os
from pathlib import Path

JOB = Path(os.environ.get("DATAMARKET_JOB_DIR", "/job"))


def main() -> None:
    params = json.loads((JOB / "params.json").read_text()).get("params") or {}
    if params.get("mode", "once") == "once":
        gib = int(params.get("gib", 20))
        print(f"allocating {gib} GiB", flush=True)
        hoard = bytearray(gib << 30)
        print(f"got {len(hoard)} bytes", flush=True)
        return
    pieces = []
    while True:
        piece = bytearray(64 << 20)
        for offset in range(0, len(piece), 4096):
            piece[offset] = 1
        pieces.append(piece)
        print(f"holding {len(pieces) * 64} MiB", flush=True)


if __name__ == "__main__":
    main()
