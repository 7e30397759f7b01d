"""The index rebuilt from the blobs: a store whose index files are deleted or
damaged refuses to open (CorruptError), and BlobStore(path, rebuild_index=True)
brings back every key with its value and metadata: bytes, pickled objects,
NumPy arrays (.b2nd, from their sidecars) and pandas tables (.parquet)."""

import glob
import os

import numpy as np
import pandas as pd
import pytest

import blobstore
from blobstore import BlobStore


def fill(store, seed):
    rng = np.random.default_rng(seed)
    values = {}
    for i in range(60):
        values[f"bytes/{i}"] = rng.bytes(5000 + i)  # over the inline limit
    for i in range(10):
        values[f"obj/{i}"] = {"i": i, "list": list(range(i)), "pad": "x" * 5000}
        values[f"arr/{i}"] = rng.standard_normal((50, i + 1))
    values["table"] = pd.DataFrame({"a": np.arange(100), "b": [f"s{k}" for k in range(100)]})
    for key, value in values.items():
        store.put(value, key=key, metadata={"key": key, "n": len(key)})
    return values


def check(store, values):
    assert sorted(store.list()) == sorted(values)
    for key, value in values.items():
        got = store.get(key)
        if isinstance(value, np.ndarray):
            assert got.dtype == value.dtype and np.array_equal(got, value), key
        elif isinstance(value, pd.DataFrame):
            pd.testing.assert_frame_equal(got, value)
        else:
            assert got == value, key
        assert store.get_metadata(key)["metadata"] == {"key": key, "n": len(key)}


@pytest.mark.parametrize("backend", ["json", "sqlite"])
def test_deleted_index_is_rebuilt(tmp_path, backend):
    path = tmp_path / "s"
    with BlobStore(path, backend=backend) as store:
        values = fill(store, 7)
    for f in glob.glob(str(path / "cache_metadata.*")):
        if not f.endswith(".lock"):
            os.remove(f)
    with pytest.raises(blobstore.CorruptError, match="index is damaged"):
        BlobStore(path)
    with BlobStore(path, rebuild_index=True) as store:
        stats = store.rebuild_stats
        assert stats["restored"] == len(values)
        assert stats["unreadable"] == 0 and stats["problems"] == []
        check(store, values)
        again = store.rebuild_index()  # an intact index keeps everything
        assert again["restored"] == 0 and again["kept"] == len(values)
        assert store.verify()["orphans"] == 0


def test_damaged_journal_is_set_aside_and_rebuilt(tmp_path):
    path = tmp_path / "s"
    with BlobStore(path, backend="json") as store:
        values = fill(store, 8)
    journal = path / "cache_metadata.json.journal"
    data = bytearray(journal.read_bytes())
    data[len(data) // 2] ^= 1
    journal.write_bytes(bytes(data))
    with pytest.raises(blobstore.CorruptError, match="cache_metadata.json.journal"):
        BlobStore(path)
    with BlobStore(path, rebuild_index=True) as store:
        check(store, values)
    assert glob.glob(str(path / "cache_metadata.json.journal.damaged-*"))


def test_content_addressed_keys_come_back(tmp_path):
    path = tmp_path / "s"
    with BlobStore(path, backend="json", content_addressable=True) as store:
        keys = {store.put(bytes([i]) * 6000, metadata={"i": i}): i for i in range(20)}
    os.remove(path / "cache_metadata.json")
    with BlobStore(path, rebuild_index=True) as store:
        for key, i in keys.items():
            assert store.get(key) == bytes([i]) * 6000
            assert store.get_metadata(key)["metadata"] == {"i": i}


@pytest.mark.parametrize("backend", ["json", "sqlite"])
def test_shared_content_addressed_keys_are_rebuilt(tmp_path, backend):
    """Keys sharing a content-addressed blob (#13), bytes, pickles, arrays
    (.b2nd stored as they are, with their sidecars) and tables alike: each
    has its key record, so the rebuilt index has every key with its own
    metadata; a deleted key does not come back; verify counts a missing
    record as "norecord" and repair writes it."""
    path = tmp_path / "s"
    with BlobStore(path, backend=backend, content_addressable=True) as store:
        values = fill(store, 8)
        for key in [k for k in values if k.endswith(("/1", "/2")) or k == "table"]:
            copy = key + "-copy"
            store.put(values[key], key=copy, metadata={"key": copy, "n": len(copy)})
            values[copy] = values[key]
        store.put(values["bytes/3"], key="gone", metadata={"key": "gone", "n": 4})
        store.delete("gone")
    blobs = [f for f in glob.glob(str(path / "blobs" / "**" / "*"), recursive=True)
             if os.path.isfile(f)]
    records = [f for f in blobs if f.endswith(".ref")]
    assert len(records) == len(values)
    for f in glob.glob(str(path / "cache_metadata.*")):
        if not f.endswith(".lock"):
            os.remove(f)
    with BlobStore(path, rebuild_index=True) as store:
        assert store.rebuild_stats["restored"] == len(values)
        check(store, values)
        assert "gone" not in store
        report = store.verify()
        assert report["problems"] == [] and report["ok"] == len(values)
        os.remove(records[0])
        report = store.verify()
        assert report["norecord"] == 1
        assert [p["kind"] for p in report["problems"]] == ["norecord"]
        report = store.verify(repair=True)
        assert report["norecord"] == 1 and report["problems"][0]["repaired"]
        assert os.path.exists(records[0])
        assert store.verify()["problems"] == []
