"""quirks.py - hand-made Parquet files reproducing what other writers do
(issue 15): every codec's framing, page CRCs, writers' quirks, encryption.

Written from the format (parquet.thrift, Encodings.md, Compression.md) with a
small Thrift compact-protocol writer of its own, independent of the C code.

Usage: python3 quirks.py DIR
Writes DIR/NAME.parquet and DIR/cases.json: for each file either the rows
it holds ("csv": the CSV `blobstore get -o x.csv` must print) or the exit
status and a piece of the message a put must fail with.
"""

import gzip
import json
import os
import struct
import sys
import zlib

# ---- Thrift compact protocol ----

T_TRUE, T_FALSE, T_BYTE, T_I16, T_I32, T_I64, T_DOUBLE, T_BINARY, T_LIST = 1, 2, 3, 4, 5, 6, 7, 8, 9
T_STRUCT = 12


def uvarint(n):
    out = bytearray()
    while True:
        b = n & 0x7F
        n >>= 7
        if n:
            out.append(b | 0x80)
        else:
            out.append(b)
            return bytes(out)


def zigzag(n):
    return (n << 1) ^ (n >> 63)


class Struct:
    """Fields as (id, kind, value); kind: i32, i64, bool, bin, struct, list_i32,
    list_bin, list_struct."""

    def __init__(self, *fields):
        self.fields = [f for f in fields if f is not None and f[2] is not None]

    def encode(self):
        out = bytearray()
        last = 0
        for fid, kind, val in sorted(self.fields, key=lambda f: f[0]):
            ttype = {"i32": T_I32, "i64": T_I64, "bin": T_BINARY, "struct": T_STRUCT,
                     "list_i32": T_LIST, "list_bin": T_LIST, "list_struct": T_LIST,
                     "bool": T_TRUE if val else T_FALSE}[kind]
            delta = fid - last
            if 0 < delta <= 15:
                out.append(delta << 4 | ttype)
            else:
                out.append(ttype)
                out += uvarint(zigzag(fid))
            last = fid
            out += encode_value(kind, val)
        out.append(0)
        return bytes(out)


def encode_value(kind, val):
    if kind in ("i32", "i64"):
        return uvarint(zigzag(val) & 0xFFFFFFFFFFFFFFFF)
    if kind == "bool":
        return b""
    if kind == "bin":
        val = val.encode() if isinstance(val, str) else val
        return uvarint(len(val)) + val
    if kind == "struct":
        return val.encode()
    elem = {"list_i32": (T_I32, "i32"), "list_bin": (T_BINARY, "bin"),
            "list_struct": (T_STRUCT, "struct")}[kind]
    head = bytes([len(val) << 4 | elem[0]]) if len(val) < 15 else bytes([0xF0 | elem[0]]) + uvarint(len(val))
    return head + b"".join(encode_value(elem[1], v) for v in val)


# ---- encodings ----

def rle_run(value, count, bit_width):
    """One RLE run of count copies of value."""
    return uvarint(count << 1) + value.to_bytes((bit_width + 7) // 8, "little")


def rle_levels(levels, bit_width):
    """Levels as runs (RLE only: simple and valid)."""
    out = bytearray()
    i = 0
    while i < len(levels):
        j = i
        while j < len(levels) and levels[j] == levels[i]:
            j += 1
        out += rle_run(levels[i], j - i, bit_width)
        i = j
    return bytes(out)


def bitpacked_bools(values):
    """Booleans as one bit-packed run of the RLE hybrid (bit width 1)."""
    groups = (len(values) + 7) // 8
    packed = bytearray(groups)
    for i, v in enumerate(values):
        if v:
            packed[i >> 3] |= 1 << (i & 7)
    return uvarint(groups << 1 | 1) + bytes(packed)


def plain(ptype, values):
    if ptype == "INT64":
        return b"".join(struct.pack("<q", v) for v in values)
    if ptype == "INT32":
        return b"".join(struct.pack("<i", v) for v in values)
    if ptype == "DOUBLE":
        return b"".join(struct.pack("<d", v) for v in values)
    if ptype == "BYTE_ARRAY":
        return b"".join(struct.pack("<I", len(v)) + v for v in (x.encode() for x in values))
    if ptype == "BOOLEAN":
        packed = bytearray((len(values) + 7) // 8)
        for i, v in enumerate(values):
            if v:
                packed[i >> 3] |= 1 << (i & 7)
        return bytes(packed)
    raise ValueError(ptype)


# ---- codecs ----

def lz4_block(data):
    """An LZ4 block (lz4_Block_format.md): a greedy compressor with a hash of
    4-byte sequences; the last 5 bytes are literals and no match starts in
    the last 12, as the format requires."""
    out = bytearray()
    n = len(data)
    table = {}
    anchor = i = 0
    limit = n - 12

    def emit(lit, match_len, offset):
        lit_len = len(lit)
        ml = match_len - 4 if match_len else 0
        token = (min(lit_len, 15) << 4) | (min(ml, 15) if match_len else 0)
        out.append(token)
        if lit_len >= 15:
            k = lit_len - 15
            while k >= 255:
                out.append(255)
                k -= 255
            out.append(k)
        out.extend(lit)
        if match_len:
            out.extend(struct.pack("<H", offset))
            if ml >= 15:
                k = ml - 15
                while k >= 255:
                    out.append(255)
                    k -= 255
                out.append(k)

    while i < limit:
        key = data[i:i + 4]
        cand = table.get(key)
        table[key] = i
        if cand is not None and i - cand <= 0xFFFF:
            m = 4
            while i + m < n - 5 and data[cand + m] == data[i + m]:
                m += 1
            emit(data[anchor:i], m, i - cand)
            i += m
            anchor = i
        else:
            i += 1
    emit(data[anchor:], 0, 0)
    return bytes(out)


def hadoop_lz4(data, block=None):
    """Hadoop's framing: per block a big-endian decompressed length, then a
    big-endian compressed length and the LZ4 block."""
    block = block or max(len(data), 1)
    out = bytearray()
    for at in range(0, len(data), block):
        part = data[at:at + block]
        comp = lz4_block(part)
        out += struct.pack(">I", len(part)) + struct.pack(">I", len(comp)) + comp
    return bytes(out)


def snappy_literal(data):
    """A snappy stream of literals only (format_description.txt)."""
    out = bytearray(uvarint(len(data)))
    at = 0
    while at < len(data):
        part = data[at:at + 60]
        out.append((len(part) - 1) << 2)
        out += part
        at += len(part)
    return bytes(out)


def gzip_members(data, pieces):
    """data as several gzip members in a row."""
    cut = [len(data) * k // pieces for k in range(pieces + 1)]
    return b"".join(gzip.compress(data[cut[k]:cut[k + 1]], mtime=0) for k in range(pieces))


CODECS = {"none": 0, "snappy": 1, "gzip": 2, "lz4": 5}

# ---- files ----

PTYPE = {"BOOLEAN": 0, "INT32": 1, "INT64": 2, "DOUBLE": 5, "BYTE_ARRAY": 6}


def page_header(ptype, usize, csize, crc=None, v1=None, v2=None):
    return Struct((1, "i32", ptype), (2, "i32", usize), (3, "i32", csize),
                  (4, "i32", crc), (5, "struct", v1), (8, "struct", v2)).encode()


def data_page_v1(values, valid, ptype, codec, compress, crc=False):
    """A v1 data page: definition levels (4-byte length + RLE) when the
    column is nullable (valid is not None), then PLAIN values."""
    body = b""
    if valid is not None:
        lv = rle_levels([1 if v else 0 for v in valid], 1)
        body += struct.pack("<I", len(lv)) + lv
    body += plain(ptype, [v for v, ok in zip(values, valid or [1] * len(values)) if ok])
    comp = compress(body)
    h = page_header(0, len(body), len(comp), zlib.crc32(comp) if crc else None,
                    v1=Struct((1, "i32", len(values)), (2, "i32", 0), (3, "i32", 3), (4, "i32", 3)))
    return h + comp


def nested_page_v1(entries, max_rep, max_def, ptype):
    """An uncompressed v1 data page of a nested leaf: entries (rep, def,
    value); repetition then definition levels (4-byte length + RLE, absent
    when their maximum is 0), then the values of the entries whose
    definition level is max_def, PLAIN."""
    body = b""
    for levels, mx in (([e[0] for e in entries], max_rep), ([e[1] for e in entries], max_def)):
        if mx:
            lv = rle_levels(levels, mx.bit_length())
            body += struct.pack("<I", len(lv)) + lv
    vals = [e[2] for e in entries if e[1] == max_def]
    if ptype == "BYTE_ARRAY":
        body += b"".join(struct.pack("<I", len(v)) + v for v in vals)
    else:
        body += plain(ptype, vals)
    h = page_header(0, len(body), len(body),
                    v1=Struct((1, "i32", len(entries)), (2, "i32", 0), (3, "i32", 3), (4, "i32", 3)))
    return h + body


def column_chunk(name, ptype, codec, offset, pages, nvalues, usize):
    meta = Struct((1, "i32", PTYPE[ptype]), (2, "list_i32", [0, 3]), (3, "list_bin", [name]),
                  (4, "i32", codec), (5, "i64", nvalues), (6, "i64", usize),
                  (7, "i64", len(pages)), (9, "i64", offset))
    return Struct((2, "i64", offset), (3, "struct", meta))


def schema(cols):
    """cols: (name, ptype, nullable, converted/logical extras)"""
    els = [Struct((4, "bin", "schema"), (5, "i32", len(cols)))]
    for name, ptype, nullable in cols:
        extra = [(6, "i32", 0), (10, "struct", Struct((1, "struct", Struct())))] if ptype == "BYTE_ARRAY" else []
        els.append(Struct((1, "i32", PTYPE[ptype]), (3, "i32", 1 if nullable else 0), (4, "bin", name), *extra))
    return els


def write_file(path, cols, groups, magic=b"PAR1", meta_extra=(), schema_els=None):
    """groups: list of (nrows, [page bytes of each column]) with codec per
    column given in cols' 4th member."""
    out = bytearray(magic)
    rgs = []
    for nrows, chunks in groups:
        ccs = []
        for (name, ptype, nullable, codec), (pages, nvalues) in zip(cols, chunks):
            off = len(out)
            if pages is None:  # a 0-row chunk, as some writers leave it
                meta = Struct((1, "i32", PTYPE[ptype]), (2, "list_i32", [0]), (3, "list_bin", [name]),
                              (4, "i32", codec), (5, "i64", 0), (6, "i64", 0), (7, "i64", 0), (9, "i64", 0))
                ccs.append(Struct((2, "i64", 0), (3, "struct", meta)))
                continue
            out += pages
            ccs.append(column_chunk(name, ptype, codec, off, pages, nvalues, len(pages)))
        rgs.append(Struct((1, "list_struct", ccs), (2, "i64", 0), (3, "i64", nrows)))
    total = sum(g[0] for g in groups)
    fmd = Struct((1, "i32", 1), (2, "list_struct", schema_els or schema([c[:3] for c in cols])), (3, "i64", total),
                 (4, "list_struct", rgs), (6, "bin", "blobstore quirks.py"), *meta_extra).encode()
    out += fmd + struct.pack("<I", len(fmd)) + magic
    with open(path, "wb") as f:
        f.write(out)


def csv_of(names, columns):
    def cell(v):
        if v is None:
            return ""
        if isinstance(v, bool):
            return "true" if v else "false"
        return str(v)
    lines = [",".join(names)]
    for row in zip(*columns):
        lines.append(",".join(cell(v) for v in row))
    return "\n".join(lines) + "\n"


def main(d):
    os.makedirs(d, exist_ok=True)
    cases = {}
    n = 300
    ints = [(i * 7919) % 1000 - 500 for i in range(n)]
    valid = [i % 5 != 3 for i in range(n)]
    words = ["alpha", "beta", "gamma", "delta", "epsilon"]
    strs = [words[i % 5] * (1 + i % 3) for i in range(n)]
    int_vals = [v if ok else None for v, ok in zip(ints, valid)]

    def two_cols(name, codec, compress, crc=False, group=None):
        cols = [("i", "INT64", True, codec), ("s", "BYTE_ARRAY", False, codec)]
        p1 = data_page_v1(ints, valid, "INT64", codec, compress, crc)
        p2 = data_page_v1(strs, None, "BYTE_ARRAY", codec, compress, crc)
        write_file(f"{d}/{name}.parquet", cols, [(n, [(p1, n), (p2, n)])])
        cases[name] = {"csv": csv_of(["i", "s"], [int_vals, strs])}

    # LZ4 (codec 5) in Hadoop's framing, one block and several; and a bare
    # LZ4 block under codec 5, as older parquet-cpp wrote it.
    two_cols("lz4_hadoop", 5, hadoop_lz4)
    two_cols("lz4_hadoop_blocks", 5, lambda b: hadoop_lz4(b, 256))
    two_cols("lz4_bare_block", 5, lz4_block)
    # GZIP pages of several members.
    two_cols("gzip_members", 2, lambda b: gzip_members(b, 3))
    # Page CRCs, right and wrong.
    two_cols("crc_ok", 1, snappy_literal, crc=True)
    path = f"{d}/crc_bad.parquet"
    two_cols("crc_bad", 1, snappy_literal, crc=True)
    data = bytearray(open(path, "rb").read())
    # Flip a bit in the last byte of the first page's body (the int column).
    first_page_end = 4 + len(data_page_v1(ints, valid, "INT64", 1, snappy_literal, True))
    data[first_page_end - 1] ^= 0x01
    open(path, "wb").write(bytes(data))
    cases["crc_bad"] = {"exit": 3, "message": "CRC"}

    # A v2 data page whose values are all null: an empty snappy body.
    m = 40
    lv = rle_levels([0] * m, 1)
    v2 = Struct((1, "i32", m), (2, "i32", m), (3, "i32", m), (4, "i32", 0), (5, "i32", len(lv)),
                (6, "i32", 0), (7, "bool", True))
    page = page_header(3, len(lv), len(lv), v2=v2) + lv
    lv2 = rle_levels([1] * m, 1)
    body = plain("INT64", list(range(m)))
    comp = snappy_literal(body)
    v2b = Struct((1, "i32", m), (2, "i32", 0), (3, "i32", m), (4, "i32", 0), (5, "i32", len(lv2)),
                 (6, "i32", 0), (7, "bool", True))
    page2 = page_header(3, len(lv2) + len(body), len(lv2) + len(comp), v2=v2b) + lv2 + comp
    write_file(f"{d}/snappy_v2_all_null.parquet", [("x", "INT64", True, 1), ("y", "INT64", True, 1)],
               [(m, [(page, m), (page2, m)])])
    cases["snappy_v2_all_null"] = {"csv": csv_of(["x", "y"], [[None] * m, list(range(m))])}

    # RLE-encoded booleans in v2 pages: nullable, with a required column
    # beside it whose writer gave repetition-level bytes (a flat column's
    # levels are all 0) and definition-level bytes it did not need.
    bools = [(i * 13) % 7 < 3 for i in range(n)]
    bvalid = [i % 4 != 2 for i in range(n)]
    lv = rle_levels([1 if ok else 0 for ok in bvalid], 1)
    packed = bitpacked_bools([b for b, ok in zip(bools, bvalid) if ok])
    vals = struct.pack("<I", len(packed)) + packed
    comp = snappy_literal(vals)
    v2 = Struct((1, "i32", n), (2, "i32", bvalid.count(False)), (3, "i32", n), (4, "i32", 3),
                (5, "i32", len(lv)), (6, "i32", 0), (7, "bool", True))
    pb = page_header(3, len(lv) + len(vals), len(lv) + len(comp), v2=v2) + lv + comp
    rl = rle_run(0, n, 0)
    dl = rle_run(0, n, 0)
    packed2 = bitpacked_bools(bools)
    vals2 = struct.pack("<I", len(packed2)) + packed2
    v2r = Struct((1, "i32", n), (2, "i32", 0), (3, "i32", n), (4, "i32", 3), (5, "i32", len(dl)),
                 (6, "i32", len(rl)), (7, "bool", False))
    pr = page_header(3, len(rl) + len(dl) + len(vals2), len(rl) + len(dl) + len(vals2), v2=v2r) + rl + dl + vals2
    write_file(f"{d}/rle_bool_v2.parquet", [("b", "BOOLEAN", True, 1), ("r", "BOOLEAN", False, 0)],
               [(n, [(pb, n), (pr, n)])])
    cases["rle_bool_v2"] = {"csv": csv_of(["b", "r"], [[b if ok else None for b, ok in zip(bools, bvalid)], bools])}

    # A row group of 0 rows whose column chunks have no pages and a
    # data_page_offset of 0, after one with rows.
    cols = [("i", "INT64", True, 0)]
    p1 = data_page_v1(ints[:10], valid[:10], "INT64", 0, lambda b: b)
    write_file(f"{d}/zero_row_chunk.parquet", cols, [(10, [(p1, 10)]), (0, [(None, 0)])])
    cases["zero_row_chunk"] = {"csv": csv_of(["i"], [int_vals[:10]])}
    write_file(f"{d}/zero_rows_only.parquet", cols, [(0, [(None, 0)])])
    cases["zero_rows_only"] = {"csv": "i\n"}

    # Encrypted files: an encrypted footer (PARE magic), and a plaintext
    # footer naming the encryption algorithm (AES_GCM_V1).
    with open(f"{d}/encrypted_footer.parquet", "wb") as f:
        f.write(b"PARE" + bytes(range(64)) + struct.pack("<I", 64) + b"PARE")
    cases["encrypted_footer"] = {"exit": 4, "message": "encrypted"}
    alg = Struct((1, "struct", Struct((1, "bin", b"\0" * 8))))
    write_file(f"{d}/encrypted_plaintext_footer.parquet", cols, [(10, [(p1, 10)])],
               meta_extra=[(8, "struct", alg)])
    cases["encrypted_plaintext_footer"] = {"exit": 4, "message": "encrypted"}

    # Row counts a small file cannot hold (a crafted footer): the reader
    # sizes nothing from them, and refuses the file as damaged (exit 3)
    # rather than allocating for 2^40 rows. A required column whose page
    # claims 2^31-1 values in 8 bytes, and a nullable one whose levels hold
    # one value.
    big = 2**31 - 1
    v1 = Struct((1, "i32", big), (2, "i32", 0), (3, "i32", 3), (4, "i32", 3))
    body = plain("INT64", [7])
    write_file(f"{d}/rows_claimed_required.parquet", [("i", "INT64", False, 0)],
               [(2**40, [(page_header(0, len(body), len(body), v1=v1) + body, 2**40)])])
    cases["rows_claimed_required"] = {"exit": 3, "message": "than its header says"}
    lv = rle_levels([1], 1)
    body = struct.pack("<I", len(lv)) + lv + plain("INT64", [7])
    write_file(f"{d}/rows_claimed_nullable.parquet", [("i", "INT64", True, 0)],
               [(2**40, [(page_header(0, len(body), len(body), v1=v1) + body, 2**40)])])
    cases["rows_claimed_nullable"] = {"exit": 3, "message": "than its header says"}

    # Nested columns the way older writers wrote them (LogicalTypes.md,
    # backward-compatibility rules), read as lists, structs and maps; the
    # CSV is DuckDB's text of them. Each leaf: (rep, def, value) per entry.
    def nested_file(name, elements, leaves, nrows, csv):
        cols, chunks = [], []
        for leaf_name, ptype, max_rep, max_def, entries in leaves:
            cols.append((leaf_name, ptype, True, 0))
            chunks.append((nested_page_v1(entries, max_rep, max_def, ptype), len(entries)))
        root = Struct((4, "bin", "schema"), (5, "i32", elements[0]))
        write_file(f"{d}/{name}.parquet", cols, [(nrows, chunks)], schema_els=[root] + elements[1:])
        cases[name] = {"csv": csv, "duckdb_csv": True}

    def el(name, rep, ptype=None, children=None, converted=None):
        return Struct((1, "i32", PTYPE[ptype] if ptype else None), (3, "i32", rep), (4, "bin", name),
                      (5, "i32", children), (6, "i32", converted))

    REQ, OPT, REP = 0, 1, 2
    ints_i = ("i", "INT32", 0, 1, [(0, 1, 0), (0, 1, 1), (0, 1, 2), (0, 1, 3)])
    i_el = el("i", OPT, "INT32")
    # rows [1, 2], [], null, [3]
    list_entries = [(0, 2, 1), (1, 2, 2), (0, 1, None), (0, 0, None), (0, 2, 3)]
    # A 2-level LIST: the repeated field is a primitive (the element).
    nested_file("legacy_list_2level", [2, i_el, el("tags", OPT, children=1, converted=3),
                                       el("array", REP, "INT32")],
                [ints_i, ("array", "INT32", 1, 2, list_entries)], 4,
                'i,tags\n0,"[1, 2]"\n1,[]\n2,\n3,[3]\n')
    # A repeated group of one field named `array`, or `<list>_tuple`: the
    # group is the element (a struct of that field), as the rules (and
    # Arrow) say. DuckDB 1.x does not apply this rule and reads the field
    # itself as the element: the same values, one level less.
    for group in ("array", "pts_tuple"):
        nested_file(f"legacy_list_{group}", [2, i_el, el("pts", OPT, children=1, converted=3),
                                             el(group, REP, children=1), el("x", REQ, "INT32")],
                    [ints_i, ("x", "INT32", 1, 2, list_entries)], 4,
                    "i,pts\n0,\"[{'x': 1}, {'x': 2}]\"\n1,[]\n2,\n3,[{'x': 3}]\n")
        cases[f"legacy_list_{group}"]["duckdb_reads"] = 'i,pts\n0,"[1, 2]"\n1,[]\n2,\n3,[3]\n'
    # A repeated field without a LIST annotation: a required list.
    nested_file("repeated_field", [2, i_el, el("nums", REP, "INT32")],
                [ints_i, ("nums", "INT32", 1, 1, [(0, 1, 1), (1, 1, 2), (0, 0, None), (0, 1, 3), (0, 0, None)])],
                4, 'i,nums\n0,"[1, 2]"\n1,[]\n2,[3]\n3,[]\n')
    # A repeated group without annotation: a list of structs.
    nested_file("repeated_group", [2, i_el, el("kv", REP, children=2), el("a", REQ, "INT32"),
                                   el("b", OPT, "INT32")],
                [("i", "INT32", 0, 1, [(0, 1, 0), (0, 1, 1), (0, 1, 2)]),
                 ("a", "INT32", 1, 1, [(0, 1, 1), (1, 1, 2), (0, 0, None), (0, 1, 3)]),
                 ("b", "INT32", 1, 2, [(0, 2, 10), (1, 1, None), (0, 0, None), (0, 2, 30)])], 3,
                "i,kv\n0,\"[{'a': 1, 'b': 10}, {'a': 2, 'b': NULL}]\"\n1,[]\n2,\"[{'a': 3, 'b': 30}]\"\n")
    # A MAP whose repeated group carries MAP_KEY_VALUE (older writers):
    # {a=1, b=NULL}, {}, null.
    nested_file("legacy_map", [2, i_el, el("m", OPT, children=1, converted=1),
                               el("key_value", REP, children=2, converted=2),
                               el("key", REQ, "BYTE_ARRAY", converted=0), el("value", OPT, "INT32")],
                [("i", "INT32", 0, 1, [(0, 1, 0), (0, 1, 1), (0, 1, 2)]),
                 ("key", "BYTE_ARRAY", 1, 2, [(0, 2, b"a"), (1, 2, b"b"), (0, 1, None), (0, 0, None)]),
                 ("value", "INT32", 1, 3, [(0, 3, 1), (1, 2, None), (0, 1, None), (0, 0, None)])], 3,
                'i,m\n0,"{a=1, b=NULL}"\n1,{}\n2,\n')
    # Still refused: a MAP whose repeated group has three fields.
    bad_map = [Struct((4, "bin", "schema"), (5, "i32", 1)), el("m", OPT, children=1, converted=1),
               el("key_value", REP, children=3), el("key", REQ, "INT32"), el("v1", OPT, "INT32"),
               el("v2", OPT, "INT32")]
    write_file(f"{d}/map_three_fields.parquet", [], [], schema_els=bad_map)
    cases["map_three_fields"] = {"exit": 4, "message": "column `m`: a MAP annotation on `m`"}

    with open(f"{d}/cases.json", "w") as f:
        json.dump(cases, f, indent=1, sort_keys=True)


if __name__ == "__main__":
    main(sys.argv[1])
