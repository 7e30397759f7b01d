/*
 * store_open.c - opening and closing a store: its settings read, reconciled with the options and
 * written, the backends chosen, the directory claimed.
 */
#include "store_int.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <pthread.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>
#include <xxhash.h>

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

void bs__batch_lists_free(blobstore *bs)
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
    bs__batch_lists_free(bs);
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

static int has_reserve(const blobstore *bs)
{
    return bs->dir && bs->backend_name && !bs->readonly &&
           (!strcmp(bs->backend_name, "json") || !strcmp(bs->backend_name, "sqlite"));
}

/* Best effort: no reserve is made when there is no room for all of it. */
void bs__reserve_make(blobstore *bs)
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
int bs__reserve_release(blobstore *bs)
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
        bs__reserve_make(bs);
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
