#!/bin/sh
# Every C file of the project is formatted as .clang-format says: the library
# (src/, include/), the Python binding (python/) and the tests, fuzz targets
# and benchmarks. Fix with `make format`.
set -eu
cd "$(dirname "$0")/.."
files=$(git ls-files 'src/*.[ch]' 'include/*.h' 'python/*.[ch]' 'tests/*.[ch]' 'fuzz/*.[ch]' \
    'bench/*.[ch]')
if ! clang-format --dry-run -Werror $files; then
    echo "format: the files above differ from .clang-format (run make format)" >&2
    exit 1
fi
echo "format: $(echo "$files" | wc -w) C files clean"
