#!/usr/bin/env bash
# Installs the real IPFS client the gateway's integration tests fetch through: @helia/verified-fetch
# and Helia's trustless gateway block broker, pinned by tests/gateway_client/package.json and its
# package-lock.json, into tests/gateway_client/node_modules/ (git-ignored), with `npm ci`.
# It runs under Node 22 or later: the system's node when new enough, else the Node 22 that
# scripts/ipfs/install.sh installs (run that first). Idempotent: skips npm when the same lock is
# installed. Without npm it exits quietly (the tests skip themselves), except in CI (CI=true).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
DEST="$ROOT/tests/gateway_client"
STAMP="$(cat "$DEST/package.json" "$DEST/package-lock.json" | sha256sum | cut -d' ' -f1)"
MARK="$DEST/node_modules/.datamarket-installed"

if [[ -f "$MARK" && "$(cat "$MARK")" == "$STAMP" ]]; then
    echo "IPFS client already installed in $DEST/node_modules"
    exit 0
fi
if ! command -v npm >/dev/null; then
    echo "install.sh: npm is needed to install the IPFS client of the gateway tests" >&2
    [[ "${CI:-}" == "true" ]] && exit 1
    exit 0
fi
(cd "$DEST" && npm ci --no-audit --no-fund --loglevel=error)
echo "$STAMP" >"$MARK"
echo "IPFS client: @helia/verified-fetch $(cd "$DEST" && node -p "require('./node_modules/@helia/verified-fetch/package.json').version") in $DEST/node_modules"
