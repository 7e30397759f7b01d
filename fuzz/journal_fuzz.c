/*
 * journal_fuzz.c - libFuzzer target: the JSON metadata backend opening an
 * index (the input is split into snapshot and journal at the first NUL byte)
 * must report damage as an error, never crash or misbehave.
 */
#include "internal.h"

#include <fcntl.h>
#include <unistd.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int nop(void *ctx, const blobstore_entry *e)
{
    (void)e;
    ++*(int *)ctx;
    return 0;
}

static void write_file(const char *path, const void *p, size_t n)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (fd >= 0) {
        if (bs__write_all(fd, p, n) != 0)
            abort();
        close(fd);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static char dir[64];
    if (!dir[0]) {
        snprintf(dir, sizeof(dir), "/tmp/journal_fuzz.XXXXXX");
        if (!mkdtemp(dir))
            abort();
    }
    char snap[128], journal[160];
    snprintf(snap, sizeof(snap), "%s/m.json", dir);
    snprintf(journal, sizeof(journal), "%s/m.json.journal", dir);
    const uint8_t *nul = memchr(data, 0, size);
    size_t split = nul ? (size_t)(nul - data) : size;
    if (split)
        write_file(snap, data, split);
    else
        unlink(snap);
    write_file(journal, nul ? nul + 1 : data, nul ? size - split - 1 : 0);
    blobstore_meta_backend *be;
    if (blobstore_meta_backend_json_new(&be, snap, 0) == 0) {
        int n = 0;
        if (be->begin(be, 0) == 0) {
            be->iterate(be, NULL, nop, &n);
            be->commit(be);
        }
        if (be->begin(be, 1) == 0) { /* a write over whatever was read */
            blobstore_entry e = {0};
            e.key = (char *)"k";
            e.format = (char *)"bytes";
            e.content_hash = (char *)"00";
            e.metadata = (char *)"{}";
            be->put(be, &e);
            be->commit(be);
        }
        be->free(be);
    }
    return 0;
}
