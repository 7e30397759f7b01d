"""Type-aware storage: NumPy arrays as Blosc2 .b2nd files and pandas objects
as Parquet files, through the C core's format modules when this build has
them. Each function returns None for objects it does not handle."""

import datetime
import decimal

from . import _core
from ._core import UnsupportedError


def typed_put(store, data, key, meta, chunks=None, no_overwrite=False):
    try:
        import numpy as np
    except ImportError:  # pragma: no cover
        np = None
    if np is not None and isinstance(data, np.ma.MaskedArray):
        # A .b2nd file holds the values only: the mask would be lost, so a
        # masked array is pickled whole (data, mask, fill value, hardness).
        if type(data) is np.ma.MaskedArray:
            return store._put_pickle(_MaskedParts(np, data), key, meta, no_overwrite)
        return None  # the masked constant, subclasses: their own pickle
    if np is not None and isinstance(data, (np.ndarray, np.generic)):
        return _put_array(store, np, data, key, meta, chunks, no_overwrite)
    pd = _pandas()
    if pd is not None and isinstance(data, (pd.DataFrame, pd.Series)):
        return _put_table(store, pd, data, key, meta, no_overwrite)  # None: not representable, pickled
    return None


def _read_b2nd(store, key, meta, buf, columns):
    import numpy as np

    return _get_array(store, np, key, meta)


def _read_parquet(store, key, meta, buf, columns):
    return _get_table(store, key, meta, columns)


# The typed readers, one per format module (names from the C format table).
_READERS = {"b2nd": _read_b2nd, "parquet": _read_parquet}


def typed_get(store, key, meta, buf, columns=None):
    reader = _READERS.get(meta["format"])
    return reader(store, key, meta, buf, columns) if reader else None


def _pandas():
    import sys

    return sys.modules.get("pandas")  # only if the caller uses pandas already


class _MaskedParts:
    """Pickles a MaskedArray as its parts. NumPy's own pickle of a masked
    array turns a big-endian dtype into the native one (values kept, dtype
    changed); the data and mask pickled as plain arrays keep it exactly."""

    def __init__(self, np, a):
        mask = np.ma.getmask(a)
        # the fill value as set (None: the dtype's default, which may not fit
        # the dtype: 999999 for int16 would wrap if given back explicitly)
        self.parts = (np.ma.getdata(a), None if mask is np.ma.nomask else np.asarray(mask),
                      getattr(a, "_fill_value", a.fill_value), bool(a.hardmask))

    def __reduce__(self):
        return _masked_from_parts, self.parts


def _masked_from_parts(data, mask, fill_value, hard_mask):
    import numpy as np

    a = np.ma.MaskedArray(data, mask=np.ma.nomask if mask is None else mask, dtype=data.dtype,
                          hard_mask=hard_mask, copy=False)
    # as it was, uncast: NumPy keeps an out-of-range default (999999 for
    # int16) as it is, and would wrap it if given through fill_value=
    a._fill_value = fill_value
    return a


_ARRAY_KINDS = "biufc"  # bool, int, uint, float, complex: what .b2nd holds


def _put_array(store, np, data, key, meta, chunks=None, no_overwrite=False):
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
        compression=store.compression, compression_level=store.compression_level,
        chunks=None if chunks is None or arr.ndim == 0 else tuple(chunks),
        no_overwrite=no_overwrite,
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


# ---- pandas <-> Parquet tables ----
# Column type numbers of blobstore/table.h.
(T_BOOL, T_I8, T_I16, T_I32, T_I64, T_U8, T_U16, T_U32, T_U64, T_F32, T_F64, T_STR, T_BIN,
 T_TS_MS, T_TS_US, T_TS_NS, T_DATE, T_TIME_MS, T_TIME_US, T_TIME_NS, T_DECIMAL,
 T_LIST, T_STRUCT, T_MAP) = range(24)
_DECIMAL_MAX_PRECISION = 38
_TIME_PER_SECOND = {T_TIME_MS: 1000, T_TIME_US: 1000000, T_TIME_NS: 1000000000}
_NUMPY_TYPES = {"bool": T_BOOL, "int8": T_I8, "int16": T_I16, "int32": T_I32, "int64": T_I64,
                "uint8": T_U8, "uint16": T_U16, "uint32": T_U32, "uint64": T_U64,
                "float32": T_F32, "float64": T_F64}
_NULLABLE = {"boolean": T_BOOL, "Int8": T_I8, "Int16": T_I16, "Int32": T_I32, "Int64": T_I64,
             "UInt8": T_U8, "UInt16": T_U16, "UInt32": T_U32, "UInt64": T_U64,
             "Float32": T_F32, "Float64": T_F64}
_NUMPY_OF = {v: k for k, v in _NUMPY_TYPES.items()}


def _column(pd, np, name, s):
    """(name, type, utc, values, offsets, bytes, valid) for a Series, or None."""
    dt = s.dtype
    if isinstance(dt, pd.CategoricalDtype):  # the category of each row (its values' column)
        cats = dt.categories
        codes = s.cat.codes.to_numpy()
        if cats.dtype == object:
            items = np.asarray(cats, dtype=object)[np.maximum(codes, 0)]
            s = pd.Series([None if c < 0 else v for c, v in zip(codes, items)], dtype=object)
        elif cats.dtype.kind in "iuf" and str(cats.dtype) in _NUMPY_TYPES:
            vals = np.asarray(cats)[np.maximum(codes, 0)]
            if (codes < 0).any():
                nullable = str(cats.dtype).capitalize().replace("Uint", "UInt")
                s = pd.Series(pd.array(vals, dtype=nullable))
                s[codes < 0] = pd.NA
            else:
                s = pd.Series(vals)
        else:
            return None
        return _column(pd, np, name, s)
    if str(dt) == "string":  # pandas' StringDtype: str and pd.NA
        s = pd.Series([None if v is pd.NA else v for v in s.to_list()], dtype=object)
        dt = s.dtype
    if str(dt) == "timedelta64[ns]":  # as a duration: int64 nanoseconds
        vals = np.ascontiguousarray(s.to_numpy().view(np.int64))
        mask = s.isna().to_numpy()
        valid = np.ascontiguousarray((~mask).astype(np.uint8)) if mask.any() else None
        return (name, T_I64, False, vals.view(np.uint8) if vals.size else b"", None, None, valid)
    if str(dt) in _NUMPY_TYPES:
        t = _NUMPY_TYPES[str(dt)]
        vals = np.ascontiguousarray(s.to_numpy())
        return (name, t, False, vals.view(np.uint8) if vals.size else b"", None, None, None)
    if str(dt) in _NULLABLE:
        t = _NULLABLE[str(dt)]
        mask = s.isna().to_numpy()
        np_dt = _NUMPY_OF[t]
        vals = np.ascontiguousarray(s.to_numpy(dtype=np_dt, na_value=0 if t != T_BOOL else False))
        valid = np.ascontiguousarray((~mask).astype(np.uint8))
        return (name, t, False, vals.view(np.uint8) if vals.size else b"", None, None, valid)
    if isinstance(dt, pd.DatetimeTZDtype) or str(dt) == "datetime64[ns]":
        utc = isinstance(dt, pd.DatetimeTZDtype)
        ser = s.dt.tz_convert("UTC") if utc else s
        vals = np.ascontiguousarray(ser.to_numpy(dtype="datetime64[ns]").view(np.int64))
        mask = s.isna().to_numpy()
        valid = np.ascontiguousarray((~mask).astype(np.uint8)) if mask.any() else None
        return (name, T_TS_NS, utc, vals.view(np.uint8) if vals.size else b"", None, None, valid)
    if dt == object:
        items = s.to_list()
        kinds = {type(v) for v in items if v is not None and v is not pd.NA and not (isinstance(v, float) and v != v)}
        if kinds & {list, dict}:  # lists, dicts, lists of (key, value) pairs: a nested column
            if pd.NA in kinds or any(v is pd.NA for v in items):
                return None
            try:
                return _nested_column(np, name, [None if isinstance(v, float) and v != v else v
                                                 for v in items], 0)
            except _Uninferable:
                return None
        if kinds and kinds <= {decimal.Decimal}:
            return _decimal_column(np, name, items)
        if kinds and kinds <= {datetime.time}:
            return _time_column(np, name, items)
        if kinds <= {str}:
            t, enc = T_STR, [None if not isinstance(v, str) else v.encode("utf-8") for v in items]
        elif kinds <= {bytes}:
            t, enc = T_BIN, [v if isinstance(v, bytes) else None for v in items]
        else:
            return None
        offsets = np.zeros(len(enc) + 1, dtype=np.uint64)
        lengths = np.fromiter((len(v) if v is not None else 0 for v in enc), dtype=np.uint64, count=len(enc))
        np.cumsum(lengths, out=offsets[1:])
        data = b"".join(v for v in enc if v is not None)
        valid = np.fromiter((v is not None for v in enc), dtype=np.uint8, count=len(enc))
        return (name, t, False, None, offsets.view(np.uint8), data or b"\0",
                valid if not valid.all() else None)
    return None


# ---- nested columns from list / dict / (key, value) cells ----
# A column's cells are inferred level by level, as pyarrow infers them: a
# list is a LIST of its items' one type (unified over every cell), a dict a
# STRUCT of the union of its keys (a key a dict lacks is null there), a
# list whose items are all (key, value) 2-tuples a MAP; None is a null at
# any level. Anything else (types mixed at one level - ints with floats or
# strings -, non-string or empty dict keys, other tuples, sets, arrays, NaN
# as a key, nesting deeper than 32 levels) is _Uninferable and the frame is
# pickled whole.

_MAX_NESTING = 32  # as the reader's limit


class _Uninferable(Exception):
    pass


def _leaf_kind(np, kinds):
    """The one leaf type of a level's Python types, or raises _Uninferable."""
    named = set()
    for t in kinds:
        if t is bool or t is np.bool_:
            named.add("bool")
        elif t is int or (issubclass(t, np.integer) and t is not np.uint64):
            named.add("int")
        elif t is float or t is np.float64:
            named.add("float")
        elif t is str or t is np.str_:
            named.add("str")
        elif t is bytes:
            named.add("bytes")
        elif t is decimal.Decimal:
            named.add("decimal")
        elif t is datetime.time:
            named.add("time")
        else:
            raise _Uninferable(t.__name__)
    if len(named) != 1:
        raise _Uninferable(", ".join(sorted(named)))
    return named.pop()


def _valid_of(np, items):
    valid = np.fromiter((v is not None for v in items), dtype=np.uint8, count=len(items))
    return None if valid.all() else valid


def _nested_column(np, name, items, depth):
    """The column tuple (name, type, utc, values, offsets, bytes, valid,
    precision, scale, children) of items (Python objects, None for null) at
    one level of a nested column, its children built from the items below;
    raises _Uninferable."""
    if depth > _MAX_NESTING:
        raise _Uninferable("nested too deep")
    kinds = {type(v) for v in items if v is not None}
    if kinds & {list, dict} and len(kinds) > 1:
        raise _Uninferable("lists or dicts mixed with other cells")
    valid = _valid_of(np, items)
    if kinds == {list}:
        lengths = np.fromiter((0 if v is None else len(v) for v in items), dtype=np.uint64,
                              count=len(items))
        offsets = np.zeros(len(items) + 1, dtype=np.uint64)
        np.cumsum(lengths, out=offsets[1:])
        flat = [e for v in items if v is not None for e in v]
        inner = {type(e) for e in flat if e is not None}
        if tuple in inner:  # (key, value) entries: a MAP
            if inner != {tuple} or any(e is None or len(e) != 2 for e in flat):
                raise _Uninferable("a list of (key, value) pairs holds other items")
            keys = [e[0] for e in flat]
            if any(k is None or (isinstance(k, float) and k != k) for k in keys):
                raise _Uninferable("a null or NaN map key")
            key = _nested_column(np, "key", keys, depth + 2)
            value = _nested_column(np, "value", [e[1] for e in flat], depth + 2)
            entries = ("entries", T_STRUCT, False, None, None, None, None, 0, 0, [key, value])
            return (name, T_MAP, False, None, offsets.view(np.uint8), None, valid, 0, 0, [entries])
        child = _nested_column(np, "element", flat, depth + 1)
        return (name, T_LIST, False, None, offsets.view(np.uint8), None, valid, 0, 0, [child])
    if kinds == {dict}:
        fields = {}
        for v in items:
            if v is not None:
                fields.update(dict.fromkeys(v))
        if not fields or any(type(f) is not str or not f for f in fields):
            raise _Uninferable("a dict without keys or with keys that are not strings")
        children = [_nested_column(np, f, [None if v is None else v.get(f) for v in items], depth + 1)
                    for f in fields]
        return (name, T_STRUCT, False, None, None, None, valid, 0, 0, children)
    if not kinds:  # nulls only (or no items): a string column of nulls
        return (name, T_STR, False, None, np.zeros(len(items) + 1, dtype=np.uint64).view(np.uint8),
                b"\0", valid, 0, 0, None)
    kind = _leaf_kind(np, kinds)
    if kind in ("str", "bytes"):
        enc = [None if v is None else (v.encode("utf-8") if kind == "str" else v) for v in items]
        offsets = np.zeros(len(enc) + 1, dtype=np.uint64)
        np.cumsum(np.fromiter((0 if v is None else len(v) for v in enc), dtype=np.uint64, count=len(enc)),
                  out=offsets[1:])
        data = b"".join(v for v in enc if v is not None)
        return (name, T_STR if kind == "str" else T_BIN, False, None, offsets.view(np.uint8),
                data or b"\0", valid, 0, 0, None)
    if kind == "decimal":
        col = _decimal_column(np, name, items)
        if col is None:
            raise _Uninferable("a decimal that is not finite or has more than 38 digits")
        return col + (None,)
    if kind == "time":
        col = _time_column(np, name, items)
        if col is None:
            raise _Uninferable("a time with a time zone")
        return col + (0, 0, None)
    if kind == "int":
        if any(v is not None and not (-(1 << 63) <= int(v) < (1 << 63)) for v in items):
            raise _Uninferable("an integer beyond int64")
        t, dt, fill = T_I64, np.int64, 0
    elif kind == "float":
        t, dt, fill = T_F64, np.float64, 0.0
    else:
        t, dt, fill = T_BOOL, np.uint8, False
    vals = np.fromiter((fill if v is None else v for v in items), dtype=dt, count=len(items))
    return (name, t, False, vals.view(np.uint8) if vals.size else b"", None, None, valid, 0, 0, None)


def _pandas_type(col):
    """The pandas metadata's pandas_type of a column tuple, as pyarrow names it."""
    t = col[1]
    if t == T_LIST:
        return f"list[{_pandas_type(col[9][0])}]"
    return {T_I64: "int64", T_F64: "float64", T_BOOL: "bool", T_STR: "unicode", T_BIN: "bytes",
            T_DECIMAL: "decimal", T_TIME_US: "time"}.get(t, "object")


def _decimal_column(np, name, items):
    """decimal.Decimal objects (None for null) as a DECIMAL column, with the
    precision and scale that hold them all, as pyarrow infers them; None
    (pickled) for NaN, infinities or more than 38 digits. As pyarrow: the
    most digits before the point (none for 0.xx: 0.99 is DECIMAL(2,2)) plus
    the largest scale, at least 1."""
    scale, int_digits = 0, 0
    for v in items:
        if v is None:
            continue
        if not v.is_finite():
            return None
        sign, digits, exp = v.as_tuple()
        scale = max(scale, -exp)
        int_digits = max(int_digits, len(digits) + exp)
    precision = max(int_digits + scale, 1)
    if precision > _DECIMAL_MAX_PRECISION:
        return None
    ctx = decimal.Context(prec=2 * _DECIMAL_MAX_PRECISION + 2)
    out = bytearray(16 * len(items))
    for i, v in enumerate(items):
        if v is not None:
            out[16 * i:16 * i + 16] = int(v.scaleb(scale, ctx)).to_bytes(16, "little", signed=True)
    valid = np.fromiter((v is not None for v in items), dtype=np.uint8, count=len(items))
    return (name, T_DECIMAL, False, bytes(out) or b"\0", None, None,
            valid if not valid.all() else None, precision, scale)


def _time_column(np, name, items):
    """datetime.time objects (None for null) as a TIME(MICROS) column; None
    (pickled) when one has a time zone."""
    if any(v is not None and v.tzinfo is not None for v in items):
        return None
    us = np.fromiter(((((v.hour * 60 + v.minute) * 60 + v.second) * 1000000 + v.microsecond)
                      if v is not None else 0 for v in items), dtype=np.int64, count=len(items))
    valid = np.fromiter((v is not None for v in items), dtype=np.uint8, count=len(items))
    return (name, T_TIME_US, False, us.view(np.uint8) if us.size else b"", None, None,
            valid if not valid.all() else None)


def _json_name(v):
    """A column or index name that JSON keeps as it is (str, int, float,
    bool, None), else raises TypeError."""
    if v is None or isinstance(v, (str, bool)) or (isinstance(v, (int, float)) and not isinstance(v, bool)):
        return v
    import numpy as np
    if isinstance(v, np.integer):
        return int(v)
    if isinstance(v, np.floating):
        return float(v)
    raise TypeError(type(v).__name__)


def _put_table(store, pd, data, key, meta, no_overwrite=False):
    import json

    import numpy as np

    series = isinstance(data, pd.Series)
    df = data.to_frame(name="__series__" if data.name is None else data.name) if series else data
    if isinstance(df.columns, pd.MultiIndex) or df.columns.duplicated().any():
        return None
    # Non-string column names (as pandas' metadata records them): the
    # Parquet field is str(name); the names and their Index's dtype come back.
    try:
        orig_names = [_json_name(c) for c in df.columns]
    except TypeError:
        return None
    fields = [c if isinstance(c, str) else str(c) for c in df.columns]
    if len(set(fields)) != len(fields) or any(f.startswith("__index_level_") for f in fields):
        return None
    strnames = all(isinstance(c, str) for c in df.columns)
    idx = df.index
    info = {"python_type": "pandas.Series" if series else "pandas.DataFrame",
            "series_name": data.name if series else None,
            "dtypes": {f: str(df[c].dtype) for f, c in zip(fields, df.columns)}}
    if not strnames:
        info["column_names"] = orig_names
        info["columns_dtype"] = str(df.columns.dtype)
    cats = {f: {"categories": list(df[c].dtype.categories), "ordered": bool(df[c].dtype.ordered),
                "dtype": str(df[c].dtype.categories.dtype)}
            for f, c in zip(fields, df.columns) if isinstance(df[c].dtype, pd.CategoricalDtype)}
    if cats:
        info["categories"] = cats
    cols = []
    index_fields = []
    if isinstance(idx, pd.RangeIndex):
        info["index"] = {"kind": "range", "start": idx.start, "stop": idx.stop, "step": idx.step,
                         "name": idx.name if isinstance(idx.name, (str, type(None))) else None}
    elif not isinstance(idx, pd.MultiIndex):
        col = _column(pd, np, "__index_level_0__", idx.to_series(index=range(len(idx))))
        if col is None:
            return None
        cols.append(col)
        index_fields = ["__index_level_0__"]
        info["index"] = {"kind": "column", "name": idx.name, "dtype": str(idx.dtype)}
    else:  # a MultiIndex: a column per level
        for i in range(idx.nlevels):
            level = idx.get_level_values(i)
            if isinstance(level.dtype, pd.CategoricalDtype):
                return None
            col = _column(pd, np, f"__index_level_{i}__", level.to_series(index=range(len(idx))))
            if col is None:
                return None
            cols.append(col)
            index_fields.append(f"__index_level_{i}__")
        info["index"] = {"kind": "multi", "names": list(idx.names),
                         "dtypes": [str(idx.get_level_values(i).dtype) for i in range(idx.nlevels)]}
    for f, c in zip(fields, df.columns):
        col = _column(pd, np, f, df[c].reset_index(drop=True))
        if col is None:
            return None
        cols.append(col)
    try:
        json.dumps(info)
    except (TypeError, ValueError):
        return None
    # The "pandas" metadata pandas itself writes, so that pandas (through
    # pyarrow) restores the dtypes and the index from the file alone.
    pandas_cols = []
    by_field = dict(zip(fields, df.columns))
    for name, t, *rest in cols:
        if name in index_fields:
            k = index_fields.index(name)
            s = idx.get_level_values(k).to_series() if isinstance(idx, pd.MultiIndex) else idx.to_series()
            label = idx.names[k]
        else:
            s = df[by_field[name]]
            label = orig_names[fields.index(name)]
        dt = s.dtype
        entry = {"name": label, "field_name": name,
                 "pandas_type": pd.api.types.infer_dtype(s, skipna=True) if dt == object else str(dt),
                 "numpy_type": str(dt),
                 "metadata": {"precision": rest[-2], "scale": rest[-1]} if t == T_DECIMAL else None}
        if isinstance(dt, pd.CategoricalDtype):
            entry.update(pandas_type="categorical", numpy_type=str(s.cat.codes.dtype),
                         metadata={"num_categories": len(dt.categories), "ordered": bool(dt.ordered)})
        elif str(dt) == "string":
            entry.update(pandas_type="unicode", numpy_type="string")
        elif str(dt) == "timedelta64[ns]":
            entry.update(pandas_type="timedelta", numpy_type="timedelta64[ns]")
        elif t in (T_LIST, T_STRUCT, T_MAP):
            entry.update(pandas_type=_pandas_type((name, t, *rest)), numpy_type="object")
        pandas_cols.append(entry)
    index_columns = [dict(kind="range", name=info["index"]["name"], start=idx.start, stop=idx.stop,
                          step=idx.step)] if info["index"]["kind"] == "range" else index_fields
    pandas_meta = {"index_columns": index_columns,
                   "column_indexes": [{"name": None, "field_name": None,
                                       "pandas_type": "unicode" if strnames else str(df.columns.dtype),
                                       "numpy_type": "object" if strnames else str(df.columns.dtype),
                                       "metadata": {"encoding": "UTF-8"} if strnames else None}],
                   "columns": pandas_cols, "creator": {"library": "blobstore"},
                   "pandas_version": pd.__version__}
    try:
        pandas_json = json.dumps(pandas_meta)
    except (TypeError, ValueError):
        pandas_json = None
    try:
        return store._store.put_table(key, cols, len(df), metadata=meta, format_info=json.dumps(info),
                                      pandas_metadata=pandas_json, no_overwrite=no_overwrite)
    except UnsupportedError:
        # A nested column the Parquet writer does not take: pickled, as
        # before nested columns were written (nothing was stored).
        if any(c[1] in (T_LIST, T_STRUCT, T_MAP) for c in cols):
            return None
        raise


def _items(pd, np, col, n):
    """A column's n items as Python objects (None for a null), nested ones
    as pyarrow's to_pandas gives them (but lists rather than arrays): a LIST
    a list, a STRUCT a dict, a MAP a list of (key, value) tuples."""
    name, t, utc, nullable, vals, offs, data, valid, precision, scale, kids = col
    mask = None if valid is None else np.frombuffer(valid, dtype=np.uint8).astype(bool)
    if t in (T_LIST, T_MAP):
        o = np.frombuffer(offs, dtype=np.uint64) if n else np.zeros(1, np.uint64)
        sub = _items(pd, np, kids[0], int(o[n]))
        if t == T_MAP:
            sub = [None if e is None else tuple(e.values()) for e in sub]
        return [None if (mask is not None and not mask[i]) else sub[int(o[i]):int(o[i + 1])]
                for i in range(n)]
    if t == T_STRUCT:
        fields = [(k[0], _items(pd, np, k, n)) for k in kids]
        return [None if (mask is not None and not mask[i]) else {f: v[i] for f, v in fields}
                for i in range(n)]
    if t in (T_F32, T_F64):  # NaN stays NaN (the one np.nan, so that lists holding it compare equal)
        vals = np.frombuffer(vals, dtype=_NUMPY_OF[t])[:n].tolist() if n else []
        return [None if (mask is not None and not mask[i]) else (np.nan if v != v else v)
                for i, v in enumerate(vals)]
    s = _series_from(pd, np, col, n, None)
    if s.dtype == object:
        return [None if v is None else v for v in s]
    return [None if pd.isna(v) else (v.item() if hasattr(v, "item") and not isinstance(v, pd.Timestamp) else v)
            for v in s.astype(object)]


def _series_from(pd, np, col, nrows, dtype):
    name, t, utc, nullable, vals, offs, data, valid, precision, scale = col[:10]
    if t in (T_LIST, T_STRUCT, T_MAP):
        return pd.Series(_items(pd, np, col, nrows), dtype=object)
    mask = None if valid is None else np.frombuffer(valid, dtype=np.uint8).astype(bool)
    if t == T_DECIMAL:  # decimal.Decimal objects, as pyarrow's to_pandas gives
        halves = np.frombuffer(vals, dtype="<u8").reshape(-1, 2) if nrows else np.zeros((0, 2), "<u8")
        ctx = decimal.Context(prec=2 * _DECIMAL_MAX_PRECISION + 2)
        items = []
        for i in range(nrows):
            if mask is not None and not mask[i]:
                items.append(None)
                continue
            v = int(halves[i, 1]) << 64 | int(halves[i, 0])
            if v >= 1 << 127:
                v -= 1 << 128
            items.append(decimal.Decimal(v).scaleb(-scale, ctx))
        return pd.Series(items, dtype=object)
    if t in _TIME_PER_SECOND:  # datetime.time objects, as pyarrow's to_pandas gives
        per = _TIME_PER_SECOND[t]
        arr = np.frombuffer(vals, dtype=np.int64)
        items = []
        for i in range(nrows):
            if mask is not None and not mask[i]:
                items.append(None)
                continue
            v = int(arr[i])
            us, rest = divmod(v * 1000000, per)
            if rest or v >= 86400 * per:
                raise UnsupportedError(
                    f"column {name!r}: the time {v} / {per} s after midnight is not a "
                    "datetime.time (which holds microseconds, before 24:00)")
            secs, us = divmod(us, 1000000)
            items.append(datetime.time(secs // 3600, secs // 60 % 60, secs % 60, us))
        return pd.Series(items, dtype=object)
    if t in (T_STR, T_BIN):
        o = np.frombuffer(offs, dtype=np.uint64)
        b = bytes(data) if data is not None else b""
        items = []
        for i in range(nrows):
            if mask is not None and not mask[i]:
                items.append(None)
            else:
                v = b[o[i]:o[i + 1]]
                items.append(v.decode("utf-8") if t == T_STR else v)
        return pd.Series(items, dtype=object)
    if t in (T_TS_MS, T_TS_US, T_TS_NS):
        unit = {T_TS_MS: "ms", T_TS_US: "us", T_TS_NS: "ns"}[t]
        raw = np.frombuffer(vals, dtype=np.int64)
        per_ns = {T_TS_MS: 1000000, T_TS_US: 1000, T_TS_NS: 1}[t]
        live = raw if mask is None else raw[mask]
        if per_ns > 1 and live.size and (live.min() < np.iinfo(np.int64).min // per_ns + 1
                                         or live.max() > np.iinfo(np.int64).max // per_ns):
            # Beyond datetime64[ns] (1677-09-21..2262-04-11): datetime.datetime
            # objects, as pyarrow's to_pandas(timestamp_as_object=True) gives,
            # never a wrapped date.
            tz = datetime.timezone.utc if utc else None
            epoch = datetime.datetime(1970, 1, 1, tzinfo=tz)
            items = []
            for i in range(nrows):
                if mask is not None and not mask[i]:
                    items.append(None)
                    continue
                try:
                    items.append(epoch + datetime.timedelta(microseconds=int(raw[i]) * per_ns // 1000))
                except OverflowError:
                    raise UnsupportedError(f"column {name!r}: a timestamp beyond the years 1-9999 "
                                           "that datetime.datetime holds") from None
            return pd.Series(items, dtype=object)
        arr = raw.astype(f"datetime64[{unit}]").astype("datetime64[ns]")
        if mask is not None:
            arr = arr.copy()
            arr[~mask] = np.datetime64("NaT")
        s = pd.Series(arr)
        if utc:
            s = s.dt.tz_localize("UTC")
        if dtype and dtype.startswith("datetime64[ns, "):
            s = s.dt.tz_convert(dtype[len("datetime64[ns, "):-1])
        return s
    if t == T_DATE:
        arr = np.frombuffer(vals, dtype=np.int32).astype("datetime64[D]")
        s = pd.Series([None if (mask is not None and not mask[i]) else arr[i].item() for i in range(nrows)], dtype=object)
        return s
    arr = np.frombuffer(vals, dtype=_NUMPY_OF[t])
    if t == T_I64 and dtype == "timedelta64[ns]":  # a duration in nanoseconds
        arr = arr.copy()
        if mask is not None:
            arr[~mask] = np.iinfo(np.int64).min  # NaT
        return pd.Series(arr.view("timedelta64[ns]"))
    if mask is not None:
        # A masked array built from (values, mask): NaN stays a value, and
        # pd.array(values, dtype) would turn it into NA.
        if t == T_BOOL:
            return pd.Series(pd.arrays.BooleanArray(arr.astype(bool), ~mask))
        if t in (T_F32, T_F64):
            return pd.Series(pd.arrays.FloatingArray(arr.copy(), ~mask))
        return pd.Series(pd.arrays.IntegerArray(arr.copy(), ~mask))
    s = pd.Series(arr.astype(bool) if t == T_BOOL else arr)
    return s


def _get_table(store, key, meta, columns=None):
    import numpy as np
    import pandas as pd

    orig = meta.get("column_names")  # non-string column names, when there were
    field_of = {n: (n if isinstance(n, str) else str(n)) for n in orig} if orig else {}
    names = None
    if columns is not None:  # the index columns come along when there are some
        have = [c["name"] for c in meta.get("columns", [])]
        names = [h for h in have if h.startswith("__index_level_")] + [field_of.get(c, c) for c in columns]
    got = store._store.get_table(key, names)
    if got is None:
        return None
    nrows, cols = got
    dtypes = meta.get("dtypes", {})
    cats = meta.get("categories", {})
    ix = meta.get("index") or {}
    series = {}
    levels = {}
    for col in cols:
        name = col[0]
        if name.startswith("__index_level_"):
            k = int(name[len("__index_level_"):-2])
            want = ix.get("dtype") if ix.get("kind") == "column" else (ix.get("dtypes") or [None] * (k + 1))[k]
            s = _series_from(pd, np, col, nrows, want)
            if want and str(s.dtype) != want:
                try:
                    s = s.astype(want)
                except (TypeError, ValueError):
                    pass
            levels[k] = s
            continue
        want = dtypes.get(name)
        s = _series_from(pd, np, col, nrows, want)
        if name in cats:  # categorical: the categories (used or not) and their order
            c = cats[name]
            s = s.astype(pd.CategoricalDtype(pd.Index(c["categories"], dtype=c.get("dtype")), c["ordered"]))
        elif want and str(s.dtype) != want and want not in ("object",):
            try:
                s = s.astype(want)
            except (TypeError, ValueError):
                pass
        series[name] = s
    df = pd.DataFrame(series)
    if len(series) == 0:
        df = pd.DataFrame(index=range(nrows))
    if ix.get("kind") == "range":
        df.index = pd.RangeIndex(ix["start"], ix["stop"], ix["step"], name=ix.get("name"))
    elif ix.get("kind") == "multi" and levels:
        df.index = pd.MultiIndex.from_arrays([levels[k] for k in sorted(levels)], names=ix.get("names"))
    elif 0 in levels:
        df.index = pd.Index(levels[0], name=ix.get("name"))
    if columns is not None and len(series):
        df = df[[field_of.get(c, c) for c in columns]]  # in the order asked for
    if orig and len(series):
        back = {field_of[n]: n for n in orig}
        df.columns = pd.Index([back[f] for f in df.columns], dtype=meta.get("columns_dtype"))
    if meta.get("python_type") == "pandas.Series":
        s = df[df.columns[0]]
        s.name = meta.get("series_name")
        return s
    return df
