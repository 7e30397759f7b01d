"""BlobStore.migrate (blobstore_migrate_to), and names checked by the
library, not by a copy of its lists in Python."""

import json
import os

import pytest

import blobstore
from blobstore import BlobStore


def _settings(path):
    with open(os.path.join(path, "blobstore.json")) as f:
        return json.load(f)


def test_migrate_in_place_switches_and_closes(tmp_path):
    path = tmp_path / "s"
    s = BlobStore(path)
    s.put(b"one", key="a", metadata={"n": 1})
    s.put(b"x" * 100000, key="b")
    stats = s.migrate(backend="sqlite")
    assert (stats["entries"], stats["copied"], stats["failed"]) == (2, 2, 0)
    assert stats["problems"] == []
    # the handle was on the old backends: closed now
    with pytest.raises(blobstore.InvalidArgumentError):
        s.get("a")
    assert _settings(path)["backend"] == "sqlite"
    assert not os.path.exists(path / "blobstore.json.migrating")
    with BlobStore(path) as again:
        assert again.backend == "sqlite"
        assert again.get("a") == b"one"
        assert again.get("b") == b"x" * 100000
        assert again.get_metadata("a")["metadata"] == {"n": 1}
        # nothing to change: the library says so
        with pytest.raises(blobstore.InvalidArgumentError, match="already uses sqlite"):
            again.migrate(backend="sqlite")


def test_migrate_into_another_directory_keeps_this_store(tmp_path):
    with BlobStore(tmp_path / "src", compression="zstd") as s:
        s.put(b"v", key="k")
        stats = s.migrate(tmp_path / "dst", backend="sqlite", shard_chars=0)
        assert stats["copied"] == 1
        assert s.get("k") == b"v"  # still open, still JSON
        assert s.backend == "json"
    dst = _settings(tmp_path / "dst")
    assert (dst["backend"], dst["compression"], dst["shard_chars"]) == ("sqlite", "zstd", 0)
    with pytest.raises(blobstore.InvalidArgumentError, match="memory"):
        BlobStore(tmp_path / "src").migrate(blob_backend="memory")


def test_names_are_checked_by_the_library(tmp_path):
    with pytest.raises(blobstore.InvalidArgumentError, match=r"expected json, sqlite"):
        BlobStore(tmp_path / "x", backend="mongodb")
    with pytest.raises(blobstore.InvalidArgumentError, match=r"filesystem, memory or an s3://"):
        BlobStore(tmp_path / "x", blob_backend="ftp://host/dir")
    with pytest.raises(blobstore.InvalidArgumentError, match=r"expected none, lz4, zstd"):
        BlobStore(tmp_path / "x", compression="brotli")
    assert not os.path.exists(tmp_path / "x")
