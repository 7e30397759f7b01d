/*
 * json.c - JSON text output for metadata.
 *
 * jansson prints real numbers with 17 significant digits, so 0.95 comes back
 * as 0.94999999999999996. Metadata is shown to people, so this writer prints
 * every real with the fewest digits that read back to the same double, and is
 * otherwise compact JSON with object members in their stored order.
 */
#include "internal.h"

#include <jansson.h>
#include <math.h>

static int put_str(bs_buf *b, const char *s, size_t n)
{
    static const char hex[] = "0123456789abcdef";
    int rc = bs__buf_append(b, "\"", 1);
    for (size_t i = 0; !rc && i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        char esc[7];
        if (c == '"' || c == '\\') {
            esc[0] = '\\';
            esc[1] = (char)c;
            rc = bs__buf_append(b, esc, 2);
        } else if (c < 0x20) {
            const char *named = c == '\n'   ? "\\n"
                                : c == '\t' ? "\\t"
                                : c == '\r' ? "\\r"
                                : c == '\b' ? "\\b"
                                : c == '\f' ? "\\f"
                                            : NULL;
            if (named) {
                rc = bs__buf_append(b, named, 2);
            } else {
                memcpy(esc, "\\u00", 4);
                esc[4] = hex[c >> 4];
                esc[5] = hex[c & 15];
                rc = bs__buf_append(b, esc, 6);
            }
        } else {
            rc = bs__buf_append(b, &s[i], 1);
        }
    }
    return rc ? rc : bs__buf_append(b, "\"", 1);
}

static int put_real(bs_buf *b, double v)
{
    char tmp[40];
    if (!isfinite(v)) /* not representable in JSON; jansson never produces these */
        return bs__buf_append(b, "null", 4);
    for (int prec = 15; prec <= 17; prec++) {
        snprintf(tmp, sizeof(tmp), "%.*g", prec, v);
        if (strtod(tmp, NULL) == v)
            break;
    }
    /* Keep it a real: 1.0, not 1. */
    if (!strpbrk(tmp, ".eEn"))
        strcat(tmp, ".0");
    return bs__buf_append(b, tmp, strlen(tmp));
}

static int put_value(bs_buf *b, const json_t *v)
{
    char tmp[32];
    int rc = 0;
    switch (json_typeof(v)) {
    case JSON_OBJECT: {
        const char *k;
        json_t *m;
        int first = 1;
        rc = bs__buf_append(b, "{", 1);
        json_object_foreach((json_t *)v, k, m)
        {
            if (!rc && !first)
                rc = bs__buf_append(b, ",", 1);
            first = 0;
            if (!rc)
                rc = put_str(b, k, strlen(k));
            if (!rc)
                rc = bs__buf_append(b, ":", 1);
            if (!rc)
                rc = put_value(b, m);
        }
        return rc ? rc : bs__buf_append(b, "}", 1);
    }
    case JSON_ARRAY:
        rc = bs__buf_append(b, "[", 1);
        for (size_t i = 0; !rc && i < json_array_size(v); i++) {
            if (i)
                rc = bs__buf_append(b, ",", 1);
            if (!rc)
                rc = put_value(b, json_array_get(v, i));
        }
        return rc ? rc : bs__buf_append(b, "]", 1);
    case JSON_STRING:
        return put_str(b, json_string_value(v), json_string_length(v));
    case JSON_INTEGER:
        snprintf(tmp, sizeof(tmp), "%" JSON_INTEGER_FORMAT, json_integer_value(v));
        return bs__buf_append(b, tmp, strlen(tmp));
    case JSON_REAL:
        return put_real(b, json_real_value(v));
    case JSON_TRUE:
        return bs__buf_append(b, "true", 4);
    case JSON_FALSE:
        return bs__buf_append(b, "false", 5);
    default:
        return bs__buf_append(b, "null", 4);
    }
}

char *bs__json_dumps(const json_t *v)
{
    bs_buf b = {0};
    if (put_value(&b, v) || bs__buf_append(&b, "", 1)) {
        bs__buf_free(&b);
        return NULL;
    }
    return (char *)b.data;
}

/* ---- the compact text of a flat object, without parsing it into values ---- */

enum { FAST_MEMBERS = 32 };

static const char *skip_ws(const char *p)
{
    while (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r')
        p++;
    return p;
}

/* A string of printable ASCII without escapes: its end (past the closing
 * quote), or NULL. */
static const char *plain_string(const char *p)
{
    if (*p++ != '"')
        return NULL;
    while (*p >= 0x20 && *p < 0x7f && *p != '"' && *p != '\\')
        p++;
    return *p == '"' ? p + 1 : NULL;
}

/* A value the compact text writes as it reads: a plain string, an integer
 * of at most 18 digits with no leading zero (and not -0: read as 0), true,
 * false or null. Its end, or NULL. */
static const char *plain_value(const char *p)
{
    if (*p == '"')
        return plain_string(p);
    if (*p == '-' || (*p >= '0' && *p <= '9')) {
        const char *d = p + (*p == '-');
        size_t n = 0;
        while (d[n] >= '0' && d[n] <= '9')
            n++;
        if (n == 0 || n > 18 || (d[0] == '0' && (n > 1 || d != p)))
            return NULL;
        d += n;
        return *d == '.' || *d == 'e' || *d == 'E' ? NULL : d; /* a real: parse it */
    }
    static const char *const words[] = {"true", "false", "null"};
    for (size_t i = 0; i < 3; i++) {
        size_t n = strlen(words[i]);
        if (strncmp(p, words[i], n) == 0)
            return p + n;
    }
    return NULL;
}

int bs__json_object_compact(const char *text, char **out)
{
    *out = NULL;
    const char *p = skip_ws(text);
    if (*p++ != '{')
        return 0;
    /* the members' names, for duplicates, and the pieces to copy */
    const char *name[FAST_MEMBERS], *val[FAST_MEMBERS], *end[FAST_MEMBERS];
    size_t nlen[FAST_MEMBERS], n = 0, total = 2;
    p = skip_ws(p);
    if (*p != '}') {
        for (;;) {
            if (n == FAST_MEMBERS)
                return 0;
            const char *k = p, *ke = plain_string(p);
            if (!ke)
                return 0;
            p = skip_ws(ke);
            if (*p++ != ':')
                return 0;
            p = skip_ws(p);
            const char *ve = plain_value(p);
            if (!ve)
                return 0;
            name[n] = k;
            nlen[n] = (size_t)(ke - k);
            val[n] = p;
            end[n] = ve;
            for (size_t i = 0; i < n; i++)
                if (nlen[i] == nlen[n] && memcmp(name[i], k, nlen[n]) == 0)
                    return 0; /* a duplicate: refused by the parse */
            total += nlen[n] + 1 + (size_t)(ve - p) + 1;
            n++;
            p = skip_ws(ve);
            if (*p == '}')
                break;
            if (*p++ != ',')
                return 0;
            p = skip_ws(p);
        }
    }
    if (*skip_ws(p + 1) != '\0')
        return 0;
    char *o = bs__malloc(total + 1), *w = o;
    if (!o)
        return BLOBSTORE_ENOMEM;
    *w++ = '{';
    for (size_t i = 0; i < n; i++) {
        if (i)
            *w++ = ',';
        memcpy(w, name[i], nlen[i]);
        w += nlen[i];
        *w++ = ':';
        memcpy(w, val[i], (size_t)(end[i] - val[i]));
        w += end[i] - val[i];
    }
    *w++ = '}';
    *w = '\0';
    *out = o;
    return 1;
}
