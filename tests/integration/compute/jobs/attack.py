"""A hostile algorithm, published as a bundle and trusted by the dataset, so that the sandbox and
the output policy (not the allowlist) have to stop it. ``params.attack`` picks the attack.

Attacks that the sandbox must contain report what they saw in /out/metrics.json as
``{"attack": ..., "breached": bool, "seen": {...}}`` and exit 0; the test asserts ``breached`` is
false. The others (leaks, resource abuse) are for the policy or the limits to end.
"""

import json
import os
import pickle
import socket
import subprocess
import sys
import time
from pathlib import Path

JOB = Path(os.environ.get("DATAMARKET_JOB_DIR", "/job"))
OUT = Path(os.environ.get("DATAMARKET_OUT_DIR", "/out"))
DATA = Path(os.environ.get("DATAMARKET_DATA_DIR", "/data"))


def report(attack, breached, seen):
    (OUT / "metrics.json").write_text(json.dumps({"attack": attack, "breached": breached, "seen": seen}))


def try_connect(host, port):
    try:
        with socket.create_connection((host, port), timeout=2):
            return "connected"
    except OSError as exc:
        return type(exc).__name__


def try_read(path):
    try:
        return f"read {len(Path(path).read_bytes())} bytes"
    except OSError as exc:
        return type(exc).__name__


def try_write(path):
    try:
        with open(path, "w") as f:
            f.write("x")
        return "written"
    except OSError as exc:
        return type(exc).__name__


def rows():
    return (DATA / "data.csv").read_text().splitlines()[1:]


def main():
    params = json.loads((JOB / "params.json").read_text())
    p = params["params"]
    attack = p["attack"]
    print("attack:", attack, flush=True)
    if attack == "network":
        seen = {
            "host_port": try_connect("127.0.0.1", int(p["host_port"])),
            "outside": try_connect("1.1.1.1", 53),
        }
        try:
            seen["dns"] = str(socket.getaddrinfo("example.com", 443)[:1])
        except OSError as exc:
            seen["dns"] = type(exc).__name__
        report(
            attack,
            seen["host_port"] == "connected"
            or seen["outside"] == "connected"
            or not seen["dns"].endswith("error"),
            seen,
        )
    elif attack == "secrets":
        seen = {path: try_read(path) for path in p["paths"]}
        env_text = try_read("/proc/1/environ") + " " + " ".join(os.environ)
        seen["environment"] = sorted(k for k in os.environ if k.startswith("DATAMARKET"))
        leaked = [
            k for k, v in seen.items() if isinstance(v, str) and v.startswith("read") and k in p["paths"]
        ]
        report(attack, bool(leaked) or bool(seen["environment"]) or "PRIVATE_KEY" in env_text, seen)
    elif attack == "write_data":
        seen = {"new": try_write("/data/new.csv"), "existing": try_write("/data/data.csv")}
        report(attack, "written" in seen.values(), seen)
    elif attack == "write_outside":
        seen = {path: try_write(path) for path in ("/job/x", "/usr/x", "/x", "/etc/x", "/home/x", "/proc/x")}
        report(attack, "written" in seen.values(), seen)
    elif attack == "fill_disk":
        with open(OUT / "fill.json", "w") as f:
            try:
                while True:
                    f.write(" " * (1 << 20))
                    f.flush()
            except OSError as exc:
                print("stopped by", type(exc).__name__, flush=True)
    elif attack == "allocate":
        block = bytearray(20 * 1024**3)
        block[::4096] = b"x" * len(block[::4096])
        print("allocated 20 GB", flush=True)
    elif attack == "fork_bomb":
        while True:
            try:
                os.fork()
            except OSError:
                time.sleep(0.01)
    elif attack == "forever":
        while True:
            time.sleep(1)
    elif attack == "outlive":
        marker = p["marker"]
        subprocess.Popen(
            [sys.executable, "-c", f"import time\nwhile True: time.sleep(0.1)  # {marker}"],
            start_new_session=True,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        report(attack, False, {"spawned": True})
    elif attack == "copy_csv":
        (OUT / "data.csv").write_text((DATA / "data.csv").read_text())
    elif attack == "print_rows":
        for row in rows()[:20]:
            print(row)
    elif attack == "json_rows":
        (OUT / "metrics.json").write_text(
            json.dumps({"accuracy": 0.9, "notes": [r.split(",") for r in rows()[:3]]})
        )
    elif attack == "pickle":
        (OUT / "model.pkl").write_bytes(pickle.dumps({"weights": [1, 2, 3]}))
    elif attack == "pickle_renamed":
        (OUT / "model.json").write_bytes(pickle.dumps({"weights": [1, 2, 3]}))
    elif attack == "epsilon_lie":
        (OUT / "metrics.json").write_text(json.dumps({"epsilon_spent": float(params["epsilon"]) * 10}))
    else:
        raise SystemExit("unknown attack")


if __name__ == "__main__":
    main()
