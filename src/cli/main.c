/*
 * main.c - the `blobstore` command-line tool.
 *
 * A plain client of the public API (blobstore.h only). The command names,
 * options and exit codes are a contract that scripts and tests rely on:
 *   0 success, 1 not found, 2 usage error, 3 corruption found, 4 other error,
 *   5 the key exists (put --no-overwrite).
 * Every error is one line on stderr starting with "blobstore: ".
 */
#include "blobstore.h"

#include <errno.h>
#include <fcntl.h>
#ifdef __GLIBC__
#include <malloc.h>
#endif
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

enum {
    EXIT_OK = 0,
    EXIT_NOTFOUND = 1,
    EXIT_USAGE = 2,
    EXIT_CORRUPT = 3,
    EXIT_ERROR = 4,
    EXIT_EXISTS = 5
};

static const char *usage_main =
    "usage: blobstore [OPTIONS] COMMAND [ARGS]\n"
    "\n"
    "Store and retrieve blobs with JSON metadata.\n"
    "\n"
    "Options:\n"
    "  --dir DIR                 store directory (default: $BLOBSTORE_DIR, else .blobstore)\n"
    "  --backend {META}\n"
    "                            metadata backend (default json; a store remembers it)\n"
    "  --blob-backend {BLOB}\n"
    "                            where blobs live (default filesystem; S3 settings from\n"
    "                            AWS_* variables or ?endpoint=URL&region=R)\n"
    "  --compression {CODEC}\n"
    "                            codec for new blobs (default lz4)\n"
    "  --level N                 compression level 1..9 (default 3)\n"
    "  --content-addressable     keys are the SHA-256 of the content\n"
    "  --shard-chars N           shard directory name length 0..8 (default 2)\n"
    "  --durability durable|relaxed\n"
    "                            durable (default): a put that returned survives power loss;\n"
    "                            relaxed: no fsync, survives process crashes only\n"
    "  --help, --version\n"
    "\n"
    "Commands:\n"
    "  init                                     create an empty store in DIR (new or empty)\n"
    "  put [--key KEY] [--meta JSON] [--no-overwrite] [--raw] [--csv [--schema S]] [FILE|-]\n"
    "                                           store FILE (or stdin); print the key;\n"
    "                                           .npy/.b2nd files become arrays,\n"
    "                                           CSV/.parquet files tables\n"
    "  get KEY [-o FILE|-] [--force] [--slice BOX] [--columns A,B]   (also: cat)\n"
    "                                           bytes to stdout, or to FILE (.npy, .csv);\n"
    "                                           FILE must be a regular file unless --force\n"
    "  meta KEY                                 the get_metadata JSON\n"
    "  update-meta KEY JSON                     merge JSON into the user metadata\n"
    "  rm KEY                                   delete (also: delete, remove)\n"
    "  exists KEY                               exit 0 if present, 1 if not\n"
    "  ls [--prefix P] [--where JSON] [--order-by [-]PATH] [--limit N] [--offset N]  (list)\n"
    "     [--with-meta] [-z|--null|--json]      keys, one per line, sorted (-z: NUL-\n"
    "                                           terminated; --json: a JSON array)\n"
    "  clear                                    delete everything; print how many\n"
    "  verify [--repair | --rebuild-index]      check every blob; report problems;\n"
    "                                           rebuild the index from the blobs\n"
    "  create-index PATH                        index a metadata path for ls --where\n"
    "  stats [--json]                           entries, stored and original bytes by\n"
    "                                           format and codec, dedup savings, index size\n"
    "  migrate [--to-dir DIR] [--to-backend B] [--to-blob-backend BB] [--to-shard-chars N]\n"
    "                                           copy this store to other backends, verifying\n"
    "\n"
    "Only init, put and migrate --to-dir create a store, and only in a new or empty\n"
    "directory; other commands need an existing store (DIR/blobstore.json), else they\n"
    "exit 1 and write nothing. get, meta, exists, ls, stats and verify (without --repair)\n"
    "open the store read-only: a user who may only read it can run them.\n"
    "\n"
    "Global options may also follow the command: blobstore ls --dir DIR.\n"
    "\n"
    "Progress: when standard error is a terminal, put and get (bytes) and verify and\n"
    "migrate (entries) that run longer than a second draw a bar there: done and\n"
    "total, rate and ETA ($BLOBSTORE_PROGRESS_AFTER=SECONDS sets the delay). Nothing\n"
    "is drawn when standard error is not a terminal.\n"
    "\n"
    "Exit codes: 0 success, 1 not found (key, or DIR is not a store), 2 usage error\n"
    "(also: DIR is neither empty nor a store), 3 corruption found (also a damaged\n"
    "input file, or a link or foreign file in the store), 4 other error, 5 the key\n"
    "exists (put --no-overwrite).\n";

typedef struct {
    const char *name;
    const char *usage;
} command_help;

static const command_help helps[] = {
    {"init", "usage: blobstore init\n"
             "Create an empty store in DIR (--dir; created if it does not exist) with the\n"
             "global options' backends and settings. DIR must be new, empty, or already a\n"
             "store (then nothing changes). A directory holding other files is refused\n"
             "(exit 2): a store never takes over a directory it did not create.\n"},
    {"put", "usage: blobstore put [--key KEY] [--meta JSON] [--no-overwrite] [--raw]\n"
            "                     [--csv [--schema S]] [FILE|-]\n"
            "Store FILE (or standard input) and print its key. Without --key a random\n"
            "16-hex-character key is made; in a content-addressable store the key is the\n"
            "SHA-256 of the content. --meta attaches a JSON object as metadata.\n"
            "A .npy file is stored as an array (a Blosc2 .b2nd file); a .b2nd file is\n"
            "checked and stored as an array; --csv FILE stores a CSV file as a table (a\n"
            "Parquet file; column types inferred, or given with --schema a:int32,b:string,\n"
            "c:timestamp[ms],d:date); a .parquet file is checked and stored as a table;\n"
            "--raw keeps any of them as plain bytes. Any other file (a .csv file too) is\n"
            "stored as its bytes: use --csv to store a CSV file as a table. What a file was\n"
            "converted to is said on standard error. --meta may be given once (one JSON\n"
            "object). A FILE that cannot be opened exits 4 with the system's message.\n"
            "--no-overwrite refuses a KEY that exists: nothing is stored, exit 5.\n"
            "On a terminal, a put of bytes longer than a second shows its progress on\n"
            "standard error (bytes, rate, ETA; see blobstore --help).\n"
            "A key is 1..1024 bytes of UTF-8 without control characters (0x00-0x1F,\n"
            "0x7F); any other key is refused with exit 2.\n"},
    {"get", "usage: blobstore get KEY [-o FILE|-] [--force] [--slice BOX] [--columns A,B]\n"
            "Write the blob's bytes to standard output (also -o -), or to FILE: a regular\n"
            "file, written to a temporary file and renamed into place only once the data\n"
            "has been verified. An existing FILE that is not a regular file (a device, a\n"
            "FIFO, a directory, a symbolic link) is refused with exit 2; with --force a\n"
            "device or FIFO is written into directly (unverified data may reach it before\n"
            "a corrupt blob is detected), a symbolic link is replaced by the file (its\n"
            "target is not touched), and a directory is still refused. For an\n"
            "array, -o x.npy writes a .npy file and -o x.b2nd the stored .b2nd file;\n"
            "--slice 0:10,5:7 reads a sub-box (decompressing only the chunks it needs)\n"
            "and prints it, or writes it with -o x.npy. For a table, -o x.parquet writes the\n"
            "stored Parquet file, -o x.csv CSV, and --columns a,b only those columns (as CSV\n"
            "on standard output, or -o x.csv / x.parquet).\n"
            "On a terminal, a get of bytes longer than a second shows its progress on\n"
            "standard error (bytes, rate, ETA; see blobstore --help).\n"
            "Exit 1 if KEY does not exist, 3 if the blob is corrupt.\n"},
    {"meta", "usage: blobstore meta KEY\n"
             "Print the entry's metadata as JSON (key, metadata, size, file_size, format,\n"
             "compression, content_hash, created_at, updated_at, ...).\n"},
    {"update-meta", "usage: blobstore update-meta KEY JSON\n"
                    "Merge the members of the JSON object into the entry's user metadata.\n"},
    {"rm", "usage: blobstore rm KEY\nDelete the entry and its blob (on a full disk too: the store\n"
           "keeps space.reserve for that). Exit 1 if absent.\n"},
    {"exists", "usage: blobstore exists KEY\n"
               "Exit 0 if the entry and its blob exist, 1 if not.\n"},
    {"ls", "usage: blobstore ls [--prefix P] [--where JSON] [--order-by [-]PATH] [--limit N]\n"
           "                    [--offset N] [--with-meta] [-z|--null|--json]\n"
           "Print keys, one per line, in byte order. A control character in a key (only\n"
           "stores written by older versions hold such keys) is printed as \\xHH, so each\n"
           "line is one key; -z (--null) ends each key with a NUL byte instead of a\n"
           "newline and prints it exactly (as find -print0; for xargs -0); --json prints\n"
           "one JSON array of the keys (with --with-meta: of the metadata objects).\n"
           "--prefix keeps keys starting with P;\n"
           "--where keeps entries matching a JSON filter: exact members ({\"deployed\": true}),\n"
           "operators on a dotted path ({\"accuracy\": {\"$gt\": 0.9}}; $eq $ne $gt $gte $lt\n"
           "$lte $in $nin $exists $prefix $not), combined with $and, $or, $not; \"@size\",\n"
           "\"@created_at\", \"@format\"... name the store's own fields. --order-by sorts by a\n"
           "path (\"-\" first: descending; missing values last; ties by key). --with-meta\n"
           "prints one JSON line per entry (its metadata, with \"key\") instead of keys.\n"
           "An invalid filter exits 2 with a message naming the offending part.\n"},
    {"clear", "usage: blobstore clear\nDelete every entry; print how many. On a full disk it\n"
              "still succeeds, deleting in small steps that each free their blobs.\n"},
    {"create-index", "usage: blobstore create-index PATH\n"
                     "Index a metadata path (dotted names of letters, digits and '_') so that\n"
                     "ls --where on it needs no scan (SQLite backend; a no-op for JSON).\n"},
    {"verify", "usage: blobstore verify [--repair | --rebuild-index]\n"
               "Check every blob against its checksum and look for dangling entries,\n"
               "orphan blobs and leftover temporary files; print one line per problem.\n"
               "A pickle signing key (pickle_secret.key, used by the Python package) that is\n"
               "a symbolic link, not a regular file, another user's, or open to others than\n"
               "its owner is reported as \"unsafe\" (and never removed).\n"
               "--repair removes dangling entries, orphans and temporaries (never corrupt\n"
               "blobs; nothing at all while the index is damaged). It removes only files the\n"
               "store made: its own names, in its own directories; anything else there (a\n"
               "symbolic link, a directory, a file named otherwise) is reported as\n"
               "\"foreign\", never followed nor removed. Exit 3 if problems remain.\n"
               "Without --repair or --rebuild-index the store is opened read-only.\n"
               "--rebuild-index rebuilds the index from the keys and metadata the blobs carry:\n"
               "a damaged or missing local index is renamed *.damaged-TIME and replaced;\n"
               "entries an intact index has are kept. Values kept inline in a SQLite index\n"
               "have no blob and cannot come back. Exit 3 if some blob gave no entry.\n"
               "On a terminal, a verify longer than a second shows its progress on standard\n"
               "error (entries checked of the total, rate, ETA; see blobstore --help).\n"},
    {"stats", "usage: blobstore stats [--json]\n"
              "Print the store's statistics, read from the index alone (no blob is read):\n"
              "entries; stored bytes (compressed, as kept) and original bytes (as given to\n"
              "put), summed over entries, in total and by format (bytes, b2nd, parquet,\n"
              "pickle) and by codec; the distinct blobs and their bytes (a blob that keys\n"
              "share in a content-addressed store counted once); entries kept inline in the\n"
              "index (small values in SQLite and PostgreSQL); dedup savings (stored bytes of\n"
              "the entries with a blob minus those of the distinct blobs); and the index's\n"
              "size (its files in DIR, or the PostgreSQL table with its indexes).\n"
              "--json prints one JSON object: entries, stored_bytes, original_bytes,\n"
              "inline_entries, blobs, blob_bytes, dedup_saved_bytes, index_bytes (null when\n"
              "unknown), formats and codecs (each {NAME: {entries, stored_bytes,\n"
              "original_bytes}}). The store is opened read-only.\n"},
    {"migrate", "usage: blobstore migrate [--to-dir DIR] [--to-backend B] [--to-blob-backend BB]\n"
                "                         [--to-shard-chars N]\n"
                "Copy every entry of this store (the global options name it) to other backends,\n"
                "e.g. --to-backend postgresql://... --to-blob-backend s3://bucket/prefix, or back\n"
                "to json/sqlite and filesystem; backends not named stay as they are. Metadata,\n"
                "timestamps and stored bytes are copied as they are; each copy is read back and\n"
                "checked against its SHA-256 before its entry is committed. Entries already\n"
                "copied are skipped, so an interrupted migration resumes.\n"
                "Without --to-dir the store moves in place: once everything is copied, this\n"
                "directory's settings switch to the new backends (the old index and blob files\n"
                "are left as they were; stale index files of the target's kind are renamed\n"
                "*.old-TIMESTAMP). With --to-dir the copy is a new store in DIR and this one\n"
                "is not changed. Exit 3 if some source blobs are corrupt or missing (the\n"
                "others are copied, and an in-place store does not switch), 4 on other errors.\n"
                "On a terminal, a migration longer than a second shows its progress on\n"
                "standard error (entries copied of the total, rate, ETA; see blobstore --help).\n"},
};

static void fail(const char *fmt, ...)
{
    va_list ap;
    fputs("blobstore: ", stderr);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
}

static int usage_error(const char *fmt, ...)
{
    va_list ap;
    char msg[512];
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    fail("%s (see blobstore --help)", msg);
    return EXIT_USAGE;
}

/* The names the library knows, "a|b|c" (a URL scheme as "postgresql://..."). */
static void print_names(blobstore_names_kind kind)
{
    const char *n;
    for (size_t i = 0; (n = blobstore_name(kind, i)) != NULL; i++)
        printf("%s%s%s", i ? "|" : "", n, strstr(n, "://") ? "..." : "");
}

/* usage_main with {META}, {BLOB} and {CODEC} filled from the library's tables. */
static void print_usage(void)
{
    static const struct {
        const char *token;
        blobstore_names_kind kind;
    } fills[] = {{"{META}", BLOBSTORE_NAMES_META_BACKENDS},
                 {"{BLOB}", BLOBSTORE_NAMES_BLOB_BACKENDS},
                 {"{CODEC}", BLOBSTORE_NAMES_CODECS}};
    for (const char *p = usage_main; *p;) {
        const char *next = strchr(p, '{');
        if (!next) {
            fputs(p, stdout);
            break;
        }
        fwrite(p, 1, (size_t)(next - p), stdout);
        p = next;
        size_t k = 0;
        while (k < 3 && strncmp(p, fills[k].token, strlen(fills[k].token)) != 0)
            k++;
        if (k < 3) {
            print_names(fills[k].kind);
            p += strlen(fills[k].token);
        } else {
            fputc(*p++, stdout);
        }
    }
}

static int exit_for(int rc)
{
    switch (rc) {
    case BLOBSTORE_OK:
        return EXIT_OK;
    case BLOBSTORE_ENOTFOUND:
        return EXIT_NOTFOUND;
    case BLOBSTORE_EINVAL:
    case BLOBSTORE_ECONFLICT:
        return EXIT_USAGE;
    case BLOBSTORE_ECORRUPT:
        return EXIT_CORRUPT;
    case BLOBSTORE_EEXISTS:
        return EXIT_EXISTS;
    default:
        return EXIT_ERROR;
    }
}

/* Report a library error and map it to an exit code. The message stays one
 * line: control characters in it (from a key, say) are shown as \xHH. */
static int lib_error(int rc)
{
    const char *m = blobstore_errmsg();
    if (!m || !*m)
        m = blobstore_strerror(rc);
    fputs("blobstore: ", stderr);
    for (const unsigned char *p = (const unsigned char *)m; *p; p++) {
        if (*p < 0x20 || *p == 0x7F)
            fprintf(stderr, "\\x%02x", *p);
        else
            fputc(*p, stderr);
    }
    fputc('\n', stderr);
    return exit_for(rc);
}

/* ---- progress on a terminal ---- */

/* One progress bar for every long command: put and get count bytes, verify
 * and migrate entries. Drawn on stderr only when stderr is a terminal, and
 * only once the command has run BLOBSTORE_PROGRESS_AFTER seconds (default
 * 1, so short commands draw nothing); then at most four times a second, and
 * a last time at the end, with what was done. */
typedef struct {
    const char *what;
    const char *unit; /* NULL: bytes; else what is counted ("entries") */
    int fd;           /* data descriptor (put, get) */
    int tty;
    double start, last, after;
    unsigned long long done, total; /* total 0: not known */
    int shown;
} progress;

static progress *g_progress; /* the bar being drawn, if any (cleared for other output) */

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* unit NULL: bytes. total 0: not known (no bar, no ETA). */
static void progress_init(progress *p, const char *what, const char *unit, int fd,
                          unsigned long long total)
{
    memset(p, 0, sizeof(*p));
    p->what = what;
    p->unit = unit;
    p->fd = fd;
    p->total = total;
    p->tty = isatty(2);
    const char *e = getenv("BLOBSTORE_PROGRESS_AFTER");
    char *end;
    p->after = e && *e ? strtod(e, &end) : 1.0;
    if (e && *e && (*end || p->after < 0))
        p->after = 1.0;
    p->start = p->last = now_s();
    if (p->tty)
        g_progress = p;
}

/* "12.3 MiB" or "1234 entries" */
static void progress_amount(const progress *p, char *out, size_t cap, double v, int unit)
{
    static const char *units[] = {"B", "KiB", "MiB", "GiB", "TiB"};
    if (p->unit) {
        snprintf(out, cap, "%.0f%s%s", v, unit ? " " : "", unit ? p->unit : "");
        return;
    }
    int u = 0;
    while (v >= 1024 && u < 4) {
        v /= 1024;
        u++;
    }
    snprintf(out, cap, u ? "%.1f %s" : "%.0f %s", v, units[u]);
}

static void progress_draw(progress *p, double t)
{
    double el = t - p->start > 1e-3 ? t - p->start : 1e-3, rate = (double)p->done / el;
    char done[32], total[32], r[32], eta[32] = "", bar[32] = "";
    progress_amount(p, done, sizeof(done), (double)p->done, !p->total);
    progress_amount(p, total, sizeof(total), (double)p->total, 1);
    progress_amount(p, r, sizeof(r), rate, 1);
    if (p->total) {
        unsigned long long d = p->done < p->total ? p->done : p->total;
        int fill = (int)(20 * d / p->total);
        bar[0] = '[';
        for (int i = 0; i < 20; i++)
            bar[1 + i] = i < fill ? '#' : '.';
        snprintf(bar + 21, sizeof(bar) - 21, "] %3d%% ", (int)(100 * d / p->total));
        double left = rate > 0 ? (double)(p->total - d) / rate : 0;
        unsigned long s = (unsigned long)(left + 0.5);
        if (s >= 3600)
            snprintf(eta, sizeof(eta), "  ETA %lu:%02lu:%02lu", s / 3600, s / 60 % 60, s % 60);
        else
            snprintf(eta, sizeof(eta), "  ETA %lu:%02lu", s / 60, s % 60);
    }
    fprintf(stderr, "\r%s %s%s%s%s  %s/s%s\033[K", p->what, bar, done, p->total ? " / " : "",
            p->total ? total : "", r, eta);
    p->shown = 1;
    p->last = t;
}

static void progress_set(progress *p, unsigned long long done)
{
    p->done = done;
    if (!p->tty)
        return;
    double t = now_s();
    if (t - p->start < p->after || (p->shown && t - p->last < 0.25))
        return;
    progress_draw(p, t);
}

static void progress_add(progress *p, size_t n)
{
    progress_set(p, p->done + n);
}

/* The last state, if the command ran long enough to show it. */
static void progress_done(progress *p)
{
    if (!p->tty)
        return;
    double t = now_s();
    if (p->shown || t - p->start >= p->after) {
        progress_draw(p, t);
        fputc('\n', stderr);
    }
    g_progress = NULL;
}

/* Before other output on the terminal: the bar's line is cleared (it is
 * drawn again at its next update). */
static void progress_clear_line(void)
{
    if (g_progress && g_progress->shown) {
        fputs("\r\033[K", stderr);
        g_progress->shown = 0;
    }
}

/* blobstore_set_progress's callback (verify, migrate). */
static void progress_entries(void *ctx, uint64_t done, uint64_t total)
{
    progress *p = ctx;
    p->total = total;
    progress_set(p, done);
}

static int progress_read(void *ctx, void *buf, size_t cap, size_t *out_n)
{
    progress *p = ctx;
    for (;;) {
        ssize_t n = read(p->fd, buf, cap);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            fail("cannot read input: %s", strerror(errno));
            return -1;
        }
        *out_n = (size_t)n;
        progress_add(p, (size_t)n);
        return 0;
    }
}

static int progress_write(void *ctx, const void *buf, size_t len)
{
    progress *p = ctx;
    const char *c = buf;
    size_t left = len;
    while (left) {
        ssize_t n = write(p->fd, c, left);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            fail("cannot write output: %s", strerror(errno));
            return -1;
        }
        c += n;
        left -= (size_t)n;
    }
    progress_add(p, len);
    return 0;
}

/* ---- argument helpers ---- */

typedef struct {
    int argc;
    char **argv;
    int i;
} args;

/* Match "--name VALUE" or "--name=VALUE" at the cursor. Returns 1 and sets
 * *val when matched, -1 when the value is missing, 0 otherwise. */
static int opt_value(args *a, const char *name, const char **val)
{
    const char *s = a->argv[a->i];
    size_t n = strlen(name);
    if (strncmp(s, name, n) != 0)
        return 0;
    if (s[n] == '=') {
        *val = s + n + 1;
        return 1;
    }
    if (s[n] != '\0')
        return 0;
    if (a->i + 1 >= a->argc)
        return -1;
    *val = a->argv[++a->i];
    return 1;
}

static int parse_int(const char *s, int lo, int hi, int *out)
{
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno || !*s || *end || v < lo || v > hi)
        return -1;
    *out = (int)v;
    return 0;
}

static int wants_help(int argc, char **argv)
{
    for (int i = 0; i < argc; i++) {
        if (strcmp(argv[i], "--") == 0)
            return 0;
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0)
            return 1;
    }
    return 0;
}

/* ---- commands ---- */

static int ends_with(const char *s, const char *suffix)
{
    size_t n = strlen(s), m = strlen(suffix);
    return n >= m && strcmp(s + n - m, suffix) == 0;
}

/* put --csv: a CSV file stored as a table (a Parquet file). */
static int put_csv_file(blobstore *bs, const char *key, const char *meta, const char *file,
                        const char *schema, unsigned flags)
{
    /* Streamed: memory stays about one row group whatever the size. */
    int fd = open(file, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        fail("cannot open %s: %s", file, strerror(errno));
        return EXIT_ERROR; /* 1 means a key not found */
    }
    char *out = NULL;
    blobstore_table_options o = BLOBSTORE_TABLE_OPTIONS_INIT;
    o.metadata = meta;
    o.put_flags = flags;
    int rc = blobstore_table_put_csv_fd(&out, bs, key, fd, schema, &o);
    close(fd);
    if (rc) /* a damaged input file exits 3 (corrupt), like a damaged blob */
        return lib_error(rc);
    printf("%s\n", out);
    blobstore_free(out);
    return EXIT_OK;
}

/* put of a file a format module converts (blobstore_file_format: .npy,
 * .b2nd, .parquet, ...): the library's format table decides. */
static int put_converted(blobstore *bs, const char *key, const char *meta, const char *file,
                         unsigned flags)
{
    int fd = open(file, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        fail("cannot open %s: %s", file, strerror(errno));
        return EXIT_ERROR; /* 1 means a key not found */
    }
    blobstore_put_options po = BLOBSTORE_PUT_OPTIONS_INIT;
    po.metadata = meta;
    po.flags = flags;
    char *out = NULL;
    int rc = blobstore_put_file(&out, bs, key, fd, file, &po);
    close(fd);
    if (rc) /* a damaged input file exits 3 (corrupt), like a damaged blob */
        return lib_error(rc);
    printf("%s\n", out);
    blobstore_free(out);
    return EXIT_OK;
}

static int cmd_put(blobstore *bs, int argc, char **argv)
{
    args a = {argc, argv, 0};
    const char *key = NULL, *meta = NULL, *file = NULL, *schema = NULL;
    int raw = 0, csv = 0;
    unsigned flags = 0;
    for (; a.i < argc; a.i++) {
        const char *v;
        int m;
        if ((m = opt_value(&a, "--key", &v)) != 0) {
            if (m < 0)
                return usage_error("put: --key needs a value");
            key = v;
        } else if ((m = opt_value(&a, "--meta", &v)) != 0) {
            if (m < 0)
                return usage_error("put: --meta needs a value");
            if (meta)
                return usage_error("put: --meta given twice; give all the metadata in one JSON "
                                   "object (the last would silently win)");
            meta = v;
        } else if (strcmp(argv[a.i], "--raw") == 0) {
            raw = 1;
        } else if (strcmp(argv[a.i], "--no-overwrite") == 0) {
            flags |= BLOBSTORE_PUT_NO_OVERWRITE;
        } else if (strcmp(argv[a.i], "--csv") == 0) {
            csv = 1;
        } else if ((m = opt_value(&a, "--schema", &v)) != 0) {
            if (m < 0)
                return usage_error("put: --schema needs a value like a:int32,b:string");
            schema = v;
        } else if (strcmp(argv[a.i], "-") == 0 || argv[a.i][0] != '-') {
            if (file)
                return usage_error("put: only one FILE may be given");
            file = argv[a.i];
        } else {
            return usage_error("put: unknown option %s", argv[a.i]);
        }
    }
    if (schema && !csv)
        return usage_error("put: --schema goes with --csv");
    if (csv && (!file || !strcmp(file, "-")))
        return usage_error("put: --csv needs a FILE");
    if (csv) {
        int code = put_csv_file(bs, key, meta, file, schema, flags);
        if (code == EXIT_OK) /* the rule made visible: what the file became */
            fprintf(stderr, "blobstore: %s stored as a table (Parquet)\n", file);
        return code;
    }
    const char *what = NULL;
    if (file && !raw && blobstore_file_format(file, &what)) {
        int code = put_converted(bs, key, meta, file, flags);
        if (code == EXIT_OK)
            fprintf(stderr,
                    "blobstore: %s stored as %s; --raw stores the file's bytes as they are\n", file,
                    what ? what : "its format");
        return code;
    }
    int fd = 0;
    if (file && strcmp(file, "-") != 0) {
        fd = open(file, O_RDONLY | O_CLOEXEC);
        if (fd < 0) {
            fail("cannot open %s: %s", file, strerror(errno));
            return EXIT_ERROR; /* 1 means a key not found */
        }
    }
    struct stat fst;
    progress p; /* a regular file's size is the total */
    progress_init(&p, "put", NULL, fd,
                  fstat(fd, &fst) == 0 && S_ISREG(fst.st_mode) ? (unsigned long long)fst.st_size
                                                               : 0);
    if (file && !raw && ends_with(file, ".csv"))
        fprintf(stderr, "blobstore: %s stored as bytes; put --csv stores a CSV file as a table\n",
                file);
    blobstore_put_options po = BLOBSTORE_PUT_OPTIONS_INIT;
    po.metadata = meta;
    po.flags = flags;
    char *out = NULL;
    int rc = blobstore_put_stream(&out, bs, key, progress_read, &p, &po);
    progress_done(&p);
    if (fd > 0)
        close(fd);
    if (rc == BLOBSTORE_ECALLBACK)
        return EXIT_ERROR; /* the read error was reported */
    if (rc)
        return lib_error(rc);
    printf("%s\n", out);
    blobstore_free(out);
    return EXIT_OK;
}

/* Parse "a:b,c:d,e" into a box; a single index i means i:i+1 (and the
 * dimension is kept). Missing bounds are the array's. */
static int parse_slice(const char *spec, int ndim, const int64_t *shape, int64_t *lo, int64_t *hi)
{
    const char *p = spec;
    for (int i = 0; i < ndim; i++) {
        lo[i] = 0;
        hi[i] = shape[i];
    }
    for (int i = 0; *p; i++) {
        if (i >= ndim)
            return -1;
        char *end;
        if (*p != ':' && *p != ',') {
            lo[i] = strtoll(p, &end, 10);
            if (end == p)
                return -1;
            p = end;
            hi[i] = lo[i] + 1;
        }
        if (*p == ':') {
            p++;
            hi[i] = shape[i];
            if (*p && *p != ',') {
                hi[i] = strtoll(p, &end, 10);
                if (end == p)
                    return -1;
                p = end;
            }
        }
        if (*p == ',')
            p++;
        else if (*p)
            return -1;
    }
    return 0;
}

static void print_item(FILE *f, const char *dtype, const unsigned char *p)
{
    int size = atoi(dtype + 2);
    unsigned char b[16];
    int swap = dtype[0] == '>';
    for (int i = 0; i < size && i < 16; i++) /* to little endian (this host's order) */
        b[i] = swap ? p[(dtype[1] == 'c'
                             ? (i / (size / 2)) * (size / 2) + (size / 2 - 1 - i % (size / 2))
                             : size - 1 - i)]
                    : p[i];
    switch (dtype[1]) {
    case 'b':
        fputs(b[0] ? "true" : "false", f);
        break;
    case 'i': {
        int64_t v = 0;
        memcpy(&v, b, (size_t)size);
        if (size < 8 && (b[size - 1] & 0x80))
            v |= (int64_t)(~(uint64_t)0 << (8 * size));
        fprintf(f, "%lld", (long long)v);
        break;
    }
    case 'u': {
        uint64_t v = 0;
        memcpy(&v, b, (size_t)size);
        fprintf(f, "%llu", (unsigned long long)v);
        break;
    }
    case 'f':
        if (size == 4) {
            float v;
            memcpy(&v, b, 4);
            fprintf(f, "%.9g", (double)v);
        } else if (size == 8) {
            double v;
            memcpy(&v, b, 8);
            fprintf(f, "%.17g", v);
        } else {
            fputs("?", f);
        }
        break;
    case 'c':
        if (size == 8) {
            float re, im;
            memcpy(&re, b, 4);
            memcpy(&im, b + 4, 4);
            fprintf(f, "%.9g%+.9gj", (double)re, (double)im);
        } else {
            double re, im;
            memcpy(&re, b, 8);
            memcpy(&im, b + 8, 8);
            fprintf(f, "%.17g%+.17gj", re, im);
        }
        break;
    }
}

/* The array as text: one line per row of the last dimension. */
static int print_array(const blobstore_array *a)
{
    int size = atoi(a->dtype + 2);
    size_t items = a->nbytes / (size_t)size;
    size_t row = a->ndim ? (size_t)a->shape[a->ndim - 1] : 1;
    for (size_t i = 0; i < items; i++) {
        print_item(stdout, a->dtype, (const unsigned char *)a->data + i * (size_t)size);
        fputc(row && (i + 1) % row == 0 ? '\n' : ' ', stdout);
    }
    return EXIT_OK;
}

typedef struct {
    blobstore *bs;
    const char *key, *slice, *columns;
    int npy, csv, parquet;
} get_req;

/* Write all of p to fd; 0, or -1 with the message printed. */
static int write_all(int fd, const void *p, size_t len)
{
    const char *c = p;
    for (size_t left = len; left;) {
        ssize_t w = write(fd, c, left);
        if (w < 0 && errno == EINTR)
            continue;
        if (w < 0) {
            fail("cannot write output: %s", strerror(errno));
            return -1;
        }
        c += w;
        left -= (size_t)w;
    }
    return 0;
}

static int write_csv_piece(void *ctx, const void *p, size_t len)
{
    return write_all(*(int *)ctx, p, len);
}

/* A table (all columns or --columns) as CSV, or as a new Parquet file. */
static int emit_table(const get_req *r, int fd)
{
    size_t n = 0;
    char *list = r->columns ? strdup(r->columns) : NULL;
    /* As many names as the list holds: at most one per character. */
    char **names = list ? calloc(strlen(list) / 2 + 1, sizeof(char *)) : NULL;
    if (r->columns && (!list || !names)) {
        free(list);
        fail("out of memory");
        return EXIT_ERROR;
    }
    for (char *save = NULL, *tok = list ? strtok_r(list, ",", &save) : NULL; tok;
         tok = strtok_r(NULL, ",", &save))
        names[n++] = tok;
    int rc;
    blobstore_table t;
    fflush(stdout);
    if (!r->parquet) /* CSV a row group at a time, never whole in memory */
        rc = blobstore_table_get_csv(r->bs, r->key, (const char *const *)names, n, write_csv_piece,
                                     &fd);
    else
        rc = blobstore_table_get(&t, r->bs, r->key, (const char *const *)names, n);
    free(names);
    free(list);
    if (rc == BLOBSTORE_EINVAL && r->columns && strstr(blobstore_errmsg(), "no column")) {
        lib_error(rc); /* a column that is not there is "not found", like a key */
        return EXIT_NOTFOUND;
    }
    if (!r->parquet)
        return rc == BLOBSTORE_ECALLBACK ? EXIT_ERROR : rc ? lib_error(rc) : EXIT_OK;
    if (rc)
        return lib_error(rc);
    void *out = NULL;
    size_t len = 0;
    rc = blobstore_table_to_parquet(&out, &len, &t, NULL);
    blobstore_table_clear(&t);
    if (rc)
        return lib_error(rc);
    int code = write_all(fd, out, len) ? EXIT_ERROR : EXIT_OK;
    blobstore_free(out);
    return code;
}

/* An entry's size (its original bytes), from its metadata: the number
 * before the top-level "file_size" (the user's metadata comes first); 0 if
 * not found. */
static unsigned long long entry_size(blobstore *bs, const char *key)
{
    char *meta = NULL;
    if (blobstore_get_metadata(&meta, bs, key) != 0)
        return 0;
    unsigned long long n = 0;
    const char *f = NULL;
    for (const char *q = meta; (q = strstr(q, ",\"file_size\":")) != NULL; q++)
        f = q;
    const char *d = f;
    while (d && d > meta && d[-1] >= '0' && d[-1] <= '9')
        d--;
    if (d && d != f && d - meta >= 7 && !strncmp(d - 7, "\"size\":", 7))
        n = strtoull(d, NULL, 10);
    blobstore_free(meta);
    return n;
}

/* Write what a get asks for to fd: the stored bytes, or an array as .npy. */
static int emit(const get_req *r, int fd)
{
    if (r->columns || r->csv)
        return emit_table(r, fd);
    if (r->npy && !r->slice) { /* -o x.npy converts what converts (arrays), by its format */
        int rc = blobstore_get_file(r->bs, r->key, fd, ".npy");
        if (rc != BLOBSTORE_EUNSUPPORTED)
            return rc ? lib_error(rc) : EXIT_OK;
    }
    if (!r->slice) { /* the stored bytes */
        progress p;
        progress_init(&p, "get", NULL, fd, 0);
        if (p.tty) /* the entry's size, for the bar */
            p.total = entry_size(r->bs, r->key);
        int rc = blobstore_get_stream(r->bs, r->key, progress_write, &p);
        progress_done(&p);
        return rc == BLOBSTORE_ECALLBACK ? EXIT_ERROR : rc ? lib_error(rc) : EXIT_OK;
    }
    blobstore_array a;
    int rc = blobstore_array_get(&a, r->bs, r->key);
    if (!rc && r->slice) {
        int64_t lo[BLOBSTORE_ARRAY_MAX_DIM], hi[BLOBSTORE_ARRAY_MAX_DIM];
        if (parse_slice(r->slice, a.ndim, a.shape, lo, hi) != 0) {
            blobstore_array_clear(&a);
            return usage_error("get: --slice \"%s\" does not fit a %d-dimensional array: give "
                               "one START:STOP (or INDEX) per dimension, separated by commas, "
                               "e.g. --slice 0:10%s (START or STOP may be left out: 5:, :3, :)",
                               r->slice, a.ndim,
                               a.ndim == 1   ? ""
                               : a.ndim == 2 ? ",2:5"
                                             : ",2:5,...");
        }
        blobstore_array_clear(&a);
        rc = blobstore_array_get_slice(&a, r->bs, r->key, lo, hi);
    }
    if (rc)
        return lib_error(rc);
    int code = EXIT_OK;
    if (r->npy) {
        char *h;
        size_t hl;
        if ((rc = blobstore_npy_header(&h, &hl, &a)) != 0) {
            code = lib_error(rc);
        } else {
            FILE *f = fdopen(dup(fd), "wb");
            if (!f || fwrite(h, 1, hl, f) != hl || fwrite(a.data, 1, a.nbytes, f) != a.nbytes) {
                fail("cannot write output: %s", strerror(errno));
                code = EXIT_ERROR;
            }
            if (f && fclose(f) != 0 && code == EXIT_OK) {
                fail("cannot write output: %s", strerror(errno));
                code = EXIT_ERROR;
            }
            blobstore_free(h);
        }
    } else {
        fflush(stdout);
        code = print_array(&a);
    }
    blobstore_array_clear(&a);
    return code;
}

/* What an existing output path is, when it is not a regular file; NULL if
 * it is one, or does not exist (*missing then says which). */
static const char *not_regular(const char *path, int *missing, struct stat *sb)
{
    *missing = 0;
    if (lstat(path, sb) != 0) {
        *missing = errno == ENOENT;
        return *missing ? NULL : "unreadable path";
    }
    if (S_ISREG(sb->st_mode))
        return NULL;
    return S_ISLNK(sb->st_mode)    ? "symbolic link"
           : S_ISDIR(sb->st_mode)  ? "directory"
           : S_ISCHR(sb->st_mode)  ? "character device"
           : S_ISBLK(sb->st_mode)  ? "block device"
           : S_ISFIFO(sb->st_mode) ? "FIFO"
           : S_ISSOCK(sb->st_mode) ? "socket"
                                   : "special file";
}

/* get -o into an existing device or FIFO (--force): written in place, as it
 * comes (there is nothing to rename). */
static int emit_into(const get_req *r, const char *outfile)
{
    int fd = open(outfile, O_WRONLY | O_NOCTTY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0) {
        fail("cannot open %s: %s", outfile, strerror(errno));
        return EXIT_ERROR;
    }
    struct stat sb;
    if (fstat(fd, &sb) != 0 || S_ISREG(sb.st_mode) || S_ISDIR(sb.st_mode)) {
        close(fd); /* replaced under us by something else: start again */
        fail("get: %s changed while it was being opened", outfile);
        return EXIT_ERROR;
    }
    int code = emit(r, fd);
    if (close(fd) != 0 && code == EXIT_OK) {
        fail("cannot write %s: %s", outfile, strerror(errno));
        code = EXIT_ERROR;
    }
    return code;
}

static int cmd_get(blobstore *bs, int argc, char **argv)
{
    args a = {argc, argv, 0};
    const char *outfile = NULL;
    int force = 0;
    get_req r = {bs, NULL, NULL, NULL, 0, 0, 0};
    for (; a.i < argc; a.i++) {
        const char *v;
        int m;
        if ((m = opt_value(&a, "-o", &v)) != 0 || (m = opt_value(&a, "--output", &v)) != 0) {
            if (m < 0)
                return usage_error("get: -o needs a file name");
            outfile = v;
        } else if (strcmp(argv[a.i], "--force") == 0 || strcmp(argv[a.i], "-f") == 0) {
            force = 1;
        } else if ((m = opt_value(&a, "--columns", &v)) != 0) {
            if (m < 0)
                return usage_error("get: --columns needs names like a,b");
            r.columns = v;
        } else if ((m = opt_value(&a, "--slice", &v)) != 0) {
            if (m < 0)
                return usage_error("get: --slice needs a box like 0:10,5:7");
            r.slice = v;
        } else if (strcmp(argv[a.i], "--") == 0 && a.i + 1 < argc && !r.key) {
            r.key = argv[++a.i];
        } else if (argv[a.i][0] != '-' && !r.key) {
            r.key = argv[a.i];
        } else {
            return usage_error("get: unexpected argument %s", argv[a.i]);
        }
    }
    if (!r.key)
        return usage_error("get: KEY is required");
    if (!outfile || strcmp(outfile, "-") == 0)
        return emit(&r, 1);
    if (!*outfile)
        return usage_error("get: -o needs a file name");
    r.npy = ends_with(outfile, ".npy");
    r.csv = ends_with(outfile, ".csv");
    r.parquet = ends_with(outfile, ".parquet") && r.columns;
    if (r.columns && !r.csv && !r.parquet)
        return usage_error("get: --columns writes .csv or .parquet files (or CSV without -o)");
    if (r.slice && !r.npy)
        return usage_error("get: --slice writes .npy files (or prints without -o)");
    /* -o makes or replaces a regular file. Anything else already there (a
     * device, a FIFO, a directory, a symbolic link) is refused: renaming over
     * it would replace /dev/null or a link the user keeps. With --force a
     * device or FIFO is written into, and a link is replaced by the file
     * (its target is left alone); a directory is refused even then. */
    struct stat sb;
    int missing;
    const char *kind = not_regular(outfile, &missing, &sb);
    if (kind && !strcmp(kind, "unreadable path")) {
        fail("cannot create %s: %s", outfile, strerror(errno));
        return EXIT_ERROR;
    }
    if (kind && (!force || S_ISDIR(sb.st_mode) || S_ISSOCK(sb.st_mode))) {
        const char *hint = S_ISDIR(sb.st_mode) || S_ISSOCK(sb.st_mode) ? ""
                           : S_ISLNK(sb.st_mode) ? " (--force replaces the link, not its target)"
                                                 : " (--force writes into it)";
        fail("get: %s is a %s, not a regular file; not replaced%s", outfile, kind, hint);
        return EXIT_USAGE;
    }
    if (kind && !S_ISLNK(sb.st_mode))
        return emit_into(&r, outfile);
    /* To a file: a temporary beside it, renamed once the data verified. */
    size_t n = strlen(outfile) + 32;
    char *tmp = malloc(n);
    if (!tmp) {
        fail("out of memory");
        return EXIT_ERROR;
    }
    snprintf(tmp, n, "%s.tmp-%ld", outfile, (long)getpid());
    int fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0644);
    if (fd < 0) {
        fail("cannot create %s: %s", tmp, strerror(errno));
        free(tmp);
        return EXIT_ERROR;
    }
    int code = emit(&r, fd);
    if (close(fd) != 0 && code == EXIT_OK) {
        fail("cannot write %s: %s", tmp, strerror(errno));
        code = EXIT_ERROR;
    }
    /* Checked again at the rename: something may have appeared meanwhile. */
    if (code == EXIT_OK && (kind = not_regular(outfile, &missing, &sb)) != NULL &&
        !(force && S_ISLNK(sb.st_mode))) {
        fail("get: %s became a %s while the data was read; not replaced", outfile, kind);
        code = EXIT_USAGE;
    }
    if (code == EXIT_OK && rename(tmp, outfile) != 0) {
        fail("cannot rename %s to %s: %s", tmp, outfile, strerror(errno));
        code = EXIT_ERROR;
    }
    if (code != EXIT_OK)
        unlink(tmp);
    free(tmp);
    return code;
}

static int one_key(int argc, char **argv, const char *cmd, const char **key)
{
    if (argc == 2 && strcmp(argv[0], "--") == 0) {
        *key = argv[1];
        return 0;
    }
    if (argc != 1)
        return usage_error("%s: expected exactly one KEY", cmd);
    *key = argv[0];
    return 0;
}

static int cmd_meta(blobstore *bs, int argc, char **argv)
{
    const char *key = NULL;
    if (one_key(argc, argv, "meta", &key))
        return EXIT_USAGE;
    char *json;
    int rc = blobstore_get_metadata(&json, bs, key);
    if (rc)
        return lib_error(rc);
    printf("%s\n", json);
    blobstore_free(json);
    return EXIT_OK;
}

static int cmd_update_meta(blobstore *bs, int argc, char **argv)
{
    if (argc != 2)
        return usage_error("update-meta: expected KEY JSON");
    int rc = blobstore_update_metadata(bs, argv[0], argv[1]);
    return rc ? lib_error(rc) : EXIT_OK;
}

static int cmd_rm(blobstore *bs, int argc, char **argv)
{
    const char *key = NULL;
    if (one_key(argc, argv, "rm", &key))
        return EXIT_USAGE;
    int rc = blobstore_delete(bs, key);
    return rc ? lib_error(rc) : EXIT_OK;
}

static int cmd_exists(blobstore *bs, int argc, char **argv)
{
    const char *key = NULL;
    if (one_key(argc, argv, "exists", &key))
        return EXIT_USAGE;
    int rc = blobstore_exists(bs, key);
    if (rc < 0)
        return lib_error(rc);
    return rc ? EXIT_OK : EXIT_NOTFOUND;
}

static int parse_size(const char *s, size_t *out)
{
    char *end;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 10);
    if (errno || !*s || *end || s[0] == '-')
        return -1;
    *out = (size_t)v;
    return 0;
}

/* A key for a line of text: control characters (which keys written by older
 * versions may hold) as \xHH, so one key is always one line. ls -z and
 * --json print keys exactly. */
static void put_key(FILE *f, const char *key)
{
    for (const unsigned char *p = (const unsigned char *)key; *p; p++) {
        if (*p < 0x20 || *p == 0x7F)
            fprintf(f, "\\x%02x", *p);
        else
            fputc(*p, f);
    }
}

/* A key as a JSON string. */
static void put_json_key(FILE *f, const char *key)
{
    fputc('"', f);
    for (const unsigned char *p = (const unsigned char *)key; *p; p++) {
        if (*p == '"' || *p == '\\')
            fprintf(f, "\\%c", *p);
        else if (*p == '\n')
            fputs("\\n", f);
        else if (*p == '\t')
            fputs("\\t", f);
        else if (*p == '\r')
            fputs("\\r", f);
        else if (*p < 0x20 || *p == 0x7F)
            fprintf(f, "\\u%04x", *p);
        else
            fputc(*p, f);
    }
    fputc('"', f);
}

static int cmd_ls(blobstore *bs, int argc, char **argv)
{
    int nul = 0, json = 0;
    args a = {argc, argv, 0};
    blobstore_query q = BLOBSTORE_QUERY_INIT;
    for (; a.i < argc; a.i++) {
        const char *v;
        int m;
        if ((m = opt_value(&a, "--prefix", &v)) != 0) {
            if (m < 0)
                return usage_error("ls: --prefix needs a value");
            q.prefix = v;
        } else if ((m = opt_value(&a, "--where", &v)) != 0) {
            if (m < 0)
                return usage_error("ls: --where needs a value");
            q.filter = v;
        } else if ((m = opt_value(&a, "--order-by", &v)) != 0) {
            if (m < 0)
                return usage_error("ls: --order-by needs a value");
            q.order_by = v;
        } else if ((m = opt_value(&a, "--limit", &v)) != 0) {
            if (m < 0 || parse_size(v, &q.limit))
                return usage_error("ls: --limit needs a count");
        } else if ((m = opt_value(&a, "--offset", &v)) != 0) {
            if (m < 0 || parse_size(v, &q.offset))
                return usage_error("ls: --offset needs a count");
        } else if (strcmp(argv[a.i], "--with-meta") == 0) {
            q.with_metadata = 1;
        } else if (strcmp(argv[a.i], "-z") == 0 || strcmp(argv[a.i], "--null") == 0) {
            nul = 1;
        } else if (strcmp(argv[a.i], "--json") == 0) {
            json = 1;
        } else {
            return usage_error("ls: unexpected argument %s", argv[a.i]);
        }
    }
    if (nul && json)
        return usage_error("ls: -z and --json are two different output formats; pick one");
    blobstore_result r;
    int rc = blobstore_query_run(&r, bs, &q);
    if (rc)
        return lib_error(rc);
    if (json)
        fputc('[', stdout);
    for (size_t i = 0; i < r.count; i++) {
        if (json && i)
            fputc(',', stdout);
        if (q.with_metadata) /* JSON already: control characters are escaped */
            fputs(r.metadata[i], stdout);
        else if (json)
            put_json_key(stdout, r.keys[i]);
        else if (nul)
            fputs(r.keys[i], stdout);
        else
            put_key(stdout, r.keys[i]);
        if (!json)
            fputc(nul ? '\0' : '\n', stdout);
    }
    if (json)
        fputs("]\n", stdout);
    blobstore_result_free(&r);
    return EXIT_OK;
}

static int cmd_create_index(blobstore *bs, int argc, char **argv)
{
    if (argc != 1)
        return usage_error("create-index: expected exactly one PATH");
    int rc = blobstore_create_index(bs, argv[0]);
    return rc ? lib_error(rc) : EXIT_OK;
}

static int cmd_clear(blobstore *bs, int argc, char **argv)
{
    (void)argv;
    if (argc)
        return usage_error("clear: takes no arguments");
    size_t n;
    int rc = blobstore_clear(&n, bs);
    if (rc)
        return lib_error(rc);
    printf("%zu\n", n);
    return EXIT_OK;
}

/* "1.5 MiB (1572864 bytes)" */
static void put_bytes(uint64_t n)
{
    static const char *const units[] = {"KiB", "MiB", "GiB", "TiB", "PiB", "EiB"};
    if (n < 1024) {
        printf("%llu bytes", (unsigned long long)n);
        return;
    }
    double v = (double)n / 1024;
    size_t u = 0;
    while (v >= 1024 && u + 1 < sizeof(units) / sizeof(units[0])) {
        v /= 1024;
        u++;
    }
    printf("%.1f %s (%llu bytes)", v, units[u], (unsigned long long)n);
}

static void put_groups_json(const char *name, const blobstore_stats_group *g, size_t n)
{
    printf(",\"%s\":{", name);
    for (size_t i = 0; i < n; i++) {
        if (i)
            fputc(',', stdout);
        put_json_key(stdout, g[i].name);
        printf(":{\"entries\":%llu,\"stored_bytes\":%llu,\"original_bytes\":%llu}",
               (unsigned long long)g[i].entries, (unsigned long long)g[i].stored_bytes,
               (unsigned long long)g[i].original_bytes);
    }
    fputc('}', stdout);
}

static void put_groups_text(const char *title, const blobstore_stats_group *g, size_t n)
{
    printf("\n%-16s %12s %16s %16s\n", title, "entries", "stored bytes", "original bytes");
    for (size_t i = 0; i < n; i++) {
        fputs("  ", stdout);
        put_key(stdout, g[i].name);
        int w = 14 - (int)strlen(g[i].name);
        printf("%*s %12llu %16llu %16llu\n", w > 0 ? w : 0, "", (unsigned long long)g[i].entries,
               (unsigned long long)g[i].stored_bytes, (unsigned long long)g[i].original_bytes);
    }
}

static int cmd_stats(blobstore *bs, int argc, char **argv)
{
    int json = 0;
    for (int i = 0; i < argc; i++) {
        if (strcmp(argv[i], "--json") == 0)
            json = 1;
        else
            return usage_error("stats: unexpected argument %s", argv[i]);
    }
    blobstore_store_stats st = BLOBSTORE_STORE_STATS_INIT;
    int rc = blobstore_stats(&st, bs);
    if (rc)
        return lib_error(rc);
    if (json) {
        printf("{\"entries\":%llu,\"stored_bytes\":%llu,\"original_bytes\":%llu,"
               "\"inline_entries\":%llu,\"blobs\":%llu,\"blob_bytes\":%llu,"
               "\"dedup_saved_bytes\":%llu,\"index_bytes\":",
               (unsigned long long)st.entries, (unsigned long long)st.stored_bytes,
               (unsigned long long)st.original_bytes, (unsigned long long)st.inline_entries,
               (unsigned long long)st.blobs, (unsigned long long)st.blob_bytes,
               (unsigned long long)st.dedup_saved_bytes);
        if (st.index_bytes < 0)
            fputs("null", stdout);
        else
            printf("%lld", (long long)st.index_bytes);
        put_groups_json("formats", st.formats, st.n_formats);
        put_groups_json("codecs", st.codecs, st.n_codecs);
        fputs("}\n", stdout);
    } else {
        printf("entries:         %llu\n", (unsigned long long)st.entries);
        fputs("stored:          ", stdout);
        put_bytes(st.stored_bytes);
        fputs("\noriginal:        ", stdout);
        put_bytes(st.original_bytes);
        if (st.stored_bytes)
            printf("\nratio:           %.2f (original / stored)",
                   (double)st.original_bytes / (double)st.stored_bytes);
        printf("\nblobs:           %llu distinct, ", (unsigned long long)st.blobs);
        put_bytes(st.blob_bytes);
        printf("\ninline entries:  %llu (kept in the index, no blob)\n",
               (unsigned long long)st.inline_entries);
        fputs("dedup savings:   ", stdout);
        put_bytes(st.dedup_saved_bytes);
        fputs("\nindex size:      ", stdout);
        if (st.index_bytes < 0)
            fputs("unknown", stdout);
        else
            put_bytes((uint64_t)st.index_bytes);
        fputc('\n', stdout);
        put_groups_text("by format", st.formats, st.n_formats);
        put_groups_text("by codec", st.codecs, st.n_codecs);
    }
    blobstore_stats_free(&st);
    return EXIT_OK;
}

typedef struct {
    size_t unsafe, foreign, unindexed, norecord, written;
} uncounted;

static int print_problem(void *ctx, const blobstore_problem *p)
{
    static const char *kinds[] = {"",       "corrupt", "dangling",  "orphan",  "temp",
                                  "unsafe", "foreign", "unindexed", "norecord"};
    uncounted *u = ctx; /* problems verify_stats does not count */
    progress_clear_line();
    if (u && p->kind == BLOBSTORE_PROBLEM_UNINDEXED)
        u->unindexed++;
    if (u && p->kind == BLOBSTORE_PROBLEM_FOREIGN)
        u->foreign++;
    if (u && p->kind == BLOBSTORE_PROBLEM_UNSAFE)
        u->unsafe++;
    if (u && p->kind == BLOBSTORE_PROBLEM_NORECORD) {
        u->norecord++;
        u->written += p->repaired != 0;
    }
    const char *fixed = p->kind == BLOBSTORE_PROBLEM_NORECORD ? " [written]" : " [removed]";
    if (p->key) {
        printf("%s ", kinds[p->kind]);
        put_key(stdout, p->key);
        printf(" (%s): %s%s\n", p->blob ? p->blob : "inline", p->detail, p->repaired ? fixed : "");
    } else {
        printf("%s %s: %s%s\n", kinds[p->kind], p->blob, p->detail, p->repaired ? fixed : "");
    }
    return 0;
}

static int has_arg(int argc, char **argv, const char *arg)
{
    for (int i = 0; i < argc; i++)
        if (strcmp(argv[i], arg) == 0)
            return 1;
    return 0;
}

static int cmd_verify(blobstore *bs, int argc, char **argv)
{
    unsigned flags = 0;
    int rebuild = 0;
    for (int i = 0; i < argc; i++) {
        if (strcmp(argv[i], "--repair") == 0)
            flags |= BLOBSTORE_VERIFY_REPAIR;
        else if (strcmp(argv[i], "--rebuild-index") == 0)
            rebuild = 1;
        else
            return usage_error("verify: unexpected argument %s", argv[i]);
    }
    if (rebuild && flags)
        return usage_error("verify: --rebuild-index and --repair go in separate runs");
    if (rebuild) {
        blobstore_rebuild_stats rs;
        int rc = blobstore_rebuild_index(&rs, bs, print_problem, NULL);
        if (rc)
            return lib_error(rc);
        printf("%zu blobs read: %zu entries restored, %zu kept from the index, %zu older blobs "
               "superseded, %zu unreadable\n",
               rs.blobs, rs.restored, rs.kept, rs.superseded, rs.unreadable);
        return rs.unreadable ? EXIT_CORRUPT : EXIT_OK;
    }
    blobstore_verify_stats st;
    uncounted u = {0, 0, 0, 0, 0};
    progress p;
    progress_init(&p, "verify", "entries", -1, 0);
    blobstore_set_progress(bs, p.tty ? progress_entries : NULL, &p);
    int rc = blobstore_verify(&st, bs, flags, print_problem, &u);
    blobstore_set_progress(bs, NULL, NULL);
    progress_done(&p);
    if (rc)
        return lib_error(rc);
    size_t foreign = u.foreign;
    size_t problems = st.corrupt + st.dangling + st.orphans + st.temps + u.unsafe + foreign +
                      u.unindexed + u.norecord;
    printf("%zu entries checked: %zu ok, %zu corrupt, %zu dangling, %zu orphans, %zu temporary "
           "files; %zu repaired\n",
           st.entries, st.ok, st.corrupt, st.dangling, st.orphans, st.temps, st.repaired);
    if (u.unindexed)
        printf("%zu unindexed blobs (entries the index lacks), kept: verify --rebuild-index "
               "restores them\n",
               u.unindexed);
    if (u.norecord)
        printf("%zu entries without their key record (a rebuild would lose them), %zu written\n",
               u.norecord, u.written);
    if (foreign)
        printf("%zu foreign files or links in the store's directories, left alone\n", foreign);
    return problems > st.repaired ? EXIT_CORRUPT : EXIT_OK;
}

static const char *g_dir; /* this run's store directory */

/* A plain client of blobstore_migrate_to(): the library knows the
 * backends, their files and the store's settings. */
static int cmd_migrate(blobstore *bs, int argc, char **argv)
{
    blobstore_options o = BLOBSTORE_OPTIONS_INIT;
    args a = {argc, argv, 0};
    for (; a.i < argc; a.i++) {
        const char *v;
        int m;
        if ((m = opt_value(&a, "--to-dir", &v)) > 0) {
            o.cache_dir = v;
        } else if (m == 0 && (m = opt_value(&a, "--to-backend", &v)) > 0) {
            o.backend = v;
        } else if (m == 0 && (m = opt_value(&a, "--to-blob-backend", &v)) > 0) {
            o.blob_backend = v;
        } else if (m == 0 && (m = opt_value(&a, "--to-shard-chars", &v)) > 0) {
            int n;
            if (parse_int(v, 0, 8, &n))
                return usage_error("migrate: --to-shard-chars must be 0..8");
            o.shard_chars = n == 0 ? BLOBSTORE_SHARD_NONE : n;
        } else if (m < 0) {
            return usage_error("migrate: %s needs a value", argv[a.i]);
        } else {
            return usage_error("migrate: unexpected argument %s", argv[a.i]);
        }
    }
    if (o.cache_dir && !*o.cache_dir)
        return usage_error("migrate: --to-dir needs a directory");
    /* Without --to-dir the store moves in place. */
    int in_place = !o.cache_dir;
    if (in_place && !o.backend && !o.blob_backend)
        return usage_error("migrate: name --to-backend and/or --to-blob-backend (or --to-dir)");
    blobstore_migrate_stats st;
    progress p;
    progress_init(&p, "migrate", "entries", -1, 0);
    blobstore_set_progress(bs, p.tty ? progress_entries : NULL, &p);
    int rc = blobstore_migrate_to(&st, bs, &o, in_place ? BLOBSTORE_MIGRATE_IN_PLACE : 0,
                                  print_problem, NULL);
    blobstore_set_progress(bs, NULL, NULL);
    progress_done(&p);
    if (st.entries || !rc || rc == BLOBSTORE_ECORRUPT)
        printf("%zu entries: %zu copied, %zu already there, %zu failed; %llu bytes copied\n",
               st.entries, st.copied, st.skipped, st.failed, (unsigned long long)st.bytes);
    if (rc)
        return lib_error(rc);
    if (in_place)
        printf("the store in %s now uses %s and %s; its old index and blobs were left as they "
               "were\n",
               g_dir, o.backend ? o.backend : "the same metadata backend",
               o.blob_backend ? o.blob_backend : "the same blob backend");
    return EXIT_OK;
}

static int g_existed; /* the store existed before this run (for init) */

static int cmd_init(blobstore *bs, int argc, char **argv)
{
    (void)bs;
    if (argc > 0)
        return usage_error("init: unexpected argument %s", argv[0]);
    printf(g_existed ? "%s is already a blobstore store\n" : "created a blobstore store in %s\n",
           g_dir);
    return EXIT_OK;
}

/* How a command opens the store. */
enum { OPEN_CREATE, OPEN_WRITE, OPEN_READ, OPEN_VERIFY };

typedef struct {
    const char *name;
    int (*fn)(blobstore *bs, int argc, char **argv);
    int open;
} command;

static const command commands[] = {
    {"init", cmd_init, OPEN_CREATE},
    {"put", cmd_put, OPEN_CREATE},
    {"get", cmd_get, OPEN_READ},
    {"meta", cmd_meta, OPEN_READ},
    {"update-meta", cmd_update_meta, OPEN_WRITE},
    {"rm", cmd_rm, OPEN_WRITE},
    {"exists", cmd_exists, OPEN_READ},
    {"ls", cmd_ls, OPEN_READ},
    {"clear", cmd_clear, OPEN_WRITE},
    {"verify", cmd_verify, OPEN_VERIFY},
    {"stats", cmd_stats, OPEN_READ},
    {"create-index", cmd_create_index, OPEN_WRITE},
    {"migrate", cmd_migrate, OPEN_WRITE},
};

/* A global option at the cursor: 1 applied (the cursor on its last
 * token), 0 not one, or -(exit code + 1) for an error. */
static int global_opt(args *a, blobstore_options *o)
{
    const char *s = a->argv[a->i], *v;
    int m = 0;
    if (strcmp(s, "--content-addressable") == 0) {
        o->content_addressable = BLOBSTORE_YES;
        return 1;
    }
    if ((m = opt_value(a, "--dir", &v)) > 0) {
        o->cache_dir = v;
    } else if (m == 0 && (m = opt_value(a, "--backend", &v)) > 0) {
        o->backend = v;
    } else if (m == 0 && (m = opt_value(a, "--blob-backend", &v)) > 0) {
        o->blob_backend = v;
    } else if (m == 0 && (m = opt_value(a, "--compression", &v)) > 0) {
        o->compression = v;
    } else if (m == 0 && (m = opt_value(a, "--level", &v)) > 0) {
        if (parse_int(v, 1, 9, &o->compression_level))
            return -usage_error("--level must be 1..9") - 1;
    } else if (m == 0 && (m = opt_value(a, "--shard-chars", &v)) > 0) {
        int n;
        if (parse_int(v, 0, 8, &n))
            return -usage_error("--shard-chars must be 0..8") - 1;
        o->shard_chars = n == 0 ? BLOBSTORE_SHARD_NONE : n;
    } else if (m == 0 && (m = opt_value(a, "--durability", &v)) > 0) {
        if (strcmp(v, "durable") == 0)
            o->durability = BLOBSTORE_DURABILITY_DURABLE;
        else if (strcmp(v, "relaxed") == 0)
            o->durability = BLOBSTORE_DURABILITY_RELAXED;
        else
            return -usage_error("--durability must be durable or relaxed") - 1;
    } else if (m < 0) {
        return -usage_error("%s needs a value", s) - 1;
    }
    return m > 0;
}

/* Options of the commands that take a value (skipped when global options
 * are picked out of a command's arguments). */
static int takes_value(const char *s)
{
    static const char *const names[] = {
        "--key",    "--meta",       "--schema",          "-o",
        "--output", "--columns",    "--slice",           "--prefix",
        "--where",  "--order-by",   "--limit",           "--offset",
        "--to-dir", "--to-backend", "--to-blob-backend", "--to-shard-chars"};
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
        if (strcmp(s, names[i]) == 0)
            return 1;
    return 0;
}

/* Commands under other names users type. */
static const struct {
    const char *alias, *name;
} aliases[] = {{"delete", "rm"}, {"remove", "rm"}, {"list", "ls"}, {"cat", "get"}};

/* Edit distance of two short words (for "did you mean"). */
static size_t distance(const char *x, const char *y)
{
    size_t n = strlen(x), m = strlen(y), d[32][32];
    if (n > 30 || m > 30)
        return 99;
    for (size_t i = 0; i <= n; i++)
        d[i][0] = i;
    for (size_t j = 0; j <= m; j++)
        d[0][j] = j;
    for (size_t i = 1; i <= n; i++)
        for (size_t j = 1; j <= m; j++) {
            size_t c = d[i - 1][j - 1] + (x[i - 1] != y[j - 1]);
            if (d[i - 1][j] + 1 < c)
                c = d[i - 1][j] + 1;
            if (d[i][j - 1] + 1 < c)
                c = d[i][j - 1] + 1;
            d[i][j] = c;
        }
    return d[n][m];
}

static char **g_sub_argv;

static void free_sub_argv(void)
{
    free(g_sub_argv);
}

int main(int argc, char **argv)
{
#ifdef __GLIBC__
    /* A table read a row group at a time allocates and frees the same
     * large buffers (a group's columns, its pages, its CSV text) for every
     * group: kept in the heap (up to 32 MiB each, 128 MiB free before any
     * goes back to the kernel) rather than mapped and unmapped each time,
     * their pages are not faulted in and zeroed again (get of one column
     * of a 1 GB file: 191k page faults -> 82k, system time halved). */
    mallopt(M_MMAP_THRESHOLD, 32 << 20);
    mallopt(M_TRIM_THRESHOLD, 128 << 20);
#endif
    blobstore_options o = BLOBSTORE_OPTIONS_INIT;
    args a = {argc, argv, 1};
    o.cache_dir = getenv("BLOBSTORE_DIR");
    for (; a.i < argc; a.i++) {
        const char *s = argv[a.i];
        if (s[0] != '-')
            break;
        if (strcmp(s, "--help") == 0 || strcmp(s, "-h") == 0) {
            print_usage();
            return EXIT_OK;
        }
        if (strcmp(s, "--version") == 0) {
            printf("blobstore %s\n", blobstore_version());
            return EXIT_OK;
        }
        int g = global_opt(&a, &o);
        if (g < 0)
            return -g - 1;
        if (g == 0)
            return usage_error("unknown option %s", s);
    }
    if (a.i >= argc)
        return usage_error("no command given");
    const char *name = argv[a.i];
    for (size_t i = 0; i < sizeof(aliases) / sizeof(aliases[0]); i++)
        if (strcmp(aliases[i].alias, name) == 0)
            name = aliases[i].name;
    const command *cmd = NULL;
    for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
        if (strcmp(commands[i].name, name) == 0)
            cmd = &commands[i];
    if (!cmd) {
        const char *best = NULL;
        size_t bd = 3;
        for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++) {
            size_t d = distance(name, commands[i].name);
            if (d < bd ||
                (strlen(name) >= 2 && !strncmp(commands[i].name, name, strlen(name)) && bd > 1)) {
                bd = d < bd ? d : 1;
                best = commands[i].name;
            }
        }
        for (size_t i = 0; i < sizeof(aliases) / sizeof(aliases[0]); i++)
            if (distance(name, aliases[i].alias) < bd) {
                bd = distance(name, aliases[i].alias);
                best = aliases[i].alias;
            }
        if (best)
            return usage_error("unknown command \"%s\"; did you mean \"%s\"?", name, best);
        return usage_error("unknown command \"%s\"", name);
    }
    /* Global options may also follow the command (blobstore ls --dir S):
     * picked out, the rest left to the command in order. */
    int sub_argc = 0;
    char **sub_argv = g_sub_argv = calloc((size_t)argc + 1, sizeof(char *));
    atexit(free_sub_argv);
    if (!sub_argv) {
        fail("out of memory");
        return EXIT_ERROR;
    }
    for (a.i++; a.i < argc; a.i++) {
        if (strcmp(argv[a.i], "--") == 0) {
            while (a.i < argc)
                sub_argv[sub_argc++] = argv[a.i++];
            break;
        }
        if (takes_value(argv[a.i]) && a.i + 1 < argc) {
            sub_argv[sub_argc++] = argv[a.i++];
            sub_argv[sub_argc++] = argv[a.i];
            continue;
        }
        int g = argv[a.i][0] == '-' ? global_opt(&a, &o) : 0;
        if (g < 0)
            return -g - 1;
        if (g == 0)
            sub_argv[sub_argc++] = argv[a.i];
    }
    if (wants_help(sub_argc, sub_argv)) {
        for (size_t i = 0; i < sizeof(helps) / sizeof(helps[0]); i++)
            if (strcmp(helps[i].name, name) == 0)
                fputs(helps[i].usage, stdout);
        return EXIT_OK;
    }
    g_dir = o.cache_dir && *o.cache_dir ? o.cache_dir : ".blobstore";
    int mode = cmd->open;
    if (mode == OPEN_VERIFY) {
        mode = OPEN_READ;
        for (int i = 0; i < sub_argc; i++)
            if (strcmp(sub_argv[i], "--repair") == 0 || strncmp(sub_argv[i], "--rebuild", 9) == 0)
                mode = OPEN_WRITE;
    }
    o.open_flags = mode == OPEN_READ    ? BLOBSTORE_OPEN_READONLY
                   : mode == OPEN_WRITE ? BLOBSTORE_OPEN_EXISTING
                                        : 0;
    blobstore *bs;
    int rc;
    if (!strcmp(name, "init")) { /* an existing store first, to say which it was */
        o.open_flags = BLOBSTORE_OPEN_EXISTING;
        rc = blobstore_open(&bs, &o);
        g_existed = rc == 0;
        o.open_flags = 0;
        if (rc == BLOBSTORE_ENOTFOUND)
            rc = blobstore_open(&bs, &o);
    } else if (!strcmp(name, "verify") && has_arg(sub_argc, sub_argv, "--rebuild-index")) {
        /* a store whose index is damaged or gone */
        rc = blobstore_open_rebuilding(&bs, &o);
    } else {
        rc = blobstore_open(&bs, &o);
    }
    if (rc)
        return lib_error(rc);
    int code = cmd->fn(bs, sub_argc, sub_argv);
    blobstore_close(bs);
    if (fflush(stdout) != 0) {
        fail("cannot write output: %s", strerror(errno));
        return EXIT_ERROR;
    }
    return code;
}
