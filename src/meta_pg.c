/*
 * meta_pg.c - the PostgreSQL metadata backend (libpq).
 *
 * One row per entry: the key as text in byte order (COLLATE "C"), no
 * narrower than the API allows; the user's metadata both as jsonb (GIN
 * index, filters pushed down as containment) and as the exact text given;
 * small blobs inline in bytea. The schema is created on first use and
 * recorded in blobstore_schema(version) for later migrations. A write
 * transaction takes a transaction-scoped advisory lock, so writers from any
 * number of processes and machines take turns; reads run as single
 * statements. Every value travels as a bound parameter. A lost connection is
 * re-established once per call before the error is reported.
 *
 * The hot statements are prepared once per connection (on first use), and a
 * get reads its row in binary (no hex escaping of the inline bytes). A put
 * outside a batch (BS__META_CTL_REPLACE) is one round trip: one upsert that
 * takes the advisory lock itself, an implicit transaction of its own. It
 * replaces only an entry without a blob; over one with a blob (nothing
 * written), a second round trip (the lock and an upsert in pipeline mode)
 * returns that blob's name for removal.
 *
 * Schema version 5 (issue 16): a value kept inline may be a compact frame
 * (bs__inline_encode: 10 bytes beside the stored bytes, the row holding its
 * size and hash) instead of a full frame (67 bytes more for a small value,
 * and a SHA-256 context and frame writer per put); rows written before keep
 * their full frames and read as before (by the first byte). The version is
 * raised at the open (every open is writable here), so that a library that
 * reads full frames only refuses the store instead of reading compact frames
 * as damage.
 */
#include "internal.h"
#include "module.h"

#include <jansson.h>
#include <libpq-fe.h>

#define SCHEMA_VERSION 5
#define WRITE_LOCK     "7306202541"

typedef struct {
    blobstore_meta_backend parent;
    PGconn *conn;
    char *conninfo;
    int in_tx;         /* 1 read, 2 write */
    unsigned prepared; /* bit per statement prepared on this connection */
} pg_backend;

#define COLS                                                                                       \
    "key, blob, format, compression, content_hash, created_at, updated_at, metadata_text, info, "  \
    "size, file_size, raw"

#define UPSERT                                                                                     \
    "INSERT INTO blobstore_entries(" COLS ", metadata, data) VALUES "                              \
    "($1, $2, $3, $4, $5, $6, $7, $8, $10, $11, $12, $13, $9::jsonb, $14) ON CONFLICT (key) DO "

/* The same row, inserted by a statement that first takes the write lock:
 * the lock is the one-row SELECT's one-time filter, called once before the
 * row is formed and reaches the insert (a subquery in FROM that called it
 * cost the executor a node more: ~1 us of server time per put), and held
 * to the end of the (implicit) transaction. The statement's snapshot is
 * older than the lock, which is harmless here: an upsert checks for a
 * conflicting row and evaluates its WHERE on the newest committed version
 * (it waits for any writer still in progress), never through the
 * snapshot. Not for a statement that reads (ST_REPLACE's subquery): that
 * one runs after ST_LOCK. */
#define LOCKED_UPSERT                                                                              \
    "INSERT INTO blobstore_entries(" COLS ", metadata, data) SELECT "                              \
    "$1, $2, $3, $4, $5, $6, $7, $8, $10, $11::bigint, $12::bigint, $13::boolean, $9::jsonb, "     \
    "$14::bytea WHERE pg_advisory_xact_lock(" WRITE_LOCK ") IS NOT NULL ON CONFLICT (key) DO "

#define SET_ALL                                                                                    \
    "UPDATE SET blob = EXCLUDED.blob, format = EXCLUDED.format, "                                  \
    "compression = EXCLUDED.compression, content_hash = EXCLUDED.content_hash, "                   \
    "created_at = EXCLUDED.created_at, updated_at = EXCLUDED.updated_at, "                         \
    "metadata_text = EXCLUDED.metadata_text, info = EXCLUDED.info, size = EXCLUDED.size, "         \
    "file_size = EXCLUDED.file_size, raw = EXCLUDED.raw, metadata = EXCLUDED.metadata, "           \
    "data = EXCLUDED.data"

/* The prepared statements (names "bs_<index>"). ST_REPLACE returns the
 * replaced entry's blob (NULL: none, or an inline value): a subquery in
 * RETURNING reads the statement's snapshot, taken after the write lock, so
 * it sees the row as it was before this upsert and as no other writer can
 * change it meanwhile (one index probe; a CTE read twice was materialised,
 * a quarter of the statement's server time). ST_REPLACE_NO_BLOB, tried
 * first, replaces only an entry without a blob (there is nothing to remove
 * then): no subquery, 10-15 us of server time less per put; its command
 * tag counts the rows written (no RETURNING: a row description and a row
 * less to send and read, ~3 us of server time), and 0 means the key has an
 * entry with a blob, which ST_REPLACE then replaces. ST_REPLACE_NEW (no
 * overwrite) writes no row when the key exists. Both take the write lock themselves
 * (LOCKED_UPSERT): one statement, where a pipelined ST_LOCK and upsert cost the server a statement
 * more and the client pipeline mode. */
enum {
    ST_GET,
    ST_PUT,
    ST_LOCK,
    ST_REPLACE,
    ST_REPLACE_NO_BLOB,
    ST_REPLACE_NEW,
    ST_DEL,
    ST_REFS,
    ST_COUNT
};
static const char *const st_sql[ST_COUNT] = {
    "SELECT " COLS ", data FROM blobstore_entries WHERE key = $1",
    UPSERT SET_ALL,
    "SELECT pg_advisory_xact_lock(" WRITE_LOCK ")",
    UPSERT SET_ALL " RETURNING (SELECT o.blob FROM blobstore_entries o WHERE o.key = $1)",
    LOCKED_UPSERT SET_ALL " WHERE blobstore_entries.blob IS NULL",
    LOCKED_UPSERT "NOTHING",
    "DELETE FROM blobstore_entries WHERE key = $1",
    "SELECT count(*) FROM blobstore_entries WHERE blob = $1",
};
static const int st_nparams[ST_COUNT] = {1, 14, 0, 14, 14, 14, 1, 1};

static int pg_error(pg_backend *be, PGresult *res, const char *what)
{
    const char *state = res ? PQresultErrorField(res, PG_DIAG_SQLSTATE) : NULL;
    int code = state && !strncmp(state, "22", 2) ? BLOBSTORE_EINVAL : BLOBSTORE_EIO;
    return bs__error(code, "postgresql: %s: %s", what, PQerrorMessage(be->conn));
}

static int reconnect(pg_backend *be)
{
    if (PQstatus(be->conn) == CONNECTION_OK)
        return 0;
    PQreset(be->conn);
    be->prepared = 0; /* a new session has none */
    return PQstatus(be->conn) == CONNECTION_OK
               ? 0
               : bs__error(BLOBSTORE_EIO, "postgresql: connection lost: %s",
                           PQerrorMessage(be->conn));
}

/* Prepare statement st on this connection unless it is already. NULL
 * (prepared) or the failed result. */
static PGresult *prepare(pg_backend *be, int st)
{
    if (be->prepared & (1u << st))
        return NULL;
    char name[16];
    snprintf(name, sizeof(name), "bs_%d", st);
    PGresult *res = PQprepare(be->conn, name, st_sql[st], st_nparams[st], NULL);
    if (res && PQresultStatus(res) == PGRES_COMMAND_OK) {
        PQclear(res);
        be->prepared |= 1u << st;
        return NULL;
    }
    return res ? res : PQmakeEmptyPGresult(be->conn, PGRES_FATAL_ERROR);
}

/* Run statement st (prepared on first use; -1: sql as it is) with text
 * parameters (binary for a bytea), retrying once on a lost connection
 * outside write transactions (a read "transaction" is a series of single
 * autocommitted statements, each safe to repeat); binary: results in binary
 * format. */
static PGresult *run_any(pg_backend *be, int st, const char *sql, int n, const char *const *vals,
                         const int *lens, const int *fmts, int binary, int *rc)
{
    for (int attempt = 0;; attempt++) {
        PGresult *res = st >= 0 ? prepare(be, st) : NULL;
        if (!res && st >= 0) {
            char name[16];
            snprintf(name, sizeof(name), "bs_%d", st);
            res = PQexecPrepared(be->conn, name, n, vals, lens, fmts, binary);
        } else if (!res) {
            res = PQexecParams(be->conn, sql, n, NULL, vals, lens, fmts, binary);
        }
        ExecStatusType s = res ? PQresultStatus(res) : PGRES_FATAL_ERROR;
        if (s == PGRES_COMMAND_OK || s == PGRES_TUPLES_OK) {
            *rc = 0;
            return res;
        }
        if (attempt == 0 && be->in_tx != 2 && PQstatus(be->conn) != CONNECTION_OK &&
            reconnect(be) == 0) {
            PQclear(res);
            continue;
        }
        *rc = pg_error(be, res, sql);
        PQclear(res);
        return NULL;
    }
}

static PGresult *run(pg_backend *be, const char *sql, int n, const char *const *vals,
                     const int *lens, const int *fmts, int *rc)
{
    return run_any(be, -1, sql, n, vals, lens, fmts, 0, rc);
}

static PGresult *run_st(pg_backend *be, int st, const char *const *vals, const int *lens,
                        const int *fmts, int binary, int *rc)
{
    return run_any(be, st, st_sql[st], st_nparams[st], vals, lens, fmts, binary, rc);
}

static int exec0(pg_backend *be, const char *sql)
{
    int rc;
    PGresult *res = run(be, sql, 0, NULL, NULL, NULL, &rc);
    PQclear(res);
    return rc;
}

static int pg_begin(blobstore_meta_backend *pbe, int write)
{
    pg_backend *be = (pg_backend *)pbe;
    if (!write) {
        be->in_tx = 1;
        return 0;
    }
    int rc = reconnect(be);
    if (!rc)
        rc = exec0(be, "BEGIN");
    if (!rc) {
        be->in_tx = 2;
        if ((rc = exec0(be, "SELECT pg_advisory_xact_lock(" WRITE_LOCK ")")) != 0) {
            exec0(be, "ROLLBACK");
            be->in_tx = 0;
        }
    }
    return rc;
}

static int pg_commit(blobstore_meta_backend *pbe)
{
    pg_backend *be = (pg_backend *)pbe;
    int rc = be->in_tx == 2 ? exec0(be, "COMMIT") : 0;
    be->in_tx = 0;
    return rc;
}

static int pg_rollback(blobstore_meta_backend *pbe)
{
    pg_backend *be = (pg_backend *)pbe;
    int rc = be->in_tx == 2 ? exec0(be, "ROLLBACK") : 0;
    be->in_tx = 0;
    return rc;
}

static char *col(PGresult *r, int row, int c, int *oom)
{
    if (PQgetisnull(r, row, c))
        return NULL;
    char *s = bs__strndup(PQgetvalue(r, row, c), (size_t)PQgetlength(r, row, c));
    if (!s)
        *oom = 1;
    return s;
}

/* A bigint column, in text or binary (8 bytes, big-endian) format. */
static uint64_t col_u64(PGresult *r, int row, int c)
{
    const unsigned char *p = (const unsigned char *)PQgetvalue(r, row, c);
    if (!PQfformat(r, c))
        return strtoull((const char *)p, NULL, 10);
    uint64_t v = 0;
    for (int i = 0; i < 8 && PQgetlength(r, row, c) == 8; i++)
        v = v << 8 | p[i];
    return v;
}

/* A row of COLS (and data, with_data) in text or binary format. */
static int row_entry(PGresult *r, int row, blobstore_entry *e, int with_data)
{
    int oom = 0;
    memset(e, 0, sizeof(*e));
    e->key = col(r, row, 0, &oom);
    e->blob = col(r, row, 1, &oom);
    e->format = col(r, row, 2, &oom);
    e->compression = col(r, row, 3, &oom);
    e->content_hash = col(r, row, 4, &oom);
    e->created_at = col(r, row, 5, &oom);
    e->updated_at = col(r, row, 6, &oom);
    e->metadata = col(r, row, 7, &oom);
    e->info = col(r, row, 8, &oom);
    e->size = col_u64(r, row, 9);
    e->file_size = col_u64(r, row, 10);
    const char *raw = PQgetvalue(r, row, 11);
    e->raw = PQfformat(r, 11) ? raw[0] == 1 : raw[0] == 't';
    if (with_data && !PQgetisnull(r, row, 12) && PQfformat(r, 12)) {
        size_t n = (size_t)PQgetlength(r, row, 12);
        e->inline_data = bs__malloc(n ? n : 1);
        if (e->inline_data) {
            memcpy(e->inline_data, PQgetvalue(r, row, 12), n);
            e->inline_len = n;
        } else {
            oom = 1;
        }
    } else if (with_data && !PQgetisnull(r, row, 12)) {
        size_t n;
        unsigned char *d = PQunescapeBytea((const unsigned char *)PQgetvalue(r, row, 12), &n);
        if (!d) {
            oom = 1;
        } else {
            e->inline_data = bs__malloc(n ? n : 1);
            if (e->inline_data) {
                memcpy(e->inline_data, d, n);
                e->inline_len = n;
            } else {
                oom = 1;
            }
            PQfreemem(d);
        }
    }
    if (oom || !e->key || !e->format || !e->metadata) {
        blobstore_entry_clear(e);
        return oom ? BLOBSTORE_ENOMEM : bs__error(BLOBSTORE_ECORRUPT, "postgresql: a damaged row");
    }
    return 0;
}

static int pg_get(blobstore_meta_backend *pbe, const char *key, blobstore_entry *out)
{
    pg_backend *be = (pg_backend *)pbe;
    int rc;
    const char *v[1] = {key};
    PGresult *r = run_st(be, ST_GET, v, NULL, NULL, 1, &rc);
    if (!r)
        return rc;
    rc = PQntuples(r) ? row_entry(r, 0, out, 1)
                      : bs__error(BLOBSTORE_ENOTFOUND, "no entry with key \"%s\"", key);
    PQclear(r);
    return rc;
}

/* The parameters of ST_PUT / ST_PUT_NEW for e (size and fsize: room for
 * the numbers). */
typedef struct {
    char size[24], fsize[24];
    const char *vals[14];
    int lens[14], fmts[14];
} put_params;

static void put_params_fill(put_params *p, const blobstore_entry *e)
{
    snprintf(p->size, sizeof(p->size), "%llu", (unsigned long long)e->size);
    snprintf(p->fsize, sizeof(p->fsize), "%llu", (unsigned long long)e->file_size);
    const char *meta = e->metadata ? e->metadata : "{}";
    const char *v[14] = {e->key,
                         e->blob,
                         e->format,
                         e->compression,
                         e->content_hash,
                         e->created_at,
                         e->updated_at,
                         meta,
                         meta,
                         e->info,
                         p->size,
                         p->fsize,
                         e->raw ? "t" : "f",
                         e->inline_data ? (const char *)e->inline_data : NULL};
    memcpy(p->vals, v, sizeof(v));
    memset(p->lens, 0, sizeof(p->lens));
    memset(p->fmts, 0, sizeof(p->fmts));
    p->lens[13] = (int)e->inline_len;
    p->fmts[13] = 1;
}

static int pg_put(blobstore_meta_backend *pbe, const blobstore_entry *e)
{
    pg_backend *be = (pg_backend *)pbe;
    put_params p;
    put_params_fill(&p, e);
    int rc;
    PQclear(run_st(be, ST_PUT, p.vals, p.lens, p.fmts, 0, &rc));
    return rc;
}

static int pg_remove(blobstore_meta_backend *pbe, const char *key)
{
    pg_backend *be = (pg_backend *)pbe;
    int rc;
    const char *v[1] = {key};
    PGresult *r = run_st(be, ST_DEL, v, NULL, NULL, 0, &rc);
    if (r && atoi(PQcmdTuples(r)) == 0)
        rc = bs__error(BLOBSTORE_ENOTFOUND, "no entry with key \"%s\"", key);
    PQclear(r);
    return rc;
}

static int scan(pg_backend *be, const char *prefix, const char *contains, blobstore_entry_fn fn,
                void *ctx)
{
    const char *v[3];
    int n = 0;
    char sql[512], *valid = NULL;
    int len = snprintf(sql, sizeof(sql), "SELECT " COLS " FROM blobstore_entries WHERE true");
    size_t plen = prefix ? strlen(prefix) : 0, vlen = plen;
    /* A prefix may end inside a UTF-8 sequence, which PostgreSQL refuses as
     * text: narrow in SQL by its valid part, then check the bytes here. */
    while (vlen && !bs__utf8_valid((const unsigned char *)prefix, vlen))
        vlen--;
    if (vlen) {
        if (!(valid = bs__strndup(prefix, vlen)))
            return BLOBSTORE_ENOMEM;
        v[n++] = valid;
        len += snprintf(sql + len, sizeof(sql) - (size_t)len,
                        " AND key >= $%d AND left(key, char_length($%d)) = $%d", n, n, n);
    }
    if (contains) {
        v[n++] = contains;
        len += snprintf(sql + len, sizeof(sql) - (size_t)len, " AND metadata @> $%d::jsonb", n);
    }
    snprintf(sql + len, sizeof(sql) - (size_t)len, " ORDER BY key");
    int rc;
    PGresult *r = run(be, sql, n, v, NULL, NULL, &rc);
    free(valid);
    if (!r)
        return rc;
    for (int i = 0; i < PQntuples(r) && !rc; i++) {
        if (plen > vlen && strncmp(PQgetvalue(r, i, 0), prefix, plen) != 0)
            continue;
        blobstore_entry e;
        if ((rc = row_entry(r, i, &e, 0)) != 0)
            break;
        rc = fn(ctx, &e);
        blobstore_entry_clear(&e);
    }
    PQclear(r);
    return rc;
}

static int pg_iterate(blobstore_meta_backend *pbe, const char *prefix, blobstore_entry_fn fn,
                      void *ctx)
{
    return scan((pg_backend *)pbe, prefix, NULL, fn, ctx);
}

/* Exact-match members of the filter's top level become a jsonb containment
 * test (numbers compare by value, as in the store); the store checks the rest. */
static int pg_iterate_filtered(blobstore_meta_backend *pbe, const char *prefix, const char *filter,
                               blobstore_entry_fn fn, void *ctx)
{
    json_error_t err;
    json_t *f = json_loads(filter, 0, &err), *c = json_object();
    const char *k;
    json_t *v;
    if (json_is_object(f) && c)
        json_object_foreach(f, k, v)
        {
            int ops = json_is_object(v) && json_object_size(v) > 0;
            if (ops) {
                const char *k2;
                json_t *v2;
                json_object_foreach(v, k2, v2)
                {
                    (void)v2;
                    if (k2[0] == '$')
                        ops = 2;
                }
            }
            if (k[0] != '$' && k[0] != '@' && !strchr(k, '.') && ops != 2 && !json_is_null(v))
                json_object_set(c, k, v);
        }
    char *contains = json_object_size(c) ? bs__json_dumps(c) : NULL;
    json_decref(f);
    json_decref(c);
    int rc = scan((pg_backend *)pbe, prefix, contains, fn, ctx);
    free(contains);
    return rc;
}

static int pg_create_index(blobstore_meta_backend *pbe, const char *path)
{
    pg_backend *be = (pg_backend *)pbe;
    int rc = bs__index_path_check(path);
    if (rc)
        return rc;
    /* The GIN index already serves containment; a btree on the path serves
     * ranges. path is dotted identifiers (checked): safe to spell out. */
    char sql[1024], expr[600] = "metadata";
    for (const char *p = path; *p;) {
        const char *dot = strchr(p, '.');
        size_t n = dot ? (size_t)(dot - p) : strlen(p);
        size_t l = strlen(expr);
        snprintf(expr + l, sizeof(expr) - l, " -> '%.*s'", (int)n, p);
        p += n + (dot ? 1 : 0);
    }
    char name[65];
    bs__sha256_hex(name, path, strlen(path));
    snprintf(sql, sizeof(sql),
             "CREATE INDEX IF NOT EXISTS bs_idx_%.16s ON blobstore_entries ((%s))", name, expr);
    return exec0(be, sql);
}

/* stats: one statement (one snapshot): the groups, the shared blobs (each
 * once, at the largest file_size its entries record) and the table's size
 * with its indexes and TOAST, on every row. */
static int pg_stats(blobstore_meta_backend *pbe, blobstore_meta_stats *st)
{
    pg_backend *be = (pg_backend *)pbe;
    int rc;
    PGresult *r = run(be,
                      "WITH g AS (SELECT format, compression, count(*) AS n, sum(size) AS s,"
                      " sum(file_size) AS fs, count(blob) AS bn,"
                      " coalesce(sum(file_size) FILTER (WHERE blob IS NOT NULL), 0) AS bfs"
                      " FROM blobstore_entries GROUP BY format, compression),"
                      " d AS (SELECT coalesce(sum(n - 1), 0) AS se, coalesce(sum(s - m), 0) AS sb"
                      " FROM (SELECT count(*) AS n, sum(file_size) AS s, max(file_size) AS m"
                      " FROM blobstore_entries"
                      " WHERE blob IS NOT NULL GROUP BY blob HAVING count(*) > 1) AS x)"
                      " SELECT g.format, g.compression, g.n, g.s, g.fs, g.bn, g.bfs, d.se, d.sb,"
                      " pg_total_relation_size('blobstore_entries') FROM g, d",
                      0, NULL, NULL, NULL, &rc);
    if (!r)
        return rc;
    for (int i = 0; i < PQntuples(r) && !rc; i++) {
        blobstore_meta_group g;
        g.format = PQgetvalue(r, i, 0);
        g.compression = PQgetvalue(r, i, 1);
        g.entries = strtoull(PQgetvalue(r, i, 2), NULL, 10);
        g.size = strtoull(PQgetvalue(r, i, 3), NULL, 10);
        g.file_size = strtoull(PQgetvalue(r, i, 4), NULL, 10);
        g.blob_entries = strtoull(PQgetvalue(r, i, 5), NULL, 10);
        g.blob_file_size = strtoull(PQgetvalue(r, i, 6), NULL, 10);
        st->shared_entries = strtoull(PQgetvalue(r, i, 7), NULL, 10);
        st->shared_bytes = strtoull(PQgetvalue(r, i, 8), NULL, 10);
        st->index_bytes = strtoll(PQgetvalue(r, i, 9), NULL, 10);
        rc = st->group(st->ctx, &g);
    }
    PQclear(r);
    if (!rc && st->index_bytes < 0) { /* no entries: the size alone */
        r = run(be, "SELECT pg_total_relation_size('blobstore_entries')", 0, NULL, NULL, NULL, &rc);
        if (r && PQntuples(r) == 1)
            st->index_bytes = strtoll(PQgetvalue(r, 0, 0), NULL, 10);
        PQclear(r);
    }
    return rc;
}

/* BS__META_CTL_REPLACE in one round trip: ST_REPLACE_NO_BLOB or
 * ST_REPLACE_NEW alone, which take the lock; ST_REPLACE with ST_LOCK sent
 * before it in pipeline mode, then a sync. Without BEGIN, the statements up
 * to the sync (or the one statement) are one implicit transaction, which
 * commits at its end (or, if one failed, rolls back): the lock is held until
 * then, as in begin(write) ... commit. */
static int replace_once(pg_backend *be, bs_meta_replace *q, int put, int *rows);

/* A connection found lost (a server restart, an idle timeout) is opened again
 * and the put sent once more: the upsert writes the same row again if the
 * first did commit after all, and the blob it then reports as replaced is
 * this put's own, which the store keeps. Not with no_overwrite: there a
 * repeat would call the first attempt's entry someone else's. */
static int pg_replace(pg_backend *be, bs_meta_replace *q)
{
    int put = q->no_overwrite ? ST_REPLACE_NEW : ST_REPLACE_NO_BLOB, rows = 0;
    int rc = replace_once(be, q, put, &rows);
    if (rc && rc != BLOBSTORE_EEXISTS && !q->no_overwrite && PQstatus(be->conn) != CONNECTION_OK &&
        reconnect(be) == 0)
        rc = replace_once(be, q, put, &rows);
    if (!rc && put == ST_REPLACE_NO_BLOB && rows == 0) { /* an entry with a blob: its name */
        rc = replace_once(be, q, ST_REPLACE, &rows);
        if (rc && PQstatus(be->conn) != CONNECTION_OK && reconnect(be) == 0)
            rc = replace_once(be, q, ST_REPLACE, &rows);
    }
    return rc;
}

static int replace_once(pg_backend *be, bs_meta_replace *q, int put, int *rows_out)
{
    if (be->in_tx)
        return bs__error(BLOBSTORE_EUNSUPPORTED, "postgresql: a replace inside a transaction");
    int rc = reconnect(be), lock = put == ST_REPLACE; /* ST_LOCK first */
    PGresult *res = NULL;
    for (int i = !lock; !rc && i < 2; i++) {
        int st = i ? put : ST_LOCK;
        if ((res = prepare(be, st)) != NULL && PQstatus(be->conn) != CONNECTION_OK &&
            reconnect(be) == 0) { /* a connection lost while idle: once more */
            PQclear(res);
            i = lock ? -1 : 0;
            continue;
        }
        if (res) {
            rc = pg_error(be, res, st_sql[st]);
            PQclear(res);
        }
    }
    if (rc)
        return rc;
    put_params p;
    put_params_fill(&p, q->e);
    char slock[16], sput[16];
    snprintf(slock, sizeof(slock), "bs_%d", ST_LOCK);
    snprintf(sput, sizeof(sput), "bs_%d", put);
    PGconn *c = be->conn;
    char *old = NULL;
    int rows = 0;
    if (!lock) {
        res = PQexecPrepared(c, sput, 14, p.vals, p.lens, p.fmts, 0);
        ExecStatusType s = res ? PQresultStatus(res) : PGRES_FATAL_ERROR;
        if (s != PGRES_COMMAND_OK)
            rc = pg_error(be, res, st_sql[put]);
        else /* "INSERT 0 1": the rows written */
            rows = atoi(PQcmdTuples(res));
        PQclear(res);
    } else {
        if (!PQenterPipelineMode(c))
            return pg_error(be, NULL, "pipeline mode");
        int sent = PQsendQueryPrepared(c, slock, 0, NULL, NULL, NULL, 0) &&
                   PQsendQueryPrepared(c, sput, 14, p.vals, p.lens, p.fmts, 0) && PQpipelineSync(c);
        if (!sent)
            rc = pg_error(be, NULL, "a pipelined put");
        for (int i = 0; !rc && i < 2; i++) {
            res = PQgetResult(c);
            ExecStatusType s = res ? PQresultStatus(res) : PGRES_FATAL_ERROR;
            if (s != PGRES_COMMAND_OK && s != PGRES_TUPLES_OK) {
                rc = pg_error(be, res, st_sql[i ? put : ST_LOCK]);
            } else if (i == 1 && (rows = PQntuples(res)) == 1 && !PQgetisnull(res, 0, 0) &&
                       !(old = bs__strdup(PQgetvalue(res, 0, 0)))) {
                rc = BLOBSTORE_ENOMEM;
            }
            PQclear(res);
            if (res) /* the end of this statement's results */
                PQclear(PQgetResult(c));
            if (!res || PQstatus(c) != CONNECTION_OK)
                break;
        }
        /* the rest, up to the sync's own result (which commits) */
        for (int i = 0; i < 8 && PQstatus(c) == CONNECTION_OK; i++) {
            res = PQgetResult(c);
            ExecStatusType s = res ? PQresultStatus(res) : PGRES_EMPTY_QUERY;
            if (!rc && s == PGRES_FATAL_ERROR)
                rc = pg_error(be, res, "commit");
            PQclear(res);
            if (s == PGRES_PIPELINE_SYNC)
                break;
        }
        if (!PQexitPipelineMode(c) && !rc)
            rc = pg_error(be, NULL, "pipeline mode");
    }
    if (!rc && q->no_overwrite && rows == 0)
        rc = bs__error(BLOBSTORE_EEXISTS, "an entry with key \"%s\" exists (no overwrite)",
                       q->e->key);
    if (rc)
        free(old);
    else
        q->old_blob = old;
    *rows_out = rows;
    return rc;
}

static int pg_ctl(blobstore_meta_backend *pbe, int op, void *arg)
{
    pg_backend *be = (pg_backend *)pbe;
    int rc;
    if (op == BLOBSTORE_META_CTL_SETTINGS_GET) {
        char **out = arg;
        *out = NULL;
        PGresult *r = run(be, "SELECT settings FROM blobstore_settings WHERE id = 1", 0, NULL, NULL,
                          NULL, &rc);
        if (r && PQntuples(r) == 1 && !(*out = bs__strdup(PQgetvalue(r, 0, 0))))
            rc = BLOBSTORE_ENOMEM;
        PQclear(r);
        return rc;
    }
    if (op == BLOBSTORE_META_CTL_SETTINGS_INIT) {
        const char *vals[1] = {arg};
        PGresult *r = run(be,
                          "INSERT INTO blobstore_settings VALUES (1, $1) ON CONFLICT (id) DO "
                          "NOTHING",
                          1, vals, NULL, NULL, &rc);
        PQclear(r);
        return rc;
    }
    if (op == BS__META_CTL_REPLACE)
        return pg_replace(be, arg);
    if (op == BLOBSTORE_META_CTL_BLOB_REFS) {
        blobstore_meta_blob_refs *q = arg;
        const char *vals[1] = {q->blob};
        PGresult *r = run_st(be, ST_REFS, vals, NULL, NULL, 0, &rc);
        if (r && PQntuples(r) == 1)
            q->count = strtoull(PQgetvalue(r, 0, 0), NULL, 10);
        PQclear(r);
        return rc;
    }
    return bs__error(BLOBSTORE_EUNSUPPORTED, "postgresql: unknown ctl operation %d", op);
}

static void pg_free(blobstore_meta_backend *pbe)
{
    pg_backend *be = (pg_backend *)pbe;
    if (!be)
        return;
    if (be->in_tx == 2)
        exec0(be, "ROLLBACK");
    PQfinish(be->conn);
    free(be->conninfo);
    free(be);
}

static int migrate(pg_backend *be)
{
    int rc = exec0(be, "BEGIN");
    if (!rc)
        rc = exec0(be, "SELECT pg_advisory_xact_lock(" WRITE_LOCK ")");
    if (!rc)
        rc = exec0(be, "CREATE TABLE IF NOT EXISTS blobstore_schema(version integer NOT NULL)");
    PGresult *r =
        rc ? NULL : run(be, "SELECT max(version) FROM blobstore_schema", 0, NULL, NULL, NULL, &rc);
    int version = r && !PQgetisnull(r, 0, 0) ? atoi(PQgetvalue(r, 0, 0)) : 0;
    PQclear(r);
    if (!rc && version > SCHEMA_VERSION)
        rc = bs__error(BLOBSTORE_EUNSUPPORTED,
                       "postgresql: schema version %d is newer than this library's %d", version,
                       SCHEMA_VERSION);
    if (!rc && version < 1) { /* migration 1: the entries table */
        rc = exec0(be, "CREATE TABLE IF NOT EXISTS blobstore_entries("
                       " key text COLLATE \"C\" PRIMARY KEY, blob text, format text NOT NULL,"
                       " compression text NOT NULL, content_hash text NOT NULL,"
                       " created_at text, updated_at text, metadata jsonb NOT NULL,"
                       " metadata_text text NOT NULL, info text, size bigint NOT NULL,"
                       " file_size bigint NOT NULL, raw boolean NOT NULL, data bytea)");
        if (!rc)
            rc = exec0(be, "CREATE INDEX IF NOT EXISTS blobstore_entries_metadata ON "
                           "blobstore_entries USING gin (metadata jsonb_path_ops)");
        if (!rc)
            rc = exec0(be, "INSERT INTO blobstore_schema VALUES (1)");
    }
    if (!rc && version < 2) { /* migration 2: the store's settings, shared by all machines */
        rc = exec0(be, "CREATE TABLE IF NOT EXISTS blobstore_settings("
                       " id integer PRIMARY KEY CHECK (id = 1), settings text NOT NULL)");
        if (!rc)
            rc = exec0(be, "INSERT INTO blobstore_schema VALUES (2)");
    }
    /* migration 3: entries by blob (content-addressed sharing); only the
     * entries that have a blob (an inline value has none, and a put of one
     * would otherwise insert a NULL into this index too). Migration 4 makes
     * version 3's index of every entry partial. */
    if (!rc && version < 4) {
        if (version == 3)
            rc = exec0(be, "DROP INDEX IF EXISTS blobstore_entries_blob");
        if (!rc)
            rc = exec0(be, "CREATE INDEX IF NOT EXISTS blobstore_entries_blob ON "
                           "blobstore_entries (blob) WHERE blob IS NOT NULL");
        if (!rc && version < 3)
            rc = exec0(be, "INSERT INTO blobstore_schema VALUES (3)");
        if (!rc)
            rc = exec0(be, "INSERT INTO blobstore_schema VALUES (4)");
    }
    /* migration 5: inline values may be compact frames; nothing to change
     * in the tables, the version alone keeps older libraries out */
    if (!rc && version < 5)
        rc = exec0(be, "INSERT INTO blobstore_schema VALUES (5)");
    if (rc)
        exec0(be, "ROLLBACK");
    else
        rc = exec0(be, "COMMIT");
    return rc;
}

int bs__module_meta_new(blobstore_meta_backend **out, const char *conninfo)
{
    if (!out || !conninfo)
        return bs__error(BLOBSTORE_EINVAL, "postgresql backend needs a connection string");
    pg_backend *be = bs__calloc(1, sizeof(*be));
    if (!be)
        return BLOBSTORE_ENOMEM;
    be->conninfo = bs__strdup(conninfo);
    be->conn = PQconnectdb(conninfo);
    int rc = !be->conninfo ? BLOBSTORE_ENOMEM : 0;
    if (!rc && PQstatus(be->conn) != CONNECTION_OK)
        rc = bs__error(BLOBSTORE_EIO, "postgresql: cannot connect: %s", PQerrorMessage(be->conn));
    if (!rc)
        rc = exec0(be, "SET client_min_messages = warning");
    if (!rc)
        rc = migrate(be);
    if (rc) {
        pg_free(&be->parent);
        return rc;
    }
    be->parent.version = BLOBSTORE_META_BACKEND_VERSION;
    be->parent.flags = BLOBSTORE_META_INLINE | BS__META_COMPACT_INLINE; /* schema 5 */
    be->parent.begin = pg_begin;
    be->parent.commit = pg_commit;
    be->parent.rollback = pg_rollback;
    be->parent.get = pg_get;
    be->parent.put = pg_put;
    be->parent.remove = pg_remove;
    be->parent.iterate = pg_iterate;
    be->parent.iterate_filtered = pg_iterate_filtered;
    be->parent.create_index = pg_create_index;
    be->parent.stats = pg_stats;
    be->parent.ctl = pg_ctl;
    be->parent.free = pg_free;
    *out = &be->parent;
    return 0;
}
