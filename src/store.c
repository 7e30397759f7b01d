/*
 * store.c - the orchestrator: key -> blob name -> encode -> blob write ->
 * metadata commit.
 *
 * Invariants this file keeps:
 *  - A blob is written completely under a fresh name before the metadata
 *    entry that points to it commits; the blob it replaces is removed only
 *    after that commit. A crash at any instant therefore leaves every listed
 *    entry pointing at a complete blob; the worst leftover is an orphan blob
 *    or temp file, which verify --repair removes.
 *  - Entries are removed before their blobs, for the same reason.
 *  - Every read is checked: frame chunks by checksum, whole blobs by the
 *    SHA-256 recorded in the entry. A mismatch is BLOBSTORE_ECORRUPT.
 *  - Keys never become paths: blob names are hashes plus a random suffix.
 *  - Writers hold the store's lock shared (a flock on <dir>/lock plus an
 *    in-process rwlock); verify takes it exclusively while it looks for
 *    orphans, so it never mistakes an in-flight put for garbage.
 *  - Metadata transactions are serialised on one recursive mutex per
 *    handle, which a batch holds from begin to commit.
 */
#include "internal.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <pthread.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <xxhash.h>
#include <sys/stat.h>
#include <unistd.h>

#define SETTINGS_FILE    "blobstore.json"
#define SETTINGS_FORMAT  "blobstore-store"
#define SETTINGS_VERSION 1
#define SIDECAR_EXT      ".entry" /* the entry record of a file stored as it is */
#define INLINE_MAX       4096     /* original bytes kept inline by backends that can */
#define IO_CHUNK         BS_FRAME_CHUNK

struct blobstore {
    char *dir; /* NULL: in-memory store */
    blobstore_meta_backend *meta;
    blobstore_blob_backend *blobs;
    char *backend_name, *blob_backend_name;
    const bs_codec *codec;
    int level;
    int ca;
    int shard_chars;
    int durable;
    int can_inline;
    int full_hash;      /* recompute SHA-256 on every get */
    pthread_mutex_t mu; /* recursive: metadata transactions */
    int batch;
    char **batch_old, **batch_new; /* blobs to remove after commit / on rollback */
    size_t n_old, n_new;
    pthread_rwlock_t oprw; /* in-process half of the store lock */
    pthread_mutex_t opmu;
    int opcount;
    int lockfd;     /* cross-process half: flock on <dir>/lock */
    int rebuilding; /* opened by blobstore_rebuild_index: a new index is expected */
    int readonly;   /* BLOBSTORE_OPEN_READONLY: nothing is written */
};

/* EREADONLY if bs was opened read-only. */
static int refuse_readonly(const blobstore *bs)
{
    if (bs->readonly)
        return bs__error(BLOBSTORE_EREADONLY, "the store in %s is open read-only",
                         bs->dir ? bs->dir : "memory");
    return 0;
}

/* ---- the store lock ---- */

static int op_enter(blobstore *bs)
{
    pthread_rwlock_rdlock(&bs->oprw);
    if (bs->lockfd < 0)
        return 0;
    pthread_mutex_lock(&bs->opmu);
    int rc = 0;
    if (bs->opcount == 0) {
        while (flock(bs->lockfd, LOCK_SH) != 0) {
            if (errno != EINTR) {
                rc = bs__error_errno(errno, "cannot lock the store");
                break;
            }
        }
    }
    if (!rc)
        bs->opcount++;
    pthread_mutex_unlock(&bs->opmu);
    if (rc)
        pthread_rwlock_unlock(&bs->oprw);
    return rc;
}

static void op_leave(blobstore *bs)
{
    if (bs->lockfd >= 0) {
        pthread_mutex_lock(&bs->opmu);
        if (--bs->opcount == 0)
            flock(bs->lockfd, LOCK_UN);
        pthread_mutex_unlock(&bs->opmu);
    }
    pthread_rwlock_unlock(&bs->oprw);
}

static int excl_enter(blobstore *bs)
{
    pthread_rwlock_wrlock(&bs->oprw);
    if (bs->lockfd >= 0) {
        while (flock(bs->lockfd, LOCK_EX) != 0) {
            if (errno != EINTR) {
                pthread_rwlock_unlock(&bs->oprw);
                return bs__error_errno(errno, "cannot lock the store");
            }
        }
    }
    return 0;
}

static void excl_leave(blobstore *bs)
{
    if (bs->lockfd >= 0)
        flock(bs->lockfd, LOCK_UN);
    pthread_rwlock_unlock(&bs->oprw);
}

/* ---- metadata transactions ---- */

static int tx_begin(blobstore *bs, int write)
{
    if (write && bs->readonly)
        return refuse_readonly(bs);
    pthread_mutex_lock(&bs->mu);
    if (bs->batch)
        return 0;
    int rc = bs->meta->begin(bs->meta, write);
    if (rc)
        pthread_mutex_unlock(&bs->mu);
    return rc;
}

/* Commit (ok) or roll back (!ok) unless a batch is open. */
static int tx_end(blobstore *bs, int ok)
{
    int rc = 0;
    if (!bs->batch) {
        if (ok) {
            rc = bs->meta->commit(bs->meta);
        } else {
            char saved[1024];
            snprintf(saved, sizeof(saved), "%s", blobstore_errmsg());
            bs->meta->rollback(bs->meta);
            bs__error(0, "%s", saved);
        }
    }
    pthread_mutex_unlock(&bs->mu);
    return rc;
}

/* ---- settings ---- */

static int parse_tristate(json_t *o, const char *name, int *out)
{
    json_t *v = json_object_get(o, name);
    if (!v)
        return 0;
    if (!json_is_boolean(v))
        return bs__error(BLOBSTORE_ECORRUPT, "store settings: %s is not a boolean", name);
    *out = json_is_true(v) ? BLOBSTORE_YES : BLOBSTORE_NO;
    return 0;
}

static int is_pg_url(const char *s)
{
    return !strncmp(s, "postgresql://", 13) || !strncmp(s, "postgres://", 11);
}

static int is_s3_url(const char *s)
{
    return !strncmp(s, "s3://", 5);
}

typedef struct {
    char backend[1024], blob_backend[1024], compression[16];
    char blob_dir[4096]; /* shared settings: where filesystem blobs are, or "" */
    int level, ca, shard_chars;
} settings;

/* Parse settings text; where names its origin in errors. */
static int parse_settings(const char *text, size_t len, const char *where, settings *s)
{
    json_error_t err;
    json_t *o = json_loadb(text, len, 0, &err);
    if (!o || !json_is_object(o)) {
        json_decref(o);
        return bs__error(BLOBSTORE_ECORRUPT, "%s is corrupt", where);
    }
    json_t *fmt = json_object_get(o, "format"), *ver = json_object_get(o, "version");
    if (!json_is_string(fmt) || strcmp(json_string_value(fmt), SETTINGS_FORMAT) != 0 ||
        !json_is_integer(ver)) {
        json_decref(o);
        return bs__error(BLOBSTORE_ECORRUPT, "%s is not a blobstore settings file", where);
    }
    if (json_integer_value(ver) > SETTINGS_VERSION) {
        json_decref(o);
        return bs__error(BLOBSTORE_EUNSUPPORTED, "%s has version %lld; this library reads up to %d",
                         where, (long long)json_integer_value(ver), SETTINGS_VERSION);
    }
    const char *b = json_string_value(json_object_get(o, "backend"));
    const char *bb = json_string_value(json_object_get(o, "blob_backend"));
    const char *c = json_string_value(json_object_get(o, "compression"));
    json_t *lv = json_object_get(o, "compression_level"), *sc = json_object_get(o, "shard_chars");
    if (!b || !bb || !c || !json_is_integer(lv) || !json_is_integer(sc)) {
        json_decref(o);
        return bs__error(BLOBSTORE_ECORRUPT, "%s lacks required settings", where);
    }
    snprintf(s->backend, sizeof(s->backend), "%s", b);
    snprintf(s->blob_backend, sizeof(s->blob_backend), "%s", bb);
    snprintf(s->compression, sizeof(s->compression), "%s", c);
    const char *bd = json_string_value(json_object_get(o, "blob_dir"));
    snprintf(s->blob_dir, sizeof(s->blob_dir), "%s", bd ? bd : "");
    s->level = (int)json_integer_value(lv);
    s->shard_chars = (int)json_integer_value(sc);
    int rc = parse_tristate(o, "content_addressable", &s->ca);
    json_decref(o);
    return rc;
}

static int read_settings(const char *path, settings *s, int *found)
{
    bs_buf buf = {0};
    int rc = bs__read_file(path, &buf);
    *found = 0;
    if (rc == BLOBSTORE_ENOTFOUND) {
        bs__buf_free(&buf);
        return 0;
    }
    if (!rc)
        rc = parse_settings((const char *)buf.data, buf.len, path, s);
    bs__buf_free(&buf);
    *found = rc == 0;
    return rc;
}

/* The settings as JSON; backend: the name to record for the metadata
 * backend (NULL: bs's); blob_dir: where filesystem blobs are (shared
 * settings), or NULL. */
static char *settings_json(const blobstore *bs, int pretty, const char *backend,
                           const char *blob_dir)
{
    json_t *o =
        json_pack("{s:s, s:i, s:s, s:s, s:s, s:i, s:b, s:i}", "format", SETTINGS_FORMAT, "version",
                  SETTINGS_VERSION, "backend", backend ? backend : bs->backend_name, "blob_backend",
                  bs->blob_backend_name, "compression", bs->codec->name, "compression_level",
                  bs->level, "content_addressable", bs->ca, "shard_chars", bs->shard_chars);
    if (!o)
        return NULL;
    if (blob_dir)
        json_object_set_new(o, "blob_dir", json_string(blob_dir));
    char *s = json_dumps(o, pretty ? JSON_INDENT(2) : JSON_COMPACT);
    json_decref(o);
    return s;
}

BLOBSTORE_API int blobstore_settings(char **out_json, blobstore *bs)
{
    if (!out_json || !bs)
        return bs__error(BLOBSTORE_EINVAL, "NULL argument");
    *out_json = settings_json(bs, 0, NULL, NULL);
    return *out_json ? 0 : bs__error(BLOBSTORE_ENOMEM, "out of memory");
}

/* The settings a shared metadata backend records (*have = 0: none, or the
 * backend keeps none). */
static int load_shared(blobstore_meta_backend *m, settings *s, int *have)
{
    char *text = NULL;
    *have = 0;
    int rc = m->ctl ? m->ctl(m, BLOBSTORE_META_CTL_SETTINGS_GET, &text) : BLOBSTORE_EUNSUPPORTED;
    if (rc == BLOBSTORE_EUNSUPPORTED) {
        bs__error_clear();
        return 0;
    }
    if (!rc && text) {
        memset(s, 0, sizeof(*s));
        rc = parse_settings(text, strlen(text), "the settings recorded in the metadata backend", s);
        *have = rc == 0;
    }
    free(text);
    return rc;
}

/* Settings that must agree between machines sharing a store: a, recorded
 * by the metadata backend; b, this machine's, whose blob files (if any) are
 * in b_dir ("" for none). */
static int shared_conflict(const settings *a, const settings *b, const char *b_dir, const char *dir)
{
    if (a->blob_dir[0] && b_dir[0] && strcmp(a->blob_dir, b_dir) != 0)
        return bs__error(BLOBSTORE_ECONFLICT,
                         "the store's metadata backend records its blob files in %s, not in %s: "
                         "open it there (on a shared filesystem) or move its blobs to S3 with "
                         "blobstore migrate",
                         a->blob_dir, b_dir);
    if (strcmp(a->blob_backend, b->blob_backend) != 0 || a->ca != b->ca ||
        a->shard_chars != b->shard_chars)
        return bs__error(BLOBSTORE_ECONFLICT,
                         "the store's metadata backend records blob backend %s (content "
                         "addressable: %s, shard_chars %d); the settings in %s say %s (%s, %d)",
                         a->blob_backend, a->ca > 0 ? "yes" : "no", a->shard_chars, dir,
                         b->blob_backend, b->ca > 0 ? "yes" : "no", b->shard_chars);
    return 0;
}

static int conflict(const char *what, const char *asked, const char *recorded, const char *dir)
{
    return bs__error(BLOBSTORE_ECONFLICT,
                     "the store in %s was created with %s %s; cannot open it with %s", dir, what,
                     recorded, asked);
}

/* ---- open / close ---- */

static void batch_lists_free(blobstore *bs)
{
    for (size_t i = 0; i < bs->n_old; i++)
        free(bs->batch_old[i]);
    for (size_t i = 0; i < bs->n_new; i++)
        free(bs->batch_new[i]);
    free(bs->batch_old);
    free(bs->batch_new);
    bs->batch_old = bs->batch_new = NULL;
    bs->n_old = bs->n_new = 0;
}

BLOBSTORE_API void blobstore_close(blobstore *bs)
{
    if (!bs)
        return;
    if (bs->batch) {
        bs->batch = 0;
        bs->meta->rollback(bs->meta);
    }
    batch_lists_free(bs);
    if (bs->meta)
        bs->meta->free(bs->meta);
    if (bs->blobs)
        bs->blobs->free(bs->blobs);
    if (bs->lockfd >= 0)
        close(bs->lockfd);
    pthread_mutex_destroy(&bs->mu);
    pthread_mutex_destroy(&bs->opmu);
    pthread_rwlock_destroy(&bs->oprw);
    free(bs->dir);
    free(bs->backend_name);
    free(bs->blob_backend_name);
    free(bs);
}

/* Rename the files of a damaged index out of the way, kept for inspection:
 * "<file>.damaged-<UTC time>". */
static int set_aside(const char *dir, const char *const *files)
{
    char stamp[32];
    time_t now = time(NULL);
    struct tm tm;
    gmtime_r(&now, &tm);
    strftime(stamp, sizeof(stamp), "%Y%m%dT%H%M%SZ", &tm);
    int rc = 0;
    for (size_t i = 0; !rc && files[i]; i++) {
        char *from = bs__path_join(dir, files[i]);
        size_t n = from ? strlen(from) + 48 : 0;
        char *to = from ? bs__malloc(n) : NULL;
        if (!to) {
            rc = BLOBSTORE_ENOMEM;
        } else {
            snprintf(to, n, "%s.damaged-%s", from, stamp);
            if (rename(from, to) != 0 && errno != ENOENT)
                rc = bs__error_errno(errno, "cannot rename %s to %s", from, to);
        }
        free(from);
        free(to);
    }
    return rc;
}

static const char *settings_name_of(const blobstore_options *o)
{
    return o->version >= 2 && o->settings_name ? o->settings_name : SETTINGS_FILE;
}

/* ---- space to free space ----
 *
 * On a full disk a delete must still be able to commit: the JSON journal
 * appends its "del" records, SQLite writes WAL frames. So a local store
 * keeps SPACE_RESERVE: a preallocated file of RESERVE_BYTES in its
 * directory. A delete or clear that fails for want of space removes it and
 * tries again (SQLite has also folded its WAL back by then); once the
 * delete has freed space the reserve is made again (and at every open, if it
 * is missing and there is room). A clear that still does not fit deletes in
 * small transactions, each freeing its blobs before the next. */
#define SPACE_RESERVE "space.reserve"
#define RESERVE_BYTES (1 << 20)
#define CLEAR_CHUNK   64

static int has_reserve(const blobstore *bs)
{
    return bs->dir && bs->backend_name && !bs->readonly &&
           (!strcmp(bs->backend_name, "json") || !strcmp(bs->backend_name, "sqlite"));
}

/* Best effort: no reserve is made when there is no room for all of it. */
static void reserve_make(blobstore *bs)
{
    if (!has_reserve(bs))
        return;
    char *path = bs__path_join(bs->dir, SPACE_RESERVE);
    struct stat sb;
    if (path && lstat(path, &sb) != 0 && errno == ENOENT) {
        int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0644);
        if (fd >= 0) {
            int e = posix_fallocate(fd, 0, RESERVE_BYTES);
            close(fd);
            if (e)
                unlink(path);
        }
    }
    free(path);
    bs__error_clear();
}

/* Give the reserve's space back to the disk; 1 if there was one. */
static int reserve_release(blobstore *bs)
{
    if (!has_reserve(bs))
        return 0;
    char *path = bs__path_join(bs->dir, SPACE_RESERVE);
    int done = path && unlink(path) == 0;
    free(path);
    return done;
}

/* 1 if name in dir (fd) is an empty directory (not a link to one). */
static int empty_subdir(int dfd, const char *name)
{
    int fd = openat(dfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    DIR *d = fd >= 0 ? fdopendir(fd) : NULL;
    if (!d) {
        if (fd >= 0)
            close(fd);
        return 0;
    }
    struct dirent *de;
    int empty = 1;
    while (empty && (de = readdir(d)) != NULL)
        empty = !strcmp(de->d_name, ".") || !strcmp(de->d_name, "..");
    closedir(d);
    return empty;
}

/* Files a store creates before it records its settings: left alone they
 * mean a creation that failed (an unreachable server, a bad URL), not a
 * user's files; blobs/ and tmp/ must be empty directories. */
static int creation_leftover(int dfd, const char *name)
{
    static const char *const files[] = {"lock",
                                        "cache_metadata.json",
                                        "cache_metadata.json.journal",
                                        "cache_metadata.json.lock",
                                        "cache_metadata.db",
                                        "cache_metadata.db-wal",
                                        "cache_metadata.db-shm",
                                        "cache_metadata.db-journal",
                                        "space.reserve",
                                        NULL};
    if (!strcmp(name, "blobs") || !strcmp(name, "tmp"))
        return empty_subdir(dfd, name);
    struct stat st;
    for (int i = 0; files[i]; i++)
        if (!strcmp(name, files[i]))
            return fstatat(dfd, name, &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISREG(st.st_mode);
    return 0;
}

/* A directory becomes a store only while it is new or empty (or it holds a
 * store's settings, which read_settings found otherwise: a migration in
 * place sets up a second settings file beside them). Empty blobs/ and tmp/
 * directories count as empty (a filesystem blob backend made by the caller
 * for this directory creates them before the store opens), and so do the
 * leftovers of a creation that failed. must_exist: refuse to create one at
 * all. no_create: accept a new or empty directory but create nothing (a
 * read-only open of a store whose settings PostgreSQL holds). sname: the
 * settings file looked for. */
static int claim_dir(const char *dir, const char *sname, int must_exist, int no_create)
{
    struct stat st;
    char *sp = bs__path_join(dir, SETTINGS_FILE);
    if (!sp)
        return BLOBSTORE_ENOMEM;
    int other = strcmp(sname, SETTINGS_FILE) != 0 && lstat(sp, &st) == 0 && S_ISREG(st.st_mode);
    free(sp);
    if (must_exist)
        return bs__error(BLOBSTORE_ENOTFOUND, "%s is not a blobstore store (no %s)", dir, sname);
    if (other)
        return 0;
    DIR *d = opendir(dir);
    if (!d) {
        if (errno == ENOENT)
            return no_create ? 0 : bs__mkdir_p(dir, 0755);
        return bs__error_errno(errno, "cannot open directory %s", dir);
    }
    struct dirent *de;
    const char *found = NULL;
    while (!found && (de = readdir(d)) != NULL)
        if (strcmp(de->d_name, ".") != 0 && strcmp(de->d_name, "..") != 0 &&
            !creation_leftover(dirfd(d), de->d_name))
            found = de->d_name;
    int rc = 0;
    if (found)
        rc = bs__error(BLOBSTORE_ECONFLICT,
                       "%s is not a blobstore store (no %s) and not empty (it holds %s): a "
                       "store is created only in a new or empty directory",
                       dir, sname, found);
    closedir(d);
    return rc;
}

static int open_store(blobstore *bs, const blobstore_options *o)
{
    int rc;
    int custom_meta = o->meta_backend != NULL, custom_blob = o->blob_backend_impl != NULL;
    const char *backend = custom_meta ? "custom" : (o->backend ? o->backend : NULL);
    const char *blob_backend = custom_blob ? "custom" : (o->blob_backend ? o->blob_backend : NULL);
    if (backend && !custom_meta && strcmp(backend, "json") != 0 && strcmp(backend, "sqlite") != 0 &&
        !is_pg_url(backend))
        return bs__error(BLOBSTORE_EINVAL,
                         "unknown metadata backend \"%s\" (expected json, sqlite or a "
                         "postgresql:// URL)",
                         backend);
    if (blob_backend && !custom_blob && strcmp(blob_backend, "filesystem") != 0 &&
        strcmp(blob_backend, "memory") != 0 && !is_s3_url(blob_backend))
        return bs__error(BLOBSTORE_EINVAL,
                         "unknown blob backend \"%s\" (expected filesystem, memory or an "
                         "s3:// URL)",
                         blob_backend);
    if (o->compression_level && (o->compression_level < 1 || o->compression_level > 9))
        return bs__error(BLOBSTORE_EINVAL, "compression_level must be 1..9, not %d",
                         o->compression_level);
    if (o->shard_chars && o->shard_chars != BLOBSTORE_SHARD_NONE &&
        (o->shard_chars < 1 || o->shard_chars > 8))
        return bs__error(BLOBSTORE_EINVAL, "shard_chars must be 0..8, not %d", o->shard_chars);
    if (o->durability < 0 || o->durability > BLOBSTORE_DURABILITY_RELAXED)
        return bs__error(BLOBSTORE_EINVAL, "unknown durability %d", o->durability);
    if (o->compression && !bs__codec_by_name(o->compression))
        return BLOBSTORE_EINVAL;
    bs->durable = o->durability != BLOBSTORE_DURABILITY_RELAXED;
    bs->full_hash = o->verify_content_hash > 0;
    int want_shard = o->shard_chars == BLOBSTORE_SHARD_NONE ? 0 : o->shard_chars;
    unsigned open_flags = o->version >= 3 ? o->open_flags : 0;
    if (open_flags & ~(BLOBSTORE_OPEN_EXISTING | BLOBSTORE_OPEN_READONLY))
        return bs__error(BLOBSTORE_EINVAL, "unknown open_flags 0x%x", open_flags);
    bs->readonly = (open_flags & BLOBSTORE_OPEN_READONLY) != 0;
    int must_exist = open_flags != 0;
    int pg_named = backend && !custom_meta && is_pg_url(backend);
    int mem = blob_backend && strcmp(blob_backend, "memory") == 0;

    settings s;
    memset(&s, 0, sizeof(s));
    int found = 0;
    char *settings_path = NULL;
    if (!mem) {
        bs->dir = bs__strdup(o->cache_dir && *o->cache_dir ? o->cache_dir : ".blobstore");
        if (!bs->dir)
            return BLOBSTORE_ENOMEM;
        const char *sname = settings_name_of(o);
        if (!*sname || strchr(sname, '/') || !strcmp(sname, ".") || !strcmp(sname, ".."))
            return bs__error(BLOBSTORE_EINVAL,
                             "settings_name must be a plain file name, not \"%s\"", sname);
        settings_path = bs__path_join(bs->dir, sname);
        if (!settings_path)
            return BLOBSTORE_ENOMEM;
        struct stat dst;
        if (stat(bs->dir, &dst) == 0 && !S_ISDIR(dst.st_mode))
            rc = bs__error(BLOBSTORE_ENOTFOUND, "%s is not a blobstore store (no %s)", bs->dir,
                           sname);
        else
            rc = read_settings(settings_path, &s, &found);
        /* With a PostgreSQL URL the settings may be recorded there (another
         * machine's store): checked below. */
        if (!rc && !found)
            rc = claim_dir(bs->dir, sname, must_exist && !pg_named, bs->readonly);
        if (rc)
            goto done;
    }
    /* A metadata backend that machines share (PostgreSQL) records the
     * settings for all of them: a machine opening the store for the first
     * time takes them from there, and local settings must agree. */
    int local = found, write_local = !found && !mem && !bs->readonly, shared = 0;
    const char *meta_url = custom_meta ? NULL : backend ? backend : found ? s.backend : NULL;
    char here[4096] = ""; /* this directory, to compare with a recorded blob_dir */
    if (bs->dir && !realpath(bs->dir, here))
        snprintf(here, sizeof(here), "%s", bs->dir);
    if (meta_url && is_pg_url(meta_url)) {
        settings sh;
        rc = blobstore_meta_backend_pg_new(&bs->meta, meta_url);
        if (!rc)
            rc = load_shared(bs->meta, &sh, &shared);
        if (!rc && shared) {
            snprintf(sh.backend, sizeof(sh.backend), "%s", meta_url);
            /* with no local settings, only where the files are can differ */
            rc = shared_conflict(&sh, found ? &s : &sh, here, bs->dir);
            if (!found)
                s = sh;
            found = 1;
        }
        if (rc)
            goto done;
    }
    if (must_exist && !found && !mem) {
        rc = bs__error(BLOBSTORE_ENOTFOUND, "%s is not a blobstore store (no %s)", bs->dir,
                       settings_name_of(o));
        goto done;
    }
    if (found) {
        /* Named settings must agree with the recorded ones; custom backends
         * are the caller's responsibility. */
        rc = 0;
        /* where the settings were recorded, for messages */
        const char *where = shared && !local ? "PostgreSQL" : bs->dir;
        if (backend && !custom_meta && strcmp(s.backend, "custom") != 0 &&
            strcmp(backend, s.backend) != 0)
            rc = conflict("metadata backend", backend, s.backend, where);
        else if (blob_backend && !custom_blob && strcmp(s.blob_backend, "custom") != 0 &&
                 strcmp(blob_backend, s.blob_backend) != 0)
            rc = conflict("blob backend", blob_backend, s.blob_backend, where);
        else if (o->content_addressable && o->content_addressable != s.ca)
            rc = conflict("content_addressable", o->content_addressable > 0 ? "true" : "false",
                          s.ca > 0 ? "true" : "false", where);
        else if (o->shard_chars && want_shard != s.shard_chars) {
            char a[16], b[16];
            snprintf(a, sizeof(a), "%d", want_shard);
            snprintf(b, sizeof(b), "%d", s.shard_chars);
            rc = conflict("shard_chars", a, b, where);
        }
        if (rc)
            goto done;
        if (!backend && strcmp(s.backend, "custom") == 0) {
            rc = bs__error(BLOBSTORE_EINVAL,
                           "the store in %s uses a custom metadata backend: pass it to open",
                           bs->dir);
            goto done;
        }
        if (!blob_backend && strcmp(s.blob_backend, "custom") == 0) {
            rc = bs__error(BLOBSTORE_EINVAL,
                           "the store in %s uses a custom blob backend: pass it to open", bs->dir);
            goto done;
        }
        backend = backend ? backend : s.backend;
        blob_backend = blob_backend ? blob_backend : s.blob_backend;
        bs->ca = s.ca > 0;
        bs->shard_chars = s.shard_chars;
        bs->codec = bs__codec_by_name(o->compression ? o->compression : s.compression);
        bs->level = o->compression_level ? o->compression_level : s.level;
        if (!bs->codec || bs->level < 1 || bs->level > 9) {
            rc = bs__error(BLOBSTORE_ECORRUPT, "%s has invalid compression settings", bs->dir);
            goto done;
        }
    } else {
        backend = backend ? backend : "json";
        blob_backend = blob_backend ? blob_backend : "filesystem";
        bs->ca = o->content_addressable > 0;
        bs->shard_chars = o->shard_chars ? want_shard : 2;
        bs->codec = bs__codec_by_name(o->compression ? o->compression : "lz4");
        bs->level = o->compression_level ? o->compression_level : 3;
    }
    bs->backend_name = bs__strdup(backend);
    bs->blob_backend_name = bs__strdup(blob_backend);
    if (!bs->backend_name || !bs->blob_backend_name) {
        rc = BLOBSTORE_ENOMEM;
        goto done;
    }

    /* A local index the recorded settings name must be there: a missing
     * one is damage, not an empty store (blobstore verify --rebuild-index
     * makes a new one from the blobs). */
    if (found && !mem && !custom_meta && !is_pg_url(backend) && !bs->rebuilding) {
        int sqlite = strcmp(backend, "sqlite") == 0;
        char *p = bs__path_join(bs->dir, sqlite ? "cache_metadata.db" : "cache_metadata.json");
        char *j = p ? bs__path_join(bs->dir, "cache_metadata.json.journal") : NULL;
        struct stat st;
        if (!p || !j)
            rc = BLOBSTORE_ENOMEM;
        else if (stat(p, &st) != 0 && errno == ENOENT && (sqlite || stat(j, &st) != 0))
            rc = bs__error(BLOBSTORE_ECORRUPT,
                           "the index is damaged: %s is missing, but %s/%s records a store "
                           "with a %s index (nothing was changed; blobstore verify "
                           "--rebuild-index rebuilds it from the blobs)",
                           p, bs->dir, settings_name_of(o), backend);
        free(p);
        free(j);
        if (rc)
            goto done;
    }

    /* Backends. */
    if (custom_meta) {
        bs->meta = o->meta_backend;
    } else if (is_pg_url(backend)) {
        /* opened above */
    } else if (strcmp(backend, "sqlite") == 0) {
        char *p = mem ? NULL : bs__path_join(bs->dir, "cache_metadata.db");
        if (!mem && !p) {
            rc = BLOBSTORE_ENOMEM;
            goto done;
        }
        rc = bs__meta_sqlite_open(&bs->meta, mem ? ":memory:" : p, bs->durable,
                                  bs->readonly && !mem);
        if (!rc && bs->rebuilding && !mem) { /* checked whole, whatever its size */
            rc = bs->meta->ctl(bs->meta, BLOBSTORE_META_CTL_CHECK, NULL);
            if (rc) {
                bs->meta->free(bs->meta);
                bs->meta = NULL;
            }
        }
        if (rc == BLOBSTORE_ECORRUPT && bs->rebuilding && !mem) {
            static const char *const files[] = {"cache_metadata.db", "cache_metadata.db-wal",
                                                "cache_metadata.db-shm", NULL};
            if ((rc = set_aside(bs->dir, files)) == 0)
                rc = blobstore_meta_backend_sqlite_new(&bs->meta, p, bs->durable);
        }
        free(p);
        if (rc)
            goto done;
    } else {
        char *p = mem ? NULL : bs__path_join(bs->dir, "cache_metadata.json");
        if (!mem && !p) {
            rc = BLOBSTORE_ENOMEM;
            goto done;
        }
        rc = bs__meta_json_open(&bs->meta, p, bs->durable, bs->readonly);
        if (rc == BLOBSTORE_ECORRUPT && bs->rebuilding && !mem) {
            static const char *const files[] = {"cache_metadata.json",
                                                "cache_metadata.json.journal", NULL};
            if ((rc = set_aside(bs->dir, files)) == 0)
                rc = blobstore_meta_backend_json_new(&bs->meta, p, bs->durable);
        }
        free(p);
        if (rc)
            goto done;
    }
    if (custom_blob)
        bs->blobs = o->blob_backend_impl;
    else if (mem)
        rc = blobstore_blob_backend_mem_new(&bs->blobs);
    else if (is_s3_url(blob_backend))
        rc = blobstore_blob_backend_s3_new(&bs->blobs, blob_backend, bs->shard_chars);
    else
        rc = bs__blob_fs_open(&bs->blobs, bs->dir, bs->shard_chars, bs->readonly);
    if (rc)
        goto done;
    /* A local index (JSON, SQLite) means every writer is on this machine. */
    if (!custom_meta && !is_pg_url(backend) && bs->blobs->ctl) {
        rc = bs->blobs->ctl(bs->blobs, BLOBSTORE_BLOB_CTL_LOCAL_WRITERS, NULL);
        if (rc == BLOBSTORE_EUNSUPPORTED) {
            bs__error_clear();
            rc = 0;
        }
        if (rc)
            goto done;
    }
    /* Settings are recorded only once the backends they name have opened. */
    if (!custom_meta && is_pg_url(backend) && !shared && !mem) {
        /* the first machine records the settings */
        /* Blob files are shared only where every machine sees them at the
         * same path: record it. */
        const char *blob_dir = strcmp(bs->blob_backend_name, "filesystem") == 0 ? here : NULL;
        char *text = settings_json(bs, 0, "postgresql", blob_dir);
        rc = text ? bs->meta->ctl(bs->meta, BLOBSTORE_META_CTL_SETTINGS_INIT, text)
                  : BLOBSTORE_ENOMEM;
        free(text);
        settings mine, sh;
        memset(&mine, 0, sizeof(mine));
        snprintf(mine.blob_backend, sizeof(mine.blob_backend), "%s", bs->blob_backend_name);
        mine.ca = bs->ca ? BLOBSTORE_YES : BLOBSTORE_NO;
        mine.shard_chars = bs->shard_chars;
        if (!rc) /* another machine may have been first */
            rc = load_shared(bs->meta, &sh, &shared);
        if (!rc && shared)
            rc = shared_conflict(&sh, &mine, blob_dir ? blob_dir : "",
                                 bs->dir ? bs->dir : "this process");
        if (rc)
            goto done;
    }
    if (write_local) {
        char *text = settings_json(bs, 1, NULL, NULL);
        rc = text ? bs__write_file_atomic(settings_path, text, strlen(text), 1) : BLOBSTORE_ENOMEM;
        free(text);
        if (rc)
            goto done;
    }
    bs->can_inline = (bs->meta->flags & BLOBSTORE_META_INLINE) && !custom_blob;
    if (!mem) {
        char *lp = bs__path_join(bs->dir, "lock");
        if (!lp) {
            rc = BLOBSTORE_ENOMEM;
            goto done;
        }
        /* Read-only: a lock file that is not there is not created (flock
         * works on a descriptor open for reading). */
        if (bs->readonly)
            bs->lockfd = open(lp, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
        else
            bs->lockfd = open(lp, O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0644);
        rc = bs->lockfd < 0 && !(bs->readonly && errno == ENOENT)
                 ? bs__error_errno(errno, "cannot open %s", lp)
                 : 0;
        free(lp);
    }
    if (!rc)
        reserve_make(bs);
done:
    free(settings_path);
    return rc;
}

static int open_impl(blobstore **out, const blobstore_options *opts, int rebuilding);

BLOBSTORE_API int blobstore_open(blobstore **out, const blobstore_options *opts)
{
    return open_impl(out, opts, 0);
}

BLOBSTORE_API int blobstore_open_rebuilding(blobstore **out, const blobstore_options *opts)
{
    return open_impl(out, opts, 1);
}

static int open_impl(blobstore **out, const blobstore_options *opts, int rebuilding)
{
    blobstore_options defaults = BLOBSTORE_OPTIONS_INIT;
    const blobstore_options *o = opts ? opts : &defaults;
    if (!out)
        return bs__error(BLOBSTORE_EINVAL, "out is NULL");
    *out = NULL;
    if (o->version < 1 || o->version > BLOBSTORE_OPTIONS_VERSION) {
        return bs__error(BLOBSTORE_EINVAL, "blobstore_options version %u is not supported",
                         o->version);
    }
    blobstore *bs = bs__calloc(1, sizeof(*bs));
    if (!bs) {
        if (o->meta_backend)
            o->meta_backend->free(o->meta_backend);
        if (o->blob_backend_impl)
            o->blob_backend_impl->free(o->blob_backend_impl);
        return BLOBSTORE_ENOMEM;
    }
    bs->lockfd = -1;
    bs->rebuilding = rebuilding;
    pthread_mutexattr_t ma;
    pthread_mutexattr_init(&ma);
    pthread_mutexattr_settype(&ma, PTHREAD_MUTEX_RECURSIVE);
    pthread_mutex_init(&bs->mu, &ma);
    pthread_mutexattr_destroy(&ma);
    pthread_mutex_init(&bs->opmu, NULL);
    pthread_rwlockattr_t ra;
    pthread_rwlockattr_init(&ra);
    pthread_rwlockattr_setkind_np(&ra, PTHREAD_RWLOCK_PREFER_WRITER_NONRECURSIVE_NP);
    pthread_rwlock_init(&bs->oprw, &ra);
    pthread_rwlockattr_destroy(&ra);
    int rc = open_store(bs, o);
    if (rc) {
        /* Backends passed in are owned by us from here, even on failure. */
        if (o->meta_backend && bs->meta != o->meta_backend)
            o->meta_backend->free(o->meta_backend);
        if (o->blob_backend_impl && bs->blobs != o->blob_backend_impl)
            o->blob_backend_impl->free(o->blob_backend_impl);
        blobstore_close(bs);
        return rc;
    }
    *out = bs;
    return 0;
}

/* ---- helpers ---- */

static const char *ext_for(const char *format)
{
    if (strcmp(format, "b2nd") == 0)
        return ".b2nd";
    if (strcmp(format, "parquet") == 0)
        return ".parquet";
    if (strcmp(format, "pickle") == 0)
        return ".pkl";
    return ".blob";
}

static int ext_check(const char *ext)
{
    size_t n = strlen(ext);
    if (strcmp(ext, SIDECAR_EXT) == 0)
        return bs__error(BLOBSTORE_EINVAL, "blob extension \"%s\" is reserved for sidecars", ext);
    if (n < 2 || n > 16 || ext[0] != '.')
        return bs__error(BLOBSTORE_EINVAL, "invalid blob extension \"%s\"", ext);
    for (size_t i = 1; i < n; i++)
        if (!((ext[i] >= 'a' && ext[i] <= 'z') || (ext[i] >= '0' && ext[i] <= '9')))
            return bs__error(BLOBSTORE_EINVAL, "invalid blob extension \"%s\"", ext);
    return 0;
}

/* Blob name: in a content-addressable store, the content hash; otherwise
 * 32 hex characters of SHA-256(key) and 16 random ones, so every put
 * writes a fresh name and never overwrites a blob an entry points to. */
static int make_blob_name(char out[128], const char *key, const char *hash, int ca, const char *ext)
{
    if (ca) {
        snprintf(out, 128, "%s%s", hash, ext);
        return 0;
    }
    char kh[65], rh[17];
    unsigned char rnd[8];
    int rc = bs__random_bytes(rnd, sizeof(rnd));
    if (rc)
        return rc;
    bs__sha256_hex(kh, key, strlen(key));
    bs__hex(rh, rnd, sizeof(rnd));
    snprintf(out, 128, "%.32s-%s%s", kh, rh, ext);
    return 0;
}

static int random_key(char out[17])
{
    unsigned char rnd[8];
    int rc = bs__random_bytes(rnd, sizeof(rnd));
    if (!rc)
        bs__hex(out, rnd, sizeof(rnd));
    return rc;
}

static int check_json_object(json_t **out, const char *text, const char *what)
{
    json_error_t err;
    *out = NULL;
    if (!text)
        return 0;
    json_t *v = json_loads(text, JSON_REJECT_DUPLICATES, &err);
    if (!v)
        return bs__error(BLOBSTORE_EINVAL, "%s is not valid JSON: %s (column %d)", what, err.text,
                         err.column);
    if (!json_is_object(v)) {
        json_decref(v);
        return bs__error(BLOBSTORE_EINVAL, "%s must be a JSON object", what);
    }
    *out = v;
    return 0;
}

static int remember(char ***list, size_t *n, const char *name)
{
    char **l = bs__realloc(*list, (*n + 1) * sizeof(char *));
    if (!l)
        return BLOBSTORE_ENOMEM;
    *list = l;
    if (!(l[*n] = bs__strdup(name)))
        return BLOBSTORE_ENOMEM;
    (*n)++;
    return 0;
}

/* 1 if the blob may be a file stored as it is, with a sidecar: any name
 * but those of framed blobs. */
static int may_have_sidecar(const char *name)
{
    const char *dot = strrchr(name, '.');
    return !dot ||
           (strcmp(dot, ".blob") != 0 && strcmp(dot, ".pkl") != 0 && strcmp(dot, SIDECAR_EXT) != 0);
}

static int sidecar_name(char out[160], const char *blob);
static int is_sidecar(const char *name);
static int sink_writer(void *ctx, const void *p, size_t n);

static void remove_blob_quiet(blobstore *bs, const char *name)
{
    char saved[1024], sc[160];
    snprintf(saved, sizeof(saved), "%s", blobstore_errmsg());
    bs->blobs->remove(bs->blobs, name);
    if (may_have_sidecar(name) && sidecar_name(sc, name) == 0) /* after its file */
        bs->blobs->remove(bs->blobs, sc);
    bs__error(0, "%s", saved);
}

/* Write the sidecar of a file stored as it is: an empty frame whose entry
 * record names the file, its content hash and size. */
static int write_sidecar(blobstore *bs, const char *blob, const char *record, const char *hash,
                         uint64_t size)
{
    json_error_t err;
    json_t *r = json_loads(record, 0, &err);
    char *text = NULL, sc[160];
    int rc = r && json_object_set_new(r, "blob", json_string(blob)) == 0 &&
                     json_object_set_new(r, "content_hash", json_string(hash)) == 0 &&
                     json_object_set_new(r, "size", json_integer((json_int_t)size)) == 0 &&
                     (text = bs__json_dumps(r)) != NULL
                 ? 0
                 : BLOBSTORE_ENOMEM;
    json_decref(r);
    if (!rc)
        rc = sidecar_name(sc, blob);
    blobstore_blob_writer *w = NULL;
    bs_frame_writer *fw = NULL;
    if (!rc)
        rc = bs->blobs->writer(&w, bs->blobs);
    if (!rc)
        rc = bs__frame_writer_new(&fw, bs__codec_by_name("none"), 1, sink_writer, w);
    if (!rc)
        rc = bs__frame_set_record(fw, text);
    char h[65];
    uint64_t a, b;
    if (!rc)
        rc = bs__frame_finish(fw, h, &a, &b);
    bs__frame_writer_free(fw);
    if (!rc) {
        rc = w->commit(w, sc, bs->durable && !bs->batch);
        w = NULL;
    }
    if (w)
        w->abort(w);
    free(text);
    return rc;
}

/* Record the entry (replacing any old one) and retire the old blob. */
static int commit_entry(blobstore *bs, blobstore_entry *e)
{
    blobstore_entry old;
    memset(&old, 0, sizeof(old));
    int rc = tx_begin(bs, 1);
    if (rc)
        return rc;
    rc = bs->meta->get(bs->meta, e->key, &old);
    if (rc == BLOBSTORE_ENOTFOUND)
        rc = 0;
    if (!rc)
        rc = bs->meta->put(bs->meta, e);
    int batch = bs->batch;
    if (!rc && batch && e->blob)
        rc = remember(&bs->batch_new, &bs->n_new, e->blob);
    if (!rc && batch && old.blob && (!e->blob || strcmp(old.blob, e->blob) != 0))
        rc = remember(&bs->batch_old, &bs->n_old, old.blob);
    int rc2 = tx_end(bs, rc == 0);
    if (!rc)
        rc = rc2;
    if (!rc && !batch && old.blob && (!e->blob || strcmp(old.blob, e->blob) != 0))
        remove_blob_quiet(bs, old.blob);
    blobstore_entry_clear(&old);
    return rc;
}

/* ---- put ---- */

typedef struct {
    blobstore_read_fn fn;
    void *ctx;
} user_src;

typedef struct {
    const unsigned char *p;
    size_t len, pos;
} mem_src;

static int mem_read(void *ctx, void *buf, size_t cap, size_t *out_n)
{
    mem_src *m = ctx;
    size_t n = m->len - m->pos;
    if (n > cap)
        n = cap;
    if (n)
        memcpy(buf, m->p + m->pos, n);
    m->pos += n;
    *out_n = n;
    return 0;
}

/* Sinks: the frame writer emits into a blob writer or a memory buffer. */
static int sink_writer(void *ctx, const void *p, size_t n)
{
    blobstore_blob_writer *w = ctx;
    return w->write(w, p, n);
}

typedef struct {
    const blobstore_put_options *po;
    const bs_codec *codec;
    int level;
    const char *format, *ext;
    json_t *meta, *info;
    const char *codec_name; /* raw files: recorded instead of po->compression */
} put_args;

static int put_args_init(put_args *a, blobstore *bs, const blobstore_put_options *po)
{
    static const blobstore_put_options none = BLOBSTORE_PUT_OPTIONS_INIT;
    memset(a, 0, sizeof(*a));
    a->po = po ? po : &none;
    if (a->po->version < 1 || a->po->version > BLOBSTORE_PUT_OPTIONS_VERSION)
        return bs__error(BLOBSTORE_EINVAL, "blobstore_put_options version %u is not supported",
                         a->po->version);
    if (a->po->raw) { /* the file's own codec, only recorded: any short name */
        const char *c = a->po->compression;
        if (c && (!*c || strlen(c) > 16 ||
                  strspn(c, "abcdefghijklmnopqrstuvwxyz0123456789_") != strlen(c)))
            return bs__error(BLOBSTORE_EINVAL, "invalid compression name \"%s\"", c);
        a->codec = bs->codec;
    } else {
        a->codec = a->po->compression ? bs__codec_by_name(a->po->compression) : bs->codec;
    }
    if (!a->codec)
        return BLOBSTORE_EINVAL;
    a->level = a->po->compression_level ? a->po->compression_level : bs->level;
    if (a->level < 1 || a->level > 9)
        return bs__error(BLOBSTORE_EINVAL, "compression_level must be 1..9, not %d", a->level);
    a->format = a->po->format ? a->po->format : "bytes";
    if (!*a->format || strlen(a->format) > 32)
        return bs__error(BLOBSTORE_EINVAL, "invalid format name");
    a->ext = a->po->extension ? a->po->extension : ext_for(a->format);
    int rc = ext_check(a->ext);
    if (!rc)
        rc = check_json_object(&a->meta, a->po->metadata, "metadata");
    if (!rc)
        rc = check_json_object(&a->info, a->po->format_info, "format_info");
    return rc;
}

static void put_args_free(put_args *a)
{
    json_decref(a->meta);
    json_decref(a->info);
}

/* The entry record a blob carries (frame trailer, or a raw file's sidecar):
 * what an index rebuilt from the blobs needs that the blob itself does not
 * say. key NULL: the content hash is the key (content-addressed). */
static char *entry_record(const char *key, const put_args *a, const char *now)
{
    json_t *r = json_pack("{s:s, s:O?, s:O?, s:s}", "format", a->format, "metadata", a->meta,
                          "info", a->info, "at", now);
    if (r && key && json_object_set_new(r, "key", json_string(key)) != 0) {
        json_decref(r);
        r = NULL;
    }
    if (r && a->po->raw &&
        json_object_set_new(r, "compression",
                            json_string(a->codec_name        ? a->codec_name
                                        : a->po->compression ? a->po->compression
                                                             : "none")) != 0) {
        json_decref(r);
        r = NULL;
    }
    char *text = r ? bs__json_dumps(r) : NULL;
    json_decref(r);
    return text;
}

/* Fill the entry's descriptive fields; now: its creation time. */
static int fill_entry(blobstore_entry *e, const char *key, const put_args *a, const char *hash,
                      uint64_t size, uint64_t stored, const char *now)
{
    e->key = bs__strdup(key);
    e->format = bs__strdup(a->format);
    e->compression = bs__strdup(a->po->raw ? (a->codec_name        ? a->codec_name
                                              : a->po->compression ? a->po->compression
                                                                   : "none")
                                           : a->codec->name);
    e->content_hash = bs__strdup(hash);
    e->created_at = bs__strdup(now);
    e->updated_at = bs__strdup(now);
    e->metadata = a->meta ? bs__json_dumps(a->meta) : bs__strdup("{}");
    e->info = a->info ? bs__json_dumps(a->info) : NULL;
    e->size = size;
    e->file_size = stored;
    e->raw = a->po->raw ? 1 : 0;
    if (!e->key || !e->format || !e->compression || !e->content_hash || !e->created_at ||
        !e->updated_at || !e->metadata || (a->info && !e->info))
        return bs__error(BLOBSTORE_ENOMEM, "out of memory");
    return 0;
}

/* In a content-addressable store: if an entry with this hash exists and its
 * data is present, only the entry is rewritten. Returns 1 if handled. */
static int ca_reuse(blobstore *bs, const char *hash, const put_args *a, int *rc_out)
{
    blobstore_entry old;
    memset(&old, 0, sizeof(old));
    int rc = tx_begin(bs, 0);
    if (rc) {
        *rc_out = rc;
        return 1;
    }
    rc = bs->meta->get(bs->meta, hash, &old);
    tx_end(bs, 1);
    if (rc) {
        blobstore_entry_clear(&old);
        return 0;
    }
    int present = old.inline_data || (old.blob && bs->blobs->exists(bs->blobs, old.blob) == 1);
    if (!present || old.raw != (a->po->raw ? 1 : 0) || strcmp(old.format, a->format) != 0) {
        blobstore_entry_clear(&old);
        return 0;
    }
    blobstore_entry e;
    memset(&e, 0, sizeof(e));
    char now[32];
    bs__now_iso(now);
    rc = fill_entry(&e, hash, a, hash, old.size, old.file_size, now);
    if (!rc) {
        free(e.compression);
        e.compression = old.compression;
        old.compression = NULL;
        free(e.created_at);
        e.created_at = old.created_at;
        old.created_at = NULL;
        e.blob = old.blob;
        old.blob = NULL;
        e.inline_data = old.inline_data;
        e.inline_len = old.inline_len;
        old.inline_data = NULL;
        rc = commit_entry(bs, &e);
    }
    blobstore_entry_clear(&e);
    blobstore_entry_clear(&old);
    *rc_out = rc;
    return 1;
}

/* Segment checksums of a raw file computed as it streams in, at 1 MiB and
 * at 64 MiB (the size is known only at the end; segment_size() picks). */
typedef struct {
    XXH3_state_t *st[2];
    uint64_t fill[2];
    bs_buf sums[2]; /* uint64_t each */
} seg_hasher;

static const uint64_t seg_sizes[2] = {(uint64_t)1 << 20, (uint64_t)64 << 20};

static int seg_update(seg_hasher *h, const unsigned char *p, size_t n)
{
    for (int k = 0; k < 2; k++) {
        const unsigned char *q = p;
        size_t left = n;
        while (left) {
            if (!h->st[k]) {
                if (!(h->st[k] = XXH3_createState()))
                    return BLOBSTORE_ENOMEM;
                XXH3_64bits_reset(h->st[k]);
            }
            size_t take = (size_t)(seg_sizes[k] - h->fill[k]) < left
                              ? (size_t)(seg_sizes[k] - h->fill[k])
                              : left;
            XXH3_64bits_update(h->st[k], q, take);
            h->fill[k] += take;
            q += take;
            left -= take;
            if (h->fill[k] == seg_sizes[k]) {
                uint64_t d = XXH3_64bits_digest(h->st[k]);
                int rc = bs__buf_append(&h->sums[k], &d, 8);
                if (rc)
                    return rc;
                XXH3_64bits_reset(h->st[k]);
                h->fill[k] = 0;
            }
        }
    }
    return 0;
}

/* info (a JSON object, changed) with "_segments" for a file of size bytes. */
static int seg_finish(seg_hasher *h, json_t *info, uint64_t size)
{
    int k = size / seg_sizes[0] < 4096 ? 0 : 1;
    if (h->fill[k]) {
        uint64_t d = XXH3_64bits_digest(h->st[k]);
        int rc = bs__buf_append(&h->sums[k], &d, 8);
        if (rc)
            return rc;
    }
    size_t n = h->sums[k].len / 8;
    char *hex = bs__malloc(n * 16 + 1);
    if (!hex)
        return BLOBSTORE_ENOMEM;
    hex[0] = 0;
    for (size_t i = 0; i < n; i++) {
        uint64_t d;
        memcpy(&d, h->sums[k].data + 8 * i, 8);
        snprintf(hex + i * 16, 17, "%016llx", (unsigned long long)d);
    }
    json_object_set_new(info, "_segments",
                        json_pack("{s:I, s:s}", "size", (json_int_t)seg_sizes[k], "xxh3", hex));
    free(hex);
    return 0;
}

static void seg_free(seg_hasher *h)
{
    for (int k = 0; k < 2; k++) {
        XXH3_freeState(h->st[k]);
        bs__buf_free(&h->sums[k]);
    }
}

static int put_impl(char **out_key, blobstore *bs, const char *key, blobstore_read_fn fn, void *ctx,
                    const void *data, size_t len, const blobstore_put_options *po,
                    const bs_file_hooks *hooks)
{
    put_args a;
    if (!bs)
        return bs__error(BLOBSTORE_EINVAL, "store is NULL");
    if (out_key)
        *out_key = NULL;
    int rc = refuse_readonly(bs);
    if (rc)
        return rc;
    rc = put_args_init(&a, bs, po);
    if (!rc && key && !bs->ca)
        rc = bs__key_check_new(key);
    if (rc) {
        put_args_free(&a);
        return rc;
    }
    char keybuf[17], hash[65], name[128];
    if (!fn) {
        if (bs->ca) {
            bs__sha256_hex(hash, data, len);
            int handled_rc = 0;
            if (ca_reuse(bs, hash, &a, &handled_rc)) {
                if (!handled_rc && out_key && !(*out_key = bs__strdup(hash)))
                    handled_rc = BLOBSTORE_ENOMEM;
                put_args_free(&a);
                return handled_rc;
            }
        }
    }
    /* In-memory data is fed as one piece; a stream is read in IO_CHUNKs. */
    unsigned char *buf = fn ? bs__malloc(IO_CHUNK) : NULL;
    const unsigned char *piece = fn ? buf : data;
    blobstore_blob_writer *w = NULL;
    bs_frame_writer *fw = NULL;
    bs_sha256 *sha = NULL;
    bs_buf inl = {0};
    blobstore_entry e;
    memset(&e, 0, sizeof(e));
    uint64_t size = 0, stored = 0;
    int committed = 0, locked = 0;
    char *rec = NULL; /* the entry record the blob carries */
    seg_hasher segs;
    memset(&segs, 0, sizeof(segs));
    char *hooked_codec = NULL;
    if (fn && !buf) {
        rc = BLOBSTORE_ENOMEM;
        goto out;
    }
    /* Read the first piece: a small value may be kept inline. */
    size_t got = fn ? 0 : len;
    while (fn && got < IO_CHUNK) {
        size_t n = 0;
        if (fn(ctx, buf + got, IO_CHUNK - got, &n) != 0) {
            rc = bs__error(BLOBSTORE_ECALLBACK, "the put's read callback failed");
            goto out;
        }
        if (n == 0)
            break;
        got += n;
    }
    int at_end = !fn || got < IO_CHUNK;
    int inline_it = bs->can_inline && !a.po->raw && at_end && got <= INLINE_MAX;
    /* Writing a blob file takes the store lock shared (verify's orphan scan
     * takes it exclusively); a value kept inline creates no file. */
    if (!inline_it) {
        if ((rc = op_enter(bs)) != 0)
            goto out;
        locked = 1;
        if ((rc = bs->blobs->writer(&w, bs->blobs)) != 0)
            goto out;
    }
    if (a.po->raw)
        rc = (sha = bs__sha256_new()) ? 0 : BLOBSTORE_ENOMEM;
    else if (inline_it)
        rc = bs__frame_writer_new(&fw, a.codec, a.level, bs__sink_buf, &inl);
    else
        rc = bs__frame_writer_new(&fw, a.codec, a.level, sink_writer, w);
    if (rc)
        goto out;
    /* Feed everything. */
    for (;;) {
        if (got) {
            if (fw) {
                rc = bs__frame_write(fw, piece, got);
            } else {
                bs__sha256_update(sha, piece, got);
                rc = hooks ? seg_update(&segs, piece, got) : 0;
                if (!rc)
                    rc = w->write(w, piece, got);
                size += got;
            }
            if (rc)
                goto out;
        }
        if (at_end)
            break;
        got = 0;
        size_t n = 0;
        if (fn(ctx, buf, IO_CHUNK, &n) != 0) {
            rc = bs__error(BLOBSTORE_ECALLBACK, "the put's read callback failed");
            goto out;
        }
        got = n;
        at_end = n == 0;
    }
    if (hooks) { /* the file's details, known now that it is whole */
        json_t *info = NULL;
        if ((rc = hooks->finish(hooks->ctx, &info, &hooked_codec)) != 0)
            goto out;
        if (a.info && info)
            json_object_update(a.info, info);
        else if (info)
            a.info = json_incref(info);
        json_decref(info);
        if (!a.info && !(a.info = json_object())) {
            rc = BLOBSTORE_ENOMEM;
            goto out;
        }
        if (size > 0 && (rc = seg_finish(&segs, a.info, size)) != 0)
            goto out;
        a.codec_name = hooked_codec;
    }
    char now[32];
    bs__now_iso(now);
    if (!bs->ca && !key) {
        if ((rc = random_key(keybuf)) != 0)
            goto out;
        key = keybuf;
    }
    /* the blob carries its key and metadata, for an index rebuild */
    rec = entry_record(bs->ca ? NULL : key, &a, now);
    if (!rec) {
        rc = BLOBSTORE_ENOMEM;
        goto out;
    }
    if (fw) {
        rc = bs__frame_set_record(fw, rec);
        if (rc || (rc = bs__frame_finish(fw, hash, &size, &stored)) != 0)
            goto out;
    } else {
        bs__sha256_final_hex(sha, hash);
        sha = NULL;
        stored = size;
    }
    if (bs->ca)
        key = hash;
    if ((rc = fill_entry(&e, key, &a, hash, size, stored, now)) != 0)
        goto out;
    if (inline_it) {
        e.inline_data = inl.data;
        e.inline_len = inl.len;
        inl.data = NULL;
    } else {
        if ((rc = make_blob_name(name, key, hash, bs->ca, a.ext)) != 0)
            goto out;
        if (bs->ca && bs->blobs->exists(bs->blobs, name) == 1) {
            w->abort(w); /* identical content is already stored */
            w = NULL;
        } else {
            rc = w->commit(w, name, bs->durable && !bs->batch);
            w = NULL;
            if (!rc)
                committed = 1;
            if (!rc && a.po->raw) /* a file stored as it is: its record beside it */
                rc = write_sidecar(bs, name, rec, hash, size);
            if (rc) {
                if (committed && !bs->batch)
                    remove_blob_quiet(bs, name);
                goto out;
            }
        }
        if (!(e.blob = bs__strdup(name))) {
            rc = BLOBSTORE_ENOMEM;
            goto out;
        }
    }
    rc = commit_entry(bs, &e);
    if (!rc && out_key && !(*out_key = bs__strdup(key)))
        rc = BLOBSTORE_ENOMEM;
    if (rc && committed && !bs->batch)
        remove_blob_quiet(bs, name);
out:
    if (w)
        w->abort(w);
    free(rec);
    bs__frame_writer_free(fw);
    bs__sha256_free(sha);
    bs__buf_free(&inl);
    blobstore_entry_clear(&e);
    free(buf);
    seg_free(&segs);
    free(hooked_codec);
    put_args_free(&a);
    if (locked)
        op_leave(bs);
    return rc;
}

BLOBSTORE_API int blobstore_put_ex(char **out_key, blobstore *bs, const char *key, const void *data,
                                   size_t len, const blobstore_put_options *opts)
{
    if (!data && len)
        return bs__error(BLOBSTORE_EINVAL, "data is NULL");
    static const unsigned char empty[1];
    return put_impl(out_key, bs, key, NULL, NULL, data ? data : empty, len, opts, NULL);
}

BLOBSTORE_API int blobstore_put(char **out_key, blobstore *bs, const char *key, const void *data,
                                size_t len, const char *metadata)
{
    blobstore_put_options po = BLOBSTORE_PUT_OPTIONS_INIT;
    po.metadata = metadata;
    return blobstore_put_ex(out_key, bs, key, data, len, &po);
}

BLOBSTORE_API int blobstore_put_stream(char **out_key, blobstore *bs, const char *key,
                                       blobstore_read_fn read, void *ctx,
                                       const blobstore_put_options *opts)
{
    if (!read)
        return bs__error(BLOBSTORE_EINVAL, "read callback is NULL");
    return put_impl(out_key, bs, key, read, ctx, NULL, 0, opts, NULL);
}

static int fd_read(void *ctx, void *buf, size_t cap, size_t *out_n)
{
    int fd = *(int *)ctx;
    for (;;) {
        ssize_t n = read(fd, buf, cap);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            bs__error_errno(errno, "cannot read input");
            return -1;
        }
        *out_n = (size_t)n;
        return 0;
    }
}

BLOBSTORE_API int blobstore_put_fd(char **out_key, blobstore *bs, const char *key, int fd,
                                   const blobstore_put_options *opts)
{
    char msg[1024];
    int rc = blobstore_put_stream(out_key, bs, key, fd_read, &fd, opts);
    if (rc == BLOBSTORE_ECALLBACK) { /* report the read error itself */
        snprintf(msg, sizeof(msg), "%s", blobstore_errmsg());
        rc = bs__error(BLOBSTORE_EIO, "%s", msg);
    }
    return rc;
}

/* ---- get ---- */

static int get_entry(blobstore *bs, const char *key, blobstore_entry *e)
{
    memset(e, 0, sizeof(*e));
    if (!bs)
        return bs__error(BLOBSTORE_EINVAL, "store is NULL");
    int rc = bs__key_check(key);
    if (rc)
        return rc;
    if ((rc = tx_begin(bs, 0)) != 0)
        return rc;
    rc = bs->meta->get(bs->meta, key, e);
    int rc2 = tx_end(bs, 1);
    if (rc)
        blobstore_entry_clear(e);
    return rc ? rc : rc2;
}

typedef struct {
    blobstore_blob_reader *r;
    mem_src *m;
} blob_src;

static int src_read(void *ctx, void *p, size_t cap, size_t *out_n)
{
    blob_src *s = ctx;
    if (s->m)
        return mem_read(s->m, p, cap, out_n);
    return s->r->read(s->r, p, cap, out_n);
}

typedef struct {
    blobstore_write_fn fn;
    void *ctx;
} user_sink;

static int sink_user(void *ctx, const void *p, size_t n)
{
    user_sink *u = ctx;
    if (u->fn(u->ctx, p, n) != 0)
        return bs__error(BLOBSTORE_ECALLBACK, "the get's write callback failed");
    return 0;
}

/* ---- segment checksums of files stored as they are ---- */

/* Segment size for a file of len bytes: 1 MiB, doubled until there are at
 * most 4096 segments. */
static uint64_t segment_size(uint64_t len)
{
    uint64_t seg = (uint64_t)1 << 20;
    while (len / seg >= 4096)
        seg *= 2;
    return seg;
}

/* info (JSON object text) with "_segments": {"size": S, "xxh3": hex of the
 * XXH3-64 of each S-byte segment}; NULL when out of memory. */
static char *segments_info(const char *info, const void *file, size_t len)
{
    uint64_t seg = segment_size(len);
    size_t n = (size_t)((len + seg - 1) / seg);
    char *hex = bs__malloc(n * 16 + 1);
    json_error_t err;
    json_t *o = json_loads(info, 0, &err);
    char *out = NULL;
    if (hex && json_is_object(o)) {
        for (size_t i = 0; i < n; i++) {
            size_t at = (size_t)(i * seg), k = len - at < seg ? len - at : (size_t)seg;
            snprintf(hex + i * 16, 17, "%016llx",
                     (unsigned long long)XXH3_64bits((const uint8_t *)file + at, k));
        }
        json_object_set_new(o, "_segments",
                            json_pack("{s:I, s:s}", "size", (json_int_t)seg, "xxh3", hex));
        out = bs__json_dumps(o);
    }
    json_decref(o);
    free(hex);
    return out;
}

/* The segment checksums recorded in info for a file of len bytes: 1 with
 * *seg, *nseg and *sums (malloc'd), or 0 when absent or malformed. */
static int segments_parse(const char *info, uint64_t len, uint64_t *seg, size_t *nseg,
                          uint64_t **sums)
{
    json_error_t err;
    json_t *o = info ? json_loads(info, 0, &err) : NULL;
    json_t *sg = json_object_get(o, "_segments");
    json_t *sz = json_object_get(sg, "size");
    const char *hex = json_string_value(json_object_get(sg, "xxh3"));
    int ok = 0;
    *sums = NULL;
    if (json_is_integer(sz) && hex && json_integer_value(sz) > 0) {
        *seg = (uint64_t)json_integer_value(sz);
        *nseg = (size_t)((len + *seg - 1) / *seg);
        if (strlen(hex) == *nseg * 16 && (*sums = bs__calloc(*nseg + 1, 8)) != NULL) {
            ok = 1;
            for (size_t i = 0; i < *nseg && ok; i++) {
                char part[17];
                memcpy(part, hex + i * 16, 16);
                part[16] = 0;
                char *end;
                (*sums)[i] = strtoull(part, &end, 16);
                ok = *end == 0;
            }
        }
    }
    json_decref(o);
    if (!ok) {
        free(*sums);
        *sums = NULL;
    }
    return ok;
}

/* Read exactly n bytes (fewer only at the end). */
static int src_read_full(blob_src *s, unsigned char *buf, size_t n, size_t *got)
{
    *got = 0;
    while (*got < n) {
        size_t k = 0;
        int rc = src_read(s, buf + *got, n - *got, &k);
        if (rc)
            return rc;
        if (k == 0)
            break;
        *got += k;
    }
    return 0;
}

/* A file stored as it is, into sink. With segment checksums (and segments of
 * at most 64 MiB), each segment is checked before any of its bytes are
 * passed on, as the chunks of a framed blob are; the SHA-256 of the whole is
 * left to verify (and to full_hash). Without them, the SHA-256 is checked
 * at the end. */
static int decode_raw(blob_src *s, const blobstore_entry *e, bs_sink_fn sink, void *sink_ctx,
                      int full_hash)
{
    uint64_t seg = 0, *sums = NULL;
    size_t nseg = 0;
    int segmented = segments_parse(e->info, e->size, &seg, &nseg, &sums) && seg <= (64u << 20);
    int hashed = !segmented || full_hash;
    bs_sha256 *sha = hashed ? bs__sha256_new() : NULL;
    size_t cap = segmented ? (size_t)seg : IO_CHUNK;
    unsigned char *buf = bs__malloc(cap);
    uint64_t total = 0;
    int rc = (!buf || (hashed && !sha)) ? BLOBSTORE_ENOMEM : 0;
    for (size_t k = 0; !rc; k++) {
        size_t n = 0;
        if ((rc = src_read_full(s, buf, cap, &n)) != 0 || n == 0)
            break;
        if (segmented) {
            uint64_t want = k < nseg ? (e->size - k * seg < seg ? e->size - k * seg : seg) : 0;
            if (n != want || XXH3_64bits(buf, n) != sums[k]) {
                rc = bs__error(BLOBSTORE_ECORRUPT, "bytes %llu..%llu fail their checksum",
                               (unsigned long long)total, (unsigned long long)(total + n - 1));
                break;
            }
        }
        if (sha)
            bs__sha256_update(sha, buf, n);
        total += n;
        rc = sink(sink_ctx, buf, n);
    }
    if (!rc && total != e->size)
        rc = bs__error(BLOBSTORE_ECORRUPT, "blob has %llu bytes, not %llu",
                       (unsigned long long)total, (unsigned long long)e->size);
    if (!rc && sha) {
        char hex[65];
        bs__sha256_final_hex(sha, hex);
        sha = NULL;
        if (strcmp(hex, e->content_hash) != 0)
            rc = bs__error(BLOBSTORE_ECORRUPT, "blob content does not match its SHA-256");
    }
    bs__sha256_free(sha);
    free(buf);
    free(sums);
    return rc;
}

/* Decode an entry's blob into sink, verifying it. ENOTFOUND: blob missing.
 * full_hash: recompute the SHA-256 of framed content too. */
static int decode_entry(blobstore *bs, const blobstore_entry *e, bs_sink_fn sink, void *sink_ctx,
                        int full_hash)
{
    blob_src s = {NULL, NULL};
    mem_src m = {e->inline_data, e->inline_len, 0};
    int rc;
    if (e->inline_data || !e->blob) {
        s.m = &m;
    } else if ((rc = bs->blobs->reader(&s.r, bs->blobs, e->blob)) != 0) {
        return rc;
    }
    if (!e->raw) {
        rc = bs__frame_decode(src_read, &s, sink, sink_ctx, e->content_hash, e->size, full_hash,
                              NULL);
    } else {
        rc = decode_raw(&s, e, sink, sink_ctx, full_hash);
    }
    if (s.r)
        s.r->close(s.r);
    if (rc == BLOBSTORE_ECORRUPT)
        bs__error_wrap(rc, "key \"%s\" (blob %s)", e->key, e->blob ? e->blob : "inline");
    return rc;
}

/* Read an entry and decode it; if its blob vanished because a concurrent put
 * replaced the entry, read the entry again. */
static int get_common(blobstore *bs, const char *key, bs_sink_fn sink, void *ctx,
                      int (*prepare)(void *ctx, const blobstore_entry *e))
{
    for (int attempt = 0;; attempt++) {
        blobstore_entry e;
        int rc = get_entry(bs, key, &e);
        if (rc)
            return rc;
        if (prepare && (rc = prepare(ctx, &e)) != 0) {
            blobstore_entry_clear(&e);
            return rc;
        }
        rc = decode_entry(bs, &e, sink, ctx, bs->full_hash);
        if (rc == BLOBSTORE_ENOTFOUND) {
            if (attempt < 2) {
                blobstore_entry_clear(&e);
                continue;
            }
            rc = bs__error(BLOBSTORE_ECORRUPT, "key \"%s\": its blob %s is missing", key,
                           e.blob ? e.blob : "");
        }
        blobstore_entry_clear(&e);
        return rc;
    }
}

static int buf_prepare(void *ctx, const blobstore_entry *e)
{
    bs_buf *b = ctx;
    b->len = 0;
    if (e->size > SIZE_MAX)
        return bs__error(BLOBSTORE_ENOMEM, "blob of %llu bytes does not fit in memory",
                         (unsigned long long)e->size);
    return bs__buf_reserve(b, (size_t)e->size);
}

BLOBSTORE_API int blobstore_get(void **out, size_t *out_len, blobstore *bs, const char *key)
{
    if (!out || !out_len)
        return bs__error(BLOBSTORE_EINVAL, "NULL output argument");
    *out = NULL;
    *out_len = 0;
    bs_buf b = {0};
    int rc = get_common(bs, key, bs__sink_buf, &b, buf_prepare);
    if (rc) {
        bs__buf_free(&b);
        return rc;
    }
    if (!b.data && !(b.data = bs__malloc(1)))
        return BLOBSTORE_ENOMEM;
    *out = b.data;
    *out_len = b.len;
    return 0;
}

typedef struct {
    user_sink u;
    uint64_t sent;
} stream_ctx;

static int stream_sink(void *ctx, const void *p, size_t n)
{
    stream_ctx *s = ctx;
    s->sent += n;
    return sink_user(&s->u, p, n);
}

static int stream_prepare(void *ctx, const blobstore_entry *e)
{
    stream_ctx *s = ctx;
    (void)e;
    if (s->sent) /* a retry after bytes were delivered cannot be undone */
        return bs__error(BLOBSTORE_EIO, "blob changed while it was being read");
    return 0;
}

BLOBSTORE_API int blobstore_get_stream(blobstore *bs, const char *key, blobstore_write_fn write,
                                       void *ctx)
{
    if (!write)
        return bs__error(BLOBSTORE_EINVAL, "write callback is NULL");
    stream_ctx s = {{write, ctx}, 0};
    /* get_common passes the same ctx to prepare and the sink. */
    return get_common(bs, key, stream_sink, &s, stream_prepare);
}

static int fd_write(void *ctx, const void *p, size_t n)
{
    int e = bs__write_all(*(int *)ctx, p, n);
    if (e)
        bs__error_errno(-e, "cannot write output");
    return e;
}

BLOBSTORE_API int blobstore_get_fd(blobstore *bs, const char *key, int fd)
{
    char msg[1024];
    int rc = blobstore_get_stream(bs, key, fd_write, &fd);
    if (rc == BLOBSTORE_ECALLBACK) {
        snprintf(msg, sizeof(msg), "%s", blobstore_errmsg());
        rc = bs__error(BLOBSTORE_EIO, "%s", msg);
    }
    return rc;
}

/* ---- files of the format modules ---- */

/* ---- files read in parts ---- */

struct bs_ranged {
    blobstore *bs;
    char *blob;
    uint8_t *data;
    size_t len;
    int mapped;   /* data is a sparse mapping filled segment by segment */
    uint64_t seg; /* segment size */
    size_t nseg;
    uint64_t *sums; /* per segment XXH3-64 */
    uint8_t *loaded;
    pthread_mutex_t mu;
};

/* The segment checksums in an entry's info, if well-formed for r->len. */
static int parse_segments(bs_ranged *r, const char *info)
{
    if (!segments_parse(info, r->len, &r->seg, &r->nseg, &r->sums))
        return 0;
    return (r->loaded = bs__calloc(r->nseg + 1, 1)) != NULL;
}

int bs__ranged_open(bs_ranged **out, blobstore *bs, const char *key, const char *format,
                    const char *what, int whole)
{
    *out = NULL;
    blobstore_entry e;
    int rc = get_entry(bs, key, &e);
    if (rc)
        return rc;
    if (strcmp(e.format, format) != 0) {
        blobstore_entry_clear(&e);
        return bs__error(BLOBSTORE_EINVAL, "key \"%s\" does not hold %s", key, what);
    }
    bs_ranged *r = bs__calloc(1, sizeof(*r));
    if (!r) {
        blobstore_entry_clear(&e);
        return BLOBSTORE_ENOMEM;
    }
    r->bs = bs;
    r->len = (size_t)e.size;
    pthread_mutex_init(&r->mu, NULL);
    int ranged = !whole && e.size > BS_RANGED_MIN && e.raw && e.blob && !e.inline_data &&
                 e.size == e.file_size && bs->blobs->version >= 2 && bs->blobs->read_range &&
                 parse_segments(r, e.info);
    if (ranged) {
        void *m = mmap(NULL, r->len, PROT_READ | PROT_WRITE,
                       MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
        if (m == MAP_FAILED) {
            ranged = 0;
        } else {
            r->data = m;
            r->mapped = 1;
            r->blob = bs__strdup(e.blob);
            rc = r->blob ? 0 : BLOBSTORE_ENOMEM;
        }
    }
    blobstore_entry_clear(&e);
    if (!rc && !ranged) {
        void *all = NULL;
        size_t n = 0;
        rc = blobstore_get(&all, &n, bs, key);
        r->data = all;
        r->len = n;
    }
    if (rc) {
        bs__ranged_close(r);
        return rc;
    }
    *out = r;
    return 0;
}

const uint8_t *bs__ranged_data(const bs_ranged *r, size_t *len)
{
    *len = r->len;
    return r->data;
}

int bs__ranged_fetch(bs_ranged *r, uint64_t off, uint64_t len)
{
    if (!r->mapped || len == 0 || off >= r->len)
        return 0;
    if (len > r->len - off)
        len = r->len - off;
    size_t first = (size_t)(off / r->seg), last = (size_t)((off + len - 1) / r->seg);
    int rc = 0;
    pthread_mutex_lock(&r->mu);
    for (size_t i = first; i <= last && !rc;) {
        if (r->loaded[i]) {
            i++;
            continue;
        }
        size_t j = i; /* one read for a run of missing segments */
        while (j < last && !r->loaded[j + 1])
            j++;
        uint64_t at = i * r->seg, end = (j + 1) * r->seg < r->len ? (j + 1) * r->seg : r->len;
        size_t got = 0;
        rc = r->bs->blobs->read_range(r->bs->blobs, r->blob, at, r->data + at, (size_t)(end - at),
                                      &got);
        if (!rc && got != end - at)
            rc = bs__error(BLOBSTORE_ECORRUPT, "blob %s is shorter than its entry says", r->blob);
        for (size_t k = i; !rc && k <= j; k++) {
            uint64_t a = k * r->seg, b = a + r->seg < r->len ? a + r->seg : r->len;
            if (XXH3_64bits(r->data + a, (size_t)(b - a)) != r->sums[k])
                rc = bs__error(BLOBSTORE_ECORRUPT, "blob %s: bytes %llu..%llu fail their checksum",
                               r->blob, (unsigned long long)a, (unsigned long long)b - 1);
            else
                r->loaded[k] = 1;
        }
        i = j + 1;
    }
    pthread_mutex_unlock(&r->mu);
    return rc;
}

void bs__ranged_close(bs_ranged *r)
{
    if (!r)
        return;
    if (r->mapped)
        munmap(r->data, r->len);
    else
        blobstore_free(r->data);
    pthread_mutex_destroy(&r->mu);
    free(r->blob);
    free(r->sums);
    free(r->loaded);
    free(r);
}

int bs__put_file(char **out_key, blobstore *bs, const char *key, const void *file, size_t len,
                 const char *format, const char *codec, const char *metadata, json_t *info,
                 const char *extra)
{
    json_error_t err;
    json_t *more = extra ? json_loads(extra, 0, &err) : NULL;
    int rc = 0;
    if (!info)
        rc = BLOBSTORE_ENOMEM;
    else if (extra && !json_is_object(more))
        rc = bs__error(BLOBSTORE_EINVAL, "format_info must be a JSON object");
    else if (more)
        json_object_update(info, more);
    char *text = rc ? NULL : bs__json_dumps(info);
    json_decref(more);
    json_decref(info);
    if (!rc && !text)
        rc = BLOBSTORE_ENOMEM;
    if (rc)
        return rc;
    blobstore_put_options po = BLOBSTORE_PUT_OPTIONS_INIT;
    po.metadata = metadata;
    po.format = format;
    po.raw = 1;
    if (len > 0) { /* per-segment checksums: checked reads of parts, and of the whole */
        char *with = segments_info(text, file, len);
        free(text);
        if (!(text = with))
            return BLOBSTORE_ENOMEM;
    }
    po.format_info = text;
    po.compression = codec;
    rc = blobstore_put_ex(out_key, bs, key, file, len, &po);
    free(text);
    return rc;
}

void bs__store_codec(const blobstore *bs, const char **name, int *level)
{
    *name = bs->codec->name;
    *level = bs->level;
}

int bs__put_file_stream(char **out_key, blobstore *bs, const char *key, blobstore_read_fn fn,
                        void *ctx, const char *format, const char *metadata,
                        const bs_file_hooks *hooks)
{
    blobstore_put_options po = BLOBSTORE_PUT_OPTIONS_INIT;
    po.metadata = metadata;
    po.format = format;
    po.raw = 1;
    return put_impl(out_key, bs, key, fn, ctx, NULL, 0, &po, hooks);
}

int bs__get_file(void **out, size_t *len, blobstore *bs, const char *key, const char *format,
                 const char *what)
{
    blobstore_entry e;
    int rc = get_entry(bs, key, &e);
    if (rc)
        return rc;
    int match = strcmp(e.format, format) == 0;
    blobstore_entry_clear(&e);
    if (!match)
        return bs__error(BLOBSTORE_EINVAL, "key \"%s\" does not hold %s", key, what);
    return blobstore_get(out, len, bs, key);
}

/* ---- metadata ---- */

static json_t *entry_json(const blobstore_entry *e)
{
    json_error_t err;
    json_t *m = json_loads(e->metadata ? e->metadata : "{}", 0, &err);
    json_t *o = json_object();
    if (!m || !o) {
        json_decref(m);
        json_decref(o);
        return NULL;
    }
    if (e->info) {
        json_t *info = json_loads(e->info, 0, &err);
        if (json_is_object(info)) {
            const char *k;
            json_t *v;
            json_object_foreach(info, k, v)
            {
                if (k[0] != '_') /* the store's own bookkeeping */
                    json_object_set(o, k, v);
            }
        }
        json_decref(info);
    }
    json_object_set_new(o, "key", json_string(e->key));
    json_object_set_new(o, "metadata", m);
    json_object_set_new(o, "size", json_integer((json_int_t)e->size));
    json_object_set_new(o, "file_size", json_integer((json_int_t)e->file_size));
    json_object_set_new(o, "format", json_string(e->format));
    json_object_set_new(o, "compression", json_string(e->compression ? e->compression : "none"));
    json_object_set_new(o, "content_hash", json_string(e->content_hash));
    json_object_set_new(o, "created_at", e->created_at ? json_string(e->created_at) : json_null());
    json_object_set_new(o, "updated_at", e->updated_at ? json_string(e->updated_at) : json_null());
    json_object_set_new(o, "blob", e->blob ? json_string(e->blob) : json_null());
    json_object_set_new(o, "storage",
                        json_string(e->blob ? (e->raw ? "file" : "framed") : "inline"));
    return o;
}

BLOBSTORE_API int blobstore_get_metadata(char **out_json, blobstore *bs, const char *key)
{
    if (!out_json)
        return bs__error(BLOBSTORE_EINVAL, "out_json is NULL");
    *out_json = NULL;
    blobstore_entry e;
    int rc = get_entry(bs, key, &e);
    if (rc)
        return rc;
    json_t *o = entry_json(&e);
    blobstore_entry_clear(&e);
    if (o)
        *out_json = bs__json_dumps(o);
    json_decref(o);
    return *out_json ? 0 : bs__error(BLOBSTORE_ENOMEM, "out of memory");
}

BLOBSTORE_API int blobstore_update_metadata(blobstore *bs, const char *key, const char *json)
{
    json_t *patch;
    if (!bs)
        return bs__error(BLOBSTORE_EINVAL, "store is NULL");
    int rc = bs__key_check(key);
    if (rc)
        return rc;
    if (!json)
        return bs__error(BLOBSTORE_EINVAL, "metadata is NULL");
    if ((rc = check_json_object(&patch, json, "metadata")) != 0)
        return rc;
    blobstore_entry e;
    memset(&e, 0, sizeof(e));
    if ((rc = tx_begin(bs, 1)) != 0) {
        json_decref(patch);
        return rc;
    }
    rc = bs->meta->get(bs->meta, key, &e);
    if (!rc) {
        json_error_t err;
        json_t *m = json_loads(e.metadata, 0, &err);
        char now[32], *text = NULL, *upd = NULL;
        bs__now_iso(now);
        if (!m || json_object_update(m, patch) != 0 || !(text = bs__json_dumps(m)) ||
            !(upd = bs__strdup(now))) {
            free(text);
            rc = bs__error(BLOBSTORE_ENOMEM, "cannot merge metadata");
        } else {
            free(e.metadata);
            e.metadata = text;
            free(e.updated_at);
            e.updated_at = upd;
            rc = bs->meta->put(bs->meta, &e);
        }
        json_decref(m);
    }
    int rc2 = tx_end(bs, rc == 0);
    blobstore_entry_clear(&e);
    json_decref(patch);
    return rc ? rc : rc2;
}

static int delete_once(blobstore *bs, const char *key)
{
    int rc;
    blobstore_entry e;
    memset(&e, 0, sizeof(e));
    if ((rc = tx_begin(bs, 1)) == 0) {
        rc = bs->meta->get(bs->meta, key, &e);
        if (!rc)
            rc = bs->meta->remove(bs->meta, key);
        int batch = bs->batch;
        if (!rc && batch && e.blob)
            rc = remember(&bs->batch_old, &bs->n_old, e.blob);
        int rc2 = tx_end(bs, rc == 0);
        if (!rc)
            rc = rc2;
        if (!rc && !batch && e.blob)
            remove_blob_quiet(bs, e.blob);
    }
    blobstore_entry_clear(&e);
    return rc;
}

BLOBSTORE_API int blobstore_delete(blobstore *bs, const char *key)
{
    if (!bs)
        return bs__error(BLOBSTORE_EINVAL, "store is NULL");
    int rc = bs__key_check(key);
    if (rc || (rc = op_enter(bs)) != 0)
        return rc;
    bs__nospace_take();
    rc = delete_once(bs, key);
    if (rc && !bs->batch && bs__nospace_take()) { /* full disk: use the reserve */
        reserve_release(bs);
        rc = delete_once(bs, key);
        if (!rc)
            reserve_make(bs);
    }
    op_leave(bs);
    return rc;
}

BLOBSTORE_API int blobstore_exists(blobstore *bs, const char *key)
{
    blobstore_entry e;
    int rc = get_entry(bs, key, &e);
    if (rc == BLOBSTORE_ENOTFOUND) {
        bs__error_clear();
        return 0;
    }
    if (rc)
        return rc;
    rc = (e.inline_data || !e.blob) ? 1 : bs->blobs->exists(bs->blobs, e.blob);
    blobstore_entry_clear(&e);
    return rc;
}

/* ---- list / clear ---- */

BLOBSTORE_API void blobstore_list_free(blobstore_list *list)
{
    if (!list)
        return;
    for (size_t i = 0; i < list->count; i++)
        free(list->keys[i]);
    free(list->keys);
    list->keys = NULL;
    list->count = 0;
}

typedef struct {
    json_t *filter;
    int need_fields; /* the filter or the order uses store fields */
    const char *order_path;
    int with_meta;
    char **keys;
    size_t n, cap;
    char **blobs;     /* parallel to keys */
    json_t **order;   /* parallel to keys, when ordering: the value (or NULL) */
    char **meta_text; /* parallel to keys, when with_meta */
} collect_ctx;

static int grow_arrays(collect_ctx *c)
{
    size_t cap = c->cap ? c->cap * 2 : 64;
    char **k = bs__realloc(c->keys, cap * sizeof(char *));
    if (!k)
        return BLOBSTORE_ENOMEM;
    c->keys = k;
    char **b = bs__realloc(c->blobs, cap * sizeof(char *));
    if (!b)
        return BLOBSTORE_ENOMEM;
    c->blobs = b;
    if (c->order_path) {
        json_t **o = bs__realloc(c->order, cap * sizeof(json_t *));
        if (!o)
            return BLOBSTORE_ENOMEM;
        c->order = o;
    }
    if (c->with_meta) {
        char **m = bs__realloc(c->meta_text, cap * sizeof(char *));
        if (!m)
            return BLOBSTORE_ENOMEM;
        c->meta_text = m;
    }
    c->cap = cap;
    return 0;
}

static int collect(void *ctx, const blobstore_entry *e)
{
    collect_ctx *c = ctx;
    json_t *m = NULL, *fields = NULL;
    if (c->filter || c->order_path || c->with_meta) {
        json_error_t err;
        m = json_loads(e->metadata, 0, &err);
        if (!m)
            return bs__error(BLOBSTORE_ECORRUPT, "metadata of \"%s\" is not valid JSON", e->key);
        if (c->need_fields || c->with_meta) {
            if (!(fields = entry_json(e))) {
                json_decref(m);
                return BLOBSTORE_ENOMEM;
            }
        }
        if (c->filter && !bs__filter_match(c->filter, m, fields)) {
            json_decref(m);
            json_decref(fields);
            return 0;
        }
    }
    int rc = c->n == c->cap ? grow_arrays(c) : 0;
    if (!rc) {
        c->keys[c->n] = bs__strdup(e->key);
        c->blobs[c->n] = e->blob ? bs__strdup(e->blob) : NULL;
        if (c->order_path)
            c->order[c->n] = json_incref((json_t *)bs__path_resolve(c->order_path, m, fields));
        if (c->with_meta)
            c->meta_text[c->n] = bs__json_dumps(fields);
        if (!c->keys[c->n] || (e->blob && !c->blobs[c->n]) ||
            (c->with_meta && !c->meta_text[c->n])) {
            free(c->keys[c->n]);
            free(c->blobs[c->n]);
            if (c->order_path)
                json_decref(c->order[c->n]);
            if (c->with_meta)
                free(c->meta_text[c->n]);
            rc = BLOBSTORE_ENOMEM;
        } else {
            c->n++;
        }
    }
    json_decref(m);
    json_decref(fields);
    return rc;
}

static void collect_free(collect_ctx *c)
{
    for (size_t i = 0; i < c->n; i++) {
        free(c->keys[i]);
        free(c->blobs[i]);
        if (c->order)
            json_decref(c->order[i]);
        if (c->meta_text)
            free(c->meta_text[i]);
    }
    free(c->keys);
    free(c->blobs);
    free(c->order);
    free(c->meta_text);
    json_decref(c->filter);
}

static int prepare_filter(collect_ctx *c, const char *filter)
{
    int rc = check_json_object(&c->filter, filter, "filter");
    if (rc == BLOBSTORE_EINVAL && filter) {
        char msg[1024];
        snprintf(msg, sizeof(msg), "%s", blobstore_errmsg());
        return bs__error(BLOBSTORE_EINVAL, "invalid filter: %s", msg + strlen("filter "));
    }
    if (!rc && c->filter) {
        rc = bs__filter_check(c->filter);
        c->need_fields = bs__filter_uses_fields(c->filter);
    }
    return rc;
}

static int run_scan(collect_ctx *c, blobstore *bs, const char *prefix, const char *filter)
{
    int rc = tx_begin(bs, 0);
    if (!rc) {
        if (c->filter && filter && bs->meta->iterate_filtered)
            rc = bs->meta->iterate_filtered(bs->meta, prefix, filter, collect, c);
        else
            rc = bs->meta->iterate(bs->meta, prefix, collect, c);
        int rc2 = tx_end(bs, 1);
        if (!rc)
            rc = rc2;
    }
    return rc;
}

BLOBSTORE_API int blobstore_list_keys(blobstore_list *out, blobstore *bs, const char *prefix,
                                      const char *filter)
{
    if (!out || !bs)
        return bs__error(BLOBSTORE_EINVAL, "NULL argument");
    out->count = 0;
    out->keys = NULL;
    collect_ctx c;
    memset(&c, 0, sizeof(c));
    int rc = prepare_filter(&c, filter);
    if (!rc)
        rc = run_scan(&c, bs, prefix, filter);
    if (rc) {
        collect_free(&c);
        return rc;
    }
    out->keys = c.keys;
    out->count = c.n;
    c.keys = NULL;
    for (size_t i = 0; i < c.n; i++)
        free(c.blobs[i]);
    free(c.blobs);
    json_decref(c.filter);
    return 0;
}

BLOBSTORE_API void blobstore_result_free(blobstore_result *r)
{
    if (!r)
        return;
    for (size_t i = 0; i < r->count; i++) {
        free(r->keys[i]);
        if (r->metadata)
            free(r->metadata[i]);
    }
    free(r->keys);
    free(r->metadata);
    memset(r, 0, sizeof(*r));
}

BLOBSTORE_API int blobstore_create_index(blobstore *bs, const char *path)
{
    if (!bs || !path)
        return bs__error(BLOBSTORE_EINVAL, "NULL argument");
    int rc = bs__index_path_check(path);
    if (!rc)
        rc = refuse_readonly(bs);
    if (rc || !bs->meta->create_index)
        return rc;
    pthread_mutex_lock(&bs->mu);
    rc = bs->batch ? bs__error(BLOBSTORE_EINVAL, "cannot create an index inside a batch")
                   : bs->meta->create_index(bs->meta, path);
    pthread_mutex_unlock(&bs->mu);
    return rc;
}

static _Thread_local collect_ctx *sort_ctx;
static _Thread_local int sort_desc;

static int cmp_order(const void *pa, const void *pb)
{
    size_t a = *(const size_t *)pa, b = *(const size_t *)pb;
    json_t *va = sort_ctx->order[a], *vb = sort_ctx->order[b];
    int c = bs__order_compare(va, vb);
    if (c && va && vb && sort_desc)
        c = -c;
    return c ? c : strcmp(sort_ctx->keys[a], sort_ctx->keys[b]);
}

BLOBSTORE_API int blobstore_query_run(blobstore_result *out, blobstore *bs,
                                      const blobstore_query *q)
{
    if (!out || !bs || !q)
        return bs__error(BLOBSTORE_EINVAL, "NULL argument");
    memset(out, 0, sizeof(*out));
    if (q->version < 1 || q->version > BLOBSTORE_QUERY_VERSION)
        return bs__error(BLOBSTORE_EINVAL, "blobstore_query version %u is not supported",
                         q->version);
    collect_ctx c;
    memset(&c, 0, sizeof(c));
    int desc = 0, rc = 0;
    if (q->order_by) {
        c.order_path = q->order_by;
        if (c.order_path[0] == '-') {
            desc = 1;
            c.order_path++;
        } else if (c.order_path[0] == '+') {
            c.order_path++;
        }
        if ((rc = bs__path_check(c.order_path)) != 0) {
            char msg[1024];
            snprintf(msg, sizeof(msg), "%s", blobstore_errmsg());
            return bs__error(BLOBSTORE_EINVAL, "invalid order_by: %s", msg);
        }
        c.need_fields = c.order_path[0] == '@';
    }
    c.with_meta = q->with_metadata != 0;
    if (!(rc = prepare_filter(&c, q->filter)))
        rc = run_scan(&c, bs, q->prefix, q->filter);
    size_t *idx = NULL;
    if (!rc && !(idx = bs__calloc(c.n, sizeof(size_t))))
        rc = BLOBSTORE_ENOMEM;
    if (rc) {
        collect_free(&c);
        return rc;
    }
    for (size_t i = 0; i < c.n; i++)
        idx[i] = i;
    if (c.order_path) { /* keys arrive sorted; order by value, ties by key */
        sort_ctx = &c;
        sort_desc = desc;
        qsort(idx, c.n, sizeof(size_t), cmp_order);
    }
    size_t start = q->offset < c.n ? q->offset : c.n, count = c.n - start;
    if (q->limit && count > q->limit)
        count = q->limit;
    out->keys = bs__calloc(count, sizeof(char *));
    if (c.with_meta)
        out->metadata = bs__calloc(count, sizeof(char *));
    if (!out->keys || (c.with_meta && !out->metadata)) {
        free(out->keys);
        free(out->metadata);
        memset(out, 0, sizeof(*out));
        free(idx);
        collect_free(&c);
        return BLOBSTORE_ENOMEM;
    }
    for (size_t i = 0; i < count; i++) { /* move the selected strings out */
        size_t k = idx[start + i];
        out->keys[i] = c.keys[k];
        c.keys[k] = NULL;
        if (c.with_meta) {
            out->metadata[i] = c.meta_text[k];
            c.meta_text[k] = NULL;
        }
    }
    out->count = count;
    free(idx);
    collect_free(&c);
    return 0;
}

/* Delete the entries of keys[from..to) that still exist in one transaction,
 * then their blobs (as they are now: another process may have replaced
 * some); *n counts them. */
static int clear_range(blobstore *bs, char **keys, size_t from, size_t to, size_t *n)
{
    int rc = tx_begin(bs, 1);
    if (rc)
        return rc;
    char **blobs = bs__calloc(to - from + 1, sizeof(char *));
    size_t done = 0;
    if (!blobs)
        rc = BLOBSTORE_ENOMEM;
    for (size_t i = from; !rc && i < to; i++) {
        blobstore_entry e;
        rc = bs->meta->get(bs->meta, keys[i], &e);
        if (rc == BLOBSTORE_ENOTFOUND) { /* gone meanwhile */
            bs__error_clear();
            rc = 0;
            continue;
        }
        if (!rc && (rc = bs->meta->remove(bs->meta, keys[i])) == 0) {
            blobs[i - from] = e.blob;
            e.blob = NULL;
            done++;
        }
        blobstore_entry_clear(&e);
    }
    int batch = bs->batch;
    for (size_t i = 0; !rc && batch && i < to - from; i++)
        if (blobs[i])
            rc = remember(&bs->batch_old, &bs->n_old, blobs[i]);
    int rc2 = tx_end(bs, rc == 0);
    if (!rc)
        rc = rc2;
    for (size_t i = 0; blobs && i < to - from; i++) {
        if (!rc && !batch && blobs[i])
            remove_blob_quiet(bs, blobs[i]);
        free(blobs[i]);
    }
    free(blobs);
    if (!rc)
        *n += done;
    return rc;
}

BLOBSTORE_API int blobstore_clear(size_t *out_count, blobstore *bs)
{
    if (!bs)
        return bs__error(BLOBSTORE_EINVAL, "store is NULL");
    if (out_count)
        *out_count = 0;
    int rc = op_enter(bs);
    if (rc)
        return rc;
    collect_ctx c;
    memset(&c, 0, sizeof(c));
    size_t n = 0;
    bs__nospace_take();
    if ((rc = tx_begin(bs, 1)) == 0) {
        rc = bs->meta->iterate(bs->meta, NULL, collect, &c);
        for (size_t i = 0; !rc && i < c.n; i++)
            rc = bs->meta->remove(bs->meta, c.keys[i]);
        int batch = bs->batch;
        for (size_t i = 0; !rc && batch && i < c.n; i++)
            if (c.blobs[i])
                rc = remember(&bs->batch_old, &bs->n_old, c.blobs[i]);
        int rc2 = tx_end(bs, rc == 0);
        if (!rc)
            rc = rc2;
        for (size_t i = 0; !rc && !batch && i < c.n; i++)
            if (c.blobs[i])
                remove_blob_quiet(bs, c.blobs[i]);
        if (!rc)
            n = c.n;
    }
    if (rc && !bs->batch && bs__nospace_take()) {
        /* A full disk: with the reserve released, in small transactions
         * whose blobs are removed before the next one needs room. */
        int released = reserve_release(bs);
        rc = 0;
        for (size_t i = 0; !rc && i < c.n; i += CLEAR_CHUNK) {
            size_t to = i + CLEAR_CHUNK < c.n ? i + CLEAR_CHUNK : c.n;
            bs__nospace_take();
            rc = clear_range(bs, c.keys, i, to, &n);
            if (rc && bs__nospace_take()) /* SQLite folded its WAL back: once more */
                rc = clear_range(bs, c.keys, i, to, &n);
        }
        if (!rc && released)
            reserve_make(bs);
    }
    if (!rc && out_count)
        *out_count = n;
    collect_free(&c);
    op_leave(bs);
    return rc;
}

/* ---- batches ---- */

BLOBSTORE_API int blobstore_batch_begin(blobstore *bs)
{
    if (!bs)
        return bs__error(BLOBSTORE_EINVAL, "store is NULL");
    pthread_mutex_lock(&bs->mu);
    if (bs->batch) {
        pthread_mutex_unlock(&bs->mu);
        return bs__error(BLOBSTORE_EINVAL, "a batch is already open on this handle");
    }
    int rc = refuse_readonly(bs);
    if (!rc)
        rc = bs->meta->begin(bs->meta, 1);
    if (rc) {
        pthread_mutex_unlock(&bs->mu);
        return rc;
    }
    bs->batch = 1; /* the mutex stays held until commit or rollback */
    return 0;
}

static void batch_end(blobstore *bs, int committed)
{
    char **remove = committed ? bs->batch_old : bs->batch_new;
    size_t n = committed ? bs->n_old : bs->n_new;
    bs->batch = 0;
    for (size_t i = 0; i < n; i++)
        remove_blob_quiet(bs, remove[i]);
    batch_lists_free(bs);
    pthread_mutex_unlock(&bs->mu);
}

static int batch_owned(blobstore *bs)
{
    if (!bs)
        return bs__error(BLOBSTORE_EINVAL, "store is NULL");
    pthread_mutex_lock(&bs->mu);
    int open = bs->batch;
    pthread_mutex_unlock(&bs->mu);
    return open ? 0 : bs__error(BLOBSTORE_EINVAL, "no batch is open on this handle");
}

BLOBSTORE_API int blobstore_batch_commit(blobstore *bs)
{
    int rc = batch_owned(bs);
    if (rc)
        return rc;
    if (bs->durable && bs->blobs->sync && bs->n_new)
        rc = bs->blobs->sync(bs->blobs);
    if (!rc)
        rc = bs->meta->commit(bs->meta);
    else
        bs->meta->rollback(bs->meta);
    batch_end(bs, rc == 0);
    return rc;
}

BLOBSTORE_API int blobstore_batch_rollback(blobstore *bs)
{
    int rc = batch_owned(bs);
    if (rc)
        return rc;
    rc = bs->meta->rollback(bs->meta);
    batch_end(bs, 0);
    return rc;
}

/* ---- visiting every entry ---- */

/* Call fn on every entry of bs, each read afresh (entries deleted meanwhile
 * are skipped), without holding a transaction across calls. fn returns 0
 * to go on, 1 to stop, or an error (which stops and is returned). */
static int each_entry(blobstore *bs, int (*fn)(void *ctx, blobstore_entry *e), void *ctx)
{
    collect_ctx c;
    memset(&c, 0, sizeof(c));
    int rc = tx_begin(bs, 0);
    if (!rc) {
        rc = bs->meta->iterate(bs->meta, NULL, collect, &c);
        int rc2 = tx_end(bs, 1);
        if (!rc)
            rc = rc2;
    }
    for (size_t i = 0; !rc && i < c.n; i++) {
        blobstore_entry e;
        rc = get_entry(bs, c.keys[i], &e);
        if (rc == BLOBSTORE_ENOTFOUND) {
            rc = 0; /* deleted meanwhile */
            continue;
        }
        if (!rc)
            rc = fn(ctx, &e);
        blobstore_entry_clear(&e);
        if (rc == 1) {
            rc = 0;
            break;
        }
    }
    collect_free(&c);
    return rc;
}

/* ---- verify ---- */

static int null_sink(void *ctx, const void *p, size_t n)
{
    (void)ctx;
    (void)p;
    (void)n;
    return 0;
}

typedef struct {
    blobstore *bs;
    blobstore_verify_stats *st;
    blobstore_problem_fn fn;
    void *ctx;
    int stop;
    unsigned flags;
    char **refs; /* sorted referenced blob names */
    size_t nrefs;
} verify_ctx;

static int report(verify_ctx *v, blobstore_problem_kind kind, const char *key, const char *blob,
                  const char *detail, int repaired)
{
    blobstore_problem p = {kind, key, blob, detail, repaired};
    if (repaired)
        v->st->repaired++;
    if (v->fn && !v->stop && v->fn(v->ctx, &p) != 0)
        v->stop = 1;
    return 0;
}

static int cmp_strp(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

static int hex_run(const char *s, int n)
{
    for (int i = 0; i < n; i++)
        if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
            return 0;
    return 1;
}

/* 1 if make_blob_name could have made name: 32 hex, '-', 16 hex, or 64 hex
 * (content-addressed); then nothing or an extension ext_check accepts. */
int bs__blob_name_own(const char *name)
{
    size_t n = strlen(name);
    const char *ext;
    if (n >= 49 && hex_run(name, 32) && name[32] == '-' && hex_run(name + 33, 16))
        ext = name + 49;
    else if (n >= 64 && hex_run(name, 64))
        ext = name + 64;
    else
        return 0;
    if (!*ext)
        return 1;
    size_t el = strlen(ext);
    if (el < 2 || el > 16 || ext[0] != '.')
        return 0;
    for (size_t i = 1; i < el; i++)
        if (!((ext[i] >= 'a' && ext[i] <= 'z') || (ext[i] >= '0' && ext[i] <= '9')))
            return 0;
    return 1;
}

static int orphan_cb(void *ctx, const char *name, int is_temp)
{
    verify_ctx *v = ctx;
    if (is_temp == BLOBSTORE_BLOB_LIST_FOREIGN)
        return report(v, BLOBSTORE_PROBLEM_FOREIGN, NULL, name,
                      "not made by the store (a symbolic link, a directory, or a name the store "
                      "never uses): not followed, left alone",
                      0);
    if (is_temp) {
        int fixed = 0;
        v->st->temps++;
        if ((v->flags & BLOBSTORE_VERIFY_REPAIR) && v->bs->blobs->remove_temp)
            fixed = v->bs->blobs->remove_temp(v->bs->blobs, name) == 0;
        return report(v, BLOBSTORE_PROBLEM_TEMP, NULL, name, "leftover temporary file", fixed);
    }
    if (bsearch(&name, v->refs, v->nrefs, sizeof(char *), cmp_strp))
        return 0;
    if (is_sidecar(name)) { /* referenced when its file is: "<stem>.<ext>" */
        size_t stem = strlen(name) - strlen(SIDECAR_EXT), lo = 0, hi = v->nrefs;
        while (lo < hi) {
            size_t mid = (lo + hi) / 2;
            if (strncmp(v->refs[mid], name, stem) < 0)
                lo = mid + 1;
            else
                hi = mid;
        }
        for (; lo < v->nrefs && strncmp(v->refs[lo], name, stem) == 0; lo++)
            if (v->refs[lo][stem] == '.' && strchr(v->refs[lo] + stem + 1, '.') == NULL)
                return 0;
    }
    if (!bs__blob_name_own(name))
        return report(v, BLOBSTORE_PROBLEM_FOREIGN, NULL, name,
                      "a blob file whose name the store never makes: left alone", 0);
    int fixed = 0;
    v->st->orphans++;
    if (v->flags & BLOBSTORE_VERIFY_REPAIR)
        fixed = v->bs->blobs->remove(v->bs->blobs, name) == 0;
    return report(v, BLOBSTORE_PROBLEM_ORPHAN, NULL, name, "blob without an entry", fixed);
}

static int verify_one(void *ctx, blobstore_entry *e)
{
    verify_ctx *v = ctx;
    v->st->entries++;
    int r = decode_entry(v->bs, e, null_sink, NULL, 1);
    if (r == 0) {
        v->st->ok++;
    } else if (r == BLOBSTORE_ECORRUPT || r == BLOBSTORE_EUNSUPPORTED) {
        v->st->corrupt++;
        report(v, BLOBSTORE_PROBLEM_CORRUPT, e->key, e->blob, blobstore_errmsg(), 0);
    } else if (r != BLOBSTORE_ENOTFOUND) {
        return r; /* I/O error: stop */
    }
    return v->stop;
}

/* An entry seen pointing at a missing blob is dangling if it still does under
 * a transaction (a put elsewhere may have replaced it meanwhile): a write
 * transaction when repairing; the lock is held for this check only, not
 * while every blob is looked up. */
static int check_dangling(verify_ctx *v, const char *key, const char *blob)
{
    blobstore *bs = v->bs;
    blobstore_entry e;
    int dangling = 0, fixed = 0;
    int rc = tx_begin(bs, (v->flags & BLOBSTORE_VERIFY_REPAIR) != 0);
    if (rc)
        return rc;
    int r = bs->meta->get(bs->meta, key, &e);
    if (r == 0) {
        dangling = e.blob && strcmp(e.blob, blob) == 0 && bs->blobs->exists(bs->blobs, blob) == 0;
        blobstore_entry_clear(&e);
    } else if (r == BLOBSTORE_ENOTFOUND) {
        bs__error_clear();
    } else {
        rc = r;
    }
    if (!rc && dangling && (v->flags & BLOBSTORE_VERIFY_REPAIR)) {
        rc = bs->meta->remove(bs->meta, key);
        fixed = rc == 0;
    }
    int rc2 = tx_end(bs, rc == 0);
    if (!rc)
        rc = rc2;
    if (!rc && dangling) {
        v->st->dangling++;
        report(v, BLOBSTORE_PROBLEM_DANGLING, key, blob, "entry whose blob is missing", fixed);
    }
    return rc;
}

/* The Python package signs its pickles with a key in <dir>/pickle_secret.key
 * and refuses to unpickle with a key that someone else could have replaced
 * or read: verify reports such a key file the same way (never removed). */
static void check_pickle_key(verify_ctx *v)
{
    if (!v->bs->dir)
        return;
    char *path = bs__path_join(v->bs->dir, "pickle_secret.key");
    struct stat sb;
    if (!path || lstat(path, &sb) != 0) {
        free(path);
        return;
    }
    free(path);
    char why[160];
    uid_t me = geteuid();
    if (S_ISLNK(sb.st_mode))
        snprintf(why, sizeof(why), "a symbolic link");
    else if (!S_ISREG(sb.st_mode))
        snprintf(why, sizeof(why), "not a regular file");
    else if (sb.st_uid != me && sb.st_uid != 0)
        snprintf(why, sizeof(why), "owned by uid %u, neither this user (%u) nor root",
                 (unsigned)sb.st_uid, (unsigned)me);
    else if (sb.st_mode & 077)
        snprintf(why, sizeof(why), "mode %04o: others may %s it (it must be 0600 or stricter)",
                 (unsigned)(sb.st_mode & 07777), sb.st_mode & 022 ? "write" : "read");
    else
        return;
    char detail[320];
    snprintf(detail, sizeof(detail),
             "the pickle signing key is %s; pickles are not loaded with it (whoever can change "
             "or read it can sign pickles that run code)",
             why);
    report(v, BLOBSTORE_PROBLEM_UNSAFE, NULL, "pickle_secret.key", detail, 0);
}

BLOBSTORE_API int blobstore_verify(blobstore_verify_stats *out, blobstore *bs, unsigned int flags,
                                   blobstore_problem_fn fn, void *ctx)
{
    blobstore_verify_stats st;
    memset(&st, 0, sizeof(st));
    if (!bs)
        return bs__error(BLOBSTORE_EINVAL, "store is NULL");
    if ((flags & BLOBSTORE_VERIFY_REPAIR) && bs->readonly) {
        if (out)
            *out = st;
        return refuse_readonly(bs);
    }
    verify_ctx v = {bs, &st, fn, ctx, 0, flags, NULL, 0};
    /* Phase 0: the index itself. A damaged index is reported as it is and
     * nothing is repaired: a blob it lost would look like an orphan. */
    int rc = tx_begin(bs, 0);
    if (!rc) {
        if (bs->meta->ctl) {
            rc = bs->meta->ctl(bs->meta, BLOBSTORE_META_CTL_CHECK, NULL);
            if (rc == BLOBSTORE_EUNSUPPORTED) {
                bs__error_clear();
                rc = 0;
            }
        }
        int rc2 = tx_end(bs, 1);
        if (!rc)
            rc = rc2;
    }
    if (rc) {
        if (out)
            *out = st;
        return rc;
    }
    check_pickle_key(&v);
    /* Phase 1: check every entry's data, without blocking writers. */
    rc = each_entry(bs, verify_one, &v);
    collect_ctx c;
    memset(&c, 0, sizeof(c));
    /* Phase 2: with this machine's writers excluded, find dangling entries,
     * orphans and temps. */
    if (!rc && !v.stop && (rc = excl_enter(bs)) == 0) {
        if ((rc = tx_begin(bs, 0)) == 0) {
            rc = bs->meta->iterate(bs->meta, NULL, collect, &c);
            int rc2 = tx_end(bs, 1);
            if (!rc)
                rc = rc2;
        }
        for (size_t i = 0; !rc && i < c.n; i++) {
            if (!c.blobs[i])
                continue;
            int ex = bs->blobs->exists(bs->blobs, c.blobs[i]);
            if (ex < 0)
                rc = ex;
            else if (ex == 0)
                rc = check_dangling(&v, c.keys[i], c.blobs[i]);
        }
        if (!rc) {
            v.refs = bs__calloc(c.n, sizeof(char *));
            if (!v.refs)
                rc = BLOBSTORE_ENOMEM;
            for (size_t i = 0; !rc && i < c.n; i++)
                if (c.blobs[i])
                    v.refs[v.nrefs++] = c.blobs[i];
            if (!rc) {
                qsort(v.refs, v.nrefs, sizeof(char *), cmp_strp);
                rc = bs->blobs->list(bs->blobs, orphan_cb, &v);
            }
        }
        excl_leave(bs);
    }
    free(v.refs);
    collect_free(&c);
    if (out)
        *out = st;
    return rc;
}

/* ---- rebuilding the index from the blobs ---- */

/* The sidecar of a file stored as it is ("<stem>.entry" beside "<stem>.ext"):
 * an empty frame whose entry record names the file, its hash and size. */
static int sidecar_name(char out[160], const char *blob)
{
    const char *dot = strrchr(blob, '.');
    size_t stem = dot ? (size_t)(dot - blob) : strlen(blob);
    if (stem + sizeof(SIDECAR_EXT) > 160)
        return bs__error(BLOBSTORE_EINVAL, "blob name too long");
    memcpy(out, blob, stem);
    memcpy(out + stem, SIDECAR_EXT, sizeof(SIDECAR_EXT));
    return 0;
}

static int is_sidecar(const char *name)
{
    size_t n = strlen(name), k = strlen(SIDECAR_EXT);
    return n > k && strcmp(name + n - k, SIDECAR_EXT) == 0;
}

typedef struct {
    char *key, *blob, *at;
    json_t *rec;   /* the entry record */
    char hash[65]; /* content SHA-256 */
    uint64_t size; /* original bytes */
    uint64_t file_size;
    const char *codec;
    int raw;
} rb_cand;

typedef struct {
    char **names;
    size_t n, cap;
} rb_names;

static int rb_list_cb(void *ctx, const char *name, int is_temp)
{
    rb_names *l = ctx;
    if (is_temp)
        return 0;
    if (l->n == l->cap) {
        size_t cap = l->cap ? l->cap * 2 : 256;
        char **p = bs__realloc(l->names, cap * sizeof(char *));
        if (!p)
            return BLOBSTORE_ENOMEM;
        l->names = p;
        l->cap = cap;
    }
    if (!(l->names[l->n] = bs__strdup(name)))
        return BLOBSTORE_ENOMEM;
    l->n++;
    return 0;
}

typedef struct {
    bs_sha256 *sha;
    uint64_t n;
} rb_sink;

static int rb_sink_fn(void *ctx, const void *p, size_t n)
{
    rb_sink *s = ctx;
    bs__sha256_update(s->sha, p, n);
    s->n += n;
    return 0;
}

typedef struct {
    blobstore_blob_reader *r;
    uint64_t n;
} rb_src;

static int rb_src_fn(void *ctx, void *p, size_t cap, size_t *out_n)
{
    rb_src *s = ctx;
    int rc = s->r->read(s->r, p, cap, out_n);
    if (!rc)
        s->n += *out_n;
    return rc;
}

/* Read a framed blob whole, checking it: its record, content hash and sizes. */
static int rb_read_frame(blobstore *bs, const char *name, rb_cand *c, bs_buf *rec)
{
    rb_src src = {NULL, 0};
    rb_sink sink = {bs__sha256_new(), 0};
    if (!sink.sha)
        return BLOBSTORE_ENOMEM;
    int rc = bs->blobs->reader(&src.r, bs->blobs, name);
    if (!rc) {
        rc = bs__frame_decode_record(rb_src_fn, &src, rb_sink_fn, &sink, NULL, UINT64_MAX, 1,
                                     &c->codec, rec);
        src.r->close(src.r);
    }
    bs__sha256_final_hex(sink.sha, c->hash);
    c->size = sink.n;
    c->file_size = src.n;
    return rc;
}

static int cmp_cand(const void *pa, const void *pb)
{
    const rb_cand *a = pa, *b = pb;
    int k = strcmp(a->key, b->key);
    if (k)
        return k;
    k = strcmp(a->at, b->at); /* the newest last */
    return k ? k : strcmp(a->blob, b->blob);
}

static void cand_free(rb_cand *c)
{
    free(c->key);
    free(c->blob);
    free(c->at);
    json_decref(c->rec);
}

static int rb_problem(blobstore_problem_fn fn, void *ctx, blobstore_problem_kind kind,
                      const char *key, const char *blob, const char *detail)
{
    blobstore_problem p = {kind, key, blob, detail, 0};
    return fn ? fn(ctx, &p) : 0;
}

/* The candidate a blob (or a sidecar) offers; 1: it offers none (reported). */
static int rb_candidate(blobstore *bs, const char *name, rb_names *all, rb_cand *c,
                        blobstore_problem_fn fn, void *ctx)
{
    memset(c, 0, sizeof(*c));
    bs_buf rec = {0};
    int rc = rb_read_frame(bs, name, c, &rec);
    if (rc == BLOBSTORE_ENOTFOUND) { /* removed meanwhile */
        bs__buf_free(&rec);
        bs__error_clear();
        return 1;
    }
    if (rc == BLOBSTORE_ECORRUPT || rc == BLOBSTORE_EUNSUPPORTED) {
        char sc[160];
        int has_sidecar =
            !is_sidecar(name) && sidecar_name(sc, name) == 0 &&
            bsearch(&(const char *){sc}, all->names, all->n, sizeof(char *), cmp_strp) != NULL;
        bs__buf_free(&rec);
        if (has_sidecar) { /* a file stored as it is: its sidecar speaks for it */
            bs__error_clear();
            return 1;
        }
        char detail[1200];
        snprintf(detail, sizeof(detail), "cannot be read for the rebuild: %s", blobstore_errmsg());
        bs__error_clear();
        rb_problem(fn, ctx, BLOBSTORE_PROBLEM_CORRUPT, NULL, name, detail);
        return 2;
    }
    if (rc) {
        bs__buf_free(&rec);
        return rc;
    }
    json_error_t err;
    c->rec = rec.len ? json_loadb((const char *)rec.data, rec.len, 0, &err) : NULL;
    bs__buf_free(&rec);
    json_t *key = json_object_get(c->rec, "key"), *at = json_object_get(c->rec, "at");
    json_t *format = json_object_get(c->rec, "format");
    if (!json_is_object(c->rec) || !json_is_string(at) || !json_is_string(format)) {
        cand_free(c);
        memset(c, 0, sizeof(*c));
        rb_problem(fn, ctx, BLOBSTORE_PROBLEM_ORPHAN, NULL, name,
                   "carries no entry record (written before frame format 2): not restored");
        return 2;
    }
    const char *blob = name;
    if (is_sidecar(name)) {
        /* a file stored as it is: named, hashed and sized by its sidecar */
        json_t *b = json_object_get(c->rec, "blob"), *h = json_object_get(c->rec, "content_hash");
        if (!json_is_string(b) || !json_is_string(h) || strlen(json_string_value(h)) != 64) {
            cand_free(c);
            rb_problem(fn, ctx, BLOBSTORE_PROBLEM_CORRUPT, NULL, name, "sidecar lacks its file");
            return 2;
        }
        blob = json_string_value(b);
        if (!bsearch(&blob, all->names, all->n, sizeof(char *), cmp_strp)) {
            cand_free(c);
            rb_problem(fn, ctx, BLOBSTORE_PROBLEM_ORPHAN, NULL, name,
                       "sidecar whose file is missing: not restored");
            return 2;
        }
        snprintf(c->hash, sizeof(c->hash), "%s", json_string_value(h));
        json_int_t sz = json_integer_value(json_object_get(c->rec, "size"));
        c->size = c->file_size = sz > 0 ? (uint64_t)sz : 0;
        json_t *comp = json_object_get(c->rec, "compression");
        c->codec = json_is_string(comp) ? json_string_value(comp) : "none";
        c->raw = 1;
    }
    /* content-addressed: the key is the content hash */
    c->key = bs__strdup(json_is_string(key) ? json_string_value(key) : c->hash);
    c->blob = bs__strdup(blob);
    c->at = bs__strdup(json_string_value(at));
    if (!c->key || !c->blob || !c->at) {
        cand_free(c);
        return BLOBSTORE_ENOMEM;
    }
    return 0;
}

static int rb_entry(blobstore_entry *e, const rb_cand *c)
{
    memset(e, 0, sizeof(*e));
    json_t *m = json_object_get(c->rec, "metadata"), *info = json_object_get(c->rec, "info");
    e->key = bs__strdup(c->key);
    e->blob = bs__strdup(c->blob);
    e->format = bs__strdup(json_string_value(json_object_get(c->rec, "format")));
    e->compression = bs__strdup(c->codec ? c->codec : "none");
    e->content_hash = bs__strdup(c->hash);
    e->created_at = bs__strdup(c->at);
    e->updated_at = bs__strdup(c->at);
    e->metadata = json_is_object(m) ? bs__json_dumps(m) : bs__strdup("{}");
    e->info = json_is_object(info) ? bs__json_dumps(info) : NULL;
    e->size = c->size;
    e->file_size = c->file_size;
    e->raw = c->raw;
    if (!e->key || !e->blob || !e->format || !e->compression || !e->content_hash ||
        !e->created_at || !e->updated_at || !e->metadata || (json_is_object(info) && !e->info)) {
        blobstore_entry_clear(e);
        return BLOBSTORE_ENOMEM;
    }
    return 0;
}

BLOBSTORE_API int blobstore_rebuild_index(blobstore_rebuild_stats *out, blobstore *bs,
                                          blobstore_problem_fn fn, void *ctx)
{
    blobstore_rebuild_stats st;
    memset(&st, 0, sizeof(st));
    if (!bs)
        return bs__error(BLOBSTORE_EINVAL, "store is NULL");
    rb_names all = {NULL, 0, 0};
    rb_cand *cands = NULL;
    size_t nc = 0;
    /* With this machine's writers excluded, as verify's orphan scan. */
    int rc = excl_enter(bs);
    if (rc)
        return rc;
    int on = 1, off = 0, all_ages = 0;
    if (bs->blobs->ctl) { /* every blob, however young (S3 holds young ones back) */
        all_ages = bs->blobs->ctl(bs->blobs, BLOBSTORE_BLOB_CTL_LIST_ALL, &on) == 0;
        bs__error_clear();
    }
    rc = bs->blobs->list(bs->blobs, rb_list_cb, &all);
    if (all_ages)
        bs->blobs->ctl(bs->blobs, BLOBSTORE_BLOB_CTL_LIST_ALL, &off);
    if (!rc) {
        qsort(all.names, all.n, sizeof(char *), cmp_strp);
        cands = bs__calloc(all.n ? all.n : 1, sizeof(*cands));
        if (!cands)
            rc = BLOBSTORE_ENOMEM;
    }
    for (size_t i = 0; !rc && i < all.n; i++) {
        st.blobs++;
        int r = rb_candidate(bs, all.names[i], &all, &cands[nc], fn, ctx);
        if (r == 0)
            nc++;
        else if (r == 2)
            st.unreadable++;
        else if (r != 1)
            rc = r;
    }
    if (!rc)
        qsort(cands, nc, sizeof(*cands), cmp_cand);
    /* The newest blob of each key; an entry the index still has wins when its
     * blob is there (it may be newer: update_metadata). */
    size_t in_tx = 0;
    for (size_t i = 0; !rc && i < nc; i++) {
        if (i + 1 < nc && strcmp(cands[i].key, cands[i + 1].key) == 0) {
            st.superseded++;
            continue;
        }
        if (in_tx == 0 && (rc = tx_begin(bs, 1)) != 0)
            break;
        in_tx++;
        blobstore_entry old, e;
        int r = bs->meta->get(bs->meta, cands[i].key, &old);
        if (r == 0) {
            int present =
                old.inline_data || (old.blob && (strcmp(old.blob, cands[i].blob) == 0 ||
                                                 bs->blobs->exists(bs->blobs, old.blob) == 1));
            blobstore_entry_clear(&old);
            if (present) {
                st.kept++;
                goto next;
            }
        } else if (r != BLOBSTORE_ENOTFOUND) {
            rc = r;
            goto next;
        }
        bs__error_clear();
        if ((rc = rb_entry(&e, &cands[i])) == 0) {
            rc = bs->meta->put(bs->meta, &e);
            blobstore_entry_clear(&e);
            if (!rc)
                st.restored++;
        }
    next:
        if (in_tx && (rc || in_tx == 1000 || i + 1 == nc)) {
            int rc2 = tx_end(bs, rc == 0);
            if (!rc)
                rc = rc2;
            in_tx = 0;
        }
    }
    if (in_tx)
        tx_end(bs, 0);
    excl_leave(bs);
    for (size_t i = 0; i < nc; i++)
        cand_free(&cands[i]);
    free(cands);
    for (size_t i = 0; i < all.n; i++)
        free(all.names[i]);
    free(all.names);
    if (out)
        *out = st;
    return rc;
}

/* ---- migrate ---- */

typedef struct {
    blobstore *dst, *src;
    blobstore_migrate_stats *st;
    blobstore_problem_fn fn;
    void *ctx;
    int stop, bad;
} migrate_ctx;

static void migrate_report(migrate_ctx *m, blobstore_problem_kind kind, const blobstore_entry *e)
{
    blobstore_problem p = {kind, e->key, e->blob, blobstore_errmsg(), 0};
    m->st->failed++;
    if (m->fn && !m->stop && m->fn(m->ctx, &p) != 0)
        m->stop = 1;
}

/* Copy e's stored bytes (frame or raw file, as stored: nothing is
 * recompressed) into dst under a name of dst's, filling ne->blob or
 * ne->inline_data. */
/* The sidecar of a file stored as it is, from its entry. */
static int migrate_sidecar(blobstore *dst, const blobstore_entry *e, const char *name)
{
    json_error_t err;
    json_t *m = json_loads(e->metadata ? e->metadata : "{}", 0, &err);
    json_t *info = e->info ? json_loads(e->info, 0, &err) : NULL;
    json_t *r = json_pack("{s:s, s:o?, s:o?, s:s, s:s}", "format", e->format, "metadata", m, "info",
                          info, "at", e->created_at ? e->created_at : "", "compression",
                          e->compression ? e->compression : "none");
    if (r && !dst->ca && json_object_set_new(r, "key", json_string(e->key)) != 0) {
        json_decref(r);
        r = NULL;
    }
    char *text = r ? bs__json_dumps(r) : NULL;
    json_decref(r);
    int rc = text ? write_sidecar(dst, name, text, e->content_hash, e->size) : BLOBSTORE_ENOMEM;
    free(text);
    return rc;
}

static int migrate_bytes(blobstore *dst, blobstore *src, const blobstore_entry *e,
                         blobstore_entry *ne)
{
    if (e->inline_data && dst->can_inline) {
        if (!(ne->inline_data = bs__malloc(e->inline_len ? e->inline_len : 1)))
            return BLOBSTORE_ENOMEM;
        memcpy(ne->inline_data, e->inline_data, e->inline_len);
        ne->inline_len = e->inline_len;
        return 0;
    }
    const char *dot = e->blob ? strrchr(e->blob, '.') : NULL;
    const char *ext = dot && ext_check(dot) == 0 ? dot : ext_for(e->format ? e->format : "bytes");
    char name[128];
    int rc = make_blob_name(name, e->key, e->content_hash, dst->ca, ext);
    if (rc)
        return rc;
    if (!(ne->blob = bs__strdup(name)))
        return BLOBSTORE_ENOMEM;
    if (dst->ca && dst->blobs->exists(dst->blobs, name) == 1)
        return 0; /* identical content is there already */
    blob_src s = {NULL, NULL};
    mem_src mem = {e->inline_data, e->inline_len, 0};
    if (e->inline_data || !e->blob)
        s.m = &mem;
    else if ((rc = src->blobs->reader(&s.r, src->blobs, e->blob)) != 0)
        return rc;
    blobstore_blob_writer *w = NULL;
    unsigned char *buf = bs__malloc(IO_CHUNK);
    rc = buf ? dst->blobs->writer(&w, dst->blobs) : BLOBSTORE_ENOMEM;
    while (!rc) {
        size_t n = 0;
        if ((rc = src_read(&s, buf, IO_CHUNK, &n)) != 0 || n == 0)
            break;
        rc = w->write(w, buf, n);
    }
    if (!rc) {
        rc = w->commit(w, name, dst->durable);
        w = NULL;
    }
    if (!rc && e->raw) /* a file stored as it is: its sidecar, for a rebuild of dst */
        rc = migrate_sidecar(dst, e, name);
    if (w)
        w->abort(w);
    if (s.r)
        s.r->close(s.r);
    free(buf);
    return rc;
}

/* Copy one entry; 1 if it was already there, 0 if copied, or an error
 * (BLOBSTORE_ECORRUPT / ENOTFOUND: the source's blob is bad or missing). */
static int migrate_one(migrate_ctx *m, const blobstore_entry *e)
{
    blobstore *dst = m->dst;
    blobstore_entry have;
    int rc = get_entry(dst, e->key, &have);
    if (rc == 0) {
        int same = have.content_hash && strcmp(have.content_hash, e->content_hash) == 0 &&
                   have.format && e->format && strcmp(have.format, e->format) == 0 &&
                   strcmp(have.metadata, e->metadata) == 0;
        blobstore_entry_clear(&have);
        if (same)
            return 1;
    } else if (rc != BLOBSTORE_ENOTFOUND) {
        return rc;
    }
    blobstore_entry ne;
    if ((rc = blobstore_entry_copy(&ne, e)) != 0)
        return rc;
    free(ne.blob);
    free(ne.inline_data);
    ne.blob = NULL;
    ne.inline_data = NULL;
    ne.inline_len = 0;
    if ((rc = op_enter(dst)) != 0) {
        blobstore_entry_clear(&ne);
        return rc;
    }
    rc = migrate_bytes(dst, m->src, e, &ne);
    /* The copy is checked as it now reads in dst: every chunk checksum and
     * the full SHA-256 of the content. */
    if (!rc)
        rc = decode_entry(dst, &ne, null_sink, NULL, 1);
    if (!rc) {
        rc = commit_entry(dst, &ne);
        if (!rc)
            m->st->bytes += ne.file_size;
    } else if (ne.blob && !dst->ca) {
        remove_blob_quiet(dst, ne.blob);
    }
    op_leave(dst);
    blobstore_entry_clear(&ne);
    return rc;
}

static int migrate_visit(void *ctx, blobstore_entry *e)
{
    migrate_ctx *m = ctx;
    m->st->entries++;
    int r = migrate_one(m, e);
    if (r == 1) {
        m->st->skipped++;
    } else if (r == 0) {
        m->st->copied++;
    } else if (r == BLOBSTORE_ECORRUPT || r == BLOBSTORE_ENOTFOUND || r == BLOBSTORE_EUNSUPPORTED) {
        if (r == BLOBSTORE_ENOTFOUND)
            bs__error(r, "key \"%s\": its blob %s is missing in the source", e->key,
                      e->blob ? e->blob : "");
        migrate_report(
            m, r == BLOBSTORE_ENOTFOUND ? BLOBSTORE_PROBLEM_DANGLING : BLOBSTORE_PROBLEM_CORRUPT,
            e);
        m->bad = 1;
    } else {
        return r; /* I/O: stop; a rerun resumes */
    }
    return m->stop;
}

BLOBSTORE_API int blobstore_migrate(blobstore_migrate_stats *out, blobstore *dst, blobstore *src,
                                    blobstore_problem_fn fn, void *ctx)
{
    blobstore_migrate_stats st;
    memset(&st, 0, sizeof(st));
    if (out)
        *out = st;
    if (!dst || !src || dst == src)
        return bs__error(BLOBSTORE_EINVAL, "migrate needs two different open stores");
    if (dst->ca && !src->ca)
        return bs__error(BLOBSTORE_EINVAL,
                         "cannot migrate into a content-addressable store from one that is "
                         "not: its keys are not content hashes");
    if (dst->readonly)
        return refuse_readonly(dst);
    migrate_ctx m = {dst, src, &st, fn, ctx, 0, 0};
    int rc = each_entry(src, migrate_visit, &m);
    if (out)
        *out = st;
    if (!rc && m.bad)
        rc = bs__error(BLOBSTORE_ECORRUPT, "%zu of %zu entries could not be copied", st.failed,
                       st.entries);
    return rc;
}
