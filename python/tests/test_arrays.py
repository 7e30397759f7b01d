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
