/*
 * module_shim.c - the library's helpers as a module sees them (module.h).
 *
 * Built into each backend module (libblobstore-pg.so, libblobstore-s3.so),
 * never into the library. The backend's file calls bs__error, bs__malloc and
 * the rest as anywhere else in the library; here each is a call through the
 * table the library passed to bs__module_entry, so that a module keeps no
 * state of its own: its errors are the library's thread-local message.
 */
#include "module.h"

#include <errno.h>
#include <stdarg.h>

/* The backend file defines one of the two constructors; the other is NULL. */
#pragma weak bs__module_meta_new
#pragma weak bs__module_blob_new

static const bs_module_host *host;

__attribute__((visibility("default"))) void bs__module_entry(const bs_module_host *h,
                                                             bs_module *out);
__attribute__((visibility("default"))) void bs__module_entry(const bs_module_host *h,
                                                             bs_module *out)
{
    /* The library checks abi and version before it calls a constructor;
     * the table is used only then. */
    host = h;
    memset(out, 0, sizeof(*out));
    out->abi = BS_MODULE_ABI;
    out->version = BLOBSTORE_VERSION_STRING;
    out->meta_new = bs__module_meta_new;
    out->blob_new = bs__module_blob_new;
}

/* ---- errors (error.c) ---- */

int bs__error(int code, const char *fmt, ...)
{
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    return host->error_set(code, msg);
}

int bs__error_wrap(int code, const char *fmt, ...)
{
    char prefix[512], msg[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(prefix, sizeof(prefix), fmt, ap);
    va_end(ap);
    const char *old = host->errmsg();
    if (old[0])
        snprintf(msg, sizeof(msg), "%s: %s", prefix, old);
    else
        snprintf(msg, sizeof(msg), "%s", prefix);
    return host->error_set(code, msg);
}

int bs__error_errno(int err, const char *fmt, ...)
{
    char prefix[768], msg[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(prefix, sizeof(prefix), fmt, ap);
    va_end(ap);
    snprintf(msg, sizeof(msg), "%s: %s", prefix, strerror(err));
    if (err == ENOSPC || err == EDQUOT)
        host->nospace_note();
    int code = err == ENOMEM   ? BLOBSTORE_ENOMEM
               : err == ENOENT ? BLOBSTORE_ENOTFOUND
                               : BLOBSTORE_EIO;
    return host->error_set(code, msg);
}

BLOBSTORE_API const char *blobstore_errmsg(void)
{
    return host->errmsg();
}

/* ---- memory, strings, hashes (util.c), JSON (json.c, query.c) ---- */

void *bs__malloc(size_t n)
{
    return host->malloc(n);
}

void *bs__calloc(size_t n, size_t m)
{
    return host->calloc(n, m);
}

void *bs__realloc(void *p, size_t n)
{
    return host->realloc(p, n);
}

char *bs__strdup(const char *s)
{
    return host->strdup(s);
}

char *bs__strndup(const char *s, size_t n)
{
    return host->strndup(s, n);
}

int bs__buf_reserve(bs_buf *b, size_t extra)
{
    return host->buf_reserve(b, extra);
}

int bs__buf_append(bs_buf *b, const void *p, size_t n)
{
    return host->buf_append(b, p, n);
}

void bs__buf_free(bs_buf *b)
{
    host->buf_free(b);
}

int bs__utf8_valid(const unsigned char *s, size_t n)
{
    return host->utf8_valid(s, n);
}

void bs__hex(char *out, const unsigned char *in, size_t n)
{
    host->hex(out, in, n);
}

int bs__random_bytes(void *out, size_t n)
{
    return host->random_bytes(out, n);
}

void bs__sha256_hex(char out[65], const void *p, size_t n)
{
    host->sha256_hex(out, p, n);
}

int bs__index_path_check(const char *path)
{
    return host->index_path_check(path);
}

char *bs__json_dumps(const struct json_t *v)
{
    return host->json_dumps(v);
}

BLOBSTORE_API void blobstore_entry_clear(blobstore_entry *e)
{
    host->entry_clear(e);
}
