"""Issue 13: store.stats() -- entries, stored and original bytes by format and
codec, inline entries, distinct blobs, dedup savings, index size -- every
figure compared with sums computed here from each entry's get_metadata()."""

import os
import random

import pytest

from blobstore import BlobStore
from blobstore.backends import DictMetadataBackend

INDEX_FILES = {
    "json": ["cache_metadata.json", "cache_metadata.json.journal"],
    "sqlite": ["cache_metadata.db", "cache_metadata.db-wal", "cache_metadata.db-shm"],
}


def expected(store):
    """The report, from the metadata of every entry: a blob counts once, at
    the largest file_size its entries record."""
    out = {"entries": 0, "stored_bytes": 0, "original_bytes": 0, "inline_entries": 0,
           "formats": {}, "codecs": {}}
    blobs, blob_entry_bytes = {}, 0
    for key in store.keys():
        m = store.get_metadata(key)
        out["entries"] += 1
        out["stored_bytes"] += m["file_size"]
        out["original_bytes"] += m["size"]
        for part, name in (("formats", m["format"]), ("codecs", m["compression"])):
            g = out[part].setdefault(name, {"entries": 0, "stored_bytes": 0, "original_bytes": 0})
            g["entries"] += 1
            g["stored_bytes"] += m["file_size"]
            g["original_bytes"] += m["size"]
        if m.get("blob"):
            blobs[m["blob"]] = max(blobs.get(m["blob"], 0), m["file_size"])
            blob_entry_bytes += m["file_size"]
        else:
            out["inline_entries"] += 1
    out["blobs"] = len(blobs)
    out["blob_bytes"] = sum(blobs.values())
    out["dedup_saved_bytes"] = blob_entry_bytes - out["blob_bytes"]
    return out


def index_size(path, backend):
    return sum(os.path.getsize(path / f) for f in INDEX_FILES[backend] if (path / f).exists())


def random_bytes(rng, n):
    half = n // 2
    return bytes(rng.getrandbits(8) for _ in range(half)) + bytes(n - half)


@pytest.mark.parametrize("backend", ["json", "sqlite"])
def test_stats_match_the_entries(tmp_path, backend):
    rng = random.Random(1313)
    path = tmp_path / "s"
    with BlobStore(path, backend=backend) as store:
        empty = store.stats()
        assert empty["entries"] == 0 and empty["formats"] == {} and empty["codecs"] == {}
        assert empty["index_bytes"] == index_size(path, backend)
        for i in range(40):  # bytes under five codecs, some overwritten
            key = f"b{rng.randrange(25):02d}"
            codec = rng.choice(["none", "lz4", "zstd", "gzip", "blosclz"])
            with BlobStore(path, compression=codec) as other:
                other.put(random_bytes(rng, rng.randrange(1, 12000)), key=key)
        store.put({"a": list(range(100))}, key="pickled")
        store.put(["x"] * 50, key="pickled2")
        np = pytest.importorskip("numpy")
        store.put(np.arange(4000.0).reshape(40, 100), key="array")
        for key in ("b00", "b01", "b02"):
            if key in store:
                del store[key]
        pd = None
        try:
            import pandas as pd
        except ImportError:
            pass
        if pd is not None:
            store.put(pd.DataFrame({"a": range(100), "b": ["x"] * 100}), key="table")
        got = store.stats()
        want = expected(store)
        index = got.pop("index_bytes")
        assert got == want
        assert index == index_size(path, backend) and index > 0
        assert want["formats"]["pickle"]["entries"] == 2
        assert want["formats"]["b2nd"]["entries"] == 1
        if pd is not None:
            assert want["formats"]["parquet"]["entries"] == 1
        assert len(want["codecs"]) >= 4
        assert list(got["formats"]) == sorted(got["formats"])
        if backend == "sqlite":
            assert got["inline_entries"] > 0  # small values kept in the index
        assert got["dedup_saved_bytes"] == 0 and got["blobs"] == got["entries"] - got["inline_entries"]


@pytest.mark.parametrize("backend", ["json", "sqlite"])
def test_stats_of_a_content_addressed_store(tmp_path, backend):
    rng = random.Random(7)
    path = tmp_path / "ca"
    model = random_bytes(rng, 50000)  # a blob file on every backend
    other = random_bytes(rng, 30000)
    with BlobStore(path, backend=backend, content_addressable=True) as store:
        for key in ("fraud_detector_v2.1", "m", "model-copy"):
            store.put(model, key=key)
        for key in ("o1", "other-2"):
            store.put(other, key=key)
        store.put(b"small and alone", key="s")
        del store["m"]
        got = store.stats()
        want = expected(store)
        index = got.pop("index_bytes")
        assert got == want
        assert index == index_size(path, backend)
        assert got["entries"] == 5
        assert got["blobs"] + got["inline_entries"] == 3  # model, other, the small one
        assert got["original_bytes"] == 2 * 50000 + 2 * 30000 + 15
        # each shared blob saves its extra copies
        assert got["dedup_saved_bytes"] == got["stored_bytes"] - got["blob_bytes"] - sum(
            store.get_metadata(k)["file_size"] for k in store.keys() if not store.get_metadata(k).get("blob"))
        assert got["dedup_saved_bytes"] > 50000 // 2


def test_stats_through_a_backend_written_in_python(tmp_path):
    """A metadata backend without a stats slot (one written in Python): the
    library iterates its entries and gives the same figures."""
    rng = random.Random(3)
    with BlobStore(tmp_path / "py", backend=DictMetadataBackend()) as store:
        for i in range(30):
            store.put(random_bytes(rng, rng.randrange(1, 9000)), key=f"k{i}")
        store.put({"p": 1}, key="pickled")
        del store["k3"]
        got = store.stats()
        assert got.pop("index_bytes") is None  # a custom index: its size unknown
        assert got == expected(store)
        assert got["entries"] == 30
