/*
 * b2nd.h - Blosc2 chunks, contiguous frames and the b2nd (N-dimensional
 * array) layout, written from the published format documents and checked
 * against files written by c-blosc2.
 *
 * Layers, each usable alone:
 *   chunk.c   one Blosc2 chunk <-> bytes (codecs, shuffle, bitshuffle, delta)
 *   frame.c   a contiguous frame (.b2nd file) <-> header, metalayer, chunks
 *   array.c   C-order array bytes <-> b2nd chunks and blocks; slices; threads
 *   npy.c     NumPy .npy files
 * Every size read from a file is checked before use; damaged input is
 * BLOSCSTORE_ECORRUPT, features this code does not implement are
 * BLOBSTORE_EUNSUPPORTED, each with a message naming the problem.
 */
#ifndef BLOBSTORE_B2ND_H
#define BLOBSTORE_B2ND_H

#include "internal.h"

#define B2ND_MAX_DIM 8

/* Codec numbers inside chunks (the flags byte's top three bits). */
enum { B2_NONE = -1, B2_BLOSCLZ = 0, B2_LZ4 = 1, B2_ZLIB = 3, B2_ZSTD = 4 };
/* Filter ids. */
enum { B2_NOFILTER = 0, B2_SHUFFLE = 1, B2_BITSHUFFLE = 2, B2_DELTA = 3, B2_TRUNC_PREC = 4 };

/* ---- chunks (chunk.c) ---- */

typedef struct {
    int version, flags, typesize;
    uint32_t nbytes, blocksize, cbytes;
    uint8_t filters[6], filters_meta[6];
    int codec;   /* B2_* */
    int special; /* 0, 1 zeros, 2 NaN, 3 value, 4 uninit */
    int memcpyed, dont_split, header_len;
} b2_chunk_info;

/* Parse and check a chunk header; avail is the bytes available from chunk. */
int bs__b2_chunk_info(b2_chunk_info *ci, const uint8_t *chunk, size_t avail);
/* Fill n bytes with a special chunk's values: 1 zeros, 2 NaN (ts 4 or 8: the
 * quiet NaN c-blosc2 writes), 3 the item at value, 4 uninitialised (zeros). */
void bs__b2_fill_special(uint8_t *out, size_t n, int special, int ts, const uint8_t *value);
/* Decode a whole chunk into out (ci->nbytes bytes). */
int bs__b2_chunk_decode(const uint8_t *chunk, size_t avail, uint8_t *out, size_t out_len);
/* The same, writing a shuffled chunk's items past the caches (non-temporal
 * stores, where there is SSE2): for results larger than the caches. */
int bs__b2_chunk_decode_nt(const uint8_t *chunk, size_t avail, uint8_t *out, size_t out_len);
/* Compare what a chunk decodes to with the len bytes at expect, each block
 * as soon as it is decoded (bs__b2_chunk_decode's steps, without its copy
 * out): 0, or BLOBSTORE_ECORRUPT saying where they differ or why the chunk
 * does not decode. */
int bs__b2_chunk_check(const uint8_t *chunk, size_t avail, const uint8_t *expect, size_t len);

typedef struct {
    int codec;   /* B2_* */
    int level;   /* 1..9 */
    int shuffle; /* B2_NOFILTER, B2_SHUFFLE, B2_BITSHUFFLE */
    int typesize;
    uint32_t blocksize;
} b2_cparams;

/* The most bytes a chunk of nbytes can take. */
size_t bs__b2_chunk_bound(uint32_t nbytes, const b2_cparams *cp);
/* Encode nbytes into c (cap >= bs__b2_chunk_bound); *out_len bytes used. All-zero
 * input becomes a special zero chunk (header only). */
int bs__b2_chunk_encode_into(uint8_t *c, size_t cap, size_t *out_len, const uint8_t *src,
                             uint32_t nbytes, const b2_cparams *cp);
/* The same with the write-back check (b2nd_encode_stored): chunk id's
 * blocks, as each is written, decoded by the reader's steps and compared
 * with src, and its header parsed back (BLOBSTORE_ECORRUPT saying what
 * differs); bs__b2_write_fault, if set, is called on each block's bytes
 * before it is checked (on a memcpyed chunk's bytes, then on the header). */
int bs__b2_chunk_encode_checked(uint8_t *c, size_t cap, size_t *out_len, const uint8_t *src,
                                uint32_t nbytes, const b2_cparams *cp, int64_t id);
/* The 32-byte header bs__b2_chunk_encode_into writes for codec none (a
 * memcpyed chunk: the nbytes follow it as they are), without copying them;
 * 1 (no header) when src is all zeros, which is no chunk but a special
 * offset. */
int bs__b2_memcpyed_header(uint8_t *h, const uint8_t *src, uint32_t nbytes, const b2_cparams *cp);
/* The same into a new buffer (malloc'd *out). */
int bs__b2_chunk_encode(uint8_t **out, size_t *out_len, const uint8_t *src, uint32_t nbytes,
                        const b2_cparams *cp);

/* Blosc's byte shuffle of n bytes of items of ts bytes: byte j of item i to
 * j * items + i (the bytes past the last whole item as they are), and back. */
void bs__b2_shuffle(int ts, size_t n, const uint8_t *src, uint8_t *dst);
void bs__b2_unshuffle(int ts, size_t n, const uint8_t *src, uint8_t *dst);
/* The same from ts separate byte planes of items bytes each (plane j holds
 * byte j of every item) into items * ts bytes: a block's streams unshuffled
 * where they lie (ts of 1 to 256). */
void bs__b2_unshuffle_streams(int ts, size_t items, const uint8_t *const *src, uint8_t *dst);
/* The same with non-temporal stores where dst allows (SSE2, 16-byte aligned). */
void bs__b2_unshuffle_streams_nt(int ts, size_t items, const uint8_t *const *src, uint8_t *dst);

/* The blosclz codec (blosclz.c). */
int bs__b2_blosclz_decompress(const uint8_t *in, size_t in_len, uint8_t *out, size_t out_len);
size_t bs__b2_blosclz_compress(const uint8_t *in, size_t in_len, uint8_t *out, size_t out_cap);

/* ---- arrays (frame.c, array.c) ---- */

typedef struct {
    char dtype[32]; /* NumPy dtype string, e.g. "<f8" */
    int itemsize;
    int ndim;
    int64_t shape[B2ND_MAX_DIM];
    int32_t chunkshape[B2ND_MAX_DIM];
    int32_t blockshape[B2ND_MAX_DIM];
} b2nd_desc;

/* Ranged reading: makes [off, off + len) of the file's bytes valid before
 * they are read (the bytes are then a sparse buffer); 0 or an error. */
typedef int (*b2nd_fetch_fn)(void *ctx, uint64_t off, uint64_t len);
/* Undo one fetch that succeeded (the same off and len): its bytes may be
 * dropped, and are fetched again if needed. */
typedef void (*b2nd_release_fn)(void *ctx, uint64_t off, uint64_t len);

/* An opened .b2nd file (borrowing the caller's bytes). */
typedef struct {
    const uint8_t *data;
    size_t len;
    b2nd_fetch_fn fetch; /* NULL: data holds the whole file */
    void *fetch_ctx;
    /* NULL, or set after the open: each chunk's fetches are released once
     * it is decoded (a whole array read holds a few chunks, not the file;
     * the header and offsets index stay) */
    b2nd_release_fn release;
    b2nd_desc desc;
    size_t header_len;
    int64_t nchunks;
    uint64_t *offsets; /* per chunk: offset from the end of the header, or special (bit 63) */
    uint64_t cbytes;   /* the chunks' bytes, from the end of the header: no chunk runs past */
    uint32_t chunk_nbytes;
    int typesize;
} b2nd_file;

int bs__b2nd_open(b2nd_file *f, const uint8_t *data, size_t len);
/* The same, reading through fetch: only the header, the offsets index and
 * the chunks decoded are fetched. */
int bs__b2nd_open_ranged(b2nd_file *f, const uint8_t *data, size_t len, b2nd_fetch_fn fetch,
                         void *ctx);
void bs__b2nd_close(b2nd_file *f);

/* Decode the whole array into out (C order, prod(shape) * itemsize bytes).
 * nthreads 0: one per core. */
int bs__b2nd_read(const b2nd_file *f, uint8_t *out, size_t out_len, int nthreads);
/* Decode the box start[i] <= x < stop[i] into out (C order), decompressing
 * only the chunks that intersect it. */
int bs__b2nd_read_slice(const b2nd_file *f, const int64_t *start, const int64_t *stop, uint8_t *out,
                        size_t out_len, int nthreads);

typedef struct {
    const char *codec;         /* "lz4" (default), "zstd", "gzip", "blosclz", "none" */
    int level;                 /* 1..9, default 5 */
    int shuffle;               /* B2_SHUFFLE (default, 0), B2_BITSHUFFLE, or -1 for none */
    int nthreads;              /* 0: one per core */
    const int32_t *chunkshape; /* NULL: automatic */
    const int32_t *blockshape; /* NULL: automatic */
} b2nd_write_options;

/* A .b2nd file as it is written: the header, the chunks (in one arena; a
 * NULL chunk is all zeros, a special offset with no bytes), each after
 * pad[i] zero bytes, and the offsets index with the trailer (tail), in that
 * order in the file. */
typedef struct {
    bs_buf head, tail;
    uint8_t **chunks;
    size_t *chunk_len;
    size_t *pad; /* zeros before chunk i (the mappable layout; else 0) */
    /* The mappable layout of several chunks, from C-order input: chunk i,
     * when body[i] is set, is its 32-byte header at chunks[i] followed by
     * the caller's own bytes at body[i] (chunk_len[i] counts both: no copy
     * of the array is made; the input must outlive the pieces). */
    const uint8_t **body;
    uint8_t *hdrs;
    int mappable; /* written in the mappable layout (see bs__b2nd_map_shapes) */
    size_t nchunks;
    uint8_t *arena;
    size_t arena_len;
    size_t len;     /* the file's length */
    b2nd_desc desc; /* with the chunk and block shapes chosen */
} b2nd_pieces;

/* Encode an array given in C order (or Fortran order when fortran is set)
 * into p; bs__b2nd_pieces_free releases it. The bytes depend on the array
 * and the options only, never on the thread count. */
int bs__b2nd_encode(b2nd_pieces *p, const b2nd_desc *desc, const void *data, int fortran,
                    const b2nd_write_options *opts);
void bs__b2nd_pieces_free(b2nd_pieces *p);
/* The file p makes, in order, as pieces (no copy): the header, each chunk
 * (its padding, then its bytes, or its header and then the caller's items),
 * the offsets index and trailer. iov holds 3 * p->nchunks + 2; returns how
 * many it filled. */
size_t bs__b2nd_pieces_iov(const b2nd_pieces *p, bs_iov *iov);
/* The header and the tail of a frame of these chunks (frame.c). align > 1
 * (with pad, one per chunk, filled): zeros are put before each chunk that
 * has bytes so that its items (after its 32-byte header) start at a
 * multiple of align in the file; the chunk offsets and the frame's
 * compressed size count them (c-blosc2 reads such gaps: it finds each chunk
 * by its offset, as in frames it updated in place). */
int bs__b2_frame_parts(bs_buf *head, bs_buf *tail, const b2nd_desc *d, uint8_t *const *chunks,
                       const size_t *chunk_len, size_t nchunks, uint32_t chunk_nbytes,
                       uint32_t blocksize, const b2_cparams *cp, size_t align, size_t *pad);
/* The zero bytes a pad is written from (B2ND_MAP_ALIGN of them). */
extern const uint8_t bs__b2_zeros[];

/* ---- the mappable layout (array.c; array_map.c maps it) ----
 *
 * An array written with codec "none" and automatic shapes is laid out so
 * that it can be memory-mapped as one C-order array: chunks split only the
 * first dimension (chunkshape and blockshape are the whole array in every
 * other dimension, so a chunk's items are a contiguous slab of C-order
 * rows), every chunk's items start at a multiple of B2ND_MAP_ALIGN in the
 * file (zeros before its header) and, when there are several chunks, a
 * chunk's rows are a multiple of the alignment in bytes, so that chunk after
 * chunk mapped end to end is the array. All-zero chunks stay special
 * offsets (no bytes; mapped as zero pages). */
#define B2ND_MAP_ALIGN ((size_t)64 << 10)
/* Choose the chunk and block shapes of the mappable layout for d (shape,
 * itemsize set): 1 and the shapes and the alignment in *align, or 0 when
 * the array cannot be laid out so (empty; a row of items so long that a
 * chunk of aligned size would pass 256 MiB). */
int bs__b2nd_map_shapes(b2nd_desc *d, size_t *align);
/* The same as one malloc'd file. */
int bs__b2nd_write(uint8_t **out, size_t *out_len, const b2nd_desc *desc, const void *data,
                   int fortran, const b2nd_write_options *opts);

/* The same for the store (blobstore_array_put), with the write-back check:
 * each chunk, right after it is encoded (by the worker that encoded it,
 * while its bytes are in the cache), must decode to what it was encoded
 * from (bs__b2_chunk_check, the reader's steps), then the frame the pieces
 * make must open, describe the array and point to each chunk as written;
 * BLOBSTORE_ECORRUPT (with "write-back check") names what differs. */
int bs__b2nd_encode_stored(b2nd_pieces *p, const b2nd_desc *desc, const void *data, int fortran,
                           const b2nd_write_options *opts);
/* For tests and the bench only: the workers of an array get
 * (blobstore_array_get, _get_slice and their _into forms), as
 * bs__b2nd_read_slice's nthreads (default 0: one per core). Not locked: set
 * it while no get runs. */
extern int bs__array_get_threads;
/* For tests and the bench only: bs__b2nd_encode_stored runs the check
 * unless bs__b2_write_check is 0 (default 1), after calling
 * bs__b2_write_fault (if set) on each piece of what it wrote, to damage it:
 * piece is at offset at of chunk (its number), of the header (chunk -1) or
 * of the offsets index with the trailer (chunk -2). A chunk's pieces are
 * each block's streams as they are encoded, a memcpyed chunk's bytes, then
 * its 32-byte header (an uncompressed chunk written from the caller's
 * array: its header alone), each before it is checked. */
extern int bs__b2_write_check;
extern void (*bs__b2_write_fault)(uint8_t *piece, size_t len, int64_t chunk, size_t at);

/* Parse a NumPy dtype string: itemsize, kind ('b', 'i', 'u', 'f', 'c'). */
int bs__b2nd_dtype_parse(const char *dtype, int *itemsize, char *kind);
/* The automatic chunk and block shapes (see array.c). */
void bs__b2nd_auto_shapes(b2nd_desc *d);
/* Element count (with overflow check). */
int bs__b2nd_nitems(const b2nd_desc *d, size_t *out);

/* ---- .npy (npy.c) ---- */

/* Parse a .npy file: descriptor, fortran flag, and where the data starts. */
int bs__b2nd_npy_parse(b2nd_desc *d, int *fortran, size_t *data_offset, const uint8_t *buf,
                       size_t len);
/* A .npy header for a C-order array (malloc'd). */
int bs__b2nd_npy_header(char **out, size_t *out_len, const b2nd_desc *d);

#endif
