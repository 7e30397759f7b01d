/*
 * blob_s3.c - the S3 blob backend (libcurl with CURLOPT_AWS_SIGV4).
 *
 * Layout in the bucket (shard_chars as in the filesystem backend):
 *   PREFIX/<first shard_chars characters of the name>/<name>   committed objects
 *   PREFIX/tmp/w-<random>                                       multipart writes
 * A small object (up to one part) is buffered and sent with one PUT under
 * its final name at commit, which S3 makes visible atomically. A larger one
 * goes up part by part in a multipart upload, which is no object until it
 * is completed: where the store knows the name before the bytes (every
 * store that is not content-addressed: BS__BLOB_CTL_WRITER_FOR) the upload
 * is made straight to the final key and commit completes it. Otherwise
 * (a content-addressed name, known only at the end) it goes to a temporary
 * key; commit completes that upload, copies the object server-side to its
 * final key (CopyObject: atomic) and deletes the temporary. An interrupted
 * write thus leaves at most a temporary object under PREFIX/tmp/ or an
 * unfinished upload, which list() reports as temps and remove_temp()
 * removes (an upload is aborted, never its key's object deleted), and never
 * an object under a final name. Up to INFLIGHT parts are uploaded at once,
 * each on a thread of its own, while the next one fills. Parts grow with
 * the object (part_size), so memory stays bounded by INFLIGHT + 1 parts
 * (none for bytes the caller keeps, write_ref, which are sent from there);
 * objects over 5 GiB (CopyObject's limit) are read back and uploaded again
 * in parts (see copy_object).
 *
 * Every request body is sent with its SHA-256 in x-amz-content-sha256, which
 * SigV4 signs and the server checks: a body damaged in transit is refused.
 * Except object bytes where no network can damage them (https, where TLS
 * checks every record, or the loopback interface): those go as
 * UNSIGNED-PAYLOAD, and the store's own checksums, checked on every read,
 * stand for them (docs/s3.md; sign_payload=always in the URL signs them
 * anyway).
 * A reader streams the object with one GET, driven by its read() calls,
 * and resumes it with a ranged GET where it broke off; the store checks
 * what it returns as with every backend.
 *
 * Many machines may share a bucket, and another machine's put commits its
 * object before its entry. list() therefore reports only objects and
 * temporaries older than a grace period (orphan_grace, default an hour, by
 * the server's clock; none when the store says all its writers are local), so that verify --repair
 * never removes a blob that a put elsewhere is about to reference; and only keys with this layout,
 * so that other data under the prefix is never taken for orphans.
 *
 * Requests are signed by libcurl (AWS SigV4: queries in alphabetical order,
 * valueless parameters written "name=") and retried with exponential backoff
 * on transport errors, 5xx and 429. Curl handles (and their connections)
 * are pooled, so the backend may be used by several threads at once.
 */
#include "internal.h"
#include "module.h"
#include "s3_int.h"
#include "blobstore/sys/blob_backend.h"

#include <curl/curl.h>
#include <errno.h>
#include <pthread.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#define PART_SIZE     ((size_t)8 << 20)
#define COPY_MAX      ((uint64_t)5 << 30) /* CopyObject's limit */
#define MAX_TRIES     6
#define MAX_PARTS     10000 /* S3's limit per upload */
#define POOL_MAX      8
#define GRACE_DEFAULT 3600

typedef struct {
    blobstore_blob_backend parent;
    char *endpoint; /* scheme://host[:port], no trailing '/' */
    int path_style;
    char *bucket;
    char *prefix; /* "" or "p/q/" (with the trailing '/') */
    char *region;
    char *sigv4;   /* "aws:amz:REGION:s3" */
    char *userpwd; /* "ACCESS:SECRET" */
    char *token;   /* session token header, or NULL */
    int shard_chars;
    long grace;        /* seconds: younger objects are not listed */
    uint64_t copy_max; /* larger objects are copied part by part */
    unsigned page;     /* keys per listing page */
    long timeout;      /* seconds without progress before a request is retried */
    int grace_given;   /* orphan_grace was in the URL */
    int unsigned_data; /* object bytes go as UNSIGNED-PAYLOAD (https, loopback) */
    int list_all;      /* BLOBSTORE_BLOB_CTL_LIST_ALL: young objects listed too */
    pthread_mutex_t mu;
    struct s3_conn *pool[POOL_MAX];
    int npool;
} s3_backend;

/* A pooled connection: an easy handle and the multi handle that drives it,
 * whose connection cache keeps its connection open from one request to the
 * next. Requests run to their end (conn_perform) or, for a reader, a piece
 * at a time as the caller asks for bytes. */
typedef struct s3_conn {
    CURL *c;
    CURLM *m;
} s3_conn;

/* ---- requests ---- */

/* A piece of a request body: len bytes at p, or (p NULL) the next len
 * bytes of the body's own buffer. */
typedef struct {
    const unsigned char *p;
    size_t len;
} s3_seg;

/* Where a body's upload has got to. */
typedef struct {
    const s3_seg *seg;
    size_t nseg;
    const unsigned char *own; /* the own buffer's next byte */
    size_t i, off;            /* segment seg[i], off bytes into it */
} upload_src;

typedef struct {
    const char *method; /* GET HEAD PUT POST DELETE */
    const char *key;    /* object key (unencoded), NULL: the bucket */
    const char *query;  /* encoded, parameters in alphabetical order, or NULL */
    const void *body;   /* request body for PUT/POST */
    size_t body_len;
    const s3_seg *segs; /* or (PUT) a body in nsegs pieces, body its own buffer */
    size_t nsegs;
    const char *range;       /* "bytes=a-b" or NULL */
    const char *copy_source; /* x-amz-copy-source, or NULL */
    int data;                /* the body is an object's bytes (not a request's XML) */
    /* filled in: */
    long status;
    time_t date;   /* the server's Date header, or 0 */
    int64_t total; /* the object's size from Content-Range, or -1 */
    bs_buf resp;   /* response body (the caller frees it) */
    char etag[128];
    curl_off_t length; /* Content-Length of the response */
    /* private to a request in progress: */
    upload_src src;
    s3_seg one; /* body, as a segment */
    struct curl_slist *headers;
} s3_req;

static size_t read_cb(char *buf, size_t size, size_t nitems, void *ctx)
{
    upload_src *u = ctx;
    size_t cap = size * nitems, n = 0;
    while (n < cap && u->i < u->nseg) {
        const s3_seg *g = &u->seg[u->i];
        size_t k = g->len - u->off < cap - n ? g->len - u->off : cap - n;
        if (k) {
            memcpy(buf + n, (g->p ? g->p : u->own) + u->off, k);
            n += k;
            u->off += k;
        }
        if (u->off == g->len) {
            if (!g->p)
                u->own += g->len;
            u->i++;
            u->off = 0;
        }
    }
    return n;
}

static size_t write_cb(char *p, size_t size, size_t nmemb, void *ctx)
{
    s3_req *r = ctx;
    size_t n = size * nmemb;
    return bs__buf_append(&r->resp, p, n) == 0 ? n : 0;
}

/* Whether header line p (n bytes, not NUL-terminated) is header name
 * ("name:", any case); if so its value, cut to cap - 1 bytes, into v. */
static int header_value(const char *p, size_t n, const char *name, char *v, size_t cap)
{
    size_t k = strlen(name);
    if (n <= k || strncasecmp(p, name, k) != 0)
        return 0;
    size_t vl = n - k < cap - 1 ? n - k : cap - 1;
    memcpy(v, p + k, vl);
    v[vl] = 0;
    return 1;
}

static size_t header_cb(char *p, size_t size, size_t nitems, void *ctx)
{
    s3_req *r = ctx;
    size_t n = size * nitems;
    char v[128];
    if (header_value(p, n, "date:", v, sizeof(v))) {
        time_t t = curl_getdate(v, NULL);
        r->date = t > 0 ? t : 0;
    }
    if (header_value(p, n, "content-range:", v, sizeof(v))) {
        const char *slash = strchr(v, '/');
        char *end;
        if (slash && slash[1] >= '0' && slash[1] <= '9') {
            unsigned long long t = strtoull(slash + 1, &end, 10);
            r->total = (int64_t)t;
        }
    }
    if (n > 5 && strncasecmp(p, "etag:", 5) == 0) {
        const char *e = p + 5;
        size_t vl = n - 5;
        while (vl && (*e == ' ' || *e == '\t')) {
            e++;
            vl--;
        }
        while (vl && (e[vl - 1] == '\r' || e[vl - 1] == '\n' || e[vl - 1] == ' '))
            vl--;
        if (vl < sizeof(r->etag)) {
            memcpy(r->etag, e, vl);
            r->etag[vl] = 0;
        }
    }
    return n;
}

static void conn_free(s3_conn *k)
{
    if (!k)
        return;
    if (k->m)
        curl_multi_cleanup(k->m);
    if (k->c)
        curl_easy_cleanup(k->c);
    free(k);
}

static s3_conn *conn_get(s3_backend *be)
{
    s3_conn *k = NULL;
    pthread_mutex_lock(&be->mu);
    if (be->npool)
        k = be->pool[--be->npool];
    pthread_mutex_unlock(&be->mu);
    if (k) {
        curl_easy_reset(k->c);
        return k;
    }
    if (!(k = bs__calloc(1, sizeof(*k))))
        return NULL;
    k->c = curl_easy_init();
    k->m = curl_multi_init();
    if (!k->c || !k->m) {
        conn_free(k);
        return NULL;
    }
    return k;
}

static void conn_put(s3_backend *be, s3_conn *k)
{
    pthread_mutex_lock(&be->mu);
    if (be->npool < POOL_MAX) {
        be->pool[be->npool++] = k;
        k = NULL;
    }
    pthread_mutex_unlock(&be->mu);
    conn_free(k);
}

/* Run the request set up on k to its end (what curl_easy_perform does,
 * on k's own multi handle). */
static CURLcode conn_perform(s3_conn *k)
{
    if (curl_multi_add_handle(k->m, k->c) != CURLM_OK)
        return CURLE_OUT_OF_MEMORY;
    CURLcode res = CURLE_OK;
    for (int running = 1; running;) {
        if (curl_multi_perform(k->m, &running) != CURLM_OK) {
            res = CURLE_SEND_ERROR;
            break;
        }
        if (running && curl_multi_poll(k->m, NULL, 0, 1000, NULL) != CURLM_OK) {
            res = CURLE_RECV_ERROR;
            break;
        }
    }
    CURLMsg *msg;
    int left;
    while ((msg = curl_multi_info_read(k->m, &left)) != NULL)
        if (msg->msg == CURLMSG_DONE && res == CURLE_OK)
            res = msg->data.result;
    curl_multi_remove_handle(k->m, k->c);
    return res;
}

static char *object_url(s3_backend *be, const char *key, const char *query)
{
    char *ek = key ? bs__s3_uri_encode(key, 1) : bs__strdup("");
    if (!ek)
        return NULL;
    char *url;
    const char *q = query ? "?" : "", *qs = query ? query : "";
    if (be->path_style) {
        url = bs__s3_printf("%s/%s/%s%s%s", be->endpoint, be->bucket, ek, q, qs);
    } else {
        const char *sep = strstr(be->endpoint, "://");
        url = bs__s3_printf("%.*s%s.%s/%s%s%s", (int)(sep - be->endpoint + 3), be->endpoint,
                            be->bucket, sep + 3, ek, q, qs);
    }
    free(ek);
    return url;
}

/* Set request r up on c (r->headers to be freed after it). */
static void setup(s3_backend *be, CURL *c, const char *url, s3_req *r)
{
    struct curl_slist *h = NULL;
    char buf[1200], hash[65];
    /* SigV4 signs the payload's hash; the server recomputes it. Object bytes
     * over TLS or the loopback interface go unsigned: nothing on the way can
     * damage them unnoticed, and the store's own checksums, checked on
     * every read, cover them end to end (docs/s3.md). Two SHA-256 passes
     * fewer, the client's and the gateway's, on every byte. */
    if (r->data && be->unsigned_data)
        memcpy(hash, "UNSIGNED-PAYLOAD", sizeof("UNSIGNED-PAYLOAD"));
    else /* (a body in segments is signed only when all its own: write_ref) */
        bs__sha256_hex(hash, r->body ? r->body : "", r->body ? r->body_len : 0);
    snprintf(buf, sizeof(buf), "x-amz-content-sha256: %s", hash);
    h = curl_slist_append(h, buf);
    if (be->token) {
        snprintf(buf, sizeof(buf), "x-amz-security-token: %s", be->token);
        h = curl_slist_append(h, buf);
    }
    if (r->range) {
        snprintf(buf, sizeof(buf), "Range: %s", r->range);
        h = curl_slist_append(h, buf);
    }
    if (r->copy_source) {
        snprintf(buf, sizeof(buf), "x-amz-copy-source: %s", r->copy_source);
        h = curl_slist_append(h, buf);
    }
    r->one = (s3_seg){r->body ? r->body : (const void *)"", r->body_len};
    r->src = r->segs ? (upload_src){r->segs, r->nsegs, r->body, 0, 0}
                     : (upload_src){&r->one, 1, NULL, 0, 0};
    r->headers = h;
    r->resp.len = 0;
    r->etag[0] = 0;
    r->status = 0;
    r->date = 0;
    r->total = -1;
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_AWS_SIGV4, be->sigv4);
    curl_easy_setopt(c, CURLOPT_USERPWD, be->userpwd);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    /* A server that stops answering is a timeout, retried like a 5xx. */
    curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT, be->timeout < 10 ? be->timeout : 10L);
    curl_easy_setopt(c, CURLOPT_LOW_SPEED_LIMIT, 1L);
    curl_easy_setopt(c, CURLOPT_LOW_SPEED_TIME, be->timeout);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, write_cb);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, r);
    curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, header_cb);
    curl_easy_setopt(c, CURLOPT_HEADERDATA, r);
    /* bodies move in large pieces: fewer callbacks and system calls (the
     * curl tool uses 100 KiB; libcurl's default is 16 KiB, 64 KiB up) */
    curl_easy_setopt(c, CURLOPT_BUFFERSIZE, 512L << 10);
    curl_easy_setopt(c, CURLOPT_UPLOAD_BUFFERSIZE, 512L << 10);
    if (be->unsigned_data && strncmp(be->endpoint, "http://", 7) == 0) /* loopback: direct */
        curl_easy_setopt(c, CURLOPT_NOPROXY, "*");
    if (strcmp(r->method, "HEAD") == 0) {
        curl_easy_setopt(c, CURLOPT_NOBODY, 1L);
    } else if (strcmp(r->method, "PUT") == 0) {
        curl_easy_setopt(c, CURLOPT_UPLOAD, 1L);
        curl_easy_setopt(c, CURLOPT_READFUNCTION, read_cb);
        curl_easy_setopt(c, CURLOPT_READDATA, &r->src);
        curl_easy_setopt(c, CURLOPT_INFILESIZE_LARGE, (curl_off_t)r->body_len);
    } else if (strcmp(r->method, "POST") == 0) {
        curl_easy_setopt(c, CURLOPT_POST, 1L);
        curl_easy_setopt(c, CURLOPT_POSTFIELDS, r->body ? (const char *)r->body : "");
        curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)r->body_len);
    } else if (strcmp(r->method, "DELETE") == 0) {
        curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, "DELETE");
    }
}

/* One attempt. Returns 0 (r->status set) or a CURLcode > 0. */
static int attempt(s3_backend *be, s3_conn *k, const char *url, s3_req *r)
{
    CURL *c = k->c;
    setup(be, c, url, r);
    CURLcode cc = conn_perform(k);
    curl_slist_free_all(r->headers);
    r->headers = NULL;
    if (cc != CURLE_OK)
        return (int)cc;
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &r->status);
    curl_easy_getinfo(c, CURLINFO_CONTENT_LENGTH_DOWNLOAD_T, &r->length);
    return 0;
}

/* The S3 error code in an error response, e.g. "NoSuchKey", or "". */
static void error_code(const s3_req *r, char *out, size_t cap)
{
    out[0] = 0;
    if (!r->resp.len || !r->resp.data)
        return;
    /* the body is not NUL-terminated: copy a bounded piece */
    char tmp[2048];
    size_t n = r->resp.len < sizeof(tmp) - 1 ? r->resp.len : sizeof(tmp) - 1;
    memcpy(tmp, r->resp.data, n);
    tmp[n] = 0;
    size_t pos = 0;
    char *code = bs__s3_xml_next(tmp, n, &pos, "Code");
    if (code) {
        snprintf(out, cap, "%s", code);
        free(code);
    }
}

/* Perform r with retries. Returns 0 with r->status of any HTTP answer that
 * is not retryable (the caller judges it), or BLOBSTORE_EIO. */
static int s3_do(s3_backend *be, s3_req *r)
{
    char *url = object_url(be, r->key, r->query);
    s3_conn *c = url ? conn_get(be) : NULL;
    if (!c) {
        free(url);
        return bs__error(BLOBSTORE_ENOMEM, "s3: out of memory");
    }
    int rc = 0;
    long delay_ms = 100;
    for (int i = 0;; i++) {
        int cc = attempt(be, c, url, r);
        int retry = cc != 0 || r->status >= 500 || r->status == 429;
        if (!retry || i + 1 >= MAX_TRIES) {
            if (cc)
                rc = bs__error(BLOBSTORE_EIO, "s3: %s %s: %s (after %d attempts)", r->method, url,
                               curl_easy_strerror((CURLcode)cc), i + 1);
            else if (retry)
                rc = bs__error(BLOBSTORE_EIO, "s3: %s %s: HTTP %ld (after %d attempts)", r->method,
                               url, r->status, i + 1);
            break;
        }
        struct timespec ts = {delay_ms / 1000, (delay_ms % 1000) * 1000000L};
        nanosleep(&ts, NULL);
        delay_ms *= 2;
    }
    if (rc) {
        conn_free(c); /* its connection may be broken */
    } else {
        conn_put(be, c);
    }
    free(url);
    return rc;
}

/* An error for an unexpected HTTP status. */
static int status_error(const s3_req *r, const char *what)
{
    char code[128];
    error_code(r, code, sizeof(code));
    if (r->status == 404)
        return bs__error(BLOBSTORE_ENOTFOUND, "s3: %s: not found (%s)", what, *code ? code : "404");
    if (r->status == 403)
        return bs__error(BLOBSTORE_EIO, "s3: %s: access denied (HTTP 403 %s): check credentials",
                         what, code);
    return bs__error(BLOBSTORE_EIO, "s3: %s: HTTP %ld %s", what, r->status, code);
}

/* ---- names ---- */

static int name_check(const char *name)
{
    return bs__blob_name_ok(name) ? 0
                                  : bs__error(BLOBSTORE_EINVAL, "invalid blob name \"%s\"", name);
}

static char *object_key(s3_backend *be, const char *name)
{
    size_t n = strlen(name);
    int sc = n < (size_t)be->shard_chars ? (int)n : be->shard_chars;
    if (sc == 0)
        return bs__s3_printf("%s%s", be->prefix, name);
    return bs__s3_printf("%s%.*s/%s", be->prefix, sc, name, name);
}

/* The object key of a valid name (free it), or NULL with the error in *rc. */
static char *checked_key(s3_backend *be, const char *name, int *rc)
{
    char *key = NULL;
    if ((*rc = name_check(name)) == 0 && !(key = object_key(be, name)))
        *rc = BLOBSTORE_ENOMEM;
    return key;
}

/* ---- multipart uploads and copies ---- */

/* A multipart upload to key. */
typedef struct {
    char *key;
    char *upload_id; /* URL-encoded */
    char **etags;
    size_t nparts;
} s3_mpu;

static void mpu_clear(s3_mpu *m)
{
    for (size_t i = 0; i < m->nparts; i++)
        free(m->etags[i]);
    free(m->etags);
    free(m->key);
    free(m->upload_id);
    memset(m, 0, sizeof(*m));
}

/* Start an upload to m->key. */
static int mpu_begin(s3_backend *be, s3_mpu *m)
{
    s3_req r = {.method = "POST", .key = m->key, .query = "uploads="};
    int rc = s3_do(be, &r);
    if (!rc && r.status != 200)
        rc = status_error(&r, "start of a multipart upload");
    if (!rc)
        rc = bs__buf_append(&r.resp, "", 1);
    if (!rc) {
        size_t pos = 0;
        char *id = bs__s3_xml_next((const char *)r.resp.data, r.resp.len - 1, &pos, "UploadId");
        if (!id)
            rc = bs__error(BLOBSTORE_EIO, "s3: no UploadId in the answer to a multipart start");
        else if (!(m->upload_id = bs__s3_uri_encode(id, 0)))
            rc = BLOBSTORE_ENOMEM;
        free(id);
    }
    bs__buf_free(&r.resp);
    return rc;
}

/* Upload len bytes of body (or, segs not NULL, of its nsegs segments, body
 * their own buffer) as part number partno (1-based); its ETag into etag.
 * Reads m only: parts may go up on several threads at once. */
static int mpu_part(s3_backend *be, const s3_mpu *m, size_t partno, const void *body, size_t len,
                    const s3_seg *segs, size_t nsegs, char etag[128])
{
    if (partno > MAX_PARTS)
        return bs__error(BLOBSTORE_EUNSUPPORTED, "s3: more than %d parts", MAX_PARTS);
    char *q = bs__s3_printf("partNumber=%zu&uploadId=%s", partno, m->upload_id);
    if (!q)
        return BLOBSTORE_ENOMEM;
    s3_req r = {.method = "PUT",
                .key = m->key,
                .query = q,
                .body = body,
                .body_len = len,
                .segs = segs,
                .nsegs = nsegs,
                .data = 1};
    int rc = s3_do(be, &r);
    if (!rc && r.status != 200)
        rc = status_error(&r, "upload of a part");
    if (!rc && !r.etag[0])
        rc = bs__error(BLOBSTORE_EIO, "s3: no ETag in the answer to a part upload");
    if (!rc)
        memcpy(etag, r.etag, sizeof(r.etag));
    bs__buf_free(&r.resp);
    free(q);
    return rc;
}

/* Record part partno's ETag (parts may finish in any order). */
static int mpu_record(s3_mpu *m, size_t partno, const char *etag)
{
    if (partno > m->nparts) {
        char **et = bs__realloc(m->etags, partno * sizeof(char *));
        if (!et)
            return BLOBSTORE_ENOMEM;
        for (size_t i = m->nparts; i < partno; i++)
            et[i] = NULL;
        m->etags = et;
        m->nparts = partno;
    }
    free(m->etags[partno - 1]);
    return (m->etags[partno - 1] = bs__strdup(etag)) ? 0 : BLOBSTORE_ENOMEM;
}

/* Upload body as the next part, here. */
static int mpu_part_next(s3_backend *be, s3_mpu *m, const void *body, size_t len)
{
    char etag[128];
    int rc = mpu_part(be, m, m->nparts + 1, body, len, NULL, 0, etag);
    return rc ? rc : mpu_record(m, m->nparts + 1, etag);
}

/* The size of part n (0-based): PART_SIZE, growing by PART_SIZE every 1,000
 * parts, so that S3's 10,000 parts hold 430 GB while memory stays bounded
 * by a few parts. */
static size_t part_size(size_t n)
{
    return PART_SIZE * (1 + n / 1000);
}

static int mpu_complete(s3_backend *be, s3_mpu *m)
{
    bs_buf x = {0};
    int rc = bs__buf_append(&x, "<CompleteMultipartUpload>", 25);
    for (size_t i = 0; !rc && i < m->nparts; i++) {
        if (!m->etags[i]) { /* cannot happen: every part is waited for */
            rc = bs__error(BLOBSTORE_EIO, "s3: part %zu of an upload is missing", i + 1);
            break;
        }
        char part[256];
        int n =
            snprintf(part, sizeof(part), "<Part><PartNumber>%zu</PartNumber><ETag>%s</ETag></Part>",
                     i + 1, m->etags[i]);
        rc = bs__buf_append(&x, part, (size_t)n);
    }
    if (!rc)
        rc = bs__buf_append(&x, "</CompleteMultipartUpload>", 26);
    char *q = rc ? NULL : bs__s3_printf("uploadId=%s", m->upload_id);
    if (!rc && !q)
        rc = BLOBSTORE_ENOMEM;
    if (!rc) {
        s3_req r = {.method = "POST", .key = m->key, .query = q, .body = x.data, .body_len = x.len};
        rc = s3_do(be, &r);
        /* a 200 may still carry an <Error> */
        if (!rc && (r.status != 200 ||
                    (r.resp.len && memmem(r.resp.data, r.resp.len, "<Error>", 7) != NULL)))
            rc = status_error(&r, "completion of a multipart upload");
        bs__buf_free(&r.resp);
    }
    free(q);
    bs__buf_free(&x);
    return rc;
}

static int delete_key(s3_backend *be, const char *key, const char *query)
{
    s3_req r = {.method = "DELETE", .key = key, .query = query};
    int rc = s3_do(be, &r);
    if (!rc && r.status != 204 && r.status != 200 && r.status != 404)
        rc = status_error(&r, "delete");
    bs__buf_free(&r.resp);
    return rc;
}

/* Best effort: delete key (?query), keeping the error being reported; what
 * remains is reported by list() as a temp. */
static void delete_quiet(s3_backend *be, const char *key, const char *query)
{
    char saved[1024];
    snprintf(saved, sizeof(saved), "%s", blobstore_errmsg());
    delete_key(be, key, query);
    bs__error(0, "%s", saved);
}

/* Abandon the upload, if one was started (it may be gone already). */
static void mpu_cancel(s3_backend *be, s3_mpu *m)
{
    if (!m->upload_id)
        return;
    char *q = bs__s3_printf("uploadId=%s", m->upload_id);
    if (q)
        delete_quiet(be, m->key, q);
    free(q);
}

/* Copy from (size bytes) to to: one server-side CopyObject up to its limit.
 * Beyond it the object is read back and uploaded again part by part: curl
 * 7.88 signs x-amz-copy-source and x-amz-copy-source-range in the wrong
 * order, so UploadPartCopy is refused with SignatureDoesNotMatch. */
static int copy_object(s3_backend *be, const char *from, const char *to, uint64_t size)
{
    int rc = 0;
    if (size <= be->copy_max) {
        char *src_path = bs__s3_printf("/%s/%s", be->bucket, from);
        char *src = src_path ? bs__s3_uri_encode(src_path, 1) : NULL;
        free(src_path);
        if (!src)
            return BLOBSTORE_ENOMEM;
        s3_req r = {.method = "PUT", .key = to, .copy_source = src};
        rc = s3_do(be, &r);
        if (!rc && (r.status != 200 ||
                    (r.resp.len && memmem(r.resp.data, r.resp.len, "<Error>", 7) != NULL)))
            rc = status_error(&r, "server-side copy");
        bs__buf_free(&r.resp);
        free(src);
        return rc;
    }
    s3_mpu m = {0};
    if (!(m.key = bs__strdup(to)))
        return BLOBSTORE_ENOMEM;
    rc = mpu_begin(be, &m);
    uint64_t part = size / (MAX_PARTS - 100) + 1;
    if (part < PART_SIZE)
        part = PART_SIZE;
    for (uint64_t off = 0; !rc && off < size; off += part) {
        uint64_t end = off + part < size ? off + part : size;
        char range[64];
        snprintf(range, sizeof(range), "bytes=%llu-%llu", (unsigned long long)off,
                 (unsigned long long)(end - 1));
        s3_req g = {.method = "GET", .key = from, .range = range};
        rc = s3_do(be, &g);
        if (!rc && g.status != 206 && g.status != 200)
            rc = status_error(&g, "read back for a copy");
        if (!rc && g.resp.len != end - off)
            rc = bs__error(BLOBSTORE_EIO, "s3: %s changed while being copied", from);
        if (!rc)
            rc = mpu_part_next(be, &m, g.resp.data, g.resp.len);
        bs__buf_free(&g.resp);
    }
    if (!rc)
        rc = mpu_complete(be, &m);
    if (rc)
        mpu_cancel(be, &m);
    mpu_clear(&m);
    return rc;
}

/* ---- writer ---- */

/* Parts in flight at once, each on a thread of its own, while the caller
 * fills the next: a gateway answers a part only once it has stored it, so
 * with one part at a time the connection would idle at every part's end;
 * with several, one part's bytes flow while another's are being stored. */
#define INFLIGHT 3

/* A part's (or a small object's) bytes, in order: pieces the caller keeps
 * for the writer's lifetime (s3w_write_ref: sent from where they are) and
 * the rest, copied into buf. An object put from memory is thus sent from
 * the caller's buffer, without a copy into parts and with their memory
 * (INFLIGHT + 1 parts) not allocated at all. */
typedef struct {
    unsigned char *buf; /* the copied bytes */
    size_t blen, bcap;
    s3_seg *segs;
    size_t nsegs, scap;
    size_t len; /* bytes in all */
} s3_part;

static void part_free(s3_part *pt)
{
    free(pt->buf);
    free(pt->segs);
}

static int part_seg(s3_part *pt, const unsigned char *p, size_t n)
{
    s3_seg *last = pt->nsegs ? &pt->segs[pt->nsegs - 1] : NULL;
    if (last && ((!p && !last->p) || (p && last->p && last->p + last->len == p))) {
        last->len += n; /* contiguous with the last piece */
        return 0;
    }
    if (pt->nsegs == pt->scap) {
        size_t c = pt->scap ? pt->scap * 2 : 16;
        s3_seg *g = bs__realloc(pt->segs, c * sizeof(*g));
        if (!g)
            return BLOBSTORE_ENOMEM;
        pt->segs = g;
        pt->scap = c;
    }
    pt->segs[pt->nsegs++] = (s3_seg){p, n};
    return 0;
}

/* Append n bytes: by reference (ref), or copied into buf, which grows
 * geometrically up to max (small blobs stay small). */
static int part_add(s3_part *pt, const unsigned char *p, size_t n, int ref, size_t max)
{
    if (!ref && pt->bcap < pt->blen + n) {
        size_t need = pt->blen + n, c = pt->bcap ? pt->bcap * 2 : (size_t)64 << 10;
        while (c < need)
            c *= 2;
        if (c > max)
            c = max > need ? max : need;
        unsigned char *b = bs__realloc(pt->buf, c);
        if (!b)
            return BLOBSTORE_ENOMEM;
        pt->buf = b;
        pt->bcap = c;
    }
    int rc = part_seg(pt, ref ? p : NULL, n);
    if (rc)
        return rc;
    if (!ref) {
        memcpy(pt->buf + pt->blen, p, n);
        pt->blen += n;
    }
    pt->len += n;
    return 0;
}

/* Empty pt for the next part, keeping its memory. */
static void part_reset(s3_part *pt)
{
    pt->blen = pt->nsegs = pt->len = 0;
}

typedef struct s3_writer s3_writer;

/* A part being uploaded on a thread. */
typedef struct {
    s3_writer *w;
    pthread_t thread;
    int live; /* thread runs (or ran and is not joined) */
    int rc;
    size_t partno;
    s3_part part;
    char etag[128];
    char msg[512]; /* its error message (messages are per thread) */
} s3_slot;

struct s3_writer {
    blobstore_blob_writer parent;
    s3_backend *be;
    s3_part cur; /* the part being filled */
    uint64_t total;
    s3_mpu mpu;       /* once the data outgrew a part: to final_key, else to
                         PREFIX/tmp/w-<random> */
    char *final_name; /* the name given to BS__BLOB_CTL_WRITER_FOR, or NULL */
    char *final_key;
    size_t parts; /* parts handed to the upload */
    s3_slot slot[INFLIGHT];
    size_t next_slot; /* the slot the next part takes (the oldest) */
    int failed;       /* a part failed: its error was returned */
};

static int slot_upload(s3_slot *u)
{
    const s3_part *pt = &u->part;
    return mpu_part(u->w->be, &u->w->mpu, u->partno, pt->buf, pt->len, pt->segs, pt->nsegs,
                    u->etag);
}

static void *upload_main(void *arg)
{
    s3_slot *u = arg;
    u->rc = slot_upload(u);
    if (u->rc)
        snprintf(u->msg, sizeof(u->msg), "%s", blobstore_errmsg());
    return NULL;
}

/* Wait for the part in slot u, if any: its result (its ETag recorded). */
static int slot_wait(s3_writer *w, s3_slot *u)
{
    if (!u->live)
        return 0;
    pthread_join(u->thread, NULL);
    u->live = 0;
    if (u->rc)
        return bs__error(u->rc, "%s", u->msg);
    return mpu_record(&w->mpu, u->partno, u->etag);
}

/* Wait for every part in flight: the first error, if any. */
static int upload_wait_all(s3_writer *w)
{
    int rc = 0;
    for (size_t i = 0; i < INFLIGHT; i++) {
        s3_slot *u = &w->slot[(w->next_slot + i) % INFLIGHT]; /* oldest first */
        int r = slot_wait(w, u);
        if (!rc)
            rc = r;
    }
    return rc;
}

static void writer_free(s3_writer *w)
{
    for (size_t i = 0; i < INFLIGHT; i++) {
        if (w->slot[i].live)
            pthread_join(w->slot[i].thread, NULL);
        part_free(&w->slot[i].part);
    }
    mpu_clear(&w->mpu);
    free(w->final_name);
    free(w->final_key);
    part_free(&w->cur);
    free(w);
}

/* Send the part being filled as the next part, starting the upload first;
 * background: on a thread of its own, once the oldest part in flight is
 * up. */
static int writer_flush(s3_writer *w, int background)
{
    int rc = 0;
    if (w->failed)
        return bs__error(BLOBSTORE_EIO, "s3: this write failed already");
    if (!w->mpu.key && w->final_key) {
        if (!(w->mpu.key = bs__strdup(w->final_key)))
            return BLOBSTORE_ENOMEM;
    } else if (!w->mpu.key) {
        unsigned char rnd[12];
        char hex[25];
        if ((rc = bs__random_bytes(rnd, sizeof(rnd))) != 0)
            return rc;
        bs__hex(hex, rnd, sizeof(rnd));
        if (!(w->mpu.key = bs__s3_printf("%stmp/w-%s", w->be->prefix, hex)))
            return BLOBSTORE_ENOMEM;
    }
    if (!w->mpu.upload_id && (rc = mpu_begin(w->be, &w->mpu)) != 0)
        return rc;
    s3_slot *u = &w->slot[w->next_slot];
    if ((rc = slot_wait(w, u)) != 0) {
        w->failed = 1;
        return rc;
    }
    /* the slot's (emptied) part becomes the one to fill next */
    s3_part t = u->part;
    u->part = w->cur;
    w->cur = t;
    part_reset(&w->cur);
    u->partno = ++w->parts;
    u->w = w;
    w->next_slot = (w->next_slot + 1) % INFLIGHT;
    if (background && pthread_create(&u->thread, NULL, upload_main, u) == 0) {
        u->live = 1;
        return 0;
    }
    /* here: at commit (the last part), or without a thread */
    rc = slot_upload(u);
    if (!rc)
        rc = mpu_record(&w->mpu, u->partno, u->etag);
    if (rc)
        w->failed = 1;
    return rc;
}

static int writer_add(s3_writer *w, const void *p, size_t n, int ref)
{
    const unsigned char *src = p;
    while (n) {
        size_t want = part_size(w->parts);
        if (w->cur.len == want) {
            int rc = writer_flush(w, 1);
            if (rc)
                return rc;
            want = part_size(w->parts);
        }
        size_t k = want - w->cur.len;
        if (k > n)
            k = n;
        int rc = part_add(&w->cur, src, k, ref, want);
        if (rc)
            return rc;
        w->total += k;
        src += k;
        n -= k;
    }
    return 0;
}

static int s3w_write(blobstore_blob_writer *pw, const void *p, size_t n)
{
    return writer_add((s3_writer *)pw, p, n, 0);
}

/* BS__BLOB_CTL_WRITER_FOR's write_ref: the caller keeps p's n bytes, as
 * they are, until commit or abort returns; they are sent from there. */
static int s3w_write_ref(blobstore_blob_writer *pw, const void *p, size_t n)
{
    return writer_add((s3_writer *)pw, p, n, 1);
}

/* Delete the temporary object, if there is one. */
static void writer_drop_temp(s3_writer *w)
{
    if (w->mpu.key)
        delete_quiet(w->be, w->mpu.key, NULL);
}

static int s3w_commit(blobstore_blob_writer *pw, const char *name, int sync)
{
    (void)sync; /* S3 answers a PUT once the object is durable */
    s3_writer *w = (s3_writer *)pw;
    s3_backend *be = w->be;
    int rc = name_check(name);
    if (!rc && w->final_name && strcmp(name, w->final_name) != 0)
        rc = bs__error(BLOBSTORE_EINVAL, "s3: a write to %s committed as %s", w->final_name, name);
    char *key = rc ? NULL : object_key(be, name);
    if (!rc && !key)
        rc = BLOBSTORE_ENOMEM;
    if (!rc && w->cur.len && w->mpu.upload_id) /* the last part, while the others finish */
        rc = writer_flush(w, 1);
    int up = upload_wait_all(w);
    if (!rc)
        rc = up;
    if (!rc && w->failed)
        rc = bs__error(BLOBSTORE_EIO, "s3: this write failed already");
    if (rc && w->mpu.upload_id) {
        mpu_cancel(be, &w->mpu);
    } else if (!rc && !w->mpu.upload_id) {
        s3_req r = {.method = "PUT",
                    .key = key,
                    .body = w->cur.buf,
                    .body_len = w->cur.len,
                    .segs = w->cur.segs,
                    .nsegs = w->cur.nsegs,
                    .data = 1};
        rc = s3_do(be, &r);
        if (!rc && r.status != 200)
            rc = status_error(&r, "upload");
        bs__buf_free(&r.resp);
    } else if (!rc) {
        rc = mpu_complete(be, &w->mpu);
        if (rc) /* harmless if the completion took effect after all */
            mpu_cancel(be, &w->mpu);
        if (!rc && !w->final_key)
            rc = copy_object(be, w->mpu.key, key, w->total);
        if (!w->final_key)
            writer_drop_temp(w);
    }
    free(key);
    writer_free(w);
    return rc;
}

static void s3w_abort(blobstore_blob_writer *pw)
{
    s3_writer *w = (s3_writer *)pw;
    for (size_t i = 0; i < INFLIGHT; i++)
        if (w->slot[i].live) {
            pthread_join(w->slot[i].thread, NULL);
            w->slot[i].live = 0;
        }
    mpu_cancel(w->be, &w->mpu);
    writer_free(w);
}

static int s3_writer_new(blobstore_blob_writer **out, blobstore_blob_backend *pbe)
{
    s3_writer *w = bs__calloc(1, sizeof(*w));
    if (!w)
        return BLOBSTORE_ENOMEM;
    w->be = (s3_backend *)pbe;
    w->parent.write = s3w_write;
    w->parent.commit = s3w_commit;
    w->parent.abort = s3w_abort;
    *out = &w->parent;
    return 0;
}

/* BS__BLOB_CTL_WRITER_FOR: parts go to the final key itself. A multipart
 * upload is no object until completed: until commit, readers and listings
 * of objects see nothing (or the key's earlier object, which the store
 * never writes twice), and an upload left by a dead process is listed as a
 * temp (its key and upload id), which remove_temp aborts. The gateway
 * writes each byte once, where a temporary and a copy wrote it twice. */
static int s3_writer_for(s3_backend *be, bs_blob_writer_for *q)
{
    int rc;
    char *key = checked_key(be, q->name, &rc);
    if (!key)
        return rc;
    char *name = bs__strdup(q->name);
    blobstore_blob_writer *pw = NULL;
    rc = name ? s3_writer_new(&pw, &be->parent) : BLOBSTORE_ENOMEM;
    if (rc) {
        free(key);
        free(name);
        return rc;
    }
    s3_writer *w = (s3_writer *)pw;
    w->final_key = key;
    w->final_name = name;
    q->writer = pw;
    /* a body whose SHA-256 is signed is hashed whole, from one buffer */
    q->write_ref = be->unsigned_data ? s3w_write_ref : NULL;
    return 0;
}

/* ---- reader ---- */

/* A reader streams the object with one GET, as curl itself would: each
 * read() drives the transfer (on the reader's own pooled connection) until
 * the caller's buffer is full, and the bytes go from libcurl's receive
 * buffer straight into it. What does not fit waits in a spill of at most
 * one receive buffer, the transfer paused meanwhile (so memory stays
 * bounded whatever the object's size); between reads the kernel's socket
 * buffer keeps receiving, so the caller's work (checksums, writing) and the
 * network overlap. A transfer that breaks (a dropped connection, a timeout,
 * a 5xx or 429) is resumed where it stopped with a ranged GET, up to
 * MAX_TRIES times in a row without progress; a resumed answer must be the
 * same object (its size from Content-Range, starting where asked). Ranged
 * GETs of 4 MiB, one fetched ahead, cost the gateway a request (and its
 * lookups) per range and this process a copy more (0.69x of curl). */
#define ERRBODY_MAX ((size_t)64 << 10)

typedef struct {
    blobstore_blob_reader parent;
    s3_backend *be;
    char *key, *url;
    s3_conn *k;
    s3_req q;           /* the current request's answer: status, headers, error body */
    int active;         /* q is in k->m, not finished */
    CURLcode result;    /* how the last transfer ended */
    int paused;         /* the write callback paused the transfer */
    int hdr_done;       /* the answer's headers are in... */
    int hdr_ok;         /* ... and it brings the object's bytes */
    int64_t range_from; /* the first byte of a 206's Content-Range, or -1 */
    int fail_rc;        /* a failure that ends the read: returned from then on */
    int tries;          /* transfers failed in a row without progress */
    uint64_t size;      /* the object's size, once the first answer's headers are in */
    int size_known;
    uint64_t recv;  /* bytes of the object received (delivered or spilled) */
    uint64_t start; /* where the current request started */
    uint64_t mark;  /* recv when the last failure was counted */
    char range[64];
    unsigned char *dst; /* the caller's buffer during read() */
    size_t dst_cap, dst_len;
    bs_buf spill; /* received, not yet delivered: data[spill_pos..len) */
    size_t spill_pos;
} s3_reader;

/* Judge the answer once its headers are in. */
static void rd_check(s3_reader *r)
{
    long st = r->q.status;
    r->hdr_ok = 0;
    if (!r->size_known) { /* the whole object, from its start */
        if (st == 200 && r->q.length >= 0) {
            r->size = (uint64_t)r->q.length;
            r->size_known = r->hdr_ok = 1;
        } else if (st == 200 || st == 206) {
            r->fail_rc = bs__error(BLOBSTORE_EIO, "s3: %s: an answer without Content-Length (%ld)",
                                   r->key, st);
        }
    } else if (st == 206 && r->q.total >= 0 && (uint64_t)r->q.total == r->size &&
               r->range_from >= 0 && (uint64_t)r->range_from == r->start) {
        r->hdr_ok = 1;
    } else if (st == 206) {
        r->fail_rc = bs__error(BLOBSTORE_EIO, "s3: %s: short or changed object (resumed at %llu)",
                               r->key, (unsigned long long)r->start);
    } else if (st == 200) {
        r->fail_rc = bs__error(BLOBSTORE_EIO, "s3: %s: the server ignored a range", r->key);
    }
}

static size_t rd_header(char *p, size_t size, size_t nitems, void *ctx)
{
    s3_reader *r = ctx;
    size_t n = size * nitems;
    char v[128];
    header_cb(p, size, nitems, &r->q);
    if (n >= 5 && strncmp(p, "HTTP/", 5) == 0) { /* a new answer (after a redirect, 1xx) */
        r->hdr_done = r->hdr_ok = 0;
        r->q.length = -1;
        r->q.total = -1;
        r->range_from = -1;
    } else if (header_value(p, n, "content-length:", v, 32)) {
        char *end;
        long long x = strtoll(v, &end, 10);
        r->q.length = end != v && x >= 0 ? (curl_off_t)x : -1;
    } else if (header_value(p, n, "content-range:", v, sizeof(v))) {
        const char *b = strstr(v, "bytes ");
        char *end;
        if (b && b[6] >= '0' && b[6] <= '9') {
            unsigned long long x = strtoull(b + 6, &end, 10);
            r->range_from = *end == '-' ? (int64_t)x : -1;
        }
    } else if ((n == 2 && p[0] == '\r') || (n == 1 && p[0] == '\n')) { /* the headers' end */
        long st = 0;
        curl_easy_getinfo(r->k->c, CURLINFO_RESPONSE_CODE, &st);
        if (st >= 200) {
            r->q.status = st;
            r->hdr_done = 1;
            rd_check(r);
        }
    }
    return n;
}

static size_t rd_write(char *p, size_t size, size_t nmemb, void *ctx)
{
    s3_reader *r = ctx;
    size_t n = size * nmemb;
    if (r->fail_rc)
        return 0;     /* ends the transfer */
    if (!r->hdr_ok) { /* an error's body: kept for its code */
        size_t k = r->q.resp.len < ERRBODY_MAX ? ERRBODY_MAX - r->q.resp.len : 0;
        if (k > n)
            k = n;
        return k == 0 || bs__buf_append(&r->q.resp, p, k) == 0 ? n : 0;
    }
    if (r->spill_pos < r->spill.len) { /* the caller has not taken the last spill yet */
        r->paused = 1;
        return CURL_WRITEFUNC_PAUSE;
    }
    if (n > r->size - r->recv) {
        r->fail_rc = bs__error(BLOBSTORE_EIO, "s3: %s: longer than its %llu bytes", r->key,
                               (unsigned long long)r->size);
        return 0;
    }
    size_t k = r->dst_cap - r->dst_len < n ? r->dst_cap - r->dst_len : n;
    if (k) {
        memcpy(r->dst + r->dst_len, p, k);
        r->dst_len += k;
    }
    r->spill.len = r->spill_pos = 0;
    if (k < n && bs__buf_append(&r->spill, p + k, n - k) != 0) {
        r->fail_rc = BLOBSTORE_ENOMEM;
        return 0;
    }
    r->recv += n;
    return n;
}

/* Send the request for the object's bytes from r->recv on. */
static int rd_start(s3_reader *r)
{
    bs_buf keep = r->q.resp;
    memset(&r->q, 0, sizeof(r->q));
    r->q.resp = keep;
    r->q.method = "GET";
    r->q.key = r->key;
    if (r->size_known) {
        snprintf(r->range, sizeof(r->range), "bytes=%llu-%llu", (unsigned long long)r->recv,
                 (unsigned long long)(r->size - 1));
        r->q.range = r->range;
    }
    r->start = r->recv;
    r->hdr_done = r->hdr_ok = r->paused = 0;
    r->range_from = -1;
    r->q.length = -1;
    curl_easy_reset(r->k->c);
    setup(r->be, r->k->c, r->url, &r->q);
    curl_easy_setopt(r->k->c, CURLOPT_WRITEFUNCTION, rd_write);
    curl_easy_setopt(r->k->c, CURLOPT_WRITEDATA, r);
    curl_easy_setopt(r->k->c, CURLOPT_HEADERFUNCTION, rd_header);
    curl_easy_setopt(r->k->c, CURLOPT_HEADERDATA, r);
    if (curl_multi_add_handle(r->k->m, r->k->c) != CURLM_OK) {
        curl_slist_free_all(r->q.headers);
        r->q.headers = NULL;
        return r->fail_rc = bs__error(BLOBSTORE_ENOMEM, "s3: cannot start a GET");
    }
    r->active = 1;
    return 0;
}

/* The current transfer is over (or abandoned). */
static void rd_end(s3_reader *r, CURLcode result)
{
    curl_multi_remove_handle(r->k->m, r->k->c);
    curl_slist_free_all(r->q.headers);
    r->q.headers = NULL;
    r->active = 0;
    r->result = result;
}

/* One step of the transfer: what has arrived, or a wait for it. */
static void rd_pump(s3_reader *r)
{
    int running = 0;
    CURLMcode mc = curl_multi_perform(r->k->m, &running);
    if (mc == CURLM_OK && running) {
        if (!r->paused && (r->dst_len < r->dst_cap || !r->size_known))
            curl_multi_poll(r->k->m, NULL, 0, 1000, NULL);
        return;
    }
    CURLcode res = mc == CURLM_OK ? CURLE_OK : CURLE_RECV_ERROR;
    CURLMsg *msg;
    int left;
    while ((msg = curl_multi_info_read(r->k->m, &left)) != NULL)
        if (msg->msg == CURLMSG_DONE && res == CURLE_OK)
            res = msg->data.result;
    rd_end(r, res);
}

/* The transfer ended before the object's end: resume it, or the error. */
static int rd_resume(s3_reader *r)
{
    char why[256];
    if (r->hdr_done && !r->hdr_ok) {
        long st = r->q.status;
        if (st == 404 && !r->size_known)
            return r->fail_rc = bs__error(BLOBSTORE_ENOTFOUND, "s3: %s is missing", r->key);
        if (st < 500 && st != 429)
            return r->fail_rc = status_error(&r->q, "read");
        snprintf(why, sizeof(why), "HTTP %ld", st);
    } else if (r->result != CURLE_OK) {
        snprintf(why, sizeof(why), "%s", curl_easy_strerror(r->result));
    } else {
        snprintf(why, sizeof(why), "the answer ended at byte %llu of %llu",
                 (unsigned long long)r->recv, (unsigned long long)r->size);
    }
    if (r->recv > r->mark) { /* progress since the last failure: a fresh count */
        r->tries = 0;
        r->mark = r->recv;
    }
    if (++r->tries >= MAX_TRIES)
        return r->fail_rc = bs__error(BLOBSTORE_EIO, "s3: GET %s: %s (after %d attempts)", r->url,
                                      why, r->tries);
    long delay_ms = 100L << (r->tries - 1);
    struct timespec ts = {delay_ms / 1000, (delay_ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
    return rd_start(r);
}

/* Drive the transfer until the caller's buffer is full or the object has
 * been read (opening: until the object's size is known). */
static int rd_drive(s3_reader *r, int opening)
{
    for (;;) {
        if (opening && r->size_known)
            return 0;
        if (!opening) { /* the spill first */
            size_t avail = r->spill.len - r->spill_pos, room = r->dst_cap - r->dst_len;
            size_t k = avail < room ? avail : room;
            if (k) {
                memcpy(r->dst + r->dst_len, r->spill.data + r->spill_pos, k);
                r->dst_len += k;
                r->spill_pos += k;
            }
            if (r->dst_len == r->dst_cap)
                return 0;
        }
        if (r->fail_rc)
            return r->fail_rc;
        if (r->active) {
            if (r->paused) { /* room again: what it holds comes now */
                r->paused = 0;
                curl_easy_pause(r->k->c, CURLPAUSE_CONT);
                continue;
            }
            rd_pump(r);
            continue;
        }
        if (r->size_known && r->recv == r->size)
            return 0; /* the end */
        int rc = rd_resume(r);
        if (rc)
            return rc;
    }
}

static int s3r_read(blobstore_blob_reader *pr, void *buf, size_t cap, size_t *out_n)
{
    s3_reader *r = (s3_reader *)pr;
    r->dst = buf;
    r->dst_cap = cap;
    r->dst_len = 0;
    int rc = rd_drive(r, 0);
    *out_n = rc ? 0 : r->dst_len;
    r->dst = NULL;
    r->dst_cap = r->dst_len = 0;
    return rc;
}

static void s3r_close(blobstore_blob_reader *pr)
{
    s3_reader *r = (s3_reader *)pr;
    if (r->k) {
        /* read to its end: let the transfer finish, keeping the connection */
        for (int i = 0; r->active && !r->fail_rc && r->size_known && r->recv == r->size && i < 100;
             i++) {
            int running = 0;
            if (curl_multi_perform(r->k->m, &running) != CURLM_OK || !running)
                rd_pump(r);
            else
                curl_multi_poll(r->k->m, NULL, 0, 10, NULL);
        }
        int whole = !r->active && !r->fail_rc;
        if (r->active) /* given up midway: libcurl closes the connection */
            rd_end(r, CURLE_OK);
        if (whole)
            conn_put(r->be, r->k);
        else
            conn_free(r->k);
    }
    bs__buf_free(&r->q.resp);
    bs__buf_free(&r->spill);
    free(r->url);
    free(r->key);
    free(r);
}

/* HEAD an object: 1 with *size, 0 if absent, or an error. */
static int head(s3_backend *be, const char *key, uint64_t *size)
{
    s3_req r = {.method = "HEAD", .key = key};
    int rc = s3_do(be, &r);
    if (!rc) {
        if (r.status == 200) {
            rc = 1;
            if (size)
                *size = r.length > 0 ? (uint64_t)r.length : 0;
        } else if (r.status == 404) {
            rc = 0;
        } else {
            rc = status_error(&r, key);
        }
    }
    bs__buf_free(&r.resp);
    return rc;
}

static int s3_reader_new(blobstore_blob_reader **out, blobstore_blob_backend *pbe, const char *name)
{
    s3_backend *be = (s3_backend *)pbe;
    int rc = name_check(name);
    if (rc)
        return rc;
    s3_reader *r = bs__calloc(1, sizeof(*r));
    if (!r)
        return BLOBSTORE_ENOMEM;
    r->be = be;
    if (!(r->key = object_key(be, name)) || !(r->url = object_url(be, r->key, NULL)) ||
        !(r->k = conn_get(be))) {
        s3r_close(&r->parent);
        return bs__error(BLOBSTORE_ENOMEM, "s3: out of memory");
    }
    if ((rc = rd_start(r)) != 0 || (rc = rd_drive(r, 1)) != 0) {
        s3r_close(&r->parent);
        return rc;
    }
    r->parent.read = s3r_read;
    r->parent.close = s3r_close;
    *out = &r->parent;
    return 0;
}

static int s3_read_range(blobstore_blob_backend *pbe, const char *name, uint64_t off, void *buf,
                         size_t len, size_t *out_n)
{
    s3_backend *be = (s3_backend *)pbe;
    *out_n = 0;
    int rc;
    char *key = checked_key(be, name, &rc);
    if (!key || len == 0) {
        free(key);
        return rc;
    }
    char range[64];
    snprintf(range, sizeof(range), "bytes=%llu-%llu", (unsigned long long)off,
             (unsigned long long)(off + len - 1));
    s3_req r = {.method = "GET", .key = key, .range = range};
    rc = s3_do(be, &r);
    if (!rc && r.status == 416) { /* the range starts at or past the end */
        rc = 0;
    } else if (!rc && r.status != 206 && r.status != 200) {
        rc = status_error(&r, "ranged read");
    } else if (!rc) {
        /* 200: the server ignored the range and sent the whole object */
        const unsigned char *p = r.resp.data;
        size_t n = r.resp.len;
        if (r.status == 200) {
            p = off < n ? p + off : p + n;
            n = off < n ? n - (size_t)off : 0;
        }
        *out_n = n < len ? n : len;
        if (*out_n)
            memcpy(buf, p, *out_n);
    }
    bs__buf_free(&r.resp);
    free(key);
    return rc;
}

/* ---- exists, remove, list ---- */

static int s3_exists(blobstore_blob_backend *pbe, const char *name)
{
    int rc;
    char *key = checked_key((s3_backend *)pbe, name, &rc);
    if (key)
        rc = head((s3_backend *)pbe, key, NULL);
    free(key);
    return rc;
}

static int s3_remove(blobstore_blob_backend *pbe, const char *name)
{
    s3_backend *be = (s3_backend *)pbe;
    int rc;
    char *key = checked_key(be, name, &rc);
    if (!key)
        return rc;
    rc = head(be, key, NULL); /* DELETE answers 204 for absent keys too */
    if (rc == 0)
        rc = bs__error(BLOBSTORE_ENOTFOUND, "blob %s does not exist", name);
    else if (rc == 1)
        rc = delete_key(be, key, NULL);
    free(key);
    return rc;
}

/* A temp's name: "w-<hex>" for a temporary object, "w-<hex> <uploadId>"
 * for an unfinished multipart upload to it, "<blob name> <uploadId>" for
 * one straight to a blob's key (BS__BLOB_CTL_WRITER_FOR). The last is only
 * ever aborted (DELETE ?uploadId=), which leaves the key's object, if any,
 * alone. */
static int s3_remove_temp(blobstore_blob_backend *pbe, const char *name)
{
    s3_backend *be = (s3_backend *)pbe;
    const char *sp = strchr(name, ' ');
    char *base = sp ? bs__strndup(name, (size_t)(sp - name)) : bs__strdup(name);
    if (!base)
        return BLOBSTORE_ENOMEM;
    int rc = name_check(base), tmp = strncmp(base, "w-", 2) == 0;
    if (!rc && !tmp && !sp)
        rc = bs__error(BLOBSTORE_EINVAL, "s3: %s is not a temp", name);
    char *key = rc    ? NULL
                : tmp ? bs__s3_printf("%stmp/%s", be->prefix, base)
                      : object_key(be, base);
    char *id = sp ? bs__s3_uri_encode(sp + 1, 0) : NULL;
    char *q = id ? bs__s3_printf("uploadId=%s", id) : NULL;
    if (!rc && (!key || (sp && !q)))
        rc = BLOBSTORE_ENOMEM;
    if (!rc)
        rc = delete_key(be, key, q);
    free(base);
    free(key);
    free(id);
    free(q);
    return rc;
}

/* Page through a listing (ListObjectsV2 or ListMultipartUploads). */
static int list_pages(s3_backend *be, int uploads, blobstore_blob_list_fn fn, void *ctx)
{
    char *eprefix = bs__s3_uri_encode(be->prefix, 0);
    char *a = NULL, *b = NULL; /* where the next page starts */
    if (!eprefix)
        return BLOBSTORE_ENOMEM;
    int rc = 0;
    for (int first = 1; first || a;) {
        char *q;
        /* parameters in alphabetical order (SigV4) */
        if (uploads)
            q = a ? bs__s3_printf("key-marker=%s&max-uploads=%u&prefix=%s&upload-id-marker=%s&"
                                  "uploads=",
                                  a, be->page, eprefix, b)
                  : bs__s3_printf("max-uploads=%u&prefix=%s&uploads=", be->page, eprefix);
        else
            q = a ? bs__s3_printf("continuation-token=%s&list-type=2&max-keys=%u&prefix=%s", a,
                                  be->page, eprefix)
                  : bs__s3_printf("list-type=2&max-keys=%u&prefix=%s", be->page, eprefix);
        free(a);
        free(b);
        a = b = NULL;
        first = 0;
        if (!q) {
            rc = BLOBSTORE_ENOMEM;
            break;
        }
        s3_req r = {.method = "GET", .query = q};
        rc = s3_do(be, &r);
        free(q);
        if (!rc && r.status != 200)
            rc = status_error(&r, "list");
        if (!rc)
            rc = bs__buf_append(&r.resp, "", 1);
        if (!rc)
            rc = bs__s3_list_page((const char *)r.resp.data, r.resp.len - 1, be->prefix,
                                  be->shard_chars, be->list_all ? 0 : be->grace,
                                  r.date ? r.date : time(NULL), uploads, fn, ctx, &a, &b);
        bs__buf_free(&r.resp);
        if (rc)
            break;
    }
    free(a);
    free(b);
    free(eprefix);
    return rc;
}

static int s3_ctl(blobstore_blob_backend *pbe, int op, void *arg)
{
    s3_backend *be = (s3_backend *)pbe;
    if (op == BLOBSTORE_BLOB_CTL_LOCAL_WRITERS) {
        if (!be->grace_given) /* an explicit orphan_grace wins */
            be->grace = 0;
        return 0;
    }
    if (op == BLOBSTORE_BLOB_CTL_LIST_ALL) {
        be->list_all = arg && *(const int *)arg;
        return 0;
    }
    if (op == BS__BLOB_CTL_PARALLEL) /* requests in flight at once hide their latency */
        return 0;
    if (op == BS__BLOB_CTL_WRITER_FOR)
        return s3_writer_for(be, arg);
    if (op == BS__BLOB_CTL_SIZE) {
        bs_blob_size *q = arg;
        int rc;
        char *key = checked_key(be, q->name, &rc);
        if (key) {
            rc = head(be, key, &q->size);
            if (rc == 0)
                rc = bs__error(BLOBSTORE_ENOTFOUND, "s3: %s is missing", key);
            else if (rc == 1)
                rc = 0;
        }
        free(key);
        return rc;
    }
    return bs__error(BLOBSTORE_EUNSUPPORTED, "s3: unknown ctl operation %d", op);
}

static int s3_list(blobstore_blob_backend *pbe, blobstore_blob_list_fn fn, void *ctx)
{
    s3_backend *be = (s3_backend *)pbe;
    int rc = list_pages(be, 0, fn, ctx);
    return rc ? rc : list_pages(be, 1, fn, ctx);
}

/* ---- the backend ---- */

static void s3_free(blobstore_blob_backend *pbe)
{
    s3_backend *be = (s3_backend *)pbe;
    if (!be)
        return;
    for (int i = 0; i < be->npool; i++)
        conn_free(be->pool[i]);
    pthread_mutex_destroy(&be->mu);
    free(be->endpoint);
    free(be->bucket);
    free(be->prefix);
    free(be->region);
    free(be->sigv4);
    free(be->userpwd);
    free(be->token);
    free(be);
}

static pthread_once_t curl_once = PTHREAD_ONCE_INIT;
static void curl_init(void)
{
    curl_global_init(CURL_GLOBAL_DEFAULT);
}

/* Value of query parameter name in q ("a=1&b=2"), percent-decoded, or NULL. */
static char *query_param(const char *q, const char *name)
{
    size_t nl = strlen(name);
    for (const char *p = q; p && *p;) {
        const char *amp = strchr(p, '&');
        size_t seg = amp ? (size_t)(amp - p) : strlen(p);
        if (seg > nl && strncmp(p, name, nl) == 0 && p[nl] == '=') {
            char *v = bs__strndup(p + nl + 1, seg - nl - 1), *o = v;
            if (!v)
                return NULL;
            for (const char *s = v; *s; s++) {
                unsigned int x;
                if (*s == '%' && s[1] && s[2] && sscanf(s + 1, "%2x", &x) == 1) {
                    *o++ = (char)x;
                    s += 2;
                } else {
                    *o++ = *s;
                }
            }
            *o = 0;
            return v;
        }
        p = amp ? amp + 1 : NULL;
    }
    return NULL;
}

static int ensure_bucket(s3_backend *be)
{
    s3_req r = {.method = "HEAD"};
    int rc = s3_do(be, &r);
    bs__buf_free(&r.resp);
    if (rc)
        return rc;
    if (r.status == 200)
        return 0;
    if (r.status != 404)
        return bs__error(BLOBSTORE_EIO, "s3: bucket %s: HTTP %ld%s", be->bucket, r.status,
                         r.status == 403 ? " (access denied: check credentials)" : "");
    char *cfg = strcmp(be->region, "us-east-1") == 0
                    ? NULL
                    : bs__s3_printf("<CreateBucketConfiguration><LocationConstraint>%s"
                                    "</LocationConstraint></CreateBucketConfiguration>",
                                    be->region);
    s3_req c = {.method = "PUT", .body = cfg, .body_len = cfg ? strlen(cfg) : 0};
    rc = s3_do(be, &c);
    if (!rc && c.status != 200) {
        char code[128];
        error_code(&c, code, sizeof(code));
        if (strcmp(code, "BucketAlreadyOwnedByYou") != 0)
            rc = bs__error(BLOBSTORE_EIO, "s3: cannot create bucket %s: HTTP %ld %s", be->bucket,
                           c.status, code);
    }
    bs__buf_free(&c.resp);
    free(cfg);
    return rc;
}

static const char *env(const char *name)
{
    const char *v = getenv(name);
    return v && *v ? v : NULL;
}

/* The URL parameters we know; anything else is a mistake worth reporting. */
static int params_check(const char *q, const char *url)
{
    static const char *const known[] = {"endpoint", "region",         "orphan_grace", "copy_limit",
                                        "timeout",  "list_page_size", "sign_payload"};
    for (const char *p = q; p && *p;) {
        const char *amp = strchr(p, '&'), *eq = strchr(p, '=');
        size_t seg = amp ? (size_t)(amp - p) : strlen(p);
        size_t nl = eq && (size_t)(eq - p) < seg ? (size_t)(eq - p) : seg;
        size_t k;
        for (k = 0; k < sizeof(known) / sizeof(known[0]); k++)
            if (strlen(known[k]) == nl && strncmp(p, known[k], nl) == 0)
                break;
        if (k == sizeof(known) / sizeof(known[0]))
            return bs__error(BLOBSTORE_EINVAL,
                             "s3 URL \"%s\": unknown parameter \"%.*s\" (known: endpoint, "
                             "region, orphan_grace, timeout, copy_limit, list_page_size, "
                             "sign_payload)",
                             url, (int)nl, p);
        p = amp ? amp + 1 : NULL;
    }
    return 0;
}

/* A non-negative integer parameter, or def when absent. */
static int param_u64(uint64_t *out, const char *q, const char *name, uint64_t def, const char *url)
{
    *out = def;
    char *v = q ? query_param(q, name) : NULL;
    if (!v)
        return 0;
    char *end;
    errno = 0;
    unsigned long long x = strtoull(v, &end, 10);
    int bad = !*v || *end || errno || v[0] == '-';
    free(v);
    if (bad)
        return bs__error(BLOBSTORE_EINVAL, "s3 URL \"%s\": %s must be a non-negative integer", url,
                         name);
    *out = x;
    return 0;
}

int bs__module_blob_new(blobstore_blob_backend **out, const char *url, int shard_chars)
{
    if (!out || !url || strncmp(url, "s3://", 5) != 0)
        return bs__error(BLOBSTORE_EINVAL,
                         "s3 backend needs a URL s3://bucket[/prefix][?endpoint=...&region=...], "
                         "not \"%s\"",
                         url ? url : "(null)");
    if (shard_chars < 0 || shard_chars > 8)
        return bs__error(BLOBSTORE_EINVAL, "shard_chars must be 0..8, not %d", shard_chars);
    pthread_once(&curl_once, curl_init);
    s3_backend *be = bs__calloc(1, sizeof(*be));
    if (!be)
        return BLOBSTORE_ENOMEM;
    pthread_mutex_init(&be->mu, NULL);
    be->shard_chars = shard_chars;
    int rc = 0;
    const char *b = url + 5, *q = strchr(b, '?');
    size_t blen = q ? (size_t)(q - b) : strlen(b);
    const char *slash = memchr(b, '/', blen);
    if (q)
        q++;
    be->bucket = bs__strndup(b, slash ? (size_t)(slash - b) : blen);
    char *prefix = slash ? bs__strndup(slash + 1, blen - (size_t)(slash + 1 - b)) : bs__strdup("");
    char *qendpoint = q ? query_param(q, "endpoint") : NULL;
    char *qregion = q ? query_param(q, "region") : NULL;
    char *qsign = q ? query_param(q, "sign_payload") : NULL;
    uint64_t grace, copy_max, page, timeout;
    if (!be->bucket || !prefix) {
        rc = BLOBSTORE_ENOMEM;
        goto done;
    }
    if ((rc = params_check(q, url)) != 0 ||
        (rc = param_u64(&grace, q, "orphan_grace", GRACE_DEFAULT, url)) != 0 ||
        (rc = param_u64(&copy_max, q, "copy_limit", COPY_MAX, url)) != 0 ||
        (rc = param_u64(&page, q, "list_page_size", 1000, url)) != 0 ||
        (rc = param_u64(&timeout, q, "timeout", 30, url)) != 0)
        goto done;
    if (timeout < 1 || timeout > 3600) {
        rc = bs__error(BLOBSTORE_EINVAL, "s3 URL \"%s\": timeout must be 1..3600 seconds", url);
        goto done;
    }
    be->timeout = (long)timeout;
    if (page < 1 || page > 1000) {
        rc = bs__error(BLOBSTORE_EINVAL, "s3 URL \"%s\": list_page_size must be 1..1000", url);
        goto done;
    }
    be->page = (unsigned)page;
    be->grace = grace > 100L * 365 * 86400 ? 100L * 365 * 86400 : (long)grace;
    {
        char *given = q ? query_param(q, "orphan_grace") : NULL;
        be->grace_given = given != NULL;
        free(given);
    }
    if (copy_max < ((uint64_t)5 << 20) || copy_max > COPY_MAX) {
        rc = bs__error(BLOBSTORE_EINVAL, "s3 URL \"%s\": copy_limit must be 5 MiB..5 GiB", url);
        goto done;
    }
    be->copy_max = copy_max;
    if (!*be->bucket) {
        rc = bs__error(BLOBSTORE_EINVAL, "s3 URL \"%s\" has no bucket", url);
        goto done;
    }
    for (const char *c = be->bucket; *c; c++)
        if (!((*c >= 'a' && *c <= 'z') || (*c >= '0' && *c <= '9') || *c == '-' || *c == '.')) {
            rc = bs__error(BLOBSTORE_EINVAL,
                           "s3 URL \"%s\": bucket names are lowercase letters, digits, '-' "
                           "and '.'",
                           url);
            goto done;
        }
    /* prefix without leading/trailing '/', then one trailing '/' */
    size_t pl = strlen(prefix);
    while (pl && prefix[pl - 1] == '/')
        prefix[--pl] = 0;
    const char *ps = prefix;
    while (*ps == '/')
        ps++;
    be->prefix = *ps ? bs__s3_printf("%s/", ps) : bs__strdup("");
    const char *region = qregion ? qregion : env("AWS_REGION");
    if (!region)
        region = env("AWS_DEFAULT_REGION");
    be->region = bs__strdup(region ? region : "us-east-1");
    const char *endpoint = qendpoint ? qendpoint : env("AWS_ENDPOINT_URL_S3");
    if (!endpoint)
        endpoint = env("AWS_ENDPOINT_URL");
    if (endpoint) {
        be->path_style = 1;
        be->endpoint = bs__strdup(endpoint);
    } else if (be->region) {
        be->endpoint = bs__s3_printf("https://s3.%s.amazonaws.com", be->region);
    }
    if (!be->prefix || !be->region || !be->endpoint) {
        rc = BLOBSTORE_ENOMEM;
        goto done;
    }
    size_t el = strlen(be->endpoint);
    while (el && be->endpoint[el - 1] == '/')
        be->endpoint[--el] = 0;
    if (strncmp(be->endpoint, "http://", 7) != 0 && strncmp(be->endpoint, "https://", 8) != 0) {
        rc = bs__error(BLOBSTORE_EINVAL, "s3 endpoint \"%s\" is not an http(s) URL", be->endpoint);
        goto done;
    }
    const char *ak = env("AWS_ACCESS_KEY_ID"), *sk = env("AWS_SECRET_ACCESS_KEY");
    if (!ak || !sk) {
        rc = bs__error(BLOBSTORE_EINVAL,
                       "s3: AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY must be set");
        goto done;
    }
    /* auto: object bytes unsigned where nothing can damage them on the way
     * (docs/s3.md); always: every body's SHA-256 signed */
    if (qsign && strcmp(qsign, "auto") != 0 && strcmp(qsign, "always") != 0) {
        rc = bs__error(BLOBSTORE_EINVAL, "s3 URL \"%s\": sign_payload must be auto or always", url);
        goto done;
    }
    be->unsigned_data =
        !(qsign && strcmp(qsign, "always") == 0) && bs__s3_endpoint_private(be->endpoint);
    be->userpwd = bs__s3_printf("%s:%s", ak, sk);
    be->sigv4 = bs__s3_printf("aws:amz:%s:s3", be->region);
    if (env("AWS_SESSION_TOKEN"))
        be->token = bs__strdup(env("AWS_SESSION_TOKEN"));
    if (!be->userpwd || !be->sigv4 || (env("AWS_SESSION_TOKEN") && !be->token)) {
        rc = BLOBSTORE_ENOMEM;
        goto done;
    }
    rc = ensure_bucket(be);
done:
    free(prefix);
    free(qendpoint);
    free(qregion);
    free(qsign);
    if (rc) {
        s3_free(&be->parent);
        return rc;
    }
    be->parent.version = BLOBSTORE_BLOB_BACKEND_VERSION;
    be->parent.writer = s3_writer_new;
    be->parent.reader = s3_reader_new;
    be->parent.exists = s3_exists;
    be->parent.remove = s3_remove;
    be->parent.list = s3_list;
    be->parent.remove_temp = s3_remove_temp;
    be->parent.free = s3_free;
    be->parent.read_range = s3_read_range;
    be->parent.ctl = s3_ctl;
    *out = &be->parent;
    return 0;
}
