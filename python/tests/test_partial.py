"""Issue 13: partial reads in Python: get(key, slice=...), the lazy
open_array() handle, and get(key, columns=[...]) for tables, compared with
NumPy and pandas on seeded random inputs that cross chunk boundaries."""

import os

import numpy as np
import pandas as pd
import pytest

from blobstore import BlobStore, CorruptError, NotFoundError

SEED = int(os.environ.get("BLOBSTORE_PARTIAL_SEED", "1313"))


def random_index(rng, shape):
    """A random index of ints, slices (any step, negative too) and maybe one
    Ellipsis, as a tuple or a single item."""
    parts = []
    for n in shape:
        kind = rng.integers(0, 5)
        if kind == 0:
            parts.append(int(rng.integers(-n, n)))
        elif kind == 1:
            parts.append(slice(None))
        else:
            a, b = sorted(int(x) for x in rng.integers(-n - 2, n + 3, size=2))
            step = int(rng.choice([1, 1, 2, 3, 7, -1, -2]))
            parts.append(slice(a, b, step) if step > 0 else slice(b, a, step))
    if len(parts) > 1 and rng.integers(0, 4) == 0:
        at = int(rng.integers(0, len(parts)))
        k = int(rng.integers(1, len(parts) - at + 1))
        parts[at : at + k] = [Ellipsis]
    if len(parts) > 1 and rng.integers(0, 3) == 0:
        parts = parts[: int(rng.integers(1, len(parts)))]  # trailing dims whole
    return parts[0] if len(parts) == 1 and rng.integers(0, 2) else tuple(parts)


@pytest.mark.parametrize("backend", ["json", "sqlite"])
def test_slices_against_numpy(tmp_path, backend):
    rng = np.random.default_rng(SEED)
    store = BlobStore(tmp_path / "s", backend=backend, compression="zstd")
    cases = 0
    for case in range(12):
        ndim = int(rng.integers(1, 5))
        shape = tuple(int(rng.integers(1, 40 if ndim > 2 else 300)) for _ in range(ndim))
        chunks = tuple(max(1, int(rng.integers(1, n + 1)) // 2 or 1) for n in shape)
        dtype = rng.choice(["<f8", "<i4", ">i2", "|u1", "<c8", "|b1"])
        a = (rng.standard_normal(shape) * 100).astype(dtype)
        key = f"a{case}"
        store.put(a, key=key, chunks=chunks)
        h = store.open_array(key)
        assert h.shape == shape and h.dtype == a.dtype and h.chunks == chunks
        assert h.ndim == a.ndim and h.size == a.size and h.nbytes == a.nbytes
        assert len(h) == shape[0]
        for _ in range(25):
            ix = random_index(rng, shape)
            want = a[ix]
            got = h[ix]
            assert np.shape(got) == np.shape(want), (shape, ix)
            assert np.asarray(got).dtype == want.dtype
            np.testing.assert_array_equal(got, want, err_msg=f"{shape} {chunks} {ix}")
            np.testing.assert_array_equal(store.get(key, slice=ix), want)
            cases += 1
        np.testing.assert_array_equal(np.asarray(h), a)
    assert cases == 300
    store.close()


def test_the_issue_example(tmp_path):
    store = BlobStore(tmp_path / "s")
    a = np.arange(400 * 30, dtype=np.float32).reshape(400, 30)
    store.put(a, key="grid", chunks=(64, 16))
    np.testing.assert_array_equal(store.get("grid", slice=(slice(0, 10), 5)), a[0:10, 5])
    arr = store.open_array("grid")
    np.testing.assert_array_equal(arr[100:200, :], a[100:200, :])
    assert arr[399, 29] == a[399, 29] and isinstance(arr[399, 29], np.float32)
    np.testing.assert_array_equal(arr[-1], a[-1])
    np.testing.assert_array_equal(arr[..., 3], a[..., 3])
    assert arr[5:5].shape == (0, 30)
    with pytest.raises(IndexError):
        arr[400]
    with pytest.raises(IndexError):
        arr[1, 2, 3]
    with pytest.raises(IndexError):
        arr[[1, 2]]  # fancy indexing is not a box
    with pytest.raises(NotFoundError):
        store.open_array("nope")
    store.put(b"bytes", key="b")
    with pytest.raises(ValueError):
        store.open_array("b")
    with pytest.raises(ValueError):
        store.get("b", slice=(0,))
    assert store.get("nope", slice=(0,)) is None
    s0 = np.float64(2.5)
    store.put(s0, key="scalar")
    assert store.open_array("scalar").shape == () and store.open_array("scalar")[()] == 2.5


def _corrupt(path, at, n=256):
    with open(path, "r+b") as f:
        f.seek(at)
        b = bytearray(f.read(n))
        f.seek(at)
        f.write(bytes(x ^ 0x5A for x in b))


def test_only_the_chunks_needed_are_read(tmp_path):
    # A 9.6 MB array in 12 chunks of 100 rows: damage in the middle of the
    # file breaks the whole read and the chunks there, not the first rows,
    # which read (ranged) only the bytes of their chunk.
    store = BlobStore(tmp_path / "s", compression="none")
    a = np.random.default_rng(SEED).standard_normal((1200, 1000))
    store.put(a, key="big", chunks=(100, 1000))
    meta = store.get_metadata("big")
    assert meta["file_size"] > 8 << 20
    path = None
    for root, _, files in os.walk(os.path.join(store.cache_dir, "blobs")):
        if meta["blob"] in files:
            path = os.path.join(root, meta["blob"])
    _corrupt(path, meta["file_size"] // 2)
    arr = store.open_array("big")
    np.testing.assert_array_equal(arr[0:100, :], a[0:100, :])
    np.testing.assert_array_equal(arr[1150:, ::7], a[1150:, ::7])
    with pytest.raises(CorruptError):
        arr[550:650]
    with pytest.raises(CorruptError):
        store.get("big")


def random_frame(rng, nrows):
    return pd.DataFrame({
        "a": rng.integers(-1000, 1000, nrows),
        "b": rng.standard_normal(nrows),
        "s": [f"s{int(x)}" for x in rng.integers(0, 50, nrows)],
        "t": pd.to_datetime(rng.integers(0, 10**9, nrows), unit="s"),
        "n": pd.array([None if x % 5 == 0 else int(x) for x in rng.integers(0, 100, nrows)],
                      dtype="Int32"),
        "f": rng.integers(0, 2, nrows).astype(bool),
    })


@pytest.mark.parametrize("backend", ["json", "sqlite"])
def test_columns_against_pandas(tmp_path, backend):
    rng = np.random.default_rng(SEED)
    store = BlobStore(tmp_path / "s", backend=backend)
    for case, nrows in enumerate([0, 1, 17, 5000, 70001]):
        df = random_frame(rng, nrows)
        if case % 2:
            df.index = pd.Index(rng.integers(0, 10**6, nrows), name="id")
        store.put(df, key=f"t{case}")
        names = list(df.columns)
        for _ in range(6):
            k = int(rng.integers(1, len(names) + 1))
            cols = [names[i] for i in rng.permutation(len(names))[:k]]
            got = store.get(f"t{case}", columns=cols)
            pd.testing.assert_frame_equal(got, df[cols])
    with pytest.raises(KeyError):
        store.get("t1", columns=["a", "nosuch"])
    with pytest.raises(ValueError):
        store.get("t1", columns="a")
    store.put(b"x", key="bytes")
    with pytest.raises(ValueError):
        store.get("bytes", columns=["a"])
    assert store.get("nope", columns=["a"]) is None
    store.close()
