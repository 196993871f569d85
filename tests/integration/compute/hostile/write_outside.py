"""Tries to write outside /out and /tmp: into /data, /job, /usr, the root, /etc, /proc/sys, /dev, the
Python installation and through ``..``. /out/report.json: ``"denied: <errno name>"`` or ``"WROTE"``
for each path (/tmp and /out are expected to be writable)."""

import errno
import json
import os
import sys
from pathlib import Path

DATA = Path(os.environ.get("DATAMARKET_DATA_DIR", "/data"))
OUT = Path(os.environ.get("DATAMARKET_OUT_DIR", "/out"))

TARGETS = [
    f"{DATA}/planted.txt",
    "/data/../planted.txt",
    "/job/planted.txt",
    "/job/algorithm/main.py",
    "/job/params.json",
    "/usr/planted.txt",
    "/planted.txt",
    "/etc/passwd",
    "/etc/planted.txt",
    "/proc/sys/kernel/hostname",
    "/proc/sysrq-trigger",
    "/dev/planted.txt",
    "/root/planted.txt",
    os.path.join(sys.prefix, "planted.txt"),
    os.path.join(sys.base_prefix, "planted.txt"),
    "/tmp/allowed.txt",
    "/dev/shm/allowed.txt",
    f"{OUT}/allowed.txt",
]


def attempt(path: str) -> str:
    try:
        with open(path, "a") as file:
            file.write("planted\n")
    except OSError as exc:
        return f"denied: {errno.errorcode.get(exc.errno, exc.errno)}"
    return "WROTE"


def main() -> None:
    report = {path: attempt(path) for path in TARGETS}
    for folder in ("/data/newdir", "/job/newdir", "/usr/newdir"):
        try:
            os.mkdir(folder)
            report[folder] = "WROTE"
        except OSError as exc:
            report[folder] = f"denied: {errno.errorcode.get(exc.errno, exc.errno)}"
    (OUT / "report.json").write_text(json.dumps(report, indent=1))
    print(json.dumps(report), flush=True)


if __name__ == "__main__":
    main()
