/*
 * blobstore/array.h - typed N-dimensional arrays, stored as Blosc2 .b2nd
 * files (readable in place by python-blosc2's blosc2.open()).
 *
 * Included by blobstore.h.
 */
#ifndef BLOBSTORE_ARRAY_H
#define BLOBSTORE_ARRAY_H

#include "../blobstore.h"

#ifdef __cplusplus
extern "C" {
#endif

#define BLOBSTORE_ARRAY_MAX_DIM 8

/** An array: a NumPy dtype string ("<f8", "|b1", ">i2", "<c16"...; bool,
 *  int8-64, uint8-64, float16/32/64, complex64/128, either byte order; not
 *  long double), 0 to 8
 *  dimensions (zero-size ones allowed) and its items. */
typedef struct blobstore_array {
    char dtype[32];
    int ndim;
    int64_t shape[BLOBSTORE_ARRAY_MAX_DIM];
    /** put: the caller's items (C order, or Fortran order if `fortran`);
     *  get: C-order items owned by the array (blobstore_array_clear);
     *  get_into: the caller's buffer (not owned: never cleared). */
    void *data;
    size_t nbytes;
    int fortran;
} blobstore_array;

/** Free the data of an array returned by a get and zero it. Not for an
 *  array filled by a get_into (its data is the caller's buffer), a mapping's
 *  or blobstore_npy_parse's. */
BLOBSTORE_API void blobstore_array_clear(blobstore_array *a);

#define BLOBSTORE_ARRAY_OPTIONS_VERSION 2

typedef struct blobstore_array_options {
    unsigned int version;
    const char *metadata;      /**< user metadata (JSON object) or NULL */
    const char *compression;   /**< NULL: the store's codec (lz4, zstd, gzip, blosclz, none) */
    int compression_level;     /**< 1..9; 0: the store's */
    int shuffle;               /**< 0: byte shuffle (default); 1: bit shuffle; -1: none */
    const int32_t *chunkshape; /**< NULL: automatic (see docs/b2nd.md) */
    const int32_t *blockshape; /**< NULL: automatic */
    int nthreads;              /**< 0: one per core */
    /** A JSON object of extra members for get_metadata, or NULL. A member
     *  the store sets (dtype, shape...) or named with a leading '_' is
     *  refused (EINVAL). */
    const char *format_info;
    /* ---- version 2 ---- */
    unsigned int put_flags; /**< BLOBSTORE_PUT_* flags (BLOBSTORE_PUT_NO_OVERWRITE) */
} blobstore_array_options;

#define BLOBSTORE_ARRAY_OPTIONS_INIT                                                               \
    {                                                                                              \
        .version = BLOBSTORE_ARRAY_OPTIONS_VERSION                                                 \
    }

/**
 * Store an array under key (NULL: generated; content hash when content
 * addressed). get_metadata then shows format "b2nd", dtype, shape,
 * chunkshape and blockshape. Before anything is stored, every block written
 * is decoded and compared with the input as it is encoded, and the file's
 * header and index are read back (the write-back check; see
 * docs/b2nd.md). Errors: BLOBSTORE_EINVAL, BLOBSTORE_EUNSUPPORTED,
 * BLOBSTORE_ECORRUPT (the written file failed the check; nothing stored).
 */
BLOBSTORE_API int blobstore_array_put(char **out_key, blobstore *bs, const char *key,
                                      const blobstore_array *arr,
                                      const blobstore_array_options *opts);

/** Store a .b2nd file as an array, after checking that it decodes (every
 *  chunk header checked as c-blosc2 checks it). Errors: BLOBSTORE_ECORRUPT
 *  (a damaged file), BLOBSTORE_EUNSUPPORTED (a feature not implemented). */
BLOBSTORE_API int blobstore_array_put_b2nd(char **out_key, blobstore *bs, const char *key,
                                           const void *file, size_t len, const char *metadata);

/** Read an array (C order). Errors: BLOBSTORE_ENOTFOUND, BLOBSTORE_ECORRUPT,
 *  BLOBSTORE_EINVAL (the entry is not an array). */
BLOBSTORE_API int blobstore_array_get(blobstore_array *out, blobstore *bs, const char *key);

/** Read the box start[i] <= x < stop[i], decompressing only the chunks that
 *  intersect it. */
BLOBSTORE_API int blobstore_array_get_slice(blobstore_array *out, blobstore *bs, const char *key,
                                            const int64_t *start, const int64_t *stop);

/**
 * Read an array (C order) into the caller's buffer: into, of cap bytes, is
 * reused from get to get instead of fresh memory, which the kernel zeroes
 * when it is first touched (on a virtual machine a large part of a get of a
 * large array). The same checked reads as blobstore_array_get.
 *
 * On success out describes the array (dtype, ndim, shape, nbytes; fortran
 * 0) and out->data is into: the caller's memory, which out does not own;
 * do not pass out to blobstore_array_clear() (it would free into).
 * into may be NULL only when cap is 0 (then only an empty array reads).
 *
 * Errors: BLOBSTORE_ENOTFOUND, BLOBSTORE_EINVAL (the entry is not an array;
 * cap is smaller than the array's size: the message gives both sizes, and
 * into is untouched), BLOBSTORE_ECORRUPT (the stored bytes fail their
 * checks: no data is returned as read, and the content of into is
 * unspecified, partly written). On any error *out is zeroed.
 */
BLOBSTORE_API int blobstore_array_get_into(blobstore_array *out, blobstore *bs, const char *key,
                                           void *into, size_t cap);

/** blobstore_array_get_slice into the caller's buffer, as
 *  blobstore_array_get_into: cap must hold the box's items. */
BLOBSTORE_API int blobstore_array_get_slice_into(blobstore_array *out, blobstore *bs,
                                                 const char *key, const int64_t *start,
                                                 const int64_t *stop, void *into, size_t cap);

/**
 * Memory-mapping uncompressed arrays.
 *
 * An array put with compression "none" and automatic chunk shapes is stored
 * in a layout that can be mapped (docs/b2nd.md: chunks of whole rows whose
 * items start on page boundaries; still a .b2nd file c-blosc2 reads).
 * blobstore_array_map() then maps it read-only as one C-order array without
 * reading it: pages are read from the blob file as they are first touched,
 * and all-zero chunks (stored as no bytes) are zero pages. A 10 GB array maps
 * in milliseconds.
 *
 * Checksums: a get checks every byte before returning it; a mapping cannot
 * (the kernel reads the pages, not the library). At map time every byte
 * that is not an item is checked, which is cheap: the blob file's size, the
 * frame header with the b2nd metalayer, the offsets index with the trailer
 * and every chunk's 32-byte header, parsed and hashed against checksums the
 * put recorded for them.
 * The items are checked by blobstore_array_mapping_verify() (every segment
 * checksum, reading the whole file once) or at map time with
 * BLOBSTORE_MAP_VERIFY. Until then damaged items on disk read as they are.
 *
 * The mapping is independent of the store: it stays valid after the entry
 * is replaced or deleted (the old file is kept by the kernel until
 * unmapped) and after blobstore_close().
 */
typedef struct blobstore_array_mapping blobstore_array_mapping;

/** blobstore_array_map flag: verify every segment checksum before
 *  returning (reads the whole file once, copies nothing). */
#define BLOBSTORE_MAP_VERIFY 1u

/**
 * Map the array stored under key. Errors: BLOBSTORE_ENOTFOUND,
 * BLOBSTORE_EINVAL (not an array), BLOBSTORE_EUNSUPPORTED (the blob backend
 * is not the filesystem; the array is compressed, or not in the mappable
 * layout: its message says which; read it with blobstore_array_get()),
 * BLOBSTORE_ECORRUPT (damage found by the checks above), BLOBSTORE_EIO.
 */
BLOBSTORE_API int blobstore_array_map(blobstore_array_mapping **out, blobstore *bs, const char *key,
                                      unsigned int flags);

/** The mapped array: dtype, ndim, shape, nbytes and data (C order,
 *  read-only: writing to it faults; NULL when nbytes is 0). Owned by the
 *  mapping; never pass it to blobstore_array_clear(). */
BLOBSTORE_API const blobstore_array *
blobstore_array_mapping_array(const blobstore_array_mapping *m);

/** Check every segment checksum of the mapped file (reads it all once).
 *  0, or BLOBSTORE_ECORRUPT naming the first damaged byte range. */
BLOBSTORE_API int blobstore_array_mapping_verify(blobstore_array_mapping *m);

/** Unmap; the array's data is invalid afterwards. NULL is a no-op. */
BLOBSTORE_API void blobstore_array_unmap(blobstore_array_mapping *m);

/** Describe a .npy file held in memory: out->data points into buf (no
 *  copy; do not clear it). */
BLOBSTORE_API int blobstore_npy_parse(blobstore_array *out, const void *buf, size_t len);

/** The .npy header for an array (malloc'd; free with blobstore_free); the
 *  file is this header followed by the C-order items. */
BLOBSTORE_API int blobstore_npy_header(char **out, size_t *out_len, const blobstore_array *a);

#ifdef __cplusplus
}
#endif

#endif
