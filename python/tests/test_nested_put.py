"""DataFrames with list / dict / (key, value) cells are stored as Parquet
with nested columns (issue 15) and come back equal, value for value and type
for type; DuckDB reads the stored file to the same values.

BLOBSTORE_NESTED_PY_SEED=N reproduces a run; the seed is printed on failure.
"""

import json
import math
import os
import random

import numpy as np
import pandas as pd
import pytest

from blobstore import BlobStore
from interop import duckdb

SEED = int(os.environ.get("BLOBSTORE_NESTED_PY_SEED", random.randrange(1 << 30)))
WORDS = ["", "a", "é", "x,y", "null", "it's", "line\nbreak", " lead", "{q}", "k=v"]


def frames(seed, n):
    r = random.Random(seed)

    def maybe(p, f):
        return None if r.random() < p else f()

    def i64():
        return r.choice([0, 1, -1, 2**63 - 1, -2**63, r.randrange(-10**6, 10**6)])

    def f64():
        return r.choice([0.5, -0.0, math.inf, -math.inf, 1e-300, np.nan, r.uniform(-1e6, 1e6)])

    def word():
        return r.choice(WORDS)

    def lst(f, k=5):
        return [f() for _ in range(r.randrange(k))]

    cols = {
        "list_int64": lambda: maybe(0.1, lambda: lst(lambda: maybe(0.15, i64))),
        "list_float64": lambda: maybe(0.1, lambda: lst(lambda: maybe(0.15, f64))),
        "list_str": lambda: maybe(0.1, lambda: lst(lambda: maybe(0.15, word))),
        "list_bool": lambda: maybe(0.1, lambda: lst(lambda: maybe(0.15, lambda: r.random() < 0.5))),
        "list_list_int": lambda: maybe(0.1, lambda: lst(lambda: maybe(0.2, lambda: lst(i64, 3)), 3)),
        "struct": lambda: maybe(0.1, lambda: {"a": maybe(0.2, i64), "b": maybe(0.2, word)}),
        "struct_nested": lambda: maybe(0.1, lambda: {"a": i64(), "d": {"e": maybe(0.3, lambda: [1, 2]),
                                                                       "f": maybe(0.3, f64)}}),
        "struct_list": lambda: maybe(0.1, lambda: {"x": lst(word, 3), "y": maybe(0.3, lambda: r.random() < 0.5)}),
        "map_str_int": lambda: maybe(0.1, lambda: [(f"k{j}", maybe(0.2, i64)) for j in range(r.randrange(4))]),
        "map_int_list": lambda: maybe(0.1, lambda: [(j, [maybe(0.3, word)]) for j in range(r.randrange(3))]),
        "list_struct": lambda: maybe(0.1, lambda: lst(lambda: maybe(0.2, lambda: {"x": i64(), "y": lst(f64, 2)}), 3)),
    }
    out = {}
    for name, gen in cols.items():
        cells = [gen() for _ in range(n)]
        if name.startswith("map"):  # one entry at least, so that the column is a MAP
            cells[0] = [("k", None)] if name == "map_str_int" else [(0, [None])]
        out[name] = pd.DataFrame({name: cells, "id": np.arange(n)})
    out["empty_lists"] = pd.DataFrame({"e": [[] for _ in range(n)]})
    out["none_cells"] = pd.DataFrame({"l": [None if i % 3 else [i] for i in range(n)],
                                      "d": [None if i % 2 else {"k": i} for i in range(n)]})
    return out


def strictly_same(a, b):
    """a and b equal with the same types at every level (df.equals takes 1 for 1.0)."""
    if isinstance(a, float) and a != a:
        return isinstance(b, float) and b != b
    if type(a) is not type(b):
        return False
    if isinstance(a, (list, tuple)):
        return len(a) == len(b) and all(strictly_same(x, y) for x, y in zip(a, b))
    if isinstance(a, dict):
        return list(a) == list(b) and all(strictly_same(a[k], b[k]) for k in a)
    return a == b


@pytest.mark.parametrize("name", sorted(frames(0, 10)))
def test_nested_frames_round_trip(store, name):
    df = frames(SEED, 300)[name]
    k = store.put(df)
    assert store.get_metadata(k)["format"] == "parquet", f"seed {SEED}"
    back = store.get(k)
    assert df.equals(back), f"seed {SEED}"
    for c in df.columns:
        for i, (a, b) in enumerate(zip(df[c], back[c])):
            assert strictly_same(a, b), f"seed {SEED}: {name} row {i}: {a!r} came back {b!r}"


def test_many_rows_cross_row_groups(tmp_path, monkeypatch):
    monkeypatch.setenv("BLOBSTORE_PARQUET_ROW_GROUP_ROWS", "1000")
    monkeypatch.setenv("BLOBSTORE_PARQUET_PAGE_ROWS", "300")
    df = pd.concat([f.drop(columns=["id"], errors="ignore") for f in frames(SEED, 5000).values()], axis=1)
    df = df.loc[:, ~df.columns.duplicated()]
    with BlobStore(tmp_path / "s") as s:
        k = s.put(df)
        assert s.get_metadata(k)["format"] == "parquet", f"seed {SEED}"
        assert df.equals(s.get(k)), f"seed {SEED}"
        assert df[["list_int64", "struct"]].equals(s.get(k, columns=["list_int64", "struct"]))


def test_missing_struct_keys_come_back_null(store):
    """The union of the keys, as pyarrow makes it: a key a dict lacks is None."""
    df = pd.DataFrame({"d": [{"a": 1}, {"b": "x"}, None]})
    k = store.put(df)
    assert store.get_metadata(k)["format"] == "parquet"
    assert store.get(k)["d"].tolist() == [{"a": 1, "b": None}, {"a": None, "b": "x"}, None]


def test_pandas_metadata_names_nested_types_as_pyarrow(tmp_path):
    """pandas_type as pyarrow's pandas_compat.get_logical_type names it:
    list[<element>] for a LIST (list[list[int64]]), object for a STRUCT or a
    MAP; numpy_type object."""
    want = {"list_int64": "list[int64]", "list_float64": "list[float64]", "list_str": "list[unicode]",
            "list_bool": "list[bool]", "list_list_int": "list[list[int64]]", "struct": "object",
            "struct_nested": "object", "struct_list": "object", "map_str_int": "object",
            "map_int_list": "object", "list_struct": "list[object]"}
    df = pd.concat([f.drop(columns=["id"]) for name, f in frames(SEED, 50).items() if name in want], axis=1)
    with BlobStore(tmp_path / "s") as s:
        s.put(df, key="k")
        m = s.get_metadata("k")
        assert m["format"] == "parquet"
        data = (tmp_path / "s" / "blobs" / m["blob"][:2] / m["blob"]).read_bytes()
        at = data.index(b'{"index_columns"')
        meta = json.JSONDecoder().raw_decode(data[at:].decode("utf-8", "replace"))[0]
        got = {c["name"]: (c["pandas_type"], c["numpy_type"]) for c in meta["columns"]}
        assert got == {name: (t, "object") for name, t in want.items()}, f"seed {SEED}"
        assert df.equals(s.get("k")), f"seed {SEED}"


def duck_same(ours, theirs):
    """A cell of ours equal to DuckDB's JSON value of it (a MAP is an object)."""
    if theirs is None:
        return ours is None
    if isinstance(theirs, dict):
        if isinstance(ours, list):
            ours = {str(k): v for k, v in ours}
        return isinstance(ours, dict) and sorted(ours) == sorted(theirs) and \
            all(duck_same(ours[k], theirs[k]) for k in theirs)
    if isinstance(theirs, list):
        return isinstance(ours, list) and len(ours) == len(theirs) and \
            all(duck_same(a, b) for a, b in zip(ours, theirs))
    if isinstance(theirs, float) and theirs != theirs:
        return isinstance(ours, float) and ours != ours
    if isinstance(theirs, float) and isinstance(ours, float):
        return ours == theirs
    return type(ours) is type(theirs) and ours == theirs


def test_duckdb_reads_the_stored_files(tmp_path):
    cells = 0
    with BlobStore(tmp_path / "s") as s:
        sql = []
        jobs = []
        for name, df in frames(SEED, 500).items():
            s.put(df, key=name)
            m = s.get_metadata(name)
            assert m["format"] == "parquet"
            path = tmp_path / "s" / "blobs" / m["blob"][:2] / m["blob"]
            out = tmp_path / f"{name}.json"
            sql.append(f"COPY (SELECT * FROM read_parquet('{path}')) TO '{out}' (FORMAT JSON)")
            jobs.append((name, df, out))
        duckdb(*sql)
        for name, df, out in jobs:
            rows = [json.loads(line) for line in open(out)]
            assert len(rows) == len(df), f"seed {SEED}: {name}"
            for i, row in enumerate(rows):
                for c in df.columns:
                    ours = df[c].iloc[i]
                    ours = ours.item() if isinstance(ours, np.generic) else ours
                    assert duck_same(ours, row[str(c)]), \
                        f"seed {SEED}: {name} row {i} {c}: ours {ours!r}, DuckDB {row[str(c)]!r}"
                    cells += 1
    assert cells > 10000
