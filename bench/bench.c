/*
 * bench.c - `make bench`: the store's speed next to plain baselines measured
 * in the same run on the same disk, with the ratio. Not a test: it asserts
 * nothing, it reports. Absolute numbers drift on shared machines; ratios and
 * the targets stated in the core issue are what to read.
 *
 * Usage: blobstore_bench [DIR] [--quick] [--tables-only] [--small-only] [--startup-only]
 * [--arrays-only]
 * [--online]
 * --online: only the S3 and PostgreSQL lines, against the servers named by
 * BLOBSTORE_S3_ENDPOINT (+ AWS_*) and BLOBSTORE_PG_URL (tests/online/servers.sh).
 * The start-up section runs the tool beside this program, or $BLOBSTORE_CLI.
 */
#include "b2nd/b2nd.h"
#include "internal.h"
#include "parquet/parquet.h"

#include <malloc.h>
#include <math.h>

#include <fcntl.h>
#ifdef BENCH_LIBPQ /* the PostgreSQL baseline: only where libpq is installed */
#include <libpq-fe.h>
#endif
#include <sched.h>
#include <sqlite3.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void die(const char *what)
{
    fprintf(stderr, "bench: %s: %s\n", what, blobstore_errmsg());
    exit(1);
}

static void line(const char *what, double ours, double base, const char *unit, const char *target)
{
    printf("  %-34s %12.0f %-6s baseline %12.0f %-6s ratio %5.2f  %s\n", what, ours, unit, base,
           unit, base > 0 ? ours / base : 0.0, target);
}

static void rmrf(const char *dir)
{
    char cmd[4200];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
    if (system(cmd) != 0)
        fprintf(stderr, "bench: cannot remove %s\n", dir);
}

/* Peak RSS growth of one operation, in this process: the kernel's peak
 * (VmHWM) is reset before it (/proc/self/clear_refs "5") and read after. */
static long proc_status(const char *field)
{
    FILE *f = fopen("/proc/self/status", "r");
    char ln[256];
    long v = -1;
    size_t n = strlen(field);
    while (f && fgets(ln, sizeof(ln), f))
        if (!strncmp(ln, field, n) && ln[n] == ':')
            v = atol(ln + n + 1) * 1024;
    if (f)
        fclose(f);
    return v;
}

static long peak_start(void)
{
    malloc_trim(0); /* freed memory back to the kernel: what the operation touches is counted */
    long rss = proc_status("VmRSS");
    FILE *f = fopen("/proc/self/clear_refs", "w");
    if (f) {
        fputs("5", f);
        fclose(f);
    }
    return rss;
}

static double peak_mb(long start)
{
    return (double)(proc_status("VmHWM") - start) / 1e6;
}

static blobstore *open_store(const char *dir, const char *backend, int durability,
                             const char *codec)
{
    blobstore_options o = BLOBSTORE_OPTIONS_INIT;
    o.cache_dir = dir;
    o.backend = backend;
    o.durability = durability;
    o.compression = codec;
    blobstore *bs;
    if (blobstore_open(&bs, &o) != 0)
        die("open");
    return bs;
}

/* fsyncs per second of small appends on this disk. */
static double fsync_rate_for(const char *dir, double secs)
{
    char p[4200];
    snprintf(p, sizeof(p), "%s/fsync.tmp", dir);
    int fd = open(p, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    char buf[256] = {0};
    int n = 0;
    double t0 = now();
    while (now() - t0 < secs) {
        if (write(fd, buf, sizeof(buf)) < 0 || fsync(fd) != 0)
            break;
        n++;
    }
    double rate = n / (now() - t0);
    close(fd);
    unlink(p);
    return rate;
}

static double fsync_rate(const char *dir)
{
    return fsync_rate_for(dir, 1.0);
}

/* What a user would write with SQLite alone to keep key + metadata + value:
 * a table (key, metadata text, value blob) with the store's pragmas (WAL;
 * synchronous as the store's durability; the default page size, as the
 * store's), prepared statements kept, one transaction per insert, then
 * selects of metadata and value by key (both read, as the store's get
 * reads its entry and value in one statement). */
#define SMALL_META "{\"i\": 1}"

/* SQLite alone: one transaction per insert, then selects by key. */
static void sqlite_baseline(const char *dir, int n, int warm, const unsigned char *val, size_t len,
                            int durable, double *ins_rate, double *sel_rate)
{
    char p[4200];
    snprintf(p, sizeof(p), "%s/baseline.db", dir);
    sqlite3 *db;
    sqlite3_open(p, &db);
    sqlite3_exec(db, "PRAGMA journal_mode=WAL", NULL, NULL, NULL);
    sqlite3_exec(db, durable ? "PRAGMA synchronous=FULL" : "PRAGMA synchronous=NORMAL", NULL, NULL,
                 NULL);
    sqlite3_exec(db, "CREATE TABLE t(k TEXT PRIMARY KEY, m TEXT, v BLOB) WITHOUT ROWID", NULL, NULL,
                 NULL);
    sqlite3_stmt *ins, *sel;
    sqlite3_prepare_v2(db, "INSERT OR REPLACE INTO t VALUES (?1, ?2, ?3)", -1, &ins, NULL);
    sqlite3_prepare_v2(db, "SELECT m, v FROM t WHERE k = ?1", -1, &sel, NULL);
    char key[32];
    double t0 = now();
    for (int i = 0; i < n; i++) {
        if (i == warm) /* the first warm inserts are not measured */
            t0 = now();
        snprintf(key, sizeof(key), "key%08d", i);
        sqlite3_exec(db, "BEGIN", NULL, NULL, NULL);
        sqlite3_bind_text(ins, 1, key, -1, SQLITE_STATIC);
        sqlite3_bind_text(ins, 2, SMALL_META, -1, SQLITE_STATIC);
        sqlite3_bind_blob(ins, 3, val, (int)len, SQLITE_STATIC);
        sqlite3_step(ins);
        sqlite3_reset(ins);
        sqlite3_exec(db, "COMMIT", NULL, NULL, NULL);
    }
    *ins_rate = (n - warm) / (now() - t0);
    t0 = now();
    size_t total = 0;
    for (int i = 0; i < n; i++) {
        snprintf(key, sizeof(key), "key%08d", i);
        sqlite3_bind_text(sel, 1, key, -1, SQLITE_STATIC);
        if (sqlite3_step(sel) == SQLITE_ROW && sqlite3_column_text(sel, 0) &&
            sqlite3_column_blob(sel, 1))
            total += (size_t)sqlite3_column_bytes(sel, 1);
        sqlite3_reset(sel);
    }
    *sel_rate = n / (now() - t0);
    if (total != (size_t)n * len)
        fprintf(stderr, "bench: sqlite baseline read back %zu bytes\n", total);
    sqlite3_finalize(ins);
    sqlite3_finalize(sel);
    sqlite3_close(db);
    unlink(p);
}

/* SQLite alone, as the relaxed baseline (SMALL_META above): the same
 * pragmas as the store's index (WAL, synchronous=NORMAL), one transaction
 * per insert, prepared statements, selects by key. */
typedef struct {
    sqlite3 *db;
    sqlite3_stmt *ins, *sel;
} sq_base;

static void sq_base_open(sq_base *b, const char *path)
{
    if (sqlite3_open(path, &b->db) != SQLITE_OK)
        die("sqlite baseline");
    sqlite3_exec(b->db, "PRAGMA journal_mode=WAL", NULL, NULL, NULL);
    sqlite3_exec(b->db, "PRAGMA synchronous=NORMAL", NULL, NULL, NULL);
    sqlite3_exec(b->db, "CREATE TABLE t(k TEXT PRIMARY KEY, m TEXT, v BLOB) WITHOUT ROWID", NULL,
                 NULL, NULL);
    sqlite3_prepare_v2(b->db, "INSERT OR REPLACE INTO t VALUES (?1, ?2, ?3)", -1, &b->ins, NULL);
    sqlite3_prepare_v2(b->db, "SELECT m, v FROM t WHERE k = ?1", -1, &b->sel, NULL);
}

static void sq_base_close(sq_base *b)
{
    sqlite3_finalize(b->ins);
    sqlite3_finalize(b->sel);
    sqlite3_close(b->db);
}

/* SQLite alone with the store's row: the store's own table (the same
 * CREATE TABLE, index and pragmas) and statements (BEGIN IMMEDIATE, the
 * replaced row read, INSERT OR REPLACE of the 14 columns, COMMIT; a get
 * selects and reads the 15 columns), rows copied from the store's first
 * (its bytes as the store wrote them, but for the key): what SQLite itself
 * costs for the store's wider row, i.e. the bound of the two lines above.
 * A get of the store reads only the 8 columns it decodes the value by
 * (GET_COLS, as src/meta_sqlite.c): that read is the get's bound; all 15
 * read are shown beside it (what a get cost before schema 4). */
#define ROW_COLS                                                                                   \
    "key, blob, format, compression, content_hash, created_at, updated_at, metadata, info, "       \
    "size, file_size, raw, rowsum, getsum, data"
#define NROW     15
#define GET_COLS "blob, format, content_hash, info, size, raw, getsum, data"

typedef struct {
    sqlite3 *db;
    sqlite3_stmt *begin, *old, *ins, *commit, *sel, *sel_get;
    sqlite3_value *row[NROW]; /* the template row (column 0, the key, replaced) */
} sq_shape;

static void sq_shape_open(sq_shape *s, const char *path, const char *store_db)
{
    memset(s, 0, sizeof(*s));
    if (sqlite3_open(path, &s->db) != SQLITE_OK)
        die("sqlite shape");
    sqlite3_exec(s->db, "PRAGMA journal_mode=WAL", NULL, NULL, NULL);
    sqlite3_exec(s->db, "PRAGMA synchronous=NORMAL", NULL, NULL, NULL);
    sqlite3 *src;
    sqlite3_stmt *q;
    if (sqlite3_open_v2(store_db, &src, SQLITE_OPEN_READONLY, NULL) != SQLITE_OK ||
        sqlite3_prepare_v2(src,
                           "SELECT sql FROM sqlite_master WHERE name IN ('entries', "
                           "'entries_blob') ORDER BY type DESC",
                           -1, &q, NULL) != SQLITE_OK)
        die("sqlite shape: the store's index");
    while (sqlite3_step(q) == SQLITE_ROW)
        if (sqlite3_exec(s->db, (const char *)sqlite3_column_text(q, 0), NULL, NULL, NULL) !=
            SQLITE_OK)
            die("sqlite shape: create");
    sqlite3_finalize(q);
    if (sqlite3_prepare_v2(src, "SELECT " ROW_COLS " FROM entries ORDER BY key LIMIT 1", -1, &q,
                           NULL) != SQLITE_OK ||
        sqlite3_step(q) != SQLITE_ROW)
        die("sqlite shape: the store's first row");
    for (int i = 0; i < NROW; i++)
        s->row[i] = sqlite3_value_dup(sqlite3_column_value(q, i));
    sqlite3_finalize(q);
    sqlite3_close(src);
    sqlite3_prepare_v2(s->db, "BEGIN IMMEDIATE", -1, &s->begin, NULL);
    sqlite3_prepare_v2(s->db, "COMMIT", -1, &s->commit, NULL);
    sqlite3_prepare_v2(s->db, "SELECT " ROW_COLS " FROM entries WHERE key = ?1", -1, &s->old, NULL);
    sqlite3_prepare_v2(s->db, "SELECT " ROW_COLS " FROM entries WHERE key = ?1", -1, &s->sel, NULL);
    sqlite3_prepare_v2(s->db, "SELECT " GET_COLS " FROM entries WHERE key = ?1", -1, &s->sel_get,
                       NULL);
    sqlite3_prepare_v2(s->db,
                       "INSERT OR REPLACE INTO entries(" ROW_COLS ") VALUES (?1, ?2, ?3, ?4, ?5, "
                       "?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15)",
                       -1, &s->ins, NULL);
}

static void sq_shape_close(sq_shape *s)
{
    sqlite3_stmt *st[] = {s->begin, s->old, s->ins, s->commit, s->sel, s->sel_get};
    for (size_t i = 0; i < sizeof(st) / sizeof(st[0]); i++)
        sqlite3_finalize(st[i]);
    for (int i = 0; i < NROW; i++)
        sqlite3_value_free(s->row[i]);
    sqlite3_close(s->db);
}

/* get 0: a put; 1: a get reading all columns; 2: a get reading GET_COLS */
static void sq_shape_op(sq_shape *s, int get, const char *key, size_t len)
{
    if (get == 1) {
        sqlite3_bind_text(s->sel, 1, key, -1, SQLITE_STATIC);
        if (sqlite3_step(s->sel) != SQLITE_ROW)
            die("sqlite shape select");
        for (int i = 0; i < 9; i++)
            sqlite3_column_text(s->sel, i);
        for (int i = 9; i < 14; i++)
            sqlite3_column_int64(s->sel, i);
        if (!sqlite3_column_blob(s->sel, 14) || sqlite3_column_int64(s->sel, 9) != (int64_t)len)
            die("sqlite shape select");
        sqlite3_reset(s->sel);
        return;
    }
    if (get == 2) {
        sqlite3_stmt *q = s->sel_get;
        sqlite3_bind_text(q, 1, key, -1, SQLITE_STATIC);
        if (sqlite3_step(q) != SQLITE_ROW)
            die("sqlite shape select");
        for (int i = 0; i < 4; i++)
            sqlite3_column_text(q, i);
        for (int i = 4; i < 7; i++)
            sqlite3_column_int64(q, i);
        if (!sqlite3_column_blob(q, 7) || sqlite3_column_int64(q, 4) != (int64_t)len)
            die("sqlite shape select");
        sqlite3_reset(q);
        return;
    }
    sqlite3_step(s->begin);
    sqlite3_reset(s->begin);
    sqlite3_bind_text(s->old, 1, key, -1, SQLITE_STATIC);
    sqlite3_step(s->old);
    sqlite3_reset(s->old);
    sqlite3_bind_text(s->ins, 1, key, -1, SQLITE_STATIC);
    for (int i = 1; i < NROW; i++)
        sqlite3_bind_value(s->ins, i + 1, s->row[i]);
    if (sqlite3_step(s->ins) != SQLITE_DONE)
        die("sqlite shape insert");
    sqlite3_reset(s->ins);
    sqlite3_step(s->commit);
    sqlite3_reset(s->commit);
}

/* This thread's CPU time: a get uses no other thread and waits for no disk,
 * so its CPU time is its cost without the time other work on this shared
 * machine took the core away (which moved a run's get ratio by +-0.05). */
static double cpu_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static double small_get_cpu[2]; /* the gets' CPU time: the baseline's, the store's */

/* Puts (get = 0) or gets of keys from..to-1: the baseline's, then the
 * store's, then (if s) SQLite's with the store's row (gets: all columns,
 * then the get's), each's time added to its total. */
static void small_round(sq_base *b, blobstore *bs, sq_shape *s, int get, int from, int to,
                        const unsigned char *val, size_t len, double *t_base, double *t_ours,
                        double *t_shape, double *t_shape_get)
{
    char key[32];
    double c0 = cpu_now(), t0 = now();
    for (int i = from; i < to; i++) {
        snprintf(key, sizeof(key), "key%08d", i);
        if (get) {
            sqlite3_bind_text(b->sel, 1, key, -1, SQLITE_STATIC);
            if (sqlite3_step(b->sel) != SQLITE_ROW || !sqlite3_column_text(b->sel, 0) ||
                !sqlite3_column_blob(b->sel, 1) || sqlite3_column_bytes(b->sel, 1) != (int)len)
                die("sqlite baseline select");
            sqlite3_reset(b->sel);
        } else {
            sqlite3_exec(b->db, "BEGIN", NULL, NULL, NULL);
            sqlite3_bind_text(b->ins, 1, key, -1, SQLITE_STATIC);
            sqlite3_bind_text(b->ins, 2, SMALL_META, -1, SQLITE_STATIC);
            sqlite3_bind_blob(b->ins, 3, val, (int)len, SQLITE_STATIC);
            sqlite3_step(b->ins);
            sqlite3_reset(b->ins);
            sqlite3_exec(b->db, "COMMIT", NULL, NULL, NULL);
        }
    }
    *t_base += now() - t0;
    if (get)
        small_get_cpu[0] += cpu_now() - c0;
    c0 = cpu_now();
    t0 = now();
    for (int i = from; i < to; i++) {
        snprintf(key, sizeof(key), "key%08d", i);
        if (get) {
            void *out;
            size_t n;
            if (blobstore_get(&out, &n, bs, key) != 0 || n != len)
                die("get");
            blobstore_free(out);
        } else if (blobstore_put(NULL, bs, key, val, len, SMALL_META) != 0) {
            die("put");
        }
    }
    *t_ours += now() - t0;
    if (get)
        small_get_cpu[1] += cpu_now() - c0;
    if (!s)
        return;
    t0 = now();
    for (int i = from; i < to; i++) {
        snprintf(key, sizeof(key), "key%08d", i);
        sq_shape_op(s, get, key, len);
    }
    *t_shape += now() - t0;
    if (!get)
        return;
    t0 = now();
    for (int i = from; i < to; i++) {
        snprintf(key, sizeof(key), "key%08d", i);
        sq_shape_op(s, 2, key, len);
    }
    *t_shape_get += now() - t0;
}

static void small_values(const char *root, int n, double fsyncs)
{
    unsigned char val[200];
    for (size_t i = 0; i < sizeof(val); i++)
        val[i] = (unsigned char)("the quick brown fox "[i % 20] + (i % 7));
    char dir[4200], key[32], db[4200];
    double base_ins, base_sel, t0 = now();

    /* the gets read every key GET_PASSES times: a pass of 10,000 gets is
     * ~35 ms a side, too short a sample on a shared machine */
    enum { GET_PASSES = 5 };
    printf("\n%d small values (200 bytes), SQLite metadata backend; the baseline and the store "
           "alternate in rounds of 500 (this machine's load drifts); gets: %d passes\n",
           n, GET_PASSES);
    snprintf(dir, sizeof(dir), "%s/small-relaxed", root);
    snprintf(db, sizeof(db), "%s/small-baseline.db", root);
    sq_base b;
    sq_base_open(&b, db);
    blobstore *bs = open_store(dir, "sqlite", BLOBSTORE_DURABILITY_RELAXED, NULL);
    double tb[2] = {0, 0}, to[2] = {0, 0}, ts[2] = {0, 0}, tsg = 0, tb0 = 0;
    sq_shape s, *sp = NULL;
    char sdb[4200], shape_db[4200];
    snprintf(sdb, sizeof(sdb), "%s/cache_metadata.db", dir);
    snprintf(shape_db, sizeof(shape_db), "%s/small-shape.db", root);
    for (int round = 0; round <= GET_PASSES; round++) { /* puts, then the passes of gets */
        for (int i = 0, get = round > 0; i < n; i += 500) {
            small_round(&b, bs, sp, get, i, i + 500 < n ? i + 500 : n, val, sizeof(val), &tb[get],
                        &to[get], &ts[get], &tsg);
            if (!sp) { /* the store's first row is there: its copies from now on */
                tb0 = tb[0];
                sq_shape_open(&s, shape_db, sdb);
                sp = &s;
                for (int j = 0; j < (n < 500 ? n : 500); j++) {
                    snprintf(key, sizeof(key), "key%08d", j);
                    sq_shape_op(sp, 0, key, sizeof(val)); /* (the first round, unmeasured) */
                }
            }
        }
    }
    blobstore_close(bs);
    sq_base_close(&b);
    sq_shape_close(&s);
    rmrf(dir);
    static const char *const sfx[] = {"", "-wal", "-shm"};
    for (int i = 0; i < 3; i++) {
        char f[4300];
        snprintf(f, sizeof(f), "%s%s", shape_db, sfx[i]);
        unlink(f);
    }
    double put_rate = n / to[0], get_rate = n * GET_PASSES / to[1];
    base_ins = n / tb[0];
    base_sel = n * GET_PASSES / tb[1];
    line("relaxed put vs SQLite alone", put_rate, base_ins, "/s",
         put_rate >= 0.8 * base_ins ? "target >=0.8x: met" : "target >=0.8x: MISSED");
    line("get vs SQLite alone", get_rate, base_sel, "/s",
         get_rate >= 0.8 * base_sel ? "target >=0.8x: met" : "target >=0.8x: MISSED");
    line("  get, thread CPU time", n * GET_PASSES / small_get_cpu[1],
         n * GET_PASSES / small_get_cpu[0], "/s", "the same gets, the core's time only");
    /* the first round of puts is not in the shape's total: n - 500 puts */
    int shaped = n > 500 ? n - 500 : 0;
    if (shaped)
        line("  SQLite, the store's row: put", shaped / ts[0], shaped / (tb[0] - tb0), "/s",
             "the put's bound (same statements, 15 columns)");
    line("  SQLite, the store's row: get", n * GET_PASSES / tsg, base_sel, "/s",
         "the get's bound (the 8 columns it reads)");
    line("  SQLite, the store's row: all read", n * GET_PASSES / ts[1], base_sel, "/s",
         "15 columns read (a get before schema 4)");

    /* Durable single puts: the steady state (after 300 unmeasured puts, as the
     * SQLite baseline gets too, while the WAL and the tree settle), in 4
     * rounds alternating with the disk's fsync rate (0.25 s each), the best
     * of each: a single sample of either drifted by 10x with other work on
     * this shared disk. */
    snprintf(dir, sizeof(dir), "%s/small-durable", root);
    bs__mkdir_p(dir, 0755);
    int nd = n / 5 < 2000 ? n / 5 : 2000, warm = 300, rounds = 4;
    sqlite_baseline(dir, nd + warm, warm, val, sizeof(val), 1, &base_ins, &base_sel);
    bs = open_store(dir, "sqlite", BLOBSTORE_DURABILITY_DURABLE, NULL);
    double fs_now = 0;
    put_rate = 0;
    for (int i = -warm, r = 0; r < rounds; r++) {
        fs_now = fmax(fs_now, fsync_rate_for(dir, 0.25));
        t0 = now();
        for (int k = 0; k < (r ? nd / rounds : warm + nd / rounds); k++, i++) {
            if (i == 0)
                t0 = now();
            snprintf(key, sizeof(key), "key%08d", i + warm);
            if (blobstore_put(NULL, bs, key, val, sizeof(val), NULL) != 0)
                die("put");
        }
        put_rate = fmax(put_rate, nd / rounds / (now() - t0));
    }
    char target[96];
    snprintf(target, sizeof(target), "target >=0.8 x fsync rate (%.0f/s): %s", fs_now,
             put_rate >= 0.8 * fs_now ? "met" : "MISSED");
    line("durable put (one sync each)", put_rate, base_ins, "/s", target);
    t0 = now();
    if (blobstore_batch_begin(bs) != 0)
        die("batch");
    for (int i = 0; i < n; i++) {
        snprintf(key, sizeof(key), "batch%08d", i);
        if (blobstore_put(NULL, bs, key, val, sizeof(val), NULL) != 0)
            die("put");
    }
    if (blobstore_batch_commit(bs) != 0)
        die("commit");
    double batch_rate = n / (now() - t0);
    line("durable batch put (one sync)", batch_rate, fsyncs, "/s", "baseline: fsync rate");
    blobstore_close(bs);
}

/* Text-like data: compresses 3-5x with fast codecs. */
static unsigned char *make_data(size_t n)
{
    static const char *words[] = {"blob ",        "store ", "metadata ", "array ", "table ",
                                  "key ",         "value ", "0.95 ",     "alice ", "checkpoint ",
                                  "{\"epoch\": ", "loss ",  "\n"};
    unsigned char *d = malloc(n);
    uint32_t x = 1;
    size_t i = 0;
    while (i < n) {
        x = x * 1664525u + 1013904223u;
        const char *w = words[(x >> 16) % 13];
        for (; *w && i < n; w++)
            d[i++] = (unsigned char)*w;
        if ((x & 0xff) < 40 && i < n)
            d[i++] = (unsigned char)(x >> 8);
    }
    return d;
}

static double write_fsync_speed(const char *dir, const unsigned char *d, size_t n)
{
    char p[4200];
    snprintf(p, sizeof(p), "%s/raw.tmp", dir);
    double t0 = now();
    int fd = open(p, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (bs__write_all(fd, d, n) != 0 || fsync(fd) != 0)
        fprintf(stderr, "bench: raw write failed\n");
    close(fd);
    double speed = n / (now() - t0) / 1e6;
    unlink(p);
    return speed;
}

static void large_values(const char *root, size_t n)
{
    static const char *codecs[] = {"lz4", "zstd", "gzip", "blosclz", "none"};
    unsigned char *data = make_data(n);
    char dir[4200];
    snprintf(dir, sizeof(dir), "%s/large", root);
    bs__mkdir_p(dir, 0755);
    double raw = write_fsync_speed(dir, data, n);
    printf("\n%zu MB put and get per codec, durable, level 3 (speeds in MB/s of original "
           "bytes)\n  write+fsync of the same bytes: %.0f MB/s\n",
           n / 1000000, raw);
    for (int c = 0; c < 5; c++) {
        const bs_codec *codec = bs__codec_by_name(codecs[c]);
        /* The bare codec on the same bytes in memory, in the same 1 MiB chunks. */
        size_t nchunks = (n + BS_FRAME_CHUNK - 1) / BS_FRAME_CHUNK, stored = 0;
        size_t cap = codec->bound(BS_FRAME_CHUNK);
        unsigned char **comp = calloc(nchunks, sizeof(*comp));
        size_t *clen = calloc(nchunks, sizeof(*clen));
        double t0 = now();
        for (size_t k = 0; k < nchunks; k++) {
            size_t off = k * BS_FRAME_CHUNK;
            size_t len = n - off < BS_FRAME_CHUNK ? n - off : BS_FRAME_CHUNK;
            comp[k] = malloc(cap);
            codec->compress(comp[k], cap, data + off, len, 3, &clen[k]);
            stored += clen[k];
        }
        double cspeed = n / (now() - t0) / 1e6;
        unsigned char *plain = malloc(n);
        t0 = now();
        for (size_t k = 0; k < nchunks; k++) {
            size_t off = k * BS_FRAME_CHUNK;
            size_t len = n - off < BS_FRAME_CHUNK ? n - off : BS_FRAME_CHUNK;
            codec->decompress(plain + off, len, comp[k], clen[k]);
        }
        double dspeed = n / (now() - t0) / 1e6;
        if (memcmp(plain, data, n) != 0)
            die("bare codec round trip differs");
        free(plain);
        for (size_t k = 0; k < nchunks; k++)
            free(comp[k]);
        free(comp);
        free(clen);

        blobstore *bs = open_store(dir, "sqlite", BLOBSTORE_DURABILITY_DURABLE, codecs[c]);
        long rss = peak_start();
        t0 = now();
        if (blobstore_put(NULL, bs, codecs[c], data, n, NULL) != 0)
            die("put");
        double put = n / (now() - t0) / 1e6, put_rss = peak_mb(rss);
        void *outp;
        size_t outn;
        rss = peak_start();
        t0 = now();
        if (blobstore_get(&outp, &outn, bs, codecs[c]) != 0 || outn != n)
            die("get");
        double get = n / (now() - t0) / 1e6, get_rss = peak_mb(rss);
        if (memcmp(outp, data, n) != 0)
            die("get returned different bytes");
        blobstore_free(outp);
        blobstore_delete(bs, codecs[c]);
        blobstore_close(bs);
        double floor = cspeed < raw ? cspeed : raw;
        char name[64], target[96];
        printf("  %s: ratio %.2f; peak RSS growth put %.0f MB, get %.0f MB (the result itself: "
               "%.0f MB)\n",
               codecs[c], (double)n / (double)stored, put_rss, get_rss, n / 1e6);
        snprintf(name, sizeof(name), "%s put", codecs[c]);
        snprintf(target, sizeof(target), "vs min(codec %.0f, write+fsync %.0f): %s", cspeed, raw,
                 put >= 0.8 * floor ? "met" : "MISSED");
        line(name, put, floor, "MB/s", target);
        snprintf(name, sizeof(name), "%s get", codecs[c]);
        snprintf(target, sizeof(target), "vs bare decompression: %s",
                 get >= 0.8 * dspeed ? "met" : "MISSED");
        line(name, get, dspeed, "MB/s", target);
    }
    free(data);
}

static double time_query(blobstore *bs, const char *prefix, const char *filter, size_t *count)
{
    double best = 1e9;
    for (int rep = 0; rep < 3; rep++) {
        blobstore_list l;
        double t0 = now();
        if (blobstore_list_keys(&l, bs, prefix, filter) != 0)
            die("list");
        double t = now() - t0;
        best = t < best ? t : best;
        *count = l.count;
        blobstore_list_free(&l);
    }
    return best;
}

/* A large store: prefix listing and an indexed filter next to a full scan. */
static void queries(const char *root, int n)
{
    char dir[4200], key[64], meta[128];
    snprintf(dir, sizeof(dir), "%s/query", root);
    blobstore *bs = open_store(dir, "sqlite", BLOBSTORE_DURABILITY_RELAXED, NULL);
    double t0 = now();
    if (blobstore_batch_begin(bs) != 0)
        die("batch");
    for (int i = 0; i < n; i++) {
        snprintf(key, sizeof(key), "user%04d/item%07d", i % 1000, i);
        snprintf(meta, sizeof(meta), "{\"score\": %d, \"score_unindexed\": %d, \"kind\": \"k%d\"}",
                 i, i, i % 10);
        if (blobstore_put(NULL, bs, key, "v", 1, meta) != 0)
            die("put");
    }
    if (blobstore_batch_commit(bs) != 0)
        die("commit");
    printf("\nqueries on %d entries (SQLite backend; built in %.1f s)\n", n, now() - t0);
    t0 = now();
    if (blobstore_create_index(bs, "score") != 0)
        die("index");
    printf("  create_index(\"score\"): %.2f s\n", now() - t0);
    size_t c1, c2;
    /* $or is evaluated by the store alone: a scan of every entry. */
    double full =
        time_query(bs, NULL, "{\"$or\": [{\"@key\": {\"$prefix\": \"user0042/\"}}]}", &c2);
    double pre = time_query(bs, "user0042/", NULL, &c1);
    printf("  %-34s %9.3f ms (%zu keys)  full scan %9.3f ms (%zu keys)  speed-up %.0fx\n",
           "prefix listing", pre * 1e3, c1, full * 1e3, c2, full / pre);
    char f1[128], f2[128];
    snprintf(f1, sizeof(f1), "{\"score\": {\"$gte\": %d, \"$lt\": %d}}", n / 2, n / 2 + 100);
    snprintf(f2, sizeof(f2), "{\"score_unindexed\": {\"$gte\": %d, \"$lt\": %d}}", n / 2,
             n / 2 + 100);
    double idx = time_query(bs, NULL, f1, &c1);
    full = time_query(bs, NULL, f2, &c2);
    printf("  %-34s %9.3f ms (%zu keys)  full scan %9.3f ms (%zu keys)  speed-up %.0fx\n",
           "indexed range filter", idx * 1e3, c1, full * 1e3, c2, full / idx);
    blobstore_close(bs);
    rmrf(dir);
}

/* The JSON backend's put cost does not grow with the store. */
/* The JSON index's own cost per put, at two store sizes: blobs are kept in
 * memory (a custom blob backend) so that file creation, which costs the
 * same at any size and varies with the disk's state, does not hide it. */
static void json_put_cost(const char *root)
{
    int sizes[] = {1000, 100000};
    double per[2];
    char dir[4200], key[64];
    printf("\nJSON backend: cost of one put to the index (relaxed, blobs in memory, after N "
           "entries)\n");
    for (int k = 0; k < 2; k++) {
        snprintf(dir, sizeof(dir), "%s/json%d", root, sizes[k]);
        blobstore_options o = BLOBSTORE_OPTIONS_INIT;
        o.cache_dir = dir;
        o.backend = "json";
        o.durability = BLOBSTORE_DURABILITY_RELAXED;
        if (blobstore_blob_backend_mem_new(&o.blob_backend_impl) != 0)
            die("memory backend");
        blobstore *bs;
        if (blobstore_open(&bs, &o) != 0)
            die("open");
        if (blobstore_batch_begin(bs) != 0)
            die("batch");
        for (int i = 0; i < sizes[k]; i++) {
            snprintf(key, sizeof(key), "fill%07d", i);
            if (blobstore_put(NULL, bs, key, "v", 1, "{\"a\": 1}") != 0)
                die("put");
        }
        if (blobstore_batch_commit(bs) != 0)
            die("commit");
        sync();
        double t0 = now();
        for (int i = 0; i < 1000; i++) {
            snprintf(key, sizeof(key), "new%07d", i);
            if (blobstore_put(NULL, bs, key, "v", 1, "{\"a\": 1}") != 0)
                die("put");
        }
        per[k] = (now() - t0) / 1000;
        printf("  %7d entries: %8.1f us per put\n", sizes[k], per[k] * 1e6);
        blobstore_close(bs);
        rmrf(dir);
    }
    printf("  ratio 100,000 / 1,000: %.2f (a store that rewrites its file per put: ~100)\n",
           per[1] / per[0]);
}

/* A float64 array through the store as .b2nd, next to the bare codec. */
static void arrays(const char *root, size_t mb)
{
    size_t n = mb * 1000000 / 8, bytes = n * 8;
    double *smooth = malloc(bytes), *random = malloc(bytes);
    uint64_t x = 88172645463325252ull;
    for (size_t i = 0; i < n; i++) {
        smooth[i] = (double)(i / 4) * 0.25 + sin((double)i * 1e-3) * 0.0; /* a slow ramp */
        x ^= x << 13, x ^= x >> 7, x ^= x << 17;
        random[i] = (double)(x >> 11) / 9007199254740992.0;
    }
    char dir[4200];
    snprintf(dir, sizeof(dir), "%s/arrays", root);
    blobstore *bs = open_store(dir, "sqlite", BLOBSTORE_DURABILITY_RELAXED, "lz4");
    printf("\n%zu MB float64 array as .b2nd (lz4), through the store (relaxed), MB/s\n", mb);
    const bs_codec *lz4 = bs__codec_by_name("lz4");
    for (int kind = 0; kind < 2; kind++) {
        double *data = kind ? random : smooth;
        /* The bare codec, one thread, 1 MiB pieces, no shuffle. */
        size_t cap = lz4->bound(BS_FRAME_CHUNK), plain_size = 0;
        size_t pieces = (bytes + BS_FRAME_CHUNK - 1) / BS_FRAME_CHUNK;
        uint8_t **comp = calloc(pieces, sizeof(*comp));
        size_t *clen = calloc(pieces, sizeof(*clen));
        /* Each limit is the best of LIMIT_REPS measurements: one sample on
         * a shared machine can come out at a fraction of the real speed,
         * which would flatter the store's ratio. */
        enum { LIMIT_REPS = 3 };
        double bare_c = 0, bare_d = 0, t0;
        for (size_t k = 0; k < pieces; k++)
            comp[k] = malloc(cap);
        uint8_t *back = malloc(bytes + cap);
        for (int r = 0; r < LIMIT_REPS; r++) {
            plain_size = 0;
            t0 = now();
            for (size_t k = 0; k < pieces; k++) {
                size_t off = k * BS_FRAME_CHUNK,
                       len = bytes - off < BS_FRAME_CHUNK ? bytes - off : BS_FRAME_CHUNK;
                lz4->compress(comp[k], cap, (uint8_t *)data + off, len, 3, &clen[k]);
                plain_size += clen[k];
            }
            bare_c = fmax(bare_c, bytes / (now() - t0) / 1e6);
            t0 = now();
            for (size_t k = 0; k < pieces; k++) {
                size_t off = k * BS_FRAME_CHUNK,
                       len = bytes - off < BS_FRAME_CHUNK ? bytes - off : BS_FRAME_CHUNK;
                lz4->decompress(back + off, len, comp[k], clen[k]);
            }
            bare_d = fmax(bare_d, bytes / (now() - t0) / 1e6);
        }
        for (size_t k = 0; k < pieces; k++)
            free(comp[k]);
        free(comp);
        free(clen);
        printf("  %s data: bare lz4 (no shuffle) compress %.0f, decompress %.0f, size %.1f MB\n",
               kind ? "random" : "smooth", bare_c, bare_d, plain_size / 1e6);
        /* The physical limit of a put (issue 16): the slowest of the bare
         * codec, SHA-256 of the bytes and a page-cache write (no fsync: the
         * store is relaxed) of the stored size; of a get: the bare codec and
         * a page-cache read of it. Speeds in MB/s of the array's bytes. */
        double sha = 0, pc_write = 0, pc_read = 0;
        for (int rep = 0; rep < LIMIT_REPS; rep++) {
            char hex[65], p[4200];
            t0 = now();
            bs__sha256_hex(hex, data, bytes);
            sha = fmax(sha, bytes / (now() - t0) / 1e6);
            snprintf(p, sizeof(p), "%s/pagecache.tmp", root);
            int fd = open(p, O_RDWR | O_CREAT | O_TRUNC, 0644);
            t0 = now();
            if (fd < 0 || bs__write_all(fd, data, plain_size < bytes ? plain_size : bytes) != 0)
                die("page-cache write");
            pc_write = fmax(pc_write, bytes / (now() - t0) / 1e6);
            t0 = now();
            size_t got = 0;
            ssize_t r;
            while ((r = pread(fd, back + got, plain_size - got, (off_t)got)) > 0)
                got += (size_t)r;
            pc_read = fmax(pc_read, bytes / (now() - t0) / 1e6);
            close(fd);
            unlink(p);
        }
        double limit_put = fmin(bare_c, fmin(sha, pc_write)), limit_get = fmin(bare_d, pc_read);
        printf("  %s data: SHA-256 %.0f, page-cache write %.0f / read %.0f of the stored size: "
               "limits put %.0f, get %.0f\n",
               kind ? "random" : "smooth", sha, pc_write, pc_read, limit_put, limit_get);
        /* Steady state: unmeasured puts first, with each thread count (the
         * first large puts of a process run at half speed while its memory
         * and files settle), as the codec baseline works in warm buffers. */
        for (int w = 0; w < 3; w++) {
            blobstore_array a = {"<f8", 1, {(int64_t)n}, data, bytes, 0};
            blobstore_array_options o = BLOBSTORE_ARRAY_OPTIONS_INIT;
            o.nthreads = w % 2;
            if (blobstore_array_put(NULL, bs, "warm", &a, &o) != 0)
                die("array warm-up");
        }
        if (blobstore_delete(bs, "warm") != 0)
            die("array warm-up");
        /* A put's encoding must end before SHA-256 can start (the frame
         * header, hashed first, holds the compressed sizes): the encoding
         * of random data measured alone (best of 3; 1 thread, all cores),
         * for the ceiling each put line prints. */
        double enc1 = 1e9, enc_all = 1e9;
        if (kind == 1) {
            b2nd_desc dd;
            memset(&dd, 0, sizeof(dd));
            snprintf(dd.dtype, sizeof(dd.dtype), "<f8");
            dd.ndim = 1;
            dd.shape[0] = (int64_t)n;
            b2nd_write_options wo = {"lz4", 5, 0, 1, NULL, NULL};
            for (int rep = 0; rep < 3; rep++) {
                b2nd_pieces pc;
                t0 = now();
                if (bs__b2nd_encode_stored(&pc, &dd, data, 0, &wo) != 0)
                    die("encode");
                enc1 = fmin(enc1, now() - t0);
                bs__b2nd_pieces_free(&pc);
                wo.nthreads = 0;
                t0 = now();
                if (bs__b2nd_encode_stored(&pc, &dd, data, 0, &wo) != 0)
                    die("encode");
                enc_all = fmin(enc_all, now() - t0);
                bs__b2nd_pieces_free(&pc);
                wo.nthreads = 1;
            }
        }
        for (int threads = 1; threads >= 0; threads--) {
            blobstore_array a = {"<f8", 1, {(int64_t)n}, data, bytes, 0};
            blobstore_array_options o = BLOBSTORE_ARRAY_OPTIONS_INIT;
            o.nthreads = threads;
            sync(); /* the previous put's writeback must not slow this one */
            long rss = peak_start();
            t0 = now();
            if (blobstore_array_put(NULL, bs, "arr", &a, &o) != 0)
                die("array put");
            double put = bytes / (now() - t0) / 1e6, put_rss = peak_mb(rss);
            /* The get: blobstore_array_get_into, the store's checked read
             * of the array (as blobstore_array_get: ranged reads, each
             * segment checked) into a buffer reused from get to get, as the
             * baseline's read is. */
            char *gm;
            if (blobstore_get_metadata(&gm, bs, "arr") != 0)
                die("metadata");
            const char *fsz = strstr(gm, "\"file_size\":");
            size_t flen = fsz ? (size_t)atof(fsz + 12) : 0;
            blobstore_free(gm);
            double get = 0, get_rss = 0;
            for (int rep = 0; rep < LIMIT_REPS; rep++) { /* best of, as each limit is */
                rss = peak_start();
                t0 = now();
                blobstore_array ai;
                bs__array_get_threads = threads;
                if (blobstore_array_get_into(&ai, bs, "arr", back, bytes) != 0 ||
                    ai.nbytes != bytes)
                    die("array get into");
                bs__array_get_threads = 0;
                get = fmax(get, bytes / (now() - t0) / 1e6);
                get_rss = fmax(get_rss, peak_mb(rss));
            }
            /* blobstore_array_get (the public call: allocates its result) */
            blobstore_array ag;
            rss = peak_start();
            t0 = now();
            if (blobstore_array_get(&ag, bs, "arr") != 0 || ag.nbytes != bytes)
                die("array get");
            double aget = bytes / (now() - t0) / 1e6, aget_rss = peak_mb(rss);
            blobstore_array_clear(&ag);
            printf("  peak RSS growth: put %.0f MB, get (into a reused buffer) %.0f MB, "
                   "blobstore_array_get %.0f MB at %.0f MB/s (the array: %.0f MB)\n",
                   put_rss, get_rss, aget_rss, aget, bytes / 1e6);
            if (memcmp(back, data, bytes) != 0)
                die("array read back differs");
            char label[64], target[320];
            if (kind == 1) { /* random: against the physical limit */
                /* one thread: the encoding, then SHA-256 of the stored bytes */
                double t_lim = bytes / (limit_put * 1e6), t_sha = (double)flen / (sha * 1e6),
                       enc = threads ? enc1 : enc_all, bound = t_lim / (enc + t_sha);
                snprintf(label, sizeof(label), "random put, %s, vs limit",
                         threads ? "1 thread" : "all cores");
                if (threads && bound < 0.8)
                    snprintf(target, sizeof(target),
                             "informational (the target is the all-cores line): encoding %.0f ms, "
                             "then SHA-256 of the stored %.1f MB %.0f ms (the frame header, "
                             "hashed first, holds the compressed sizes), against %.0f ms: "
                             "%.2fx at best (each measured apart, best of 3)",
                             enc1 * 1e3, flen / 1e6, t_sha * 1e3, t_lim * 1e3, bound);
                else
                    snprintf(target, sizeof(target),
                             "target >=0.8x min(lz4, SHA-256, write): %s; stored %.1f MB; "
                             "encoding %.0f ms, then SHA-256 %.0f ms: %.2fx at best",
                             put >= 0.8 * limit_put ? "met" : "MISSED", flen / 1e6, enc * 1e3,
                             t_sha * 1e3, bound);
                line(label, put, limit_put, "MB/s", target);
                snprintf(label, sizeof(label), "random get, %s, vs limit",
                         threads ? "1 thread" : "all cores");
                snprintf(target, sizeof(target),
                         "target >=0.8x min(lz4, read): %s (both into a reused buffer, best of %d)",
                         get >= 0.8 * limit_get ? "met" : "MISSED", LIMIT_REPS);
                line(label, get, limit_get, "MB/s", target);
                if (!threads) { /* the public call, which returns fresh memory */
                    void *fresh = bs__malloc_large(bytes);
                    t0 = now();
                    if (!fresh)
                        die("malloc");
                    memset(fresh, 1, bytes);
                    double zero = bytes / (now() - t0) / 1e6;
                    free(fresh);
                    snprintf(target, sizeof(target),
                             "informational: returns fresh memory, which the kernel zeroes "
                             "first (a fresh %.0f MB buffer's first touch alone: %.0f MB/s); "
                             "the baseline reads into a reused buffer",
                             bytes / 1e6, zero);
                    line("random blobstore_array_get", aget, limit_get, "MB/s", target);
                }
            } else {
                snprintf(label, sizeof(label), "%s put, %s", kind ? "random" : "smooth",
                         threads ? "1 thread" : "all cores");
                snprintf(target, sizeof(target), "%s; stored %.1f MB",
                         threads ? (put >= 0.8 * bare_c ? "target >=0.8x bare: met"
                                                        : "target >=0.8x bare: MISSED")
                                 : (put > bare_c ? "target > bare 1-thread: met"
                                                 : "target > bare 1-thread: MISSED"),
                         flen / 1e6);
                line(label, put, bare_c, "MB/s", target);
                snprintf(label, sizeof(label), "%s get, %s", kind ? "random" : "smooth",
                         threads ? "1 thread" : "all cores");
                line(label, get, bare_d, "MB/s",
                     threads ? (get >= 0.8 * bare_d ? "target >=0.8x bare: met"
                                                    : "target >=0.8x bare: MISSED")
                             : (get > bare_d ? "target > bare 1-thread: met"
                                             : "target > bare 1-thread: MISSED"));
            }
            /* The cost of the write-back check (on by default): puts with
             * and without it, alternated, best of three each (this machine
             * is shared; single timings vary by more than the check costs). */
            double best[2] = {0, 0};
            for (int rep = 0; rep < 6; rep++) {
                bs__b2_write_check = rep % 2 == 0;
                sync();
                t0 = now();
                if (blobstore_array_put(NULL, bs, "arr", &a, &o) != 0)
                    die("array put, check on/off");
                double speed = bytes / (now() - t0) / 1e6;
                if (speed > best[rep % 2])
                    best[rep % 2] = speed;
            }
            bs__b2_write_check = 1;
            double checked = best[0], unchecked = best[1];
            snprintf(label, sizeof(label), "%s put, %s, check off", kind ? "random" : "smooth",
                     threads ? "1 thread" : "all cores");
            snprintf(target, sizeof(target),
                     "write-back check on: %.0f MB/s, %.2fx, costs %.0f%% of put time", checked,
                     checked / unchecked, 100.0 * (1.0 - checked / unchecked));
            line(label, unchecked, checked, "MB/s", target);
            if (kind == 1) { /* one put is one sample on a shared machine: the best of four */
                double best4 = fmax(put, checked);
                snprintf(label, sizeof(label), "random put, %s, best of 4",
                         threads ? "1 thread" : "all cores");
                double t_lim = bytes / (limit_put * 1e6),
                       bound = t_lim / (enc1 + (double)flen / (sha * 1e6));
                if (threads && bound < 0.8)
                    snprintf(target, sizeof(target),
                             "informational: one thread %.2fx at best (above)", bound);
                else
                    snprintf(target, sizeof(target), "target >=0.8x min(lz4, SHA-256, write): %s",
                             best4 >= 0.8 * limit_put ? "met" : "MISSED");
                line(label, best4, limit_put, "MB/s", target);
            }
            if (kind == 0 && threads == 1) {
                blobstore_array_options ns = BLOBSTORE_ARRAY_OPTIONS_INIT;
                ns.shuffle = -1;
                char *meta;
                if (blobstore_array_put(NULL, bs, "noshuffle", &a, &ns) != 0 ||
                    blobstore_get_metadata(&meta, bs, "noshuffle") != 0)
                    die("no-shuffle put");
                const char *fs = strstr(meta, "\"file_size\":");
                double ns_size = fs ? atof(fs + 12) : 0;
                blobstore_free(meta);
                printf("  smooth stored with shuffle %.1f MB, without %.1f MB: %.1fx smaller "
                       "(target >=3x: %s)\n",
                       flen / 1e6, ns_size / 1e6, ns_size / (double)flen,
                       ns_size >= 3 * (double)flen ? "met" : "MISSED");
            }
        }
        free(back);
    }
    blobstore_close(bs);
    rmrf(dir);
    free(smooth);
    free(random);
}

/* A table of n rows: int64 ids, float64, a nullable int32 (5% nulls), a
 * timestamp and a low-cardinality string; its size in memory. */
static size_t bench_table(blobstore_table *t, size_t n)
{
    static const char *words[] = {"US", "FR", "DE", "JP", "BR", "IN", "CN"};
    blobstore_column_type types[5] = {BLOBSTORE_COL_INT64, BLOBSTORE_COL_FLOAT64,
                                      BLOBSTORE_COL_INT32, BLOBSTORE_COL_TIMESTAMP_US,
                                      BLOBSTORE_COL_STRING};
    static const char *names[5] = {"id", "x", "maybe", "when", "country"};
    t->nrows = n;
    t->ncols = 5;
    t->cols = calloc(5, sizeof(blobstore_column));
    uint64_t s = 88172645463325252ull;
    size_t bytes = 0;
    for (int k = 0; k < 5; k++) {
        blobstore_column *c = &t->cols[k];
        c->name = strdup(names[k]);
        c->type = types[k];
        size_t w = k == 2 ? 4 : 8;
        if (k == 4) {
            c->offsets = malloc((n + 1) * sizeof(uint64_t));
            c->bytes = malloc(2 * n + 1);
            for (size_t i = 0; i < n; i++) {
                s ^= s << 13, s ^= s >> 7, s ^= s << 17;
                c->offsets[i] = 2 * i;
                memcpy(c->bytes + 2 * i, words[s % 7], 2);
            }
            c->offsets[n] = 2 * n;
            bytes += 10 * n;
            continue;
        }
        c->values = malloc(n * w);
        if (k == 2) {
            c->nullable = 1;
            c->valid = malloc(n);
        }
        for (size_t i = 0; i < n; i++) {
            s ^= s << 13, s ^= s >> 7, s ^= s << 17;
            if (k == 0)
                ((int64_t *)c->values)[i] = (int64_t)i;
            else if (k == 1)
                ((double *)c->values)[i] = (double)(s >> 11) / 9007199254740992.0;
            else if (k == 2) {
                ((int32_t *)c->values)[i] = (int32_t)(s % 100000);
                c->valid[i] = s % 20 != 0;
            } else
                ((int64_t *)c->values)[i] = 1700000000000000LL + (int64_t)i * 1000;
        }
        bytes += n * w + (c->valid ? n : 0);
    }
    return bytes;
}

/* Peak RSS growth (bytes) of a child running one large table put; -1 if it
 * failed. The child's peak starts again after the fork (a forked child
 * inherits its parent's peak: wait4's ru_maxrss would report that). */
static long put_peak(const char *dir, const char *path, int csv)
{
    int fds[2];
    if (pipe(fds) != 0)
        return -1;
    pid_t pid = fork();
    if (pid == 0) {
        close(fds[0]);
        blobstore *bs = open_store(dir, "sqlite", BLOBSTORE_DURABILITY_RELAXED, "zstd");
        long start = peak_start();
        int rc;
        if (csv) {
            int fd = open(path, O_RDONLY);
            rc = blobstore_table_put_csv_fd(NULL, bs, "big", fd, NULL, NULL);
            close(fd);
        } else {
            int fd = open(path, O_RDONLY);
            rc = blobstore_table_put_parquet_fd(NULL, bs, "bigpq", fd, NULL);
            close(fd);
        }
        long peak = proc_status("VmHWM") - start;
        if (write(fds[1], &peak, sizeof(peak)) != (ssize_t)sizeof(peak))
            rc = -1;
        blobstore_close(bs);
        _exit(rc ? 1 : 0);
    }
    close(fds[1]);
    long peak = -1;
    if (read(fds[0], &peak, sizeof(peak)) != (ssize_t)sizeof(peak))
        peak = -1;
    close(fds[0]);
    int status = 0;
    if (waitpid(pid, &status, 0) != pid)
        return -1;
    return WIFEXITED(status) && WEXITSTATUS(status) == 0 ? peak : -1;
}

/* Peak memory of large table puts: CSV (streamed) and a Parquet file. */
static void table_memory(const char *root, size_t mb)
{
    char dir[4200], csv[4200], pq[4200];
    snprintf(dir, sizeof(dir), "%s/tablemem", root);
    snprintf(csv, sizeof(csv), "%s/big.csv", root);
    snprintf(pq, sizeof(pq), "%s/big.parquet", root);
    FILE *f = fopen(csv, "wb");
    if (!f)
        die("create CSV");
    uint64_t s = 7;
    size_t size = 0;
    fputs("id,x,country,maybe,ok\n", f);
    for (size_t i = 0; size < mb << 20; i++) {
        static const char *w[] = {"US", "FR", "DE", "\"a, \"\"q\"\"\""};
        s ^= s << 13, s ^= s >> 7, s ^= s << 17;
        char maybe[32] = "";
        if (s % 20)
            snprintf(maybe, sizeof(maybe), "%lld", (long long)(s % 2000001) - 1000000);
        int n = fprintf(f, "%zu,%.6f,%s,%s,%s\n", i, (double)(s >> 40) / 1000.0, w[s % 4], maybe,
                        s & 1 ? "true" : "false");
        size += (size_t)n;
    }
    if (fclose(f) != 0)
        die("write CSV");
    printf("\npeak memory (RSS) of large table puts, each in a child process\n");
    long peak = put_peak(dir, csv, 1);
    printf("  put --csv of %.0f MB CSV: peak RSS growth %.0f MB (streamed a row group at a time; "
           "before: ~6x the input)\n",
           size / 1e6, peak / 1e6);
    /* The stored file, as a .parquet input. */
    blobstore *bs = open_store(dir, "sqlite", BLOBSTORE_DURABILITY_RELAXED, "zstd");
    int fd = open(pq, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (fd < 0 || blobstore_get_fd(bs, "big", fd) != 0)
        die("get the stored table");
    struct stat st;
    fstat(fd, &st);
    close(fd);
    blobstore_close(bs);
    peak = put_peak(dir, pq, 0);
    printf(
        "  put of a %.0f MB .parquet file: peak RSS growth %.0f MB (checked a row group at a time, "
        "streamed into the store; before: ~3x the input)\n",
        (double)st.st_size / 1e6, peak / 1e6);
    unlink(csv);
    unlink(pq);
    rmrf(dir);
}

/* The write-back check of tables: a put with it (the default) and without. */
static void tables(const char *root, size_t n)
{
    char dir[4200];
    snprintf(dir, sizeof(dir), "%s/tables", root);
    blobstore *bs = open_store(dir, "sqlite", BLOBSTORE_DURABILITY_RELAXED, "zstd");
    blobstore_table t;
    size_t bytes = bench_table(&t, n);
    printf("\ntable of %zu rows (%.0f MB in memory, 5 columns), put as Parquet (zstd), MB/s\n", n,
           bytes / 1e6);
    /* CPU time (this process), less disturbed by a busy machine than the
     * wall clock: best of 3. */
    double best[2] = {0, 0}, wall[2] = {0, 0};
    for (int rep = 0; rep < 3; rep++)
        for (int check = 1; check >= 0; check--) {
            bs__pq_nocheck = !check;
            sync();
            struct timespec c0, c1;
            double t0 = now();
            clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &c0);
            if (blobstore_table_put(NULL, bs, "t", &t, NULL) != 0)
                die("table put");
            clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &c1);
            double cpu = (double)(c1.tv_sec - c0.tv_sec) + (double)(c1.tv_nsec - c0.tv_nsec) / 1e9;
            double rate = bytes / cpu / 1e6, wrate = bytes / (now() - t0) / 1e6;
            if (rate > best[check])
                best[check] = rate;
            if (wrate > wall[check])
                wall[check] = wrate;
        }
    bs__pq_nocheck = 0;
    char target[96];
    snprintf(target, sizeof(target), "the check adds %.0f%% CPU time (on by default)",
             best[1] > 0 ? (best[0] / best[1] - 1) * 100 : 0.0);
    line("put checked / unchecked (CPU)", best[1], best[0], "MB/s", target);
    line("put checked / unchecked (wall)", wall[1], wall[0], "MB/s", "");
    blobstore_table_clear(&t);
    blobstore_close(bs);
    rmrf(dir);
}

/* CPU seconds used by this process (RUSAGE_SELF: all its threads) or by
 * its waited-for children (RUSAGE_CHILDREN: curl and its shell). */
static double rusage_s(int who)
{
    struct rusage ru;
    getrusage(who, &ru);
    return (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6 +
           (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec / 1e6;
}

/* S3: a large put and get through the S3 blob backend next to curl moving
 * the same bytes to and from the same gateway. Incompressible bytes, stored
 * uncompressed, so both move the same number of bytes. The gateway runs on
 * this machine: the client's CPU time is taken from it, so each side's is
 * printed too. */
static void s3_section(const char *root, const char *ep, size_t mb)
{
    size_t n = mb << 20;
    unsigned char *data = malloc(n);
    uint64_t x = 88172645463325252ull;
    for (size_t i = 0; i + 8 <= n; i += 8) {
        x ^= x << 13, x ^= x >> 7, x ^= x << 17;
        memcpy(data + i, &x, 8);
    }
    char dir[4200], url[1024], file[4200], cmd[8192];
    snprintf(dir, sizeof(dir), "%s/s3store", root);
    snprintf(url, sizeof(url), "s3://blobstore-bench/run%ld?endpoint=%s", (long)getpid(), ep);
    blobstore_options o = BLOBSTORE_OPTIONS_INIT;
    o.cache_dir = dir;
    o.backend = "sqlite";
    o.blob_backend = url;
    o.compression = "none";
    o.durability = BLOBSTORE_DURABILITY_RELAXED;
    blobstore *bs;
    if (blobstore_open(&bs, &o) != 0)
        die("open an S3 store");
    if (blobstore_put(NULL, bs, "warm", data, 1 << 20, NULL) != 0)
        die("S3 put");
    /* curl: the same bytes from a file in the page cache, signed the same way. */
    snprintf(file, sizeof(file), "%s/s3.bin", root);
    int fd = open(file, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (fd < 0 || bs__write_all(fd, data, n) != 0 || close(fd) != 0)
        die("write the curl input");
    const char *ak = getenv("AWS_ACCESS_KEY_ID"), *sk = getenv("AWS_SECRET_ACCESS_KEY"),
               *region = getenv("AWS_REGION");
    char auth[512];
    /* RGW wants x-amz-content-sha256; curl signs the header it is given. A
     * gateway that stops reading (a test RGW's 2 GiB memstore OSD full: it
     * then holds requests forever) fails curl after 30 s, as the store's
     * own requests time out, instead of hanging the bench. */
    snprintf(auth, sizeof(auth),
             "--speed-limit 1 --speed-time 30 --aws-sigv4 'aws:amz:%s:s3' --user '%s:%s' -H "
             "'x-amz-content-sha256: UNSIGNED-PAYLOAD'",
             region ? region : "us-east-1", ak ? ak : "", sk ? sk : "");
    /* In rounds, curl and the store in turn, so that the load of a shared
     * machine weighs on both alike. */
    enum { ROUNDS = 3 };
    double st_put = 0, st_get = 0, c_put = 0, c_get = 0, put_rss = 0, get_rss = 0;
    double put_ratio[ROUNDS], get_ratio[ROUNDS], cpu[4] = {0}; /* put, curl put, get, curl get */
    int rc = 0;
    for (int round = 0; round < ROUNDS; round++) {
        snprintf(cmd, sizeof(cmd), "curl -sSf %s -T '%s' '%s/blobstore-bench/curl-%ld' >/dev/null",
                 auth, file, ep, (long)getpid());
        double c0 = rusage_s(RUSAGE_CHILDREN), t0 = now();
        rc |= system(cmd);
        double tc = now() - t0;
        c_put += tc;
        cpu[1] += rusage_s(RUSAGE_CHILDREN) - c0;
        long rss = peak_start();
        c0 = rusage_s(RUSAGE_SELF);
        t0 = now();
        if (blobstore_put(NULL, bs, "big", data, n, NULL) != 0)
            die("S3 put");
        double ts = now() - t0;
        st_put += ts;
        cpu[0] += rusage_s(RUSAGE_SELF) - c0;
        put_ratio[round] = tc / ts;
        double r = peak_mb(rss);
        put_rss = r > put_rss ? r : put_rss;
        snprintf(cmd, sizeof(cmd), "curl -sSf %s -o /dev/null '%s/blobstore-bench/curl-%ld'", auth,
                 ep, (long)getpid());
        c0 = rusage_s(RUSAGE_CHILDREN);
        t0 = now();
        rc |= system(cmd);
        tc = now() - t0;
        c_get += tc;
        cpu[3] += rusage_s(RUSAGE_CHILDREN) - c0;
        /* to /dev/null as curl's: the same work (a get into memory also
         * fills and faults in a buffer of the value's size) */
        int sink = open("/dev/null", O_WRONLY);
        rss = peak_start();
        c0 = rusage_s(RUSAGE_SELF);
        t0 = now();
        if (sink < 0 || blobstore_get_fd(bs, "big", sink) != 0)
            die("S3 get");
        ts = now() - t0;
        st_get += ts;
        cpu[2] += rusage_s(RUSAGE_SELF) - c0;
        get_ratio[round] = tc / ts;
        close(sink);
        r = peak_mb(rss);
        get_rss = r > get_rss ? r : get_rss;
    }
    void *out;
    size_t len;
    if (blobstore_get(&out, &len, bs, "big") != 0 || len != n || memcmp(out, data, n) != 0)
        die("S3 get returned different bytes");
    blobstore_free(out);
    double put = n * ROUNDS / st_put / 1e6, get = n * ROUNDS / st_get / 1e6;
    double cput = n * ROUNDS / c_put / 1e6, cget = n * ROUNDS / c_get / 1e6;
    blobstore_delete(bs, "big");
    blobstore_delete(bs, "warm");
    blobstore_close(bs);
    snprintf(cmd, sizeof(cmd), "curl -sSf %s -X DELETE '%s/blobstore-bench/curl-%ld' >/dev/null",
             auth, ep, (long)getpid());
    rc |= system(cmd);
    unlink(file);
    free(data);
    printf("\nS3 (%s), %zu MiB of incompressible bytes, MB/s, %d rounds in turn with curl; peak "
           "RSS growth put %.0f MB, get %.0f MB; gets to /dev/null, as curl's\n",
           ep, mb, ROUNDS, put_rss, get_rss);
    if (rc != 0)
        printf("  (curl failed: no baseline)\n");
    line("S3 put vs curl PUT", put, cput, "MB/s",
         put >= 0.8 * cput ? "target >=0.8x: met" : "target >=0.8x: MISSED");
    line("S3 get vs curl GET", get, cget, "MB/s",
         get >= 0.8 * cget ? "target >=0.8x: met" : "target >=0.8x: MISSED");
    double lo[2] = {put_ratio[0], get_ratio[0]}, hi[2] = {put_ratio[0], get_ratio[0]};
    for (int i = 1; i < ROUNDS; i++) {
        lo[0] = put_ratio[i] < lo[0] ? put_ratio[i] : lo[0];
        hi[0] = put_ratio[i] > hi[0] ? put_ratio[i] : hi[0];
        lo[1] = get_ratio[i] < lo[1] ? get_ratio[i] : lo[1];
        hi[1] = get_ratio[i] > hi[1] ? get_ratio[i] : hi[1];
    }
    /* per MiB moved, so that --quick's 32 MiB reads as the 256 MiB does */
    printf("  rounds' ratios: put %.2f-%.2f, get %.2f-%.2f; client CPU per 256 MiB: put %.3f s "
           "(curl %.3f s), get %.3f s (curl %.3f s)\n",
           lo[0], hi[0], lo[1], hi[1], cpu[0] / ROUNDS * 256 / (double)mb,
           cpu[1] / ROUNDS * 256 / (double)mb, cpu[2] / ROUNDS * 256 / (double)mb,
           cpu[3] / ROUNDS * 256 / (double)mb);
}

#ifdef BENCH_LIBPQ
static PGresult *pg_ok(PGresult *r, PGconn *c, const char *what)
{
    ExecStatusType st = PQresultStatus(r);
    if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK) {
        fprintf(stderr, "bench: %s: %s\n", what, PQerrorMessage(c));
        exit(1);
    }
    return r;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

/* The q-quantile (0..1) of v[0..n-1] (sorted in place). */
static double quantile(double *v, int n, double q)
{
    qsort(v, (size_t)n, sizeof(*v), cmp_double);
    return n ? v[(int)(q * (n - 1) + 0.5)] : 0.0;
}

/* CPU seconds this process has used. */
static double cpu_self(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6 +
           (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec / 1e6;
}

/* CPU seconds process pid has run (its scheduler statistics; -1: not
 * readable, e.g. a server on another machine). */
static double cpu_of(int pid)
{
    char p[64];
    snprintf(p, sizeof(p), "/proc/%d/schedstat", pid);
    FILE *f = fopen(p, "r");
    unsigned long long ns = 0;
    int ok = f && fscanf(f, "%llu", &ns) == 1;
    if (f)
        fclose(f);
    return ok ? (double)ns / 1e9 : -1.0;
}

/* Pins process pid (0: this one) to cpu; 0 or -1 (not allowed, or not a
 * process of this machine). */
static int pin_to(int pid, int cpu)
{
    cpu_set_t set;
    CPU_ZERO(&set);
    CPU_SET(cpu, &set);
    return pid < 0 ? -1 : sched_setaffinity(pid, sizeof(set), &set);
}

/* One PostgreSQL line: the rates of all rounds together, and the ratio as
 * the median of the per-round ratios with its quartiles (a burst of load on
 * a shared machine falls into one side of a round or two, which the median
 * discards where the sums would not). target 0: a line for information,
 * with no target of its own. */
static void pg_line(const char *what, int n, double *ours, double *base, int rounds,
                    const double *cpu, int target)
{
    double so = 0, sb = 0, *r = malloc(sizeof(double) * (size_t)rounds);
    for (int i = 0; i < rounds; i++) {
        so += ours[i];
        sb += base[i];
        r[i] = base[i] / ours[i]; /* times: ours / base rate */
    }
    double med = quantile(r, rounds, 0.5), q1 = quantile(r, rounds, 0.25),
           q3 = quantile(r, rounds, 0.75);
    printf("  %-34s %12.0f %-6s baseline %12.0f %-6s ratio %5.2f  (quartiles %.2f-%.2f) %s\n", what,
           n / so, "/s", n / sb, "/s", med, q1, q3,
           !target      ? "(no target)"
           : med >= 0.8 ? "target >=0.8x: met"
                        : "target >=0.8x: MISSED");
    if (cpu[1] >= 0 && cpu[3] >= 0) /* not stretched by the load: what bounds the wall time */
        printf("    CPU per operation, client + server: %.0f + %.0f us, baseline %.0f + %.0f us "
               "(ratio %.2f)\n",
               cpu[2] / n * 1e6, cpu[3] / n * 1e6, cpu[0] / n * 1e6, cpu[1] / n * 1e6,
               (cpu[0] + cpu[1]) / (cpu[2] + cpu[3]));
    free(r);
}

/* PostgreSQL: n small puts and gets through the PostgreSQL metadata backend
 * (values inline in the row) next to plain libpq doing one prepared
 * statement per operation on a table of the same kind, same server. The two
 * take turns in short rounds (ROUND operations, about a millisecond), each
 * going first in every other round, with this process and every server
 * session pinned to one core. A third side, for puts only, sends
 * the store's own statement through libpq (the upsert that takes the write
 * lock, into a table of the store's columns and indexes) with
 * precomputed values: what the store's schema costs apart from its client
 * work. */
static void pg_section(const char *root, const char *base, int n)
{
    PGconn *c = PQconnectdb(base);
    if (PQstatus(c) != CONNECTION_OK)
        die("connect to PostgreSQL");
    char db[64], url[1024], sql[256];
    snprintf(db, sizeof(db), "bench_%ld", (long)getpid());
    snprintf(sql, sizeof(sql), "CREATE DATABASE %s", db);
    PQclear(pg_ok(PQexec(c, sql), c, "create database"));
    PQfinish(c);
    const char *slash = strrchr(base, '/');
    snprintf(url, sizeof(url), "%.*s/%s", (int)(slash - base), base, db);
    unsigned char val[200];
    for (size_t i = 0; i < sizeof(val); i++)
        val[i] = (unsigned char)("the quick brown fox "[i % 20] + (i % 7));
    char key[32], dir[4200];

    /* The baseline's table and statements. */
    c = PQconnectdb(url);
    if (PQstatus(c) != CONNECTION_OK)
        die("connect to PostgreSQL");
    PQclear(pg_ok(PQexec(c, "CREATE TABLE kv(key text PRIMARY KEY, metadata jsonb, data bytea)"), c,
                  "create table"));
    PQclear(pg_ok(PQprepare(c, "put",
                            "INSERT INTO kv VALUES ($1, $2::jsonb, $3) ON CONFLICT (key) DO "
                            "UPDATE SET metadata = EXCLUDED.metadata, data = EXCLUDED.data",
                            3, NULL),
                  c, "prepare"));
    PQclear(pg_ok(PQprepare(c, "get", "SELECT metadata, data FROM kv WHERE key = $1", 1, NULL), c,
                  "prepare"));
    PQclear(
        pg_ok(PQexec(c, "CREATE TABLE kvs(key text COLLATE \"C\" PRIMARY KEY, blob text,"
                        " format text NOT NULL, compression text NOT NULL,"
                        " content_hash text NOT NULL, created_at text, updated_at text,"
                        " metadata jsonb NOT NULL, metadata_text text NOT NULL, info text,"
                        " size bigint NOT NULL, file_size bigint NOT NULL, raw boolean NOT NULL,"
                        " data bytea);"
                        "CREATE INDEX ON kvs USING gin (metadata jsonb_path_ops);"
                        "CREATE INDEX ON kvs (blob) WHERE blob IS NOT NULL"),
              c, "create table"));
    snprintf(dir, sizeof(dir), "%s/pgstore", root);
    blobstore *bs = open_store(dir, url, BLOBSTORE_DURABILITY_DURABLE, NULL);
    /* The two server sessions, for their CPU time (when the server runs here). */
    PGresult *pr = pg_ok(PQexec(c, "SELECT pid FROM pg_stat_activity WHERE datname = "
                                   "current_database() AND pid <> pg_backend_pid()"),
                         c, "pg_stat_activity");
    int other = PQntuples(pr) == 1 ? atoi(PQgetvalue(pr, 0, 0)) : -1;
    PQclear(pr);
    /* The store's statement through a connection of its own. */
    PGconn *c2 = PQconnectdb(url);
    if (PQstatus(c2) != CONNECTION_OK)
        die("connect to PostgreSQL");
    PQclear(pg_ok(
        PQprepare(c2, "puts",
                  "INSERT INTO kvs(key, blob, format, compression, content_hash, created_at,"
                  " updated_at, metadata_text, info, size, file_size, raw, metadata, data) SELECT"
                  " $1, $2, $3, $4, $5, $6, $7, $8, $10, $11::bigint, $12::bigint, $13::boolean,"
                  " $9::jsonb, $14::bytea WHERE pg_advisory_xact_lock(7306202541) IS NOT NULL"
                  " ON CONFLICT (key) DO UPDATE SET blob = EXCLUDED.blob, format = EXCLUDED.format,"
                  " compression = EXCLUDED.compression, content_hash = EXCLUDED.content_hash,"
                  " created_at = EXCLUDED.created_at, updated_at = EXCLUDED.updated_at,"
                  " metadata_text = EXCLUDED.metadata_text, info = EXCLUDED.info,"
                  " size = EXCLUDED.size, file_size = EXCLUDED.file_size, raw = EXCLUDED.raw,"
                  " metadata = EXCLUDED.metadata, data = EXCLUDED.data WHERE kvs.blob IS NULL",
                  14, NULL),
        c2, "prepare"));
    int pids[3] = {PQbackendPID(c), other, PQbackendPID(c2)};
    /* This process and the three server sessions on one core. Where the
     * scheduler puts each session decides a round trip's cost far more
     * than any statement does: on a 2-core VM a prepared SELECT by key took
     * 50-60 us with the session on the client's core and 200-250 us with it
     * on the other (the other vCPU woken each time), and plain libpq against
     * plain libpq, the same statement on two sessions left to the
     * scheduler, read 1.27x and 0.65x in consecutive runs (1.00x and 0.99x
     * pinned). Sessions of a server elsewhere are not pinned. */
    cpu_set_t mine;
    int pinned = sched_getaffinity(0, sizeof(mine), &mine) == 0, core = sched_getcpu();
    for (int i = 0; i < 3 && pinned; i++)
        pinned = core >= 0 && cpu_of(pids[i]) >= 0 && pin_to(pids[i], core) == 0;
    pinned = pinned && pin_to(0, core) == 0;
    for (int i = 0; i < 3 && !pinned; i++) /* all or none */
        sched_setaffinity(pids[i], sizeof(mine), &mine);
    /* [get][baseline client, server, store client, server, schema client, server] */
    double cpu[2][6] = {{0}};
    enum { ROUND = 10 };
    int rounds = (n + ROUND - 1) / ROUND;
    double *t = calloc((size_t)rounds * 5, sizeof(double));
    double *bt_put = t, *st_put = t + rounds, *bt_get = t + 2 * rounds, *st_get = t + 3 * rounds;
    double *sc_put = t + 4 * rounds;
    size_t total = 0;
    char size[8];
    snprintf(size, sizeof(size), "%zu", sizeof(val));
    for (int get = 0; get < 2; get++) {
        /* The gets read tables the puts just filled: both analysed first,
         * or which one autovacuum reaches during the gets decides the plan
         * (runs read 0.35x and 3.2x by turns) */
        if (get)
            PQclear(pg_ok(PQexec(c, "ANALYZE"), c, "analyze"));
        for (int round = 0; round < rounds; round++) {
            int lo = ROUND * round, hi = lo + ROUND < n ? lo + ROUND : n;
            for (int side = 0; side < (get ? 2 : 3); side++) {
                /* 0 the baseline, 1 the store, 2 the store's statements (puts) */
                int store = get ? side ^ (round & 1) : (side + round) % 3;
                int pid = pids[store];
                double c0 = cpu_self(), s0 = cpu_of(pid), t0 = now();
                for (int i = lo; i < hi; i++) {
                    snprintf(key, sizeof(key), "key%08d", i);
                    if (store == 2) {
                        const char *v[14] = {key,
                                             NULL,
                                             "bytes",
                                             "lz4",
                                             "a3f1c2d4e5f60718293a4b5c6d7e8f90a1b2c3d4e5f6071829"
                                             "3a4b5c6d7e8f90",
                                             "2026-12-03T10:00:00.000000Z",
                                             "2026-12-03T10:00:00.000000Z",
                                             "{\"i\": 1}",
                                             "{\"i\": 1}",
                                             NULL,
                                             size,
                                             size,
                                             "t",
                                             (const char *)val};
                        int lens[14] = {0}, fmts[14] = {0};
                        lens[13] = (int)sizeof(val);
                        fmts[13] = 1;
                        PQclear(pg_ok(PQexecPrepared(c2, "puts", 14, v, lens, fmts, 0), c2,
                                      "the store's statement"));
                    } else if (!store && !get) {
                        const char *v[3] = {key, "{\"i\": 1}", (const char *)val};
                        int lens[3] = {0, 0, (int)sizeof(val)}, fmts[3] = {0, 0, 1};
                        PQclear(pg_ok(PQexecPrepared(c, "put", 3, v, lens, fmts, 1), c, "put"));
                    } else if (!store) {
                        const char *v[1] = {key};
                        PGresult *r =
                            pg_ok(PQexecPrepared(c, "get", 1, v, NULL, NULL, 1), c, "get");
                        total += PQntuples(r) ? (size_t)PQgetlength(r, 0, 1) : 0;
                        PQclear(r);
                    } else if (!get) {
                        if (blobstore_put(NULL, bs, key, val, sizeof(val), "{\"i\": 1}") != 0)
                            die("put");
                    } else {
                        void *out;
                        size_t len;
                        if (blobstore_get(&out, &len, bs, key) != 0 || len != sizeof(val))
                            die("get");
                        blobstore_free(out);
                    }
                }
                double dt = now() - t0, s1 = cpu_of(pid);
                cpu[get][2 * store] += cpu_self() - c0;
                cpu[get][2 * store + 1] = s0 < 0 || s1 < 0 || cpu[get][2 * store + 1] < 0
                                              ? -1.0
                                              : cpu[get][2 * store + 1] + s1 - s0;
                (store == 2 ? sc_put
                 : store    ? (get ? st_get : st_put)
                            : (get ? bt_get : bt_put))[round] = dt;
            }
        }
    }
    if (total != (size_t)n * sizeof(val))
        fprintf(stderr, "bench: the libpq baseline read back %zu bytes\n", total);
    PQfinish(c);
    PQfinish(c2);
    blobstore_close(bs);
    sched_setaffinity(0, sizeof(mine), &mine);
    printf("\nPostgreSQL, %d small values (200 bytes, inline), ops/s, in %d rounds of %d in turn; "
           "ratio: the median round's; %s\n",
           n, rounds, ROUND,
           pinned ? "client and server sessions on one core"
                  : "NOT pinned to one core (server elsewhere, or not allowed): expect swings");
    printf("  baseline: per put one prepared INSERT INTO kv(key text PRIMARY KEY, metadata jsonb,"
           " data bytea) ... ON CONFLICT (key) DO UPDATE (3 parameters; no index but the key's),"
           " per get one prepared SELECT metadata, data by key (binary)\n"
           "  store: blobstore_put / blobstore_get of the same key, bytes and metadata: SHA-256,"
           " lz4, a compact frame, then one prepared upsert of 14 columns that takes the write"
           " lock (key, GIN jsonb_path_ops and partial blob indexes) / one SELECT by key\n"
           "  the store's statement: that upsert sent by libpq with precomputed values\n");
    pg_line("PostgreSQL put vs libpq INSERT", n, st_put, bt_put, rounds, cpu[0], 1);
    const double sc_cpu[4] = {cpu[0][4], cpu[0][5], cpu[0][2], cpu[0][3]};
    pg_line("  vs libpq, the store's statement", n, st_put, sc_put, rounds, sc_cpu, 0);
    /* what the schema alone costs (the lock, 14 columns, the GIN index):
     * a bound on the put line that no client work can lift */
    const double sb_cpu[4] = {cpu[0][0], cpu[0][1], cpu[0][4], cpu[0][5]};
    pg_line("  its statement vs libpq INSERT", n, sc_put, bt_put, rounds, sb_cpu, 0);
    pg_line("PostgreSQL get vs libpq SELECT", n, st_get, bt_get, rounds, cpu[1], 1);
    free(t);
}

#endif

static void online(const char *root, int quick)
{
    const char *ep = getenv("BLOBSTORE_S3_ENDPOINT"), *pg = getenv("BLOBSTORE_PG_URL");
    if (ep)
        s3_section(root, ep, quick ? 32 : 256);
    else
        printf("\nS3: skipped (BLOBSTORE_S3_ENDPOINT is not set)\n");
#ifdef BENCH_LIBPQ
    if (pg)
        pg_section(root, pg, quick ? 1000 : 10000);
    else
        printf("\nPostgreSQL: skipped (BLOBSTORE_PG_URL is not set)\n");
#else
    (void)pg;
    printf("\nPostgreSQL: skipped (built without libpq)\n");
#endif
}

/* CPU time (user + system) per run, in ms, of n runs of argv, each
 * fork/exec'd with its output to /dev/null: the children's rusage, summed.
 * -1 if a run failed. */
static double proc_cpu_ms(char *const argv[], int n)
{
    double total = 0;
    for (int i = 0; i < n; i++) {
        pid_t pid = fork();
        if (pid == 0) {
            int fd = open("/dev/null", O_WRONLY);
            if (fd < 0 || dup2(fd, 1) < 0 || dup2(fd, 2) < 0)
                _exit(126);
            execvp(argv[0], argv);
            _exit(127);
        }
        int status = 0;
        struct rusage ru;
        if (pid < 0 || wait4(pid, &status, 0, &ru) != pid || !WIFEXITED(status) ||
            WEXITSTATUS(status) != 0)
            return -1;
        total += (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6 +
                 (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec / 1e6;
    }
    return total * 1000 / n;
}

/* The tool's start-up cost: `blobstore --version` and a local get of a small
 * value against `sqlite3 --version`, each run n times as its own process.
 * The network backends are modules loaded on demand (src/module.h), so that
 * neither pays for libpq and libcurl. Target: within 2x of sqlite3. */
static void startup(const char *root, const char *self, int n)
{
    char cli[4200], dir[4200], file[4200];
    const char *env = getenv("BLOBSTORE_CLI");
    const char *slash = strrchr(self, '/');
    if (env && *env)
        snprintf(cli, sizeof(cli), "%s", env);
    else if (slash)
        snprintf(cli, sizeof(cli), "%.*s/blobstore", (int)(slash - self), self);
    else
        snprintf(cli, sizeof(cli), "blobstore");
    snprintf(dir, sizeof(dir), "%s/startup", root);
    snprintf(file, sizeof(file), "%s/startup.txt", root);
    FILE *f = fopen(file, "w");
    if (!f || fputs("a small value\n", f) < 0 || fclose(f) != 0)
        die("write the small value");
    char *put[] = {cli, "--dir", dir, "put", "--key", "k", file, NULL};
    char *version[] = {cli, "--version", NULL};
    char *get[] = {cli, "--dir", dir, "get", "k", NULL};
    char *sqlite[] = {"sqlite3", "--version", NULL};
    printf("\nstart-up: CPU time (user + system) per process, %d runs each (fork/exec, "
           "children's rusage)\n",
           n);
    if (proc_cpu_ms(put, 1) < 0) {
        printf("  %s does not run: skipped\n", cli);
        return;
    }
    double base = proc_cpu_ms(sqlite, n);
    if (base <= 0) {
        printf("  sqlite3 --version does not run (install the sqlite3 package: make deps): "
               "skipped\n");
        return;
    }
    double v = proc_cpu_ms(version, n), g = proc_cpu_ms(get, n);
    printf("  %-34s %8.2f ms\n", "sqlite3 --version (baseline)", base);
    printf("  %-34s %8.2f ms  ratio %5.2f  target: within 2x of sqlite3\n", "blobstore --version",
           v, v / base);
    printf("  %-34s %8.2f ms  ratio %5.2f  target: within 2x of sqlite3\n",
           "blobstore get (local, small value)", g, g / base);
    unlink(file);
    rmrf(dir);
}

int main(int argc, char **argv)
{
    const char *root = NULL;
    int quick = 0, tables_only = 0, online_only = 0, small_only = 0, startup_only = 0,
        arrays_only = 0;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--quick") == 0)
            quick = 1;
        else if (strcmp(argv[i], "--tables-only") == 0)
            tables_only = 1;
        else if (strcmp(argv[i], "--online") == 0)
            online_only = 1;
        else if (strcmp(argv[i], "--small-only") == 0)
            small_only = 1;
        else if (strcmp(argv[i], "--startup-only") == 0)
            startup_only = 1;
        else if (strcmp(argv[i], "--arrays-only") == 0)
            arrays_only = 1;
        else
            root = argv[i];
    }
    setvbuf(stdout, NULL, _IOLBF, 0); /* each line as it is measured, also into a file */
    char tmpl[] = "/var/tmp/blobstore-bench.XXXXXX";
    if (!root && !(root = mkdtemp(tmpl))) {
        perror("mkdtemp");
        return 1;
    }
    bs__mkdir_p(root, 0755);
    printf("blobstore %s benchmark in %s\n", blobstore_version(), root);
    if (startup_only) {
        startup(root, argv[0], 200);
        rmrf(root);
        return 0;
    }
    if (arrays_only) { /* for profiling the array lines */
        arrays(root, quick ? 20 : 100);
        rmrf(root);
        return 0;
    }
    if (small_only) { /* for profiling the small operations */
        small_values(root, quick ? 2000 : 10000, fsync_rate(root));
        rmrf(root);
        return 0;
    }
    if (online_only) {
        online(root, quick);
        rmrf(root);
        return 0;
    }
    if (tables_only) {
        tables(root, quick ? 500000 : 4000000);
        table_memory(root, quick ? 100 : 400);
        rmrf(root);
        return 0;
    }
    /* First, while this process is small (fork copies its page tables). */
    startup(root, argv[0], 200);
    double fs = fsync_rate(root), t = now();
    printf("\nfsync rate of this disk: %.0f/s\n", fs);
    /* Each section starts with earlier sections' writes on disk, so that
     * their writeback does not slow the next one down; each says how long
     * it took (make bench should stay within ~10 minutes). */
#define SECTION(call)                                                                              \
    do {                                                                                           \
        call;                                                                                      \
        sync();                                                                                    \
        printf("  (%.0f s)\n", now() - t);                                                         \
        t = now();                                                                                 \
    } while (0)
    SECTION(small_values(root, quick ? 2000 : 10000, fs));
    SECTION(large_values(root, quick ? 20000000 : 100000000));
    SECTION(arrays(root, quick ? 20 : 100));
    SECTION(queries(root, quick ? 100000 : 1000000));
    SECTION(json_put_cost(root));
    SECTION(tables(root, quick ? 500000 : 4000000));
    SECTION(table_memory(root, quick ? 100 : 400));
#undef SECTION
    rmrf(root);
    return 0;
}
