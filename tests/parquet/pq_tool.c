/*
 * pq_tool.c - a test helper for the Parquet interoperability checks.
 *
 *   pq_tool write DIR   write one file per codec holding every column type,
 *                       nullable and not (DIR/ours_<codec>.parquet)
 *   pq_tool write-random DIR SEED
 *                       seeded random columns, their statistics to check
 *                       (DIR/random.parquet and DIR/random.json)
 *   pq_tool rewrite IN OUT CODEC
 *                       read IN (any columns, nested too) and write it again
 *                       with our writer under CODEC (the row group and page
 *                       limits from BLOBSTORE_PARQUET_* in the environment)
 *   pq_tool dump FILE   print the file's columns as canonical JSON lines:
 *                       {"name":..., "type":..., "values":[...]} with integers,
 *                       timestamps (in their unit) and dates (days) as decimal
 *                       strings, floats as numbers, binary as hex, nulls as null
 */
#include "parquet/parquet.h"

#include <jansson.h>
#include <math.h>

static void fill(pq_column *c, pq_type t, int nullable, size_t n)
{
    memset(c, 0, sizeof(*c));
    char name[32];
    snprintf(name, sizeof(name), "c_%s%s", bs__pq_type_name(t), nullable ? "_null" : "");
    for (char *p = name; *p; p++)
        if (*p == '[' || *p == ']')
            *p = '_';
    c->name = bs__strdup(name);
    c->type = t;
    c->nullable = nullable;
    c->utc = t == PQ_TIMESTAMP_US;
    size_t w = bs__pq_width(t);
    if (nullable) {
        c->valid = malloc(n);
        for (size_t i = 0; i < n; i++)
            c->valid[i] = i % 4 != 1;
    }
    if (w) {
        c->values = calloc(n, w);
        for (size_t i = 0; i < n; i++) {
            int64_t v = (int64_t)(i * 37) - 500;
            uint8_t *p = (uint8_t *)c->values + i * w;
            if (t == PQ_BOOL)
                *p = (uint8_t)(i % 3 == 0);
            else if (t == PQ_FLOAT) {
                float f = (float)v * 0.5f;
                memcpy(p, &f, 4);
            } else if (t == PQ_DOUBLE) {
                double d = (double)v * 0.125 + 1e-3;
                memcpy(p, &d, 8);
            } else if (t >= PQ_UINT8 && t <= PQ_UINT64) {
                uint64_t u = (uint64_t)(i * 37) + (t == PQ_UINT64 ? (1ull << 63) : 0);
                memcpy(p, &u, w);
            } else if (t >= PQ_TIMESTAMP_MS && t <= PQ_TIMESTAMP_NS) {
                int64_t ts = 1700000000 + (int64_t)i * 3600;
                ts *= t == PQ_TIMESTAMP_MS ? 1000 : t == PQ_TIMESTAMP_US ? 1000000 : 1000000000;
                memcpy(p, &ts, 8);
            } else {
                memcpy(p, &v, w); /* little endian: truncation keeps the low bytes */
            }
        }
    } else {
        c->offsets = malloc((n + 1) * sizeof(uint64_t));
        bs_buf b = {0};
        for (size_t i = 0; i < n; i++) {
            char s[64];
            int len = t == PQ_STRING ? snprintf(s, sizeof(s), "s%zu é", i % 7)
                                     : snprintf(s, sizeof(s), "%c%c%zu", 0, 255, i);
            c->offsets[i] = b.len;
            bs__buf_append(&b, s, (size_t)len);
        }
        c->offsets[n] = b.len;
        c->bytes = b.data;
    }
}

static int write_all(const char *dir)
{
    static const char *codecs[] = {"snappy", "zstd", "gzip", "lz4_raw", "none"};
    size_t n = 100;
    pq_table t = {n, 2 * (PQ_DATE + 1), NULL};
    t.cols = calloc(t.ncols, sizeof(pq_column));
    for (int ty = 0; ty <= PQ_DATE; ty++)
        for (int nl = 0; nl < 2; nl++)
            fill(&t.cols[ty * 2 + nl], (pq_type)ty, nl, n);
    const char *pandas =
        "{\"index_columns\": [{\"kind\": \"range\", \"name\": null, \"start\": 0, "
        "\"stop\": 100, \"step\": 1}], \"column_indexes\": [], \"columns\": [], "
        "\"creator\": {\"library\": \"blobstore\"}, \"pandas_version\": \"1.5.3\"}";
    for (int c = 0; c < 5; c++) {
        pq_write_options o = {.codec = codecs[c], .row_group_rows = 40, .pandas_metadata = pandas};
        uint8_t *file;
        size_t len;
        if (bs__pq_write(&file, &len, &t, &o) != 0) {
            fprintf(stderr, "pq_tool: %s\n", blobstore_errmsg());
            return 1;
        }
        char path[4096];
        snprintf(path, sizeof(path), "%s/ours_%s.parquet", dir, codecs[c]);
        FILE *f = fopen(path, "wb");
        if (!f || fwrite(file, 1, len, f) != len || fclose(f) != 0) {
            fprintf(stderr, "pq_tool: cannot write %s\n", path);
            return 1;
        }
        free(file);
    }
    bs__pq_table_free(&t);
    return 0;
}

static json_t *value(const pq_column *c, size_t i)
{
    if (c->valid && !c->valid[i])
        return json_null();
    char s[64];
    size_t w = bs__pq_width(c->type);
    const uint8_t *p = (const uint8_t *)c->values + i * w;
    switch (c->type) {
    case PQ_BOOL:
        return json_boolean(*p);
    case PQ_FLOAT: {
        float f;
        memcpy(&f, p, 4);
        return json_real(f);
    }
    case PQ_DOUBLE: {
        double d;
        memcpy(&d, p, 8);
        return isfinite(d) ? json_real(d) : json_null();
    }
    case PQ_STRING:
        return json_stringn((const char *)c->bytes + c->offsets[i],
                            (size_t)(c->offsets[i + 1] - c->offsets[i]));
    case PQ_BINARY: {
        size_t n = (size_t)(c->offsets[i + 1] - c->offsets[i]);
        char *hex = malloc(2 * n + 1);
        bs__hex(hex, c->bytes + c->offsets[i], n);
        json_t *j = json_string(hex);
        free(hex);
        return j;
    }
    case PQ_UINT8:
        snprintf(s, sizeof(s), "%u", *p);
        break;
    case PQ_UINT16:
    case PQ_UINT32:
    case PQ_UINT64: {
        uint64_t u = 0;
        memcpy(&u, p, w);
        snprintf(s, sizeof(s), "%llu", (unsigned long long)u);
        break;
    }
    default: {
        int64_t v = 0;
        memcpy(&v, p, w);
        if (w < 8 && (p[w - 1] & 0x80))
            v |= (int64_t)(~(uint64_t)0 << (8 * w));
        snprintf(s, sizeof(s), "%lld", (long long)v);
    }
    }
    return json_string(s);
}

static int dump(const char *path)
{
    bs_buf b = {0};
    if (bs__read_file(path, &b) != 0) {
        fprintf(stderr, "pq_tool: %s\n", blobstore_errmsg());
        return 1;
    }
    pq_table t;
    if (bs__pq_read(&t, b.data, b.len, NULL, 0) != 0) {
        fprintf(stderr, "pq_tool: %s: %s\n", path, blobstore_errmsg());
        return 1;
    }
    for (size_t k = 0; k < t.ncols; k++) {
        json_t *vals = json_array();
        for (size_t i = 0; i < t.nrows; i++)
            json_array_append_new(vals, value(&t.cols[k], i));
        json_t *o = json_pack("{s:s, s:s, s:b, s:o}", "name", t.cols[k].name, "type",
                              bs__pq_type_name(t.cols[k].type), "nullable", t.cols[k].nullable,
                              "values", vals);
        char *s = json_dumps(o, JSON_COMPACT | JSON_REAL_PRECISION(17));
        puts(s);
        free(s);
        json_decref(o);
    }
    bs__pq_table_free(&t);
    bs__buf_free(&b);
    return 0;
}

static uint64_t rng_next(uint64_t *s)
{
    *s += 0x9e3779b97f4a7c15ull; /* splitmix64 */
    uint64_t z = *s;
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

/* A float64 or float32 value as text ("NaN", "Infinity" as JavaScript's
 * Number reads them; JSON has no such numbers). */
static json_t *float_text(double d, int digits)
{
    char s[64];
    if (isnan(d))
        return json_string("NaN");
    if (isinf(d))
        return json_string(d < 0 ? "-Infinity" : "Infinity");
    snprintf(s, sizeof(s), "%.*g", digits, d);
    return json_string(s);
}

/* pq_tool write-random DIR SEED: DIR/random.parquet holding seeded random
 * columns (int32, int64, float32, float64 with NaN, signed zeros and
 * infinities, strings with shared prefixes, dates, timestamps; each
 * nullable and not) in row groups and pages of random sizes (lz4_raw), and
 * DIR/random.json, the values generated, as dump prints them (floats as
 * text). */
static int write_random(const char *dir, uint64_t seed)
{
    static const pq_type types[] = {PQ_INT32,  PQ_INT64, PQ_FLOAT,       PQ_DOUBLE,
                                    PQ_STRING, PQ_DATE,  PQ_TIMESTAMP_US};
    const size_t ntypes = sizeof(types) / sizeof(types[0]);
    uint64_t s = seed;
    size_t n = 500 + rng_next(&s) % 3000;
    pq_table t = {n, 2 * ntypes, calloc(2 * ntypes, sizeof(pq_column))};
    for (size_t k = 0; k < t.ncols; k++) {
        pq_column *c = &t.cols[k];
        pq_type ty = types[k / 2];
        int nullable = k % 2;
        char name[32];
        snprintf(name, sizeof(name), "r_%s%s", bs__pq_type_name(ty), nullable ? "_null" : "");
        for (char *p = name; *p; p++)
            if (*p == '[' || *p == ']')
                *p = '_';
        c->name = bs__strdup(name);
        c->type = ty;
        c->nullable = nullable;
        c->utc = ty == PQ_TIMESTAMP_US;
        /* a run of nulls now and then, or a column of them in a row group */
        uint64_t null_rate = rng_next(&s) % 4 == 0 ? 95 : rng_next(&s) % 40;
        if (nullable) {
            c->valid = malloc(n);
            for (size_t i = 0; i < n; i++)
                c->valid[i] = rng_next(&s) % 100 >= null_rate;
        }
        size_t w = bs__pq_width(ty);
        if (!w) {
            c->offsets = malloc((n + 1) * sizeof(uint64_t));
            bs_buf b = {0};
            for (size_t i = 0; i < n; i++) {
                char v[16];
                size_t len = rng_next(&s) % 6; /* "", and prefixes of one another */
                for (size_t q = 0; q < len; q++)
                    v[q] = "abAZ~ "[rng_next(&s) % 6];
                c->offsets[i] = b.len;
                bs__buf_append(&b, v, len);
            }
            c->offsets[n] = b.len;
            c->bytes = b.data ? b.data : malloc(1);
            continue;
        }
        c->values = calloc(n, w);
        for (size_t i = 0; i < n; i++) {
            uint64_t r = rng_next(&s), pick = rng_next(&s) % 16;
            uint8_t *p = (uint8_t *)c->values + i * w;
            if (ty == PQ_FLOAT || ty == PQ_DOUBLE) {
                static const double special[] = {NAN, -0.0, 0.0, INFINITY, -INFINITY};
                double d =
                    pick < 5 ? special[pick]
                             : ((double)(int64_t)r / 9007199254740992.0) * (pick < 10 ? 1.0 : 1e6);
                if (ty == PQ_FLOAT) {
                    float f = (float)d;
                    memcpy(p, &f, 4);
                } else {
                    memcpy(p, &d, 8);
                }
            } else if (ty == PQ_INT32) {
                int32_t v = pick < 4 ? (int32_t)(r % 7) - 3 : (int32_t)r; /* ties, extremes */
                memcpy(p, &v, 4);
            } else if (ty == PQ_DATE) {
                int32_t v = (int32_t)(r % 40000); /* 1970 .. 2079 */
                memcpy(p, &v, 4);
            } else if (ty == PQ_TIMESTAMP_US) {
                int64_t v = (int64_t)(r % 4000000000000000ull);
                memcpy(p, &v, 8);
            } else {
                int64_t v = pick < 4 ? (int64_t)(r % 7) - 3 : (int64_t)r;
                memcpy(p, &v, 8);
            }
        }
    }
    pq_write_options o = {.codec = "lz4_raw",
                          .row_group_rows = 1 + rng_next(&s) % 400,
                          .page_rows = 1 + rng_next(&s) % 60,
                          .page_bytes = 16 + rng_next(&s) % 400};
    uint8_t *file;
    size_t len;
    char path[4096];
    printf("write-random: seed %llu, %zu rows, row groups of %zu, pages of %zu rows or %zu "
           "bytes\n",
           (unsigned long long)seed, n, o.row_group_rows, o.page_rows, o.page_bytes);
    if (bs__pq_write(&file, &len, &t, &o) != 0) {
        fprintf(stderr, "pq_tool: %s\n", blobstore_errmsg());
        return 1;
    }
    snprintf(path, sizeof(path), "%s/random.parquet", dir);
    FILE *f = fopen(path, "wb");
    int bad = !f || fwrite(file, 1, len, f) != len;
    if (f && fclose(f))
        bad = 1;
    free(file);
    snprintf(path, sizeof(path), "%s/random.json", dir);
    FILE *j = bad ? NULL : fopen(path, "w");
    for (size_t k = 0; j && k < t.ncols; k++) {
        const pq_column *c = &t.cols[k];
        json_t *vals = json_array();
        for (size_t i = 0; i < n; i++) {
            double d = 0;
            float fl = 0;
            if (c->valid && !c->valid[i])
                json_array_append_new(vals, json_null());
            else if (c->type == PQ_DOUBLE && (memcpy(&d, (uint8_t *)c->values + 8 * i, 8), 1))
                json_array_append_new(vals, float_text(d, 17));
            else if (c->type == PQ_FLOAT && (memcpy(&fl, (uint8_t *)c->values + 4 * i, 4), 1))
                json_array_append_new(vals, float_text(fl, 9));
            else
                json_array_append_new(vals, value(c, i));
        }
        json_t *o2 = json_pack("{s:s, s:s, s:b, s:I, s:o}", "name", c->name, "type",
                               bs__pq_type_name(c->type), "nullable", c->nullable, "group_rows",
                               (json_int_t)o.row_group_rows, "values", vals);
        char *text = json_dumps(o2, JSON_COMPACT);
        fprintf(j, "%s\n", text);
        free(text);
        json_decref(o2);
    }
    if (!j || fclose(j))
        bad = 1;
    bs__pq_table_free(&t);
    if (bad)
        fprintf(stderr, "pq_tool: cannot write in %s\n", dir);
    return bad;
}

static int rewrite(const char *in, const char *out, const char *codec)
{
    FILE *f = fopen(in, "rb");
    if (!f)
        return perror(in), 1;
    bs_buf b = {0};
    uint8_t tmp[65536];
    size_t n;
    while ((n = fread(tmp, 1, sizeof(tmp), f)) > 0)
        if (bs__buf_append(&b, tmp, n))
            return fclose(f), 1;
    fclose(f);
    pq_table t;
    int rc = bs__pq_read(&t, b.data, b.len, NULL, 0);
    bs__buf_free(&b);
    if (rc) {
        fprintf(stderr, "pq_tool: %s: %s\n", in, blobstore_errmsg());
        return 1;
    }
    pq_write_options o = {0};
    o.codec = codec;
    uint8_t *file;
    size_t len;
    rc = bs__pq_write(&file, &len, &t, &o);
    bs__pq_table_free(&t);
    if (rc) {
        fprintf(stderr, "pq_tool: writing %s: %s\n", out, blobstore_errmsg());
        return rc == BLOBSTORE_EINVAL ? 2 : 4;
    }
    f = fopen(out, "wb");
    int bad = !f || fwrite(file, 1, len, f) != len;
    if (f && fclose(f))
        bad = 1;
    free(file);
    if (bad)
        return perror(out), 1;
    return 0;
}

int main(int argc, char **argv)
{
    if (argc == 5 && !strcmp(argv[1], "rewrite"))
        return rewrite(argv[2], argv[3], argv[4]);
    if (argc == 3 && !strcmp(argv[1], "write"))
        return write_all(argv[2]);
    if (argc == 4 && !strcmp(argv[1], "write-random"))
        return write_random(argv[2], strtoull(argv[3], NULL, 10));
    if (argc == 3 && !strcmp(argv[1], "dump"))
        return dump(argv[2]);
    fprintf(stderr, "usage: pq_tool write DIR | write-random DIR SEED | dump FILE | rewrite IN OUT "
                    "CODEC\n");
    return 2;
}
