/*
 * npy.c - NumPy .npy files (format versions 1, 2 and 3): a magic string, a
 * version, a little-endian header length, and a Python dict literal with
 * 'descr', 'fortran_order' and 'shape', padded so the data is aligned.
 */
#include "b2nd.h"

#include <ctype.h>

static const char *skip_ws(const char *p, const char *end)
{
    while (p < end && isspace((unsigned char)*p))
        p++;
    return p;
}

/* The text after 'key': in the header dict, or NULL. */
static const char *find_key(const char *h, const char *end, const char *key)
{
    size_t n = strlen(key);
    for (const char *p = h; p + n + 2 < end; p++)
        if ((*p == '\'' || *p == '"') && memcmp(p + 1, key, n) == 0 && p[n + 1] == *p) {
            p = skip_ws(p + n + 2, end);
            if (p >= end || *p != ':')
                return NULL;
            p = skip_ws(p + 1, end);
            return p < end ? p : NULL; /* callers may read *p */
        }
    return NULL;
}

int bs__b2nd_npy_parse(b2nd_desc *d, int *fortran, size_t *data_offset, const uint8_t *buf,
                       size_t len)
{
    memset(d, 0, sizeof(*d));
    if (len < 10 || memcmp(buf, "\x93NUMPY", 6) != 0)
        return bs__error(BLOBSTORE_EINVAL, "not a .npy file (no \\x93NUMPY magic)");
    int major = buf[6];
    size_t hlen, hstart;
    if (major == 1) {
        hlen = (size_t)buf[8] | (size_t)buf[9] << 8;
        hstart = 10;
    } else if (major == 2 || major == 3) {
        if (len < 12)
            return bs__error(BLOBSTORE_ECORRUPT, ".npy header is truncated");
        hlen = (size_t)buf[8] | (size_t)buf[9] << 8 | (size_t)buf[10] << 16 | (size_t)buf[11] << 24;
        hstart = 12;
    } else {
        return bs__error(BLOBSTORE_EUNSUPPORTED, ".npy format version %d", major);
    }
    if (hlen > len - hstart)
        return bs__error(BLOBSTORE_ECORRUPT, ".npy header is truncated");
    const char *h = (const char *)buf + hstart, *end = h + hlen;
    const char *p = find_key(h, end, "descr");
    if (!p || (*p != '\'' && *p != '"'))
        return bs__error(BLOBSTORE_EUNSUPPORTED, ".npy: structured or missing dtype");
    const char *q = memchr(p + 1, *p, (size_t)(end - p - 1));
    if (!q || q - p - 1 >= (ptrdiff_t)sizeof(d->dtype))
        return bs__error(BLOBSTORE_ECORRUPT, ".npy: bad dtype");
    memcpy(d->dtype, p + 1, (size_t)(q - p - 1));
    char kind;
    int rc = bs__b2nd_dtype_parse(d->dtype, &d->itemsize, &kind);
    if (rc)
        return rc;
    if (d->dtype[0] == '=')
        d->dtype[0] = '<';
    p = find_key(h, end, "fortran_order");
    if (!p)
        return bs__error(BLOBSTORE_ECORRUPT, ".npy: no fortran_order");
    *fortran = (end - p >= 4 && memcmp(p, "True", 4) == 0);
    p = find_key(h, end, "shape");
    if (!p || *p != '(')
        return bs__error(BLOBSTORE_ECORRUPT, ".npy: no shape");
    p++;
    d->ndim = 0;
    for (;;) {
        p = skip_ws(p, end);
        if (p < end && *p == ')')
            break;
        if (p >= end || !isdigit((unsigned char)*p))
            return bs__error(BLOBSTORE_ECORRUPT, ".npy: bad shape");
        if (d->ndim == B2ND_MAX_DIM)
            return bs__error(BLOBSTORE_EUNSUPPORTED, ".npy: more than %d dimensions", B2ND_MAX_DIM);
        int64_t v = 0;
        while (p < end && isdigit((unsigned char)*p)) {
            if (v > (INT64_MAX - 9) / 10)
                return bs__error(BLOBSTORE_ECORRUPT, ".npy: shape overflows");
            v = v * 10 + (*p++ - '0');
        }
        d->shape[d->ndim++] = v;
        p = skip_ws(p, end);
        if (p < end && *p == ',')
            p++;
    }
    size_t items, bytes;
    if ((rc = bs__b2nd_nitems(d, &items)) != 0)
        return rc;
    if (bs__mul_overflow(&bytes, items, (size_t)d->itemsize) || bytes > len - hstart - hlen)
        return bs__error(BLOBSTORE_ECORRUPT, ".npy: data is truncated (%zu bytes expected)", bytes);
    *data_offset = hstart + hlen;
    return 0;
}

int bs__b2nd_npy_header(char **out, size_t *out_len, const b2nd_desc *d)
{
    char shape[8 * 24 + 8] = "";
    size_t n = 0;
    for (int i = 0; i < d->ndim; i++)
        n += (size_t)snprintf(shape + n, sizeof(shape) - n, "%lld,%s", (long long)d->shape[i],
                              i + 1 < d->ndim ? " " : "");
    if (d->ndim > 1) /* "(3, 4)" rather than "(3, 4,)" */
        shape[--n] = '\0';
    char dict[512];
    int dl = snprintf(dict, sizeof(dict),
                      "{'descr': '%s', 'fortran_order': False, 'shape': (%s), }", d->dtype, shape);
    size_t total = 10 + (size_t)dl + 1;
    size_t pad = (64 - total % 64) % 64;
    char *h = bs__malloc(total + pad);
    if (!h)
        return BLOBSTORE_ENOMEM;
    size_t hl = (size_t)dl + pad + 1;
    memcpy(h, "\x93NUMPY\x01\x00", 8);
    h[8] = (char)(hl & 255);
    h[9] = (char)(hl >> 8);
    memcpy(h + 10, dict, (size_t)dl);
    memset(h + 10 + dl, ' ', pad);
    h[total + pad - 1] = '\n';
    *out = h;
    *out_len = total + pad;
    return 0;
}
