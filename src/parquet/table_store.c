/*
 * table_store.c - tables in the store (the blob file is the .parquet file
 * itself), the pandas metadata, and CSV in and out.
 */
#include "parquet.h"
#include "registry.h"

#include <ctype.h>
#include <errno.h>
#include <jansson.h>
#include <strings.h>
#include <math.h>
#include <pthread.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

BLOBSTORE_API void blobstore_table_clear(blobstore_table *t)
{
    bs__pq_table_free(t);
}

int bs__pq_type_parse(const char *name, pq_type *out)
{
    for (int t = PQ_BOOL; t <= PQ_DATE; t++)
        if (strcmp(name, bs__pq_type_name((pq_type)t)) == 0) {
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
    case PQ_LIST:
    case PQ_STRUCT:
    case PQ_MAP:
        *pandas = *numpy = "object";
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

/* pyarrow's pandas_type of a column (pandas_compat.get_logical_type): a
 * LIST is "list[<its element's>]" ("list[list[int64]]"), a STRUCT or a MAP
 * "object", a flat column as pandas_types names it. */
static void pandas_type_text(const pq_column *c, char *buf, size_t size)
{
    const char *pt, *nt;
    if (c->type == PQ_LIST && c->nchildren == 1) {
        size_t k = (size_t)snprintf(buf, size, "list[");
        if (k < size)
            pandas_type_text(&c->children[0], buf + k, size - k);
        k = strlen(buf);
        snprintf(buf + k, size - k, "]");
        return;
    }
    pandas_types(c, &pt, &nt);
    snprintf(buf, size, "%s", pt);
}

char *bs__pq_pandas_metadata(const pq_table *t)
{
    json_t *cols = json_array();
    for (size_t i = 0; i < t->ncols; i++) {
        const char *pt, *nt;
        char ptext[256]; /* 32 levels of "list[]" and a leaf's name */
        pandas_types(&t->cols[i], &pt, &nt);
        pandas_type_text(&t->cols[i], ptext, sizeof(ptext));
        pt = ptext;
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
    char type[1024];
    for (size_t i = 0; i < t->ncols; i++)
        json_array_append_new(cols,
                              json_pack("{s:s, s:s, s:b}", "name", t->cols[i].name, "type",
                                        bs__pq_column_type_text(&t->cols[i], type, sizeof(type)),
                                        "nullable", t->cols[i].nullable));
    return json_pack("{s:o, s:I}", "columns", cols, "num_rows", (json_int_t)t->nrows);
}

/* t as a Parquet file in memory with codec (a name pq_writer knows) at
 * level (0: the codec's default); *written: the codec's Parquet name. */
static int table_file(bs_buf *file, const blobstore_table *t, const blobstore_table_options *o,
                      const char *codec, int level, const char **written)
{
    char *pandas = o->pandas_metadata ? bs__strdup(o->pandas_metadata) : bs__pq_pandas_metadata(t);
    if (!pandas)
        return bs__error(BLOBSTORE_EINVAL, "a column has no name");
    pq_write_options wo = {.codec = codec, .row_group_rows = o->row_group_rows};
    pq_writer *w;
    int rc = bs__pq_writer_new(&w, t, &wo, bs__sink_buf, file);
    if (!rc) {
        bs__pq_writer_set_level(w, level);
        *written = bs__pq_writer_codec(w);
        rc = bs__pq_writer_write(w, t, 0, t->nrows);
    }
    if (!rc)
        rc = bs__pq_writer_finish(w, pandas);
    bs__pq_writer_free(w);
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

BLOBSTORE_API int blobstore_table_put_parquet(char **out_key, blobstore *bs, const char *key,
                                              const void *file, size_t len, const char *metadata)
{
    pq_table t;
    if (!bs || (!file && len))
        return bs__error(BLOBSTORE_EINVAL, "NULL argument");
    /* Every page is decoded, a row group at a time. */
    int rc = bs__pq_check_ranged(&t, file, len, NULL, NULL, NULL);
    if (rc)
        return bs__error_wrap(rc, rc == BLOBSTORE_EUNSUPPORTED
                                      ? "a Parquet file blobstore cannot read"
                                      : "not a valid Parquet file");
    rc = bs__put_file(out_key, bs, key, file, len, "parquet", NULL, metadata, format_info(&t), NULL,
                      0);
    bs__pq_table_free(&t);
    return rc;
}

/* A .parquet file put from a descriptor: checked a row group at a time
 * through a sparse anonymous mapping of its size (each group's pages are
 * dropped once checked), then its bytes streamed into the store. */
typedef struct {
    int fd;
    uint8_t *map;
    uint64_t len, pos;
    pq_table schema;
    int rc;
    char msg[256];
} pq_fd_src;

static int fd_fetch(void *ctx, uint64_t off, uint64_t len)
{
    pq_fd_src *s = ctx;
    while (len > 0) {
        ssize_t k =
            pread(s->fd, s->map + off, len > (1u << 30) ? (1u << 30) : (size_t)len, (off_t)off);
        if (k < 0 && errno == EINTR)
            continue;
        if (k < 0)
            return bs__error_errno(errno, "parquet: cannot read the file");
        if (k == 0)
            return bs__error(BLOBSTORE_EIO, "parquet: the file got shorter while being read");
        off += (uint64_t)k;
        len -= (uint64_t)k;
    }
    return 0;
}

static void fd_release(void *ctx, uint64_t off, uint64_t len)
{
    pq_fd_src *s = ctx;
    uint64_t page = (uint64_t)sysconf(_SC_PAGESIZE);
    uint64_t lo = (off + page - 1) / page * page;
    uint64_t hi = off + len < s->len ? off + len : s->len;
    hi = hi / page * page;
    if (lo < hi) /* the whole pages inside: back to zero pages, out of RSS */
        madvise(s->map + lo, (size_t)(hi - lo), MADV_DONTNEED);
}

static int fd_read(void *ctx, void *buf, size_t cap, size_t *n)
{
    pq_fd_src *s = ctx;
    size_t want = s->len - s->pos < cap ? (size_t)(s->len - s->pos) : cap;
    ssize_t k;
    do
        k = want ? pread(s->fd, buf, want, (off_t)s->pos) : 0;
    while (k < 0 && errno == EINTR);
    if (k < 0 || (want && k == 0)) {
        s->rc = k < 0 ? bs__error_errno(errno, "parquet: cannot read the file")
                      : bs__error(BLOBSTORE_EIO, "parquet: the file got shorter while being put");
        snprintf(s->msg, sizeof(s->msg), "%s", blobstore_errmsg());
        return -1;
    }
    s->pos += (uint64_t)k;
    *n = (size_t)k;
    return 0;
}

static int fd_finish(void *ctx, json_t **info, char **codec)
{
    pq_fd_src *s = ctx;
    struct stat st;
    *info = NULL;
    *codec = NULL;
    /* The bytes stored are the bytes checked only if the file kept its size
     * (a file rewritten in place between the passes is not detected). */
    if (fstat(s->fd, &st) != 0 || (uint64_t)st.st_size != s->len || s->pos != s->len)
        return bs__error(BLOBSTORE_EIO, "parquet: the file changed while being put");
    *info = format_info(&s->schema);
    return *info ? 0 : BLOBSTORE_ENOMEM;
}

static int put_parquet_fd(char **out_key, blobstore *bs, const char *key, int fd,
                          const char *metadata, unsigned flags)
{
    if (!bs || fd < 0)
        return bs__error(BLOBSTORE_EINVAL, "NULL argument or bad file descriptor");
    struct stat st;
    if (fstat(fd, &st) != 0)
        return bs__error_errno(errno, "parquet: cannot stat the file");
    if (!S_ISREG(st.st_mode))
        return bs__error(BLOBSTORE_EINVAL, "parquet: the input must be a regular file");
    pq_fd_src s;
    memset(&s, 0, sizeof(s));
    s.fd = fd;
    s.len = (uint64_t)st.st_size;
    if (s.len != (size_t)s.len)
        return bs__error(BLOBSTORE_EUNSUPPORTED, "parquet: the file is too large");
    /* Pass 1: the footer, then every row group, checked. */
    uint8_t tiny[16]; /* a file too small to be valid: no mapping */
    int rc = 0;
    if (s.len < sizeof(tiny)) {
        s.map = tiny;
    } else {
        s.map = mmap(NULL, (size_t)s.len, PROT_READ | PROT_WRITE,
                     MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
        if (s.map == MAP_FAILED) {
            s.map = NULL;
            rc =
                bs__error_errno(errno, "parquet: cannot map %llu bytes", (unsigned long long)s.len);
        }
    }
    if (!rc && s.len < sizeof(tiny))
        rc = fd_fetch(&s, 0, s.len);
    if (!rc) {
        rc = bs__pq_check_ranged(&s.schema, s.map, (size_t)s.len, fd_fetch, fd_release, &s);
        if (rc)
            bs__error_wrap(rc, rc == BLOBSTORE_EUNSUPPORTED ? "a Parquet file blobstore cannot read"
                                                            : "not a valid Parquet file");
    }
    if (s.map && s.map != tiny)
        munmap(s.map, (size_t)s.len);
    s.map = NULL;
    /* Pass 2: its bytes into the store, as they are. */
    if (!rc) {
        bs_file_hooks hooks = {fd_finish, &s};
        rc = bs__put_file_stream(out_key, bs, key, fd_read, &s, "parquet", metadata, &hooks, flags);
        if (rc == BLOBSTORE_ECALLBACK && s.rc)
            rc = bs__error(s.rc, "%s", s.msg);
    }
    bs__pq_table_free(&s.schema);
    return rc;
}

BLOBSTORE_API int blobstore_table_put_parquet_fd(char **out_key, blobstore *bs, const char *key,
                                                 int fd, const char *metadata)
{
    return put_parquet_fd(out_key, bs, key, fd, metadata, 0);
}

/* ---- the format row's entry points (registry.c) ---- */

/* "PAR1" at both ends. */
int bs__parquet_detect(const unsigned char *head, size_t hn, const unsigned char *tail, size_t tn,
                       uint64_t size)
{
    return size >= 12 && hn >= 4 && tn >= 4 && !memcmp(head, "PAR1", 4) &&
           !memcmp(tail + tn - 4, "PAR1", 4);
}

/* A regular file is streamed (memory stays about one row group); a pipe is
 * read whole first. Either way every page is checked before it is stored. */
int bs__parquet_put_fd(char **out_key, blobstore *bs, const char *key, int fd, const char *name,
                       const blobstore_put_options *po)
{
    (void)name;
    struct stat st;
    if (fstat(fd, &st) == 0 && S_ISREG(st.st_mode))
        return put_parquet_fd(out_key, bs, key, fd, po->metadata, po->flags);
    int rc = bs__refuse_existing(bs, key, po);
    bs_buf b;
    if (!rc && (rc = bs__read_fd_all(fd, &b)) == 0) {
        rc = blobstore_table_put_parquet(out_key, bs, key, b.data, b.len, po->metadata);
        bs__buf_free(&b);
    }
    return rc;
}

static int fetch_cb(void *ctx, uint64_t off, uint64_t len)
{
    return bs__ranged_fetch(ctx, off, len);
}

static void release_cb(void *ctx, uint64_t off, uint64_t len)
{
    bs__ranged_release(ctx, off, len);
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
        rc = bs__pq_read_ranged(out, file, len, names, n, fetch_cb, r);
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
    char **cells; /* row-major, NUL-terminated, into text; NULL for empty */
    size_t *lens;
    size_t nrows, ncols, cap;
    char *text; /* the CSV, its cells decoded in place */
    size_t text_cap;
    int nul; /* the CSV has a NUL byte (a cell may hold one) */
} csv_grid;

static void grid_free(csv_grid *g)
{
    free(g->cells);
    free(g->lens);
    free(g->text);
    memset(g, 0, sizeof(*g));
}

/* RFC 4180: commas, quotes doubled inside quoted fields, CRLF or LF. The
 * grid takes s (malloc'd, len + 1 bytes): each cell is decoded in place (its
 * text never longer than its source) and ended by a NUL written over the
 * separator after it, so no cell is allocated. */
static int csv_parse(csv_grid *g, size_t len, size_t hint)
{
    static const unsigned char stop[256] = {[','] = 1, ['\n'] = 1, ['\r'] = 1};
    char *s = g->text;
    g->nrows = g->ncols = 0;
    g->nul = len && memchr(s, 0, len) != NULL;
    s[len] = '\n';       /* a sentinel for the scan of unquoted cells (text has len + 1 bytes) */
    if (hint > g->cap) { /* cells expected: one allocation instead of doublings */
        free(g->cells);
        free(g->lens);
        g->cap = 0;
        g->cells = bs__malloc(hint * sizeof(char *));
        g->lens = g->cells ? bs__malloc(hint * sizeof(size_t)) : NULL;
        if (!g->lens)
            return BLOBSTORE_ENOMEM;
        g->cap = hint;
    }
    size_t pos = 0, col = 0, row = 0;
    int rc = 0;
    while (pos < len || col > 0) {
        int quoted = pos < len && s[pos] == '"', empty = 1;
        char *cell = s + pos;
        size_t cell_len = 0, nul_at;
        if (quoted) {
            pos++;
            empty = 0;
            for (;;) {
                if (pos >= len) {
                    rc =
                        bs__error(BLOBSTORE_EINVAL, "CSV: unterminated quote on line %zu", row + 1);
                    break;
                }
                const char *q = memchr(s + pos, '"', len - pos);
                size_t run = q ? (size_t)(q - (s + pos)) : len - pos;
                memmove(cell + cell_len, s + pos, run);
                cell_len += run;
                pos += run;
                if (pos >= len)
                    continue; /* unterminated */
                if (pos + 1 < len && s[pos + 1] == '"') {
                    cell[cell_len++] = '"';
                    pos += 2;
                    continue;
                }
                pos++;
                break;
            }
            nul_at = (size_t)(cell - s) + cell_len; /* before pos: read already */
        } else {
            size_t start = pos;
            while (!stop[(unsigned char)s[pos]])
                pos++;
            empty = pos == start;
            cell_len = pos - start;
            nul_at = pos; /* the separator, read below before it is overwritten */
        }
        if (rc)
            break;
        int end_row = pos >= len || s[pos] == '\n' || s[pos] == '\r';
        if (pos < len && s[pos] == '\r')
            pos++;
        if (pos < len && (s[pos] == '\n' || s[pos] == ','))
            pos++;
        s[nul_at] = 0;
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
            g->cells = c;
            g->lens = l;
            g->cap = cap;
        }
        g->cells[idx] = empty ? NULL : cell;
        g->lens[idx] = cell_len;
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
    g->nrows = row;
    s[len] = 0;
    if (!rc && row == 0)
        rc = bs__error(BLOBSTORE_EINVAL, "CSV: no header row");
    return rc;
}

/* csv_parse of a copy of s into a new grid. */
static int csv_parse_copy(csv_grid *g, const char *s, size_t len)
{
    memset(g, 0, sizeof(*g));
    if (!(g->text = bs__malloc(len + 1)))
        return BLOBSTORE_ENOMEM;
    g->text_cap = len + 1;
    memcpy(g->text, s, len);
    return csv_parse(g, len, 0);
}

static int parse_i64(const char *s, int64_t *out)
{
    return bs__pq_parse_i64(s, out);
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
    return bs__pq_parse_f64(s, out);
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

/* "YYYY-MM-DD[ T]HH:MM:SS[.frac][Z]" or an integer in the unit; -1 for a
 * text that is neither, or an instant the unit's 64 bits (a date's 32) do
 * not hold (never a wrapped one: 9999-01-01 in nanoseconds is refused). */
static int parse_time(const char *s, pq_type t, int64_t *out)
{
    int64_t v;
    if (parse_i64(s, &v) == 0) {
        if (t == PQ_DATE && (v < INT32_MIN || v > INT32_MAX))
            return -1;
        *out = v;
        return 0;
    }
    int y, mo, d, h = 0, mi = 0, sec = 0, n = 0;
    if (sscanf(s, "%d-%d-%d%n", &y, &mo, &d, &n) != 3 || mo < 1 || mo > 12 || d < 1 || d > 31)
        return -1;
    int64_t days = days_from_civil(y, (unsigned)mo, (unsigned)d);
    if (t == PQ_DATE) {
        if (s[n] || days < INT32_MIN || days > INT32_MAX)
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
    int64_t per = t == PQ_TIMESTAMP_MS ? 1000 : t == PQ_TIMESTAMP_US ? 1000000 : 1000000000;
    int64_t secs, whole, frac = frac_ns / (1000000000 / per);
    if (__builtin_mul_overflow(days, (int64_t)86400, &secs) ||
        __builtin_add_overflow(secs, (int64_t)h * 3600 + (int64_t)mi * 60 + sec, &secs))
        return -1;
    if (secs < 0) { /* (secs + 1) * per first: the earliest instants still fit */
        secs++;
        frac -= per;
    }
    if (__builtin_mul_overflow(secs, per, &whole) || __builtin_add_overflow(whole, frac, out))
        return -1;
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
    size_t w = bs__pq_width(c->type);
    c->valid = bs__malloc(nrows ? nrows : 1);
    if (!c->valid)
        return BLOBSTORE_ENOMEM;
    bs_buf bytes = {0};
    if (w ? !(c->values = bs__calloc(nrows ? nrows : 1, w))
          : !(c->offsets = bs__calloc(nrows + 1, sizeof(uint64_t))))
        return BLOBSTORE_ENOMEM;
    if (!w) { /* the strings' bytes in one allocation */
        size_t total = 0;
        for (size_t r = 0; r < nrows; r++)
            total += g->lens[(r + 1) * g->ncols + k];
        if (bs__buf_reserve(&bytes, total + 1))
            return BLOBSTORE_ENOMEM;
    }
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
        if (w && g->nul && strlen(s) != n) { /* a NUL inside a number */
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
                             c->name, bs__pq_type_name(c->type));
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

/* out's columns named by g's header row, typed by schema where it names
 * them (given[k] = 1); no rows. */
static int csv_columns(pq_table *out, const csv_grid *g, const char *schema, uint8_t *given)
{
    memset(out, 0, sizeof(*out));
    out->cols = bs__calloc(g->ncols ? g->ncols : 1, sizeof(pq_column));
    if (!out->cols)
        return BLOBSTORE_ENOMEM;
    int rc = 0;
    for (size_t k = 0; k < g->ncols && !rc; k++) {
        pq_column *c = &out->cols[out->ncols++];
        const char *h = g->cells[k];
        c->name = bs__strdup(h ? h : "");
        c->type = PQ_STRING;
        given[k] = 0;
        if (!c->name || !*c->name) {
            rc = c->name ? bs__error(BLOBSTORE_EINVAL, "CSV: column %zu has no name", k + 1)
                         : BLOBSTORE_ENOMEM;
            break;
        }
        size_t nl = strlen(c->name);
        for (const char *p = schema; p && *p && !rc;) {
            const char *end = strchr(p, ',');
            size_t n = end ? (size_t)(end - p) : strlen(p);
            if (n > nl && strncmp(p, c->name, nl) == 0 && p[nl] == ':') {
                char type[32];
                snprintf(type, sizeof(type), "%.*s", (int)(n - nl - 1), p + nl + 1);
                rc = bs__pq_type_parse(type, &c->type);
                given[k] = 1;
            }
            p += n + (end ? 1 : 0);
        }
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
    return rc;
}

/* What the data cells of column k fit, accumulated in *fit (start at 7):
 * bit 0 all int64, 1 all float64, 2 all bool, 3 one non-empty, 4 one empty. */
enum { FIT_INT = 1, FIT_DOUBLE = 2, FIT_BOOL = 4, FIT_ANY = 8, FIT_NULL = 16 };
static void csv_scan(const csv_grid *g, size_t k, uint8_t *fit)
{
    for (size_t r = 1; r < g->nrows; r++) {
        const char *s = g->cells[r * g->ncols + k];
        if (!s) {
            *fit |= FIT_NULL;
            continue;
        }
        *fit |= FIT_ANY;
        if ((*fit & FIT_INT) && fits(PQ_INT64, s)) {
            *fit &= (uint8_t)~FIT_BOOL; /* an int64's text is a float64's too, not a bool's */
            continue;
        }
        *fit &= (uint8_t)~FIT_INT;
        if ((*fit & FIT_DOUBLE) && !fits(PQ_DOUBLE, s))
            *fit &= (uint8_t)~FIT_DOUBLE;
        if ((*fit & FIT_BOOL) && !fits(PQ_BOOL, s))
            *fit &= (uint8_t)~FIT_BOOL;
    }
}

/* The narrowest type that fits: int64, float64, bool, else string. */
static pq_type csv_pick(uint8_t fit)
{
    if (!(fit & FIT_ANY))
        return PQ_STRING;
    return fit & FIT_INT      ? PQ_INT64
           : fit & FIT_DOUBLE ? PQ_DOUBLE
           : fit & FIT_BOOL   ? PQ_BOOL
                              : PQ_STRING;
}

BLOBSTORE_API int blobstore_table_from_csv(blobstore_table *out, const char *csv, size_t len,
                                           const char *schema)
{
    csv_grid g;
    memset(out, 0, sizeof(*out));
    int rc = csv_parse_copy(&g, csv, len);
    uint8_t *given = rc ? NULL : bs__calloc(g.ncols ? g.ncols : 1, 1);
    if (!rc && !given)
        rc = BLOBSTORE_ENOMEM;
    if (!rc)
        rc = csv_columns(out, &g, schema, given);
    out->nrows = rc ? 0 : g.nrows - 1;
    for (size_t k = 0; k < out->ncols && !rc; k++) {
        pq_column *c = &out->cols[k];
        if (!given[k]) { /* the narrowest type that fits */
            uint8_t fit = FIT_INT | FIT_DOUBLE | FIT_BOOL;
            csv_scan(&g, k, &fit);
            c->type = csv_pick(fit);
        }
        rc = fill_column(c, &g, k, out->nrows);
    }
    free(given);
    grid_free(&g);
    if (rc)
        bs__pq_table_free(out);
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

/* Trailing zeros of a fraction of seconds dropped (and the point when
 * nothing is left), as DuckDB writes times inside nested values. */
static void trim_fraction(char *s)
{
    char *dot = strrchr(s, '.');
    if (!dot || strchr(dot, ' '))
        return;
    size_t n = strlen(dot);
    while (n > 1 && dot[n - 1] == '0')
        dot[--n] = 0;
    if (n == 1)
        *dot = 0;
}

/* The text of item r of a flat, fixed-width column c into s (80 bytes):
 * as a CSV cell, or (nested) as DuckDB writes a value inside a list,
 * struct or map (floats in their shortest form, fractions of seconds
 * without trailing zeros, UTC as +00). */
static void scalar_text(char *s, const pq_column *c, size_t r, int nested)
{
    const size_t size = 80;
    size_t w = bs__pq_width(c->type);
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
        snprintf(s, size, "%s", v ? "true" : "false");
        break;
    case PQ_FLOAT: {
        float f;
        memcpy(&f, p, 4);
        bs__pq_shortest_text(s, (double)f, 1);
        break;
    }
    case PQ_DOUBLE: {
        double d;
        memcpy(&d, p, 8);
        bs__pq_shortest_text(s, d, 0);
        break;
    }
    case PQ_UINT64:
        bs__pq_u64_text(s, (uint64_t)v);
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
        /* A year before 1 BC (year 0) as ISO 8601 writes it: its sign, then
         * four digits at least ("-0237-04-19"; Julian day 0 is -4713-11-24). */
        const char *sign = y < 0 ? "-" : "";
        y = y < 0 ? -y : y;
        if (!per) {
            snprintf(s, size, "%s%04d-%02u-%02u", sign, y, m, d);
            break;
        }
        snprintf(s, size, "%s%04d-%02u-%02u %02d:%02d:%02d.%0*lld", sign, y, m, d,
                 (int)(sod / 3600), (int)(sod / 60 % 60), (int)(sod % 60),
                 per == 1000      ? 3
                 : per == 1000000 ? 6
                                  : 9,
                 (long long)frac);
        if (nested)
            trim_fraction(s);
        if (c->utc)
            strcat(s, nested ? "+00" : "Z");
        break;
    }
    case PQ_TIME_MS:
    case PQ_TIME_US:
    case PQ_TIME_NS: {
        int64_t per = c->type == PQ_TIME_MS ? 1000 : c->type == PQ_TIME_US ? 1000000 : 1000000000;
        bs__pq_time_text(s, v, per);
        if (nested)
            trim_fraction(s);
        if (c->utc)
            strcat(s, nested ? "+00" : "Z");
        break;
    }
    case PQ_DECIMAL:
        bs__pq_decimal_text(s, p, c->scale);
        break;
    default:
        bs__pq_i64_text(s, v);
    }
}

/* A scalar's text inside a nested value, quoted (' and \ escaped with a
 * backslash) when DuckDB quotes it: empty, a space first or last, "null",
 * or one of "'(),:=[]{} in it. always: struct keys. */
static int nested_scalar(bs_buf *b, const char *s, size_t n, int always)
{
    int q = always || n == 0 || isspace((unsigned char)s[0]) ||
            (n >= 2 && isspace((unsigned char)s[n - 1])) ||
            (n == 4 && strncasecmp(s, "null", 4) == 0);
    for (size_t i = 0; i < n && !q; i++)
        q = strchr("\"'(),:=[]{}", s[i]) != NULL && s[i];
    if (!q)
        return bs__buf_append(b, s, n);
    int rc = bs__buf_append(b, "'", 1);
    for (size_t i = 0; i < n && !rc; i++)
        rc = (s[i] == '\'' || s[i] == '\\' ? bs__buf_append(b, "\\", 1) : 0) ||
             bs__buf_append(b, s + i, 1);
    return rc ? rc : bs__buf_append(b, "'", 1);
}

/* Item i of column c as DuckDB's CSV export writes a nested value: lists
 * [1, 2, NULL], structs {'a': 1, 'b': x}, maps {k=v}; blobs as \xHH. */
static int nested_text(bs_buf *b, const pq_column *c, size_t i)
{
    if (c->valid && !c->valid[i])
        return bs__buf_append(b, "NULL", 4);
    int rc = 0;
    if (c->type == PQ_LIST || c->type == PQ_MAP) {
        const pq_column *e = &c->children[0];
        int map = c->type == PQ_MAP && e->nchildren == 2;
        rc = bs__buf_append(b, map ? "{" : "[", 1);
        for (uint64_t k = c->offsets[i]; k < c->offsets[i + 1] && !rc; k++) {
            if (k > c->offsets[i])
                rc = bs__buf_append(b, ", ", 2);
            if (!rc && map) {
                rc = nested_text(b, &e->children[0], (size_t)k);
                if (!rc)
                    rc = bs__buf_append(b, "=", 1);
                if (!rc)
                    rc = nested_text(b, &e->children[1], (size_t)k);
            } else if (!rc) {
                rc = nested_text(b, e, (size_t)k);
            }
        }
        return rc ? rc : bs__buf_append(b, map ? "}" : "]", 1);
    }
    if (c->type == PQ_STRUCT) {
        rc = bs__buf_append(b, "{", 1);
        for (size_t k = 0; k < c->nchildren && !rc; k++) {
            if (k)
                rc = bs__buf_append(b, ", ", 2);
            if (!rc)
                rc = nested_scalar(b, c->children[k].name, strlen(c->children[k].name), 1);
            if (!rc)
                rc = bs__buf_append(b, ": ", 2);
            if (!rc)
                rc = nested_text(b, &c->children[k], i);
        }
        return rc ? rc : bs__buf_append(b, "}", 1);
    }
    if (c->type == PQ_STRING)
        return nested_scalar(b, (const char *)c->bytes + c->offsets[i],
                             (size_t)(c->offsets[i + 1] - c->offsets[i]), 0);
    if (c->type == PQ_BINARY) {
        bs_buf t = {0};
        for (uint64_t k = c->offsets[i]; k < c->offsets[i + 1] && !rc; k++) {
            uint8_t ch = c->bytes[k];
            char hx[8];
            if (ch >= 32 && ch <= 126 && ch != '\\')
                rc = bs__buf_append(&t, &ch, 1);
            else {
                snprintf(hx, sizeof(hx), "\\x%02X", ch);
                rc = bs__buf_append(&t, hx, 4);
            }
        }
        if (!rc)
            rc = nested_scalar(b, t.data ? (const char *)t.data : "", t.len, 0);
        bs__buf_free(&t);
        return rc;
    }
    char s[80];
    scalar_text(s, c, i, 1);
    return nested_scalar(b, s, strlen(s), 0);
}

/* Decimals and times a caller built: only what their text can show. */
static int csv_check(const blobstore_table *t)
{
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
    return 0;
}

/* The header line of t's CSV into b. */
static int csv_head_line(bs_buf *b, const blobstore_table *t)
{
    int rc = 0;
    for (size_t k = 0; k < t->ncols && !rc; k++) {
        if (k)
            rc = bs__buf_append(b, ",", 1);
        if (!rc)
            rc = put_csv_cell(b, t->cols[k].name, strlen(t->cols[k].name));
    }
    return rc ? rc : bs__buf_append(b, "\n", 1);
}

/* How csv_rows writes a flat column's cells: integers, booleans, floats
 * and strings straight into the buffer (the text scalar_text gives), the
 * other types through scalar_text. */
enum { CK_INT, CK_UINT, CK_U64, CK_BOOL, CK_F32, CK_F64, CK_BYTES, CK_NESTED, CK_OTHER };

static int csv_kind(pq_type t)
{
    switch (t) {
    case PQ_INT8:
    case PQ_INT16:
    case PQ_INT32:
    case PQ_INT64:
        return CK_INT;
    case PQ_UINT8:
    case PQ_UINT16:
    case PQ_UINT32:
        return CK_UINT;
    case PQ_UINT64:
        return CK_U64;
    case PQ_BOOL:
        return CK_BOOL;
    case PQ_FLOAT:
        return CK_F32;
    case PQ_DOUBLE:
        return CK_F64;
    case PQ_STRING:
    case PQ_BINARY:
        return CK_BYTES;
    default:
        return PQ_NESTED(t) ? CK_NESTED : CK_OTHER;
    }
}

/* The characters that make a CSV cell quoted (put_csv_cell). */
static const uint8_t csv_special[256] = {['\n'] = 1, ['\r'] = 1, ['"'] = 1, [','] = 1};

/* The rows of t as CSV lines into b; with write, b is handed to it and
 * emptied each time it holds CSV_FLUSH bytes, and at the end (b then
 * empty). */
#define CSV_FLUSH ((size_t)1 << 20)
#define CSV_ROOM  66 /* a separator and any number's text (64 bytes) */
static int csv_rows(bs_buf *b_, const blobstore_table *t, blobstore_write_fn write, void *ctx)
{
    bs_buf b = *b_;
    int rc = 0;
    uint8_t kinds[64], *kind = t->ncols <= 64 ? kinds : bs__malloc(t->ncols);
    uint8_t widths[64], *width = t->ncols <= 64 ? widths : bs__malloc(t->ncols);
    if (!kind || !width)
        rc = BLOBSTORE_ENOMEM;
    for (size_t k = 0; k < t->ncols && !rc; k++) {
        kind[k] = (uint8_t)csv_kind(t->cols[k].type);
        width[k] = (uint8_t)bs__pq_width(t->cols[k].type);
    }
    for (size_t r = 0; r < t->nrows && !rc; r++) {
        for (size_t k = 0; k < t->ncols && !rc; k++) {
            const pq_column *c = &t->cols[k];
            if (b.cap - b.len < CSV_ROOM && (rc = bs__buf_reserve(&b, CSV_ROOM)) != 0)
                break;
            if (k)
                b.data[b.len++] = ',';
            if (c->valid && !c->valid[r])
                continue;
            char *o = (char *)b.data + b.len;
            const uint8_t *p = width[k] ? (const uint8_t *)c->values + r * width[k] : NULL;
            switch (kind[k]) {
            case CK_INT: {
                int64_t v;
                if (width[k] == 8) {
                    memcpy(&v, p, 8);
                } else if (width[k] == 4) {
                    int32_t x;
                    memcpy(&x, p, 4);
                    v = x;
                } else if (width[k] == 2) {
                    int16_t x;
                    memcpy(&x, p, 2);
                    v = x;
                } else {
                    v = (int8_t)p[0];
                }
                b.len += bs__pq_i64_text(o, v);
                break;
            }
            case CK_UINT: {
                uint32_t v = 0;
                memcpy(&v, p, width[k]); /* little endian */
                b.len += bs__pq_u64_text(o, v);
                break;
            }
            case CK_U64: {
                uint64_t v;
                memcpy(&v, p, 8);
                b.len += bs__pq_u64_text(o, v);
                break;
            }
            case CK_BOOL:
                memcpy(o, p[0] ? "true" : "false", 5);
                b.len += p[0] ? 4 : 5;
                break;
            case CK_F32: {
                float f;
                memcpy(&f, p, 4);
                b.len += bs__pq_shortest_text(o, (double)f, 1);
                break;
            }
            case CK_F64: {
                double d;
                memcpy(&d, p, 8);
                b.len += bs__pq_shortest_text(o, d, 0);
                break;
            }
            case CK_BYTES: {
                const char *s = (const char *)c->bytes + c->offsets[r];
                size_t n = (size_t)(c->offsets[r + 1] - c->offsets[r]);
                uint8_t q = n == 0;
                for (size_t i = 0; i < n; i++)
                    q |= csv_special[(uint8_t)s[i]];
                if (!q && n <= b.cap - b.len) {
                    memcpy(o, s, n);
                    b.len += n;
                } else {
                    rc = put_csv_cell(&b, s, n);
                }
                break;
            }
            case CK_NESTED: {
                bs_buf cell = {0};
                rc = nested_text(&cell, c, r);
                if (!rc)
                    rc = put_csv_cell(&b, (const char *)cell.data, cell.len);
                bs__buf_free(&cell);
                break;
            }
            default: {
                char s[80];
                scalar_text(s, c, r, 0);
                rc = bs__buf_append(&b, s, strlen(s));
            }
            }
        }
        if (!rc && b.len == b.cap)
            rc = bs__buf_reserve(&b, 1);
        if (!rc)
            b.data[b.len++] = '\n';
        if (!rc && write && b.len >= CSV_FLUSH) {
            if (write(ctx, b.data, b.len))
                rc = bs__error(BLOBSTORE_ECALLBACK, "CSV: the writer failed");
            b.len = 0;
        }
    }
    if (!rc && write && b.len) {
        if (write(ctx, b.data, b.len))
            rc = bs__error(BLOBSTORE_ECALLBACK, "CSV: the writer failed");
        b.len = 0;
    }
    if (kind != kinds)
        free(kind);
    if (width != widths)
        free(width);
    *b_ = b;
    return rc;
}

/* The table's CSV into b, handed to write as csv_rows does. */
static int csv_write(bs_buf *b, const blobstore_table *t, blobstore_write_fn write, void *ctx)
{
    int rc = csv_check(t);
    if (!rc)
        rc = csv_head_line(b, t);
    return rc ? rc : csv_rows(b, t, write, ctx); /* no rows: writes the header */
}

BLOBSTORE_API int blobstore_table_to_csv(char **out, size_t *out_len, const blobstore_table *t)
{
    bs_buf b = {0};
    int rc = csv_write(&b, t, NULL, NULL);
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

BLOBSTORE_API int blobstore_table_write_csv(const blobstore_table *t, blobstore_write_fn write,
                                            void *ctx)
{
    if (!t || !write)
        return bs__error(BLOBSTORE_EINVAL, "NULL argument");
    bs_buf b = {0};
    int rc = bs__buf_reserve(&b, CSV_FLUSH + 4096);
    if (!rc)
        rc = csv_write(&b, t, write, ctx);
    bs__buf_free(&b);
    return rc;
}

/* ---- a stored table's CSV, row group by row group ---- */

/*
 * blobstore_table_get_csv never holds the whole table: a unit (one row
 * group; the header goes with the first) is decoded and formatted into its
 * own text by one of up to CSV_THREADS workers, and the caller's thread
 * hands the texts to write in unit order, so the bytes are those of
 * blobstore_table_write_csv whatever the threads do. At most CSV_AHEAD units
 * are made ahead of the one being written (memory: that many row groups'
 * text, and one decoded group per worker).
 */
#define CSV_THREADS 4
#define CSV_AHEAD   4

typedef struct {
    bs_buf text;
    int ready, rc;
    bs_error_state err;
} csv_unit;

typedef struct {
    const pq_groups *g;
    size_t nunits;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    size_t next, written; /* next unit to make; units written */
    int stop;
    csv_unit slot[CSV_AHEAD];
} csv_job;

/* Unit u's CSV text into b (emptied first). */
static int csv_unit_make(const pq_groups *g, size_t u, bs_buf *b)
{
    b->len = 0;
    size_t g0 = bs__pq_groups_count(g) ? u : 0, g1 = bs__pq_groups_count(g) ? u + 1 : 0;
    pq_table t;
    int rc = bs__pq_groups_read(g, g0, g1, &t);
    if (rc)
        return rc;
    rc = csv_check(&t);
    if (!rc && u == 0)
        rc = csv_head_line(b, &t);
    if (!rc)
        rc = csv_rows(b, &t, NULL, NULL);
    bs__pq_table_free(&t);
    return rc;
}

static void *csv_worker(void *arg)
{
    csv_job *j = arg;
    pthread_mutex_lock(&j->mu);
    for (;;) {
        while (!j->stop && j->next < j->nunits && j->next >= j->written + CSV_AHEAD)
            pthread_cond_wait(&j->cv, &j->mu);
        if (j->stop || j->next >= j->nunits)
            break;
        size_t u = j->next++;
        csv_unit *s = &j->slot[u % CSV_AHEAD]; /* free: unit u - CSV_AHEAD is written */
        pthread_mutex_unlock(&j->mu);
        int rc = csv_unit_make(j->g, u, &s->text);
        if (rc)
            bs__error_state_capture(&s->err, rc);
        pthread_mutex_lock(&j->mu);
        s->rc = rc;
        s->ready = 1;
        pthread_cond_broadcast(&j->cv);
    }
    pthread_mutex_unlock(&j->mu);
    return NULL;
}

/* Every unit of g through write, in order; *wrote set once a byte went. */
static int csv_units(const pq_groups *g, blobstore_write_fn write, void *ctx, int *wrote)
{
    size_t ngroups = bs__pq_groups_count(g), nunits = ngroups ? ngroups : 1;
    long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
    size_t nthreads = ncpu < 1 ? 1 : ncpu > CSV_THREADS ? CSV_THREADS : (size_t)ncpu;
    if (nthreads > nunits)
        nthreads = nunits;
    int rc = 0;
    if (nthreads == 1) { /* one core or one unit: no thread to wait for */
        bs_buf b = {0};
        for (size_t u = 0; u < nunits && !rc; u++) {
            if ((rc = csv_unit_make(g, u, &b)) != 0)
                break;
            *wrote = 1;
            if (write(ctx, b.data, b.len))
                rc = bs__error(BLOBSTORE_ECALLBACK, "CSV: the writer failed");
        }
        bs__buf_free(&b);
        return rc;
    }
    csv_job j;
    memset(&j, 0, sizeof(j));
    j.g = g;
    j.nunits = nunits;
    pthread_mutex_init(&j.mu, NULL);
    pthread_cond_init(&j.cv, NULL);
    pthread_t th[CSV_THREADS];
    size_t started = 0;
    for (; started < nthreads; started++)
        if (pthread_create(&th[started], NULL, csv_worker, &j) != 0)
            break;
    if (started == 0)
        rc = bs__error(BLOBSTORE_ENOMEM, "CSV: cannot start a thread");
    for (size_t u = 0; u < nunits && !rc; u++) {
        csv_unit *s = &j.slot[u % CSV_AHEAD];
        pthread_mutex_lock(&j.mu);
        while (!s->ready)
            pthread_cond_wait(&j.cv, &j.mu);
        pthread_mutex_unlock(&j.mu);
        if (s->rc) {
            rc = bs__error_state_restore(&s->err);
            break;
        }
        *wrote = 1;
        if (write(ctx, s->text.data, s->text.len))
            rc = bs__error(BLOBSTORE_ECALLBACK, "CSV: the writer failed");
        pthread_mutex_lock(&j.mu);
        s->ready = 0;
        j.written++;
        pthread_cond_broadcast(&j.cv);
        pthread_mutex_unlock(&j.mu);
    }
    pthread_mutex_lock(&j.mu);
    j.stop = 1;
    pthread_cond_broadcast(&j.cv);
    pthread_mutex_unlock(&j.mu);
    for (size_t i = 0; i < started; i++)
        pthread_join(th[i], NULL);
    for (size_t i = 0; i < CSV_AHEAD; i++)
        bs__buf_free(&j.slot[i].text);
    pthread_cond_destroy(&j.cv);
    pthread_mutex_destroy(&j.mu);
    return rc;
}

BLOBSTORE_API int blobstore_table_get_csv(blobstore *bs, const char *key, const char *const *names,
                                          size_t n, blobstore_write_fn write, void *ctx)
{
    if (!bs || !key || !write)
        return bs__error(BLOBSTORE_EINVAL, "NULL argument");
    /* Only the chunks read are fetched, a row group's as it is decoded. A
     * blob that vanishes before a byte was written was replaced by a put:
     * read the new one. */
    for (int attempt = 0;; attempt++) {
        bs_ranged *r;
        int rc = bs__ranged_open(&r, bs, key, "parquet", "a table", 0);
        if (rc)
            return rc;
        size_t len;
        const uint8_t *file = bs__ranged_data(r, &len);
        pq_groups *g = NULL;
        int wrote = 0;
        rc = bs__pq_groups_open(&g, file, len, names, n, fetch_cb, release_cb, r);
        if (!rc)
            rc = csv_units(g, write, ctx, &wrote);
        bs__pq_groups_close(g);
        bs__ranged_close(r);
        if (rc == BLOBSTORE_ENOTFOUND && !wrote && attempt < 2)
            continue;
        if (rc && rc != BLOBSTORE_EINVAL && rc != BLOBSTORE_EUNSUPPORTED &&
            rc != BLOBSTORE_ENOMEM && rc != BLOBSTORE_EIO && rc != BLOBSTORE_ENOTFOUND &&
            rc != BLOBSTORE_ECALLBACK) {
            bs__error_wrap(BLOBSTORE_ECORRUPT, "key \"%s\"", key);
            rc = BLOBSTORE_ECORRUPT;
        }
        return rc;
    }
}

/* ---- tables written as they stream into the store ---- */

/*
 * A table is put without its whole file in memory: the store pulls the
 * file's bytes through ts_read, which makes them one row group at a time
 * (pq_writer, each row group checked as it is made), from a table in memory
 * or from CSV read in pieces of about CSV_PIECE bytes (2 MiB: a row group
 * each; peak memory about 20 times that, a grid of cells being heavy). The entry's format
 * details are given when the last byte has been read (ts_finish).
 */
size_t bs__pq_csv_piece = (size_t)2 << 20; /* tests may make it small */
int bs__pq_csv_noguess;                    /* tests: put --csv reads the file twice */
#define CSV_PIECE bs__pq_csv_piece

typedef struct {
    int fd;
    bs_buf buf;   /* bytes read and not yet consumed, from start */
    size_t start; /* first unconsumed byte of buf */
    int eof;
    bs_buf header;  /* the header record, with its line end */
    size_t line;    /* record number of the next record (the header is 1) */
    size_t ncols;   /* the header's fields */
    csv_grid spare; /* the last piece's grid, its memory used again */
} csv_src;

/* Done with g (a grid of csv_next): its memory goes to the next piece. */
static void csv_stash(csv_src *c, csv_grid *g)
{
    grid_free(&c->spare);
    c->spare = *g;
    memset(g, 0, sizeof(*g));
}

/* Read more of the file into c->buf (compacting it first). */
static int csv_fill(csv_src *c)
{
    if (c->start) {
        memmove(c->buf.data, c->buf.data + c->start, c->buf.len - c->start);
        c->buf.len -= c->start;
        c->start = 0;
    }
    int rc = bs__buf_reserve(&c->buf, CSV_PIECE);
    if (rc)
        return rc;
    for (;;) {
        ssize_t n = read(c->fd, c->buf.data + c->buf.len, CSV_PIECE);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return bs__error_errno(errno, "cannot read the CSV");
        c->buf.len += (size_t)n;
        c->eof = n == 0;
        return 0;
    }
}

/* How many bytes of s[0..n) are '\n': eight at a time (a byte of x is zero
 * where s has a line end; t gets the top bit of each zero byte alone, with
 * no borrow between bytes, so the count is exact; no popcount instruction
 * is assumed). */
static size_t count_newlines(const char *s, size_t n)
{
    const uint64_t ones7 = 0x7f7f7f7f7f7f7f7full, nl = 0x0a0a0a0a0a0a0a0aull;
    size_t count = 0, i = 0;
    for (; i + 8 <= n; i += 8) {
        uint64_t w;
        memcpy(&w, s + i, 8);
        uint64_t x = w ^ nl, t = ~(((x & ones7) + ones7) | x | ones7);
        count += (size_t)(((t >> 7) * 0x0101010101010101ull) >> 56); /* its 0/1 bytes summed */
    }
    for (; i < n; i++)
        count += s[i] == '\n';
    return count;
}

/* The end of the complete records from c->start: after the last line end,
 * outside quotes, within want bytes (or after the first record if that is
 * longer); 0 when more must be read first. Quotes as csv_parse reads them: a
 * quote opens a field only at its start; "" inside one is a quote. */
static size_t csv_cut(const csv_src *c, size_t want, size_t *records)
{
    const char *s = (const char *)c->buf.data;
    size_t n = c->buf.len, cut = 0, count = 0;
    int quoted = 0, field_start = 1;
    if (n > c->start && !memchr(s + c->start, '"', n - c->start)) {
        /* No quote: the first line end at or past want bytes, else the
         * last one (as the loop below finds them). */
        size_t from = c->start + (want ? want - 1 : 0);
        const char *nl = from < n ? memchr(s + from, '\n', n - from) : NULL;
        if (!nl)
            nl = memrchr(s + c->start, '\n', n - c->start);
        cut = nl ? (size_t)(nl - s) + 1 : 0;
        count = cut ? count_newlines(s + c->start, cut - c->start) : 0;
    }
    for (size_t i = cut ? n : c->start; i < n; i++) {
        char ch = s[i];
        if (quoted) {
            if (ch == '"') {
                if (i + 1 >= n && !c->eof)
                    break; /* "" or the end of the field: not known yet */
                if (i + 1 < n && s[i + 1] == '"')
                    i++;
                else
                    quoted = 0;
            }
            continue;
        }
        if (field_start && ch == '"') {
            quoted = 1;
            field_start = 0;
            continue;
        }
        field_start = ch == ',' || ch == '\n';
        if (ch == '\n') {
            cut = i + 1;
            count++;
            if (cut - c->start >= want)
                break;
        }
    }
    if (c->eof && !quoted && n > (cut ? cut : c->start)) { /* a last record without a line end */
        int more = 0;
        for (size_t i = cut ? cut : c->start; i < n && !more; i++)
            more = c->buf.data[i] != '\n' && c->buf.data[i] != '\r';
        cut = n;
        count += more;
    }
    if (c->eof && quoted)
        cut = n; /* csv_parse reports the unterminated quote */
    *records = count;
    return cut > c->start ? cut : 0;
}

/* The next piece of CSV records (about want bytes) parsed with the header
 * in front: g (rows after the first are data); 0 rows at the end. */
static int csv_next(csv_src *c, csv_grid *g, size_t want)
{
    size_t cut = 0, records = 0;
    *g = c->spare;
    memset(&c->spare, 0, sizeof(c->spare));
    g->nrows = g->ncols = 0;
    while ((cut = csv_cut(c, want, &records)) == 0 ||
           (!c->eof && cut - c->start < want && c->buf.len - c->start < want + CSV_PIECE)) {
        if (c->eof)
            break;
        int rc = csv_fill(c);
        if (rc)
            return rc;
    }
    if (!cut) {
        g->nrows = 1;
        return 0;
    }
    size_t hl = c->header.len, len = hl + (cut - c->start);
    if (g->text_cap < len + 1) {
        free(g->text);
        g->text_cap = 0;
        if (!(g->text = bs__malloc(len + 1)))
            return BLOBSTORE_ENOMEM;
        g->text_cap = len + 1;
    }
    memcpy(g->text, c->header.data, hl);
    memcpy(g->text + hl, c->buf.data + c->start, cut - c->start);
    int rc = csv_parse(g, len, (records + 1) * c->ncols);
    if (rc && rc != BLOBSTORE_ENOMEM)
        bs__error_wrap(rc,
                       "in the CSV's records %zu..%zu (counting the header as 1, a piece's own "
                       "numbers start at 2)",
                       c->line, c->line + records - 1);
    c->line += records;
    c->start = cut;
    return rc;
}

/* The header record: c->header and the grid of its cells. */
static int csv_header(csv_src *c, csv_grid *g)
{
    size_t cut = 0, records = 0;
    memset(g, 0, sizeof(*g));
    int rc = 0;
    while (!rc && (cut = csv_cut(c, 1, &records)) == 0 && !c->eof)
        rc = csv_fill(c);
    if (!rc && !cut)
        rc = bs__error(BLOBSTORE_EINVAL, "CSV: no header row");
    if (!rc)
        rc = bs__buf_append(&c->header, c->buf.data + c->start, cut - c->start);
    if (!rc && (c->header.data[c->header.len - 1] != '\n'))
        rc = bs__buf_append(&c->header, "\n", 1);
    if (!rc)
        rc = csv_parse_copy(g, (const char *)c->header.data, c->header.len);
    c->ncols = rc ? 0 : g->ncols;
    c->start = cut;
    c->line = 2;
    return rc;
}

/* CSV pieces parsed on a second thread while the first works on the one
 * before (put --csv): a slot of one piece between them. Pass 1 hands over
 * grids (to infer the types; each comes back, as `used`, for the next
 * piece's memory), pass 2 tables of the schema's columns (to encode). */
typedef struct {
    csv_src *csv;
    const pq_table *schema;
    int grids; /* hand over grids, not tables */
    pthread_t th;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int started, stop;
    int ready; /* the slot holds the next piece, or the end, or an error */
    int end, rc;
    const uint8_t *guessed; /* pass 2: columns whose types were guessed (or NULL) */
    int wrong;              /* a cell showed a guess wrong (rc is then EINVAL) */
    char msg[1024];
    pq_table t;
    csv_grid g, used;
} csv_pipe;

typedef struct table_stream {
    pq_writer *w;
    bs_buf out; /* bytes made and not yet read */
    size_t pos;
    int done, rc;
    char msg[1024];
    const pq_table *t; /* a table in memory: its rows from next on */
    size_t next, per;
    csv_pipe pipe; /* or CSV (pipe.csv set) */
    pq_table *schema;
    char *pandas;      /* given, or NULL: made at the end */
    const char *extra; /* the caller's format_info, or NULL */
    const char *codec;
} table_stream;

/* A table of CSV rows (g's data rows) with the schema's columns. A column
 * whose type was guessed (guessed[k], guessed not NULL) and one of whose
 * cells does not fit it, or that has an empty cell and was guessed not
 * nullable, sets *wrong (and fails). */
static int csv_table(pq_table *t, const pq_table *schema, const csv_grid *g, const uint8_t *guessed,
                     int *wrong)
{
    memset(t, 0, sizeof(*t));
    t->cols = bs__calloc(schema->ncols ? schema->ncols : 1, sizeof(pq_column));
    if (!t->cols)
        return BLOBSTORE_ENOMEM;
    t->nrows = g->nrows - 1;
    int rc = 0;
    for (size_t k = 0; k < schema->ncols && !rc; k++) {
        pq_column *c = &t->cols[t->ncols++];
        c->type = schema->cols[k].type;
        rc = (c->name = bs__strdup(schema->cols[k].name)) ? 0 : BLOBSTORE_ENOMEM;
        if (!rc)
            rc = fill_column(c, g, k, t->nrows);
        if (guessed && guessed[k] && rc != BLOBSTORE_ENOMEM &&
            (rc || (c->nullable && !schema->cols[k].nullable))) {
            *wrong = 1;
            rc = rc ? rc
                    : bs__error(BLOBSTORE_EINVAL, "CSV: column \"%s\" has an empty cell", c->name);
        }
    }
    return rc;
}

/* The producer: each piece of CSV into the slot, until the end or an error
 * (which it hands over too), or until told to stop. */
static void *csv_produce(void *arg)
{
    csv_pipe *p = arg;
    for (;;) {
        pthread_mutex_lock(&p->mu);
        if (p->used.text || p->used.cells) { /* the memory of a piece done with */
            csv_stash(p->csv, &p->used);
        }
        pthread_mutex_unlock(&p->mu);
        pq_table t;
        memset(&t, 0, sizeof(t));
        csv_grid g;
        int end = 0, wrong = 0, rc = csv_next(p->csv, &g, CSV_PIECE);
        if (!rc && g.nrows <= 1)
            end = 1;
        else if (!rc && !p->grids && g.ncols != p->schema->ncols)
            rc = bs__error(BLOBSTORE_EINVAL, "CSV: records with %zu fields, the header %zu",
                           g.ncols, p->schema->ncols);
        else if (!rc && !p->grids)
            rc = csv_table(&t, p->schema, &g, p->guessed, &wrong);
        if (rc)
            bs__pq_table_free(&t);
        if (rc || end || !p->grids)
            csv_stash(p->csv, &g);
        pthread_mutex_lock(&p->mu);
        while (p->ready && !p->stop)
            pthread_cond_wait(&p->cv, &p->mu);
        if (p->stop) {
            pthread_mutex_unlock(&p->mu);
            bs__pq_table_free(&t);
            grid_free(&g);
            return NULL;
        }
        p->t = t;
        p->g = g;
        p->end = end;
        p->rc = rc;
        p->wrong = wrong;
        if (rc)
            snprintf(p->msg, sizeof(p->msg), "%s", blobstore_errmsg());
        p->ready = 1;
        pthread_cond_broadcast(&p->cv);
        pthread_mutex_unlock(&p->mu);
        if (rc || end)
            return NULL;
    }
}

/* The consumer's side: the next piece, as a table (t) or a grid (g); *end
 * at the end. */
static int csv_take(csv_pipe *p, pq_table *t, csv_grid *g, int *end)
{
    if (!p->started) {
        pthread_mutex_init(&p->mu, NULL);
        pthread_cond_init(&p->cv, NULL);
        if (pthread_create(&p->th, NULL, csv_produce, p) != 0) {
            pthread_cond_destroy(&p->cv);
            pthread_mutex_destroy(&p->mu);
            return bs__error(BLOBSTORE_ENOMEM, "cannot start a thread to read the CSV");
        }
        p->started = 1;
    }
    pthread_mutex_lock(&p->mu);
    while (!p->ready)
        pthread_cond_wait(&p->cv, &p->mu);
    if (t)
        *t = p->t;
    if (g)
        *g = p->g;
    memset(&p->t, 0, sizeof(p->t));
    memset(&p->g, 0, sizeof(p->g));
    *end = p->end;
    int rc = p->rc;
    p->ready = p->rc || p->end; /* (after these, nothing more comes) */
    pthread_cond_broadcast(&p->cv);
    pthread_mutex_unlock(&p->mu);
    return rc ? bs__error(rc, "%s", p->msg) : 0;
}

/* A grid taken is given back when done with: its memory serves a next piece. */
static void csv_give_back(csv_pipe *p, csv_grid *g)
{
    pthread_mutex_lock(&p->mu);
    grid_free(&p->used);
    p->used = *g;
    memset(g, 0, sizeof(*g));
    pthread_mutex_unlock(&p->mu);
}

/* Stop the producer, wherever it is, and free what it left. */
static void csv_pipe_close(csv_pipe *p)
{
    if (!p->started)
        return;
    pthread_mutex_lock(&p->mu);
    p->stop = 1;
    pthread_cond_broadcast(&p->cv);
    pthread_mutex_unlock(&p->mu);
    pthread_join(p->th, NULL);
    bs__pq_table_free(&p->t);
    grid_free(&p->g);
    grid_free(&p->used);
    pthread_cond_destroy(&p->cv);
    pthread_mutex_destroy(&p->mu);
    p->started = 0;
}

/* Make more of the file: a row group, or the footer at the end. */
static int ts_refill(table_stream *s)
{
    if (s->t && s->next < s->t->nrows) {
        size_t r1 = s->t->nrows - s->next > s->per ? s->next + s->per : s->t->nrows;
        int rc = bs__pq_writer_write(s->w, s->t, s->next, r1);
        s->next = r1;
        return rc;
    }
    if (s->pipe.csv) {
        pq_table t;
        int end = 0, rc = csv_take(&s->pipe, &t, NULL, &end);
        if (rc)
            return rc;
        if (!end) {
            rc = bs__pq_writer_write(s->w, &t, 0, t.nrows);
            bs__pq_table_free(&t);
            return rc;
        }
    }
    s->schema->nrows = (size_t)bs__pq_writer_rows(s->w);
    if (!s->pandas && !(s->pandas = bs__pq_pandas_metadata(s->schema)))
        return BLOBSTORE_ENOMEM;
    s->done = 1;
    return bs__pq_writer_finish(s->w, s->pandas);
}

static int ts_read(void *ctx, void *buf, size_t cap, size_t *n)
{
    table_stream *s = ctx;
    while (s->pos == s->out.len && !s->done) {
        s->out.len = s->pos = 0;
        int rc = ts_refill(s);
        if (rc) {
            s->rc = rc;
            snprintf(s->msg, sizeof(s->msg), "%s", blobstore_errmsg());
            return -1;
        }
    }
    size_t k = s->out.len - s->pos < cap ? s->out.len - s->pos : cap;
    memcpy(buf, s->out.data + s->pos, k);
    s->pos += k;
    *n = k;
    return 0;
}

static int ts_finish(void *ctx, json_t **info, char **codec)
{
    table_stream *s = ctx;
    s->schema->nrows = (size_t)bs__pq_writer_rows(s->w);
    *info = format_info(s->schema);
    *codec = bs__strdup(s->codec);
    if (!*info || !*codec)
        return BLOBSTORE_ENOMEM;
    return bs__info_extend(*info, s->extra);
}

/* Put the stream s (its source set) as a table; frees what s holds. */
static int ts_put(char **out_key, blobstore *bs, const char *key, struct table_stream *s,
                  const blobstore_table_options *o)
{
    int level, rc = 0;
    const char *codec = table_codec(bs, o, &level);
    /* the caller's format_info is checked now, not after the rows */
    json_t *probe = format_info(s->schema);
    rc = probe ? bs__info_extend(probe, s->extra = o->format_info) : BLOBSTORE_ENOMEM;
    json_decref(probe);
    pq_write_options wo = {.codec = codec, .row_group_rows = o->row_group_rows};
    if (!rc)
        rc = bs__pq_writer_new(&s->w, s->schema, &wo, bs__sink_buf, &s->out);
    if (!rc) {
        size_t page_rows, page_bytes;
        bs__pq_write_limits(&wo, &s->per, &page_rows, &page_bytes);
        bs__pq_writer_set_level(s->w, level);
        s->codec = bs__pq_writer_codec(s->w);
        bs_file_hooks hooks = {ts_finish, s};
        rc = bs__put_file_stream(out_key, bs, key, ts_read, s, "parquet", o->metadata, &hooks,
                                 o->version >= 2 ? o->put_flags : 0);
        if (rc == BLOBSTORE_ECALLBACK && s->rc) /* the table's own error */
            rc = bs__error(s->rc, "%s", s->msg);
    }
    csv_pipe_close(&s->pipe);
    bs__pq_writer_free(s->w);
    bs__buf_free(&s->out);
    free(s->pandas);
    return rc;
}

/* Start c (fd's CSV, from its first byte, the memory of spare used
 * again) and read its header record into g. */
static int csv_start(csv_src *c, int fd, csv_grid *spare, csv_grid *g)
{
    memset(c, 0, sizeof(*c));
    c->fd = fd;
    c->spare = *spare;
    memset(spare, 0, sizeof(*spare));
    memset(g, 0, sizeof(*g));
    if (lseek(fd, 0, SEEK_SET) < 0)
        return bs__error_errno(errno, "CSV: cannot read the input from its start");
    return csv_header(c, g);
}

/* Done with c: its grid memory into spare, the rest freed. */
static void csv_end(csv_src *c, csv_grid *spare)
{
    bs__buf_free(&c->buf);
    bs__buf_free(&c->header);
    grid_free(spare);
    *spare = c->spare;
    memset(&c->spare, 0, sizeof(c->spare));
}

/*
 * put --csv. A column's type (unless the schema gives it) is the narrowest
 * that all its cells fit, and it is nullable if one is empty: known only
 * once every cell has been read. So the types are guessed from the first
 * piece, and the file is stored as it is read once more (guess = 1): if a
 * later cell does not fit its column's guessed type, or a column guessed not
 * nullable has an empty cell, the guess was wrong (*wrong set) and nothing is
 * stored. Then (guess = 0) pass 1 reads the whole file for the types and
 * pass 2 stores it: the types are the same either way (a type guessed from
 * the first cells is the one all cells fit when they all fit it, the
 * narrower ones having failed already); the guess saves a reading when it
 * holds. A column whose first piece holds no value is not guessed.
 */
static int csv_put(char **out_key, blobstore *bs, const char *key, int fd, const char *schema,
                   const blobstore_table_options *o, int guess, int *wrong, csv_grid *spare)
{
    csv_src c;
    csv_grid g;
    pq_table sch;
    memset(&sch, 0, sizeof(sch));
    uint8_t *given = NULL, *fit = NULL;
    int rc = csv_start(&c, fd, spare, &g);
    if (!rc) {
        given = bs__calloc(g.ncols ? g.ncols : 1, 1);
        fit = bs__calloc(g.ncols ? g.ncols : 1, 1);
        rc = given && fit ? csv_columns(&sch, &g, schema, given) : BLOBSTORE_ENOMEM;
    }
    grid_free(&g);
    for (size_t k = 0; k < sch.ncols; k++)
        fit[k] = FIT_INT | FIT_DOUBLE | FIT_BOOL;
    if (!rc && guess) { /* the first piece's cells */
        if ((rc = csv_next(&c, &g, CSV_PIECE)) == 0)
            for (size_t k = 0; k < sch.ncols; k++)
                csv_scan(&g, k, &fit[k]);
        csv_stash(&c, &g);
        for (size_t k = 0; k < sch.ncols && !rc; k++)
            if (!given[k] && !(fit[k] & FIT_ANY))
                guess = 0; /* no value to guess from */
        if (!rc && !guess)
            *wrong = 1; /* (not guessed: pass 1 then) */
    } else if (!rc) {   /* pass 1: every cell */
        csv_pipe pass1;
        memset(&pass1, 0, sizeof(pass1));
        pass1.csv = &c;
        pass1.grids = 1;
        while (!rc) {
            int end = 0;
            if ((rc = csv_take(&pass1, NULL, &g, &end)) != 0 || end)
                break;
            for (size_t k = 0; k < sch.ncols; k++)
                csv_scan(&g, k, &fit[k]);
            csv_give_back(&pass1, &g);
        }
        csv_pipe_close(&pass1);
    }
    for (size_t k = 0; k < sch.ncols && !rc; k++) {
        if (!given[k])
            sch.cols[k].type = csv_pick(fit[k]);
        sch.cols[k].nullable = (fit[k] & FIT_NULL) != 0;
        given[k] = !given[k]; /* now: guessed */
    }
    free(fit);
    csv_end(&c, spare);
    /* Pass 2 (or the only one): the rows, a piece at a time, into the store. */
    if (!rc && !*wrong) {
        rc = csv_start(&c, fd, spare, &g);
        grid_free(&g);
        if (!rc) {
            struct table_stream s;
            memset(&s, 0, sizeof(s));
            s.schema = &sch;
            s.pipe.csv = &c;
            s.pipe.schema = &sch;
            s.pipe.guessed = guess ? given : NULL;
            rc = ts_put(out_key, bs, key, &s, o);
            *wrong = rc && s.pipe.wrong;
        }
        csv_end(&c, spare);
    }
    free(given);
    bs__pq_table_free(&sch);
    return rc;
}

BLOBSTORE_API int blobstore_table_put_csv_fd(char **out_key, blobstore *bs, const char *key, int fd,
                                             const char *schema, const blobstore_table_options *o)
{
    static const blobstore_table_options none = BLOBSTORE_TABLE_OPTIONS_INIT;
    if (!o)
        o = &none;
    if (!bs || fd < 0)
        return bs__error(BLOBSTORE_EINVAL, "NULL argument or bad file descriptor");
    if (lseek(fd, 0, SEEK_CUR) < 0)
        return bs__error(BLOBSTORE_EINVAL, "CSV: the input must be a file (it is read twice)");
    csv_grid spare;
    memset(&spare, 0, sizeof(spare));
    int wrong = 0,
        rc = csv_put(out_key, bs, key, fd, schema, o, !bs__pq_csv_noguess, &wrong, &spare);
    if (wrong) {
        wrong = 0;
        rc = csv_put(out_key, bs, key, fd, schema, o, 0, &wrong, &spare);
    }
    grid_free(&spare);
    return rc;
}

BLOBSTORE_API int blobstore_table_put(char **out_key, blobstore *bs, const char *key,
                                      const blobstore_table *t, const blobstore_table_options *o)
{
    static const blobstore_table_options none = BLOBSTORE_TABLE_OPTIONS_INIT;
    if (!o)
        o = &none;
    if (!bs || !t)
        return bs__error(BLOBSTORE_EINVAL, "NULL argument");
    /* Streamed into the store a row group at a time: the file is never
     * whole in memory. */
    pq_table schema = *t;
    struct table_stream s;
    memset(&s, 0, sizeof(s));
    s.t = t;
    s.schema = &schema;
    if (o->pandas_metadata && !(s.pandas = bs__strdup(o->pandas_metadata)))
        return BLOBSTORE_ENOMEM;
    return ts_put(out_key, bs, key, &s, o);
}
