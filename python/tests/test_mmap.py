"""get(key, mmap_mode="r") (issue 16): uncompressed arrays memory-mapped from
their blob files. The values equal what was put and what a plain get
returns (NumPy as the oracle), the array is read-only and keeps its mapping
alive, damage is found by verify(), what cannot be mapped falls back to a
checked get with a warning, and mapping a 2 GiB array reads none of it (the
process's resident memory does not grow by the array's size)."""

import os
import warnings

import numpy as np
import pytest

import blobstore
from blobstore import BlobStore

SEED = int(os.environ.get("BLOBSTORE_TEST_SEED", "20261203"))
DTYPES = ["|b1", "|i1", "<i2", ">i2", "<i4", "<u8", ">f4", "<f8", "<c16", "<f2"]


def blob_path(store_dir, store, key):
    name = store.get_metadata(key)["blob"]
    return os.path.join(store_dir, "blobs", name[:2], name)


def random_array(rng, dtype, shape):
    a = rng.integers(0, 256, size=int(np.prod(shape)) * np.dtype(dtype).itemsize, dtype=np.uint8)
    a = a.view(dtype).reshape(shape) if shape else a.view(dtype).reshape(())
    return (a != 0) if np.dtype(dtype).kind == "b" else a


def test_mmap_get_equals_put_and_get(tmp_path):
    print(f"seed {SEED} (BLOBSTORE_TEST_SEED)")
    rng = np.random.default_rng(SEED)
    with BlobStore(str(tmp_path / "s"), compression="none") as store:
        for case in range(16):
            dtype = DTYPES[rng.integers(len(DTYPES))]
            ndim = int(rng.integers(0, 4))
            tail = [int(rng.integers(1, 9)) for _ in range(max(ndim - 1, 0))]
            row = np.dtype(dtype).itemsize * int(np.prod(tail))
            # one chunk, or several (arrays over 16 MiB)
            lo, hi = (1, 3 << 20) if case % 3 else (17 << 20, 30 << 20)
            nbytes = int(rng.integers(lo, hi))
            shape = tuple([nbytes // row + 1] + tail) if ndim else ()
            a = random_array(rng, dtype, shape)
            if case % 4 == 0 and a.ndim:
                a[: len(a) // 2] = 0  # whole chunks of zeros: mapped as zero pages
            order = "F" if case % 3 == 0 else "C"
            key = store.put(np.asarray(a, order=order))
            m = store.get(key, mmap_mode="r")
            g = store.get(key)
            assert isinstance(m.base, blobstore._core.MappedArray), (case, dtype, shape)
            assert m.dtype == a.dtype and m.shape == a.shape, (case, dtype, shape)
            assert m.tobytes() == a.tobytes() == g.tobytes(), (case, dtype, shape)
            assert not m.flags.writeable
            if m.size:
                with pytest.raises(ValueError):
                    m.flat[0] = m.flat[0]
                with pytest.raises(ValueError):
                    m.setflags(write=True)  # the buffer itself is read-only
            m.base.verify()
            if a.ndim >= 1 and len(a) > 3:  # slice= on a mapping indexes it
                got = store.get(key, mmap_mode="r", slice=(slice(1, 3),))
                assert got.tobytes() == a[1:3].tobytes()
            store.delete(key)


def test_mapping_outlives_the_entry_and_the_store(tmp_path):
    a = np.arange(2_000_000, dtype="<i8").reshape(-1, 40)
    store = BlobStore(str(tmp_path / "s"), compression="none")
    store.put(a, key="a")
    m = store.get("a", mmap_mode="r")
    view = m[10:20]
    del m  # the view keeps the mapping
    store.put(np.zeros(3), key="a")  # replaced: the old file stays mapped
    store.close()
    assert np.array_equal(view, a[10:20])


def test_empty_and_scalar_arrays(tmp_path):
    with BlobStore(str(tmp_path / "s"), compression="none") as store:
        store.put(np.zeros((0, 5), dtype="<f4"), key="e")
        store.put(np.array(2.5), key="s")
        e = store.get("e", mmap_mode="r")
        assert e.shape == (0, 5) and e.dtype == np.dtype("<f4")
        s = store.get("s", mmap_mode="r")
        assert s.shape == () and float(s) == 2.5


def test_damaged_items_are_found_by_verify(tmp_path):
    d = str(tmp_path / "s")
    a = np.arange(3_000_000, dtype="<f8").reshape(-1, 100)  # 24 MB: two chunks
    with BlobStore(d, compression="none") as store:
        store.put(a, key="a")
        path = blob_path(d, store, "a")
        size = os.path.getsize(path)
        with open(path, "r+b") as f:
            f.seek(size // 2)
            b = f.read(1)
            f.seek(size // 2)
            f.write(bytes([b[0] ^ 0x40]))
        m = store.get("a", mmap_mode="r")  # items are not read at map time
        with pytest.raises(blobstore.CorruptError, match="fail their checksum"):
            m.base.verify()
        with pytest.raises(blobstore.CorruptError):
            store.get("a")


def test_what_cannot_be_mapped_is_read_whole(tmp_path):
    a = np.arange(100_000, dtype="<i4").reshape(100, 1000)
    with BlobStore(str(tmp_path / "lz4"), compression="lz4") as store:
        store.put(a, key="a")
        with pytest.warns(UserWarning, match="compressed"):
            got = store.get("a", mmap_mode="r")
        assert np.array_equal(got, a) and not got.flags.writeable
        store.put(b"bytes", key="b")
        with pytest.raises(ValueError, match="needs an array"):
            store.get("b", mmap_mode="r")
        assert store.get("missing", "dflt", mmap_mode="r") == "dflt"
        with pytest.raises(ValueError, match="mmap_mode"):
            store.get("a", mmap_mode="r+")
    with BlobStore(str(tmp_path / "mem"), compression="none", blob_backend="memory") as store:
        store.put(a, key="a")
        with pytest.warns(UserWarning, match="filesystem"):
            got = store.get("a", mmap_mode="r")
        assert np.array_equal(got, a) and not got.flags.writeable
    with BlobStore(str(tmp_path / "none"), compression="none") as store:
        with warnings.catch_warnings():
            warnings.simplefilter("error")  # a mappable array: no warning
            store.put(a, key="a")
            assert np.array_equal(store.get("a", mmap_mode="r"), a)


def rss_bytes():
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    raise RuntimeError("no VmRSS")


def test_mapping_2gib_reads_none_of_it(tmp_path):
    n = (2 << 30) // 8  # 2 GiB of float64, mostly zeros (chunks stored as no bytes)
    a = np.zeros(n, dtype="<f8")
    every = 64 << 20  # a value every 512 MiB: four 4 MiB-ish chunks have bytes
    a[::every] = np.arange(1, len(a[::every]) + 1)
    with BlobStore(str(tmp_path / "s"), compression="none") as store:
        store.put(a, key="big")
        del a
        before = rss_bytes()
        m = store.get("big", mmap_mode="r")
        assert m.shape == (n,)
        assert m[every] == 2.0 and m[-1] == 0.0 and m[12345] == 0.0  # touch: pages on demand
        grown = rss_bytes() - before
        print(f"RSS grew by {grown / 2**20:.1f} MiB mapping and touching a 2 GiB array")
        assert grown < (64 << 20), grown
        assert float(m[::every].sum()) == sum(range(1, 5))
