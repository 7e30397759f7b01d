"""The Python API on PostgreSQL + S3 (a real server pair started by
tests/online/servers.sh --pg --rgw; see the Makefile's test-python)."""

import os
import uuid

import numpy as np
import pandas as pd
import pytest

from blobstore import BlobStore
from blobstore.backends import S3BlobBackend

PG = os.environ.get("BLOBSTORE_PG_URL")
ENDPOINT = os.environ.get("BLOBSTORE_S3_ENDPOINT")

if not PG or not ENDPOINT:  # run only through servers.sh, never skipped there
    raise RuntimeError("run under tests/online/servers.sh --pg --rgw")


# One PostgreSQL database, hence one store (it records its S3 location):
# each test clears it.
PREFIX = uuid.uuid4().hex


def s3_backend():
    return S3BlobBackend("py-tests", prefix=PREFIX, endpoint=ENDPOINT)


@pytest.fixture
def remote(tmp_path):
    s = BlobStore(tmp_path / "remote", backend=PG, blob_backend=s3_backend())
    s.clear()
    yield s
    s.close()


def test_seed_api_on_postgresql_and_s3(remote):
    key = remote.put(b"\x00payload" * 1000, key="models/a", metadata={"acc": 0.93})
    assert key == "models/a"
    assert remote.get("models/a") == b"\x00payload" * 1000
    m = remote.get_metadata("models/a")
    assert m["metadata"] == {"acc": 0.93}
    assert m["size"] == 8000
    assert remote.update_metadata("models/a", {"deployed": True})
    assert remote.list(metadata_filter={"deployed": True}) == ["models/a"]
    assert remote.exists("models/a")
    assert remote.get("missing") is None
    assert remote.delete("models/a")
    assert not remote.delete("models/a")


def test_typed_objects_and_queries(remote):
    arr = np.arange(60000, dtype="<f8").reshape(300, 200)
    remote.put(arr, key="arr", metadata={"loss": 0.2})
    df = pd.DataFrame({"a": [1, 2, 3], "b": ["x", None, "z"]})
    remote.put(df, key="df", metadata={"loss": 0.1})
    remote.put({"any": "object"}, key="obj", metadata={"loss": 0.3})
    assert np.array_equal(remote.get("arr"), arr)
    assert df.equals(remote.get("df"))
    assert remote.get("obj") == {"any": "object"}
    assert remote.list(order_by="loss", limit=2) == ["df", "arr"]
    assert remote.get_metadata("arr")["format"] == "b2nd"
    report = remote.verify()
    assert report["ok"] == 3 and report["corrupt"] == 0


def test_migrate_local_to_remote_and_back(tmp_path, remote):
    local = BlobStore(tmp_path / "local", backend="sqlite")
    local.put(b"one", key="k1", metadata={"n": 1})
    local.put(np.ones(5, dtype="int16"), key="k2")
    first = local.migrate_to(remote)
    assert (first["copied"], first["skipped"], first["failed"]) == (2, 0, 0)
    again = local.migrate_to(remote)
    assert (again["copied"], again["skipped"]) == (0, 2)
    assert remote.get("k1") == b"one"
    assert remote.get_metadata("k1")["created_at"] == local.get_metadata("k1")["created_at"]
    back = BlobStore(tmp_path / "back")
    assert remote.migrate_to(back)["copied"] == 2
    assert np.array_equal(back.get("k2"), np.ones(5, dtype="int16"))
    local.close()
    back.close()


def test_another_machine_needs_only_the_postgresql_url(tmp_path, remote):
    remote.put(b"shared", key="k")
    # A fresh directory, as on another machine: the S3 location comes from
    # PostgreSQL.
    with BlobStore(tmp_path / "elsewhere", backend=PG) as other:
        assert other.get("k") == b"shared"
    with pytest.raises(ValueError, match="PostgreSQL was created with blob backend s3://"):
        BlobStore(tmp_path / "third", backend=PG, blob_backend="filesystem")


def test_url_strings_and_errors(tmp_path):
    url = f"s3://py-tests/{uuid.uuid4().hex}?endpoint={ENDPOINT}"
    with BlobStore(tmp_path / "s", backend="sqlite", blob_backend=url) as s:
        s.put(b"x", key="k")
        assert s.get("k") == b"x"
    with pytest.raises(ValueError):
        BlobStore(tmp_path / "t", blob_backend="ftp://nope")
    with pytest.raises(ValueError):
        BlobStore(tmp_path / "u", backend="mysql://nope")


def test_partial_reads_streams_and_batches_on_s3(remote):
    # issue 13 on PostgreSQL + S3: array boxes and table columns read with
    # ranged GETs, streams both ways, batches, dict habits, overwrite=False
    from blobstore import KeyExistsError

    rng = np.random.default_rng(13)
    a = rng.standard_normal((1200, 1000))  # 9.6 MB: read in ranges
    remote.put(a, key="big", chunks=(100, 1000))
    h = remote.open_array("big")
    assert h.shape == (1200, 1000) and h.chunks == (100, 1000)
    for ix in [(slice(0, 10), 5), (slice(95, 205), slice(None, None, 7)), -1, (..., 999),
               (slice(1199, 0, -50), slice(3, 4))]:
        np.testing.assert_array_equal(h[ix], a[ix])
        np.testing.assert_array_equal(remote.get("big", slice=ix), a[ix])
    df = pd.DataFrame({"a": rng.integers(0, 9, 50000), "b": rng.standard_normal(50000),
                       "c": [f"s{i % 7}" for i in range(50000)]})
    remote.put(df, key="t")
    pd.testing.assert_frame_equal(remote.get("t", columns=["c", "a"]), df[["c", "a"]])
    data = rng.bytes(3 << 20)
    with remote.open("stream", "wb", metadata={"s": 1}) as f:
        for i in range(0, len(data), 700000):
            f.write(data[i : i + 700000])
    with remote.open("stream") as f:
        f.seek(2 << 20)
        assert f.read(1000) == data[2 << 20 : (2 << 20) + 1000]
        f.seek(10)
        assert f.read() == data[10:]
    assert remote.put_many({"m/1": b"1", "m/2": b"2"}, metadata={"run": 3}) == ["m/1", "m/2"]
    assert remote.get_many(["m/1", "m/2", "m/3"]) == {"m/1": b"1", "m/2": b"2"}
    with pytest.raises(KeyExistsError):
        remote.put(b"x", key="m/1", overwrite=False)
    assert remote["m/1"] == b"1" and "m/2" in remote and len(remote) == 5
    del remote["m/2"]
    assert sorted(remote) == ["big", "m/1", "stream", "t"]
