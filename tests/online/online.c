/*
 * online.c - see online.h.
 */
#include "online.h"

#include <libpq-fe.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int online_pg_fresh(char *url, size_t cap)
{
    static int n;
    const char *base = getenv("BLOBSTORE_PG_URL");
    if (!base) {
        fprintf(stderr, "  BLOBSTORE_PG_URL is not set: run under tests/online/servers.sh --pg\n");
        return -1;
    }
    PGconn *c = PQconnectdb(base);
    if (PQstatus(c) != CONNECTION_OK) {
        fprintf(stderr, "  cannot connect to %s: %s\n", base, PQerrorMessage(c));
        PQfinish(c);
        return -1;
    }
    char sql[128];
    snprintf(sql, sizeof(sql), "CREATE DATABASE t%d_%ld", ++n, (long)getpid());
    PGresult *r = PQexec(c, sql);
    int ok = PQresultStatus(r) == PGRES_COMMAND_OK;
    PQclear(r);
    PQfinish(c);
    const char *slash = strrchr(base, '/');
    snprintf(url, cap, "%.*s/t%d_%ld", (int)(slash - base), base, n, (long)getpid());
    return ok ? 0 : -1;
}

const char *online_s3_url(char *out, size_t cap, const char *extra)
{
    static int n;
    const char *ep = getenv("BLOBSTORE_S3_ENDPOINT");
    if (!ep) {
        fprintf(stderr, "  BLOBSTORE_S3_ENDPOINT is not set: run under tests/online/servers.sh "
                        "--rgw\n");
        ep = "http://127.0.0.1:1";
    }
    snprintf(out, cap, "s3://blobstore-tests/t%ld-%d?endpoint=%s&orphan_grace=0%s%s",
             (long)getpid(), ++n, ep, extra ? "&" : "", extra ? extra : "");
    return out;
}

int online_server(const char *script, const char *arg, const char *dir_env)
{
    const char *src = getenv("BLOBSTORE_SOURCE_DIR"), *dir = getenv(dir_env);
    if (!src || !dir)
        return -1;
    char cmd[2048];
    snprintf(cmd, sizeof(cmd), "'%s/scripts/servers/%s' %s '%s' >/dev/null", src, script, arg, dir);
    return system(cmd) == 0 ? 0 : -1;
}
