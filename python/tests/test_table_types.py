"""Parquet DECIMAL and TIME columns come back as what they are (decimal.Decimal
and datetime.time objects, as pyarrow's to_pandas gives), never as their
storage integers; timestamps beyond datetime64[ns] come back as
datetime.datetime objects, never as a wrapped date; and DataFrames of Decimal
and time objects are stored as Parquet and come back equal."""

import datetime
import os
from decimal import Decimal

import numpy as np
import pandas as pd
import pytest

from blobstore import BlobStore, UnsupportedError
from interop import put_file

HERE = os.path.dirname(os.path.abspath(__file__))
TYPES = os.path.join(HERE, "..", "..", "tests", "parquet", "types")
DEFECTS = os.path.join(HERE, "..", "..", "tests", "parquet", "defects")


def duckdb_rows():
    """The values tests/parquet/types/duckdb_decimal_time.parquet holds, from
    the query that made it (make_fixture.mjs), computed here independently."""
    rows = []
    for i in range(40):
        d4 = None if i % 7 == 3 else (Decimal(i * 37 - 500) / 100).quantize(Decimal("0.01"))
        d9 = (Decimal(i * 7919 - 250000) / 1000).quantize(Decimal("0.001"))
        d18 = (Decimal(((i * 104729) % 1000003 - 500000) * 1234567) / 1000000).quantize(Decimal("0.000001"))
        d18_0 = Decimal(999999999999999999 if i == 0 else -999999999999999999 if i == 1 else i * 1000003)
        if i % 5 == 2:
            t = None
        else:
            secs, us = i * 3719 % 86400, i * 12345 % 1000000
            t = datetime.time(secs // 3600, secs // 60 % 60, secs % 60, us)
        ts = (datetime.datetime(9999, 12, 31, 3) if i == 0 else datetime.datetime(1, 1, 1) if i == 1
              else datetime.datetime(2024, 1, 1) + datetime.timedelta(days=i))
        rows.append((i, d4, d9, d18, d18_0, t, ts))
    return rows


def test_duckdb_decimals_times_and_far_timestamps(store):
    put_file(store, "d", os.path.join(TYPES, "duckdb_decimal_time.parquet"))
    df = store.get("d")
    want = duckdb_rows()
    assert len(df) == len(want)
    for k, name in enumerate(["i", "d4", "d9", "d18", "d18_0", "t", "ts"]):
        got = df[name].tolist()
        for i, row in enumerate(want):
            w = row[k]
            g = got[i]
            if w is None:
                assert g is None, (name, i, g)
            elif isinstance(w, Decimal):
                # Exactly, exponent included: 1.00 is Decimal("1.00"), not 100 or 1.0.
                assert type(g) is Decimal and g == w and g.as_tuple().exponent == w.as_tuple().exponent, (name, i, g, w)
            else:
                assert g == w, (name, i, g, w)
    assert type(df["t"].iloc[0]) is datetime.time
    # 9999-12-31 and 0001-01-01 do not fit datetime64[ns]: datetime objects.
    assert df["ts"].dtype == object and df["ts"].iloc[0] == datetime.datetime(9999, 12, 31, 3)


def test_time_column_of_the_defect_file(store):
    put_file(store, "t", os.path.join(DEFECTS, "time_col.parquet"))
    s = store.get("t")["t"]
    vals = [v for v in s.tolist() if v is not None]
    assert vals and all(type(v) is datetime.time for v in vals)
    assert vals[:4] == [datetime.time(0), datetime.time(23, 59, 59, 999999),
                        datetime.time(12, 34, 56, 789002), datetime.time(12, 34, 56, 789003)]


def test_decimal_and_time_frames_round_trip(store):
    big = Decimal("-1234567890123456789012345678.0123456789")  # 38 digits
    df = pd.DataFrame({
        "price": [Decimal("1.00"), Decimal("-0.05"), None, Decimal("123456789012.345678")],
        "qty": [Decimal("3"), Decimal("-7"), Decimal("0"), Decimal("1E+2")],
        "at": [datetime.time(0), None, datetime.time(23, 59, 59, 999999), datetime.time(12, 30)],
        "wide": [big, Decimal(str(big)[1:]), Decimal("1E-10"), None],  # (-big rounds to 28 digits)
    })
    k = store.put(df)
    m = store.get_metadata(k)
    assert m["format"] == "parquet"
    assert [c["type"] for c in m["columns"]] == ["decimal(18,6)", "decimal(3,0)", "time[us]",
                                                 "decimal(38,10)"]
    back = store.get(k)
    assert back["price"].tolist() == df["price"].tolist()
    # The values at the column's scale, exactly.
    assert [str(v) for v in back["price"].tolist()] == ["1.000000", "-0.050000", "None",
                                                        "123456789012.345678"]
    assert [str(v) for v in back["qty"].tolist()] == ["3", "-7", "0", "100"]
    assert back["at"].tolist() == df["at"].tolist()
    assert [str(v) for v in back["wide"].tolist()] == [
        "-1234567890123456789012345678.0123456789", "1234567890123456789012345678.0123456789",
        "1E-10", "None"]


def test_what_parquet_cannot_hold_is_pickled(store):
    # More than 38 digits, NaN, time zones.
    for df in [pd.DataFrame({"d": [Decimal("123456789012345678901234567890123456789.5")]}),
               pd.DataFrame({"d": [Decimal("NaN")]}),
               pd.DataFrame({"t": [datetime.time(1, tzinfo=datetime.timezone.utc)]})]:
        k = store.put(df)
        assert store.get_metadata(k)["format"] == "pickle"
        back = store.get(k)
        assert back.columns.tolist() == df.columns.tolist()
        assert str(back.iloc[0, 0]) == str(df.iloc[0, 0])


def test_far_timestamps_with_a_time_zone(store):
    put_file(store, "d", os.path.join(TYPES, "duckdb_decimal_time.parquet"))
    ts = store.get("d")["ts"]
    assert ts.iloc[1] == datetime.datetime(1, 1, 1)
    assert ts.iloc[2] == datetime.datetime(2024, 1, 3)
