"""The reference BlobStore API on the C core: every method, its return
values for missing keys, argument validation and error types."""

import json
import os
import threading

import pytest

import blobstore
from blobstore import BlobStore
from blobstore.backends import (
    DictBlobBackend,
    DictMetadataBackend,
    FilesystemBlobBackend,
    MemoryBlobBackend,
    MetadataBackend,
)


def test_put_get_bytes_types(store):
    assert store.put(b"hello", key="a") == "a"
    assert store.get("a") == b"hello"
    store.put(bytearray(b"ba"), key="b")
    assert store.get("b") == b"ba"
    store.put(memoryview(b"0123456789")[2:5], key="c")
    assert store.get("c") == b"234"
    assert isinstance(store.get("c"), bytes)
    store.put(b"", key="empty")
    assert store.get("empty") == b""


def test_generated_keys_are_16_hex(store):
    k1 = store.put(b"x")
    k2 = store.put({"a": 1})
    for k in (k1, k2):
        assert len(k) == 16 and all(c in "0123456789abcdef" for c in k)
    assert k1 != k2


def test_metadata_round_trip_and_fields(store):
    meta = {"accuracy": 0.95, "author": "alice", "nested": {"lr": 0.001, "tags": ["a", "b"]},
            "unicode": "ключ", "none": None}
    store.put(b"12345", key="m", metadata=meta)
    m = store.get_metadata("m")
    assert m["metadata"] == meta
    assert m["key"] == "m"
    assert m["size"] == 5
    assert m["file_size"] > 0
    assert m["format"] == "bytes"
    assert m["compression"] == "lz4"
    assert m["content_hash"] == __import__("hashlib").sha256(b"12345").hexdigest()
    assert m["created_at"].endswith("Z") and m["updated_at"].endswith("Z")


def test_missing_keys(store):
    assert store.get("nope") is None
    assert store.get_metadata("nope") is None
    assert store.update_metadata("nope", {"a": 1}) is False
    assert store.delete("nope") is False
    assert store.exists("nope") is False
    assert "nope" not in store


def test_update_delete_exists(store):
    store.put(b"v", key="k", metadata={"a": 1})
    assert store.update_metadata("k", {"deployed": True, "a": 2}) is True
    assert store.get_metadata("k")["metadata"] == {"a": 2, "deployed": True}
    assert store.exists("k") and "k" in store
    assert store.delete("k") is True
    assert store.exists("k") is False


def test_list_prefix_filter_order_limit(store):
    for i, loss in enumerate([0.5, 0.2, 0.9, 0.1]):
        store.put(b"x", key=f"checkpoint_{i:04d}", metadata={"loss": loss, "deployed": i % 2 == 0})
    store.put(b"x", key="other")
    assert store.list() == ["checkpoint_0000", "checkpoint_0001", "checkpoint_0002",
                            "checkpoint_0003", "other"]
    assert store.list(prefix="checkpoint_") == store.list()[:4]
    assert store.list(metadata_filter={"deployed": True}) == ["checkpoint_0000", "checkpoint_0002"]
    assert store.list(metadata_filter={"loss": {"$lt": 0.3}}) == ["checkpoint_0001",
                                                                  "checkpoint_0003"]
    assert store.list(order_by="loss", limit=1) == ["checkpoint_0003"]
    assert store.list(order_by="-loss", limit=2) == ["checkpoint_0002", "checkpoint_0000"]
    items = store.entries(prefix="checkpoint_", order_by="loss", limit=2)
    assert [k for k, _ in items] == ["checkpoint_0003", "checkpoint_0001"]
    assert items[0][1]["metadata"]["loss"] == 0.1
    assert store.clear() == 5
    assert store.list() == []


def test_invalid_arguments_raise_value_error(store, tmp_path):
    with pytest.raises(ValueError):
        store.put(b"x", key="")
    with pytest.raises(ValueError):
        store.put(b"x", key=123)
    with pytest.raises(ValueError):
        store.put(b"x", key="k", metadata=[1, 2])
    with pytest.raises(ValueError):
        store.put(b"x", key="k", metadata={"t": object()})
    with pytest.raises(ValueError):
        store.put(b"x", key="k", metadata={"nan": float("nan")})
    with pytest.raises(ValueError):
        store.list(metadata_filter={"a": {"$bogus": 1}})
    with pytest.raises(ValueError):
        store.put(b"x", key="k" * 1025)
    with pytest.raises(ValueError):
        BlobStore(tmp_path / "x", backend="mongodb")
    with pytest.raises(ValueError):
        BlobStore(tmp_path / "x", compression="brotli")
    with pytest.raises(ValueError):
        BlobStore(tmp_path / "x", compression_level=0)
    assert issubclass(blobstore.InvalidArgumentError, blobstore.Error)


def test_settings_conflict(tmp_path):
    BlobStore(tmp_path / "s", backend="sqlite").close()
    with pytest.raises(blobstore.ConflictError):
        BlobStore(tmp_path / "s", backend="json")
    with BlobStore(tmp_path / "s") as s:
        assert s.backend == "sqlite"


def test_corrupt_blob_raises(tmp_path):
    with BlobStore(tmp_path / "s") as s:
        s.put(os.urandom(100000), key="victim")
        blob = s.get_metadata("victim")["blob"]
        path = tmp_path / "s" / "blobs" / blob[:2] / blob
        data = bytearray(path.read_bytes())
        data[len(data) // 2] ^= 0xFF
        path.write_bytes(bytes(data))
        with pytest.raises(blobstore.CorruptError):
            s.get("victim")
        assert s.verify()["corrupt"] == 1
    assert issubclass(blobstore.CorruptError, blobstore.Error)


def test_hostile_keys_stay_inside(tmp_path):
    with BlobStore(tmp_path / "s") as s:
        for k in ["../../etc/passwd", "a/b.c", "..", " x ", "ключ/日本"]:
            s.put(k.encode(), key=k)
            assert s.get(k) == k.encode()
    assert sorted(os.listdir(tmp_path)) == ["s"]


def test_control_characters_in_keys_are_refused(tmp_path):
    import numpy as np

    with BlobStore(tmp_path / "s") as s:
        for k, value in [("a\nb", b"x"), ("tab\there", {"obj": 1}), ("del\x7f", np.arange(3))]:
            with pytest.raises(blobstore.InvalidArgumentError, match="control character 0x"):
                s.put(value, key=k)
            assert not s.exists(k)
        assert s.list() == []


def test_content_addressable_dedup(tmp_path):
    with BlobStore(tmp_path / "s", content_addressable=True) as s:
        k1 = s.put(b"same")
        k2 = s.put(b"same")
        assert k1 == k2 == __import__("hashlib").sha256(b"same").hexdigest()
        # an explicit key is kept, the content shared
        assert s.put(b"same", key="named") == "named"
        assert s.get_metadata("named")["blob"] == s.get_metadata(k1)["blob"]
        assert s.get("named") == b"same"
        assert s.delete(k1) and s.get("named") == b"same"
        s.delete("named")
        p1 = s.put({"model": [1, 2, 3]})
        p2 = s.put({"model": [1, 2, 3]})
        assert p1 == p2
        assert s.get(p1) == {"model": [1, 2, 3]}
        assert len(s.list()) == 1


def test_blob_backends(tmp_path):
    with BlobStore(tmp_path / "fs", blob_backend=FilesystemBlobBackend(tmp_path / "fs", shard_chars=3)) as s:
        s.put(b"v", key="k")
        blob = s.get_metadata("k")["blob"]
        assert (tmp_path / "fs" / "blobs" / blob[:3] / blob).exists()
    with BlobStore(tmp_path / "mem", blob_backend="memory") as s:
        s.put(b"v", key="k")
        assert s.get("k") == b"v"
    assert not (tmp_path / "mem").exists()
    with BlobStore(tmp_path / "mem2", blob_backend=MemoryBlobBackend()) as s:
        s.put({"x": 1}, key="k")
        assert s.get("k") == {"x": 1}


def test_python_blob_backend(tmp_path):
    be = DictBlobBackend()
    with BlobStore(tmp_path / "s", backend="sqlite", blob_backend=be) as s:
        big = os.urandom(300000)
        s.put(big, key="big")
        assert s.get("big") == big
        assert len(be.names()) == 1
        s.put(b"second", key="big")  # replaced: the old object is removed
        assert len(be.names()) == 1
        assert s.verify()["ok"] == 1
        s.delete("big")
        assert be.names() == []


def test_python_metadata_backend(tmp_path):
    # The seed's ``backend: str | MetadataBackend``: an index written in Python.
    meta = DictMetadataBackend()
    with BlobStore(tmp_path / "s", backend=meta) as s:
        s.put(b"small", key="a/1", metadata={"acc": 0.9, "tags": ["x"]})
        s.put(os.urandom(50000), key="a/2", metadata={"acc": 0.5})
        s.put({"obj": 1}, key="b/1", metadata={"acc": 0.95})
        assert sorted(meta._data) == ["a/1", "a/2", "b/1"]
        assert meta._data["a/1"]["data"] is not None  # small values kept in the index
        assert json.loads(meta._data["a/1"]["metadata"]) == {"acc": 0.9, "tags": ["x"]}
        assert s.get("a/1") == b"small"
        assert s.get("b/1") == {"obj": 1}
        assert s.list(prefix="a/") == ["a/1", "a/2"]
        assert s.list(metadata_filter={"acc": {"$gt": 0.8}}, order_by="-acc") == ["b/1", "a/1"]
        # A limit without an ordering stops the backend's scan early: not an error.
        assert s.list(limit=1) == ["a/1"]
        assert s.list(limit=1, offset=1) == ["a/2"]
        assert s.list(metadata_filter={"acc": {"$gt": 0.8}}, limit=1, offset=1) == ["b/1"]
        assert s.update_metadata("a/2", {"acc": 0.6})
        assert s.get_metadata("a/2")["metadata"] == {"acc": 0.6}
        assert s.verify()["ok"] == 3
        assert s.delete("a/2") and not s.exists("a/2")
        assert s.clear() == 2
        assert meta._data == {}


class FailingMeta(DictMetadataBackend):
    fail = False

    def put(self, entry):
        if self.fail:
            raise RuntimeError("index unavailable")
        super().put(entry)


def test_python_metadata_backend_failure_is_clean(tmp_path):
    meta = FailingMeta()
    blobs = DictBlobBackend()
    with BlobStore(tmp_path / "s", backend=meta, blob_backend=blobs) as s:
        s.put(os.urandom(10000), key="k", metadata={"v": 1})
        before = s.get("k")
        meta.fail = True
        with pytest.raises(blobstore.Error, match="index unavailable"):
            s.put(os.urandom(10000), key="k", metadata={"v": 2})
        meta.fail = False
        # The old value is intact and the failed put's blob was removed.
        assert s.get("k") == before
        assert s.get_metadata("k")["metadata"] == {"v": 1}
        assert len(blobs.names()) == 1
        assert s.verify()["orphans"] == 0


def test_metadata_backend_must_be_complete(tmp_path):
    class Partial(MetadataBackend):
        pass

    # The base class's methods raise NotImplementedError: reported, not a crash.
    with pytest.raises(blobstore.Error, match="NotImplementedError|begin"):
        BlobStore(tmp_path / "s", backend=Partial()).put(b"x", key="k")


def test_threads_share_one_store(tmp_path):
    s = BlobStore(tmp_path / "s", backend="sqlite")
    errors = []

    def work(t):
        try:
            for i in range(50):
                key = f"t{t}/{i}"
                s.put({"t": t, "i": i, "data": b"x" * i}, key=key, metadata={"t": t})
                assert s.get(key)["i"] == i
        except Exception as e:  # pragma: no cover
            errors.append(e)

    threads = [threading.Thread(target=work, args=(t,)) for t in range(4)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    assert errors == []
    assert len(s.list()) == 200
    assert len(s.list(metadata_filter={"t": 2})) == 50
    s.close()


def _child(path, n):
    with BlobStore(path, backend="json") as s:
        for i in range(20):
            s.put({"n": n, "i": i}, key=f"p{n}/{i}")


def test_two_processes_share_one_store(tmp_path):
    import multiprocessing as mp

    path = str(tmp_path / "s")
    BlobStore(path, backend="json").close()
    ctx = mp.get_context("spawn")
    procs = [ctx.Process(target=_child, args=(path, n)) for n in range(2)]
    for p in procs:
        p.start()
    for p in procs:
        p.join()
        assert p.exitcode == 0
    with BlobStore(path) as s:
        assert len(s.list()) == 40
        assert s.get("p1/19") == {"n": 1, "i": 19}


def test_pickles_are_signed(tmp_path):
    path = tmp_path / "s"
    with BlobStore(path) as s:
        s.put({"secret": 1}, key="obj")
        assert s.get("obj") == {"secret": 1}
        assert "signature" in s.get_metadata("obj")
    key_file = path / "pickle_secret.key"
    assert oct(key_file.stat().st_mode & 0o777) == "0o600"
    key_file.write_bytes(os.urandom(32))  # another store's key
    with BlobStore(path) as s:
        with pytest.raises(blobstore.UnsafePickleError):
            s.get("obj")
        assert s.get("obj", trust=True) == {"secret": 1}


class _Marker:
    """Unpickling this creates a file: a stand-in for code an attacker runs."""

    def __init__(self, path):
        self.path = str(path)

    def __reduce__(self):
        return (open, (self.path, "w"))


def _forge(path, mode):
    """An attacker who can write the store directory: their own signing key
    in place of the store's, and a pickle signed with it; then the key's
    mode as they leave it."""
    key_file = path / "pickle_secret.key"
    key_file.unlink()
    key_file.write_bytes(os.urandom(32))
    key_file.chmod(0o600)
    marker = path.parent / "pwned"
    with BlobStore(path) as s:
        s.put(_Marker(marker), key="evil")
    key_file.chmod(mode)
    return marker


def test_forged_pickle_key_is_refused(tmp_path):
    path = tmp_path / "s"
    with BlobStore(path) as s:
        s.put({"ok": 1}, key="good")
    marker = _forge(path, 0o666)
    with BlobStore(path) as s:
        with pytest.raises(blobstore.UnsafePickleError, match="mode 0666: others may write it"):
            s.get("evil")
        with pytest.raises(blobstore.UnsafePickleError, match="pickle_secret.key"):
            s.get("good")
        with pytest.raises(blobstore.UnsafePickleError):  # nor signs new pickles with it
            s.put({"x": 1}, key="new")
        assert not marker.exists()
        assert s.get("good", trust=True) == {"ok": 1}  # trust=True: the explicit opt-out
        assert s.get("evil", trust=True) is not None and marker.exists()
        problems = [p for p in s.verify()["problems"] if p["kind"] == "unsafe"]
        assert len(problems) == 1 and problems[0]["blob"] == "pickle_secret.key"
        assert "mode 0666" in problems[0]["detail"]
    assert issubclass(blobstore.UnsafePickleError, blobstore.Error)


@pytest.mark.parametrize("mode", [0o620, 0o602, 0o640, 0o604])
def test_pickle_key_open_to_others_is_refused(tmp_path, mode):
    path = tmp_path / "s"
    with BlobStore(path) as s:
        s.put({"ok": 1}, key="good")
    (path / "pickle_secret.key").chmod(mode)
    with BlobStore(path) as s:
        with pytest.raises(blobstore.UnsafePickleError, match=f"mode {mode:04o}"):
            s.get("good")
    (path / "pickle_secret.key").chmod(0o400)  # read-only for its owner: fine
    with BlobStore(path) as s:
        assert s.get("good") == {"ok": 1}


def test_symlinked_pickle_key_is_refused(tmp_path):
    path = tmp_path / "s"
    with BlobStore(path) as s:
        s.put({"ok": 1}, key="good")
    key_file = path / "pickle_secret.key"
    elsewhere = tmp_path / "their.key"
    elsewhere.write_bytes(key_file.read_bytes())
    elsewhere.chmod(0o600)
    key_file.unlink()
    key_file.symlink_to(elsewhere)
    with BlobStore(path) as s:
        with pytest.raises(blobstore.UnsafePickleError, match="symbolic link"):
            s.get("good")
        assert s.get("good", trust=True) == {"ok": 1}
    # A dangling link is not followed to create a key where it points.
    key_file.unlink()
    key_file.symlink_to(tmp_path / "planted.key")
    with BlobStore(path) as s:
        with pytest.raises(blobstore.UnsafePickleError, match="symbolic link"):
            s.put({"x": 1}, key="new")
    assert not (tmp_path / "planted.key").exists()


@pytest.mark.skipif(os.geteuid() != 0, reason="chown to another user needs root")
def test_pickle_key_of_another_user_is_refused(tmp_path):
    import pwd

    nobody = pwd.getpwnam("nobody").pw_uid
    path = tmp_path / "s"
    with BlobStore(path) as s:
        s.put({"ok": 1}, key="good")
    os.chown(path / "pickle_secret.key", nobody, -1)
    with BlobStore(path) as s:
        with pytest.raises(blobstore.UnsafePickleError, match=f"belongs to uid {nobody}"):
            s.get("good")
        assert s.get("good", trust=True) == {"ok": 1}


def test_pickle_key_is_created_0600_whatever_the_umask(tmp_path):
    old = os.umask(0)
    try:
        with BlobStore(tmp_path / "s") as s:
            s.put({"ok": 1}, key="good")
            assert s.get("good") == {"ok": 1}
    finally:
        os.umask(old)
    st = (tmp_path / "s" / "pickle_secret.key").stat()
    assert st.st_mode & 0o777 == 0o600 and st.st_size == 32
    assert [n for n in os.listdir(tmp_path / "s") if n.startswith("pickle_secret.key.")] == []


def test_out_of_band_buffers(tmp_path):
    pickle = __import__("pickle")
    big = bytearray(os.urandom(1 << 20))
    with BlobStore(tmp_path / "s") as s:
        s.put({"buf": pickle.PickleBuffer(big)}, key="k")
        out = s.get("k")
        assert bytes(out["buf"]) == bytes(big)


def test_context_manager_closes(tmp_path):
    with BlobStore(tmp_path / "s") as s:
        s.put(b"x", key="k")
    with pytest.raises(blobstore.Error):
        s.get("k")
