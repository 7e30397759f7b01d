"""DECIMAL columns from independent writers come to pandas as decimal.Decimal
values, exactly as pyarrow's to_pandas gives them (issue 15): DECIMAL of 19
to 38 digits as DuckDB writes it (FIXED_LEN_BYTE_ARRAY(16)), and DECIMAL on
BYTE_ARRAY as hyparquet-writer writes it (minimal big-endian two's
complement, 0 as an empty value; DuckDB writes none). Every cell must equal
DuckDB's value of the same file (its text, read into a Decimal: value and
exponent, i.e. the scale) and the generator's; seeded random values with
each precision's limits, 3,000 rows across row groups and pages.

BLOBSTORE_DECIMAL_PY_SEED=N reproduces a run; the seed is printed on failure.
"""

import json
import os
import random
import subprocess
from decimal import Decimal

import pandas as pd
import pytest

from blobstore import BlobStore
from interop import INTEROP, duckdb, put_file

SEED = int(os.environ.get("BLOBSTORE_DECIMAL_PY_SEED", random.randrange(1 << 30)))
N = 3000


def unscaled_columns(r, specs):
    """{name: (p, s, [unscaled int or None])}: the limits of the precision
    both signs, 0 and +-1 first, then random digits of random length."""
    cols = {}
    for p, s in specs:
        top = 10**p - 1
        vals = [top, -top, 0, 1, -1]
        while len(vals) < N:
            if r.random() < 0.1:
                vals.append(None)
            else:
                v = int("".join(r.choice("0123456789") for _ in range(r.randint(1, p))))
                vals.append(-v if r.random() < 0.5 else v)
        cols[f"d{p}_{s}"] = (p, s, vals)
    return cols


def as_decimal(v, s):
    return None if v is None else Decimal(f"{v}E{-s}")  # exact (scaleb rounds to 28 digits)



def check_against_duckdb(tmp_path, path, cols):
    """Our pandas cells against DuckDB's text of each and the generator's value."""
    out = tmp_path / (os.path.basename(path) + ".json")
    casts = ", ".join(f"CAST({c} AS VARCHAR) AS {c}" for c in cols)
    duckdb(f"COPY (SELECT {casts} FROM read_parquet('{path}')) TO '{out}' (FORMAT JSON)")
    rows = [json.loads(line) for line in open(out)]
    assert len(rows) == N, f"seed {SEED}"
    with BlobStore(tmp_path / "s") as s:
        put_file(s, "k", path)
        df = s.get("k")
        for name, (p, sc, vals) in cols.items():
            assert df[name].dtype == object, f"seed {SEED}: {name}"
            for i, (got, row, v) in enumerate(zip(df[name].tolist(), rows, vals)):
                w = row[name]
                if w is None:
                    assert got is None and v is None, f"seed {SEED}: {name} row {i}: {got!r}, DuckDB null"
                    continue
                want = Decimal(w)
                assert type(got) is Decimal and got == want == as_decimal(v, sc) and \
                    got.as_tuple().exponent == want.as_tuple().exponent == -sc, \
                    f"seed {SEED}: {name} row {i}: ours {got!r}, DuckDB {w}, written {as_decimal(v, sc)}"
        # The frame put back (our writer: INT64 or FIXED_LEN_BYTE_ARRAY(16)) comes back equal.
        s.put(df, key="again")
        m = s.get_metadata("again")
        assert m["format"] == "parquet", f"seed {SEED}"
        # Each column holds its precision's largest value: inferred as the file's type.
        assert [c["type"] for c in m["columns"]] == [f"decimal({p},{sc})" for p, sc, _ in cols.values()]
        assert df.equals(s.get("again")), f"seed {SEED}"
    return len(cols) * N


def test_duckdb_wide_decimals_as_python_decimals(tmp_path):
    r = random.Random(SEED)
    cols = unscaled_columns(r, [(19, 0), (20, 3), (25, 10), (38, 0), (38, 19), (38, 38)])
    csv = tmp_path / "in.csv"
    with open(csv, "w") as f:
        f.write(",".join(cols) + "\n")
        for i in range(N):
            f.write(",".join("" if v[2][i] is None else format(as_decimal(v[2][i], v[1]), "f")
                             for v in cols.values()) + "\n")
    path = tmp_path / "duck_wide.parquet"
    types = ", ".join(f"'{c}': 'DECIMAL({p},{sc})'" for c, (p, sc, _) in cols.items())
    duckdb(f"COPY (SELECT * FROM read_csv('{csv}', header = true, columns = {{{types}}})) "
         f"TO '{path}' (FORMAT PARQUET, ROW_GROUP_SIZE 1000)")
    schema = tmp_path / "schema.json"
    duckdb(f"COPY (SELECT DISTINCT type, type_length FROM parquet_schema('{path}') WHERE type IS NOT NULL) "
         f"TO '{schema}' (FORMAT JSON)")
    assert [json.loads(line) for line in open(schema)] == \
        [{"type": "FIXED_LEN_BYTE_ARRAY", "type_length": "16"}], f"seed {SEED}"
    assert check_against_duckdb(tmp_path, path, cols) == 6 * N


@pytest.mark.parametrize("codec,row_group,page", [("SNAPPY", 1100, 2048), ("UNCOMPRESSED", 3000, 1 << 20)])
def test_byte_array_decimals_as_python_decimals(tmp_path, codec, row_group, page):
    r = random.Random(SEED + row_group)
    cols = unscaled_columns(r, [(1, 0), (9, 2), (18, 4), (30, 10), (38, 0), (38, 38)])
    spec = tmp_path / "spec.json"
    spec.write_text(json.dumps({
        "codec": codec, "rowGroupSize": row_group, "pageSize": page,
        "columns": [{"name": c, "precision": p, "scale": sc, "values": [None if v is None else str(v) for v in vals]}
                    for c, (p, sc, vals) in cols.items()]}))
    path = tmp_path / "hy_decimal.parquet"
    subprocess.run(["node", "hy_decimal.mjs", str(spec), str(path)], cwd=INTEROP, check=True)
    schema = tmp_path / "schema.json"
    duckdb(f"COPY (SELECT DISTINCT type FROM parquet_schema('{path}') WHERE type IS NOT NULL) TO '{schema}' (FORMAT JSON)")
    assert [json.loads(line) for line in open(schema)] == [{"type": "BYTE_ARRAY"}], f"seed {SEED}"
    assert check_against_duckdb(tmp_path, path, cols) == 6 * N


def test_precision_inferred_as_pyarrow_does(store):
    """No digit before the point counts none (pyarrow: 0.5 is decimal128(1, 1),
    0.99 decimal128(2, 2)); a DECIMAL(38,38) frame is Parquet, not a pickle."""
    cases = [([Decimal("0.5")], "decimal(1,1)"), ([Decimal("0.99"), None], "decimal(2,2)"),
             ([Decimal("-0." + "9" * 38)], "decimal(38,38)"), ([Decimal("0E-3")], "decimal(3,3)"),
             ([Decimal("0")], "decimal(1,0)"), ([Decimal("12.5"), Decimal("0.001")], "decimal(5,3)")]
    for cells, want in cases:
        df = pd.DataFrame({"d": cells})
        k = store.put(df)
        m = store.get_metadata(k)
        assert m["format"] == "parquet" and m["columns"][0]["type"] == want, (cells, m.get("columns"))
        assert df.equals(store.get(k))
