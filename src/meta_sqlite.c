/*
 * meta_sqlite.c - the SQLite metadata backend (cache_metadata.db).
 *
 * One row per entry in a WITHOUT ROWID table keyed by the key (BINARY
 * collation, so key order is byte order and prefix scans are index ranges).
 * The user's metadata is kept verbatim as JSON text, so it round-trips
 * exactly and SQLite's JSON functions can filter on it. WAL journal; a
 * durable backend commits with synchronous=FULL, a relaxed one with NORMAL.
 * Small blobs may be kept inline in the `data` column. The schema version is
 * recorded in blobstore_info and checked on open. One index besides the
 * key: entries_blob (the entries sharing a blob, content addressing), partial:
 * only entries with a blob are in it. (entries_stats, a covering index of what
 * blobstore_stats() sums, made every put write a second b-tree page; it is
 * dropped at the first writable open.)
 *
 * Every row carries a checksum (rowsum: XXH3-64 over all its fields but the
 * inline data, which is a checksummed frame of its own whose content hash
 * the row holds), checked on every read of the row and by verify: a row
 * changed by anything but this backend reads as damage, never as another
 * value (and never as absence). Stores of schema version 1 (no rowsum) are
 * given the column and their checksums at the first writable open; a
 * read-only open reads them unchecked.
 *
 * Schema version 3 (issue 16): a value kept inline may be a compact frame
 * (bs__inline_encode: 10 bytes beside the stored bytes, the row holding its
 * size and hash) instead of a full frame (116 bytes); rows of version 2 keep
 * their full frames and read as before. The version is raised at the first
 * writable open, so that a library that reads full frames only refuses the
 * store instead of reading compact frames as damage.
 *
 * Schema version 4 (issue 16): a second checksum, getsum, over just the
 * fields a get of the value reads (key, blob, format, content_hash, info,
 * size, raw; the inline data checks itself against content_hash and size).
 * A get selects those columns only and checks getsum: a changed field it
 * returns or decodes by is still damage, and it no longer pays for the
 * columns it does not use (SQLite's cost of a row read grows with the
 * columns read: 14 columns ran at ~0.79 of a two-column table's, these 8 at
 * ~0.88). Every other read of a row (get_metadata, list, a put's read of
 * the row it replaces, verify) checks both sums. A row without getsum is
 * read whole by a get too, its rowsum checked: rows put by a library before
 * schema 4 that had the store open when it was upgraded, and rows already
 * damaged at the upgrade. Older stores get the column at the first writable
 * open, filled for each row whose rowsum holds; a read-only open of one reads
 * rows whole with rowsum, as before; older libraries refuse version 4.
 */
#include "internal.h"

#include <errno.h>

#include <jansson.h>
#include <sqlite3.h>
#include <sys/stat.h>
#include <xxhash.h>

#define SCHEMA_VERSION 4
#define STR_(x)        #x
#define STR(x)         STR_(x)
#define BLOB_INDEX                                                                                 \
    "CREATE INDEX IF NOT EXISTS entries_blob ON entries(blob) WHERE blob IS NOT NULL;"
#define QUICK_CHECK_MAX ((off_t)16 << 20)

/* A put's replacement of an existing row (sq_replace). */
struct sq_rep {
    int no_overwrite;
    char *old_blob; /* the replaced row's blob (malloc'd), or NULL */
    int rc;         /* bs_replaced()'s error, its message set; or 0 */
};

typedef struct {
    blobstore_meta_backend parent;
    sqlite3 *db;
    char *path;
    int readonly;
    int has_sum;    /* the entries table has its rowsum column (schema 2) */
    int has_getsum; /* ... and its getsum column (schema 4) */
    sqlite3_stmt *get, *view, *put, *upsert, *del, *scan_all, *scan_from, *scan_range;
    sqlite3_stmt *begin_w, *commit, *rollback, *data_version;
    int in_tx;          /* 1: read (autocommit statements), 2: write transaction */
    struct sq_rep *rep; /* the replace running (sq_replace), for bs_replaced() */
} sq_backend;

static int sq_error(sq_backend *be, int rc, const char *what)
{
    int code = BLOBSTORE_EIO;
    if ((rc & 0xff) == SQLITE_FULL || (be->db && sqlite3_system_errno(be->db) == ENOSPC))
        bs__nospace_note();
    if (rc == SQLITE_CORRUPT || rc == SQLITE_NOTADB)
        code = BLOBSTORE_ECORRUPT;
    else if (rc == SQLITE_NOMEM)
        code = BLOBSTORE_ENOMEM;
    if (code == BLOBSTORE_ECORRUPT)
        return bs__error(code,
                         "the index is damaged: %s: %s: %s (blobstore verify --rebuild-index "
                         "rebuilds it from the blobs)",
                         be->path, what, be->db ? sqlite3_errmsg(be->db) : sqlite3_errstr(rc));
    return bs__error(code, "%s: %s: %s", be->path, what,
                     be->db ? sqlite3_errmsg(be->db) : sqlite3_errstr(rc));
}

static int exec(sq_backend *be, const char *sql)
{
    int rc = sqlite3_exec(be->db, sql, NULL, NULL, NULL);
    return rc == SQLITE_OK ? 0 : sq_error(be, rc, sql);
}

static int prepare(sq_backend *be, sqlite3_stmt **st, const char *sql)
{
    int rc = sqlite3_prepare_v3(be->db, sql, -1, SQLITE_PREPARE_PERSISTENT, st, NULL);
    return rc == SQLITE_OK ? 0 : sq_error(be, rc, "prepare");
}

static int step_once(sq_backend *be, sqlite3_stmt *st, const char *what)
{
    int rc = sqlite3_step(st);
    sqlite3_reset(st);
    return rc == SQLITE_DONE ? 0 : sq_error(be, rc, what);
}

/* A read "transaction" runs each statement on its own: every read the store
 * makes is a single statement, which SQLite already runs on one snapshot. */
static int sq_begin(blobstore_meta_backend *pbe, int write)
{
    sq_backend *be = (sq_backend *)pbe;
    int rc = write ? step_once(be, be->begin_w, "BEGIN IMMEDIATE") : 0;
    if (!rc)
        be->in_tx = write ? 2 : 1;
    return rc;
}

static int sq_commit(blobstore_meta_backend *pbe)
{
    sq_backend *be = (sq_backend *)pbe;
    int rc = 0;
    if (be->in_tx == 2 && (rc = step_once(be, be->commit, "COMMIT")) != 0) {
        int full = (sqlite3_errcode(be->db) & 0xff) == SQLITE_FULL;
        sqlite3_exec(be->db, "ROLLBACK", NULL, NULL, NULL);
        /* Disk full: fold the WAL into the database, so that a retry (a
         * delete, to free space) writes the WAL again from its start, in
         * space the file already has. */
        if (full)
            sqlite3_wal_checkpoint_v2(be->db, NULL, SQLITE_CHECKPOINT_PASSIVE, NULL, NULL);
    }
    be->in_tx = 0;
    return rc;
}

static int sq_rollback(blobstore_meta_backend *pbe)
{
    sq_backend *be = (sq_backend *)pbe;
    int write = be->in_tx == 2;
    be->in_tx = 0;
    return write ? step_once(be, be->rollback, "ROLLBACK") : 0;
}

#define FIELDS                                                                                     \
    "key, blob, format, compression, content_hash, created_at, updated_at, metadata, info, size, " \
    "file_size, raw"
#define COLS FIELDS ", rowsum, getsum"
/* a store of schema version 3 or less opened read-only: no getsum to read;
 * of schema version 1: no checksums at all */
#define COLS_NO_GETSUM FIELDS ", rowsum, NULL"
#define COLS_NO_SUM    FIELDS ", NULL, NULL"
#define COL_SUM        12
#define COL_GETSUM     13
#define COL_DATA       14
/* What a get reads (sq_view, lean): the columns getsum covers but the key,
 * which the get looked the row up by, then the data. */
#define VIEW_COLS "blob, format, content_hash, info, size, raw, getsum, data"

static const char *cols(const sq_backend *be)
{
    return be->has_getsum ? COLS : be->has_sum ? COLS_NO_GETSUM : COLS_NO_SUM;
}

/* The row's checksum: every field in the order of FIELDS, each hashed with
 * XXH3-64 seeded with the hash so far and its length (NULL: length 0 and
 * one less in the seed than empty text), numbers as 8 bytes little endian. */
static uint64_t sum_text(uint64_t h, const char *s)
{
    size_t n = s ? strlen(s) : 0;
    return XXH3_64bits_withSeed(s ? s : "", n, h + n + (s != NULL));
}

static uint64_t sum_u64(uint64_t h, uint64_t v)
{
    unsigned char b[8];
    for (int i = 0; i < 8; i++)
        b[i] = (unsigned char)(v >> (8 * i));
    return XXH3_64bits_withSeed(b, 8, h);
}

static sqlite3_int64 row_sum(const blobstore_entry *e)
{
    const char *texts[] = {
        e->key,          e->blob,       e->format,     e->compression,
        e->content_hash, e->created_at, e->updated_at, e->metadata ? e->metadata : "{}",
        e->info};
    uint64_t h = 0x626c6f6273746f72ull; /* "blobstor" */
    for (size_t i = 0; i < sizeof(texts) / sizeof(texts[0]); i++)
        h = sum_text(h, texts[i]);
    h = sum_u64(h, e->size);
    h = sum_u64(h, e->file_size);
    h = sum_u64(h, (uint64_t)(int64_t)e->raw);
    return (sqlite3_int64)h;
}

/* The get's checksum: one XXH3-64 (seed "blobget!") over key, blob, format,
 * content_hash and info, each as 4 bytes little endian of its length + 1
 * (0: NULL) and its bytes, then size and raw as 8 bytes little endian each
 * (one call: hashed field by field as row_sum does, it cost a small get
 * ~2%). 0 or BLOBSTORE_ENOMEM. */
static int get_sum(const blobstore_entry *e, sqlite3_int64 *out)
{
    const char *texts[] = {e->key, e->blob, e->format, e->content_hash, e->info};
    size_t lens[5], need = 16;
    for (int i = 0; i < 5; i++)
        need += 4 + (lens[i] = texts[i] ? strlen(texts[i]) : 0);
    unsigned char stack[512], *buf = need <= sizeof(stack) ? stack : bs__malloc(need), *q = buf;
    if (!buf)
        return BLOBSTORE_ENOMEM;
    for (int i = 0; i < 5; i++) {
        uint32_t l = texts[i] ? (uint32_t)lens[i] + 1 : 0;
        for (int k = 0; k < 4; k++)
            *q++ = (unsigned char)(l >> (8 * k));
        if (lens[i])
            q = (unsigned char *)memcpy(q, texts[i], lens[i]) + lens[i];
    }
    uint64_t nums[2] = {e->size, (uint64_t)(int64_t)e->raw};
    for (int i = 0; i < 2; i++)
        for (int k = 0; k < 8; k++)
            *q++ = (unsigned char)(nums[i] >> (8 * k));
    *out = (sqlite3_int64)XXH3_64bits_withSeed(buf, need, 0x626c6f6267657421ull /* "blobget!" */);
    if (buf != stack)
        free(buf);
    return 0;
}

/* 1 if a checksum column (its type and value) does not hold sum */
static int sum_differs(int type, sqlite3_int64 value, sqlite3_int64 sum)
{
    return type != SQLITE_INTEGER || value != sum;
}

static int row_damaged(const sq_backend *be, const char *key)
{
    return bs__error(BLOBSTORE_ECORRUPT,
                     "the index is damaged: %s: the row of key \"%s\" fails its checksum "
                     "(blobstore verify --rebuild-index rebuilds it from the blobs)",
                     be->path, key ? key : "(NULL)");
}

/* 0 if a getsum column (its type and value) holds e's getsum; else the row
 * is damaged, or get_sum's error */
static int getsum_check(const sq_backend *be, const blobstore_entry *e, int type,
                        sqlite3_int64 value)
{
    sqlite3_int64 g;
    int rc = get_sum(e, &g);
    return rc ? rc : sum_differs(type, value, g) ? row_damaged(be, e->key) : 0;
}

/* A whole row's checks, e its fields, then the type and value of its rowsum
 * and getsum columns: both checksums (a row without getsum, as a library
 * before schema 4 writes it: its rowsum covers every field) and the fields
 * that may not be NULL. For the row read (row_view) and for the row a put's
 * upsert replaces (bs_replaced). */
static int row_check(const sq_backend *be, const blobstore_entry *e, int sum_type,
                     sqlite3_int64 sum, int getsum_type, sqlite3_int64 getsum)
{
    if (be->has_sum && sum_differs(sum_type, sum, row_sum(e)))
        return row_damaged(be, e->key);
    int rc =
        be->has_getsum && getsum_type != SQLITE_NULL ? getsum_check(be, e, getsum_type, getsum) : 0;
    if (rc)
        return rc;
    if (!e->key || !e->format || !e->metadata)
        return bs__error(BLOBSTORE_ECORRUPT, "the index is damaged: %s: a row has NULL fields",
                         be->path);
    return 0;
}

static char *col_text(sqlite3_stmt *st, int i, int *oom)
{
    const unsigned char *t = sqlite3_column_text(st, i);
    if (!t)
        return NULL;
    char *s = bs__strndup((const char *)t, (size_t)sqlite3_column_bytes(st, i));
    if (!s)
        *oom = 1;
    return s;
}

/* The current row (columns as in COLS, then data if with_data) as an entry
 * whose strings and data point into the statement's column memory, valid
 * until it steps or is reset; the row's checksums checked (the column texts
 * are NUL-terminated, as their copies are). */
static int row_view(sq_backend *be, sqlite3_stmt *st, blobstore_entry *e, int with_data)
{
    char **texts[] = {&e->key,         &e->blob,         &e->format,
                      &e->compression, &e->content_hash, &e->created_at,
                      &e->updated_at,  &e->metadata,     &e->info};
    memset(e, 0, sizeof(*e));
    for (int i = 0; i < 9; i++)
        *texts[i] = (char *)sqlite3_column_text(st, i);
    e->size = (uint64_t)sqlite3_column_int64(st, 9);
    e->file_size = (uint64_t)sqlite3_column_int64(st, 10);
    e->raw = sqlite3_column_int(st, 11);
    if (with_data && sqlite3_column_type(st, COL_DATA) == SQLITE_BLOB) {
        e->inline_len = (size_t)sqlite3_column_bytes(st, COL_DATA);
        e->inline_data = (void *)sqlite3_column_blob(st, COL_DATA);
    }
    if (sqlite3_errcode(be->db) == SQLITE_NOMEM)
        return BLOBSTORE_ENOMEM;
    return row_check(be, e, sqlite3_column_type(st, COL_SUM), sqlite3_column_int64(st, COL_SUM),
                     sqlite3_column_type(st, COL_GETSUM), sqlite3_column_int64(st, COL_GETSUM));
}

/* Fill e (owned) from the current row: row_view's, copied. */
static int row_to_entry(sq_backend *be, sqlite3_stmt *st, blobstore_entry *e, int with_data)
{
    blobstore_entry v;
    int rc = row_view(be, st, &v, with_data);
    if (rc) {
        memset(e, 0, sizeof(*e));
        return rc;
    }
    return blobstore_entry_copy(e, &v);
}

/* The lean row of a get (VIEW_COLS): the fields getsum covers, the key the
 * caller's (the row was found by it), the others NULL or 0. */
static int lean_view(sq_backend *be, sqlite3_stmt *st, const char *key, blobstore_entry *e)
{
    char **texts[] = {&e->blob, &e->format, &e->content_hash, &e->info};
    memset(e, 0, sizeof(*e));
    e->key = (char *)key;
    for (int i = 0; i < 4; i++)
        *texts[i] = (char *)sqlite3_column_text(st, i);
    e->size = (uint64_t)sqlite3_column_int64(st, 4);
    e->raw = sqlite3_column_int(st, 5);
    if (sqlite3_column_type(st, 7) == SQLITE_BLOB) {
        e->inline_len = (size_t)sqlite3_column_bytes(st, 7);
        e->inline_data = (void *)sqlite3_column_blob(st, 7);
    }
    if (sqlite3_errcode(be->db) == SQLITE_NOMEM)
        return BLOBSTORE_ENOMEM;
    int rc = getsum_check(be, e, sqlite3_column_type(st, 6), /* (not NULL: sq_view) */
                          sqlite3_column_int64(st, 6));
    if (rc)
        return rc;
    if (!e->format || !e->content_hash)
        return bs__error(BLOBSTORE_ECORRUPT, "the index is damaged: %s: a row has NULL fields",
                         be->path);
    return 0;
}

/* BS__META_CTL_VIEW: the get statement's row handed to the reader in place:
 * no copy of its fields (a small get's allocations were most of its cost
 * after SQLite's own); lean: only the columns a get decodes by. A row
 * without getsum (written by a library before schema 4 that had the store
 * open when it was upgraded, or one damaged before the upgrade) is read
 * whole, its rowsum checked. */
static int sq_view(sq_backend *be, bs_meta_view *q)
{
    int lean = q->lean && be->view;
    sqlite3_stmt *st = lean ? be->view : be->get;
    sqlite3_bind_text(st, 1, q->key, -1, SQLITE_STATIC);
    int rc = sqlite3_step(st), ret;
    if (rc == SQLITE_ROW && lean && sqlite3_column_type(st, 6) == SQLITE_NULL) {
        sqlite3_reset(st);
        lean = 0;
        st = be->get;
        sqlite3_bind_text(st, 1, q->key, -1, SQLITE_STATIC);
        rc = sqlite3_step(st);
    }
    if (rc == SQLITE_ROW) {
        blobstore_entry e;
        ret = lean ? lean_view(be, st, q->key, &e) : row_view(be, st, &e, 1);
        if (!ret)
            ret = q->fn(q->ctx, &e);
    } else if (rc == SQLITE_DONE) {
        ret = q->quiet_missing ? BLOBSTORE_ENOTFOUND
                               : bs__error(BLOBSTORE_ENOTFOUND, "no entry with key \"%s\"", q->key);
    } else {
        ret = sq_error(be, rc, "get");
    }
    sqlite3_reset(st); /* (its key binding is replaced by the next get's) */
    return ret;
}

static int sq_get(blobstore_meta_backend *pbe, const char *key, blobstore_entry *out)
{
    sq_backend *be = (sq_backend *)pbe;
    sqlite3_stmt *st = be->get;
    sqlite3_bind_text(st, 1, key, -1, SQLITE_STATIC);
    int rc = sqlite3_step(st), ret;
    if (rc == SQLITE_ROW)
        ret = row_to_entry(be, st, out, 1);
    else if (rc == SQLITE_DONE)
        ret = bs__error(BLOBSTORE_ENOTFOUND, "no entry with key \"%s\"", key);
    else
        ret = sq_error(be, rc, "get");
    sqlite3_reset(st);
    sqlite3_clear_bindings(st);
    return ret;
}

static void bind_text(sqlite3_stmt *st, int i, const char *s)
{
    if (s)
        sqlite3_bind_text(st, i, s, -1, SQLITE_STATIC);
    else
        sqlite3_bind_null(st, i);
}

/* Write e's row by st (be->put or be->upsert: COLS, data). */
static int put_row(sq_backend *be, sqlite3_stmt *st, const blobstore_entry *e)
{
    sqlite3_int64 g = 0;
    if (get_sum(e, &g))
        return BLOBSTORE_ENOMEM;
    bind_text(st, 1, e->key);
    bind_text(st, 2, e->blob);
    bind_text(st, 3, e->format);
    bind_text(st, 4, e->compression);
    bind_text(st, 5, e->content_hash);
    bind_text(st, 6, e->created_at);
    bind_text(st, 7, e->updated_at);
    bind_text(st, 8, e->metadata ? e->metadata : "{}");
    bind_text(st, 9, e->info);
    sqlite3_bind_int64(st, 10, (sqlite3_int64)e->size);
    sqlite3_bind_int64(st, 11, (sqlite3_int64)e->file_size);
    sqlite3_bind_int(st, 12, e->raw);
    sqlite3_bind_int64(st, 13, row_sum(e));
    sqlite3_bind_int64(st, 14, g);
    if (e->inline_data)
        sqlite3_bind_blob64(st, 15, e->inline_data, e->inline_len, SQLITE_STATIC);
    else
        sqlite3_bind_null(st, 15);
    int rc = sqlite3_step(st);
    int ret = rc == SQLITE_DONE        ? 0
              : be->rep && be->rep->rc ? be->rep->rc /* bs_replaced()'s, its message set */
                                       : sq_error(be, rc, "put");
    sqlite3_reset(st); /* (all 15 bindings are replaced by the next put's) */
    return ret;
}

static int sq_put(blobstore_meta_backend *pbe, const blobstore_entry *e)
{
    sq_backend *be = (sq_backend *)pbe;
    if (!be->put)
        return bs__error(BLOBSTORE_EREADONLY, "%s is open read-only", be->path);
    return put_row(be, be->put, e);
}

/* An entry of the row's FIELDS as SQL function arguments v[0..11], its
 * strings the values' (valid during the call). 0, or 1 if a text could not
 * be had (out of memory). */
static int value_entry(sqlite3_value **v, blobstore_entry *e)
{
    char **texts[] = {&e->key,         &e->blob,         &e->format,
                      &e->compression, &e->content_hash, &e->created_at,
                      &e->updated_at,  &e->metadata,     &e->info};
    int oom = 0;
    memset(e, 0, sizeof(*e));
    for (int i = 0; i < 9; i++)
        if (!(*texts[i] = (char *)sqlite3_value_text(v[i])) &&
            sqlite3_value_type(v[i]) != SQLITE_NULL)
            oom = 1;
    e->size = (uint64_t)sqlite3_value_int64(v[9]);
    e->file_size = (uint64_t)sqlite3_value_int64(v[10]);
    e->raw = sqlite3_value_int(v[11]);
    return oom;
}

/* bs_replaced(FIELDS..., rowsum, getsum): the existing row a put's upsert
 * would replace, as the put's read of it checks it (row_view: both
 * checksums, the fields that may not be NULL) - 1 if it may be replaced,
 * its blob kept in be->rep; else an error that ends the statement, the
 * store's code and message in be->rep->rc (damage: BLOBSTORE_ECORRUPT;
 * no_overwrite: BLOBSTORE_EEXISTS). */
static void sql_replaced(sqlite3_context *cx, int argc, sqlite3_value **v)
{
    sq_backend *be = sqlite3_user_data(cx);
    struct sq_rep *r = be->rep;
    blobstore_entry e;
    (void)argc;
    int rc = 0;
    if (!r) {
        sqlite3_result_error(cx, "bs_replaced() outside a put", -1);
        return;
    }
    if (value_entry(v, &e))
        rc = BLOBSTORE_ENOMEM;
    else
        rc = row_check(be, &e, sqlite3_value_type(v[12]), sqlite3_value_int64(v[12]),
                       sqlite3_value_type(v[13]), sqlite3_value_int64(v[13]));
    if (!rc && r->no_overwrite)
        rc = bs__error(BLOBSTORE_EEXISTS, "an entry with key \"%s\" exists (no overwrite)", e.key);
    if (!rc && e.blob && !(r->old_blob = bs__strdup(e.blob)))
        rc = BLOBSTORE_ENOMEM;
    if (rc) {
        r->rc = rc;
        if (rc == BLOBSTORE_ENOMEM)
            sqlite3_result_error_nomem(cx);
        else
            sqlite3_result_error(cx, "bs_replaced", -1);
        return;
    }
    sqlite3_result_int(cx, 1);
}

/* BS__META_CTL_REPLACE: the store's steps (begin(write), the read of the
 * row replaced, put, commit) in one write transaction as before, the read
 * folded into the put: one upsert (be->upsert) inserts a new key's row -
 * a put of a new key, the common case, no longer looks the key up twice
 * (the read that found nothing was ~4% of a small relaxed put's samples) -
 * or updates the key's row where bs_replaced(), given the row, finds it
 * intact (both checksums, as the read of it checked them: a damaged row is
 * neither replaced nor its blob removed) and may replace it (no_overwrite),
 * keeping its blob's name for the store to remove. */
static int sq_replace(sq_backend *be, bs_meta_replace *q)
{
    q->old_blob = NULL;
    if (!be->upsert)
        return BLOBSTORE_EUNSUPPORTED; /* (read-only: the steps refuse it) */
    int rc = sq_begin(&be->parent, 1);
    if (rc)
        return rc;
    struct sq_rep r = {q->no_overwrite, NULL, 0};
    be->rep = &r;
    rc = put_row(be, be->upsert, q->e);
    be->rep = NULL;
    if (!rc) {
        rc = sq_commit(&be->parent);
    } else {
        bs_error_state es; /* (the rollback's own message must not replace the put's) */
        bs__error_state_capture(&es, rc);
        sq_rollback(&be->parent);
        rc = bs__error_state_restore(&es);
    }
    if (rc)
        free(r.old_blob);
    else
        q->old_blob = r.old_blob;
    return rc;
}

static int sq_remove(blobstore_meta_backend *pbe, const char *key)
{
    sq_backend *be = (sq_backend *)pbe;
    sqlite3_stmt *st = be->del;
    sqlite3_bind_text(st, 1, key, -1, SQLITE_STATIC);
    int rc = sqlite3_step(st);
    int ret = rc == SQLITE_DONE ? 0 : sq_error(be, rc, "delete");
    sqlite3_reset(st);
    sqlite3_clear_bindings(st);
    if (!ret && sqlite3_changes(be->db) == 0)
        ret = bs__error(BLOBSTORE_ENOTFOUND, "no entry with key \"%s\"", key);
    return ret;
}

/* The smallest string greater than every string starting with prefix, or
 * NULL if there is none (prefix of 0xFF bytes). */
static char *prefix_upper(const char *prefix)
{
    size_t n = strlen(prefix);
    while (n && (unsigned char)prefix[n - 1] == 0xFF)
        n--;
    if (!n)
        return NULL;
    char *u = bs__strndup(prefix, n);
    if (u)
        u[n - 1] = (char)((unsigned char)u[n - 1] + 1);
    return u;
}

static int sq_iterate(blobstore_meta_backend *pbe, const char *prefix, blobstore_entry_fn fn,
                      void *ctx)
{
    sq_backend *be = (sq_backend *)pbe;
    sqlite3_stmt *st;
    char *upper = NULL;
    if (!prefix || !*prefix) {
        st = be->scan_all;
    } else {
        upper = prefix_upper(prefix);
        st = upper ? be->scan_range : be->scan_from;
        sqlite3_bind_text(st, 1, prefix, -1, SQLITE_STATIC);
        if (upper)
            sqlite3_bind_text(st, 2, upper, -1, SQLITE_STATIC);
    }
    int ret = 0, rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        blobstore_entry e;
        if ((ret = row_to_entry(be, st, &e, 0)) != 0)
            break;
        ret = fn(ctx, &e);
        blobstore_entry_clear(&e);
        if (ret)
            break;
    }
    if (!ret && rc != SQLITE_DONE)
        ret = sq_error(be, rc, "scan");
    sqlite3_reset(st);
    sqlite3_clear_bindings(st);
    free(upper);
    return ret;
}

/* ---- filtered scans: a filter narrowed to SQL over an index ----
 *
 * The conditions SQLite can check with the same or looser meaning are turned
 * into SQL; every value is a bound parameter. A path is written into the SQL
 * text only when it was declared as an index, i.e. checked to be dotted
 * identifiers (bs__index_path_check), so that the expression matches the
 * index definition; other paths are bound parameters too. The store
 * re-checks every entry returned, so anything not translated is just
 * left out of the WHERE clause.
 */

typedef struct {
    bs_buf sql;
    struct sq_bind {
        int type; /* SQLITE_INTEGER, SQLITE_FLOAT, SQLITE_TEXT */
        sqlite3_int64 i;
        double d;
        char *s; /* owned */
    } binds[64];
    int nb;
    int oom;
} sq_query;

static void q_sql(sq_query *q, const char *text)
{
    if (bs__buf_append(&q->sql, text, strlen(text)))
        q->oom = 1;
}

static int q_bind_text(sq_query *q, const char *s, size_t n)
{
    if (q->nb == 64)
        return -1;
    char *c = bs__strndup(s, n);
    if (!c) {
        q->oom = 1;
        return -1;
    }
    q->binds[q->nb].type = SQLITE_TEXT;
    q->binds[q->nb++].s = c;
    q_sql(q, "?");
    return 0;
}

static int q_bind_value(sq_query *q, const json_t *v)
{
    if (q->nb == 64)
        return -1;
    struct sq_bind *b = &q->binds[q->nb];
    if (json_is_integer(v)) {
        b->type = SQLITE_INTEGER;
        b->i = json_integer_value(v);
    } else if (json_is_real(v)) {
        b->type = SQLITE_FLOAT;
        b->d = json_real_value(v);
    } else if (json_is_string(v)) {
        return q_bind_text(q, json_string_value(v), json_string_length(v));
    } else {
        return -1;
    }
    q->nb++;
    q_sql(q, "?");
    return 0;
}

static int scalar(const json_t *v)
{
    return json_is_number(v) || json_is_string(v);
}

static const char *const field_columns[][2] = {
    {"@key", "key"},
    {"@size", "size"},
    {"@file_size", "file_size"},
    {"@format", "format"},
    {"@compression", "compression"},
    {"@content_hash", "content_hash"},
    {"@created_at", "created_at"},
    {"@updated_at", "updated_at"},
};

/* Write the SQL expression for a path into q; 0 if it cannot be expressed. */
static int q_expr(sq_query *q, sq_backend *be, const char *path)
{
    if (path[0] == '@') {
        for (size_t i = 0; i < sizeof(field_columns) / sizeof(field_columns[0]); i++)
            if (strcmp(path, field_columns[i][0]) == 0) {
                q_sql(q, field_columns[i][1]);
                return 1;
            }
        return 0;
    }
    int indexed = 0;
    sqlite3_stmt *st;
    if (bs__index_path_check(path) == 0 &&
        sqlite3_prepare_v2(be->db, "SELECT 1 FROM blobstore_indexes WHERE path = ?1", -1, &st,
                           NULL) == SQLITE_OK) {
        sqlite3_bind_text(st, 1, path, -1, SQLITE_STATIC);
        indexed = sqlite3_step(st) == SQLITE_ROW;
        sqlite3_finalize(st);
    }
    bs__error_clear();
    if (indexed) { /* spelled exactly as in the index definition */
        q_sql(q, "json_extract(metadata, '$.");
        q_sql(q, path);
        q_sql(q, "')");
        return 1;
    }
    /* '$."seg"."seg"' as a bound parameter; segments with quotes are left to the store. */
    if (strchr(path, '"') || strchr(path, '\\'))
        return 0;
    bs_buf jp = {0};
    int bad = bs__buf_append(&jp, "$", 1);
    for (const char *seg = path; !bad;) {
        const char *dot = strchr(seg, '.');
        size_t n = dot ? (size_t)(dot - seg) : strlen(seg);
        bad |= bs__buf_append(&jp, ".\"", 2) || bs__buf_append(&jp, seg, n) ||
               bs__buf_append(&jp, "\"", 1);
        if (!dot)
            break;
        seg = dot + 1;
    }
    q_sql(q, "json_extract(metadata, ");
    int rc = bad ? -1 : q_bind_text(q, (const char *)jp.data, jp.len);
    q_sql(q, ")");
    bs__buf_free(&jp);
    if (bad)
        q->oom = 1;
    return rc == 0;
}

/* One condition "expr OP ?"; rolls the SQL back if it cannot be written. */
static void q_cond(sq_query *q, sq_backend *be, const char *path, const char *op, const json_t *v)
{
    size_t mark = q->sql.len;
    int nb = q->nb;
    q_sql(q, " AND ");
    if (!q_expr(q, be, path))
        goto undo;
    q_sql(q, op);
    if (json_is_array(v)) { /* IN (...) */
        q_sql(q, "(");
        for (size_t i = 0; i < json_array_size(v); i++) {
            if (i)
                q_sql(q, ", ");
            if (q_bind_value(q, json_array_get(v, i)) != 0)
                goto undo;
        }
        q_sql(q, ")");
    } else if (q_bind_value(q, v) != 0) {
        goto undo;
    }
    return;
undo:
    q->sql.len = mark;
    while (q->nb > nb)
        free(q->binds[--q->nb].s);
}

static void q_filter(sq_query *q, sq_backend *be, const json_t *filter)
{
    const char *k;
    json_t *v;
    json_object_foreach((json_t *)filter, k, v)
    {
        if (k[0] == '$')
            continue; /* $and/$or/$not: left to the store */
        if (!json_is_object(v) || !json_object_size(v)) {
            if (scalar(v))
                q_cond(q, be, k, " = ", v);
            continue;
        }
        const char *op;
        json_t *x;
        json_object_foreach(v, op, x)
        {
            if (op[0] != '$')
                break; /* a plain object: exact match on an object */
            if (!strcmp(op, "$eq") && scalar(x))
                q_cond(q, be, k, " = ", x);
            else if (!strcmp(op, "$gt") && scalar(x))
                q_cond(q, be, k, " > ", x);
            else if (!strcmp(op, "$gte") && scalar(x))
                q_cond(q, be, k, " >= ", x);
            else if (!strcmp(op, "$lt") && scalar(x))
                q_cond(q, be, k, " < ", x);
            else if (!strcmp(op, "$lte") && scalar(x))
                q_cond(q, be, k, " <= ", x);
            else if (!strcmp(op, "$prefix") && json_string_length(x) > 0) {
                char *upper = prefix_upper(json_string_value(x));
                q_cond(q, be, k, " >= ", x);
                if (upper) {
                    json_t *u = json_string(upper);
                    if (u)
                        q_cond(q, be, k, " < ", u);
                    json_decref(u);
                    free(upper);
                }
            } else if (!strcmp(op, "$in") && json_array_size(x) > 0 && json_array_size(x) <= 32) {
                int all = 1;
                for (size_t i = 0; i < json_array_size(x); i++)
                    all &= scalar(json_array_get(x, i));
                if (all)
                    q_cond(q, be, k, " IN ", x);
            }
        }
    }
}

static int sq_iterate_filtered(blobstore_meta_backend *pbe, const char *prefix, const char *filter,
                               blobstore_entry_fn fn, void *ctx)
{
    sq_backend *be = (sq_backend *)pbe;
    json_error_t err;
    json_t *f = json_loads(filter, 0, &err);
    if (!json_is_object(f)) {
        json_decref(f);
        return sq_iterate(pbe, prefix, fn, ctx);
    }
    sq_query q;
    memset(&q, 0, sizeof(q));
    q_sql(&q, "SELECT ");
    q_sql(&q, cols(be));
    q_sql(&q, " FROM entries WHERE 1");
    char *upper = NULL;
    if (prefix && *prefix) {
        q_sql(&q, " AND key >= ");
        q_bind_text(&q, prefix, strlen(prefix));
        if ((upper = prefix_upper(prefix)) != NULL) {
            q_sql(&q, " AND key < ");
            q_bind_text(&q, upper, strlen(upper));
        }
    }
    q_filter(&q, be, f);
    q_sql(&q, " ORDER BY key");
    bs__buf_append(&q.sql, "", 1);
    json_decref(f);
    free(upper);
    int ret = 0;
    sqlite3_stmt *st = NULL;
    if (q.oom || !q.sql.data) {
        ret = bs__error(BLOBSTORE_ENOMEM, "out of memory building a query");
    } else {
        int rc = sqlite3_prepare_v2(be->db, (const char *)q.sql.data, -1, &st, NULL);
        if (rc != SQLITE_OK)
            ret = sq_error(be, rc, "prepare query");
    }
    for (int i = 0; !ret && i < q.nb; i++) {
        struct sq_bind *b = &q.binds[i];
        if (b->type == SQLITE_INTEGER)
            sqlite3_bind_int64(st, i + 1, b->i);
        else if (b->type == SQLITE_FLOAT)
            sqlite3_bind_double(st, i + 1, b->d);
        else
            sqlite3_bind_text(st, i + 1, b->s, -1, SQLITE_STATIC);
    }
    int rc = SQLITE_DONE;
    while (!ret && (rc = sqlite3_step(st)) == SQLITE_ROW) {
        blobstore_entry e;
        if ((ret = row_to_entry(be, st, &e, 0)) != 0)
            break;
        ret = fn(ctx, &e);
        blobstore_entry_clear(&e);
    }
    if (!ret && rc != SQLITE_DONE)
        ret = sq_error(be, rc, "query");
    sqlite3_finalize(st);
    for (int i = 0; i < q.nb; i++)
        free(q.binds[i].s);
    bs__buf_free(&q.sql);
    return ret;
}

static int sq_create_index(blobstore_meta_backend *pbe, const char *path)
{
    sq_backend *be = (sq_backend *)pbe;
    int rc = bs__index_path_check(path);
    if (rc)
        return rc;
    char hex[2 * 200 + 1], *sql;
    bs__hex(hex, (const unsigned char *)path, strlen(path));
    size_t n = 2 * strlen(hex) + strlen(path) + 256;
    if (!(sql = bs__malloc(n)))
        return BLOBSTORE_ENOMEM;
    /* path is dotted identifiers (checked above): safe to spell out. */
    snprintf(sql, n,
             "BEGIN IMMEDIATE;"
             "CREATE INDEX IF NOT EXISTS \"bs_idx_%s\" ON entries(json_extract(metadata, '$.%s'));"
             "INSERT OR IGNORE INTO blobstore_indexes(path) VALUES ('%s');"
             "COMMIT;",
             hex, path, path);
    rc = exec(be, sql);
    if (rc)
        sqlite3_exec(be->db, "ROLLBACK", NULL, NULL, NULL);
    free(sql);
    return rc;
}

static void sq_free(blobstore_meta_backend *pbe)
{
    sq_backend *be = (sq_backend *)pbe;
    if (!be)
        return;
    if (be->in_tx == 2)
        sqlite3_exec(be->db, "ROLLBACK", NULL, NULL, NULL);
    sqlite3_finalize(be->begin_w);
    sqlite3_finalize(be->commit);
    sqlite3_finalize(be->rollback);
    sqlite3_finalize(be->data_version);
    sqlite3_finalize(be->get);
    sqlite3_finalize(be->view);
    sqlite3_finalize(be->put);
    sqlite3_finalize(be->upsert);
    sqlite3_finalize(be->del);
    sqlite3_finalize(be->scan_all);
    sqlite3_finalize(be->scan_from);
    sqlite3_finalize(be->scan_range);
    if (be->db) {
        /* The -wal file is kept (below, at open) but emptied, if no other
         * connection is reading, without waiting: a kept WAL would hold
         * valid copies of pages that later opens read instead of the
         * database file's (damage to the file would go unseen). */
        sqlite3_busy_timeout(be->db, 0);
        sqlite3_wal_checkpoint_v2(be->db, NULL, SQLITE_CHECKPOINT_TRUNCATE, NULL, NULL);
    }
    sqlite3_close(be->db);
    free(be->path);
    free(be);
}

/* PRAGMA quick_check: every page and row well-formed (O(size of the file),
 * without the cross-checks of integrity_check). */
static int quick_check(sq_backend *be)
{
    sqlite3_stmt *st;
    int rc = prepare(be, &st, "PRAGMA quick_check(5)");
    if (rc)
        return rc;
    char problems[512] = "";
    size_t used = 0;
    int ok = 1, r;
    while ((r = sqlite3_step(st)) == SQLITE_ROW) {
        const char *t = (const char *)sqlite3_column_text(st, 0);
        if (t && strcmp(t, "ok") == 0)
            continue;
        ok = 0;
        if (t && used + 3 < sizeof(problems))
            used += (size_t)snprintf(problems + used, sizeof(problems) - used, "%s%s",
                                     used ? "; " : "", t);
    }
    if (r != SQLITE_DONE)
        rc = sq_error(be, r, "PRAGMA quick_check");
    else if (!ok)
        rc = bs__error(BLOBSTORE_ECORRUPT,
                       "the index is damaged: %s fails PRAGMA quick_check: %s (blobstore verify "
                       "--rebuild-index rebuilds it from the blobs)",
                       be->path, problems);
    sqlite3_finalize(st);
    return rc;
}

/* Every row against its checksum; the damaged ones are named (up to 5). */
static int check_rows(sq_backend *be)
{
    if (!be->has_sum)
        return 0;
    sqlite3_stmt *st = be->scan_all;
    char bad[600] = "";
    size_t used = 0, nbad = 0;
    int rc, ret = 0;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        blobstore_entry e;
        int r = row_to_entry(be, st, &e, 0);
        if (r == BLOBSTORE_ENOMEM) {
            ret = r;
            break;
        }
        if (r == 0) {
            blobstore_entry_clear(&e);
            continue;
        }
        const char *k = (const char *)sqlite3_column_text(st, 0);
        if (nbad++ < 5 && used + 8 < sizeof(bad))
            used += (size_t)snprintf(bad + used, sizeof(bad) - used, "%s\"%.100s\"",
                                     used ? ", " : "", k ? k : "(NULL)");
    }
    if (!ret && rc != SQLITE_DONE)
        ret = sq_error(be, rc, "scan");
    sqlite3_reset(st);
    if (!ret && nbad)
        ret = bs__error(BLOBSTORE_ECORRUPT,
                        "the index is damaged: %s: %zu row%s fail%s %s checksum (key%s %s%s) "
                        "(blobstore verify --rebuild-index rebuilds it from the blobs)",
                        be->path, nbad, nbad == 1 ? "" : "s", nbad == 1 ? "s" : "",
                        nbad == 1 ? "its" : "their", nbad == 1 ? "" : "s", bad,
                        nbad > 5 ? ", ..." : "");
    return ret;
}

static int sq_ctl(blobstore_meta_backend *pbe, int op, void *arg)
{
    sq_backend *be = (sq_backend *)pbe;
    if (op == BLOBSTORE_META_CTL_CHECK) {
        int rc = quick_check(be);
        return rc ? rc : check_rows(be);
    }
    if (op == BS__META_CTL_VIEW)
        return sq_view(be, arg);
    if (op == BS__META_CTL_REPLACE)
        return sq_replace(be, arg);
    if (op == BLOBSTORE_META_CTL_DATA_VERSION) {
        sqlite3_stmt *st = be->data_version;
        int rc = sqlite3_step(st), ret = 0;
        if (rc == SQLITE_ROW)
            *(uint64_t *)arg = (uint64_t)sqlite3_column_int64(st, 0);
        else
            ret = sq_error(be, rc, "PRAGMA data_version");
        sqlite3_reset(st);
        return ret;
    }
    if (op == BLOBSTORE_META_CTL_BLOB_REFS) {
        blobstore_meta_blob_refs *q = arg;
        sqlite3_stmt *st;
        int ret = prepare(be, &st, "SELECT count(*) FROM entries WHERE blob = ?1");
        if (ret)
            return ret;
        sqlite3_bind_text(st, 1, q->blob, -1, SQLITE_STATIC);
        int rc = sqlite3_step(st);
        if (rc == SQLITE_ROW)
            q->count = (uint64_t)sqlite3_column_int64(st, 0);
        else
            ret = bs__error(BLOBSTORE_EIO, "sqlite: counting the entries of a blob failed");
        sqlite3_finalize(st);
        return ret;
    }
    return BLOBSTORE_EUNSUPPORTED;
}

/* stats: one scan of the table, aggregated here into the few (format,
 * compression) groups (a GROUP BY without an index sorts every row in a
 * temporary b-tree first: 3x slower; the covering index that avoided the
 * sort doubled the pages every put writes, and is gone: drop_stats_index);
 * then the shared blobs (a shared blob counts once, at the largest
 * file_size its entries record: entries that share a blob each framed their
 * own copy, with their own key in its record, and recorded its size). */
typedef struct {
    char *format, *compression; /* owned; NULL as in the row */
    int nf, nc;                 /* their lengths */
    blobstore_meta_group g;
} sq_group;

static int same_text(const char *a, int na, const unsigned char *b, int nb)
{
    if (!a || !b)
        return !a && !b;
    return na == nb && memcmp(a, b, (size_t)nb) == 0;
}

static int sq_stats_groups(sq_backend *be, blobstore_meta_stats *st)
{
    sqlite3_stmt *q;
    int ret = prepare(be, &q,
                      "SELECT format, compression, size, file_size, blob IS NOT NULL FROM entries");
    if (ret)
        return ret;
    sq_group *gs = NULL;
    size_t n = 0, last = 0;
    int rc;
    while (!ret && (rc = sqlite3_step(q)) == SQLITE_ROW) {
        const unsigned char *f = sqlite3_column_text(q, 0), *c = sqlite3_column_text(q, 1);
        int nf = sqlite3_column_bytes(q, 0), nc = sqlite3_column_bytes(q, 1);
        size_t i = last; /* rows of one group often come in runs */
        if (i >= n || !same_text(gs[i].format, gs[i].nf, f, nf) ||
            !same_text(gs[i].compression, gs[i].nc, c, nc))
            for (i = 0; i < n; i++)
                if (same_text(gs[i].format, gs[i].nf, f, nf) &&
                    same_text(gs[i].compression, gs[i].nc, c, nc))
                    break;
        if (i == n) {
            sq_group *g2 = bs__realloc(gs, (n + 1) * sizeof(*gs));
            if (!g2) {
                ret = BLOBSTORE_ENOMEM;
                break;
            }
            gs = g2;
            memset(&gs[n], 0, sizeof(gs[n]));
            int oom = 0;
            gs[n].format = col_text(q, 0, &oom);
            gs[n].compression = col_text(q, 1, &oom);
            gs[n].nf = nf;
            gs[n].nc = nc;
            n++;
            if (oom) {
                ret = BLOBSTORE_ENOMEM;
                break;
            }
        }
        last = i;
        blobstore_meta_group *g = &gs[i].g;
        uint64_t fsz = (uint64_t)sqlite3_column_int64(q, 3);
        g->entries++;
        g->size += (uint64_t)sqlite3_column_int64(q, 2);
        g->file_size += fsz;
        if (sqlite3_column_int(q, 4)) {
            g->blob_entries++;
            g->blob_file_size += fsz;
        }
    }
    if (!ret && rc != SQLITE_DONE)
        ret = sq_error(be, rc, "aggregating the entries");
    sqlite3_finalize(q);
    for (size_t i = 0; i < n; i++) {
        gs[i].g.format = gs[i].format;
        gs[i].g.compression = gs[i].compression;
        if (!ret)
            ret = st->group(st->ctx, &gs[i].g);
        free(gs[i].format);
        free(gs[i].compression);
    }
    free(gs);
    return ret;
}

static int sq_stats_run(sq_backend *be, blobstore_meta_stats *st)
{
    int ret = sq_stats_groups(be, st);
    if (ret)
        return ret;
    sqlite3_stmt *q;
    int rc;
    /* the shared blobs are found in the blob index alone (blob, key: no row
     * read); only their entries' rows are read */
    ret = prepare(be, &q,
                  "SELECT count(*) - 1, sum(file_size) - max(file_size) FROM entries"
                  " WHERE blob IN (SELECT blob FROM entries WHERE blob IS NOT NULL"
                  " GROUP BY blob HAVING count(*) > 1) GROUP BY blob");
    if (ret)
        return ret;
    while ((rc = sqlite3_step(q)) == SQLITE_ROW) {
        st->shared_entries += (uint64_t)sqlite3_column_int64(q, 0);
        st->shared_bytes += (uint64_t)sqlite3_column_int64(q, 1);
    }
    if (rc != SQLITE_DONE)
        ret = sq_error(be, rc, "counting shared blobs");
    sqlite3_finalize(q);
    return ret;
}

/* Both queries see one snapshot (a read "transaction" is autocommitted
 * statements otherwise). */
static int sq_stats(blobstore_meta_backend *pbe, blobstore_meta_stats *st)
{
    sq_backend *be = (sq_backend *)pbe;
    int own = be->in_tx != 2;
    int ret = own ? exec(be, "BEGIN") : 0;
    if (!ret)
        ret = sq_stats_run(be, st);
    if (own)
        sqlite3_exec(be->db, ret ? "ROLLBACK" : "COMMIT", NULL, NULL, NULL);
    return ret;
}

/* Give every row of a schema 1 store its checksum (in the open's write
 * transaction): the keys and sums are collected first, then written. */
static int fill_sums(sq_backend *be)
{
    sqlite3_stmt *st, *up = NULL;
    int ret = prepare(be, &st, "SELECT " FIELDS " FROM entries");
    if (ret)
        return ret;
    char **keys = NULL;
    sqlite3_int64 *sums = NULL;
    size_t n = 0, cap = 0;
    int rc;
    while (!ret && (rc = sqlite3_step(st)) == SQLITE_ROW) {
        blobstore_entry e;
        if ((ret = row_to_entry(be, st, &e, 0)) != 0)
            break;
        if (n == cap) {
            size_t c2 = cap ? 2 * cap : 256;
            char **k2 = bs__realloc(keys, c2 * sizeof(*keys));
            if (k2)
                keys = k2;
            sqlite3_int64 *s2 = k2 ? bs__realloc(sums, c2 * sizeof(*sums)) : NULL;
            if (s2)
                sums = s2;
            if (!k2 || !s2)
                ret = BLOBSTORE_ENOMEM;
            else
                cap = c2;
        }
        if (!ret) {
            sums[n] = row_sum(&e);
            keys[n] = e.key; /* taken over */
            e.key = NULL;
            n++;
        }
        blobstore_entry_clear(&e);
    }
    if (!ret && rc != SQLITE_DONE)
        ret = sq_error(be, rc, "reading the rows to checksum");
    sqlite3_finalize(st);
    if (!ret)
        ret = prepare(be, &up, "UPDATE entries SET rowsum = ?2 WHERE key = ?1");
    for (size_t i = 0; !ret && i < n; i++) {
        sqlite3_bind_text(up, 1, keys[i], -1, SQLITE_STATIC);
        sqlite3_bind_int64(up, 2, sums[i]);
        ret = step_once(be, up, "UPDATE rowsum");
    }
    sqlite3_finalize(up);
    for (size_t i = 0; i < n; i++)
        free(keys[i]);
    free(keys);
    free(sums);
    return ret;
}

/* bs_getsum(FIELDS..., rowsum) in SQL: the row's getsum if its rowsum holds,
 * else NULL (a row already damaged is read whole, and fails, by a get too). */
static void sql_getsum(sqlite3_context *cx, int argc, sqlite3_value **v)
{
    blobstore_entry e;
    (void)argc;
    value_entry(v, &e);
    sqlite3_int64 g = 0;
    if (!e.key || !e.format || !e.metadata ||
        sum_differs(sqlite3_value_type(v[12]), sqlite3_value_int64(v[12]), row_sum(&e)))
        sqlite3_result_null(cx);
    else if (get_sum(&e, &g))
        sqlite3_result_error_nomem(cx);
    else
        sqlite3_result_int64(cx, g);
}

/* Schema 3 to 4 (in the open's write transaction): the getsum column, filled
 * in one pass over the table (100,000 rows of 200-byte values, a 45 MB
 * index: 0.33 s). */
static int add_getsum(sq_backend *be, int have_column)
{
    int ret = have_column ? 0 : exec(be, "ALTER TABLE entries ADD COLUMN getsum INTEGER");
    if (ret)
        return ret;
    int rc = sqlite3_create_function(be->db, "bs_getsum", 13, SQLITE_UTF8 | SQLITE_DETERMINISTIC,
                                     NULL, sql_getsum, NULL, NULL);
    if (rc != SQLITE_OK)
        return sq_error(be, rc, "bs_getsum");
    ret = exec(be, "UPDATE entries SET getsum = bs_getsum(" FIELDS ", rowsum)");
    sqlite3_create_function(be->db, "bs_getsum", 13, SQLITE_UTF8, NULL, NULL, NULL, NULL);
    return ret;
}

/* The index on the blob column (the reference count of a shared blob) lists
 * only the entries that have a blob: an inline entry, most small puts, then
 * writes no index page. Stores made before it had a full index, replaced
 * here (in the open's write transaction; older libraries read and maintain
 * the partial one unchanged). */
static int partial_blob_index(sq_backend *be)
{
    sqlite3_stmt *st;
    int rc = prepare(be, &st, "SELECT sql FROM sqlite_master WHERE name = 'entries_blob'");
    if (rc)
        return rc;
    int full = sqlite3_step(st) == SQLITE_ROW && sqlite3_column_text(st, 0) &&
               !strstr((const char *)sqlite3_column_text(st, 0), "WHERE");
    sqlite3_finalize(st);
    return full ? exec(be, "DROP INDEX entries_blob; " BLOB_INDEX) : 0;
}

/* The schema version (refused when newer than this library's); a writable
 * open upgrades version 1 (rows without checksums) and versions 1 to 3 (no
 * getsum) in place. Runs in the open's transaction. */
static int check_schema(sq_backend *be)
{
    sqlite3_stmt *st;
    int rc = prepare(be, &st,
                     "SELECT name FROM pragma_table_info('entries') WHERE name IN ('rowsum', "
                     "'getsum')");
    if (rc)
        return rc;
    while (sqlite3_step(st) == SQLITE_ROW) {
        const unsigned char *name = sqlite3_column_text(st, 0);
        if (name && !strcmp((const char *)name, "rowsum"))
            be->has_sum = 1;
        else if (name)
            be->has_getsum = 1;
    }
    sqlite3_finalize(st);
    int getsum_column = be->has_getsum;
    be->has_getsum &= be->has_sum; /* (getsums are filled after rowsums) */
    if ((rc = prepare(be, &st, "SELECT value FROM blobstore_info WHERE name = 'schema_version'")))
        return rc;
    int ret = 0, v = 0;
    if (sqlite3_step(st) == SQLITE_ROW) {
        v = sqlite3_column_int(st, 0);
        if (v > SCHEMA_VERSION)
            ret = bs__error(BLOBSTORE_EUNSUPPORTED,
                            "%s has schema version %d; this library knows up to %d", be->path, v,
                            SCHEMA_VERSION);
    }
    sqlite3_finalize(st);
    if (ret || be->readonly)
        return ret;
    if (!be->has_sum) {
        ret = exec(be, "ALTER TABLE entries ADD COLUMN rowsum INTEGER");
        if (!ret)
            ret = fill_sums(be);
        if (!ret)
            be->has_sum = 1;
    }
    if (!ret && !be->has_getsum) {
        ret = add_getsum(be, getsum_column);
        if (!ret)
            be->has_getsum = 1;
    }
    if (!ret && v != SCHEMA_VERSION)
        ret = exec(be, "INSERT OR REPLACE INTO blobstore_info VALUES ('schema_version', "
                       "'" STR(SCHEMA_VERSION) "')");
    if (!ret)
        ret = partial_blob_index(be);
    /* Libraries before this one kept entries_stats, an index covering what
     * blobstore_stats() sums: a second b-tree page written by every put
     * (a relaxed put of a small value wrote 15 KB instead of 7). stats
     * scans the table instead (sq_stats_groups). */
    if (!ret)
        ret = exec(be, "DROP INDEX IF EXISTS entries_stats");
    return ret;
}

/* Open read-only: no file is created. A reader of a WAL database needs its
 * -shm file; when it cannot create or write one (a user who may only read the
 * store), the database is opened immutable: read as it is on disk, which is
 * right when no writer is active (its writers' last close checkpoints the
 * WAL into the database). */
static int sq_open_readonly(sq_backend *be, const char *path)
{
    int flags = SQLITE_OPEN_READONLY | SQLITE_OPEN_NOMUTEX | SQLITE_OPEN_NOFOLLOW;
    int rc = sqlite3_open_v2(path, &be->db, flags, NULL);
    if (rc == SQLITE_OK)
        rc = sqlite3_exec(be->db, "SELECT count(*) FROM sqlite_master", NULL, NULL, NULL);
    if (rc == SQLITE_OK || (rc & 0xff) == SQLITE_CORRUPT || (rc & 0xff) == SQLITE_NOTADB)
        return rc == SQLITE_OK ? 0 : sq_error(be, rc, "open");
    sqlite3_close(be->db);
    be->db = NULL;
    /* file:PATH?immutable=1, PATH percent-encoded where a URI needs it */
    size_t n = strlen(path);
    char *uri = bs__malloc(3 * n + 32);
    if (!uri)
        return BLOBSTORE_ENOMEM;
    char *q = stpcpy(uri, "file:");
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)path[i];
        if (c == '%' || c == '?' || c == '#' || c <= ' ' || c >= 0x7f)
            q += sprintf(q, "%%%02X", c);
        else
            *q++ = (char)c;
    }
    strcpy(q, "?immutable=1");
    rc = sqlite3_open_v2(uri, &be->db, flags | SQLITE_OPEN_URI, NULL);
    free(uri);
    return rc == SQLITE_OK ? 0 : sq_error(be, rc, "open");
}

BLOBSTORE_API int blobstore_meta_backend_sqlite_new(blobstore_meta_backend **out, const char *path,
                                                    int durable)
{
    return bs__meta_sqlite_open(out, path, durable, 0);
}

int bs__meta_sqlite_open(blobstore_meta_backend **out, const char *path, int durable, int readonly)
{
    if (!out || !path)
        return bs__error(BLOBSTORE_EINVAL, "sqlite backend needs a path");
    sq_backend *be = bs__calloc(1, sizeof(*be));
    if (!be)
        return BLOBSTORE_ENOMEM;
    be->path = bs__strdup(path);
    if (!be->path) {
        free(be);
        return BLOBSTORE_ENOMEM;
    }
    be->readonly = readonly;
    int ret;
    if (readonly) {
        ret = sq_open_readonly(be, path);
    } else {
        /* never through a symbolic link: the store owns only its own files */
        int rc = sqlite3_open_v2(path, &be->db,
                                 SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX |
                                     SQLITE_OPEN_NOFOLLOW,
                                 NULL);
        ret = rc == SQLITE_OK ? 0 : sq_error(be, rc, "open");
    }
    if (!ret) {
        sqlite3_busy_timeout(be->db, 60000);
        /* Keep the -wal and -shm files when the last connection closes: a
         * process that opens the store on a full disk, to delete and free
         * space, can then read without first creating the -shm (32 KiB);
         * the WAL frames a delete writes come from the store's space
         * reserve (store.c) if need be. (A reader who may not write finds
         * them too.) */
        int persist = 1;
        if (!readonly)
            sqlite3_file_control(be->db, "main", SQLITE_FCNTL_PERSIST_WAL, &persist);
    }
    if (!ret && !readonly)
        ret = exec(be, "PRAGMA journal_mode=WAL");
    if (!ret)
        ret = exec(be, durable ? "PRAGMA synchronous=FULL" : "PRAGMA synchronous=NORMAL");
    if (!ret)
        ret = exec(be, readonly ? "BEGIN"
                                : "BEGIN IMMEDIATE;"
                                  "CREATE TABLE IF NOT EXISTS blobstore_info("
                                  " name TEXT PRIMARY KEY, value TEXT NOT NULL) WITHOUT ROWID;"
                                  "CREATE TABLE IF NOT EXISTS entries("
                                  " key TEXT PRIMARY KEY NOT NULL, blob TEXT, format TEXT NOT NULL,"
                                  " compression TEXT NOT NULL, content_hash TEXT NOT NULL,"
                                  " created_at TEXT NOT NULL, updated_at TEXT NOT NULL,"
                                  " metadata TEXT NOT NULL, info TEXT, size INTEGER NOT NULL,"
                                  " file_size INTEGER NOT NULL, raw INTEGER NOT NULL, data BLOB,"
                                  " rowsum INTEGER, getsum INTEGER) WITHOUT ROWID;"
                                  "CREATE TABLE IF NOT EXISTS blobstore_indexes("
                                  " path TEXT PRIMARY KEY) WITHOUT ROWID;" BLOB_INDEX);
    /* A small index is checked whole at every open (a few milliseconds per
     * 10 MiB); verify checks any size. */
    struct stat fst;
    if (!ret && strcmp(path, ":memory:") != 0 && stat(path, &fst) == 0 &&
        fst.st_size <= QUICK_CHECK_MAX)
        ret = quick_check(be);
    if (!ret) {
        ret = check_schema(be);
        sqlite3_exec(be->db, ret ? "ROLLBACK" : "COMMIT", NULL, NULL, NULL);
    }
    if (!ret)
        ret = prepare(be, &be->begin_w, "BEGIN IMMEDIATE");
    if (!ret)
        ret = prepare(be, &be->commit, "COMMIT");
    if (!ret)
        ret = prepare(be, &be->rollback, "ROLLBACK");
    if (!ret)
        ret = prepare(be, &be->data_version, "PRAGMA data_version");
    char sql[512];
    if (!ret) {
        snprintf(sql, sizeof(sql), "SELECT %s, data FROM entries WHERE key = ?1", cols(be));
        ret = prepare(be, &be->get, sql);
    }
    if (!ret && be->has_getsum)
        ret = prepare(be, &be->view, "SELECT " VIEW_COLS " FROM entries WHERE key = ?1");
    if (!ret && be->has_getsum) /* (none in a read-only open of an older store) */
        ret = prepare(be, &be->put,
                      "INSERT OR REPLACE INTO entries(" COLS ", data) VALUES "
                      "(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15)");
    if (!ret && be->has_getsum && !readonly) {
        int frc =
            sqlite3_create_function(be->db, "bs_replaced", 14, SQLITE_UTF8 | SQLITE_DIRECTONLY, be,
                                    sql_replaced, NULL, NULL);
        ret = frc == SQLITE_OK ? 0 : sq_error(be, frc, "bs_replaced");
    }
    if (!ret && be->has_getsum && !readonly)
        ret = prepare(be, &be->upsert,
                      "INSERT INTO entries(" COLS ", data) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, "
                      "?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15) ON CONFLICT(key) DO UPDATE SET "
                      "blob = excluded.blob, format = excluded.format, "
                      "compression = excluded.compression, content_hash = excluded.content_hash, "
                      "created_at = excluded.created_at, updated_at = excluded.updated_at, "
                      "metadata = excluded.metadata, info = excluded.info, size = excluded.size, "
                      "file_size = excluded.file_size, raw = excluded.raw, "
                      "rowsum = excluded.rowsum, getsum = excluded.getsum, data = excluded.data "
                      "WHERE bs_replaced(entries.key, entries.blob, entries.format, "
                      "entries.compression, entries.content_hash, entries.created_at, "
                      "entries.updated_at, entries.metadata, entries.info, entries.size, "
                      "entries.file_size, entries.raw, entries.rowsum, entries.getsum)");
    if (!ret)
        ret = prepare(be, &be->del, "DELETE FROM entries WHERE key = ?1");
    if (!ret) {
        snprintf(sql, sizeof(sql), "SELECT %s FROM entries ORDER BY key", cols(be));
        ret = prepare(be, &be->scan_all, sql);
    }
    if (!ret) {
        snprintf(sql, sizeof(sql), "SELECT %s FROM entries WHERE key >= ?1 ORDER BY key", cols(be));
        ret = prepare(be, &be->scan_from, sql);
    }
    if (!ret) {
        snprintf(sql, sizeof(sql),
                 "SELECT %s FROM entries WHERE key >= ?1 AND key < ?2 ORDER BY key", cols(be));
        ret = prepare(be, &be->scan_range, sql);
    }
    if (ret) {
        sq_free(&be->parent);
        return ret;
    }
    be->parent.version = BLOBSTORE_META_BACKEND_VERSION;
    /* (a writable open has made the schema this library's) */
    be->parent.flags = BLOBSTORE_META_INLINE | (readonly ? 0 : BS__META_COMPACT_INLINE);
    be->parent.begin = sq_begin;
    be->parent.commit = sq_commit;
    be->parent.rollback = sq_rollback;
    be->parent.get = sq_get;
    be->parent.put = sq_put;
    be->parent.remove = sq_remove;
    be->parent.iterate = sq_iterate;
    be->parent.iterate_filtered = sq_iterate_filtered;
    be->parent.create_index = sq_create_index;
    be->parent.stats = sq_stats;
    be->parent.ctl = sq_ctl;
    be->parent.free = sq_free;
    *out = &be->parent;
    return 0;
}
