/*
 * s3list_fuzz.c - libFuzzer target: a page of an S3 listing, as a server
 * (or something pretending to be one) might answer, parsed as ListObjectsV2
 * and as ListMultipartUploads. Whatever the input, the parser must not
 * crash, and may only report names with the backend's layout: never a path.
 */
#include "internal.h"
#include "s3_int.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int check_name(void *ctx, const char *name, int is_temp)
{
    (void)ctx;
    size_t n = strlen(name);
    /* A temp is "w-<id>", "w-<id> <uploadId>", or an unfinished upload
     * straight to a blob's own key, "<blob> <uploadId>"; an object a plain
     * name. */
    const char *end = is_temp && strchr(name, ' ') ? strchr(name, ' ') : name + n;
    if (end == name || name[0] == '.')
        abort();
    for (const char *p = name; p < end; p++)
        if (*p == '/')
            abort();
    if (is_temp && strncmp(name, "w-", 2) != 0 && !strchr(name, ' '))
        abort();
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *doc = malloc(size + 1);
    if (!doc)
        return 0;
    memcpy(doc, data, size);
    doc[size] = 0;
    size_t len = strlen(doc); /* as the backend sees it: text up to a NUL */
    for (int uploads = 0; uploads <= 1; uploads++) {
        for (int shard = 0; shard <= 2; shard += 2) {
            char *a = NULL, *b = NULL;
            bs__s3_list_page(doc, len, shard ? "p/" : "", shard, uploads ? 0 : 3600,
                             (time_t)1800000000, uploads, check_name, NULL, &a, &b);
            free(a);
            free(b);
        }
    }
    free(doc);
    return 0;
}
