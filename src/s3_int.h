/*
 * s3_int.h - the S3 backend's parts that need no network (s3_xml.c), shared
 * by blob_s3.c, the tests and the fuzz target.
 */
#ifndef BLOBSTORE_S3_INT_H
#define BLOBSTORE_S3_INT_H

#include "internal.h"

/* A malloc'd string formatted as printf does; NULL (with the error set) if
 * out of memory. */
char *bs__s3_printf(const char *fmt, ...) BS_PRINTF(1, 2);
/* URI-encode s (RFC 3986 unreserved kept; '/' kept when keep_slash). */
char *bs__s3_uri_encode(const char *s, int keep_slash);
/* The text of the next <tag>...</tag> at or after *pos, XML-unescaped, or
 * NULL; *pos moves past it. */
char *bs__s3_xml_next(const char *doc, size_t len, size_t *pos, const char *tag);

/* One page of an S3 listing (ListObjectsV2, or ListMultipartUploads when
 * uploads): doc is the NUL-terminated XML (len bytes before the NUL). Calls fn
 * for objects with the backend's layout under prefix (sharded by
 * shard_chars) and for temporaries, leaving out those younger than grace
 * seconds at the server's time now. When the listing goes on, *next_a (and
 * *next_b for uploads) receive where, URL-encoded; else NULL. (s3_xml.c:
 * tested and fuzzed without libcurl.) */
int bs__s3_list_page(const char *doc, size_t len, const char *prefix, int shard_chars, long grace,
                     time_t now, int uploads, blobstore_blob_list_fn fn, void *ctx, char **next_a,
                     char **next_b);

/* 1 if requests to endpoint travel where the network cannot damage them
 * unnoticed: over TLS (https), or to the loopback interface (http to
 * localhost, 127.0.0.0/8 or [::1]). There object bytes go without a
 * SHA-256 of their own (UNSIGNED-PAYLOAD): see docs/s3.md. */
int bs__s3_endpoint_private(const char *endpoint);

#endif
