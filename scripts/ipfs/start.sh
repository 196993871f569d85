#!/usr/bin/env bash
# Usage: scripts/ipfs/start.sh DIR PORT
# Starts a local IPFS node (js-ipfs, installed by scripts/ipfs/install.sh) with its repo in DIR: inits
# the repo with the test profile if DIR has none, serves the kubo RPC API on 127.0.0.1:PORT (the
# gateway, swarm and gRPC listeners on free 127.0.0.1 ports), runs `jsipfs daemon --offline` in the
# background, waits until /api/v0/version answers and prints the API URL. Its pid is in
# DIR/daemon.pid, its output in DIR/daemon.log; scripts/ipfs/stop.sh DIR stops it.
set -euo pipefail

if [[ $# -ne 2 ]]; then
    echo "usage: $0 DIR PORT" >&2
    exit 2
fi
DIR="$(mkdir -p "$1" && cd "$1" && pwd)"
PORT="$2"
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
JSIPFS="${JSIPFS:-$ROOT/.cache/ipfs/bin/jsipfs}"
URL="http://127.0.0.1:$PORT"

if [[ ! -x "$JSIPFS" ]]; then
    echo "start.sh: no IPFS node at $JSIPFS; run scripts/ipfs/install.sh" >&2
    exit 1
fi
export IPFS_PATH="$DIR"
# A node killed without its cleanup (SIGKILL, power loss) leaves its repo lock and API file behind,
# and js-ipfs refuses a locked repo for 20 s: they are dropped when the node recorded here is gone
# (a zombie, which this machine's init may never reap, is gone too).
if [[ -f "$DIR/daemon.pid" ]] && ! "$(dirname "${BASH_SOURCE[0]}")/running.sh" "$(cat "$DIR/daemon.pid")"; then
    rm -rf "$DIR/repo.lock" "$DIR/api"
fi
if [[ ! -f "$DIR/config" ]]; then
    "$JSIPFS" init --profile test >"$DIR/init.log" 2>&1 || { cat "$DIR/init.log" >&2; exit 1; }
fi
# Port 0: the system picks a free port, so only the API port has to be known in advance.
jq --arg api "/ip4/127.0.0.1/tcp/$PORT" '
    .Addresses.API = $api
    | .Addresses.Gateway = "/ip4/127.0.0.1/tcp/0"
    | .Addresses.RPC = "/ip4/127.0.0.1/tcp/0"
    | .Addresses.Swarm = ["/ip4/127.0.0.1/tcp/0"]
    | .Addresses.Delegates = [] | .Bootstrap = []' "$DIR/config" >"$DIR/config.tmp"
mv "$DIR/config.tmp" "$DIR/config"

# setsid: the daemon leads its own process group, so stop.sh can end it with everything it started.
setsid "$JSIPFS" daemon --offline >"$DIR/daemon.log" 2>&1 </dev/null &
PID=$!
echo "$PID" >"$DIR/daemon.pid"

for _ in $(seq 1 600); do
    if curl -fsS -X POST "$URL/api/v0/version" >/dev/null 2>&1; then
        echo "$URL"
        exit 0
    fi
    if ! kill -0 "$PID" 2>/dev/null; then
        echo "start.sh: the IPFS daemon exited; its log ($DIR/daemon.log):" >&2
        cat "$DIR/daemon.log" >&2
        exit 1
    fi
    sleep 0.1
done
echo "start.sh: the IPFS daemon did not answer on $URL within 60 s; its log:" >&2
cat "$DIR/daemon.log" >&2
kill -TERM -- "-$PID" 2>/dev/null || true
exit 1
