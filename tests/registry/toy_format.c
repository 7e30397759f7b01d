/*
 * toy_format.c - a toy format module, its own file plus one row that it
 * registers itself: a ".toy" file is "TOY1" and a payload. A converting put
 * checks the magic and stores the payload (format "toy", blob extension
 * ".toy", framed like bytes); getting it as a .toy file puts the magic back.
 * Detected from its content too; verify runs its store-wide check.
 */
#include "registry.h"
#include "toy_format.h"

int toy_format_checks;

static int toy_detect(const unsigned char *head, size_t hn, const unsigned char *tail, size_t tn,
                      uint64_t size)
{
    (void)tail;
    (void)tn;
    (void)size;
    return hn >= 4 && memcmp(head, "TOY1", 4) == 0;
}

static int toy_put_fd(char **out_key, blobstore *bs, const char *key, int fd, const char *name,
                      const blobstore_put_options *po)
{
    (void)name;
    bs_buf b;
    int rc = bs__read_fd_all(fd, &b);
    if (rc)
        return rc;
    if (b.len < 4 || memcmp(b.data, "TOY1", 4) != 0) {
        bs__buf_free(&b);
        return bs__error(BLOBSTORE_ECORRUPT, "not a toy file (no TOY1 magic)");
    }
    blobstore_put_options o = *po;
    o.format = "toy";
    o.format_info = "{\"toy\":true}";
    rc = blobstore_put_ex(out_key, bs, key, b.data + 4, b.len - 4, &o);
    bs__buf_free(&b);
    return rc;
}

static int toy_get_fd(blobstore *bs, const char *key, int fd, const char *ext)
{
    if (strcmp(ext, ".toy") != 0)
        return BLOBSTORE_EUNSUPPORTED;
    void *v;
    size_t n;
    int rc = blobstore_get(&v, &n, bs, key);
    if (rc)
        return rc;
    if (bs__write_all(fd, "TOY1", 4) || bs__write_all(fd, v, n))
        rc = bs__error(BLOBSTORE_EIO, "cannot write the toy file");
    blobstore_free(v);
    return rc;
}

static void toy_check_store(blobstore *bs, bs_format_report report, void *ctx)
{
    (void)bs;
    (void)report;
    (void)ctx;
    toy_format_checks++;
}

static const char *const toy_imports[] = {".toy", NULL};
static const bs_format TOY_ROW = {"toy",      ".toy",     0,          "a toy",        toy_imports,
                                  toy_detect, toy_put_fd, toy_get_fd, toy_check_store};

__attribute__((constructor)) static void toy_format_register(void)
{
    bs__format_add(&TOY_ROW);
}
