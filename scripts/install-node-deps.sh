#!/bin/sh
# Installs the npm packages the Parquet interoperability tests use (pinned by
# tests/parquet/interop/package-lock.json), and Node.js itself from Debian
# when the machine has none.
set -eu
here=$(cd "$(dirname "$0")/.." && pwd)
if ! command -v npm > /dev/null 2>&1; then
    if [ "$(id -u)" -eq 0 ]; then SUDO=""; else SUDO="sudo"; fi
    echo "install-node-deps: installing nodejs and npm"
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends nodejs npm
fi
cd "$here/tests/parquet/interop"
if [ ! -d node_modules ] || [ package-lock.json -nt node_modules ]; then
    npm ci --no-audit --no-fund --loglevel=error
    touch node_modules
fi
