"""Tries to reach the network: a port on the host's loopback (``params.host_port``), a public DNS
server by address (TCP and UDP), and a name lookup. Writes /out/report.json: for each attempt
``"blocked: <error>"`` or ``"REACHED"``."""

import json
import os
import socket
from pathlib import Path

JOB = Path(os.environ.get("DATAMARKET_JOB_DIR", "/job"))
OUT = Path(os.environ.get("DATAMARKET_OUT_DIR", "/out"))


def attempt(action) -> str:
    try:
        action()
    except OSError as exc:
        return f"blocked: {type(exc).__name__}: {exc}"
    return "REACHED"


def tcp(host: str, port: int) -> None:
    with socket.create_connection((host, port), timeout=3):
        pass


def udp(host: str, port: int) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.settimeout(2)
        sock.sendto(
            b"\x12\x34\x01\x00\x00\x01\x00\x00\x00\x00\x00\x00\x07example\x03com\x00\x00\x01\x00\x01",
            (host, port),
        )
        sock.recvfrom(512)


def main() -> None:
    params = json.loads((JOB / "params.json").read_text()).get("params") or {}
    port = int(params.get("host_port", 22))
    report = {
        "host_loopback": attempt(lambda: tcp("127.0.0.1", port)),
        "public_tcp": attempt(lambda: tcp("1.1.1.1", 53)),
        "public_udp": attempt(lambda: udp("8.8.8.8", 53)),
        "dns": attempt(lambda: socket.getaddrinfo("example.com", 443)),
        "interfaces": [name for _, name in socket.if_nameindex()],
    }
    (OUT / "report.json").write_text(json.dumps(report, indent=1))
    print(json.dumps(report), flush=True)


if __name__ == "__main__":
    main()
