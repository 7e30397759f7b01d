#!/bin/sh
# Installs the Debian packages listed in deps/*.txt (or in the lists given as
# arguments, as bench/run.sh does with bench/deps.txt) that are missing.
# Runs apt-get as root, or through sudo. Each module keeps its own list.
set -eu
here=$(cd "$(dirname "$0")/.." && pwd)
[ $# -gt 0 ] || set -- "$here"/deps/*.txt
pkgs=$(cat "$@" | sed 's/#.*//' | tr -s ' \t' '\n' | sort -u)
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
