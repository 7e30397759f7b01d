/*
 * table_store.c - tables in the store (the blob file is the .parquet file
 * itself), the pandas metadata, and CSV in and out.
 */
#include "parquet.h"

#include <errno.h>
#include <jansson.h>
#include <math.h>
#include <time.h>

BLOBSTORE_API void blobstore_table_clear(blobstore_table *t)
{
    pq_table_free(t);
}

int pq_type_parse(const char *name, pq_type *out)
{
    for (int t = PQ_BOOL; t <= PQ_DATE; t++)
        if (strcmp(name, pq_type_name((pq_type)t)) == 0) {
            *out = (pq_type)t;
            return 0;
        }
    static const struct {
        const char *alias;
        pq_type t;
    } aliases[] = {{"boolean", PQ_BOOL},  {"int", PQ_INT64},  {"float", PQ_DOUBLE},
                   {"double", PQ_DOUBLE}, {"str", PQ_STRING}, {"timestamp", PQ_TIMESTAMP_US},
                   {"bytes", PQ_BINARY}};
    for (size_t i = 0; i < sizeof(aliases) / sizeof(aliases[0]); i++)
        if (strcmp(name, aliases[i].alias) == 0) {
            *out = aliases[i].t;
            return 0;
        }
    return bs__error(BLOBSTORE_EINVAL, "unknown column type \"%s\"", name);
}

/* ---- pandas metadata ---- */

static void pandas_types(const pq_column *c, const char **pandas, const char **numpy)
{
    static const char *ints[] = {"int8",  "int16",  "int32",  "int64",
                                 "uint8", "uint16", "uint32", "uint64"};
    static const char *nints[] = {"Int8",  "Int16",  "Int32",  "Int64",
                                  "UInt8", "UInt16", "UInt32", "UInt64"};
    switch (c->type) {
    case PQ_BOOL:
        *pandas = "bool";
        *numpy = c->nullable ? "boolean" : "bool";
        return;
    case PQ_FLOAT:
        *pandas = *numpy = "float32";
        return;
    case PQ_DOUBLE:
        *pandas = *numpy = "float64";
        return;
    case PQ_STRING:
        *pandas = "unicode";
        *numpy = "object";
        return;
    case PQ_BINARY:
        *pandas = "bytes";
        *numpy = "object";
        return;
    case PQ_DATE:
        *pandas = "date";
        *numpy = "object";
        return;
    case PQ_TIME_MS:
    case PQ_TIME_US:
    case PQ_TIME_NS:
        *pandas = "time";
        *numpy = "object";
        return;
    case PQ_DECIMAL:
        *pandas = "decimal";
        *numpy = "object";
        return;
    case PQ_TIMESTAMP_MS:
    case PQ_TIMESTAMP_US:
    case PQ_TIMESTAMP_NS:
        *pandas = c->utc ? "datetimetz" : "datetime";
        *numpy = "datetime64[ns]";
        return;
    default:
        *pandas = ints[c->type - PQ_INT8];
        *numpy = c->nullable ? nints[c->type - PQ_INT8] : ints[c->type - PQ_INT8];
    }
}

char *pq_pandas_metadata(const pq_table *t)
{
    json_t *cols = json_array();
    for (size_t i = 0; i < t->ncols; i++) {
        const char *pt, *nt;
        pandas_types(&t->cols[i], &pt, &nt);
        json_t *md = json_null();
        if (t->cols[i].utc && t->cols[i].type >= PQ_TIMESTAMP_MS &&
            t->cols[i].type <= PQ_TIMESTAMP_NS)
            md = json_pack("{s:s}", "timezone", "UTC");
        else if (t->cols[i].type == PQ_DECIMAL)
            md = json_pack("{s:i, s:i}", "precision", t->cols[i].precision, "scale",
                           t->cols[i].scale);
        json_array_append_new(cols, json_pack("{s:s, s:s, s:s, s:s, s:o}", "name", t->cols[i].name,
                                              "field_name", t->cols[i].name, "pandas_type", pt,
                                              "numpy_type", nt, "metadata", md));
    }
    json_t *o = json_pack(
        "{s:[{s:s, s:n, s:i, s:I, s:i}], s:[{s:n, s:n, s:s, s:s, s:{s:s}}], s:o, s:{s:s, s:s}, "
        "s:s}",
        "index_columns", "kind", "range", "name", "start", 0, "stop", (json_int_t)t->nrows, "step",
        1, "column_indexes", "name", "field_name", "pandas_type", "unicode", "numpy_type", "object",
        "metadata", "encoding", "UTF-8", "columns", cols, "creator", "library", "blobstore",
        "version", BLOBSTORE_VERSION_STRING, "pandas_version", "1.5.3");
    char *s = o ? json_dumps(o, JSON_COMPACT) : NULL;
    json_decref(o);
    return s;
}

/* ---- the store ---- */

static json_t *format_info(const pq_table *t)
{
    json_t *cols = json_array();
    char type[32];
    for (size_t i = 0; i < t->ncols; i++)
        json_array_append_new(cols, json_pack("{s:s, s:s, s:b}", "name", t->cols[i].name, "type",
                                              pq_column_type_text(&t->cols[i], type, sizeof(type)),
                                              "nullable", t->cols[i].nullable));
    return json_pack("{s:o, s:I}", "columns", cols, "num_rows", (json_int_t)t->nrows);
}

/* t as a Parquet file in memory with codec (a name pq_writer knows) at
 * level (0: the codec's default); *written: the codec's Parquet name. */
static int table_file(bs_buf *file, const blobstore_table *t, const blobstore_table_options *o,
                      const char *codec, int level, const char **written)
{
    char *pandas = o->pandas_metadata ? bs__strdup(o->pandas_metadata) : pq_pandas_metadata(t);
    if (!pandas)
        return bs__error(BLOBSTORE_EINVAL, "a column has no name");
    pq_write_options wo = {.codec = codec, .row_group_rows = o->row_group_rows};
    pq_writer *w;
    int rc = pq_writer_new(&w, t, &wo, bs__sink_buf, file);
    if (!rc) {
        pq_writer_set_level(w, level);
        *written = pq_writer_codec(w);
        rc = pq_writer_write(w, t, 0, t->nrows);
    }
    if (!rc)
        rc = pq_writer_finish(w, pandas);
    pq_writer_free(w);
    free(pandas);
    if (rc)
        bs__buf_free(file);
    return rc;
}

BLOBSTORE_API int blobstore_table_to_parquet(void **out, size_t *out_len, const blobstore_table *t,
                                             const blobstore_table_options *o)
{
    static const blobstore_table_options none = BLOBSTORE_TABLE_OPTIONS_INIT;
    if (!o)
        o = &none;
    if (!out || !out_len || !t)
        return bs__error(BLOBSTORE_EINVAL, "NULL argument");
    *out = NULL;
    bs_buf file = {0};
    const char *written;
    int rc = table_file(&file, t, o, o->compression, 0, &written);
    if (!rc) {
        *out = file.data;
        *out_len = file.len;
    }
    return rc;
}

/* The Parquet codec of a table put into bs: the one asked for, else the
 * store's (zstd, gzip, lz4 as LZ4_RAW, none; Parquet has no blosclz: snappy,
 * its usual fast codec, stands in), with the store's level for zstd and gzip. */
static const char *table_codec(blobstore *bs, const blobstore_table_options *o, int *level)
{
    static const char *map[][2] = {
        {"zstd", "zstd"}, {"gzip", "gzip"}, {"lz4", "lz4_raw"}, {"none", "none"}};
    *level = 0;
    if (o->compression)
        return o->compression;
    const char *name;
    int lv;
    bs__store_codec(bs, &name, &lv);
    for (size_t i = 0; i < sizeof(map) / sizeof(map[0]); i++)
        if (strcmp(name, map[i][0]) == 0) {
            *level = lv;
            return map[i][1];
        }
    return "snappy";
}

BLOBSTORE_API int blobstore_table_put(char **out_key, blobstore *bs, const char *key,
                                      const blobstore_table *t, const blobstore_table_options *o)
{
    static const blobstore_table_options none = BLOBSTORE_TABLE_OPTIONS_INIT;
    if (!o)
        o = &none;
    if (!bs || !t)
        return bs__error(BLOBSTORE_EINVAL, "NULL argument");
    int level;
    const char *codec = table_codec(bs, o, &level), *written;
    bs_buf file = {0};
    int rc = table_file(&file, t, o, codec, level, &written);
    if (rc)
        return rc;
    rc = bs__put_file(out_key, bs, key, file.data, file.len, "parquet", written, o->metadata,
                      format_info(t), o->format_info);
    bs__buf_free(&file);
    return rc;
}

BLOBSTORE_API int blobstore_table_put_parquet(char **out_key, blobstore *bs, const char *key,
                                              const void *file, size_t len, const char *metadata)
{
    pq_table t;
    if (!bs || (!file && len))
        return bs__error(BLOBSTORE_EINVAL, "NULL argument");
    int rc = pq_read(&t, file, len, NULL, 0); /* validates every page */
    if (rc)
        return bs__error_wrap(rc, "not a valid Parquet file");
    rc =
        bs__put_file(out_key, bs, key, file, len, "parquet", NULL, metadata, format_info(&t), NULL);
    pq_table_free(&t);
    return rc;
}

static int fetch_cb(void *ctx, uint64_t off, uint64_t len)
{
    return bs__ranged_fetch(ctx, off, len);
}

BLOBSTORE_API int blobstore_table_get(blobstore_table *out, blobstore *bs, const char *key,
                                      const char *const *names, size_t n)
{
    if (!out || !bs)
        return bs__error(BLOBSTORE_EINVAL, "NULL argument");
    /* Some columns: read the footer and their chunks only. A blob that
     * vanishes mid-read was replaced by a put: read the new one. */
    for (int attempt = 0;; attempt++) {
        memset(out, 0, sizeof(*out));
        bs_ranged *r;
        int rc = bs__ranged_open(&r, bs, key, "parquet", "a table", names == NULL);
        if (rc)
            return rc;
        size_t len;
        const uint8_t *file = bs__ranged_data(r, &len);
        rc = pq_read_ranged(out, file, len, names, n, fetch_cb, r);
        bs__ranged_close(r);
        if (rc == BLOBSTORE_ENOTFOUND && attempt < 2)
            continue;
        if (rc && rc != BLOBSTORE_EINVAL && rc != BLOBSTORE_EUNSUPPORTED &&
            rc != BLOBSTORE_ENOMEM && rc != BLOBSTORE_EIO && rc != BLOBSTORE_ENOTFOUND) {
            bs__error_wrap(BLOBSTORE_ECORRUPT, "key \"%s\"", key);
            rc = BLOBSTORE_ECORRUPT;
        }
        return rc;
    }
}

/* ---- CSV ---- */

typedef struct {
    char **cells; /* row-major; NULL for empty */
    size_t *lens;
    size_t nrows, ncols, cap;
} csv_grid;

static void grid_free(csv_grid *g)
{
    for (size_t i = 0; i < g->cap; i++) /* unused slots are NULL, a partial row too */
        free(g->cells[i]);
    free(g->cells);
    free(g->lens);
}

/* RFC 4180: commas, quotes doubled inside quoted fields, CRLF or LF. */
static int csv_parse(csv_grid *g, const char *s, size_t len)
{
    memset(g, 0, sizeof(*g));
    size_t pos = 0, col = 0, row = 0;
    bs_buf cell = {0};
    int rc = 0;
    while (pos < len || col > 0) {
        int quoted = pos < len && s[pos] == '"', empty = 1;
        cell.len = 0;
        if (quoted) {
            pos++;
            empty = 0;
            for (;;) {
                if (pos >= len) {
                    rc =
                        bs__error(BLOBSTORE_EINVAL, "CSV: unterminated quote on line %zu", row + 1);
                    break;
                }
                if (s[pos] == '"') {
                    if (pos + 1 < len && s[pos + 1] == '"') {
                        rc = bs__buf_append(&cell, "\"", 1);
                        pos += 2;
                        continue;
                    }
                    pos++;
                    break;
                }
                rc = bs__buf_append(&cell, s + pos, 1);
                pos++;
                if (rc)
                    break;
            }
        } else {
            size_t start = pos;
            while (pos < len && s[pos] != ',' && s[pos] != '\n' && s[pos] != '\r')
                pos++;
            if (pos > start) {
                empty = 0;
                rc = bs__buf_append(&cell, s + start, pos - start);
            }
        }
        if (rc)
            break;
        int end_row = pos >= len || s[pos] == '\n' || s[pos] == '\r';
        if (pos < len && s[pos] == '\r')
            pos++;
        if (pos < len && (s[pos] == '\n' || s[pos] == ','))
            pos++;
        if (row == 0 && g->ncols == 0 && end_row)
            g->ncols = col + 1;
        if (row > 0 && col >= g->ncols) {
            rc = bs__error(BLOBSTORE_EINVAL, "CSV: line %zu has more than %zu fields", row + 1,
                           g->ncols);
            break;
        }
        size_t idx = row * (g->ncols ? g->ncols : 4096) + col;
        if (row == 0 && !g->ncols && col >= 4096) {
            rc = bs__error(BLOBSTORE_EINVAL, "CSV: too many columns");
            break;
        }
        if (idx >= g->cap) {
            size_t cap = g->cap ? g->cap * 2 : 8192;
            while (cap <= idx)
                cap *= 2;
            char **c = bs__realloc(g->cells, cap * sizeof(char *));
            size_t *l = c ? bs__realloc(g->lens, cap * sizeof(size_t)) : NULL;
            if (!c || !l) {
                if (c)
                    g->cells = c;
                rc = BLOBSTORE_ENOMEM;
                break;
            }
            memset(c + g->cap, 0, (cap - g->cap) * sizeof(char *));
            g->cells = c;
            g->lens = l;
            g->cap = cap;
        }
        g->cells[idx] = empty ? NULL : bs__strndup((const char *)cell.data, cell.len);
        g->lens[idx] = cell.len;
        if (!empty && !g->cells[idx]) {
            rc = BLOBSTORE_ENOMEM;
            break;
        }
        col++;
        if (end_row) {
            if (row > 0 && col != g->ncols) {
                rc = bs__error(BLOBSTORE_EINVAL, "CSV: line %zu has %zu fields, the header %zu",
                               row + 1, col, g->ncols);
                break;
            }
            if (row == 0) { /* move the header from the 4096-wide layout */
                g->ncols = col;
            }
            row++;
            col = 0;
            if (pos >= len)
                break;
        }
    }
    bs__buf_free(&cell);
    g->nrows = row;
    if (!rc && row == 0)
        rc = bs__error(BLOBSTORE_EINVAL, "CSV: no header row");
    return rc;
}

static int parse_i64(const char *s, int64_t *out)
{
    char *end;
    errno = 0;
    long long v = strtoll(s, &end, 10);
    if (errno || end == s || *end)
        return -1;
    *out = v;
    return 0;
}

/* An integer of type t, range-checked (a value that does not fit is an error,
 * never its low bytes); unsigned 64-bit values above INT64_MAX too. */
static int parse_int(const char *s, pq_type t, int64_t *out)
{
    if (t == PQ_UINT64) {
        char *end;
        errno = 0;
        const char *p = s;
        while (*p == ' ' || *p == '\t')
            p++;
        if (*p == '-')
            return -1;
        unsigned long long v = strtoull(s, &end, 10);
        if (errno || end == s || *end)
            return -1;
        *out = (int64_t)v;
        return 0;
    }
    static const int64_t lo[] = {
        [PQ_INT8] = INT8_MIN,   [PQ_INT16] = INT16_MIN, [PQ_INT32] = INT32_MIN,
        [PQ_INT64] = INT64_MIN, [PQ_UINT8] = 0,         [PQ_UINT16] = 0,
        [PQ_UINT32] = 0};
    static const int64_t hi[] = {
        [PQ_INT8] = INT8_MAX,    [PQ_INT16] = INT16_MAX, [PQ_INT32] = INT32_MAX,
        [PQ_INT64] = INT64_MAX,  [PQ_UINT8] = UINT8_MAX, [PQ_UINT16] = UINT16_MAX,
        [PQ_UINT32] = UINT32_MAX};
    int64_t v;
    if (parse_i64(s, &v) || v < lo[t] || v > hi[t])
        return -1;
    *out = v;
    return 0;
}

static int parse_f64(const char *s, double *out)
{
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (end == s || *end)
        return -1;
    *out = v;
    return 0;
}

static int parse_bool(const char *s, uint8_t *out)
{
    if (!strcmp(s, "true") || !strcmp(s, "True") || !strcmp(s, "TRUE"))
        *out = 1;
    else if (!strcmp(s, "false") || !strcmp(s, "False") || !strcmp(s, "FALSE"))
        *out = 0;
    else
        return -1;
    return 0;
}

static int64_t days_from_civil(int64_t y, unsigned m, unsigned d)
{
    y -= m <= 2;
    int64_t era = (y >= 0 ? y : y - 399) / 400;
    unsigned yoe = (unsigned)(y - era * 400);
    unsigned doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + (int64_t)doe - 719468;
}

/* "YYYY-MM-DD[ T]HH:MM:SS[.frac][Z]" or an integer in the unit. */
static int parse_time(const char *s, pq_type t, int64_t *out)
{
    int64_t v;
    if (parse_i64(s, &v) == 0) {
        *out = v;
        return 0;
    }
    int y, mo, d, h = 0, mi = 0, sec = 0, n = 0;
    if (sscanf(s, "%d-%d-%d%n", &y, &mo, &d, &n) != 3 || mo < 1 || mo > 12 || d < 1 || d > 31)
        return -1;
    int64_t days = days_from_civil(y, (unsigned)mo, (unsigned)d);
    if (t == PQ_DATE) {
        if (s[n])
            return -1;
        *out = days;
        return 0;
    }
    const char *p = s + n;
    int64_t frac_ns = 0;
    if (*p == ' ' || *p == 'T') {
        int m2 = 0;
        if (sscanf(p + 1, "%d:%d:%d%n", &h, &mi, &sec, &m2) != 3)
            return -1;
        p += 1 + m2;
        if (*p == '.') {
            int64_t scale = 100000000;
            for (p++; *p >= '0' && *p <= '9'; p++, scale /= 10)
                frac_ns += (*p - '0') * scale;
        }
        if (*p == 'Z')
            p++;
    }
    if (*p)
        return -1;
    int64_t secs = days * 86400 + h * 3600 + mi * 60 + sec;
    *out = t == PQ_TIMESTAMP_MS   ? secs * 1000 + frac_ns / 1000000
           : t == PQ_TIMESTAMP_US ? secs * 1000000 + frac_ns / 1000
                                  : secs * 1000000000 + frac_ns;
    return 0;
}

static int fits(pq_type t, const char *s)
{
    int64_t i;
    double d;
    uint8_t b;
    switch (t) {
    case PQ_INT64:
        return parse_i64(s, &i) == 0;
    case PQ_DOUBLE:
        return parse_f64(s, &d) == 0;
    case PQ_BOOL:
        return parse_bool(s, &b) == 0;
    default:
        return 1;
    }
}

static int fill_column(pq_column *c, const csv_grid *g, size_t k, size_t nrows)
{
    size_t w = pq_width(c->type);
    c->valid = bs__malloc(nrows ? nrows : 1);
    if (!c->valid)
        return BLOBSTORE_ENOMEM;
    bs_buf bytes = {0};
    if (w ? !(c->values = bs__calloc(nrows ? nrows : 1, w))
          : !(c->offsets = bs__calloc(nrows + 1, sizeof(uint64_t))))
        return BLOBSTORE_ENOMEM;
    for (size_t r = 0; r < nrows; r++) {
        const char *s = g->cells[(r + 1) * g->ncols + k];
        size_t n = g->lens[(r + 1) * g->ncols + k]; /* a string may hold NUL bytes */
        c->valid[r] = s != NULL;
        if (!w)
            c->offsets[r] = bytes.len;
        if (!s)
            continue;
        c->nullable |= 0;
        uint8_t *dst = w ? (uint8_t *)c->values + r * w : NULL;
        if (w && strlen(s) != n) { /* a NUL inside a number */
            bs__buf_free(&bytes);
            return bs__error(BLOBSTORE_EINVAL, "CSV: column \"%s\" row %zu holds a NUL byte",
                             c->name, r + 1);
        }
        int64_t i;
        double d;
        int bad = 0;
        switch (c->type) {
        case PQ_BOOL:
            bad = parse_bool(s, dst);
            break;
        case PQ_FLOAT:
        case PQ_DOUBLE:
            bad = parse_f64(s, &d);
            if (!bad && c->type == PQ_FLOAT) {
                float f = (float)d;
                memcpy(dst, &f, 4);
            } else if (!bad) {
                memcpy(dst, &d, 8);
            }
            break;
        case PQ_STRING:
            if (!bs__utf8_valid((const unsigned char *)s, n)) {
                bs__buf_free(&bytes);
                return bs__error(BLOBSTORE_EINVAL, "CSV: column \"%s\" row %zu is not UTF-8",
                                 c->name, r + 1);
            }
            bad = bs__buf_append(&bytes, s, n) ? -1 : 0;
            break;
        case PQ_BINARY:
            bad = bs__buf_append(&bytes, s, n) ? -1 : 0;
            break;
        case PQ_TIMESTAMP_MS:
        case PQ_TIMESTAMP_US:
        case PQ_TIMESTAMP_NS:
        case PQ_DATE:
            bad = parse_time(s, c->type, &i);
            if (!bad) {
                if (c->type == PQ_DATE) {
                    int32_t d32 = (int32_t)i;
                    memcpy(dst, &d32, 4);
                } else {
                    memcpy(dst, &i, 8);
                }
            }
            break;
        default: /* integers */
            bad = parse_int(s, c->type, &i);
            if (!bad)
                memcpy(dst, &i, w); /* the low bytes: i fits */
        }
        if (bad) {
            bs__buf_free(&bytes);
            return bs__error(BLOBSTORE_EINVAL, "CSV: \"%s\" in column \"%s\" is not a %s", s,
                             c->name, pq_type_name(c->type));
        }
    }
    if (!w) {
        c->offsets[nrows] = bytes.len;
        c->bytes = bytes.data ? bytes.data : bs__malloc(1);
    }
    int nulls = 0;
    for (size_t r = 0; r < nrows; r++)
        nulls |= !c->valid[r];
    c->nullable = nulls;
    if (!nulls) {
        free(c->valid);
        c->valid = NULL;
    }
    return 0;
}

BLOBSTORE_API int blobstore_table_from_csv(blobstore_table *out, const char *csv, size_t len,
                                           const char *schema)
{
    csv_grid g;
    memset(out, 0, sizeof(*out));
    int rc = csv_parse(&g, csv, len);
    if (rc) {
        grid_free(&g);
        return rc;
    }
    size_t nrows = g.nrows - 1;
    out->nrows = nrows;
    out->cols = bs__calloc(g.ncols, sizeof(pq_column));
    if (!out->cols) {
        grid_free(&g);
        return BLOBSTORE_ENOMEM;
    }
    for (size_t k = 0; k < g.ncols && !rc; k++) {
        pq_column *c = &out->cols[out->ncols++];
        const char *h = g.cells[k];
        c->name = bs__strdup(h ? h : "");
        if (!c->name || !*c->name) {
            rc = c->name ? bs__error(BLOBSTORE_EINVAL, "CSV: column %zu has no name", k + 1)
                         : BLOBSTORE_ENOMEM;
            break;
        }
        /* An explicit type from the schema, else the narrowest that fits. */
        int given = 0;
        if (schema) {
            size_t nl = strlen(c->name);
            for (const char *p = schema; *p;) {
                const char *end = strchr(p, ',');
                size_t n = end ? (size_t)(end - p) : strlen(p);
                if (n > nl && strncmp(p, c->name, nl) == 0 && p[nl] == ':') {
                    char type[32];
                    snprintf(type, sizeof(type), "%.*s", (int)(n - nl - 1), p + nl + 1);
                    if ((rc = pq_type_parse(type, &c->type)) != 0)
                        break;
                    given = 1;
                }
                p += n + (end ? 1 : 0);
            }
            if (rc)
                break;
        }
        if (!given) {
            static const pq_type order[] = {PQ_INT64, PQ_DOUBLE, PQ_BOOL};
            c->type = PQ_STRING;
            for (size_t o = 0; o < 3; o++) {
                int all = 1, any = 0;
                for (size_t r = 0; r < nrows && all; r++) {
                    const char *s = g.cells[(r + 1) * g.ncols + k];
                    if (s) {
                        any = 1;
                        all = fits(order[o], s);
                    }
                }
                if (all && any) {
                    c->type = order[o];
                    break;
                }
            }
        }
        rc = fill_column(c, &g, k, nrows);
    }
    if (!rc && schema) { /* every name in the schema must be a column */
        for (const char *p = schema; *p && !rc;) {
            const char *colon = strchr(p, ':'), *end = strchr(p, ',');
            size_t n = colon ? (size_t)(colon - p) : 0;
            int found = 0;
            for (size_t k = 0; k < out->ncols; k++)
                found |= strlen(out->cols[k].name) == n && !strncmp(out->cols[k].name, p, n);
            if (!colon || !found)
                rc = bs__error(BLOBSTORE_EINVAL, "schema: \"%.*s\" is not NAME:TYPE of a column",
                               (int)(end ? (size_t)(end - p) : strlen(p)), p);
            p = end ? end + 1 : p + strlen(p);
        }
    }
    grid_free(&g);
    if (rc)
        pq_table_free(out);
    return rc;
}

/* A cell, quoted when it holds a separator or a quote, or is empty (an
 * empty unquoted cell is a null). */
static int put_csv_cell(bs_buf *b, const char *s, size_t n)
{
    int needs = n == 0;
    for (size_t i = 0; i < n && !needs; i++)
        needs = s[i] == ',' || s[i] == '"' || s[i] == '\n' || s[i] == '\r';
    if (!needs)
        return bs__buf_append(b, s, n);
    int rc = bs__buf_append(b, "\"", 1);
    for (size_t i = 0; i < n && !rc; i++)
        rc = s[i] == '"' ? bs__buf_append(b, "\"\"", 2) : bs__buf_append(b, s + i, 1);
    return rc ? rc : bs__buf_append(b, "\"", 1);
}

static void civil(int64_t days, int *y, unsigned *m, unsigned *d)
{
    days += 719468;
    int64_t era = (days >= 0 ? days : days - 146096) / 146097;
    unsigned doe = (unsigned)(days - era * 146097);
    unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    unsigned mp = (5 * doy + 2) / 153;
    *d = doy - (153 * mp + 2) / 5 + 1;
    *m = mp < 10 ? mp + 3 : mp - 9;
    *y = (int)(yoe + era * 400 + (*m <= 2));
}

BLOBSTORE_API int blobstore_table_to_csv(char **out, size_t *out_len, const blobstore_table *t)
{
    bs_buf b = {0};
    int rc = 0;
    /* Decimals and times a caller built: only what their text can show. */
    for (size_t k = 0; k < t->ncols; k++) {
        const pq_column *c = &t->cols[k];
        if (c->type == PQ_DECIMAL &&
            (c->precision < 1 || c->precision > BLOBSTORE_DECIMAL_MAX_PRECISION || c->scale < 0 ||
             c->scale > c->precision))
            return bs__error(BLOBSTORE_EINVAL, "CSV: column \"%s\" is DECIMAL(%d,%d)", c->name,
                             c->precision, c->scale);
        if (c->type < PQ_TIME_MS || c->type > PQ_TIME_NS)
            continue;
        int64_t day = c->type == PQ_TIME_MS   ? 86400000LL
                      : c->type == PQ_TIME_US ? 86400000000LL
                                              : 86400000000000LL;
        for (size_t r = 0; r < t->nrows; r++) {
            int64_t v;
            memcpy(&v, (const uint8_t *)c->values + 8 * r, 8);
            if ((!c->valid || c->valid[r]) && (v < 0 || v > day))
                return bs__error(BLOBSTORE_EINVAL,
                                 "CSV: column \"%s\" row %zu: %lld is not a time of day", c->name,
                                 r, (long long)v);
        }
    }
    for (size_t k = 0; k < t->ncols && !rc; k++) {
        if (k)
            rc = bs__buf_append(&b, ",", 1);
        if (!rc)
            rc = put_csv_cell(&b, t->cols[k].name, strlen(t->cols[k].name));
    }
    if (!rc)
        rc = bs__buf_append(&b, "\n", 1);
    for (size_t r = 0; r < t->nrows && !rc; r++) {
        for (size_t k = 0; k < t->ncols && !rc; k++) {
            const pq_column *c = &t->cols[k];
            if (k)
                rc = bs__buf_append(&b, ",", 1);
            if (rc || (c->valid && !c->valid[r]))
                continue;
            char s[64];
            size_t w = pq_width(c->type);
            const uint8_t *p = (const uint8_t *)c->values + r * w;
            int64_t v = 0;
            if (w && w <= 8 && c->type != PQ_FLOAT && c->type != PQ_DOUBLE) {
                memcpy(&v, p, w);
                if (w < 8 && c->type != PQ_UINT8 && c->type != PQ_UINT16 && c->type != PQ_UINT32 &&
                    c->type != PQ_BOOL && (p[w - 1] & 0x80))
                    v |= (int64_t)(~(uint64_t)0 << (8 * w));
            }
            switch (c->type) {
            case PQ_BOOL:
                snprintf(s, sizeof(s), "%s", v ? "true" : "false");
                break;
            case PQ_FLOAT: {
                float f;
                memcpy(&f, p, 4);
                snprintf(s, sizeof(s), "%.9g", (double)f);
                break;
            }
            case PQ_DOUBLE: {
                double d;
                memcpy(&d, p, 8);
                snprintf(s, sizeof(s), "%.17g", d);
                break;
            }
            case PQ_UINT64:
                snprintf(s, sizeof(s), "%llu", (unsigned long long)v);
                break;
            case PQ_DATE:
            case PQ_TIMESTAMP_MS:
            case PQ_TIMESTAMP_US:
            case PQ_TIMESTAMP_NS: {
                int64_t per = c->type == PQ_DATE           ? 0
                              : c->type == PQ_TIMESTAMP_MS ? 1000
                              : c->type == PQ_TIMESTAMP_US ? 1000000
                                                           : 1000000000;
                /* Floor division (no negation: INT64_MIN is a timestamp). */
                int64_t secs = per ? v / per - (v % per < 0) : v * 86400;
                int64_t frac = per ? (v % per + per) % per : 0;
                int64_t days = secs / 86400 - (secs % 86400 < 0);
                int64_t sod = secs - days * 86400;
                int y;
                unsigned m, d;
                civil(days, &y, &m, &d);
                if (!per)
                    snprintf(s, sizeof(s), "%04d-%02u-%02u", y, m, d);
                else
                    snprintf(s, sizeof(s), "%04d-%02u-%02u %02d:%02d:%02d.%0*lld%s", y, m, d,
                             (int)(sod / 3600), (int)(sod / 60 % 60), (int)(sod % 60),
                             per == 1000      ? 3
                             : per == 1000000 ? 6
                                              : 9,
                             (long long)frac, c->utc ? "Z" : "");
                break;
            }
            case PQ_TIME_MS:
            case PQ_TIME_US:
            case PQ_TIME_NS: {
                int64_t per = c->type == PQ_TIME_MS   ? 1000
                              : c->type == PQ_TIME_US ? 1000000
                                                      : 1000000000;
                size_t tl = bs__pq_time_text(s, v, per);
                if (c->utc)
                    snprintf(s + tl, sizeof(s) - tl, "Z");
                break;
            }
            case PQ_DECIMAL:
                bs__pq_decimal_text(s, p, c->scale);
                break;
            case PQ_STRING:
            case PQ_BINARY:
                rc = put_csv_cell(&b, (const char *)c->bytes + c->offsets[r],
                                  (size_t)(c->offsets[r + 1] - c->offsets[r]));
                continue;
            default:
                snprintf(s, sizeof(s), "%lld", (long long)v);
            }
            rc = bs__buf_append(&b, s, strlen(s));
        }
        if (!rc)
            rc = bs__buf_append(&b, "\n", 1);
    }
    if (!rc)
        rc = bs__buf_append(&b, "", 1);
    if (rc) {
        bs__buf_free(&b);
        return rc;
    }
    *out = (char *)b.data;
    *out_len = b.len - 1;
    return 0;
}
