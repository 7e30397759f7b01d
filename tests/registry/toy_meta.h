/* toy_meta.h - the toy metadata backend of test_registry (toy_meta.c). */
#ifndef TOY_META_H
#define TOY_META_H

#include "blobstore/sys/meta_backend.h"

extern int toy_meta_opens;    /* stores opened through its registry row */
extern int toy_meta_v2_calls; /* calls of its version 2 and 3 slots: must stay 0 */

/* A toy backend on its own (path: its index file, or NULL: in memory). */
int toy_meta_new(blobstore_meta_backend **out, const char *path);

#endif
