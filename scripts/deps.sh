#!/bin/sh
# scripts/deps.sh [--debian] PART...: the dependencies deps/packages.txt
# lists for the parts named (core, pg, s3, build, test, python, online; none:
# all; a row may name several parts, "core,pg"), one a line: their pkg-config names, or with --debian their Debian
# packages. The shell consumers (install-deps.sh, fuzz/run.sh,
# check-install.sh) read the table through this.
set -eu
col=2
if [ "${1:-}" = "--debian" ]; then col=1; shift; fi
awk -v col="$col" -v parts=" $* " '
    /^[ \t]*(#|$)/ { next }
    {
        n = split($3, p, ",")
        for (i = 1; i <= n; i++)
            if ((parts == "  " || index(parts, " " p[i] " ")) && $col != "-" && !seen[$col]++)
                print $col
    }
' "$(dirname "$0")/../deps/packages.txt"
