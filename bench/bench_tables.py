"""make bench, table section: the blobstore CLI next to DuckDB (the pinned
npm package of the Parquet interop tests, one thread, in this same run) on a
1M-row x 10-column mixed table: CSV -> Parquet, Parquet -> CSV, and one
column out of the stored file; the peak RSS of each. Both sides write the
same page codec (lz4_raw) and read the file each wrote.

Then one column of a ~1 GB Parquet file (22M rows of the same table; 2M rows,
~90 MB, with --quick), written by DuckDB and stored with `blobstore put` as it
is, so both sides read the same bytes in the same layout (DuckDB's row groups
of 122,880 rows): `get --columns big -o big.csv` next to DuckDB's
`COPY (SELECT big FROM file) TO big.csv`. The column is `big` (int64) so that
the output is the same text both ways (checked byte for byte) and cheap to
write: the line measures reading and decoding one column's chunks, not number
formatting (the 1M-row line above formats doubles, which the two CSV writers
spell differently).

Usage: python3 bench_tables.py BLOBSTORE_CLI INTEROP_DIR DIR [--quick]
(no NumPy here: this process stays small, so a child's peak RSS is its own)
"""

import filecmp
import os
import shutil
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
args = [a for a in sys.argv[1:] if not a.startswith("--")]
CLI, INTEROP, ROOT = args[0], os.path.abspath(args[1]), args[2]
QUICK = "--quick" in sys.argv
ROWS = 200000 if QUICK else 1000000
BIG_ROWS = 2000000 if QUICK else 22000000


def duck(*sqls, threads=1):
    """[(seconds, peak RSS growth)] of each statement, in one DuckDB."""
    out = subprocess.run(["node", os.path.join(HERE, "duckdb.mjs"), INTEROP, str(threads), *sqls],
                         check=True, stdout=subprocess.PIPE, text=True).stdout.split("\n")
    return [(float(a), int(b)) for a, b in (ln.split() for ln in out if ln.strip())]


def ours(*argv):
    """Wall time and peak RSS of one CLI run."""
    t0 = time.perf_counter()
    p = subprocess.Popen([CLI, "--dir", os.path.join(ROOT, "tab-store"), "--backend", "sqlite",
                          "--durability", "relaxed", *argv], stdout=subprocess.DEVNULL)
    _, status, ru = os.wait4(p.pid, 0)
    dt = time.perf_counter() - t0
    if status != 0:
        raise SystemExit(f"bench: blobstore {' '.join(argv)} failed ({status})")
    return dt, ru.ru_maxrss * 1024


def line(what, ours_s, base_s, target_ratio, extra=""):
    ratio = base_s / ours_s  # speed ratio: >1 is faster than the baseline
    ok = "met" if ratio >= target_ratio else "MISSED"
    print(f"  {what:<38} {ours_s:9.2f} s   DuckDB {base_s:9.2f} s   ratio {ratio:5.2f}  "
          f"target >={target_ratio}x: {ok}{extra}", flush=True)


def table_sql(rows, to):
    """DuckDB's COPY of the bench table (ids, small and large integers, a
    nullable integer (5% empty), doubles, booleans, three string columns)."""
    return (f"COPY (SELECT i AS id, (hash(i) % 1000)::INT AS small, hash(i * 7) % 1000000007 AS big, "
            f"CASE WHEN hash(i) % 20 = 0 THEN NULL ELSE (hash(i * 3) % 100000)::INT END AS maybe, "
            f"(hash(i * 5) % 1000000) / 1000.0 AS x, (hash(i * 11) % 100000000) / 7.0 AS y, "
            f"hash(i * 13) % 2 = 0 AS ok, "
            f"['US','FR','DE','JP','BR','IN','CN'][(1 + hash(i) % 7)::BIGINT] AS country, "
            f"'user_' || (hash(i * 17) % 100000)::VARCHAR AS name, "
            f"md5(i::VARCHAR)[1:12] AS code FROM range({rows}) t(i)) TO {to}")


def projection(p):
    """One column of a ~1 GB file (a few rounds, alternating with DuckDB)."""
    big = p("big.parquet")
    duck(table_sql(BIG_ROWS, f"'{big}' (FORMAT parquet, COMPRESSION lz4_raw)"), threads=2)
    ours("put", "--key", "big", big)
    size = os.path.getsize(big)
    rounds = 2 if QUICK else 3
    mine, theirs = [], []
    for _ in range(rounds):
        theirs.append(duck(f"COPY (SELECT big FROM '{big}') TO '{p('duck-big.csv')}' (HEADER)")[0])
        mine.append(ours("get", "big", "--columns", "big", "-o", p("ours-big.csv")))
    if not filecmp.cmp(p("ours-big.csv"), p("duck-big.csv"), shallow=False):
        raise SystemExit("bench: get --columns big and DuckDB's COPY wrote different CSV")
    best, base = min(mine), min(theirs)
    ratios = sorted(b[0] / o[0] for o, b in zip(mine, theirs))
    line(f"one column of {size / 1e9:.2f} GB ({BIG_ROWS // 1000000}M rows)", best[0], base[0], 1.0,
         f"; ratios {ratios[0]:.2f}-{ratios[-1]:.2f} over {rounds} rounds")
    print(f"  peak RSS: one column of {size / 1e9:.2f} GB {max(m[1] for m in mine) / 1e6:.0f} MB "
          f"(DuckDB's growth {max(t[1] for t in theirs) / 1e6:.0f} MB)", flush=True)


def main():
    shutil.rmtree(ROOT, ignore_errors=True)
    os.makedirs(ROOT)
    p = lambda name: os.path.join(ROOT, name)  # noqa: E731
    duck(table_sql(ROWS, f"'{p('in.csv')}' (HEADER)"), threads=2)
    size = os.path.getsize(p("in.csv"))
    print(f"\ntables: {ROWS} rows x 10 columns, CSV {size / 1e6:.0f} MB; blobstore CLI (relaxed, "
          f"lz4 pages) vs DuckDB COPY (1 thread, lz4_raw), same run", flush=True)
    copy_in = (f"COPY (SELECT * FROM read_csv('{p('in.csv')}')) TO '{p('duck.parquet')}' "
               f"(FORMAT parquet, COMPRESSION lz4_raw)")
    d = duck(copy_in,
             f"COPY (SELECT * FROM '{p('duck.parquet')}') TO '{p('duck.csv')}' (HEADER)",
             f"COPY (SELECT x FROM '{p('duck.parquet')}') TO '{p('duck-x.csv')}' (HEADER)")
    put = ours("put", "--key", "t", "--csv", p("in.csv"))
    get = ours("get", "t", "-o", p("ours.csv"))
    col = ours("get", "t", "--columns", "x", "-o", p("ours-x.csv"))
    ours("get", "t", "-o", p("ours.parquet"))
    # The outputs are the same bytes: the same rows, numbers in the same
    # (shortest) text.
    if not filecmp.cmp(p("ours.csv"), p("duck.csv"), shallow=False):
        raise SystemExit("bench: get -o x.csv and DuckDB's COPY wrote different CSV")
    # The put again, alternating with DuckDB's COPY (the machine may be
    # shared: the best of each, and the spread of the rounds' ratios).
    rounds = 2 if QUICK else 3
    puts, dputs = [put], [d[0]]
    for i in range(1, rounds):
        dputs.append(duck(copy_in)[0])
        puts.append(ours("put", "--key", f"t{i}", "--csv", p("in.csv")))
    ratios = sorted(b[0] / o[0] for o, b in zip(puts, dputs))
    put = (min(x[0] for x in puts), max(x[1] for x in puts))
    d[0] = (min(x[0] for x in dputs), max(x[1] for x in dputs))
    line("put --csv (CSV -> Parquet)", put[0], d[0][0], 1.0,
         f"; ratios {ratios[0]:.2f}-{ratios[-1]:.2f} over {rounds} rounds")
    line("get -o x.csv (Parquet -> CSV)", get[0], d[1][0], 1.0)
    pq, dpq = os.path.getsize(p("ours.parquet")), os.path.getsize(p("duck.parquet"))
    line("get --columns x (one column)", col[0], d[2][0], 1.0,
         f"; files {pq / 1e6:.0f} / {dpq / 1e6:.0f} MB")
    print("  peak RSS: " + ", ".join(
        f"{what} {ours_[1] / 1e6:.0f} MB (DuckDB's growth {base[1] / 1e6:.0f} MB)"
        for what, ours_, base in (("put --csv", put, d[0]), ("get -o csv", get, d[1]),
                                  ("one column", col, d[2]))), flush=True)
    for f in ("in.csv", "duck.csv", "ours.csv", "duck.parquet", "ours.parquet"):
        os.remove(p(f))
    projection(p)
    shutil.rmtree(ROOT, ignore_errors=True)


if __name__ == "__main__":
    main()
