"""pandas DataFrames and Series are stored as Parquet files and come back
equal: dtypes, NaN and None, datetimes (naive and with a time zone),
nullable integers, the index and the Series name."""

import numpy as np
import pandas as pd
import pytest

from blobstore import BlobStore


def frame():
    return pd.DataFrame({
        "i64": [1, -2, 3, 4],
        "i8": np.array([1, -2, 3, 4], dtype=np.int8),
        "u32": np.array([1, 2, 3, 2**32 - 1], dtype=np.uint32),
        "f32": np.array([0.5, 1.5, np.nan, -2], dtype=np.float32),
        "f64": [0.5, np.nan, 2.5, 1e300],
        "flag": [True, False, True, False],
        "text": ["x", None, "zé", ""],
        "blob": [b"\x00\x01", None, b"", b"\xff"],
        "nint": pd.array([1, None, 3, None], dtype="Int64"),
        "nbool": pd.array([True, None, False, True], dtype="boolean"),
        "when": pd.to_datetime(["2024-01-01", None, "2024-03-01 10:00:00.123456789", "1969-07-20"]),
        "tz": pd.to_datetime(["2024-01-01", "2024-06-01", None, "2000-01-01"]).tz_localize("Europe/Paris"),
    })


def test_dataframe_round_trip(store):
    df = frame()
    k = store.put(df, metadata={"kind": "frame"})
    m = store.get_metadata(k)
    assert m["format"] == "parquet" and m["num_rows"] == 4
    assert [c["name"] for c in m["columns"]] == list(df.columns)
    back = store.get(k)
    assert df.equals(back)
    for c in df.columns:
        assert back[c].dtype == df[c].dtype


def test_index_and_series(store):
    df = pd.DataFrame({"x": [1.0, 2.0, 3.0]}, index=pd.Index(["r1", "r2", "r3"], name="rows"))
    back = store.get(store.put(df))
    assert df.equals(back) and back.index.name == "rows"
    df2 = pd.DataFrame({"x": [1, 2]}, index=pd.RangeIndex(10, 14, 2, name="n"))
    back2 = store.get(store.put(df2))
    assert df2.equals(back2) and isinstance(back2.index, pd.RangeIndex) and back2.index.step == 2
    s = pd.Series([1.5, None, 3.0], name="nums")
    bs = store.get(store.put(s))
    assert isinstance(bs, pd.Series) and s.equals(bs) and bs.name == "nums"
    unnamed = pd.Series(["a", "b"])
    bu = store.get(store.put(unnamed))
    assert unnamed.equals(bu) and bu.name is None
    empty = pd.DataFrame({"a": pd.Series([], dtype="int64")})
    assert empty.equals(store.get(store.put(empty)))


def test_unsupported_frames_are_pickled(store):
    for df in [pd.DataFrame({"mixed": [1, "a"]}),
               pd.DataFrame({(1, "a"): [1, 2]}),  # tuple (MultiIndex) column names
               pd.DataFrame({1: [1, 2], "1": [3, 4]})]:  # names equal as text
        k = store.put(df)
        assert store.get_metadata(k)["format"] == "pickle"
        assert df.equals(store.get(k))


def pyarrow_frames():
    """Frames pyarrow writes as Parquet (issue 15), each stored as Parquet too."""
    n = 1000
    rng = np.random.default_rng(15)
    words = np.array(["red", "green", "blue", "é", ""], dtype=object)
    cat = pd.Categorical(words[rng.integers(0, 5, n)], categories=["blue", "red", "green", "é", "", "unused"],
                         ordered=True)
    cat[::7] = None
    return {
        "categorical": pd.DataFrame({"c": cat, "x": np.arange(n)}),
        "categorical_numbers": pd.DataFrame({"i": pd.Categorical(rng.integers(0, 4, n)),
                                             "f": pd.Categorical([1.5, None, 2.5, 1.5] * (n // 4))}),
        "string_dtype": pd.DataFrame({"s": pd.array(["a", None, "zé", ""] * (n // 4), dtype="string"),
                                      "t": pd.array([None] * n, dtype="string")}),
        "nullable": pd.DataFrame({"b": pd.array([True, None, False, True], dtype="boolean"),
                                  "i8": pd.array([-128, None, 3, 127], dtype="Int8"),
                                  "u64": pd.array([2**64 - 1, None, 0, 1], dtype="UInt64"),
                                  "f32": pd.array([0.5, None, np.nan, -1], dtype="Float32"),
                                  "f64": pd.array([0.5, None, np.inf, -0.0], dtype="Float64")}),
        "timedelta": pd.DataFrame({"d": pd.to_timedelta([1, None, -5, 10**18], unit="ns"),
                                   "e": pd.to_timedelta([0, 1, 2, 3], unit="D")}),
        "multiindex": pd.DataFrame({"x": [1.5, 2.5, 3.5]},
                                   index=pd.MultiIndex.from_tuples([(1, "a"), (1, "b"), (2, "a")],
                                                                   names=["n", "s"])),
        "multiindex_unnamed": pd.DataFrame({"x": [1, 2]},
                                           index=pd.MultiIndex.from_tuples([(1, 2.5), (3, 4.5)])),
        "named_index": pd.DataFrame({"x": [1, 2]}, index=pd.Index([10, 20], name="id")),
        "int_column_names": pd.DataFrame({0: [1, 2], 1: ["a", "b"]}),
        "mixed_column_names": pd.DataFrame({1: [1, 2], "b": ["a", "b"], 2.5: [0.5, 1.0]}),
        "categorical_series": pd.Series(pd.Categorical(["x", "y", "x"]), name="s"),
    }


@pytest.mark.parametrize("name", sorted(pyarrow_frames()))
def test_frames_pyarrow_writes_are_parquet(store, name):
    df = pyarrow_frames()[name]
    k = store.put(df)
    assert store.get_metadata(k)["format"] == "parquet"
    back = store.get(k)
    assert df.equals(back)
    if isinstance(df, pd.DataFrame):
        assert list(back.dtypes) == list(df.dtypes)
        assert back.index.names == df.index.names and back.columns.equals(df.columns)
    else:
        assert back.dtype == df.dtype and back.name == df.name
    for c in df.columns if isinstance(df, pd.DataFrame) else []:
        if isinstance(df[c].dtype, pd.CategoricalDtype):  # unused categories and order kept
            assert list(back[c].cat.categories) == list(df[c].cat.categories)
            assert back[c].cat.ordered == df[c].cat.ordered
    if name == "mixed_column_names":  # a column by its own name, not its text
        assert df[[2.5, 1]].equals(store.get(k, columns=[2.5, 1]))


def test_pyarrow_frames_carry_pandas_metadata(tmp_path):
    """The file's pandas metadata is what pyarrow writes for these dtypes, and
    the file is Parquet our reader reads column by column."""
    import json

    with BlobStore(tmp_path / "s") as s:
        frames = pyarrow_frames()
        s.put(frames["categorical"], key="c")
        s.put(frames["multiindex"], key="m")
        s.put(frames["timedelta"], key="t")
        s.put(frames["string_dtype"], key="s")

        def pandas_meta(key):
            m = s.get_metadata(key)
            data = (tmp_path / "s" / "blobs" / m["blob"][:2] / m["blob"]).read_bytes()
            assert data[:4] == b"PAR1" and data[-4:] == b"PAR1"
            at = data.index(b'{"index_columns"')
            return json.JSONDecoder().raw_decode(data[at:].decode("utf-8", "replace"))[0]

        c = pandas_meta("c")["columns"][0]
        assert c["pandas_type"] == "categorical" and c["numpy_type"] == "int8"
        assert c["metadata"] == {"num_categories": 6, "ordered": True}
        m = pandas_meta("m")
        assert m["index_columns"] == ["__index_level_0__", "__index_level_1__"]
        assert [c["name"] for c in m["columns"]] == ["n", "s", "x"]
        assert pandas_meta("t")["columns"][0]["pandas_type"] == "timedelta"
        assert pandas_meta("s")["columns"][0]["numpy_type"] == "string"


def test_blob_file_is_parquet(tmp_path):
    with BlobStore(tmp_path / "s") as s:
        s.put(frame(), key="t")
        m = s.get_metadata("t")
        path = tmp_path / "s" / "blobs" / m["blob"][:2] / m["blob"]
        data = path.read_bytes()
        assert path.suffix == ".parquet" and data[:4] == b"PAR1" and data[-4:] == b"PAR1"
        assert b"pandas" in data  # the pandas key-value metadata
        s.put(pd.DataFrame({"x": [1]}, index=pd.Index(["a"], name="k")), key="i")
        m = s.get_metadata("i")
        data = (tmp_path / "s" / "blobs" / m["blob"][:2] / m["blob"]).read_bytes()
        assert b'"index_columns": ["__index_level_0__"]' in data


def test_content_addressed_frames(tmp_path):
    with BlobStore(tmp_path / "s", content_addressable=True) as s:
        assert s.put(frame()) == s.put(frame())


@pytest.mark.parametrize("codec,written", [("lz4", "lz4_raw"), ("zstd", "zstd"), ("gzip", "gzip"),
                                           ("none", "none"), ("blosclz", "snappy")])
def test_frames_follow_the_store_codec(tmp_path, codec, written):
    with BlobStore(tmp_path / "s", compression=codec) as s:
        df = frame()
        s.put(df, key="t")
        assert s.get_metadata("t")["compression"] == written
        assert df.equals(s.get("t"))


def test_nullable_floats_keep_nan_apart_from_na(store):
    # NaN is a value and NA the null: a column of both comes back so
    # (pd.array(values, dtype="Float64") would turn every NaN into NA).
    s = pd.Series(pd.arrays.FloatingArray(np.array([np.nan, 1.5, 0.0, -0.0]),
                                          np.array([False, False, True, False])))
    df = pd.DataFrame({"f": s, "i": pd.array([None, 2, 3, 4], dtype="Int64")})
    back = store.get(store.put(df))
    assert df.equals(back) and str(back["f"].dtype) == "Float64"
    data, mask = back["f"].array._data, back["f"].array._mask
    assert np.isnan(data[0]) and not mask[0] and mask[2] and not mask[3]
    assert np.signbit(data[3])
    assert back["i"].isna().tolist() == [True, False, False, False]


def test_issue11_frames_equal(store):
    # The frames of issue 11: a low-cardinality string column, a datetime
    # column with one NaT, an Int64 column with a leading NA (600 rows).
    n = 600
    df = pd.DataFrame({
        "country": [["US", "FR", "DE"][i % 3] for i in range(n)],
        "when": pd.to_datetime([None if i == 300 else 1600000000 + i for i in range(n)], unit="s"),
        "n": pd.array([None] + list(range(1, n)), dtype="Int64"),
    })
    assert df.equals(store.get(store.put(df)))


def test_timestamps_beyond_datetime64_ns(store):
    # A millisecond column beyond 1677..2262 (from a CSV or another writer)
    # cannot be datetime64[ns]: datetime objects, not wrapped-around instants.
    import datetime

    ms = np.array([253402300799999, -62135596800000, 0], dtype=np.int64)
    valid = np.array([1, 1, 0], dtype=np.uint8)
    k = store._store.put_table("far", [("t", 13, False, ms.view(np.uint8), None, None, valid)], 3)
    back = store.get(k)
    assert back["t"].dtype == object
    assert back["t"].tolist() == [datetime.datetime(9999, 12, 31, 23, 59, 59, 999000),
                                  datetime.datetime(1, 1, 1), None]
