#!/bin/sh
# Installs the Debian packages deps/packages.txt lists that are missing: those
# of the parts given as arguments (e.g. `install-deps.sh build core` for a
# core build without the network modules, `install-deps.sh bench` as
# bench/run.sh does) or in $PARTS; none: all of them. Runs apt-get as root,
# or through sudo.
set -eu
here=$(cd "$(dirname "$0")/.." && pwd)
# shellcheck disable=SC2086
pkgs=$("$here/scripts/deps.sh" --debian "$@" ${PARTS:-} | sort -u)
if [ "${INSTALL_DEPS_LIST:-}" = 1 ]; then # print the packages considered, install nothing
    echo "$pkgs"
    exit 0
fi
missing=""
for p in $pkgs; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing="$missing $p"
done
[ -z "$missing" ] && exit 0
echo "install-deps: installing:$missing"
if [ "$(id -u)" -eq 0 ]; then SUDO=""; else SUDO="sudo"; fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
# shellcheck disable=SC2086
$SUDO apt-get install -y -qq --no-install-recommends $missing
