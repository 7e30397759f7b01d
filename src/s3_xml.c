/*
 * s3_xml.c - the S3 backend's text handling that needs no network: strings,
 * URI encoding, the XML of responses and the parsing of a listing page.
 *
 * Apart from blob_s3.c so that the libcurl-free parts are built into the
 * tests and the fuzz target (fuzz/s3list_fuzz.c) without the S3 module.
 */
#include "s3_int.h"

#include <stdarg.h>

/* ---- strings ---- */

char *bs__s3_printf(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n < 0)
        return NULL;
    char *s = bs__malloc((size_t)n + 1);
    if (!s)
        return NULL;
    va_start(ap, fmt);
    vsnprintf(s, (size_t)n + 1, fmt, ap);
    va_end(ap);
    return s;
}

/* URI-encode s (RFC 3986 unreserved kept; '/' kept when keep_slash). */
char *bs__s3_uri_encode(const char *s, int keep_slash)
{
    size_t n = strlen(s);
    char *out = bs__malloc(n * 3 + 1), *o = out;
    if (!out)
        return NULL;
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        unsigned char c = *p;
        if ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
            c == '-' || c == '_' || c == '.' || c == '~' || (keep_slash && c == '/')) {
            *o++ = (char)c;
        } else {
            static const char hex[] = "0123456789ABCDEF";
            *o++ = '%';
            *o++ = hex[c >> 4];
            *o++ = hex[c & 15];
        }
    }
    *o = 0;
    return out;
}

/* The text of the next <tag>...</tag> at or after *pos, XML-unescaped, or
 * NULL; *pos moves past it. */
char *bs__s3_xml_next(const char *doc, size_t len, size_t *pos, const char *tag)
{
    char open[64], close[64];
    snprintf(open, sizeof(open), "<%s>", tag);
    snprintf(close, sizeof(close), "</%s>", tag);
    if (*pos >= len)
        return NULL;
    const char *a = strstr(doc + *pos, open);
    if (!a)
        return NULL;
    a += strlen(open);
    const char *b = strstr(a, close);
    if (!b)
        return NULL;
    *pos = (size_t)(b - doc) + strlen(close);
    char *out = bs__malloc((size_t)(b - a) + 1), *o = out;
    if (!out)
        return NULL;
    static const struct {
        const char *ent;
        char c;
    } ents[] = {{"&amp;", '&'}, {"&lt;", '<'}, {"&gt;", '>'}, {"&quot;", '"'}, {"&apos;", '\''}};
    for (const char *p = a; p < b;) {
        size_t k;
        for (k = 0; k < sizeof(ents) / sizeof(ents[0]); k++) {
            size_t el = strlen(ents[k].ent);
            if ((size_t)(b - p) >= el && memcmp(p, ents[k].ent, el) == 0) {
                *o++ = ents[k].c;
                p += el;
                break;
            }
        }
        if (k == sizeof(ents) / sizeof(ents[0]))
            *o++ = *p++;
    }
    *o = 0;
    return out;
}

/* Seconds since the epoch of an S3 timestamp "2026-11-24T20:35:00.000Z",
 * or 0. */
static time_t iso_time(const char *s)
{
    struct tm tm;
    memset(&tm, 0, sizeof(tm));
    if (sscanf(s, "%d-%d-%dT%d:%d:%d", &tm.tm_year, &tm.tm_mon, &tm.tm_mday, &tm.tm_hour,
               &tm.tm_min, &tm.tm_sec) != 6)
        return 0;
    tm.tm_year -= 1900;
    tm.tm_mon -= 1;
    return timegm(&tm);
}

/* The blob name of an object key relative to the prefix when it has this
 * backend's layout ("ab/abcdef.blob", or "abcdef.blob" unsharded), else
 * NULL: other objects under the prefix are not ours to report. */
static const char *layout_name(int shard_chars, const char *rel)
{
    const char *name = rel;
    if (shard_chars) {
        const char *slash = strchr(rel, '/');
        if (!slash || (size_t)(slash - rel) != (size_t)shard_chars)
            return NULL;
        name = slash + 1;
        if (strncmp(name, rel, (size_t)shard_chars) != 0)
            return NULL;
    }
    return bs__blob_name_ok(name) ? name : NULL;
}

int bs__s3_list_page(const char *doc, size_t len, const char *prefix, int shard_chars, long grace,
                     time_t now, int uploads, blobstore_blob_list_fn fn, void *ctx, char **next_a,
                     char **next_b)
{
    size_t plen = strlen(prefix), pos = 0;
    const char *item = uploads ? "Upload" : "Contents";
    char *it;
    int rc = 0;
    *next_a = *next_b = NULL;
    while (!rc && (it = bs__s3_xml_next(doc, len, &pos, item)) != NULL) {
        size_t ip = 0, il = strlen(it);
        char *key = bs__s3_xml_next(it, il, &ip, "Key");
        ip = 0;
        char *id = uploads ? bs__s3_xml_next(it, il, &ip, "UploadId") : NULL;
        ip = 0;
        char *when = bs__s3_xml_next(it, il, &ip, uploads ? "Initiated" : "LastModified");
        time_t t = when ? iso_time(when) : 0;
        int young = grace > 0 && (t == 0 || now - t < grace);
        if (key && !young && strncmp(key, prefix, plen) == 0) {
            const char *rel = key + plen;
            if (strncmp(rel, "tmp/w-", 6) == 0 && !strchr(rel + 4, '/') &&
                bs__blob_name_ok(rel + 4)) {
                char *nm = uploads && id ? bs__s3_printf("%s %s", rel + 4, id) : NULL;
                rc = fn(ctx, nm ? nm : rel + 4, 1);
                free(nm);
            } else if (!uploads && layout_name(shard_chars, rel)) {
                rc = fn(ctx, layout_name(shard_chars, rel), 0);
            } else if (uploads && id && layout_name(shard_chars, rel) &&
                       strncmp(layout_name(shard_chars, rel), "w-", 2) != 0) {
                /* an unfinished upload straight to a blob's key */
                char *nm = bs__s3_printf("%s %s", layout_name(shard_chars, rel), id);
                rc = nm ? fn(ctx, nm, 1) : BLOBSTORE_ENOMEM;
                free(nm);
            }
        }
        free(when);
        free(key);
        free(id);
        free(it);
    }
    size_t tp = 0;
    char *trunc = bs__s3_xml_next(doc, len, &tp, "IsTruncated");
    int more = trunc && strcmp(trunc, "true") == 0;
    free(trunc);
    if (rc || !more)
        return rc;
    tp = 0;
    if (uploads) {
        char *k = bs__s3_xml_next(doc, len, &tp, "NextKeyMarker");
        tp = 0;
        char *i = bs__s3_xml_next(doc, len, &tp, "NextUploadIdMarker");
        *next_a = k ? bs__s3_uri_encode(k, 0) : NULL;
        *next_b = i ? bs__s3_uri_encode(i, 0) : NULL;
        free(k);
        free(i);
        if (!*next_a || !*next_b) {
            free(*next_a);
            free(*next_b);
            *next_a = *next_b = NULL;
            rc = bs__error(BLOBSTORE_EIO, "s3: a truncated upload listing without markers");
        }
    } else {
        char *t = bs__s3_xml_next(doc, len, &tp, "NextContinuationToken");
        *next_a = t ? bs__s3_uri_encode(t, 0) : NULL;
        free(t);
        if (!*next_a)
            rc = bs__error(BLOBSTORE_EIO, "s3: a truncated listing without a token");
    }
    return rc;
}

/* 1 if endpoint ("scheme://host[:port][/...]") is https, or http to the
 * loopback interface (localhost, 127.0.0.0/8, [::1]). */
int bs__s3_endpoint_private(const char *endpoint)
{
    if (strncmp(endpoint, "https://", 8) == 0)
        return 1;
    if (strncmp(endpoint, "http://", 7) != 0)
        return 0;
    const char *h = endpoint + 7;
    size_t n = strcspn(h, ":/?#");
    if (h[0] == '[') { /* an IPv6 literal: only ::1 */
        const char *e = strchr(h, ']');
        return e && (size_t)(e - h) == 4 && strncmp(h, "[::1]", 5) == 0 &&
               (e[1] == 0 || e[1] == ':' || e[1] == '/');
    }
    if (n == 9 && strncasecmp(h, "localhost", 9) == 0)
        return 1;
    /* 127.a.b.c, each a decimal 0..255 */
    unsigned parts = 0, v = 0, digits = 0;
    for (size_t i = 0; i <= n; i++) {
        char c = i < n ? h[i] : '.';
        if (c >= '0' && c <= '9') {
            v = v * 10 + (unsigned)(c - '0');
            if (++digits > 3 || v > 255)
                return 0;
        } else if (c == '.' && digits) {
            if (parts == 0 && v != 127)
                return 0;
            parts++;
            v = digits = 0;
        } else {
            return 0;
        }
    }
    return parts == 4;
}
