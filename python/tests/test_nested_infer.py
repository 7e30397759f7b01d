"""Nested columns from pandas cells (issue 15): the column tree Python builds
from list / dict / (key, value) cells is the one the Parquet reader returns
for the same values written by DuckDB (an independent writer), and frames
whose cells have no one nested type stay pickled and come back equal.

DuckDB runs under Node.js (tests/parquet/interop, scripts/install-node-deps.sh).
BLOBSTORE_NESTED_PY_SEED=N reproduces a run; the seed is printed on failure.
"""

import decimal
import os
import random

import numpy as np
import pandas as pd
import pytest

from blobstore import BlobStore, _typed
from interop import duckdb, put_file

SEED = int(os.environ.get("BLOBSTORE_NESTED_PY_SEED", random.randrange(1 << 30)))


def same_tree(ours, theirs, n, where):
    """ours (a column tuple put_table takes) holds the values of theirs (a
    column tuple get_table gives) for n items: type, names, validity at every
    level, offsets, values where valid (NaN equal to NaN)."""
    name, t, _, vals, offs, data, valid, _, _, kids = ours
    tname, tt, _, _, tvals, toffs, tdata, tvalid, _, _, tkids = theirs
    assert (name, t) == (tname, tt), f"{where}: {name} {t}, reader {tname} {tt}"
    mask = np.ones(n, bool) if valid is None else np.frombuffer(valid, np.uint8)[:n].astype(bool)
    tmask = np.ones(n, bool) if tvalid is None else np.frombuffer(tvalid, np.uint8)[:n].astype(bool)
    assert (mask == tmask).all(), f"{where}: validity differs"
    if t in (_typed.T_LIST, _typed.T_MAP):
        o = np.frombuffer(offs, np.uint64)[:n + 1] if n else np.zeros(1, np.uint64)
        to = np.frombuffer(toffs, np.uint64)[:n + 1] if n else np.zeros(1, np.uint64)
        assert (o == to).all(), f"{where}: offsets differ"
        same_tree(kids[0], tkids[0], int(o[-1]), f"{where}.{name}")
    elif t == _typed.T_STRUCT:
        assert len(kids) == len(tkids), f"{where}: {len(kids)} fields, reader {len(tkids)}"
        for k, tk in zip(kids, tkids):
            same_tree(k, tk, n, f"{where}.{name}")
    elif t in (_typed.T_STR, _typed.T_BIN):
        o, to = np.frombuffer(offs, np.uint64), np.frombuffer(toffs, np.uint64)
        b, tb = bytes(data), bytes(tdata) if tdata is not None else b""
        for i in np.flatnonzero(mask):
            assert b[o[i]:o[i + 1]] == tb[to[i]:to[i + 1]], f"{where}[{i}]: strings differ"
    else:
        dt = _typed._NUMPY_OF[t]
        a, ta = np.frombuffer(vals, dt)[:n][mask], np.frombuffer(tvals, dt)[:n][mask]
        if t == _typed.T_F64:
            assert ((a == ta) | (np.isnan(a) & np.isnan(ta))).all(), f"{where}: values differ"
        else:
            assert (a == ta).all(), f"{where}: values differ"


def test_tree_matches_the_reader_of_duckdb_files(tmp_path):
    """DuckDB writes random nested columns (nulls at every level, NaN,
    empty lists, three row groups); the reader's column tree of the file and
    the tree Python builds from the cells store.get gives must be one."""
    path = str(tmp_path / "d.parquet")
    nul = lambda p, e: f"CASE WHEN random() < {p} THEN NULL ELSE {e} END"  # noqa: E731
    big = "(random() * 2e18 - 1e18)::BIGINT"
    dbl = f"CASE WHEN random() < 0.1 THEN 'nan'::DOUBLE ELSE random() * 1e6 - 5e5 END"
    words = "['', 'a', 'é', 'x,y', 'null', 'it''s']"
    gen = f"""
    SELECT
      {nul(0.1, f"list_transform(range((random() * 5)::INT), x -> {nul(0.2, big)})")} AS li,
      {nul(0.1, f"list_transform(range((random() * 5)::INT), x -> {nul(0.2, dbl)})")} AS lf,
      {nul(0.1, f"list_transform(range((random() * 4)::INT), x -> {nul(0.2, f'{words}[(random() * 5)::INT + 1]')})")} AS ls,
      {nul(0.1, f"list_transform(range((random() * 3)::INT), x -> {nul(0.2, f'list_transform(range((random() * 3)::INT), y -> {big})')})")} AS ll,
      {nul(0.1, f"{{'a': {nul(0.2, big)}, 'b': {nul(0.2, words + '[1]')}, 'c': {{'d': {nul(0.3, dbl)}}},"
                f" 'e': {nul(0.3, '[random() < 0.5, NULL]')}}}")} AS st,
      {nul(0.1, f"map_from_entries(list_transform(range((random() * 4)::INT), x -> {{'k': 'k' || x, 'v': {nul(0.2, big)}}}))")} AS m,
      {nul(0.1, f"map_from_entries(list_transform(range((random() * 3)::INT), x -> {{'k': x::BIGINT, 'v': [{nul(0.3, words + '[2]')}]}}))")} AS mi,
      {nul(0.1, f"list_transform(range((random() * 3)::INT), x -> {nul(0.2, f'{{x: {big}, y: [{dbl}]}}')})")} AS lst
    FROM range(3000)"""
    duckdb(f"SELECT setseed({(SEED % 1000) / 1000})",
           f"COPY ({gen}) TO '{path}' (FORMAT PARQUET, ROW_GROUP_SIZE 1024)")
    with BlobStore(tmp_path / "s") as s:
        put_file(s, "d", path)
        df = s.get("d")
        nrows, raw = s._store.get_table("d")
        assert nrows == len(df) == 3000
        for col in raw:
            cells = [None if isinstance(v, float) and v != v else v for v in df[col[0]].tolist()]
            ours = _typed._nested_column(np, col[0], cells, 0)
            try:
                same_tree(ours, col, nrows, col[0])
            except AssertionError as e:
                raise AssertionError(f"seed {SEED}: {e}") from None


def test_tree_layout():
    """The tree of a small column, level by level, as blobstore/table.h lays it out."""
    c = _typed._nested_column(np, "m", [[("a", [1, None])], None, [], [("b", None), ("c", [])]], 0)
    name, t, _, _, offs, _, valid, _, _, kids = c
    assert (name, t) == ("m", _typed.T_MAP)
    assert np.frombuffer(offs, np.uint64).tolist() == [0, 1, 1, 1, 3]
    assert np.frombuffer(valid, np.uint8).tolist() == [1, 0, 1, 1]
    entries = kids[0]
    assert entries[:2] == ("entries", _typed.T_STRUCT) and entries[6] is None
    key, value = entries[9]
    assert key[:2] == ("key", _typed.T_STR) and key[6] is None  # keys are never null
    assert bytes(key[5]) == b"abc" and np.frombuffer(key[4], np.uint64).tolist() == [0, 1, 2, 3]
    assert value[:2] == ("value", _typed.T_LIST)
    assert np.frombuffer(value[4], np.uint64).tolist() == [0, 2, 2, 2]
    assert np.frombuffer(value[6], np.uint8).tolist() == [1, 0, 1]
    elem = value[9][0]
    assert elem[:2] == ("element", _typed.T_I64)
    assert np.frombuffer(elem[3], np.int64)[0] == 1 and np.frombuffer(elem[6], np.uint8).tolist() == [1, 0]
    # a struct: the union of the keys in the order first seen, null where a dict lacks one
    s = _typed._nested_column(np, "s", [{"b": 1}, None, {"a": "x", "b": 2}], 0)
    assert [k[0] for k in s[9]] == ["b", "a"]
    assert np.frombuffer(s[9][1][6], np.uint8).tolist() == [0, 0, 1]
    assert np.frombuffer(s[6], np.uint8).tolist() == [1, 0, 1]


def uninferable_frames():
    """Cells with no one nested type: each frame stays a pickle."""
    return {
        "ints_and_strings": pd.DataFrame({"l": [[1, "a"], [2]]}),
        "ints_and_floats": pd.DataFrame({"l": [[1], [2.5]]}),
        "bools_and_ints": pd.DataFrame({"l": [[True], [1]]}),
        "lists_and_scalars": pd.DataFrame({"l": [[1], 2]}),
        "lists_and_dicts": pd.DataFrame({"l": [[1], {"a": 1}]}),
        "int_dict_keys": pd.DataFrame({"d": [{1: "a"}, {2: "b"}]}),
        "empty_dicts_only": pd.DataFrame({"d": [{}, {}]}),
        "sets": pd.DataFrame({"l": [[{1, 2}], [set()]]}),
        "three_tuples": pd.DataFrame({"l": [[(1, 2, 3)], []]}),
        "tuple_cells": pd.DataFrame({"t": [(1, 2), (3, 4)], "l": [[1], [2]]}),
        "pairs_and_lists": pd.DataFrame({"l": [[("a", 1)], [["b", 2]]]}),
        "null_map_key": pd.DataFrame({"m": [[(None, 1)], [("a", 2)]]}),
        "beyond_int64": pd.DataFrame({"l": [[2**63], [1]]}),
        "arrays": pd.DataFrame({"l": [np.array([1, 2]), [3]]}),
        "float32_items": pd.DataFrame({"l": [[np.float32(0.5)], []]}),
        "pd_na_items": pd.DataFrame({"l": [[1, pd.NA], [2]]}),
        "infinite_decimal": pd.DataFrame({"l": [[decimal.Decimal("inf")], []]}),
        "too_deep": pd.DataFrame({"l": [[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[1]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]], None]}),
    }


@pytest.mark.parametrize("name", sorted(uninferable_frames()))
def test_uninferable_cells_stay_pickled(store, name):
    df = uninferable_frames()[name]
    k = store.put(df)
    assert store.get_metadata(k)["format"] == "pickle"
    assert df.equals(store.get(k))
