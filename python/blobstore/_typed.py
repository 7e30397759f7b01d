"""Type-aware storage: NumPy arrays as Blosc2 .b2nd files and pandas objects
as Parquet files, through the C core's format modules when this build has
them. Each function returns None for objects it does not handle."""

from . import _core


def typed_put(store, data, key, meta):
    try:
        import numpy as np
    except ImportError:  # pragma: no cover
        np = None
    if np is not None and isinstance(data, (np.ndarray, np.generic)):
        return _put_array(store, np, data, key, meta)
    pd = _pandas()
    if pd is not None and isinstance(data, (pd.DataFrame, pd.Series)):
        if hasattr(_core, "parquet_encode"):
            return _put_table(store, pd, data, key, meta)
        # Until the Parquet module lands, DataFrames and Series are pickled
        # (signed, and restored exactly); get_metadata says format "pickle".
    return None


def typed_get(store, key, meta, buf):
    fmt = meta["format"]
    if fmt == "b2nd":
        import numpy as np

        return _get_array(store, np, key, meta)
    if fmt == "parquet" and hasattr(_core, "parquet_decode"):
        return _get_table(meta, buf)
    return None


def _pandas():
    import sys

    return sys.modules.get("pandas")  # only if the caller uses pandas already


_ARRAY_KINDS = "biufc"  # bool, int, uint, float, complex: what .b2nd holds


def _put_array(store, np, data, key, meta):
    scalar = isinstance(data, np.generic)
    arr = np.asarray(data)
    if arr.dtype.kind not in _ARRAY_KINDS or arr.dtype.itemsize not in (1, 2, 4, 8, 16) \
            or arr.dtype.str[1:] in ("f16", "c32") or arr.ndim > 8:
        return None  # other dtypes (strings, objects, datetimes...) are pickled
    fortran = bool(arr.flags.f_contiguous and not arr.flags.c_contiguous and arr.ndim > 1)
    if not (arr.flags.c_contiguous or fortran):
        arr = np.ascontiguousarray(arr)
    info = '{"python_type": "numpy.generic"}' if scalar else None
    view = arr.reshape(-1, order="F" if fortran else "C").view(np.uint8) if arr.size else b""
    return store._store.put_array(
        key, view, arr.dtype.str, arr.shape, fortran=fortran, metadata=meta, format_info=info,
        compression=store.compression, compression_level=store.compression_level
    )


def _get_array(store, np, key, meta):
    got = store._store.get_array(key)
    if got is None:
        return None
    dtype, shape, buf = got
    arr = np.frombuffer(buf, dtype=np.dtype(dtype)).reshape(shape)
    if meta.get("python_type") == "numpy.generic":
        return arr[()]
    return arr


def _put_table(store, pd, data, key, meta):  # pragma: no cover
    raise _core.UnsupportedError("table storage is not wired yet")


def _get_table(meta, buf):  # pragma: no cover
    raise _core.UnsupportedError("table storage is not wired yet")
