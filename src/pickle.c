/*
 * pickle.c - the "pickle" format row's entry points: Python objects the
 * Python package pickles (its own header, "BSPK\x01", then the pickle and
 * its out-of-band buffers; framed like bytes) and the check verify runs on
 * the key it signs them with.
 */
#include "registry.h"
#include "store_int.h"

#include <sys/stat.h>
#include <unistd.h>

int bs__pickle_detect(const unsigned char *head, size_t hn, const unsigned char *tail, size_t tn,
                      uint64_t size)
{
    (void)tail;
    (void)tn;
    (void)size;
    return hn >= 5 && memcmp(head, "BSPK\x01", 5) == 0;
}

/* The Python package signs its pickles with a key in <dir>/pickle_secret.key
 * and refuses to unpickle with a key that someone else could have replaced
 * or read: verify reports such a key file the same way (never removed). */
void bs__pickle_check_store(blobstore *bs, bs_format_report report, void *ctx)
{
    if (!bs->dir)
        return;
    char *path = bs__path_join(bs->dir, "pickle_secret.key");
    struct stat sb;
    if (!path || lstat(path, &sb) != 0) {
        free(path);
        return;
    }
    free(path);
    char why[160];
    uid_t me = geteuid();
    if (S_ISLNK(sb.st_mode))
        snprintf(why, sizeof(why), "a symbolic link");
    else if (!S_ISREG(sb.st_mode))
        snprintf(why, sizeof(why), "not a regular file");
    else if (sb.st_uid != me && sb.st_uid != 0)
        snprintf(why, sizeof(why), "owned by uid %u, neither this user (%u) nor root",
                 (unsigned)sb.st_uid, (unsigned)me);
    else if (sb.st_mode & 077)
        snprintf(why, sizeof(why), "mode %04o: others may %s it (it must be 0600 or stricter)",
                 (unsigned)(sb.st_mode & 07777), sb.st_mode & 022 ? "write" : "read");
    else
        return;
    char detail[320];
    snprintf(detail, sizeof(detail),
             "the pickle signing key is %s; pickles are not loaded with it (whoever can change "
             "or read it can sign pickles that run code)",
             why);
    report(ctx, BLOBSTORE_PROBLEM_UNSAFE, "pickle_secret.key", detail);
}
