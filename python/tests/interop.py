"""What the Python tests that compare with DuckDB share: running SQL in
DuckDB (Node.js, tests/parquet/interop) and storing a Parquet file as it is."""

import os
import subprocess

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
INTEROP = os.path.join(HERE, "..", "..", "tests", "parquet", "interop")


def duckdb(*sql):
    """Run SQL statements in DuckDB (Node.js); fails loudly when it is missing."""
    if not os.path.isdir(os.path.join(INTEROP, "node_modules", "@duckdb")):
        pytest.fail("DuckDB for Node.js is missing: run scripts/install-node-deps.sh")
    subprocess.run(["node", "duck_sql.mjs", *sql], cwd=INTEROP, check=True)


def put_file(store, key, path):
    """A Parquet file stored as it is (what `blobstore put FILE` does)."""
    with open(path, "rb") as f:
        store._store.put(key, f.read(), None, format="parquet", raw=True, extension=".parquet")
