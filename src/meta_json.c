/*
 * meta_json.c - the JSON file metadata backend (cache_metadata.json).
 *
 * The index is a snapshot and a journal:
 *   cache_metadata.json          {"format": "blobstore-metadata", "version": 1,
 *                                 "entries": {KEY: ENTRY, ...}}
 *   cache_metadata.json.journal  one JSON record per line, appended per commit:
 *                                 {"put": KEY, "e": ENTRY} | {"del": KEY}, then
 *                                 {"commit": N} closing a transaction of N records
 * A commit appends its records (and fsyncs, if durable): its cost does not
 * grow with the store. When the journal outgrows the snapshot (and 1 MiB),
 * the snapshot is rewritten atomically (temp, fsync, rename, fsync directory)
 * and the journal emptied, so rewriting stays O(1) per put amortised.
 * Replaying a journal over a snapshot that already contains it gives the same
 * state, so a crash between those two steps is harmless; a transaction whose
 * commit record is missing (a torn append) is ignored and cut off by the next
 * writer. A damaged snapshot, or damage before the last commit record, is
 * reported as corruption naming the file: never an empty store.
 *
 * Processes share the files under a flock on "<file>.lock" (shared to read,
 * exclusive to write) and catch up by reading the journal from where they
 * stopped; a new snapshot (a new inode) means a full reload. With no path
 * the index lives in memory only.
 */
#include "internal.h"

#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#define JSON_FORMAT    "blobstore-metadata"
#define JSON_VERSION   1
#define JOURNAL_HEADER "{\"format\":\"blobstore-journal\",\"version\":1}\n"
#define COMPACT_MIN    (1u << 20)

typedef struct {
    blobstore_meta_backend parent;
    char *path; /* NULL: in memory */
    char *jpath;
    char *lockpath;
    int lockfd, jfd;
    int durable;
    json_t *entries; /* object: key -> entry object */
    int loaded;
    struct stat seen; /* identity of the snapshot we loaded or wrote */
    off_t jpos;       /* journal bytes applied (up to the last commit record) */
    int in_tx, write_tx, dirty;
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

/* Read the snapshot into be->entries; a missing snapshot is an empty index. */
static int load_snapshot(js_backend *be, const struct stat *st)
{
    json_decref(be->entries);
    be->entries = NULL;
    be->loaded = 0;
    if (!st) {
        memset(&be->seen, 0, sizeof(be->seen));
        be->entries = json_object();
        return be->entries ? 0 : BLOBSTORE_ENOMEM;
    }
    bs_buf buf = {0};
    int rc = bs__read_file(be->path, &buf);
    if (rc) {
        bs__buf_free(&buf);
        return rc;
    }
    json_error_t err;
    json_t *doc = json_loadb((const char *)buf.data, buf.len, 0, &err);
    bs__buf_free(&buf);
    if (!doc)
        return bs__error(BLOBSTORE_ECORRUPT, "%s is corrupt: line %d: %s", be->path, err.line,
                         err.text);
    json_t *fmt = json_object_get(doc, "format"), *ver = json_object_get(doc, "version");
    json_t *entries = json_object_get(doc, "entries");
    if (!json_is_string(fmt) || strcmp(json_string_value(fmt), JSON_FORMAT) != 0 ||
        !json_is_integer(ver) || !json_is_object(entries)) {
        json_decref(doc);
        return bs__error(BLOBSTORE_ECORRUPT, "%s is not a blobstore metadata file", be->path);
    }
    if (json_integer_value(ver) > JSON_VERSION) {
        json_decref(doc);
        return bs__error(BLOBSTORE_EUNSUPPORTED, "%s has version %lld; this library reads up to %d",
                         be->path, (long long)json_integer_value(ver), JSON_VERSION);
    }
    be->entries = json_incref(entries);
    json_decref(doc);
    be->seen = *st;
    return 0;
}

/* Apply the complete transactions in the journal from be->jpos on. */
static int replay(js_backend *be)
{
    struct stat st;
    if (fstat(be->jfd, &st) != 0)
        return bs__error_errno(errno, "cannot stat %s", be->jpath);
    if (st.st_size <= be->jpos)
        return 0;
    size_t n = (size_t)(st.st_size - be->jpos);
    char *buf = bs__malloc(n + 1);
    if (!buf)
        return BLOBSTORE_ENOMEM;
    size_t got = 0;
    while (got < n) {
        ssize_t r = pread(be->jfd, buf + got, n - got, be->jpos + (off_t)got);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            break;
        got += (size_t)r;
    }
    buf[got] = '\0';
    json_t *pending = json_array(); /* records of the transaction being read */
    int rc = pending ? 0 : BLOBSTORE_ENOMEM;
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
            /* Damage followed by a commit record is corruption; damage at the
             * end is a torn append. */
            if (strstr(buf + pos, "{\"commit\":"))
                rc = bs__error(BLOBSTORE_ECORRUPT, "%s is corrupt at byte %lld", be->jpath,
                               (long long)(be->jpos + (off_t)line_start));
            break;
        }
        json_t *commit = json_object_get(rec, "commit");
        if (json_object_get(rec, "format")) {
            if (be->jpos + (off_t)line_start != 0) {
                json_decref(rec);
                rc = bs__error(BLOBSTORE_ECORRUPT, "%s has a header in the middle", be->jpath);
                break;
            }
            applied = pos;
        } else if (commit) {
            for (size_t i = 0; !rc && i < json_array_size(pending); i++) {
                json_t *r = json_array_get(pending, i), *k;
                if ((k = json_object_get(r, "put")) && json_is_string(k))
                    rc = json_object_set(be->entries, json_string_value(k),
                                         json_object_get(r, "e")) != 0;
                else if ((k = json_object_get(r, "del")) && json_is_string(k))
                    json_object_del(be->entries, json_string_value(k));
                else
                    rc = bs__error(BLOBSTORE_ECORRUPT, "%s has an unknown record", be->jpath);
            }
            if (rc == 1)
                rc = BLOBSTORE_ENOMEM;
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

/* Bring the in-memory index up to date with the files. */
static int sync_in(js_backend *be)
{
    struct stat st;
    int exists = stat(be->path, &st) == 0;
    if (!exists && errno != ENOENT)
        return bs__error_errno(errno, "cannot stat %s", be->path);
    if (!be->loaded || (exists ? !same_file(&st, &be->seen) : be->seen.st_ino != 0)) {
        int rc = load_snapshot(be, exists ? &st : NULL);
        if (rc)
            return rc;
        be->jpos = 0;
    } else {
        struct stat js;
        if (fstat(be->jfd, &js) != 0)
            return bs__error_errno(errno, "cannot stat %s", be->jpath);
        if (js.st_size < be->jpos) { /* emptied by a compaction we have not seen */
            be->loaded = 0;
            return sync_in(be);
        }
    }
    int rc = replay(be);
    if (!rc)
        be->loaded = 1;
    else
        be->loaded = 0;
    return rc;
}

static int write_snapshot(js_backend *be)
{
    json_t *doc = json_pack("{s:s, s:i, s:O}", "format", JSON_FORMAT, "version", JSON_VERSION,
                            "entries", be->entries);
    if (!doc)
        return bs__error(BLOBSTORE_ENOMEM, "cannot build metadata document");
    char *text = bs__json_dumps(doc);
    json_decref(doc);
    if (!text)
        return bs__error(BLOBSTORE_ENOMEM, "cannot serialise metadata");
    int rc = bs__write_file_atomic(be->path, text, strlen(text), be->durable);
    free(text);
    if (rc)
        return rc;
    if (stat(be->path, &be->seen) != 0)
        return bs__error_errno(errno, "cannot stat %s", be->path);
    return 0;
}

/* Append this transaction's records and a commit record to the journal. */
static int append(js_backend *be)
{
    bs_buf b = {0};
    int rc = 0;
    if (be->jpos == 0)
        rc = bs__buf_append(&b, JOURNAL_HEADER, strlen(JOURNAL_HEADER));
    size_t count = 0;
    for (size_t i = 0; !rc && i < be->nundo; i++) {
        const char *key = be->undo[i].key;
        int later = 0; /* only the last record per key matters */
        for (size_t j = i + 1; j < be->nundo && !later; j++)
            later = strcmp(be->undo[j].key, key) == 0;
        if (later)
            continue;
        json_t *cur = json_object_get(be->entries, key);
        json_t *rec =
            cur ? json_pack("{s:s, s:O}", "put", key, "e", cur) : json_pack("{s:s}", "del", key);
        char *line = rec ? bs__json_dumps(rec) : NULL;
        json_decref(rec);
        if (!line)
            rc = BLOBSTORE_ENOMEM;
        else
            rc = bs__buf_append(&b, line, strlen(line)) || bs__buf_append(&b, "\n", 1);
        free(line);
        count++;
    }
    char tail[48];
    snprintf(tail, sizeof(tail), "{\"commit\":%zu}\n", count);
    if (!rc)
        rc = bs__buf_append(&b, tail, strlen(tail));
    if (rc) {
        bs__buf_free(&b);
        return BLOBSTORE_ENOMEM;
    }
    /* Cut off a torn append left by a crashed writer, then write at the end. */
    struct stat js;
    if (fstat(be->jfd, &js) == 0 && js.st_size > be->jpos && ftruncate(be->jfd, be->jpos) != 0)
        rc = bs__error_errno(errno, "cannot truncate %s", be->jpath);
    size_t done = 0;
    while (!rc && done < b.len) {
        ssize_t w = pwrite(be->jfd, b.data + done, b.len - done, be->jpos + (off_t)done);
        if (w < 0 && errno == EINTR)
            continue;
        if (w < 0)
            rc = bs__error_errno(errno, "cannot write %s", be->jpath);
        else
            done += (size_t)w;
    }
    if (!rc && be->durable && fdatasync(be->jfd) != 0)
        rc = bs__error_errno(errno, "fsync of %s", be->jpath);
    if (!rc)
        be->jpos += (off_t)b.len;
    bs__buf_free(&b);
    return rc;
}

/* Fold the journal into a new snapshot once it outgrows the snapshot. */
static int maybe_compact(js_backend *be)
{
    if (be->jpos < (off_t)COMPACT_MIN || be->jpos < be->seen.st_size)
        return 0;
    int rc = write_snapshot(be);
    if (!rc && ftruncate(be->jfd, 0) != 0)
        rc = bs__error_errno(errno, "cannot truncate %s", be->jpath);
    if (!rc && be->durable && fsync(be->jfd) != 0)
        rc = bs__error_errno(errno, "fsync of %s", be->jpath);
    if (!rc)
        be->jpos = 0;
    return rc;
}

static int js_begin(blobstore_meta_backend *pbe, int write)
{
    js_backend *be = (js_backend *)pbe;
    if (be->in_tx)
        return bs__error(BLOBSTORE_EINVAL, "a transaction is already open");
    if (be->path) {
        while (flock(be->lockfd, write ? LOCK_EX : LOCK_SH) != 0) {
            if (errno != EINTR)
                return bs__error_errno(errno, "cannot lock %s", be->lockpath);
        }
        int rc = sync_in(be);
        if (rc) {
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
    if (be->path)
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
        if (rc)
            undo_apply(be); /* not committed: memory goes back to what the files say */
        else
            maybe_compact(be); /* best effort: the journal already holds the commit */
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

static uint64_t get_u64(json_t *o, const char *name)
{
    json_t *v = json_object_get(o, name);
    return json_is_integer(v) ? (uint64_t)json_integer_value(v) : 0;
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

static void js_free(blobstore_meta_backend *pbe)
{
    js_backend *be = (js_backend *)pbe;
    if (!be)
        return;
    if (be->in_tx)
        end_tx(be);
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
    if (!out)
        return bs__error(BLOBSTORE_EINVAL, "out is NULL");
    js_backend *be = bs__calloc(1, sizeof(*be));
    if (!be)
        return BLOBSTORE_ENOMEM;
    be->lockfd = be->jfd = -1;
    be->durable = durable;
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
            be->lockfd = open(be->lockpath, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
            if (be->lockfd < 0)
                rc = bs__error_errno(errno, "cannot open %s", be->lockpath);
        }
        if (!rc) {
            struct stat st;
            int created = stat(be->jpath, &st) != 0;
            be->jfd = open(be->jpath, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
            if (be->jfd < 0) {
                rc = bs__error_errno(errno, "cannot open %s", be->jpath);
            } else if (created && durable) {
                char *dir = bs__strdup(path), *slash = dir ? strrchr(dir, '/') : NULL;
                if (slash)
                    *slash = '\0';
                rc = dir ? bs__fsync_dir(slash ? dir : ".") : BLOBSTORE_ENOMEM;
                free(dir);
            }
        }
        if (!rc && flock(be->lockfd, LOCK_SH) == 0) {
            rc = sync_in(be); /* report a corrupt index at open */
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
    be->parent.free = js_free;
    *out = &be->parent;
    return 0;
}
