"""Differential test of tables, value by value.

Random tables from a seeded generator go in two ways (`blobstore put --csv`
with a schema, and Python `store.put(DataFrame)`) and come out three ways
(`get -o x.csv`, `get -o x.parquet`, Python `store.get`). This script checks
the CSV and pandas outputs against the generated values itself, and writes
for tests/parquet/interop/differential.mjs a manifest of the Parquet and CSV
outputs with the expected rows (truth.csv, one canonical text per value),
which DuckDB (EXCEPT ALL both ways and the row counts), parquet-wasm and
hyparquet then compare.

Canonical value text (truth.csv; NULL is an empty field): bool true/false,
integers in decimal, floats as Python's repr of the exact double (nan, inf,
-inf, -0.0; float32 values widened exactly), strings and binary as "x" + the
upper-case hex of their bytes, timestamps as integers in their unit since the
epoch, dates as days since 1970-01-01.

Usage: differential.py CLI WORKDIR [--soak]. The seed is BLOBSTORE_TABLE_DIFF_SEED
(default: a fresh one), printed first and on every failure. The row group and
page sizes are forced small (BLOBSTORE_PARQUET_*) so that every table of more
than a few rows spans several row groups and pages.
"""

import datetime
import json
import os
import random
import struct
import subprocess
import sys
import time

import numpy as np
import pandas as pd

import blobstore

INT_RANGES = {
    "int8": (-(1 << 7), (1 << 7) - 1), "int16": (-(1 << 15), (1 << 15) - 1),
    "int32": (-(1 << 31), (1 << 31) - 1), "int64": (-(1 << 63), (1 << 63) - 1),
    "uint8": (0, (1 << 8) - 1), "uint16": (0, (1 << 16) - 1),
    "uint32": (0, (1 << 32) - 1), "uint64": (0, (1 << 64) - 1),
}
# Timestamps and dates within what every reader represents: years 1..9999
# (nanoseconds: the int64 range less DuckDB's +-infinity and parsing margins).
US_MIN = -62135596800 * 10**6  # 0001-01-01
US_MAX = 253402300799999999  # 9999-12-31 23:59:59.999999
TS_RANGE = {
    "timestamp[ms]": (US_MIN // 1000, US_MAX // 1000),
    "timestamp[us]": (US_MIN, US_MAX),
    "timestamp[ns]": (-(1 << 62), 1 << 62),  # 1823-11-12 .. 2116-02-20
    "date": (-719162, 2932896),  # 0001-01-01 .. 9999-12-31
}
TS_PER_NS = {"timestamp[ms]": 10**6, "timestamp[us]": 10**3, "timestamp[ns]": 1}
ALL_TYPES = ["bool", *INT_RANGES, "float32", "float64", "string", "binary", *TS_RANGE]
STRINGS = ["", " ", "US", "FR", "DE", "ключ", "日本語", "🙂 emoji", "a,b", 'say "hi"', "two\nlines",
           "cr\r\nlf", "  padded  ", "nan", "NULL", "-0", "é" * 40, "x" * 300]
BINARIES = [b"", b"\x00", b"\xff\xfe\x00\x01", b"a,b", b'"', b"\n", b"\r", b"plain", b"\x80" * 9]
FLOATS = [float("nan"), float("inf"), float("-inf"), -0.0, 0.0, 5e-324, -5e-324,
          1.7976931348623157e308, -1.7976931348623157e308, 2.2250738585072014e-308, 0.1, 1e16, -1.5]
FLOAT32S = [float("nan"), float("inf"), float("-inf"), -0.0, 0.0, 1e-45, 3.4028234663852886e38,
            -3.4028234663852886e38, 1.1754943508222875e-38, 0.10000000149011612, 16777217.0]


class Fail(Exception):
    pass


# ---- the generator ----

def f32(x):
    return float(np.float32(x))


def shortest_text(t, v):
    """A float as `get -o x.csv` and DuckDB write it: the fewest digits that
    read back as the value (Python's repr for float64; NumPy's shortest
    digits of the float32, in repr's notation)."""
    if t == "float64" or not np.isfinite(np.float32(v)):
        return repr(float(v))
    return repr(float(np.format_float_scientific(np.float32(v), unique=True)))


def random_value(rng, t, i):
    """A random value of type t (Python int/float/str/bytes/bool); i: its
    ordinal among the distinct values (the first few are the edge cases)."""
    if t == "bool":
        return [False, True][i % 2] if i < 2 else rng.random() < 0.5
    if t in INT_RANGES:
        lo, hi = INT_RANGES[t]
        edges = [lo, hi, 0, -1 if lo < 0 else 1, lo + 1, hi - 1]
        if i < len(edges):
            return edges[i]
        return rng.choice([rng.randint(lo, hi), rng.randint(max(lo, -1000), min(hi, 1000))])
    if t in ("float32", "float64"):
        edges = FLOAT32S if t == "float32" else FLOATS
        if i < len(edges):
            return f32(edges[i]) if t == "float32" else edges[i]
        v = rng.choice([rng.uniform(-1e6, 1e6), rng.random(), rng.uniform(-1, 1) * 10 ** rng.randint(-300, 300),
                        struct.unpack("<d", rng.getrandbits(64).to_bytes(8, "little"))[0]])
        if t == "float32":
            with np.errstate(over="ignore"):
                v = f32(v)
        return v
    if t == "string":
        if i < len(STRINGS):
            return STRINGS[i]
        alphabet = "abcXYZ019 ,\"'\n\téßж中🙂"
        return "".join(rng.choice(alphabet) for _ in range(rng.randint(0, 12)))
    if t == "binary":
        if i < len(BINARIES):
            return BINARIES[i]
        return bytes(rng.getrandbits(8) for _ in range(rng.randint(0, 12)))
    lo, hi = TS_RANGE[t]
    edges = [lo, hi, 0, -1]
    if i < len(edges):
        return edges[i]
    if rng.random() < 0.5:  # near today
        lo, hi = (lo, hi) if t == "date" else (0, 0)
        if t != "date":
            per = 10**9 // TS_PER_NS[t]
            lo, hi = 1600000000 * per, 1800000000 * per
        else:
            lo, hi = 0, 30000
    return rng.randint(lo, hi)


def canon_key(t, v):
    """A hashable identity for distinctness (NaN is one value, -0.0 another)."""
    if isinstance(v, float):
        return struct.pack("<d", v) if v == v else b"nan"
    return v


def gen_column(rng, name, t, nrows, card, null_p, nullable):
    """values (None for null) of one column; card: distinct non-null values
    (None: all distinct)."""
    limit = {"bool": 2, "int8": 256, "uint8": 256}.get(t, 1 << 30)
    want = nrows if card is None else card
    want = min(want, limit)
    pool, seen, i = [], set(), 0
    if t in INT_RANGES or t in TS_RANGE:  # the edges, then distinct draws
        lo, hi = INT_RANGES.get(t) or TS_RANGE[t]
        while i < 6 and len(pool) < want:
            v = random_value(rng, t, i)
            i += 1
            if v not in seen:
                seen.add(v)
                pool.append(v)
        near = (max(lo, -1000), min(hi, 1000))
        if want < (near[1] - near[0]) // 2 and rng.random() < 0.5:
            lo, hi = near  # small numbers (narrow dictionary indices, short varints)
        if hi - lo < 1 << 40:
            draws = rng.sample(range(lo, hi + 1), min(want, hi - lo + 1))
        else:
            draws = (rng.randint(lo, hi) for _ in range(want * 2))
        for v in draws:
            if len(pool) >= want:
                break
            if v not in seen:
                seen.add(v)
                pool.append(v)
    while len(pool) < want and i < want * 3 + 50:
        v = random_value(rng, t, i)
        i += 1
        k = canon_key(t, v)
        if k not in seen:
            seen.add(k)
            pool.append(v)
    if card is None and want >= nrows:
        vals = pool[:nrows]
        rng.shuffle(vals)
        while len(vals) < nrows:
            vals.append(rng.choice(pool))
    else:
        # Runs of repeats too (the RLE paths), not only a uniform choice.
        vals, r = [], 0
        while len(vals) < nrows:
            v = rng.choice(pool)
            run = rng.choice([1, 1, 1, 2, 7, 8, 9, 20]) if rng.random() < 0.3 else 1
            vals.extend([v] * min(run, nrows - len(vals)))
    if nullable and null_p > 0:
        vals = [None if (null_p >= 1 or rng.random() < null_p) else v for v in vals]
    return {"name": name, "type": t, "nullable": nullable, "values": vals}


def canon(t, v):
    if v is None:
        return None
    if t == "bool":
        return "true" if v else "false"
    if t in ("float32", "float64"):
        return repr(float(v))
    if t == "string":
        return "x" + v.encode("utf-8").hex().upper()
    if t == "binary":
        return "x" + bytes(v).hex().upper()
    return str(int(v))


# ---- the inputs: CSV and DataFrame ----

def csv_cell(t, v):
    """Our CSV syntax for a value (what put --csv parses)."""
    if v is None:
        return b""
    if t == "bool":
        s = b"true" if v else b"false"
    elif t in ("float32", "float64"):
        s = repr(float(v)).encode()
    elif t in INT_RANGES:
        s = str(v).encode()
    elif t == "string":
        s = v.encode("utf-8")
    elif t == "binary":
        s = bytes(v)
    else:
        s = str(v).encode()  # timestamps and dates as integers in their unit
    if s == b"" or any(c in s for c in b',"\r\n'):
        return b'"' + s.replace(b'"', b'""') + b'"'
    return s


def write_csv(path, cols, nrows):
    with open(path, "wb") as f:
        f.write(b",".join(c["name"].encode() for c in cols) + b"\n")
        for r in range(nrows):
            f.write(b",".join(csv_cell(c["type"], c["values"][r]) for c in cols) + b"\n")


PANDAS_DTYPE = {"bool": "bool", "float32": "float32", "float64": "float64"}
PANDAS_NULLABLE = {"bool": "boolean", "int8": "Int8", "int16": "Int16", "int32": "Int32",
                   "int64": "Int64", "uint8": "UInt8", "uint16": "UInt16", "uint32": "UInt32",
                   "uint64": "UInt64", "float32": "Float32", "float64": "Float64"}
# What Python put(DataFrame) maps to a table column (dates and ms/us
# timestamps have no pandas 1.5 dtype that put stores as a table).
PY_TYPES = ["bool", *INT_RANGES, "float32", "float64", "string", "binary", "timestamp[ns]", "timestamp[ns,utc]"]


def series_for(c, nrows):
    t, vals, nullable = c["type"], c["values"], c["nullable"]
    if t in ("string", "binary"):
        return pd.Series(vals, dtype=object)
    if t.startswith("timestamp[ns"):
        arr = np.array([np.iinfo(np.int64).min if v is None else v for v in vals], dtype=np.int64)
        s = pd.Series(arr.view("datetime64[ns]"))
        return s.dt.tz_localize("UTC") if t.endswith("utc]") else s
    if nullable:  # from (values, mask): NaN is a value, NA the null
        data = np.array([0 if v is None else v for v in vals], dtype=t)
        mask = np.array([v is None for v in vals], dtype=bool)
        cls = (pd.arrays.BooleanArray if t == "bool" else pd.arrays.FloatingArray
               if t.startswith("float") else pd.arrays.IntegerArray)
        return pd.Series(cls(data, mask))
    return pd.Series(np.array(vals, dtype=PANDAS_DTYPE.get(t, t)))


# ---- the outputs: our CSV and pandas ----

def parse_csv(data):
    """RFC 4180 into rows of cells: None for an empty unquoted field, bytes
    otherwise (a quoted empty field is b"")."""
    rows, row, i, n = [], [], 0, len(data)
    while i < n:
        if data[i:i + 1] == b'"':
            j, out = i + 1, bytearray()
            while True:
                k = data.index(b'"', j)
                out += data[j:k]
                if data[k + 1:k + 2] == b'"':
                    out += b'"'
                    j = k + 2
                else:
                    i = k + 1
                    break
            cell = bytes(out)
        else:
            j = i
            while j < n and data[j:j + 1] not in (b",", b"\n", b"\r"):
                j += 1
            cell = data[i:j] if j > i else None
            i = j
        row.append(cell)
        if i < n and data[i:i + 1] == b",":
            i += 1
            if i == n:
                row.append(None)
            continue
        if data[i:i + 2] == b"\r\n":
            i += 2
        elif i < n:
            i += 1
        rows.append(row)
        row = []
    if row:
        rows.append(row)
    return rows


def parse_time_text(t, s):
    """'YYYY-MM-DD HH:MM:SS.fff[Z]' (our CSV) to an integer in t's unit."""
    s = s.decode()
    if t == "date":
        return (datetime.date.fromisoformat(s) - datetime.date(1970, 1, 1)).days
    s = s.rstrip("Z")
    day, clock = s.split(" ")
    hms, _, frac = clock.partition(".")
    days = (datetime.date.fromisoformat(day) - datetime.date(1970, 1, 1)).days
    h, m, sec = (int(x) for x in hms.split(":"))
    ns = (days * 86400 + h * 3600 + m * 60 + sec) * 10**9 + int((frac + "000000000")[:9])
    return ns // TS_PER_NS[t]


def canon_csv_text(t, s):
    if s is None:
        return None
    if t == "bool":
        return {b"true": "true", b"false": "false"}[s]
    if t in INT_RANGES:
        return str(int(s))
    if t in ("float64", "float32"):  # the value, and its text exactly
        v = float(s) if t == "float64" else f32(float(s))
        want = shortest_text(t, v)
        return repr(v) if s.decode() == want else f"text {s.decode()} (want {want})"
    if t == "string":
        return "x" + s.hex().upper()
    if t == "binary":
        return "x" + s.hex().upper()
    return str(parse_time_text(t, s))


def canon_pandas(t, s):
    """Canonical texts of a pandas Series holding column type t."""
    out = []
    for v in s.tolist():
        if v is None or v is pd.NA or v is pd.NaT:
            out.append(None)
        elif t in ("string", "binary"):
            out.append("x" + (v.encode("utf-8") if t == "string" else bytes(v)).hex().upper())
        elif t == "date":
            out.append(str((v - datetime.date(1970, 1, 1)).days))
        elif t.startswith("timestamp"):
            if isinstance(v, pd.Timestamp):
                ns = v.value
            elif isinstance(v, datetime.datetime):
                ref = datetime.datetime(1970, 1, 1, tzinfo=v.tzinfo)
                ns = ((v - ref) // datetime.timedelta(microseconds=1)) * 1000
            else:
                ns = int(v)
            per = TS_PER_NS.get(t.replace(",utc", ""), 1)
            out.append(str(ns // per) if ns % per == 0 else f"{ns}ns")
        else:
            out.append(canon(t, v))
    return out


NS_LIMITS = {"timestamp[ms]": (-9223372036854, 9223372036854),
             "timestamp[us]": (-9223372036854775, 9223372036854775)}


def expect_dtype(t, values):
    """The pandas dtype store.get gives for a CSV-put column: ms and us
    timestamps beyond datetime64[ns] come back as datetime.datetime objects."""
    nullable = any(v is None for v in values)
    if t in ("string", "binary", "date"):
        return "object"
    if t in NS_LIMITS:
        lo, hi = NS_LIMITS[t]
        return "object" if any(v is not None and not lo <= v <= hi for v in values) else "datetime64[ns]"
    if t.startswith("timestamp"):
        return "datetime64[ns]"
    return PANDAS_NULLABLE[t] if nullable else t


# ---- the file's layout: its pages, read from the Thrift page headers ----

def _varint(b, i):
    v = shift = 0
    while True:
        x = b[i]
        i += 1
        v |= (x & 0x7F) << shift
        shift += 7
        if not x & 0x80:
            return v, i


def _skip(b, i, t):
    """Skip a Thrift compact value of type t at b[i]; the offset after it."""
    if t in (1, 2):
        return i
    if t == 3:
        return i + 1
    if t in (4, 5, 6):
        return _varint(b, i)[1]
    if t == 7:
        return i + 8
    if t == 8:
        n, i = _varint(b, i)
        return i + n
    if t in (9, 10):
        n, et = b[i] >> 4, b[i] & 15
        i += 1
        if n == 15:
            n, i = _varint(b, i)
        for _ in range(n):
            i = _skip(b, i, et)
        return i
    if t == 12:
        while True:
            h = b[i]
            i += 1
            if h == 0:
                return i
            if not h >> 4:
                i = _varint(b, i)[1]
            i = _skip(b, i, h & 15)
    raise ValueError(f"thrift type {t}")


def count_data_pages(data):
    """Data pages of a file our writer made (its column chunks follow each
    other from offset 4 to the footer)."""
    end = len(data) - 8 - int.from_bytes(data[-8:-4], "little")
    i, pages = 4, 0
    while i < end:
        ptype = csize = None
        fid = 0
        while True:
            h = data[i]
            i += 1
            if h == 0:
                break
            fid = fid + (h >> 4) if h >> 4 else None
            if fid is None:
                z, i = _varint(data, i)
                fid = (z >> 1) ^ -(z & 1)
            if fid in (1, 3) and h & 15 == 5:
                z, i = _varint(data, i)
                if fid == 1:
                    ptype = (z >> 1) ^ -(z & 1)
                else:
                    csize = (z >> 1) ^ -(z & 1)
            else:
                i = _skip(data, i, h & 15)
        pages += ptype == 0
        i += csize
    return pages


# ---- one case ----

class Runner:
    def __init__(self, cli, work, seed):
        self.cli, self.work, self.seed = cli, work, seed
        self.rng = random.Random(seed ^ 0x5EED)
        self.soak = False
        self.pages = 0
        self.stores = {}  # a store per codec: a table follows its store's codec
        self.use_codec(CODECS[0])
        self.manifest = []
        self.failures = []
        self.checked = 0

    def fail(self, case, what):
        msg = f"FAIL seed={self.seed} case={case['id']}: {what}"
        print(msg, file=sys.stderr)
        self.failures.append(msg)

    def use_codec(self, codec):
        self.codec = codec
        self.store_dir = os.path.join(self.work, f"store-{codec}")
        if codec not in self.stores:
            self.stores[codec] = blobstore.BlobStore(self.store_dir, compression=codec)
        self.store = self.stores[codec]

    def run_cli(self, *args):
        r = subprocess.run([self.cli, "--dir", self.store_dir, "--compression", self.codec, *args],
                           capture_output=True)
        if r.returncode != 0:
            raise Fail(f"blobstore {' '.join(args)}: exit {r.returncode}: {r.stderr.decode(errors='replace')}")
        return r.stdout

    def compare_cols(self, case, where, cols, got_by_name):
        for c in cols:
            want = [canon(c["type"].replace(",utc]", "]"), v) for v in c["values"]]
            got = got_by_name.get(c["name"])
            self.checked += 1
            if got is None:
                self.fail(case, f"{where}: no column {c['name']}")
            elif len(got) != len(want):
                self.fail(case, f"{where}: {c['name']} has {len(got)} rows, want {len(want)}")
            elif got != want:
                bad = next(i for i in range(len(want)) if got[i] != want[i])
                nbad = sum(1 for i in range(len(want)) if got[i] != want[i])
                self.fail(case, f"{where}: {c['name']} ({c['type']}) differs at row {bad} "
                                f"({nbad} rows): got {got[bad]!r}, want {want[bad]!r}")

    def check_csv_output(self, case, where, path, cols):
        rows = parse_csv(open(path, "rb").read())
        header = [h.decode() if h is not None else "" for h in rows[0]] if rows else []
        if header != [c["name"] for c in cols]:
            self.fail(case, f"{where}: header {header}")
            return
        body = rows[1:]
        got = {}
        for k, c in enumerate(cols):
            t = c["type"].replace(",utc]", "]")
            try:
                got[c["name"]] = [canon_csv_text(t, row[k] if k < len(row) else None) for row in body]
            except (ValueError, KeyError) as e:
                self.fail(case, f"{where}: {c['name']} does not parse: {e}")
                return
        self.compare_cols(case, where, cols, got)

    def check_pandas(self, case, where, df, cols, nrows, frame=None):
        self.checked += 1
        if len(df) != nrows or list(df.columns) != [c["name"] for c in cols]:
            self.fail(case, f"{where}: shape {df.shape}, columns {list(df.columns)}")
            return
        if frame is not None:
            if not df.equals(frame):
                self.fail(case, f"{where}: df.equals(input) is False")
            for c in cols:
                if str(df[c["name"]].dtype) != str(frame[c["name"]].dtype):
                    self.fail(case, f"{where}: {c['name']} dtype {df[c['name']].dtype}, "
                                    f"put {frame[c['name']].dtype}")
        else:
            for c in cols:
                want = expect_dtype(c["type"], c["values"])
                if str(df[c["name"]].dtype) != want:
                    self.fail(case, f"{where}: {c['name']} dtype {df[c['name']].dtype}, want {want}")
        got = {c["name"]: canon_pandas(c["type"], df[c["name"]]) for c in cols}
        self.compare_cols(case, where, cols, got)

    def run_case(self, case):
        if "cols" not in case:
            case["cols"] = gen_columns(case)
        cols, nrows, cid = case["cols"], case["nrows"], case["id"]
        d = os.path.join(self.work, cid)
        os.makedirs(d)
        truth = os.path.join(d, "truth.csv")
        with open(truth, "w") as f:
            f.write(",".join(c["name"] for c in cols) + "\n")
            for r in range(nrows):
                f.write(",".join(canon(c["type"].replace(",utc]", "]"), c["values"][r]) or ""
                                 for c in cols) + "\n")
        types = [{"name": c["name"], "type": c["type"]} for c in cols]
        outputs = []
        # Small row groups and pages, a different layout each case.
        rg = case.get("row_group_rows") or self.rng.choice([1000, 4096, 20000])
        layout = {"BLOBSTORE_PARQUET_ROW_GROUP_ROWS": str(rg),
                  "BLOBSTORE_PARQUET_PAGE_ROWS": str(self.rng.choice(
                      [7, 100, 999, 20000] if nrows < 8191 else [100, 999, 20000])),
                  "BLOBSTORE_PARQUET_PAGE_BYTES": str(self.rng.choice([64, 4096, 1 << 20]))}
        os.environ.update(layout)  # for the library here and the CLI
        # Every codec in turn: the store's codec is the table's page codec.
        self.use_codec(CODECS[case.get("rot", 0) % len(CODECS)])
        if case["via"] == "csv":
            src = os.path.join(d, "in.csv")
            write_csv(src, cols, nrows)
            schema = ",".join(f"{c['name']}:{c['type']}" for c in cols)
            key = f"{cid}-csv"
            self.run_cli("put", "--key", key, "--csv", "--schema", schema, src)
            meta = self.store.get_metadata(key)
        else:
            frame = pd.DataFrame({c["name"]: series_for(c, nrows) for c in cols})
            key = f"{cid}-py"
            self.store.put(frame, key=key)
            meta = self.store.get_metadata(key)
            if meta.get("format") != "parquet":
                raise Fail(f"put(DataFrame) stored format {meta.get('format')}, not a table")
        if meta.get("compression") != PAGE_CODEC[self.codec]:
            raise Fail(f"a {self.codec} store wrote pages as {meta.get('compression')}, "
                       f"not {PAGE_CODEC[self.codec]}")
        # Out: CSV, Parquet, pandas.
        out_csv, out_pq = os.path.join(d, "out.csv"), os.path.join(d, "out.parquet")
        self.run_cli("get", key, "-o", out_csv)
        self.run_cli("get", key, "-o", out_pq)
        self.check_csv_output(case, f"{key} get -o x.csv", out_csv, cols)
        # Many pages: at least ceil(rows / page_rows) in every column chunk.
        pr = int(layout["BLOBSTORE_PARQUET_PAGE_ROWS"])
        groups = [min(rg, nrows - g) for g in range(0, nrows, rg)]
        if case["via"] == "csv":  # stored a ~2 MiB piece at a time: row groups of any size
            groups = [nrows]  # sum(ceil(n_i / pr)) >= ceil(sum(n_i) / pr)
        want_pages = len(cols) * sum(-(-n // pr) for n in groups)
        pages = count_data_pages(open(out_pq, "rb").read())
        self.checked += 1
        self.pages += pages
        if pages < want_pages:
            self.fail(case, f"{out_pq}: {pages} data pages, want at least {want_pages}")
        got = self.store.get(key)
        self.check_pandas(case, f"{key} store.get", got, cols, nrows,
                          frame if case["via"] == "python" else None)
        # DuckDB reads our CSV when it is UTF-8 without NUL (binary columns may not be).
        raw = open(out_csv, "rb").read()
        try:
            raw.decode("utf-8")
            csv_ok = b"\x00" not in raw
        except UnicodeDecodeError:
            csv_ok = False
        outputs.append({"kind": "parquet", "path": out_pq})
        # Some columns, in a random order: get --columns A,B -o x.parquet (DuckDB checks it).
        if cols:
            some = self.rng.sample([c["name"] for c in cols], self.rng.randint(1, min(3, len(cols))))
            out_some = os.path.join(d, "some.parquet")
            self.run_cli("get", key, "--columns", ",".join(some), "-o", out_some)
            outputs.append({"kind": "parquet", "path": out_some, "columns": some})
        outputs.append({"kind": "csv", "path": out_csv, "duckdb": csv_ok})
        # parquet-wasm and hyparquet read tables up to 8,193 rows in make test, 65,537 in soak.
        self.manifest.append({"id": cid, "seed": self.seed, "key": key, "nrows": nrows,
                              "js_readers": nrows <= (65537 if self.soak else 8193),
                              "row_group_rows": rg, "layout": layout, "truth": truth,
                              "columns": types, "outputs": outputs})


# ---- the cases ----

ROWS_FAST = [0, 1, 7, 8, 9, 63, 64, 65, 503, 504, 505, 1023, 1024, 1025, 8191, 8192, 8193,
             65535, 65536, 65537]
CARDS = [1, 2, 3, 17, 300, None]
NULLS = [0.0, 0.05, 0.5, 1.0]


# The store codecs, and the Parquet page codec each writes (Parquet has no blosclz).
CODECS = ["lz4", "zstd", "gzip", "none", "blosclz"]
PAGE_CODEC = {"lz4": "lz4_raw", "zstd": "zstd", "gzip": "gzip", "none": "none",
              "blosclz": "snappy"}


def plan(rng, soak):
    """The cases: (nrows, via, columns). make test: every row count up to
    1025 both ways in, with every type (CSV) or every pandas type (Python),
    the cardinalities and null densities rotating over the columns so that
    each type meets each of them across the cases; from 8191 rows one way in
    each (alternating) and a few types (strings and others in turn). make
    soak: every row count x both ways in (x three rotations up to 8,193
    rows), every type, and ~1M rows (strings and four types) through the
    CSV."""
    cases = []
    rows = ROWS_FAST + ([1 << 20] if soak else [])
    reps = 3 if soak else 1
    k = 0
    for nrows in rows:
        for via in ("csv", "python"):
            if nrows >= 8191 and not soak and via == ("csv" if nrows % 2 == 0 else "python"):
                continue  # the large tables: one input way each in make test
            if nrows > 65537 and via == "python":
                continue  # ~1M rows: through the CSV (the slower, every type)
            for rep in range(reps if nrows <= 8193 else 1):
                k += 1
                cases.append({"id": f"r{nrows}-{via}-{rep}", "nrows": nrows, "via": via,
                              "rot": k + rep, "seed": rng.getrandbits(64),
                              "narrow": (not soak and nrows >= 8191) or nrows > 65537})
    return cases


def gen_columns(case):
    """The columns of a planned case: every type (CSV) or every pandas type
    (Python), each nullable (with a null density) and not; cardinalities and
    null densities rotate over the columns and the cases."""
    rng = random.Random(case["seed"])
    types = ALL_TYPES if case["via"] == "csv" else PY_TYPES
    cols, k = [], case["rot"]
    if case.get("narrow"):  # a large table in make test: strings and a few types in turn
        w = 1 if 65535 <= case["nrows"] <= 65537 else 4
        types = [t for t in types if t != "string"]
        types = ["string"] + [types[(k * w + i) % len(types)] for i in range(w)]
    for j, t in enumerate(types):
        card = CARDS[(k + j) % len(CARDS)]
        null_p = NULLS[(k // len(CARDS) + j) % len(NULLS)]
        for nullable in (True, False):
            if case["via"] == "python" and t.startswith("timestamp") and not nullable:
                continue  # a NaT-free datetime column is the same dtype
            name = f"c{len(cols)}_{t.replace('[', '_').replace(']', '').replace(',', '_')}"
            c = gen_column(rng, name, t.replace(",utc]", "]"), case["nrows"], card, null_p, nullable)
            c["type"] = t
            cols.append(c)
    return cols


def special_cases():
    """The cases reported in issue 11, as pandas frames put and got back."""
    out = []
    n = 600
    out.append({"id": "issue11-lowcard-strings", "nrows": n, "via": "python", "cols": [
        {"name": "country", "type": "string", "nullable": False, "values": [["US", "FR", "DE"][i % 3] for i in range(n)]},
        {"name": "flag", "type": "string", "nullable": False, "values": ["YNNNNNNNNYNNNNYY"[i % 16] for i in range(n)]},
    ]})
    ts = [1600000000 * 10**9 + i * 10**9 for i in range(n)]
    ts[300] = None
    out.append({"id": "issue11-nat", "nrows": n, "via": "python", "cols": [
        {"name": "when", "type": "timestamp[ns]", "nullable": True, "values": ts}]})
    ints = [None] + list(range(1, n))
    out.append({"id": "issue11-int64-leading-na", "nrows": n, "via": "python", "cols": [
        {"name": "n", "type": "int64", "nullable": True, "values": ints},
        {"name": "s", "type": "string", "nullable": True,
         "values": [None if i % 20 == 0 else f"v{i % 7}" for i in range(n)]}]})
    out.append({"id": "issue11-csv-600", "nrows": n, "via": "csv", "cols": [
        {"name": "country", "type": "string", "nullable": False, "values": [["US", "FR", "DE"][i % 3] for i in range(n)]},
        {"name": "n", "type": "int64", "nullable": True, "values": [None] + list(range(1, 10)) + list(range(10, n))}]})
    return out


def main():
    cli, work = sys.argv[1], sys.argv[2]
    soak = "--soak" in sys.argv[3:]
    seed = int(os.environ.get("BLOBSTORE_TABLE_DIFF_SEED") or random.SystemRandom().randrange(1 << 32))
    print(f"differential: seed {seed} (set BLOBSTORE_TABLE_DIFF_SEED={seed} to reproduce)", flush=True)
    rng = random.Random(seed)
    runner = Runner(cli, work, seed)
    runner.soak = soak
    cases = special_cases() + plan(rng, soak)
    only = os.environ.get("BLOBSTORE_TABLE_DIFF_CASE")
    for case in cases:
        if only and case["id"] != only:
            continue
        t0 = time.time()
        try:
            runner.run_case(case)
        except Fail as e:
            runner.fail(case, str(e))
        except Exception as e:  # a crash in a conversion is a failure of this case
            runner.fail(case, f"{type(e).__name__}: {e}")
        if os.environ.get("BLOBSTORE_TABLE_DIFF_VERBOSE"):
            print(f"  {case['id']}: {time.time() - t0:.2f} s", flush=True)
    with open(os.path.join(work, "manifest.json"), "w") as f:
        json.dump(runner.manifest, f)
    print(f"differential: {len(runner.manifest)} tables ({runner.pages} data pages), "
          f"{runner.checked} checks in Python, {len(runner.failures)} failures", flush=True)
    sys.exit(1 if runner.failures else 0)


if __name__ == "__main__":
    main()
