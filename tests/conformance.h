/*
 * conformance.h - behaviour every store configuration must show, whatever
 * its metadata and blob backends. Run on an empty, open store.
 */
#ifndef BLOBSTORE_CONFORMANCE_H
#define BLOBSTORE_CONFORMANCE_H

#include "blobstore.h"

/* The whole store-level suite; failures are reported through test.h. */
void conformance_store(blobstore *bs);
/* The suite for a content-addressable store. */
void conformance_store_ca(blobstore *bs);
/* blobstore_stats() against figures computed from what it put (seeded
 * random sizes, formats and codecs; overwrites and deletes; with ca, keys
 * sharing content). Clears the store first; checks all but index_bytes. */
void conformance_stats(blobstore *bs, int ca, uint64_t seed);

#include "blobstore/sys/meta_backend.h"

/* Rebuilding the index from the blobs: open(ctx, 0) opens the store (empty
 * at first), lose(ctx) destroys its index (files deleted, a fresh database),
 * open(ctx, 1) reopens it with blobstore_open_rebuilding(). n framed entries
 * (metadata {"i": i}, one updated after its put), raw files with sidecars,
 * then every key, its bytes and its metadata are checked after the rebuild.
 * Returns through test.h failures. */
void conformance_rebuild(blobstore *(*open)(void *ctx, int rebuilding), void (*lose)(void *ctx),
                         void *ctx, size_t n);

/* The metadata backend contract, on an empty backend. */
void conformance_meta(blobstore_meta_backend *be);
/* An entry with fixed descriptive fields (strings borrowed, not owned). */
blobstore_entry conformance_entry(const char *key, const char *blob, const char *meta);
/* An iterate() callback collecting keys into a conformance_seen. */
typedef struct {
    char keys[16][64];
    int n;
} conformance_seen;
int conformance_record(void *ctx, const blobstore_entry *e);

#include "blobstore/sys/blob_backend.h"

/* The blob backend contract, on an empty backend that lists every object
 * (no grace period). */
void conformance_blob(blobstore_blob_backend *be);
/* A list() callback counting objects and temporaries into a conformance_listing. */
typedef struct {
    int objects, temps;
    char last[128];
} conformance_listing;
int conformance_list_cb(void *ctx, const char *name, int is_temp);
/* What a counting blob backend saw. flip_at >= 0: flip a bit of the byte at
 * that offset of every object whenever it is read (damage in transit). */
typedef struct {
    uint64_t bytes_read;
    size_t ranges;
    int64_t flip_at;
} conformance_counter;
/* A blob backend passing everything to inner (which it owns), counting the
 * bytes read in c. */
blobstore_blob_backend *conformance_counting_blob(blobstore_blob_backend *inner,
                                                  conformance_counter *c);
/* Read a whole object, appended to out. */
#include "internal.h"
int conformance_read_all(blobstore_blob_backend *be, const char *name, bs_buf *out);

#endif
