/*
 * meta_json.c - the JSON file metadata backend (cache_metadata.json).
 *
 * The whole index is one JSON document:
 *   {"format": "blobstore-metadata", "version": 1, "entries": {KEY: ENTRY, ...}}
 * held in memory and re-read whenever the file on disk changed (device,
 * inode, size and mtime are compared), so several processes can share it.
 * Transactions take a flock on "<file>.lock": shared to read, exclusive to
 * write. A write transaction that changed something rewrites the file
 * atomically (temp file, fsync, rename, fsync directory) at commit. A file
 * that does not parse is reported as corrupt, naming the file: it is never
 * treated as an empty store. With no path the index lives in memory only.
 */
#include "internal.h"

#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#define JSON_FORMAT  "blobstore-metadata"
#define JSON_VERSION 1

typedef struct {
    blobstore_meta_backend parent;
    char *path; /* NULL: in memory */
    char *lockpath;
    int lockfd;
    int durable;
    json_t *entries; /* object: key -> entry object */
    int loaded;
    struct stat seen; /* identity of the file we loaded or wrote */
    int in_tx, write_tx, dirty;
    /* Undo log of the open write transaction: each key's previous value
     * (NULL: absent), replayed backwards by rollback. */
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

static int load(js_backend *be)
{
    struct stat st;
    if (stat(be->path, &st) != 0) {
        if (errno != ENOENT)
            return bs__error_errno(errno, "cannot stat %s", be->path);
        json_decref(be->entries);
        be->entries = json_object();
        memset(&be->seen, 0, sizeof(be->seen));
        be->loaded = 1;
        return be->entries ? 0 : BLOBSTORE_ENOMEM;
    }
    if (be->loaded && same_file(&st, &be->seen))
        return 0;
    bs_buf buf = {0};
    int rc = bs__read_file(be->path, &buf);
    if (rc == BLOBSTORE_ENOTFOUND) { /* removed between stat and open: retry */
        bs__buf_free(&buf);
        be->loaded = 0;
        return load(be);
    }
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
    json_incref(entries);
    json_decref(doc);
    json_decref(be->entries);
    be->entries = entries;
    be->seen = st;
    be->loaded = 1;
    return 0;
}

static int save(js_backend *be)
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
        int rc = load(be);
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

static int js_commit(blobstore_meta_backend *pbe)
{
    js_backend *be = (js_backend *)pbe;
    int rc = 0;
    if (be->path && be->dirty) {
        rc = save(be);
        if (rc)
            be->loaded = 0; /* memory no longer matches the file: reload next time */
    }
    end_tx(be);
    return rc;
}

static int js_rollback(blobstore_meta_backend *pbe)
{
    js_backend *be = (js_backend *)pbe;
    int rc = 0;
    for (size_t i = be->nundo; i-- > 0;) {
        struct undo *u = &be->undo[i];
        if (u->old)
            rc |= json_object_set(be->entries, u->key, u->old);
        else
            json_object_del(be->entries, u->key);
    }
    if (rc)
        be->loaded = 0; /* could not restore in memory: reload from the file */
    end_tx(be);
    return rc ? bs__error(BLOBSTORE_ENOMEM, "rollback ran out of memory") : 0;
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
    be->lockfd = -1;
    be->durable = durable;
    int rc = 0;
    if (path) {
        size_t n = strlen(path);
        be->path = bs__strdup(path);
        be->lockpath = bs__malloc(n + 6);
        if (!be->path || !be->lockpath) {
            rc = BLOBSTORE_ENOMEM;
        } else {
            snprintf(be->lockpath, n + 6, "%s.lock", path);
            be->lockfd = open(be->lockpath, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
            if (be->lockfd < 0)
                rc = bs__error_errno(errno, "cannot open %s", be->lockpath);
        }
        if (!rc && flock(be->lockfd, LOCK_SH) == 0) {
            rc = load(be); /* report a corrupt file at open */
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
