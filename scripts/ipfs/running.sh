#!/usr/bin/env bash
# Usage: scripts/ipfs/running.sh PID
# Exits 0 when process PID runs: it exists and is neither a zombie nor dead (an exited node whose
# parent does not reap it still has a pid, and kill -0 succeeds on it).
set -euo pipefail

STAT="$(cat "/proc/$1/stat" 2>/dev/null)" || exit 1
STATE="${STAT##*) }"
[[ "${STATE:0:1}" != "Z" && "${STATE:0:1}" != "X" ]]
