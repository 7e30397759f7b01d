"""The network backends are modules the library loads on first use: a local
store never maps libpq or libcurl; a postgresql:// URL loads the package's own
PostgreSQL module (blobstore/blobstore/libblobstore-pg.so) and libpq, and its
error comes back as the library's. Each case runs in a fresh interpreter, so
that nothing loaded before it counts."""

import os
import subprocess
import sys

import pytest

import blobstore

MODDIR = os.path.join(os.path.dirname(blobstore.__file__), "blobstore")

LOCAL = """
import sys, blobstore
s = blobstore.BlobStore(sys.argv[1])
s.put(b"v", key="k")
assert s.get("k") == b"v"
s.close()
maps = open("/proc/self/maps").read()
print(sorted({w for w in ("libpq", "libcurl", "libblobstore-") if w in maps}))
"""

PG = """
import sys, blobstore
try:
    blobstore.BlobStore(sys.argv[1], backend="postgresql://x@127.0.0.1:1/x?connect_timeout=5")
except blobstore.Error as e:
    print(str(e).splitlines()[0])
maps = open("/proc/self/maps").read()
print(sorted({w for w in ("libpq", "libcurl", "libblobstore-pg", "libblobstore-s3") if w in maps}))
"""


def run(code, *args, env=None):
    r = subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True,
                       env=env, check=True)
    return r.stdout.splitlines()


def test_local_use_loads_no_network_library(tmp_path):
    assert run(LOCAL, str(tmp_path / "s")) == ["[]"]


def test_a_postgresql_url_loads_its_module_only(tmp_path):
    if not os.path.exists(os.path.join(MODDIR, "libblobstore-pg.so")):
        pytest.skip(f"SKIPPED: {MODDIR}/libblobstore-pg.so not built (libpq missing)")
    env = {k: v for k, v in os.environ.items() if k != "BLOBSTORE_MODULE_DIR"}
    out = run(PG, str(tmp_path / "s"), env=env)
    assert out[0].startswith("postgresql: cannot connect"), out
    assert out[1] == "['libblobstore-pg', 'libpq']"


def test_a_missing_module_is_named(tmp_path):
    env = dict(os.environ, BLOBSTORE_MODULE_DIR=str(tmp_path))
    out = run(PG, str(tmp_path / "s"), env=env)
    assert out[0] == (f"the PostgreSQL backend is not installed: libblobstore-pg.so not found in "
                      f"{tmp_path} (set BLOBSTORE_MODULE_DIR to the directory that holds it)")
    assert out[1] == "[]"
