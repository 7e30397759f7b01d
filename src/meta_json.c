/*
 * meta_json.c - the JSON file metadata backend (cache_metadata.json).
 *
 * The index is a snapshot and a journal (snapshot format version 3):
 *   cache_metadata.json          one JSON document, for any JSON reader:
 *                                 {"format":"blobstore-metadata","version":3,
 *                                 "xxh3":"H","seq":S,"count":N,
 *                                 "entries":{KEY: ENTRY, ...}}; H is the XXH3-64
 *                                 (16 hex digits) of the file with H read as
 *                                 zeros, so any changed byte is caught.
 *                                 (Version 2 snapshots, "H {header}\n{entries}"
 *                                 with H over everything after "H ", are read.)
 *   cache_metadata.json.journal  a header of three fixed-width lines, then one
 *                                 line per record, each "H JSON\n":
 *                                   {"format":"blobstore-journal","version":2,"base":B}
 *                                   {"seq":N,"len":L}   two commit slots
 *                                   {"seq":N,"len":L}
 *                                   {"put":KEY,"e":ENTRY} | {"del":KEY} ...
 *                                   {"commit":COUNT,"seq":N}
 *
 * Every line carries the XXH3-64 of its text; a record's hash is seeded with
 * the previous line's, so records cannot be dropped, reordered or altered
 * unseen. Commits are numbered from the snapshot's sequence number S (the
 * journal's base B): a journal whose base is past the snapshot's (a deleted
 * or older snapshot) is corruption. After a commit's records are written
 * (and fsynced, if durable), the commit slot (seq % 2) records the number
 * and the journal length that commit reached: a journal shorter than its
 * committed length, or damaged before it, is corruption, however cleanly it
 * was cut. Bytes after the committed length that do not form complete,
 * checksummed transactions are a torn append of a writer that crashed before
 * it acknowledged anything: ignored, and cut off by the next writer. Two
 * slots, so a torn slot write leaves the previous one.
 *
 * A commit appends (O(1) per put). A handle that committed writes a
 * snapshot of everything when it is closed (the journal stays, its commits
 * up to the snapshot's S skipped on load), so after a clean close the
 * snapshot alone holds every entry. When the journal outgrows the snapshot
 * (and 1 MiB), a new snapshot is written (temp, fsync, rename) and a new
 * journal with base S replaces the old by rename; a crash between the two
 * leaves the old journal, whose commits up to S are skipped.
 *
 * Version 1 files (a plain JSON snapshot, a journal of unchecksummed lines)
 * are read as they are and upgraded to version 2 by the first write.
 *
 * Processes share the files under a flock on "<file>.lock" (shared to read,
 * exclusive to write) and catch up by reading the journal from where they
 * stopped; a new snapshot or journal (a new inode) means a full reload. With
 * no path the index lives in memory only.
 */
#include "internal.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <jansson.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>
#include <xxhash.h>

#define JSON_FORMAT       "blobstore-metadata"
#define JSON_VERSION      3
#define JOURNAL_FORMAT    "blobstore-journal"
#define JOURNAL_V1_HEADER "{\"format\":\"blobstore-journal\",\"version\":1}\n"
#define COMPACT_MIN       (1u << 20)
#define HDR_LINE          96 /* each header line, padded with spaces */
#define HDR_LEN           (3 * HDR_LINE)

typedef struct {
    blobstore_meta_backend parent;
    char *path; /* NULL: in memory */
    char *jpath;
    char *lockpath;
    int lockfd, jfd;
    int readonly; /* open for reading only, create nothing */
    int durable;
    json_t *entries; /* object: key -> entry object */
    int loaded;
    int legacy;        /* version 1 files: upgraded by the next write */
    struct stat seen;  /* identity of the snapshot we loaded or wrote */
    struct stat jseen; /* identity of the journal we read */
    uint64_t snapseq;  /* the snapshot's sequence number */
    off_t jpos;        /* journal bytes applied (up to the last commit record) */
    uint64_t jhash;    /* hash of the line ending at jpos (the chain's seed) */
    uint64_t jseq;     /* number of the last commit applied */
    int in_tx, write_tx, dirty;
    int wrote; /* committed since open: write a snapshot at close */
    /* Undo log of the open write transaction: each key's previous value
     * (NULL: absent), replayed backwards by rollback; its keys are also
     * what commit writes to the journal. */
    struct undo {
        char *key;
        json_t *old;
    } * undo;
    size_t nundo, capundo;
} js_backend;

static void undo_clear(js_backend *be)
{
    for (size_t i = 0; i < be->nundo; i++) {
        free(be->undo[i].key);
        json_decref(be->undo[i].old);
    }
    be->nundo = 0;
}

static int undo_record(js_backend *be, const char *key)
{
    if (be->nundo == be->capundo) {
        size_t cap = be->capundo ? be->capundo * 2 : 16;
        struct undo *u = bs__realloc(be->undo, cap * sizeof(*u));
        if (!u)
            return BLOBSTORE_ENOMEM;
        be->undo = u;
        be->capundo = cap;
    }
    char *k = bs__strdup(key);
    if (!k)
        return BLOBSTORE_ENOMEM;
    json_t *old = json_object_get(be->entries, key);
    be->undo[be->nundo].key = k;
    be->undo[be->nundo].old = json_incref(old);
    be->nundo++;
    return 0;
}

static int same_file(const struct stat *a, const struct stat *b)
{
    return a->st_dev == b->st_dev && a->st_ino == b->st_ino && a->st_size == b->st_size &&
           a->st_mtim.tv_sec == b->st_mtim.tv_sec && a->st_mtim.tv_nsec == b->st_mtim.tv_nsec;
}

/* ---- checksummed lines: "<16 hex> TEXT\n", the hash of TEXT seeded ---- */

/* Append "<hash> text<pad>\n" (padded with spaces to width bytes, if
 * larger); *hash receives the line's hash. */
static int put_line(bs_buf *b, const char *text, uint64_t seed, size_t width, uint64_t *hash)
{
    size_t n = strlen(text), body = n;
    if (width > 18 && width - 18 > n)
        body = width - 18;
    char *t = bs__malloc(body + 1);
    if (!t)
        return BLOBSTORE_ENOMEM;
    memcpy(t, text, n);
    memset(t + n, ' ', body - n);
    uint64_t h = XXH3_64bits_withSeed(t, body, seed);
    char hex[18];
    snprintf(hex, sizeof(hex), "%016" PRIx64 " ", h);
    int rc = bs__buf_append(b, hex, 17) || bs__buf_append(b, t, body) || bs__buf_append(b, "\n", 1);
    free(t);
    if (hash)
        *hash = h;
    return rc ? BLOBSTORE_ENOMEM : 0;
}

/* Check one line (len bytes, without its newline): NULL unless its hash
 * matches and its text is a JSON object; *hash receives the hash. */
static json_t *get_line(const char *p, size_t len, uint64_t seed, uint64_t *hash)
{
    if (len < 19 || p[16] != ' ')
        return NULL;
    uint64_t want = 0;
    for (int i = 0; i < 16; i++) {
        char c = p[i];
        int d = c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
        if (d < 0)
            return NULL;
        want = want << 4 | (uint64_t)d;
    }
    if (XXH3_64bits_withSeed(p + 17, len - 17, seed) != want)
        return NULL;
    json_error_t err;
    json_t *o = json_loadb(p + 17, len - 17, 0, &err);
    if (!json_is_object(o)) {
        json_decref(o);
        return NULL;
    }
    *hash = want;
    return o;
}

static int corrupt(const char *file, const char *fmt, ...) BS_PRINTF(2, 3);
static int corrupt(const char *file, const char *fmt, ...)
{
    char detail[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(detail, sizeof(detail), fmt, ap);
    va_end(ap);
    return bs__error(BLOBSTORE_ECORRUPT,
                     "the index is damaged: %s %s (nothing was changed; blobstore verify "
                     "--rebuild-index rebuilds it from the blobs)",
                     file, detail);
}

static int pread_all(int fd, char *buf, size_t n, off_t at, size_t *got)
{
    *got = 0;
    while (*got < n) {
        ssize_t r = pread(fd, buf + *got, n - *got, at + (off_t)*got);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0)
            return -errno;
        if (r == 0)
            break;
        *got += (size_t)r;
    }
    return 0;
}

static uint64_t get_u64(json_t *o, const char *name)
{
    json_t *v = json_object_get(o, name);
    return json_is_integer(v) && json_integer_value(v) >= 0 ? (uint64_t)json_integer_value(v) : 0;
}

/* The XXH3-64 of a version 3 snapshot: its text with the 16 hex digits of
 * its own "xxh3" member (at off) read as zeros. */
static uint64_t snapshot_hash(const char *text, size_t len, size_t off)
{
    XXH3_state_t *st = XXH3_createState();
    if (!st)
        return 0;
    XXH3_64bits_reset(st);
    XXH3_64bits_update(st, text, off);
    XXH3_64bits_update(st, "0000000000000000", 16);
    XXH3_64bits_update(st, text + off + 16, len - off - 16);
    uint64_t h = XXH3_64bits_digest(st);
    XXH3_freeState(st);
    return h;
}

#define HASH_MEMBER "\"xxh3\":\""

/* ---- the snapshot ---- */

/* Read the snapshot into be->entries; a missing snapshot is an empty index.
 * *version receives 0 (none), 1 or 2. */
static int load_snapshot(js_backend *be, const struct stat *st, int *version)
{
    json_decref(be->entries);
    be->entries = NULL;
    be->loaded = 0;
    be->snapseq = 0;
    *version = 0;
    if (!st) {
        memset(&be->seen, 0, sizeof(be->seen));
        be->entries = json_object();
        return be->entries ? 0 : BLOBSTORE_ENOMEM;
    }
    bs_buf buf = {0};
    int rc = bs__read_file(be->path, &buf);
    if (rc) {
        bs__buf_free(&buf);
        return rc == BLOBSTORE_ENOTFOUND ? corrupt(be->path, "vanished while being read") : rc;
    }
    const char *text = (const char *)buf.data;
    json_t *doc = NULL, *entries = NULL;
    if (buf.len > 0 && text[0] == '{') { /* versions 1 and 3: one JSON document */
        json_error_t err;
        doc = json_loadb(text, buf.len, 0, &err);
        if (!doc) {
            bs__buf_free(&buf);
            return corrupt(be->path, "is not valid JSON: line %d: %s", err.line, err.text);
        }
        json_t *fmt = json_object_get(doc, "format"), *ver = json_object_get(doc, "version");
        entries = json_object_get(doc, "entries");
        long long v = json_is_integer(ver) ? (long long)json_integer_value(ver) : 0;
        if (json_is_string(fmt) && strcmp(json_string_value(fmt), JSON_FORMAT) == 0 &&
            v > JSON_VERSION) {
            json_decref(doc);
            bs__buf_free(&buf);
            return bs__error(BLOBSTORE_EUNSUPPORTED,
                             "%s has version %lld; this library reads versions 1 to %d", be->path,
                             v, JSON_VERSION);
        }
        if (!json_is_string(fmt) || strcmp(json_string_value(fmt), JSON_FORMAT) != 0 ||
            !json_is_object(entries) || (v != 1 && v != JSON_VERSION)) {
            json_decref(doc);
            bs__buf_free(&buf);
            return corrupt(be->path, "is not a blobstore metadata file of version 1 or %d",
                           JSON_VERSION);
        }
        *version = 1;
        if (v == JSON_VERSION) { /* checksummed: the hash over the text, count and seq */
            const char *nl = memchr(text, '\n', buf.len);
            const char *h =
                nl ? memmem(text, (size_t)(nl - text), HASH_MEMBER, strlen(HASH_MEMBER)) : NULL;
            json_t *hv = json_object_get(doc, "xxh3");
            char hex[17] = "";
            size_t off = h ? (size_t)(h - text) + strlen(HASH_MEMBER) : 0;
            if (h && off + 16 <= buf.len)
                snprintf(hex, sizeof(hex), "%016" PRIx64, snapshot_hash(text, buf.len, off));
            if (!h || !json_is_string(hv) || strcmp(json_string_value(hv), hex) != 0 ||
                memcmp(text + off, hex, 16) != 0) {
                json_decref(doc);
                bs__buf_free(&buf);
                return corrupt(be->path, "fails its checksum");
            }
            if (json_object_size(entries) != (size_t)get_u64(doc, "count")) {
                json_decref(doc);
                bs__buf_free(&buf);
                return corrupt(be->path, "has entries that do not match its header");
            }
            be->snapseq = get_u64(doc, "seq");
            *version = 2; /* a snapshot that a journal continues */
        }
    } else {
        const char *nl = memchr(text, '\n', buf.len);
        json_t *hdr = NULL;
        if (nl && nl - text > 17 && text[16] == ' ') {
            /* the hash covers the rest of the file */
            uint64_t want = 0;
            int ok = 1;
            for (int i = 0; i < 16 && ok; i++) {
                char c = text[i];
                int d = c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
                ok = d >= 0;
                want = want << 4 | (uint64_t)(d < 0 ? 0 : d);
            }
            if (ok && XXH3_64bits(text + 17, buf.len - 17) == want) {
                json_error_t err;
                hdr = json_loadb(text + 17, (size_t)(nl - text) - 17, 0, &err);
            }
        }
        json_t *fmt = json_object_get(hdr, "format"), *ver = json_object_get(hdr, "version");
        if (!hdr || !json_is_string(fmt) || strcmp(json_string_value(fmt), JSON_FORMAT) != 0 ||
            !json_is_integer(ver)) {
            json_decref(hdr);
            bs__buf_free(&buf);
            return corrupt(be->path, "fails its checksum");
        }
        if (json_integer_value(ver) != 2) {
            long long v = (long long)json_integer_value(ver);
            json_decref(hdr);
            bs__buf_free(&buf);
            return bs__error(BLOBSTORE_EUNSUPPORTED,
                             "%s has version %lld; this library reads versions 1 to %d", be->path,
                             v, JSON_VERSION);
        }
        json_error_t err;
        size_t off = (size_t)(nl - text) + 1;
        entries = json_loadb(text + off, buf.len - off, 0, &err);
        if (!json_is_object(entries) ||
            json_object_size(entries) != (size_t)get_u64(hdr, "count")) {
            json_decref(hdr);
            json_decref(entries);
            bs__buf_free(&buf);
            return corrupt(be->path, "has entries that do not match its header");
        }
        be->snapseq = get_u64(hdr, "seq");
        json_decref(hdr);
        doc = entries; /* released below; entries keeps its own reference */
        *version = 2;
    }
    bs__buf_free(&buf);
    be->entries = json_incref(entries);
    json_decref(doc);
    be->seen = *st;
    return 0;
}

/* A version 3 snapshot is one JSON document that any JSON reader can parse:
 * {"format":"blobstore-metadata","version":3,"xxh3":"H","seq":S,"count":N,
 *  "entries":{KEY: ENTRY, ...}}; H is the XXH3-64 of the file with H read
 * as 16 zeros, so any changed byte is caught. */
static int write_snapshot(js_backend *be, uint64_t seq)
{
    char *body = bs__json_dumps(be->entries);
    if (!body)
        return bs__error(BLOBSTORE_ENOMEM, "cannot serialise metadata");
    char hdr[200];
    snprintf(hdr, sizeof(hdr),
             "{\"format\":\"" JSON_FORMAT "\",\"version\":%d," HASH_MEMBER
             "0000000000000000\",\"seq\":%" PRIu64 ",\"count\":%zu,\n\"entries\":",
             JSON_VERSION, seq, json_object_size(be->entries));
    size_t off = (size_t)(strstr(hdr, HASH_MEMBER) - hdr) + strlen(HASH_MEMBER);
    bs_buf b = {0};
    int rc = bs__buf_append(&b, hdr, strlen(hdr)) || bs__buf_append(&b, body, strlen(body)) ||
             bs__buf_append(&b, "}\n", 2);
    free(body);
    if (rc) {
        bs__buf_free(&b);
        return BLOBSTORE_ENOMEM;
    }
    char hex[17];
    snprintf(hex, sizeof(hex), "%016" PRIx64, snapshot_hash((const char *)b.data, b.len, off));
    memcpy(b.data + off, hex, 16);
    rc = bs__write_file_atomic(be->path, b.data, b.len, be->durable);
    bs__buf_free(&b);
    if (rc)
        return rc;
    if (stat(be->path, &be->seen) != 0)
        return bs__error_errno(errno, "cannot stat %s", be->path);
    be->snapseq = seq;
    return 0;
}

/* ---- the journal ---- */

/* Header lines of a journal with this base, committed up to (seq, len). */
static int header_lines(bs_buf *b, uint64_t base, uint64_t *hash0)
{
    char t[HDR_LINE];
    snprintf(t, sizeof(t), "{\"format\":\"" JOURNAL_FORMAT "\",\"version\":2,\"base\":%" PRIu64 "}",
             base);
    return put_line(b, t, 0, HDR_LINE, hash0);
}

static int slot_line(bs_buf *b, uint64_t seq, uint64_t len)
{
    char t[HDR_LINE];
    snprintf(t, sizeof(t), "{\"seq\":%" PRIu64 ",\"len\":%" PRIu64 "}", seq, len);
    return put_line(b, t, 0, HDR_LINE, NULL);
}

/* (Re)open the journal file, remembering its identity. */
static int journal_open(js_backend *be)
{
    if (be->jfd >= 0)
        close(be->jfd);
    be->jfd = be->readonly ? -1 : open(be->jpath, O_RDWR | O_NOFOLLOW | O_CLOEXEC);
    if (be->readonly || (be->jfd < 0 && errno == EACCES))
        be->jfd = open(be->jpath, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
    if (be->jfd < 0)
        return bs__error_errno(errno, "cannot open %s", be->jpath);
    if (fstat(be->jfd, &be->jseen) != 0)
        return bs__error_errno(errno, "cannot stat %s", be->jpath);
    return 0;
}

/* Replace the journal by an empty one continuing from snapshot seq base. */
static int journal_start(js_backend *be, uint64_t base)
{
    bs_buf b = {0};
    uint64_t h0;
    int rc = header_lines(&b, base, &h0);
    if (!rc)
        rc = slot_line(&b, base, HDR_LEN) || slot_line(&b, base, HDR_LEN) ? BLOBSTORE_ENOMEM : 0;
    if (!rc)
        rc = bs__write_file_atomic(be->jpath, b.data, b.len, be->durable);
    bs__buf_free(&b);
    if (!rc)
        rc = journal_open(be);
    if (rc)
        return rc;
    be->legacy = 0;
    be->jpos = HDR_LEN;
    be->jhash = h0;
    be->jseq = base;
    return 0;
}

/* Read the journal's header: its base, the hash seeding its records, and the
 * last commit recorded in a slot. */
static int read_header(js_backend *be, uint64_t *base, uint64_t *hash0, uint64_t *cseq,
                       uint64_t *clen)
{
    char buf[HDR_LEN];
    size_t got;
    int e = pread_all(be->jfd, buf, HDR_LEN, 0, &got);
    if (e)
        return bs__error_errno(-e, "cannot read %s", be->jpath);
    if (got < HDR_LEN)
        return corrupt(be->jpath, "is cut short in its header (%zu bytes)", got);
    uint64_t h;
    json_t *o = buf[HDR_LINE - 1] == '\n' ? get_line(buf, HDR_LINE - 1, 0, &h) : NULL;
    json_t *fmt = json_object_get(o, "format"), *ver = json_object_get(o, "version");
    if (!o || !json_is_string(fmt) || strcmp(json_string_value(fmt), JOURNAL_FORMAT) != 0 ||
        !json_is_integer(ver) || !json_is_integer(json_object_get(o, "base"))) {
        json_decref(o);
        return corrupt(be->jpath, "has a damaged header");
    }
    if (json_integer_value(ver) != 2) {
        long long v = (long long)json_integer_value(ver);
        json_decref(o);
        return bs__error(BLOBSTORE_EUNSUPPORTED,
                         "%s has version %lld; this library reads versions 1 and 2", be->jpath, v);
    }
    *base = get_u64(o, "base");
    *hash0 = h;
    json_decref(o);
    int have = 0;
    for (int s = 1; s <= 2; s++) {
        const char *p = buf + s * HDR_LINE;
        uint64_t sh;
        json_t *slot = p[HDR_LINE - 1] == '\n' ? get_line(p, HDR_LINE - 1, 0, &sh) : NULL;
        if (slot && json_is_integer(json_object_get(slot, "seq")) &&
            json_is_integer(json_object_get(slot, "len"))) {
            uint64_t seq = get_u64(slot, "seq");
            if (!have || seq > *cseq) {
                *cseq = seq;
                *clen = get_u64(slot, "len");
            }
            have = 1;
        }
        json_decref(slot);
    }
    if (!have)
        return corrupt(be->jpath, "has no valid commit slot");
    if (*cseq < *base || *clen < HDR_LEN)
        return corrupt(be->jpath, "has an impossible commit slot");
    return 0;
}

static int apply(js_backend *be, json_t *pending, const char *file)
{
    for (size_t i = 0; i < json_array_size(pending); i++) {
        json_t *r = json_array_get(pending, i), *k, *e;
        if ((k = json_object_get(r, "put")) && json_is_string(k) &&
            json_is_object(e = json_object_get(r, "e"))) {
            if (json_object_set(be->entries, json_string_value(k), e) != 0)
                return BLOBSTORE_ENOMEM;
        } else if ((k = json_object_get(r, "del")) && json_is_string(k)) {
            json_object_del(be->entries, json_string_value(k));
        } else {
            return corrupt(file, "has an unknown record");
        }
    }
    return 0;
}

/* Read the journal from be->jpos to its end into a NUL-terminated buffer. */
static int journal_rest(js_backend *be, char **out, size_t *out_n)
{
    struct stat st;
    *out = NULL;
    *out_n = 0;
    if (fstat(be->jfd, &st) != 0)
        return bs__error_errno(errno, "cannot stat %s", be->jpath);
    if (st.st_size <= be->jpos)
        return 0;
    size_t n = (size_t)(st.st_size - be->jpos), got;
    char *buf = bs__malloc(n + 1);
    if (!buf)
        return BLOBSTORE_ENOMEM;
    int e = pread_all(be->jfd, buf, n, be->jpos, &got);
    if (e) {
        free(buf);
        return bs__error_errno(-e, "cannot read %s", be->jpath);
    }
    buf[got] = '\0';
    *out = buf;
    *out_n = got;
    return 0;
}

/* Apply the complete, checksummed transactions from be->jpos on. Damage
 * before the committed length clen is corruption; after it, a torn append. */
static int replay(js_backend *be, uint64_t clen)
{
    struct stat st;
    if (fstat(be->jfd, &st) != 0)
        return bs__error_errno(errno, "cannot stat %s", be->jpath);
    if ((uint64_t)st.st_size < clen)
        return corrupt(be->jpath, "is %lld bytes long, but %" PRIu64 " bytes were committed",
                       (long long)st.st_size, clen);
    char *buf;
    size_t got;
    int rc = journal_rest(be, &buf, &got);
    if (rc || !buf)
        return rc;
    json_t *pending = json_array(); /* records of the transaction being read */
    rc = pending ? 0 : BLOBSTORE_ENOMEM;
    size_t pos = 0, applied = 0;
    uint64_t h = be->jhash, applied_h = be->jhash, seq = be->jseq;
    while (!rc && pos < got) {
        char *nl = memchr(buf + pos, '\n', got - pos);
        uint64_t lh;
        json_t *rec = nl ? get_line(buf + pos, (size_t)(nl - (buf + pos)), h, &lh) : NULL;
        json_t *commit = json_object_get(rec, "commit");
        int bad = !rec || (commit && (get_u64(rec, "seq") != seq + 1 ||
                                      get_u64(rec, "commit") != json_array_size(pending)));
        if (bad) {
            json_decref(rec);
            break;
        }
        pos = (size_t)(nl - buf) + 1;
        h = lh;
        if (commit) {
            seq++;
            if (seq > be->snapseq) /* else the snapshot holds it already */
                rc = apply(be, pending, be->jpath);
            json_array_clear(pending);
            applied = pos;
            applied_h = h;
        } else if (json_array_append(pending, rec) != 0) {
            rc = BLOBSTORE_ENOMEM;
        }
        json_decref(rec);
    }
    json_decref(pending);
    free(buf);
    if (rc)
        return rc;
    if ((uint64_t)be->jpos + applied < clen)
        return corrupt(be->jpath,
                       "is damaged at byte %lld (before its committed length %" PRIu64 ")",
                       (long long)(be->jpos + (off_t)applied), clen);
    be->jpos += (off_t)applied;
    be->jhash = applied_h;
    be->jseq = seq;
    return 0;
}

/* Version 1 journal: apply the complete transactions from be->jpos on. */
static int replay_v1(js_backend *be)
{
    char *buf;
    size_t got;
    int rc = journal_rest(be, &buf, &got);
    if (rc || !buf)
        return rc;
    json_t *pending = json_array();
    rc = pending ? 0 : BLOBSTORE_ENOMEM;
    size_t pos = 0, applied = 0;
    while (!rc && pos < got) {
        char *nl = memchr(buf + pos, '\n', got - pos);
        if (!nl)
            break; /* a torn last line */
        size_t len = (size_t)(nl - (buf + pos));
        json_error_t err;
        json_t *rec = json_loadb(buf + pos, len, 0, &err);
        size_t line_start = pos;
        pos += len + 1;
        if (!json_is_object(rec)) {
            json_decref(rec);
            if (strstr(buf + pos, "{\"commit\":"))
                rc = corrupt(be->jpath, "is damaged at byte %lld",
                             (long long)(be->jpos + (off_t)line_start));
            break;
        }
        if (json_object_get(rec, "format")) {
            if (be->jpos + (off_t)line_start != 0)
                rc = corrupt(be->jpath, "has a header in the middle");
            applied = pos;
        } else if (json_object_get(rec, "commit")) {
            rc = apply(be, pending, be->jpath);
            json_array_clear(pending);
            applied = pos;
        } else if (json_array_append(pending, rec) != 0) {
            rc = BLOBSTORE_ENOMEM;
        }
        json_decref(rec);
    }
    json_decref(pending);
    free(buf);
    if (!rc)
        be->jpos += (off_t)applied;
    return rc;
}

/* Load everything from the files. */
static int full_load(js_backend *be, const struct stat *snap, const struct stat *jst)
{
    int version, rc;
    be->loaded = 0;
    if (jst) {
        if (be->jfd < 0 || be->jseen.st_ino != jst->st_ino || be->jseen.st_dev != jst->st_dev)
            if ((rc = journal_open(be)) != 0)
                return rc;
    } else if (be->jfd >= 0) {
        close(be->jfd);
        be->jfd = -1;
    }
    if ((rc = load_snapshot(be, snap, &version)) != 0)
        return rc;
    be->jpos = 0;
    be->jhash = 0;
    be->jseq = be->snapseq;
    char first[sizeof(JOURNAL_V1_HEADER)] = "";
    size_t got = 0;
    if (be->jfd >= 0) {
        int e = pread_all(be->jfd, first, sizeof(first) - 1, 0, &got);
        if (e)
            return bs__error_errno(-e, "cannot read %s", be->jpath);
        first[got] = '\0';
    }
    if (got == 0 || strncmp(first, JOURNAL_V1_HEADER, strlen(JOURNAL_V1_HEADER)) == 0 ||
        first[0] == '{') {
        /* no journal, an empty one, or version 1 */
        if (version == 2)
            return corrupt(be->jpath,
                           got == 0 ? "is missing or empty, but the snapshot %s needs it"
                                    : "is of version 1, but the snapshot %s is of 2",
                           be->path);
        be->legacy = 1;
        rc = be->jfd >= 0 ? replay_v1(be) : 0;
    } else {
        uint64_t base = 0, h0 = 0, cseq = 0, clen = 0;
        if ((rc = read_header(be, &base, &h0, &cseq, &clen)) != 0)
            return rc;
        if (version != 2)
            return corrupt(be->path, "%s (the journal continues from snapshot %" PRIu64 ")",
                           version ? "is of version 1" : "is missing", base);
        if (be->snapseq < base)
            return corrupt(be->path, "is older (%" PRIu64 ") than the journal needs (%" PRIu64 ")",
                           be->snapseq, base);
        be->legacy = 0;
        be->jpos = HDR_LEN;
        be->jhash = h0;
        be->jseq = base;
        rc = replay(be, clen);
        if (!rc && be->jseq < be->snapseq && be->jseq < cseq)
            rc = corrupt(be->jpath, "ends at commit %" PRIu64 ", but %" PRIu64 " was committed",
                         be->jseq, cseq);
    }
    if (!rc)
        be->loaded = 1;
    return rc;
}

/* Bring the in-memory index up to date with the files. */
static int sync_in(js_backend *be)
{
    struct stat st, jst;
    int exists = stat(be->path, &st) == 0;
    if (!exists && errno != ENOENT)
        return bs__error_errno(errno, "cannot stat %s", be->path);
    int jexists = stat(be->jpath, &jst) == 0;
    if (!jexists && errno != ENOENT)
        return bs__error_errno(errno, "cannot stat %s", be->jpath);
    int reload = !be->loaded || (exists ? !same_file(&st, &be->seen) : be->seen.st_ino != 0) ||
                 jexists != (be->jfd >= 0) ||
                 (jexists && (jst.st_ino != be->jseen.st_ino || jst.st_dev != be->jseen.st_dev ||
                              jst.st_size < be->jpos));
    int rc;
    if (reload) {
        rc = full_load(be, exists ? &st : NULL, jexists ? &jst : NULL);
    } else if (be->legacy) {
        rc = replay_v1(be);
    } else {
        uint64_t base, h0, cseq = 0, clen = 0;
        rc = read_header(be, &base, &h0, &cseq, &clen);
        if (!rc && base != be->snapseq && be->seen.st_ino != 0 && base > be->snapseq)
            rc = corrupt(be->path, "is older than the journal needs");
        if (!rc)
            rc = replay(be, clen);
    }
    if (rc)
        be->loaded = 0;
    return rc;
}

/* Version 1 files become version 2: a snapshot of everything, then a new
 * journal continuing from it. */
static int upgrade(js_backend *be)
{
    uint64_t seq = be->jseq + 1;
    int rc = write_snapshot(be, seq);
    if (!rc)
        rc = journal_start(be, seq);
    if (rc)
        be->loaded = 0;
    return rc;
}

/* Append this transaction's records and a commit record to the journal,
 * then record the commit in its slot. */
static int append(js_backend *be)
{
    bs_buf b = {0};
    int rc = 0;
    uint64_t h = be->jhash;
    size_t count = 0;
    /* Only the last record per key matters: found from the end with a set
     * of the keys seen (comparing each with every later one was quadratic:
     * a batch of 100,000 puts took minutes to commit). */
    unsigned char *last = bs__malloc(be->nundo ? be->nundo : 1);
    json_t *seen = json_object();
    if (!last || !seen)
        rc = BLOBSTORE_ENOMEM;
    for (size_t i = be->nundo; !rc && i-- > 0;) {
        last[i] = json_object_get(seen, be->undo[i].key) == NULL;
        if (last[i] && json_object_set_new_nocheck(seen, be->undo[i].key, json_true()) != 0)
            rc = BLOBSTORE_ENOMEM;
    }
    json_decref(seen);
    for (size_t i = 0; !rc && i < be->nundo; i++) {
        const char *key = be->undo[i].key;
        if (!last[i])
            continue;
        json_t *cur = json_object_get(be->entries, key);
        json_t *rec =
            cur ? json_pack("{s:s, s:O}", "put", key, "e", cur) : json_pack("{s:s}", "del", key);
        char *line = rec ? bs__json_dumps(rec) : NULL;
        json_decref(rec);
        rc = line ? put_line(&b, line, h, 0, &h) : BLOBSTORE_ENOMEM;
        free(line);
        count++;
    }
    free(last);
    uint64_t seq = be->jseq + 1;
    char tail[64];
    snprintf(tail, sizeof(tail), "{\"commit\":%zu,\"seq\":%" PRIu64 "}", count, seq);
    if (!rc)
        rc = put_line(&b, tail, h, 0, &h);
    if (rc) {
        bs__buf_free(&b);
        return BLOBSTORE_ENOMEM;
    }
    /* Cut off a torn append left by a crashed writer, then write at the end. */
    struct stat js;
    if (fstat(be->jfd, &js) == 0 && js.st_size > be->jpos && ftruncate(be->jfd, be->jpos) != 0)
        rc = bs__error_errno(errno, "cannot truncate %s", be->jpath);
    if (!rc) {
        int e = 0;
        size_t done = 0;
        while (!e && done < b.len) {
            ssize_t w = pwrite(be->jfd, b.data + done, b.len - done, be->jpos + (off_t)done);
            if (w < 0 && errno == EINTR)
                continue;
            if (w < 0)
                e = errno;
            else
                done += (size_t)w;
        }
        if (e)
            rc = bs__error_errno(e, "cannot write %s", be->jpath);
    }
    if (!rc && be->durable && fdatasync(be->jfd) != 0)
        rc = bs__error_errno(errno, "fsync of %s", be->jpath);
    bs_buf slot = {0};
    off_t end = be->jpos + (off_t)b.len;
    bs__buf_free(&b);
    if (!rc)
        rc = slot_line(&slot, seq, (uint64_t)end);
    if (!rc) {
        /* The slot is synced with the next commit's records: until then a
         * crash leaves the previous slot, never one past the records. */
        off_t at = (off_t)(seq % 2 ? 1 : 2) * HDR_LINE;
        ssize_t w = pwrite(be->jfd, slot.data, slot.len, at);
        if (w != (ssize_t)slot.len)
            rc = bs__error_errno(w < 0 ? errno : EIO, "cannot write %s", be->jpath);
    }
    bs__buf_free(&slot);
    if (rc) {
        /* Nothing acknowledged: the records past jpos are cut by the next
         * writer, or ignored if the slot did not reach them. */
        be->loaded = 0;
        return rc;
    }
    be->jpos = end;
    be->jhash = h;
    be->jseq = seq;
    if (fstat(be->jfd, &be->jseen) != 0)
        memset(&be->jseen, 0, sizeof(be->jseen));
    return 0;
}

/* Fold the journal into a new snapshot once it outgrows the snapshot. */
static int maybe_compact(js_backend *be)
{
    if (be->jpos < (off_t)COMPACT_MIN || be->jpos < be->seen.st_size)
        return 0;
    int rc = write_snapshot(be, be->jseq);
    if (!rc)
        rc = journal_start(be, be->jseq);
    if (rc)
        be->loaded = 0;
    return rc;
}

static int js_begin(blobstore_meta_backend *pbe, int write)
{
    js_backend *be = (js_backend *)pbe;
    if (be->in_tx)
        return bs__error(BLOBSTORE_EINVAL, "a transaction is already open");
    if (write && be->readonly)
        return bs__error(BLOBSTORE_EREADONLY, "%s is open read-only", be->path);
    if (be->path) {
        while (be->lockfd >= 0 && flock(be->lockfd, write ? LOCK_EX : LOCK_SH) != 0) {
            if (errno != EINTR)
                return bs__error_errno(errno, "cannot lock %s", be->lockpath);
        }
        int rc = sync_in(be);
        if (!rc && write && be->legacy)
            rc = upgrade(be);
        if (rc) {
            if (be->lockfd >= 0)
                flock(be->lockfd, LOCK_UN);
            return rc;
        }
    }
    be->in_tx = 1;
    be->write_tx = write;
    be->dirty = 0;
    return 0;
}

static void end_tx(js_backend *be)
{
    undo_clear(be);
    if (be->path && be->lockfd >= 0)
        flock(be->lockfd, LOCK_UN);
    be->in_tx = be->write_tx = be->dirty = 0;
}

static int undo_apply(js_backend *be)
{
    int rc = 0;
    for (size_t i = be->nundo; i-- > 0;) {
        struct undo *u = &be->undo[i];
        if (u->old)
            rc |= json_object_set(be->entries, u->key, u->old);
        else
            json_object_del(be->entries, u->key);
    }
    if (rc)
        be->loaded = 0; /* could not restore in memory: reload from the files */
    return rc;
}

static int js_commit(blobstore_meta_backend *pbe)
{
    js_backend *be = (js_backend *)pbe;
    int rc = 0;
    if (be->path && be->dirty) {
        rc = append(be);
        if (rc) {
            undo_apply(be); /* not committed: memory goes back to what the files say */
        } else {
            be->wrote = 1;
            maybe_compact(be); /* best effort: the journal already holds the commit */
        }
    }
    end_tx(be);
    return rc;
}

static int js_rollback(blobstore_meta_backend *pbe)
{
    js_backend *be = (js_backend *)pbe;
    int failed = undo_apply(be) && !be->path; /* with files, the next begin reloads */
    end_tx(be);
    return failed ? bs__error(BLOBSTORE_ENOMEM, "rollback ran out of memory") : 0;
}

static char *dup_str(json_t *o, const char *name, int *oom)
{
    json_t *v = json_object_get(o, name);
    if (!json_is_string(v))
        return NULL;
    char *s = bs__strdup(json_string_value(v));
    if (!s)
        *oom = 1;
    return s;
}

static int to_entry(const char *key, json_t *o, blobstore_entry *e)
{
    int oom = 0;
    memset(e, 0, sizeof(*e));
    if (!json_is_object(o))
        return bs__error(BLOBSTORE_ECORRUPT, "metadata of \"%s\" is not an object", key);
    e->key = bs__strdup(key);
    e->blob = dup_str(o, "blob", &oom);
    e->format = dup_str(o, "format", &oom);
    e->compression = dup_str(o, "compression", &oom);
    e->content_hash = dup_str(o, "content_hash", &oom);
    e->created_at = dup_str(o, "created_at", &oom);
    e->updated_at = dup_str(o, "updated_at", &oom);
    json_t *m = json_object_get(o, "metadata"), *info = json_object_get(o, "info");
    e->metadata = json_is_object(m) ? bs__json_dumps(m) : NULL;
    e->info = json_is_object(info) ? bs__json_dumps(info) : NULL;
    e->size = get_u64(o, "size");
    e->file_size = get_u64(o, "file_size");
    e->raw = json_is_true(json_object_get(o, "raw"));
    if (oom || !e->key || !e->metadata || (json_is_object(info) && !e->info)) {
        blobstore_entry_clear(e);
        return BLOBSTORE_ENOMEM;
    }
    if (!e->format || !e->content_hash) {
        blobstore_entry_clear(e);
        return bs__error(BLOBSTORE_ECORRUPT, "metadata of \"%s\" lacks required fields", key);
    }
    return 0;
}

static int js_get(blobstore_meta_backend *pbe, const char *key, blobstore_entry *out)
{
    js_backend *be = (js_backend *)pbe;
    json_t *o = json_object_get(be->entries, key);
    if (!o)
        return bs__error(BLOBSTORE_ENOTFOUND, "no entry with key \"%s\"", key);
    return to_entry(key, o, out);
}

static int set_str(json_t *o, const char *name, const char *v)
{
    return v ? json_object_set_new(o, name, json_string(v)) : 0;
}

static int js_put(blobstore_meta_backend *pbe, const blobstore_entry *e)
{
    js_backend *be = (js_backend *)pbe;
    json_error_t err;
    json_t *m = json_loads(e->metadata ? e->metadata : "{}", 0, &err);
    json_t *info = e->info ? json_loads(e->info, 0, &err) : NULL;
    json_t *o = json_object();
    int bad = !m || !o || (e->info && !info);
    if (!bad) {
        bad |= set_str(o, "blob", e->blob);
        bad |= set_str(o, "format", e->format);
        bad |= set_str(o, "compression", e->compression);
        bad |= set_str(o, "content_hash", e->content_hash);
        bad |= set_str(o, "created_at", e->created_at);
        bad |= set_str(o, "updated_at", e->updated_at);
        bad |= json_object_set_new(o, "size", json_integer((json_int_t)e->size));
        bad |= json_object_set_new(o, "file_size", json_integer((json_int_t)e->file_size));
        bad |= json_object_set_new(o, "raw", json_boolean(e->raw));
        bad |= json_object_set(o, "metadata", m);
        if (info)
            bad |= json_object_set(o, "info", info);
    }
    json_decref(m);
    json_decref(info);
    if (!bad && undo_record(be, e->key) != 0) {
        json_decref(o);
        return BLOBSTORE_ENOMEM;
    }
    if (bad || json_object_set_new(be->entries, e->key, o) != 0) {
        if (bad)
            json_decref(o);
        return bs__error(BLOBSTORE_EINVAL, "cannot store metadata of \"%s\"", e->key);
    }
    be->dirty = 1;
    return 0;
}

static int js_remove(blobstore_meta_backend *pbe, const char *key)
{
    js_backend *be = (js_backend *)pbe;
    if (!json_object_get(be->entries, key))
        return bs__error(BLOBSTORE_ENOTFOUND, "no entry with key \"%s\"", key);
    if (undo_record(be, key) != 0)
        return BLOBSTORE_ENOMEM;
    if (json_object_del(be->entries, key) != 0)
        return bs__error(BLOBSTORE_ENOTFOUND, "no entry with key \"%s\"", key);
    be->dirty = 1;
    return 0;
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

static int js_iterate(blobstore_meta_backend *pbe, const char *prefix, blobstore_entry_fn fn,
                      void *ctx)
{
    js_backend *be = (js_backend *)pbe;
    size_t n = json_object_size(be->entries), k = 0, plen = prefix ? strlen(prefix) : 0;
    const char **keys = bs__calloc(n, sizeof(*keys));
    if (!keys)
        return BLOBSTORE_ENOMEM;
    const char *key;
    json_t *v;
    json_object_foreach(be->entries, key, v)
    {
        if (!plen || strncmp(key, prefix, plen) == 0)
            keys[k++] = key;
    }
    qsort(keys, k, sizeof(*keys), cmp_str);
    int rc = 0;
    for (size_t i = 0; i < k && !rc; i++) {
        blobstore_entry e;
        rc = to_entry(keys[i], json_object_get(be->entries, keys[i]), &e);
        if (!rc) {
            rc = fn(ctx, &e);
            blobstore_entry_clear(&e);
        }
    }
    free(keys);
    return rc;
}

/* stats: one pass over the entries in memory; the (blob, file_size) pairs
 * are sorted to find shared blobs (the names stay owned by the index). A
 * shared blob counts once, at the largest file_size its entries record. */
typedef struct {
    const char *blob;
    uint64_t file_size;
} js_blob;

/* by blob, then largest file_size first */
static int cmp_js_blob(const void *a, const void *b)
{
    const js_blob *x = a, *y = b;
    int c = strcmp(x->blob, y->blob);
    return c ? c : (x->file_size < y->file_size) - (x->file_size > y->file_size);
}

static const char *str_member(json_t *o, const char *name)
{
    return json_string_value(json_object_get(o, name));
}

static int js_stats(blobstore_meta_backend *pbe, blobstore_meta_stats *st)
{
    js_backend *be = (js_backend *)pbe;
    size_t n = json_object_size(be->entries), nb = 0, ng = 0;
    js_blob *blobs = bs__calloc(n ? n : 1, sizeof(*blobs));
    blobstore_meta_group *groups = NULL;
    if (!blobs)
        return BLOBSTORE_ENOMEM;
    const char *key;
    json_t *o;
    int rc = 0;
    json_object_foreach(be->entries, key, o)
    {
        const char *format = str_member(o, "format"), *codec = str_member(o, "compression");
        size_t i = 0;
        while (i < ng && !(!strcmp(groups[i].format, format ? format : "") &&
                           !strcmp(groups[i].compression, codec ? codec : "")))
            i++;
        if (i == ng) {
            blobstore_meta_group *g = bs__realloc(groups, (ng + 1) * sizeof(*g));
            if (!g) {
                rc = BLOBSTORE_ENOMEM;
                break;
            }
            groups = g;
            memset(&g[ng], 0, sizeof(g[ng]));
            g[ng].format = format ? format : "";
            g[ng].compression = codec ? codec : "";
            ng++;
        }
        uint64_t size = get_u64(o, "size"), file_size = get_u64(o, "file_size");
        groups[i].entries++;
        groups[i].size += size;
        groups[i].file_size += file_size;
        const char *blob = str_member(o, "blob");
        if (blob) {
            groups[i].blob_entries++;
            groups[i].blob_file_size += file_size;
            blobs[nb].blob = blob;
            blobs[nb++].file_size = file_size;
        }
    }
    if (!rc) {
        if (nb)
            qsort(blobs, nb, sizeof(*blobs), cmp_js_blob);
        for (size_t i = 1; i < nb; i++)
            if (strcmp(blobs[i].blob, blobs[i - 1].blob) == 0) {
                st->shared_entries++;
                st->shared_bytes += blobs[i].file_size;
            }
    }
    for (size_t i = 0; i < ng && !rc; i++)
        rc = st->group(st->ctx, &groups[i]);
    free(groups);
    free(blobs);
    return rc;
}

/* At close, after commits: a snapshot of every entry, so cache_metadata.json
 * alone is the whole index (best effort: the journal holds every commit). */
static void snapshot_at_close(js_backend *be)
{
    if (!be->path || be->readonly || !be->wrote || be->lockfd < 0)
        return;
    while (flock(be->lockfd, LOCK_EX) != 0)
        if (errno != EINTR)
            return;
    char saved[1024];
    snprintf(saved, sizeof(saved), "%s", blobstore_errmsg());
    if (sync_in(be) == 0 && !be->legacy && be->jseq > be->snapseq)
        write_snapshot(be, be->jseq);
    bs__error(0, "%s", saved);
    flock(be->lockfd, LOCK_UN);
}

static void js_free(blobstore_meta_backend *pbe)
{
    js_backend *be = (js_backend *)pbe;
    if (!be)
        return;
    if (be->in_tx)
        end_tx(be);
    snapshot_at_close(be);
    if (be->lockfd >= 0)
        close(be->lockfd);
    if (be->jfd >= 0)
        close(be->jfd);
    free(be->jpath);
    undo_clear(be);
    free(be->undo);
    json_decref(be->entries);
    free(be->path);
    free(be->lockpath);
    free(be);
}

BLOBSTORE_API int blobstore_meta_backend_json_new(blobstore_meta_backend **out, const char *path,
                                                  int durable)
{
    return bs__meta_json_open(out, path, durable, 0);
}

/* readonly: open the files for reading only and create none (a lock file
 * that is not there means no locking: no writer has opened the store). */
int bs__meta_json_open(blobstore_meta_backend **out, const char *path, int durable, int readonly)
{
    if (!out)
        return bs__error(BLOBSTORE_EINVAL, "out is NULL");
    js_backend *be = bs__calloc(1, sizeof(*be));
    if (!be)
        return BLOBSTORE_ENOMEM;
    be->lockfd = be->jfd = -1;
    be->durable = durable;
    be->readonly = readonly;
    int rc = 0;
    if (path) {
        size_t n = strlen(path);
        be->path = bs__strdup(path);
        be->lockpath = bs__malloc(n + 6);
        be->jpath = bs__malloc(n + 9);
        if (!be->path || !be->lockpath || !be->jpath) {
            rc = BLOBSTORE_ENOMEM;
        } else {
            snprintf(be->lockpath, n + 6, "%s.lock", path);
            snprintf(be->jpath, n + 9, "%s.journal", path);
            be->lockfd = readonly
                             ? open(be->lockpath, O_RDONLY | O_NOFOLLOW | O_CLOEXEC)
                             : open(be->lockpath, O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0644);
            if (be->lockfd < 0 && !(readonly && errno == ENOENT))
                rc = bs__error_errno(errno, "cannot open %s", be->lockpath);
        }
        if (!rc && readonly) {
            if (be->lockfd >= 0)
                flock(be->lockfd, LOCK_SH);
            rc = sync_in(be); /* report a damaged index at open */
            if (be->lockfd >= 0)
                flock(be->lockfd, LOCK_UN);
        } else if (!rc && flock(be->lockfd, LOCK_EX) == 0) {
            struct stat st;
            if (stat(be->path, &st) != 0 && errno == ENOENT && stat(be->jpath, &st) != 0 &&
                errno == ENOENT) {
                /* a new index: a snapshot and a journal from the start, so
                 * that losing either is seen */
                be->entries = json_object();
                rc = be->entries ? write_snapshot(be, 1) : BLOBSTORE_ENOMEM;
                if (!rc)
                    rc = journal_start(be, 1);
            }
            if (!rc)
                rc = sync_in(be); /* report a damaged index at open */
            flock(be->lockfd, LOCK_UN);
        }
    } else {
        be->entries = json_object();
        rc = be->entries ? 0 : BLOBSTORE_ENOMEM;
    }
    if (rc) {
        js_free(&be->parent);
        return rc;
    }
    be->parent.version = BLOBSTORE_META_BACKEND_VERSION;
    be->parent.begin = js_begin;
    be->parent.commit = js_commit;
    be->parent.rollback = js_rollback;
    be->parent.get = js_get;
    be->parent.put = js_put;
    be->parent.remove = js_remove;
    be->parent.iterate = js_iterate;
    be->parent.stats = js_stats;
    be->parent.free = js_free;
    *out = &be->parent;
    return 0;
}
