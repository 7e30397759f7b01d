"""NumPy arrays are stored as .b2nd files and come back with their dtype,
shape, order and values; scalars stay scalars; other dtypes are pickled."""

import hashlib
import os

import numpy as np
import pytest

import blobstore
from blobstore import BlobStore

DTYPES = ["|b1", "|i1", "<i2", ">i2", "<i4", ">i4", "<i8", ">i8", "|u1", "<u2", ">u4", "<u8",
          "<f4", ">f4", "<f8", ">f8", "<c8", "<c16", ">c16"]


def sample(dtype, shape):
    rng = np.random.default_rng(42)
    a = rng.standard_normal(shape) * 100
    if np.dtype(dtype).kind == "c":
        a = a + 1j * rng.standard_normal(shape)
    return a.astype(dtype)


@pytest.mark.parametrize("dtype", DTYPES)
def test_dtypes_ranks_orders(store, dtype):
    for shape in [(), (7,), (3, 5), (2, 3, 4), (0, 4), (2, 1, 3, 1, 2)]:
        for order in "CF":
            a = np.asarray(sample(dtype, shape), order=order)
            k = store.put(a)
            b = store.get(k)
            assert isinstance(b, np.ndarray)
            assert b.dtype == a.dtype and b.shape == a.shape
            assert np.array_equal(a, b)
            m = store.get_metadata(k)
            assert m["format"] == "b2nd"
            assert m["dtype"] == a.dtype.str and m["shape"] == list(shape)


def test_scalars_stay_scalars(store):
    for v in [np.float64(2.5), np.int16(-7), np.bool_(True), np.complex128(1 - 2j), np.uint64(2**63)]:
        got = store.get(store.put(v))
        assert type(got) is type(v) and got == v


def test_non_contiguous_and_large(store):
    a = np.arange(100000, dtype="<f8")[::3]
    assert np.array_equal(store.get(store.put(a)), a)
    big = np.random.default_rng(1).standard_normal((512, 1024))
    assert np.array_equal(store.get(store.put(big, key="big")), big)
    got = store.get("big")
    got[0, 0] = 1.0  # arrays read back are ordinary, writable arrays
    assert got[0, 0] == 1.0


def test_other_dtypes_are_pickled(store):
    for a in [np.array(["a", "bc"]), np.array([1, "x"], dtype=object),
              np.array(["2024-01-01"], dtype="datetime64[D]")]:
        k = store.put(a)
        assert store.get_metadata(k)["format"] == "pickle"
        assert np.array_equal(store.get(k), a)


def test_blob_file_is_a_b2nd_file(tmp_path):
    with BlobStore(tmp_path / "s") as s:
        # a file of 8 MiB or more is hashed on a second thread as it is written
        big = np.random.default_rng(7).standard_normal(2_500_000)
        s.put(big, key="big")
        m = s.get_metadata("big")
        data = (tmp_path / "s" / "blobs" / m["blob"][:2] / m["blob"]).read_bytes()
        assert len(data) >= 8 << 20
        assert hashlib.sha256(data).hexdigest() == m["content_hash"]
        assert np.array_equal(s.get("big"), big)
        s.put(np.arange(1000.0), key="a")
        m = s.get_metadata("a")
        path = tmp_path / "s" / "blobs" / m["blob"][:2] / m["blob"]
        data = path.read_bytes()
        assert path.suffix == ".b2nd"
        assert data[2:9] == b"b2frame"
        assert hashlib.sha256(data).hexdigest() == m["content_hash"]
        corrupt = bytearray(data)
        corrupt[len(data) // 2] ^= 1
        path.write_bytes(bytes(corrupt))
        with pytest.raises(blobstore.CorruptError):
            s.get("a")


def test_content_addressed_arrays(tmp_path):
    with BlobStore(tmp_path / "s", content_addressable=True) as s:
        k1 = s.put(np.arange(50))
        k2 = s.put(np.arange(50))
        k3 = s.put(np.arange(51))
        assert k1 == k2 != k3
        assert np.array_equal(s.get(k1), np.arange(50))


def test_codecs(tmp_path):
    a = np.linspace(0, 1, 100000)
    sizes = {}
    for codec in ["lz4", "zstd", "gzip", "blosclz", "none"]:
        with BlobStore(tmp_path / codec, compression=codec) as s:
            s.put(a, key="a")
            assert np.array_equal(s.get("a"), a)
            sizes[codec] = s.get_metadata("a")["file_size"]
    assert sizes["zstd"] < sizes["none"] and sizes["lz4"] < sizes["none"]
    assert sizes["none"] >= a.nbytes


def _same_masked(a, b):
    """Equal as masked arrays: type, dtype, shape, data (bit for bit, masked
    places too), mask, fill value and hardness."""
    assert type(b) is type(a)
    assert b.dtype == a.dtype and b.shape == a.shape
    assert np.ma.getdata(a).tobytes() == np.ma.getdata(b).tobytes()
    assert np.array_equal(np.ma.getmaskarray(a), np.ma.getmaskarray(b))
    assert a.fill_value == b.fill_value or (np.isnan(a.fill_value) and np.isnan(b.fill_value))
    assert a.hardmask == b.hardmask


def test_masked_arrays_keep_their_mask(store):
    rng = np.random.default_rng(7)
    cases = [
        np.ma.masked_array([1.0, 2.0, 3.0, 4.0], mask=[0, 1, 0, 1], fill_value=-99.0),
        np.ma.masked_array(rng.integers(0, 100, (3, 4, 5)).astype("<i4"),
                           mask=rng.random((3, 4, 5)) < 0.3, fill_value=7),
        np.ma.masked_array(rng.standard_normal((6, 2)), mask=np.ma.nomask),
        np.ma.masked_array(np.arange(6, dtype=">i2").reshape(2, 3), mask=[[1, 1, 1], [0, 0, 0]]),
        np.ma.masked_array([1 + 2j, 3 - 4j], mask=[True, False], fill_value=0j),
        np.ma.masked_array(np.zeros((0, 3), dtype="<f4"), mask=np.zeros((0, 3), bool)),
        np.ma.masked_array(5.5, mask=True),  # 0-d
        np.ma.masked_array([True, False, True], mask=[False, False, True], hard_mask=True),
        np.ma.masked_invalid(np.array([1.0, np.nan, np.inf, 2.0])),
    ]
    for a in cases:
        k = store.put(a)
        assert store.get_metadata(k)["format"] == "pickle"  # not a mask-less .b2nd
        b = store.get(k)
        _same_masked(a, b)
        # every masked place is still masked: the mask was not dropped
        assert np.ma.count_masked(b) == np.ma.count_masked(a)
        assert np.ma.allequal(a, b)
    # The masked constant stays the masked constant; a plain array is still a .b2nd.
    assert store.get(store.put(np.ma.masked)) is np.ma.masked
    k = store.put(np.ma.getdata(cases[0]))
    assert store.get_metadata(k)["format"] == "b2nd"
    assert not isinstance(store.get(k), np.ma.MaskedArray)


# ---- the random differential suite ----
# Random arrays (every dtype .b2nd holds, both byte orders, ranks 0-6,
# irregular shapes with size-0 and size-1 dimensions, C, Fortran and
# non-contiguous inputs) through every codec: put, get and boxes of the
# stored array (integer indices too; the store has no stepped slices),
# compared bit for bit and with array_equal(equal_nan=True). Each case has
# its own seed, printed when it fails; BLOBSTORE_DIFF_CASES and
# BLOBSTORE_DIFF_ITEMS make it longer (make soak), BLOBSTORE_DIFF_SEED
# replays one case.

DIFF_DTYPES = ["|b1", "|i1", "<i2", ">i2", "<i4", ">i4", "<i8", ">i8", "|u1", "<u2", ">u2",
               "<u4", ">u4", "<u8", ">u8", "<f2", ">f2", "<f4", ">f4", "<f8", ">f8", "<c8",
               ">c8", "<c16", ">c16", "|S5", "<U3"]  # bytes and strings: pickled
CODECS = ["lz4", "zstd", "gzip", "blosclz", "none"]


def _random_array(rng, max_items):
    dtype = np.dtype(DIFF_DTYPES[rng.integers(len(DIFF_DTYPES))])
    ndim = int(rng.integers(0, 7))
    budget = int(rng.integers(1, max_items + 1))
    shape, items = [], 1
    for i in range(ndim):
        r = rng.integers(20)
        if r == 0:
            v = 0
        elif r < 4:
            v = 1
        else:
            per = max(budget // max(items, 1), 1) ** (1.0 / (ndim - i))
            v = int(rng.integers(1, int(2 * per) + 2))
        shape.append(v)
        items *= max(v, 1)
    n = int(np.prod(shape, dtype=np.int64))
    style = rng.integers(3)
    if dtype.kind == "b":
        a = rng.integers(0, 2, n).astype(bool)
    elif dtype.kind in "SU":
        a = np.array(["".join(chr(97 + int(c)) for c in rng.integers(0, 26, int(rng.integers(0, 4))))
                      for _ in range(n)], dtype=dtype)
    elif style == 0:  # any bytes: NaNs of every payload, infinities, subnormals
        a = rng.integers(0, 256, n * dtype.itemsize, dtype=np.uint8).view(dtype)
    elif style == 1:  # runs of zeros: all-zero chunks are stored as special chunks
        a = rng.integers(0, 256, n * dtype.itemsize, dtype=np.uint8)
        a[(np.arange(a.size) // 97) % 3 == 0] = 0
        a = a.view(dtype)
    else:
        a = (np.arange(n) % 7).astype(dtype)
    a = a.reshape(shape)
    view = rng.integers(4)
    if view == 1 and ndim > 1:
        a = np.asfortranarray(a)
    elif view == 2 and ndim > 0:
        a = np.swapaxes(a, 0, ndim - 1)  # a transposed view
    elif view == 3 and ndim > 0 and a.shape[0] > 1:
        a = np.concatenate([a, a], axis=0)[::2]  # a stepped view
    return a


def _same(a, b, what):
    assert isinstance(b, np.ndarray), what
    assert b.dtype == a.dtype and b.dtype.str == a.dtype.str, what
    assert b.shape == a.shape, what
    assert b.tobytes() == a.tobytes(), what  # bit for bit, NaN payloads included
    if a.dtype.kind in "fc":
        assert np.array_equal(a, b, equal_nan=True), what
    else:
        assert np.array_equal(a, b), what


def _at(a, index):
    """a[index] as an array of a's dtype (NumPy scalars are native-endian)."""
    got = a[index]
    return np.array(got, dtype=a.dtype) if isinstance(got, np.generic) else got


def _diff_case(stores, seed, max_items):
    rng = np.random.default_rng(seed)
    a = _random_array(rng, max_items)
    codec = CODECS[rng.integers(len(CODECS))]
    s = stores[codec]
    what = f"seed {seed}: {a.dtype.str} shape {a.shape} codec {codec}"
    k = s.put(a)
    _same(a, s.get(k), what)
    if a.dtype.kind in "SU":
        assert s.get_metadata(k)["format"] == "pickle", what
        return
    m = s.get_metadata(k)
    assert m["format"] == "b2nd" and m["dtype"] == a.dtype.str and m["shape"] == list(a.shape), what
    for t in range(4):  # boxes and integer indices of the stored array
        if a.size == 0:
            break
        lo, hi, index = [], [], []
        for n in a.shape:
            i = int(rng.integers(n))
            if rng.integers(3) == 0:
                lo.append(i), hi.append(i + 1), index.append(i)
            else:
                j = int(rng.integers(i, n + 1))
                lo.append(i), hi.append(j), index.append(slice(i, j))
        dt, shape, buf = s._store.get_array(k, lo, hi)
        box = np.frombuffer(buf, dtype=np.dtype(dt)).reshape(shape)
        _same(_at(a, tuple(slice(x, y) for x, y in zip(lo, hi))), box, f"{what} box {lo}:{hi}")
        squeezed = box.reshape([n for n, ix in zip(box.shape, index) if isinstance(ix, slice)])
        _same(_at(a, tuple(index)), squeezed, f"{what} index {index}")
    s.delete(k)


def test_random_differential(tmp_path):
    cases = int(os.environ.get("BLOBSTORE_DIFF_CASES", "150"))
    max_items = int(os.environ.get("BLOBSTORE_DIFF_ITEMS", "3000"))
    seed = os.environ.get("BLOBSTORE_DIFF_SEED")
    if seed is not None:
        base = int(seed)
    elif "BLOBSTORE_DIFF_CASES" in os.environ:
        base = int.from_bytes(os.urandom(4), "little")  # a soak explores new seeds
    else:
        base = 20261202
    print(f"random differential: {cases} cases from seed {base}, at most {max_items} items")
    stores = {c: BlobStore(tmp_path / c, compression=c) for c in CODECS}
    try:
        for i in range(cases):
            try:
                _diff_case(stores, base + i, max_items)
            except AssertionError as e:
                raise AssertionError(
                    f"differential case failed; replay with BLOBSTORE_DIFF_SEED={base + i} "
                    f"BLOBSTORE_DIFF_CASES=1: {e}") from e
    finally:
        for s in stores.values():
            s.close()


def test_large_arrays_span_chunks(tmp_path):
    """Arrays over the 4 MiB chunk target, with sizes that divide nothing:
    several chunks, padded edge chunks and blocks, every codec."""
    rng = np.random.default_rng(11)
    a = rng.standard_normal((1031, 67, 9))  # ~5 MB: two chunks along the first axis
    a[100:300] = 0.0  # zero blocks
    a[5, 5, 5] = np.nan
    b = rng.integers(-2**31, 2**31, (3, 700_001), dtype="<i4").astype(">i4")
    for codec in CODECS:
        with BlobStore(tmp_path / codec, compression=codec) as s:
            for x in (a, b, np.asfortranarray(a)):
                k = s.put(x)
                _same(x, s.get(k), codec)
                lo, hi = [1, 2, 0][:x.ndim], [1030, 66, 9][:x.ndim] if x.ndim == 3 else [3, 700_000]
                dt, shape, buf = s._store.get_array(k, lo, hi)
                box = np.frombuffer(buf, dtype=np.dtype(dt)).reshape(shape)
                _same(x[tuple(slice(p, q) for p, q in zip(lo, hi))], box, codec)


def test_slice_bounds_one_per_dimension(store):
    # The binding's box read takes one start and one stop per dimension;
    # sequences of different lengths are refused, never read past.
    a = np.arange(24, dtype="<i4").reshape(4, 6)
    store.put(a, key="a")
    dtype, shape, buf = store._store.get_array("a", [1, 2], [3, 5])
    got = np.frombuffer(buf, dtype=dtype).reshape(shape)
    assert np.array_equal(got, a[1:3, 2:5])
    with pytest.raises(ValueError):
        store._store.get_array("a", [1], [3, 5])
    with pytest.raises(TypeError):
        store._store.get_array("a", [1, 2], None)


def test_get_into_out_reused(tmp_path):
    """get(key, out=arr) reads into arr and returns it: seeded random arrays
    of several dtypes and shapes, chunk shapes that do not divide them (and
    one file over 8 MiB, read in ranges), read in turn into buffers reused
    from get to get, equal to what put stored and to a plain get."""
    seed = int(os.environ.get("BLOBSTORE_INTO_SEED", "20261203"))
    print(f"seed {seed} (BLOBSTORE_INTO_SEED)")
    rng = np.random.default_rng(seed)
    cases = [("<f8", (1_200_007,), (70_001,)), ("<i2", (37, 41, 29), (10, 16, 7)),
             (">u4", (513, 257), (100, 64)), ("|b1", (300, 301), (128, 77)),
             ("<c8", (7, 9, 11, 13), (3, 4, 5, 6)), ("<f4", (0, 5), None)]
    with BlobStore(tmp_path / "s") as s:
        arrays = {}
        for i, (dt, shape, chunks) in enumerate(cases):
            if np.dtype(dt).kind in "fc":  # (no NaNs: compared with ==)
                a = rng.standard_normal(shape).astype(dt)
            else:
                a = rng.integers(0, 2 if dt == "|b1" else 30000, shape).astype(dt)
            s.put(a, key=f"a{i}", chunks=chunks)
            arrays[f"a{i}"] = a
        assert s.get_metadata("a0")["file_size"] > 8 << 20  # read in ranges
        # one big buffer, viewed per array; plus one buffer per array
        big = np.empty(max(a.nbytes for a in arrays.values()) + 64, dtype=np.uint8)
        outs = {k: np.empty(a.shape, a.dtype) for k, a in arrays.items()}
        for r in range(3 * len(cases)):
            k = f"a{rng.integers(len(cases))}"
            a = arrays[k]
            out = outs[k]
            out[...] = 0
            got = s.get(k, out=out)
            assert got is out
            assert np.array_equal(out, a) and np.array_equal(out, s.get(k))
            big[:] = 0x5A
            view = big[:a.nbytes].view(a.dtype).reshape(a.shape)
            assert s.get(k, out=view) is view
            assert np.array_equal(view, a)
            assert (big[a.nbytes:] == 0x5A).all()
        assert s.get("nope", out=outs["a0"]) is None
        assert s.get("nope", "dflt", out=outs["a0"]) == "dflt"


def test_get_into_refuses_wrong_out(tmp_path):
    with BlobStore(tmp_path / "s") as s:
        a = np.arange(60, dtype="<f8").reshape(6, 10)
        s.put(a, key="a")
        s.put(np.arange(6, dtype=">i2"), key="be")
        s.put(b"bytes", key="b")
        with pytest.raises(TypeError, match="numpy.ndarray"):
            s.get("a", out=bytearray(480))
        with pytest.raises(TypeError, match="dtype"):
            s.get("a", out=np.empty((6, 10), "<f4"))
        with pytest.raises(TypeError, match="dtype"):
            s.get("be", out=np.empty(6, "<i2"))  # the byte order too
        with pytest.raises(ValueError, match="shape"):
            s.get("a", out=np.empty((10, 6)))
        with pytest.raises(ValueError, match="shape"):
            s.get("a", out=np.empty(60))
        with pytest.raises(ValueError, match="C-contiguous"):
            s.get("a", out=np.empty((6, 10), order="F"))
        with pytest.raises(ValueError, match="C-contiguous"):
            s.get("a", out=np.empty((6, 20))[:, ::2])
        ro = np.empty((6, 10))
        ro.setflags(write=False)
        with pytest.raises(ValueError, match="read-only"):
            s.get("a", out=ro)
        with pytest.raises(ValueError, match="holds bytes"):
            s.get("b", out=np.empty(5, np.uint8))
        for kw in ({"mmap_mode": "r"}, {"columns": ["x"]}):
            with pytest.raises(ValueError, match="out="):
                s.get("a", out=np.empty((6, 10)), **kw)
        out = np.empty((6, 10))
        assert s.get("a", out=out) is out and np.array_equal(out, a)
        be = np.empty(6, ">i2")
        assert np.array_equal(s.get("be", out=be), np.arange(6))


def _random_index(rng, shape):
    """A random index of the kinds get(slice=) takes: integers (negative
    too), slices with any start/stop (None, negative, past the end) and
    step (None, 1, 2, 3, -1, -2, -3), at most one Ellipsis, fewer indices
    than dimensions, or a bare integer or slice."""
    idx = []
    for n in shape:
        kind = rng.integers(4)
        if kind == 0 and n > 0:
            k = int(rng.integers(-n, n))
            idx.append(np.int64(k) if rng.integers(2) else k)
        elif kind == 1:
            idx.append(slice(None))
        else:
            def bound():
                return None if rng.integers(4) == 0 else int(rng.integers(-n - 2, n + 3))
            step = [None, 1, 1, 2, 3, -1, -2, -3][rng.integers(8)]
            idx.append(slice(bound(), bound(), step))
    if shape and rng.integers(3) == 0:  # an Ellipsis for a run of dimensions
        lo = int(rng.integers(len(shape) + 1))
        hi = int(rng.integers(lo, len(shape) + 1))
        idx = idx[:lo] + [Ellipsis] + idx[hi:]
    elif shape and rng.integers(4) == 0:  # trailing dimensions left whole
        idx = idx[: int(rng.integers(len(shape) + 1))]
    if len(idx) == 1 and rng.integers(2):
        return idx[0]
    return tuple(idx)


def _expand(parts, ndim):
    """An index's parts, one per dimension (Ellipsis and the trailing
    dimensions as slice(None))."""
    if any(p is Ellipsis for p in parts):
        at = next(k for k, p in enumerate(parts) if p is Ellipsis)
        parts = parts[:at] + (slice(None),) * (ndim - len(parts) + 1) + parts[at + 1:]
    return tuple(parts) + (slice(None),) * (ndim - len(parts))


def _equal(a, b):
    if a.dtype != b.dtype or a.shape != b.shape:
        return False
    return np.array_equal(a, b, equal_nan=a.dtype.kind in "fc")


def test_get_slice_into_is_numpy_indexing(tmp_path):
    """get(key, slice=s, out=arr) fills arr with a[s] and returns it: seeded
    random arrays (floats with NaNs; one put in Fortran order) of several
    dtypes and ranks 0-4, chunk shapes not dividing them (one file over 8 MiB, read in ranges), random
    indexes of every kind get(slice=) takes, compared by value with NumPy's
    a[s] and with get(slice=s); outs reused from get to get (by shape, and
    views of one larger buffer whose bytes past stay untouched)."""
    seed = int(os.environ.get("BLOBSTORE_SLICE_INTO_SEED", "20261203"))
    print(f"seed {seed} (BLOBSTORE_SLICE_INTO_SEED)")
    rng = np.random.default_rng(seed)
    cases = [("<f8", (1_100_003,), (70_001,)), ("<f8", (23, 31), (10, 7)),
             (">i4", (9, 13, 11), (4, 5, 3)), ("|b1", (17, 19), (5, 8)),
             ("<c8", (5, 6, 7, 4), (2, 4, 3, 3)), (">f4", (40,), (9,)),
             ("<u2", (), None), ("<i8", (0, 6), None), ("|i1", (1, 33, 1), (1, 10, 1))]
    with BlobStore(tmp_path / "s") as s:
        arrays = {}
        for i, (dt, shape, chunks) in enumerate(cases):
            kind = np.dtype(dt).kind
            if kind in "fc":
                a = (rng.standard_normal(shape) * 100).astype(dt)
                if kind == "c":
                    a = a + 1j * rng.standard_normal(shape).astype(dt)
                if a.size:
                    a.flat[rng.integers(a.size, size=max(1, a.size // 50))] = np.nan
            elif kind == "b":
                a = rng.integers(0, 2, shape).astype(dt)
            else:
                info = np.iinfo(dt)
                a = rng.integers(info.min, info.max, shape, endpoint=True).astype(dt)
            if dt == ">i4":
                a = np.asfortranarray(a)  # put in Fortran order
            s.put(a, key=f"a{i}", chunks=chunks)
            arrays[f"a{i}"] = a
        assert s.get_metadata("a0")["file_size"] > 8 << 20  # read in ranges
        big = np.empty(arrays["a0"].nbytes + 64, dtype=np.uint8)
        outs = {}
        kinds = {"int": 0, "step": 0, "negative step": 0, "ellipsis": 0, "empty": 0,
                 "plain box": 0, "0-d": 0, "strided, not empty": 0}
        reads = {"into out": 0, "a temporary": 0}
        core = s._store

        class Counting:  # which read each get makes: into out, or a temporary
            def __getattr__(self, name):
                return getattr(core, name)

            def get_array(self, *args, into=None, **kw):
                if into is None:
                    reads["a temporary"] += 1
                    return core.get_array(*args, **kw)
                reads["into out"] += 1
                return core.get_array(*args, into=into, **kw)

        s._store = Counting()
        for r in range(600):
            k = f"a{rng.integers(len(cases))}"
            a = arrays[k]
            idx = _random_index(rng, a.shape)
            want = np.asarray(a[idx], dtype=a.dtype)  # (a scalar is native-endian)
            parts = idx if isinstance(idx, tuple) else (idx,)
            steps = [p.step for p in parts if isinstance(p, slice) and p.step not in (None, 1)]
            kinds["int"] += any(not isinstance(p, slice) and p is not Ellipsis for p in parts)
            kinds["step"] += bool(steps)
            kinds["negative step"] += any(st < 0 for st in steps)
            kinds["ellipsis"] += any(p is Ellipsis for p in parts)
            kinds["empty"] += want.size == 0
            kinds["plain box"] += not steps and want.size > 0
            kinds["0-d"] += want.ndim == 0
            kinds["strided, not empty"] += bool(steps) and want.size > 0
            # a plain box (steps of 1, or one item along a stepped dimension)
            # is read straight into out; any other, into a temporary
            plain = all(not isinstance(p, slice) or len(range(*p.indices(n))) <= 1
                        or p.indices(n)[2] == 1 for p, n in zip(
                            _expand(parts, a.ndim), a.shape))
            before = dict(reads)
            if r % 3 == 0:  # a view of one larger buffer
                big[:] = 0x5A
                out = big[:want.nbytes].view(a.dtype).reshape(want.shape)
            else:  # one out per (dtype, shape), reused
                out = outs.setdefault((a.dtype.str, want.shape), np.empty(want.shape, a.dtype))
                out[...] = 0
            got = s.get(k, slice=idx, out=out)
            assert got is out, (k, idx)
            if want.size:
                which = "into out" if plain else "a temporary"
                assert reads[which] == before[which] + 1 and sum(reads.values()) == \
                    sum(before.values()) + 1, (k, idx, reads, before)
            else:
                assert reads == before, (k, idx)  # nothing to read
            assert _equal(out, want), (k, idx)
            assert _equal(out, np.asarray(s.get(k, slice=idx), dtype=a.dtype)), (k, idx)
            if r % 3 == 0:
                assert (big[want.nbytes:] == 0x5A).all(), (k, idx)
        print("indexes of each kind:", kinds, "reads:", reads)
        assert all(v > 0 for v in kinds.values()), kinds
        s._store = core
        assert s.get("nope", slice=(0,), out=np.empty(())) is None
        assert s.get("nope", "dflt", slice=(0,), out=np.empty(())) == "dflt"


def test_get_slice_into_refuses_wrong_out(tmp_path):
    with BlobStore(tmp_path / "s") as s:
        a = np.arange(120, dtype="<f8").reshape(6, 20)
        s.put(a, key="a", chunks=(4, 7))
        s.put(b"bytes", key="b")
        for idx in [(2, slice(None)), (slice(1, 5), slice(None, None, 2)),
                    (slice(None, None, -1), Ellipsis)]:
            shape = a[idx].shape
            with pytest.raises(TypeError, match="dtype"):
                s.get("a", slice=idx, out=np.empty(shape, "<f4"))
            with pytest.raises(TypeError, match="dtype"):
                s.get("a", slice=idx, out=np.empty(shape, ">f8"))
            with pytest.raises(TypeError, match="numpy.ndarray"):
                s.get("a", slice=idx, out=bytearray(8 * a[idx].size))
            with pytest.raises(ValueError, match="shape"):
                s.get("a", slice=idx, out=np.empty(shape + (1,)))
            if shape != a.shape:
                with pytest.raises(ValueError, match="shape"):  # the whole array's
                    s.get("a", slice=idx, out=np.empty(a.shape))
            with pytest.raises(ValueError, match="shape"):
                s.get("a", slice=idx, out=np.empty(shape[::-1] + (1,)))
            with pytest.raises(ValueError, match="C-contiguous"):
                s.get("a", slice=idx, out=np.empty(shape + (2,))[..., 0])
            ro = np.empty(shape)
            ro.setflags(write=False)
            with pytest.raises(ValueError, match="read-only"):
                s.get("a", slice=idx, out=ro)
            out = np.empty(shape)
            assert s.get("a", slice=idx, out=out) is out and np.array_equal(out, a[idx])
        with pytest.raises(ValueError, match="shape"):  # an integer drops its dimension
            s.get("a", slice=(slice(0, 4), 3), out=np.empty((4, 1)))
        with pytest.raises(ValueError, match="C-contiguous"):
            s.get("a", slice=(slice(0, 4), slice(0, 3)), out=np.empty((4, 3), order="F"))
        with pytest.raises(IndexError):  # as get(slice=) and NumPy
            s.get("a", slice=(6, 0), out=np.empty(()))
        with pytest.raises(IndexError):
            s.get("a", slice=(0, 0, 0), out=np.empty(()))
        with pytest.raises(IndexError):
            s.get("a", slice=([0, 1],), out=np.empty((2, 20)))
        with pytest.raises(ValueError, match="holds bytes"):
            s.get("b", slice=(slice(0, 2),), out=np.empty(2, np.uint8))
        for kw in ({"mmap_mode": "r"}, {"columns": ["x"]}):
            with pytest.raises(ValueError, match="out="):
                s.get("a", slice=(0,), out=np.empty(20), **kw)


def test_get_into_corrupt_is_an_error(tmp_path):
    """A damaged blob is CorruptError for get(out=), whole or sliced."""
    with BlobStore(tmp_path / "s") as s:
        a = np.random.default_rng(5).standard_normal(5000)
        s.put(a, key="a")
        m = s.get_metadata("a")
        path = tmp_path / "s" / "blobs" / m["blob"][:2] / m["blob"]
        data = bytearray(path.read_bytes())
        data[len(data) // 2] ^= 1
        path.write_bytes(bytes(data))
        with pytest.raises(blobstore.CorruptError):
            s.get("a", out=np.empty(5000))
        for idx in [(slice(None),), Ellipsis, (slice(None, None, 3),), (slice(None, None, -1),)]:
            out = np.empty(a[idx].shape)
            with pytest.raises(blobstore.CorruptError):
                s.get("a", slice=idx, out=out)
            with pytest.raises(blobstore.CorruptError):  # as get(slice=)
                s.get("a", slice=idx)


def test_get_into_a_scalar_returns_out(tmp_path):
    """An entry stored as a NumPy scalar (get returns a scalar) reads into a
    0-d out, which is returned (NumPy's out= convention), with or without
    slice=() or ...; so does an index of integers only on an array."""
    with BlobStore(tmp_path / "s") as s:
        for i, v in enumerate([np.float64(1.5), np.int16(-7), np.dtype(">u4").type(4_000_000_000),
                               np.complex64(1 - 2j), np.bool_(True), np.float32(np.nan)]):
            k = f"x{i}"
            s.put(v, key=k)
            plain = s.get(k)
            assert isinstance(plain, np.generic) and not isinstance(plain, np.ndarray)
            for kw in ({}, {"slice": ()}, {"slice": Ellipsis}):
                out = np.zeros((), dtype=np.asarray(v).dtype)
                got = s.get(k, out=out, **kw)
                assert got is out and isinstance(got, np.ndarray) and got.shape == ()
                assert _equal(out, np.asarray(v)), (k, kw)
            with pytest.raises(ValueError, match="shape"):
                s.get(k, out=np.zeros(1, dtype=np.asarray(v).dtype))
            with pytest.raises(IndexError):
                s.get(k, slice=(0,), out=np.zeros((), dtype=np.asarray(v).dtype))
        a = np.arange(24, dtype="<i4").reshape(2, 3, 4)
        s.put(a, key="a", chunks=(1, 2, 3))
        out = np.zeros((), "<i4")
        for idx in [(1, 2, 3), (-1, 0, -2), (np.int64(0), 1, 2)]:
            assert s.get("a", slice=idx, out=out) is out and out[()] == a[idx]
