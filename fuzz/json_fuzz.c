/*
 * json_fuzz.c - libFuzzer target: the put's fast path for flat metadata
 * objects (bs__json_object_compact, json.c) against the parse it stands in
 * for (jansson, duplicates refused, then bs__json_dumps). Whatever the text,
 * the fast path either declines it or gives the parse's compact text, byte
 * for byte; it never takes a text the parse refuses.
 */
#include "internal.h"

#include <jansson.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *text = malloc(size + 1);
    if (!text)
        return 0;
    memcpy(text, data, size);
    text[size] = '\0'; /* (a put's metadata is a C string: what follows a NUL is not seen) */
    char *got = NULL;
    int r = bs__json_object_compact(text, &got);
    if (r == 1) {
        json_error_t err;
        json_t *v = json_loads(text, JSON_REJECT_DUPLICATES, &err);
        char *want = v && json_is_object(v) ? bs__json_dumps(v) : NULL;
        if (!want || strcmp(got, want) != 0) {
            fprintf(stderr, "json_fuzz: %s gives %s, the parse %s\n", text, got,
                    want ? want : "an error");
            abort();
        }
        free(want);
        json_decref(v);
    } else if (r != 0 || got) {
        abort();
    }
    free(got);
    free(text);
    return 0;
}
