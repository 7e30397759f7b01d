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

#endif
