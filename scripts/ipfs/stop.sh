#!/usr/bin/env bash
# Usage: scripts/ipfs/stop.sh DIR
# Stops the IPFS node that scripts/ipfs/start.sh DIR started (SIGTERM to its process group, SIGKILL
# after 10 s). Does nothing if it is not running.
set -euo pipefail

if [[ $# -ne 1 ]]; then
    echo "usage: $0 DIR" >&2
    exit 2
fi
PIDFILE="$1/daemon.pid"
[[ -f "$PIDFILE" ]] || exit 0
PID="$(cat "$PIDFILE")"
if kill -TERM -- "-$PID" 2>/dev/null; then
    for _ in $(seq 1 100); do
        "$(dirname "${BASH_SOURCE[0]}")/running.sh" "$PID" || break
        sleep 0.1
    done
    kill -KILL -- "-$PID" 2>/dev/null || true
fi
rm -f "$PIDFILE"
