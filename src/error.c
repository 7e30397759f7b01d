/*
 * error.c - error codes and the thread-local last-error message.
 *
 * Every failing internal path ends in bs__error*(), which records a message
 * with detail; the public API returns the code and blobstore_errmsg() the
 * message. Messages are truncated to a fixed buffer rather than allocated, so
 * reporting an out-of-memory error cannot fail.
 */
#include "internal.h"

#include <errno.h>

static _Thread_local char errmsg[BS_ERRMSG_MAX];
static _Thread_local int nospace; /* an error since the last take was "disk full" */

void bs__nospace_note(void)
{
    nospace = 1;
}

int bs__nospace_take(void)
{
    int n = nospace;
    nospace = 0;
    return n;
}

BLOBSTORE_API const char *blobstore_strerror(int code)
{
    switch (code) {
    case BLOBSTORE_OK:
        return "success";
    case BLOBSTORE_ENOTFOUND:
        return "not found";
    case BLOBSTORE_ECORRUPT:
        return "corrupt data";
    case BLOBSTORE_EINVAL:
        return "invalid argument";
    case BLOBSTORE_EIO:
        return "I/O error";
    case BLOBSTORE_ENOMEM:
        return "out of memory";
    case BLOBSTORE_EEXISTS:
        return "already exists";
    case BLOBSTORE_EUNSUPPORTED:
        return "unsupported";
    case BLOBSTORE_ECONFLICT:
        return "conflicting settings";
    case BLOBSTORE_ECALLBACK:
        return "callback failed";
    case BLOBSTORE_EREADONLY:
        return "the store is open read-only";
    default:
        return "unknown error";
    }
}

BLOBSTORE_API const char *blobstore_errmsg(void)
{
    return errmsg;
}

void bs__error_clear(void)
{
    errmsg[0] = '\0';
}

void bs__error_state_capture(bs_error_state *st, int code)
{
    st->code = code;
    memcpy(st->msg, errmsg, strlen(errmsg) + 1); /* (not the whole buffer: every put does this) */
    errmsg[0] = '\0';
}

int bs__error_state_restore(const bs_error_state *st)
{
    memcpy(errmsg, st->msg, strlen(st->msg) + 1);
    return st->code;
}

int bs__error(int code, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(errmsg, sizeof(errmsg), fmt, ap);
    va_end(ap);
    return code;
}

int bs__error_wrap(int code, const char *fmt, ...)
{
    char prefix[512], old[sizeof(errmsg)];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(prefix, sizeof(prefix), fmt, ap);
    va_end(ap);
    memcpy(old, errmsg, sizeof(old));
    if (old[0])
        snprintf(errmsg, sizeof(errmsg), "%s: %s", prefix, old);
    else
        snprintf(errmsg, sizeof(errmsg), "%s", prefix);
    return code;
}

int bs__error_errno(int err, const char *fmt, ...)
{
    char prefix[768];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(prefix, sizeof(prefix), fmt, ap);
    va_end(ap);
    snprintf(errmsg, sizeof(errmsg), "%s: %s", prefix, strerror(err));
    if (err == ENOSPC || err == EDQUOT)
        nospace = 1;
    if (err == ENOMEM)
        return BLOBSTORE_ENOMEM;
    if (err == ENOENT)
        return BLOBSTORE_ENOTFOUND;
    return BLOBSTORE_EIO;
}
