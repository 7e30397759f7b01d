"""Issue 13: streams (store.open(key, "rb"/"wb")), put_file and get_file,
in bounded memory."""

import hashlib
import io
import os
import random
import subprocess
import sys
import textwrap

import pytest

from blobstore import BlobStore, CorruptError, NotFoundError


def blob_path(store, key):
    meta = store.get_metadata(key)
    name = meta["blob"]
    for root, _, files in os.walk(os.path.join(store.cache_dir, "blobs")):
        if name in files:
            return os.path.join(root, name)
    raise AssertionError(f"no blob file {name}")


def test_write_then_read_back(store):
    rng = random.Random(7)
    data = bytes(rng.randrange(256) for _ in range(3 * 1024 * 1024 + 12345))
    with store.open("big", "wb", metadata={"source": "test"}) as f:
        pos = 0
        while pos < len(data):  # writes of every size, crossing the 1 MiB chunks
            n = rng.choice([1, 7, 4096, 65536, 1 << 20, 1500000])
            assert f.write(memoryview(data)[pos : pos + n]) == len(data[pos : pos + n])
            pos += n
    assert f.key == "big"
    assert store["big"] == data
    assert store.get_metadata("big")["metadata"] == {"source": "test"}
    with store.open("big") as r:
        assert r.size == len(data)
        assert r.read(10) == data[:10]
        buf = bytearray(100000)
        assert r.readinto(buf) == 100000 and bytes(buf) == data[10:100010]
        assert r.tell() == 100010
        assert r.read() == data[100010:]
        assert r.read(5) == b""
        # seeks forward, backward, from the end, past the end
        for _ in range(20):
            at = rng.randrange(len(data) + 10)
            n = rng.randrange(3 << 20)
            assert r.seek(at) == at
            assert r.read(n) == data[at : at + n]
        assert r.seek(-100, io.SEEK_END) == len(data) - 100
        assert r.read() == data[-100:]
        r.seek(5)
        assert r.seek(10, io.SEEK_CUR) == 15
        assert r.read(3) == data[15:18]
        with pytest.raises(OSError):
            r.seek(-1)
    assert r.closed


def test_text_and_lines_through_a_wrapper(store):
    lines = [f"line {i}\n" for i in range(20000)]
    with store.open("log", "wb") as f:
        t = io.TextIOWrapper(f, encoding="utf-8")
        t.writelines(lines)
        t.flush()
        t.detach()
    with store.open("log") as r:
        assert list(io.TextIOWrapper(io.BufferedReader(r), encoding="utf-8")) == lines


def test_generated_key_and_empty_value(store):
    with store.open(None, "wb") as f:
        pass
    assert len(f.key) == 16 and store[f.key] == b""
    with store.open(f.key) as r:
        assert r.read() == b""


def test_an_exception_stores_nothing(store):
    store["k"] = b"before"
    with pytest.raises(RuntimeError):
        with store.open("k", "wb") as f:
            f.write(b"x" * (3 << 20))
            raise RuntimeError("the writer failed")
    assert store["k"] == b"before"
    with pytest.raises(RuntimeError):
        with store.open("new", "wb") as f:
            f.write(b"y" * 1000)
            raise RuntimeError("again")
    assert "new" not in store
    v = store.verify()
    assert v["problems"] == [] and v["orphans"] == 0 and v["temps"] == 0
    tmp = os.path.join(store.cache_dir, "tmp")
    assert not os.path.isdir(tmp) or os.listdir(tmp) == []


def test_close_of_the_store_abandons_an_open_writer(tmp_path):
    store = BlobStore(tmp_path / "s")
    f = store.open("k", "wb")
    f.write(b"z" * 100000)
    r_store = store
    store["other"] = b"o"
    g = r_store.open("other")
    store.close()
    assert f.closed and g.closed
    store = BlobStore(tmp_path / "s")
    assert "k" not in store and store["other"] == b"o"
    assert store.verify()["problems"] == []


def test_read_of_an_absent_key(store):
    with pytest.raises(NotFoundError):
        store.open("nope", "rb")
    with pytest.raises(ValueError):
        store.open("k", "r")


def test_read_stream_detects_damage(store):
    data = os.urandom(5 << 20)
    store.put(data, key="d")
    path = blob_path(store, "d")
    with open(path, "r+b") as f:
        f.seek(os.path.getsize(path) * 3 // 4)
        b = f.read(1)
        f.seek(-1, io.SEEK_CUR)
        f.write(bytes([b[0] ^ 0xFF]))
    with store.open("d") as r:
        with pytest.raises(CorruptError):
            r.read()


def test_put_file_and_get_file(store, tmp_path):
    data = os.urandom(2 << 20) + b"tail"
    src = tmp_path / "weights.bin"
    src.write_bytes(data)
    assert store.put_file(src, metadata={"m": 1}) == "weights.bin"
    assert store.put_file(str(src), key="w2") == "w2"
    assert store["weights.bin"] == data and store["w2"] == data
    assert store.get_metadata("w2")["metadata"] == {}
    assert store.get_metadata("weights.bin")["metadata"] == {"m": 1}
    out = tmp_path / "out" / "copy.bin"
    out.parent.mkdir()
    assert store.get_file("w2", out) == len(data)
    assert out.read_bytes() == data
    with pytest.raises(NotFoundError):
        store.get_file("nope", tmp_path / "out" / "x")
    assert os.listdir(out.parent) == ["copy.bin"]  # no partial file left
    with pytest.raises(FileNotFoundError):
        store.put_file(tmp_path / "missing")


def test_get_file_leaves_no_partial_file_on_damage(store, tmp_path):
    store.put(os.urandom(3 << 20), key="d")
    path = blob_path(store, "d")
    with open(path, "r+b") as f:
        f.seek(os.path.getsize(path) // 2)
        f.write(b"\0" * 64)
    dest = tmp_path / "dest"
    dest.mkdir()
    (dest / "f").write_bytes(b"old")
    with pytest.raises(CorruptError):
        store.get_file("d", dest / "f")
    assert os.listdir(dest) == ["f"] and (dest / "f").read_bytes() == b"old"


STREAM_CHILD = textwrap.dedent(
    """
    import hashlib, os, resource, sys
    from blobstore import BlobStore

    path, mib = sys.argv[1], int(sys.argv[2])
    store = BlobStore(path, compression="lz4")
    block = bytearray(os.urandom(1 << 20))

    def blocks():
        for i in range(mib):
            block[:8] = i.to_bytes(8, "little")  # each MiB differs
            yield block

    # warm up: imports, threads and one small stream of each kind
    with store.open("warm", "wb") as f:
        f.write(b"w" * 100)
    with store.open("warm") as f:
        f.read()
    base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    h = hashlib.sha256()
    with store.open("big", "wb") as f:
        for b in blocks():
            h.update(b)
            f.write(b)
    after_write = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    g = hashlib.sha256()
    n = 0
    with store.open("big") as f:
        while True:
            b = f.read(1 << 20)
            if not b:
                break
            n += len(b)
            g.update(b)
    after_read = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print(n, h.hexdigest() == g.hexdigest(), after_write - base, after_read - base)
    """
)


def test_a_stream_bigger_than_memory_kept(tmp_path):
    # 200 MiB through "wb" and "rb" in a fresh process: its peak RSS grows
    # by much less than the value (KiB from getrusage).
    mib = 200
    out = subprocess.run(
        [sys.executable, "-c", STREAM_CHILD, str(tmp_path / "s"), str(mib)],
        capture_output=True, text=True, timeout=600,
    )
    assert out.returncode == 0, out.stderr
    n, same, grow_w, grow_r = out.stdout.split()
    assert int(n) == mib << 20 and same == "True"
    print(f"peak RSS growth: write {int(grow_w) / 1024:.1f} MiB, read {int(grow_r) / 1024:.1f} MiB")
    assert int(grow_w) < 50 * 1024 and int(grow_r) < 50 * 1024


def test_a_reader_dropped_unclosed_stops_its_read(store):
    import gc
    import time

    store.put(os.urandom(6 << 20), key="d")
    r = store.open("d")
    assert len(r.read(1000)) == 1000
    assert store._store.busy() == 1  # the streamed get waits for the reader
    del r
    gc.collect()
    for _ in range(200):
        if store._store.busy() == 0:
            break
        time.sleep(0.01)
    assert store._store.busy() == 0
