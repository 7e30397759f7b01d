/*
 * array_store.c - arrays in the store: encode to .b2nd, put it raw (the blob
 * file is the .b2nd file itself), and read it back through the store's
 * checked get.
 */
#include "b2nd.h"
#include "registry.h"

#include <jansson.h>
#include <xxhash.h>

BLOBSTORE_API void blobstore_array_clear(blobstore_array *a)
{
    if (!a)
        return;
    free(a->data);
    memset(a, 0, sizeof(*a));
}

static void to_desc(b2nd_desc *d, const blobstore_array *a)
{
    memset(d, 0, sizeof(*d));
    snprintf(d->dtype, sizeof(d->dtype), "%s", a->dtype);
    d->ndim = a->ndim;
    for (int i = 0; i < a->ndim && i < B2ND_MAX_DIM; i++)
        d->shape[i] = a->shape[i];
}

static json_t *format_info(const b2nd_desc *d)
{
    json_t *o = json_object(), *shape = json_array(), *cs = json_array(), *bsh = json_array();
    for (int i = 0; i < d->ndim; i++) {
        json_array_append_new(shape, json_integer(d->shape[i]));
        json_array_append_new(cs, json_integer(d->chunkshape[i]));
        json_array_append_new(bsh, json_integer(d->blockshape[i]));
    }
    json_object_set_new(o, "dtype", json_string(d->dtype));
    json_object_set_new(o, "shape", shape);
    json_object_set_new(o, "chunkshape", cs);
    json_object_set_new(o, "blockshape", bsh);
    return o;
}

BLOBSTORE_API int blobstore_array_put(char **out_key, blobstore *bs, const char *key,
                                      const blobstore_array *arr,
                                      const blobstore_array_options *opts)
{
    static const blobstore_array_options none = BLOBSTORE_ARRAY_OPTIONS_INIT;
    const blobstore_array_options *o = opts ? opts : &none;
    if (!bs || !arr)
        return bs__error(BLOBSTORE_EINVAL, "NULL argument");
    if (o->version < 1 || o->version > BLOBSTORE_ARRAY_OPTIONS_VERSION)
        return bs__error(BLOBSTORE_EINVAL, "blobstore_array_options version %u", o->version);
    if (arr->ndim < 0 || arr->ndim > B2ND_MAX_DIM)
        return bs__error(BLOBSTORE_EINVAL, "an array has 0 to %d dimensions, not %d", B2ND_MAX_DIM,
                         arr->ndim);
    b2nd_desc d;
    to_desc(&d, arr);
    char kind;
    size_t items, bytes;
    int rc = bs__b2nd_dtype_parse(d.dtype, &d.itemsize, &kind);
    if (rc)
        return rc == BLOBSTORE_EUNSUPPORTED ? BLOBSTORE_EUNSUPPORTED : rc;
    if ((rc = bs__b2nd_nitems(&d, &items)) != 0)
        return rc;
    if (bs__mul_overflow(&bytes, items, (size_t)d.itemsize) || bytes != arr->nbytes)
        return bs__error(BLOBSTORE_EINVAL, "array data is %zu bytes; dtype and shape need %zu",
                         arr->nbytes, bytes);
    if (bytes && !arr->data)
        return bs__error(BLOBSTORE_EINVAL, "array data is NULL");
    char settings_codec[16] = "lz4";
    if (!o->compression) {
        char *s;
        if ((rc = blobstore_settings(&s, bs)) != 0)
            return rc;
        json_error_t err;
        json_t *j = json_loads(s, 0, &err);
        const char *c = json_string_value(json_object_get(j, "compression"));
        if (c)
            snprintf(settings_codec, sizeof(settings_codec), "%s", c);
        json_decref(j);
        blobstore_free(s);
    }
    const char *codec = o->compression ? o->compression : settings_codec;
    b2nd_write_options w = {codec,
                            o->compression_level ? o->compression_level : 5,
                            o->shuffle == 1  ? B2_BITSHUFFLE
                            : o->shuffle < 0 ? -1
                                             : B2_SHUFFLE,
                            o->nthreads,
                            o->chunkshape,
                            o->blockshape};
    /* The write-back check is made as the array is encoded: what is written
     * must decode to what was given before anything is stored. */
    b2nd_pieces p;
    if ((rc = bs__b2nd_encode_stored(&p, &d, arr->data, arr->fortran, &w)) != 0) {
        if (rc == BLOBSTORE_ECORRUPT)
            bs__error_wrap(rc, "array not stored");
        return rc;
    }
    /* The file as it is written: header, chunks, offsets index (no copy
     * into one buffer). */
    bs_iov *iov = bs__calloc(3 * p.nchunks + 2, sizeof(bs_iov));
    if (!iov) {
        bs__b2nd_pieces_free(&p);
        return BLOBSTORE_ENOMEM;
    }
    size_t niov = bs__b2nd_pieces_iov(&p, iov);
    /* The mappable layout: checksums of every byte that is not an item (the
     * header, the offsets index and trailer, the chunk headers), checked
     * each time the array is mapped (array_map.c); hidden from
     * get_metadata as the store's own bookkeeping. */
    json_t *info = format_info(&p.desc);
    if (p.mappable) {
        XXH3_state_t *st = XXH3_createState();
        char hex[3][17];
        if (!st) {
            json_decref(info);
            free(iov);
            bs__b2nd_pieces_free(&p);
            return BLOBSTORE_ENOMEM;
        }
        XXH3_64bits_reset(st);
        for (size_t i = 0; i < p.nchunks; i++)
            if (p.chunks[i])
                XXH3_64bits_update(st, p.chunks[i], 32);
        snprintf(hex[0], 17, "%016llx", (unsigned long long)XXH3_64bits(p.head.data, p.head.len));
        snprintf(hex[1], 17, "%016llx", (unsigned long long)XXH3_64bits(p.tail.data, p.tail.len));
        snprintf(hex[2], 17, "%016llx", (unsigned long long)XXH3_64bits_digest(st));
        XXH3_freeState(st);
        json_object_set_new(
            info, "_b2nd_map",
            json_pack("{s:s, s:s, s:s}", "head", hex[0], "tail", hex[1], "chunks", hex[2]));
    }
    rc = bs__put_file_iov(out_key, bs, key, iov, niov, "b2nd", codec, o->metadata, info,
                          o->format_info, o->version >= 2 ? o->put_flags : 0);
    free(iov);
    bs__b2nd_pieces_free(&p);
    return rc;
}

static int put_b2nd(char **out_key, blobstore *bs, const char *key, const void *file, size_t len,
                    const char *metadata, unsigned flags)
{
    if (!bs || (!file && len))
        return bs__error(BLOBSTORE_EINVAL, "NULL argument");
    b2nd_file f;
    int rc = bs__b2nd_open(&f, file, len);
    size_t items, bytes = 0;
    if (!rc && !(rc = bs__b2nd_nitems(&f.desc, &items)) &&
        bs__mul_overflow(&bytes, items, (size_t)f.desc.itemsize))
        rc = bs__error(BLOBSTORE_EUNSUPPORTED, "b2nd: the array is too large");
    uint8_t *tmp = NULL;
    if (!rc && bytes) { /* validate: every chunk must decode */
        if (!(tmp = bs__malloc(bytes)))
            rc = BLOBSTORE_ENOMEM;
        else
            rc = bs__b2nd_read(&f, tmp, bytes, 0);
    }
    free(tmp);
    if (!rc)
        rc = bs__put_file(out_key, bs, key, file, len, "b2nd", NULL, metadata, format_info(&f.desc),
                          NULL, flags);
    else
        bs__error_wrap(rc, "not a valid .b2nd file");
    bs__b2nd_close(&f);
    return rc;
}

BLOBSTORE_API int blobstore_array_put_b2nd(char **out_key, blobstore *bs, const char *key,
                                           const void *file, size_t len, const char *metadata)
{
    return put_b2nd(out_key, bs, key, file, len, metadata, 0);
}

/* ---- the format row's entry points (registry.c) ---- */

static const unsigned char npy_magic[6] = {0x93, 'N', 'U', 'M', 'P', 'Y'};

/* A Blosc2 frame (msgpack fixarray 0x9e, bin8 of 8: "b2frame\0") or a .npy
 * file, which a converting put makes an array of. */
int bs__b2nd_detect(const unsigned char *head, size_t hn, const unsigned char *tail, size_t tn,
                    uint64_t size)
{
    (void)tail;
    (void)tn;
    (void)size;
    static const unsigned char frame[10] = {0x9e, 0xa8, 'b', '2', 'f', 'r', 'a', 'm', 'e', 0};
    return (hn >= sizeof(frame) && memcmp(head, frame, sizeof(frame)) == 0) ||
           (hn >= sizeof(npy_magic) && memcmp(head, npy_magic, sizeof(npy_magic)) == 0);
}

/* A .npy file (by its name, or its magic when no name is given) is encoded
 * as an array; anything else must be a valid .b2nd file, stored as it is. */
int bs__b2nd_put_fd(char **out_key, blobstore *bs, const char *key, int fd, const char *name,
                    const blobstore_put_options *po)
{
    bs_buf b;
    int rc = bs__read_fd_all(fd, &b);
    if (rc)
        return rc;
    size_t n = name ? strlen(name) : 0;
    int npy = name ? n >= 4 && !strcmp(name + n - 4, ".npy")
                   : b.len >= sizeof(npy_magic) && !memcmp(b.data, npy_magic, sizeof(npy_magic));
    if (npy) {
        blobstore_array a;
        rc = blobstore_npy_parse(&a, b.data, b.len);
        if (!rc) {
            blobstore_array_options o = BLOBSTORE_ARRAY_OPTIONS_INIT;
            o.metadata = po->metadata;
            o.put_flags = po->flags;
            rc = blobstore_array_put(out_key, bs, key, &a, &o);
        }
    } else {
        rc = put_b2nd(out_key, bs, key, b.data, b.len, po->metadata, po->flags);
    }
    bs__buf_free(&b);
    return rc;
}

/* An array as a .npy file. */
int bs__b2nd_get_fd(blobstore *bs, const char *key, int fd, const char *ext)
{
    if (strcmp(ext, ".npy") != 0)
        return BLOBSTORE_EUNSUPPORTED;
    blobstore_array a;
    int rc = blobstore_array_get(&a, bs, key);
    if (rc)
        return rc;
    char *h;
    size_t hl;
    if ((rc = blobstore_npy_header(&h, &hl, &a)) == 0) {
        int w = bs__write_all(fd, h, hl);
        if (!w)
            w = bs__write_all(fd, a.data, a.nbytes);
        if (w)
            rc = bs__error(BLOBSTORE_EIO, "cannot write output: %s", strerror(-w));
        blobstore_free(h);
    }
    blobstore_array_clear(&a);
    return rc;
}

static int fetch_cb(void *ctx, uint64_t off, uint64_t len)
{
    return bs__ranged_fetch(ctx, off, len);
}

static void release_cb(void *ctx, uint64_t off, uint64_t len)
{
    bs__ranged_release(ctx, off, len);
}

/* Open the stored .b2nd file of key, reading only what the decoding
 * touches, each chunk's bytes released once decoded: a whole array is read
 * holding the array and a few segments of the file, not the file too (a
 * file of BS_RANGED_MIN or less, or without segment checksums, is read
 * whole). */
static int open_file(bs_ranged **r, b2nd_file *f, blobstore *bs, const char *key)
{
    int rc = bs__ranged_open(r, bs, key, "b2nd", "an array", 0);
    if (rc)
        return rc;
    size_t len;
    const uint8_t *data = bs__ranged_data(*r, &len);
    if ((rc = bs__b2nd_open_ranged(f, data, len, fetch_cb, *r)) == 0) {
        f->release = release_cb;
    } else {
        if (rc != BLOBSTORE_EUNSUPPORTED && rc != BLOBSTORE_EIO && rc != BLOBSTORE_ENOTFOUND &&
            rc != BLOBSTORE_ENOMEM)
            rc = BLOBSTORE_ECORRUPT;
        bs__error_wrap(rc, "key \"%s\"", key);
        bs__ranged_close(*r);
        *r = NULL;
    }
    return rc;
}

int bs__array_get_threads = 0;

/* into: the caller's buffer of cap bytes for the result (has_into 0: a new
 * one); bs__array_get_threads workers, as bs__b2nd_read_slice's nthreads. */
static int get_box_once(blobstore_array *out, blobstore *bs, const char *key, const int64_t *start,
                        const int64_t *stop, int has_into, void *into, size_t cap)
{
    memset(out, 0, sizeof(*out));
    bs_ranged *r;
    b2nd_file f;
    int rc = open_file(&r, &f, bs, key);
    if (rc)
        return rc;
    int64_t lo[B2ND_MAX_DIM] = {0}, hi[B2ND_MAX_DIM];
    memcpy(hi, f.desc.shape, sizeof(hi));
    if (start)
        memcpy(lo, start, sizeof(int64_t) * (size_t)f.desc.ndim);
    if (stop)
        memcpy(hi, stop, sizeof(int64_t) * (size_t)f.desc.ndim);
    size_t items = 1;
    for (int i = 0; i < f.desc.ndim; i++) {
        if (lo[i] < 0 || hi[i] < lo[i] || hi[i] > f.desc.shape[i]) {
            rc = bs__error(BLOBSTORE_EINVAL, "slice %lld:%lld is outside dimension %d (size %lld)",
                           (long long)lo[i], (long long)hi[i], i, (long long)f.desc.shape[i]);
            break;
        }
        items *= (size_t)(hi[i] - lo[i]);
    }
    size_t bytes = items * (size_t)f.desc.itemsize;
    if (!rc && has_into && cap < bytes)
        rc = bs__error(BLOBSTORE_EINVAL,
                       "key \"%s\": the %s of %zu bytes does not fit in the buffer of %zu bytes",
                       key, start ? "slice" : "array", bytes, cap);
    uint8_t *data = rc ? NULL : has_into ? into : bs__malloc_large(bytes ? bytes : 1);
    if (!rc && !data && !(has_into && bytes == 0))
        rc = BLOBSTORE_ENOMEM;
    if (!rc && (rc = bs__b2nd_read_slice(&f, lo, hi, data, bytes, bs__array_get_threads)) != 0)
        bs__error_wrap(rc, "key \"%s\"", key);
    if (!rc) {
        snprintf(out->dtype, sizeof(out->dtype), "%s", f.desc.dtype);
        out->ndim = f.desc.ndim;
        for (int i = 0; i < f.desc.ndim; i++)
            out->shape[i] = hi[i] - lo[i];
        out->data = data;
        out->nbytes = bytes;
    } else if (!has_into) {
        free(data);
    }
    bs__b2nd_close(&f);
    bs__ranged_close(r);
    return rc;
}

static int get_box(blobstore_array *out, blobstore *bs, const char *key, const int64_t *start,
                   const int64_t *stop, int has_into, void *into, size_t cap)
{
    if (!out || !bs)
        return bs__error(BLOBSTORE_EINVAL, "NULL argument");
    if (has_into && !into && cap)
        return bs__error(BLOBSTORE_EINVAL, "NULL buffer of %zu bytes", cap);
    /* A blob that vanishes mid-read was replaced by a put: read the new one. */
    for (int attempt = 0;; attempt++) {
        int rc = get_box_once(out, bs, key, start, stop, has_into, into, cap);
        if (rc != BLOBSTORE_ENOTFOUND || attempt == 2)
            return rc;
    }
}

BLOBSTORE_API int blobstore_array_get(blobstore_array *out, blobstore *bs, const char *key)
{
    return get_box(out, bs, key, NULL, NULL, 0, NULL, 0);
}

BLOBSTORE_API int blobstore_array_get_into(blobstore_array *out, blobstore *bs, const char *key,
                                           void *into, size_t cap)
{
    return get_box(out, bs, key, NULL, NULL, 1, into, cap);
}

BLOBSTORE_API int blobstore_array_get_slice(blobstore_array *out, blobstore *bs, const char *key,
                                            const int64_t *start, const int64_t *stop)
{
    if (!start || !stop)
        return bs__error(BLOBSTORE_EINVAL, "start and stop are required");
    return get_box(out, bs, key, start, stop, 0, NULL, 0);
}

BLOBSTORE_API int blobstore_array_get_slice_into(blobstore_array *out, blobstore *bs,
                                                 const char *key, const int64_t *start,
                                                 const int64_t *stop, void *into, size_t cap)
{
    if (!start || !stop)
        return bs__error(BLOBSTORE_EINVAL, "start and stop are required");
    return get_box(out, bs, key, start, stop, 1, into, cap);
}

BLOBSTORE_API int blobstore_npy_parse(blobstore_array *out, const void *buf, size_t len)
{
    b2nd_desc d;
    int fortran;
    size_t off;
    memset(out, 0, sizeof(*out));
    int rc = bs__b2nd_npy_parse(&d, &fortran, &off, buf, len);
    if (rc)
        return rc;
    size_t items;
    bs__b2nd_nitems(&d, &items);
    snprintf(out->dtype, sizeof(out->dtype), "%s", d.dtype);
    out->ndim = d.ndim;
    memcpy(out->shape, d.shape, sizeof(out->shape));
    out->data = (uint8_t *)(uintptr_t)buf + off;
    out->nbytes = items * (size_t)d.itemsize;
    out->fortran = fortran;
    return 0;
}

BLOBSTORE_API int blobstore_npy_header(char **out, size_t *out_len, const blobstore_array *a)
{
    b2nd_desc d;
    to_desc(&d, a);
    char kind;
    int rc = bs__b2nd_dtype_parse(d.dtype, &d.itemsize, &kind);
    return rc ? rc : bs__b2nd_npy_header(out, out_len, &d);
}
