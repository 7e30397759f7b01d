/*
 * store_format.c - files in and out through the format table (registry.h):
 * the converting put of a file (by its name's extension, else by its
 * content) and the conversion of an entry back into a file. Nothing here
 * knows a format by name: each row's detector, writer and reader decide.
 */
#include "registry.h"
#include "store_int.h"

#include <errno.h>
#include <sys/stat.h>
#include <unistd.h>

BLOBSTORE_API const char *blobstore_file_format(const char *name, const char **what)
{
    const bs_format *f = bs__format_for_name(name);
    if (what)
        *what = f ? f->what : NULL;
    return f ? f->name : NULL;
}

/* The format a file's first and last bytes say it is; fd is left where it
 * was. The "bytes" row if fd cannot be read at offsets (a pipe). */
static int detect_fd(const bs_format **out, int fd)
{
    unsigned char head[BS_DETECT_BYTES], tail[BS_DETECT_BYTES];
    struct stat st;
    off_t at = lseek(fd, 0, SEEK_CUR);
    *out = bs__format(NULL);
    if (at < 0 || fstat(fd, &st) != 0 || !S_ISREG(st.st_mode) || st.st_size <= at)
        return 0;
    uint64_t size = (uint64_t)(st.st_size - at);
    size_t hn = size < sizeof(head) ? (size_t)size : sizeof(head), tn = hn;
    ssize_t h = pread(fd, head, hn, at), t = pread(fd, tail, tn, st.st_size - (off_t)tn);
    if (h < 0 || t < 0)
        return bs__error(BLOBSTORE_EIO, "cannot read the file: %s", strerror(errno));
    *out = bs__format_detect(head, (size_t)h, tail, (size_t)t, size);
    return 0;
}

BLOBSTORE_API int blobstore_put_file(char **out_key, blobstore *bs, const char *key, int fd,
                                     const char *name, const blobstore_put_options *po)
{
    blobstore_put_options o = BLOBSTORE_PUT_OPTIONS_INIT;
    if (po) {
        if (po->version < 1 || po->version > BLOBSTORE_PUT_OPTIONS_VERSION)
            return bs__error(BLOBSTORE_EINVAL, "put options version %u is not supported",
                             po->version);
        o.metadata = po->metadata;
        o.compression = po->compression;
        o.compression_level = po->compression_level;
        o.flags = po->version >= 2 ? po->flags : 0;
    }
    if (!bs)
        return bs__error(BLOBSTORE_EINVAL, "store is NULL");
    const bs_format *f = name ? bs__format_for_name(name) : NULL;
    int rc = 0;
    if (!name && (rc = detect_fd(&f, fd)) != 0)
        return rc;
    if (f && f->put_fd)
        return f->put_fd(out_key, bs, key, fd, name, &o);
    o.format = f ? f->name : NULL;
    return blobstore_put_fd(out_key, bs, key, fd, &o);
}

BLOBSTORE_API int blobstore_get_file(blobstore *bs, const char *key, int fd, const char *name)
{
    if (!bs || !key || !name)
        return bs__error(BLOBSTORE_EINVAL, "store, key and name must be given");
    const char *dot = strrchr(name, '.');
    blobstore_entry e;
    int rc = bs__get_entry(bs, key, &e);
    if (rc)
        return rc;
    const bs_format *f = bs__format(e.format);
    blobstore_entry_clear(&e);
    if (!dot || !f->get_fd)
        return BLOBSTORE_EUNSUPPORTED;
    return f->get_fd(bs, key, fd, dot);
}

int bs__read_fd_all(int fd, bs_buf *out)
{
    memset(out, 0, sizeof(*out));
    for (;;) {
        if (out->cap - out->len < 65536 &&
            bs__buf_reserve(out, out->len < 65536 ? 65536 : out->len))
            return BLOBSTORE_ENOMEM;
        ssize_t n = read(fd, out->data + out->len, out->cap - out->len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            int e = errno;
            bs__buf_free(out);
            return bs__error(BLOBSTORE_EIO, "cannot read the file: %s", strerror(e));
        }
        if (n == 0)
            return 0;
        out->len += (size_t)n;
    }
}

int bs__refuse_existing(blobstore *bs, const char *key, const blobstore_put_options *po)
{
    if (!key || !po || !(po->flags & BLOBSTORE_PUT_NO_OVERWRITE))
        return 0;
    blobstore_entry e;
    if (bs__get_entry(bs, key, &e) == 0) {
        blobstore_entry_clear(&e);
        return bs__error(BLOBSTORE_EEXISTS, "an entry with key \"%s\" exists (no overwrite)", key);
    }
    bs__error_clear();
    return 0;
}
