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
        if not hasattr(_core, "b2nd_encode"):
            raise _core.UnsupportedError("this build of blobstore has no .b2nd array support")
        return _put_array(store, np, data, key, meta)
    pd = _pandas()
    if pd is not None and isinstance(data, (pd.DataFrame, pd.Series)):
        if not hasattr(_core, "parquet_encode"):
            raise _core.UnsupportedError("this build of blobstore has no Parquet table support")
        return _put_table(store, pd, data, key, meta)
    return None


def typed_get(store, key, meta, buf):
    fmt = meta["format"]
    if fmt == "b2nd" and hasattr(_core, "b2nd_decode"):
        import numpy as np

        return _get_array(np, meta, buf)
    if fmt == "parquet" and hasattr(_core, "parquet_decode"):
        return _get_table(meta, buf)
    return None


def _pandas():
    import sys

    return sys.modules.get("pandas")  # only if the caller uses pandas already


def _put_array(store, np, data, key, meta):  # pragma: no cover - needs the b2nd module
    raise _core.UnsupportedError("array storage is not wired yet")


def _get_array(np, meta, buf):  # pragma: no cover
    raise _core.UnsupportedError("array storage is not wired yet")


def _put_table(store, pd, data, key, meta):  # pragma: no cover
    raise _core.UnsupportedError("table storage is not wired yet")


def _get_table(meta, buf):  # pragma: no cover
    raise _core.UnsupportedError("table storage is not wired yet")
