#!/bin/sh
# The public headers compile alone as strict C99 and as C++.
set -eu
cd "$(dirname "$0")/.."
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
for h in $(cd include && find . -name "*.h" | sed "s|^./||" | sort); do
    printf '#include <%s>\nint main(void) { return 0; }\n' "$h" > "$tmp/t.c"
    cc -std=c99 -pedantic -Wall -Wextra -Werror -Iinclude -c "$tmp/t.c" -o "$tmp/t.o"
    cp "$tmp/t.c" "$tmp/t.cpp"
    c++ -std=c++11 -pedantic -Wall -Wextra -Werror -Iinclude -c "$tmp/t.cpp" -o "$tmp/t.o"
done
echo "headers: C99 and C++ clean"
