/*
 * settings.c - a store's settings: read from and written to its settings
 * file (blobstore.json) or its shared metadata backend, reconciled with the
 * options an open asks for, and switched when a store moves in place.
 *
 * The settings say what a store is made of (metadata and blob backend, codec
 * and level, content addressing, sharding). They are written once, when the
 * store is created, and read at every open; options that contradict them
 * are a conflict (compression and level may differ: each blob records its
 * own). A backend that machines share records them itself, and every
 * machine's local file must agree with it. Nothing outside the library reads
 * or writes these files.
 */
#include "store_int.h"

#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <sys/stat.h>
#include <unistd.h>

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

/* Parse settings text; where names its origin in errors. */
static int parse_settings(const char *text, size_t len, const char *where, bs_settings *s)
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

int bs__settings_read(const char *path, bs_settings *s, int *found)
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

char *bs__settings_json(const blobstore *bs, int pretty, const char *backend, const char *blob_dir)
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
    *out_json = bs__settings_json(bs, 0, NULL, NULL);
    return *out_json ? 0 : bs__error(BLOBSTORE_ENOMEM, "out of memory");
}

int bs__settings_load_shared(blobstore_meta_backend *m, bs_settings *s, int *have)
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

int bs__settings_shared_conflict(const bs_settings *a, const bs_settings *b, const char *b_dir,
                                 const char *dir)
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

int bs__settings_reconcile(blobstore *bs, const blobstore_options *o, const bs_settings *rec,
                           const char *where, const char **meta_spec, const char **blob_spec)
{
    int custom_meta = *meta_spec && !strcmp(*meta_spec, "custom");
    int custom_blob = *blob_spec && !strcmp(*blob_spec, "custom");
    int want_shard = o->shard_chars == BLOBSTORE_SHARD_NONE ? 0 : o->shard_chars;
    if (!rec) { /* a new store: the options, else the defaults */
        *meta_spec = *meta_spec ? *meta_spec : "json";
        *blob_spec = *blob_spec ? *blob_spec : "filesystem";
        bs->ca = o->content_addressable > 0;
        bs->shard_chars = o->shard_chars ? want_shard : 2;
        bs->codec = bs__codec_by_name(o->compression ? o->compression : "lz4");
        bs->level = o->compression_level ? o->compression_level : 3;
        return 0;
    }
    /* Named settings must agree with the recorded ones; custom backends are
     * the caller's responsibility. */
    char a[16], b[16];
    snprintf(a, sizeof(a), "%d", want_shard);
    snprintf(b, sizeof(b), "%d", rec->shard_chars);
    if (*meta_spec && !custom_meta && strcmp(rec->backend, "custom") != 0 &&
        strcmp(*meta_spec, rec->backend) != 0)
        return conflict("metadata backend", *meta_spec, rec->backend, where);
    if (*blob_spec && !custom_blob && strcmp(rec->blob_backend, "custom") != 0 &&
        strcmp(*blob_spec, rec->blob_backend) != 0)
        return conflict("blob backend", *blob_spec, rec->blob_backend, where);
    if (o->content_addressable && o->content_addressable != rec->ca)
        return conflict("content_addressable", o->content_addressable > 0 ? "true" : "false",
                        rec->ca > 0 ? "true" : "false", where);
    if (o->shard_chars && want_shard != rec->shard_chars)
        return conflict("shard_chars", a, b, where);
    if (!*meta_spec && strcmp(rec->backend, "custom") == 0)
        return bs__error(BLOBSTORE_EINVAL,
                         "the store in %s uses a custom metadata backend: pass it to open",
                         bs->dir);
    if (!*blob_spec && strcmp(rec->blob_backend, "custom") == 0)
        return bs__error(BLOBSTORE_EINVAL,
                         "the store in %s uses a custom blob backend: pass it to open", bs->dir);
    *meta_spec = *meta_spec ? *meta_spec : rec->backend;
    *blob_spec = *blob_spec ? *blob_spec : rec->blob_backend;
    bs->ca = rec->ca > 0;
    bs->shard_chars = rec->shard_chars;
    bs->codec = bs__codec_by_name(o->compression ? o->compression : rec->compression);
    bs->level = o->compression_level ? o->compression_level : rec->level;
    if (!bs->codec || bs->level < 1 || bs->level > 9)
        return bs__error(BLOBSTORE_ECORRUPT, "%s has invalid compression settings", bs->dir);
    return 0;
}

int bs__set_aside(const char *dir, const char *const *files, const char *tag, int z)
{
    char stamp[32];
    time_t now = time(NULL);
    struct tm tm;
    gmtime_r(&now, &tm);
    strftime(stamp, sizeof(stamp), z ? "%Y%m%dT%H%M%SZ" : "%Y%m%dT%H%M%S", &tm);
    int rc = 0;
    for (size_t i = 0; !rc && files && files[i]; i++) {
        char *from = bs__path_join(dir, files[i]);
        size_t n = from ? strlen(from) + 48 : 0;
        char *to = from ? bs__malloc(n) : NULL;
        if (!to) {
            rc = BLOBSTORE_ENOMEM;
        } else {
            snprintf(to, n, "%s.%s-%s", from, tag, stamp);
            if (rename(from, to) != 0 && errno != ENOENT)
                rc = bs__error_errno(errno, "cannot rename %s to %s", from, to);
        }
        free(from);
        free(to);
    }
    return rc;
}

int bs__settings_switch(const char *dir, const char *from_name)
{
    char *from = bs__path_join(dir, from_name), *to = bs__path_join(dir, SETTINGS_FILE);
    int rc = from && to ? 0 : BLOBSTORE_ENOMEM;
    if (!rc && rename(from, to) != 0)
        rc = bs__error_errno(errno, "cannot switch the store in %s to its new backends", dir);
    if (!rc) {
        int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (dfd >= 0) {
            fsync(dfd);
            close(dfd);
        }
    }
    free(from);
    free(to);
    return rc;
}
