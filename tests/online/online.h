/*
 * online.h - helpers for the tests against real servers, which
 * tests/online/servers.sh starts on 127.0.0.1 and describes in the
 * environment.
 */
#ifndef BLOBSTORE_ONLINE_H
#define BLOBSTORE_ONLINE_H

#include <stddef.h>

/* Create a fresh PostgreSQL database; its URL in url. 0 on success. */
int online_pg_fresh(char *url, size_t cap);

/* A fresh S3 URL (bucket blobstore-tests, a prefix of its own) for the
 * test server, with orphan_grace=0 and extra ("a=1&b=2", or NULL) appended. */
const char *online_s3_url(char *out, size_t cap, const char *extra);

/* Run scripts/servers/SCRIPT ARG DIR-FROM-ENV(dir_env), e.g.
 * online_server("rgw.sh", "stop-gateway", "BLOBSTORE_RGW_DIR"); 0 if it
 * succeeded. */
int online_server(const char *script, const char *arg, const char *dir_env);

#endif
