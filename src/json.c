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
