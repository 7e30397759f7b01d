/*
 * blob_fs.c - the filesystem blob backend.
 *
 * Layout under base_dir:
 *   blobs/<first shard_chars characters of the name>/<name>
 *   tmp/<writer's temporary names>
 * A writer fills a file in tmp/, and commit fsyncs it (if asked), renames it
 * into place and fsyncs the shard directory, so an object is either wholly
 * present under its name or absent, across crashes and power loss. Names are
 * checked to be plain file names: nothing a caller passes can leave base_dir.
 *
 * Every file operation is relative to a directory descriptor (base_dir,
 * blobs/, tmp/, a shard) and never follows a symbolic link: a link (or
 * anything but a directory) where blobs/, tmp/ or a shard should be is
 * damage, reported and never entered; a link or special file where an object
 * should be reads as corrupt. list() reports every file the backend did not
 * create (names outside its scheme, links, stray directories) as foreign, so
 * verify --repair leaves it alone.
 */
#include "internal.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

typedef struct {
    blobstore_blob_backend parent;
    char *base;         /* for messages */
    int basefd;         /* the store directory */
    int blobsfd, tmpfd; /* -1: absent (read-only) or refused (see *_bad) */
    char *blobs_bad;    /* why blobs/ is not used (a link...), or NULL */
    char *tmp_bad;
    int shard_chars;
    int readonly;
} fs_backend;

#define WBUF 65536

typedef struct {
    blobstore_blob_writer parent;
    fs_backend *be;
    int fd;
    char tname[64]; /* name in tmp/ */
    unsigned char *buf;
    size_t len;
} fs_writer;

typedef struct {
    blobstore_blob_reader parent;
    int fd;
} fs_reader;

static int name_check(const char *name)
{
    return bs__blob_name_ok(name) ? 0
                                  : bs__error(BLOBSTORE_EINVAL, "invalid blob name \"%s\"", name);
}

/* A writer's temporary name: w-PID-16HEX, as fs_writer_new makes them. */
static int temp_name_ok(const char *name)
{
    if (strncmp(name, "w-", 2) != 0)
        return 0;
    const char *p = name + 2, *dash = strchr(p, '-');
    if (!dash || dash == p || dash - p > 10 || strlen(dash + 1) != 16)
        return 0;
    for (; p < dash; p++)
        if (*p < '0' || *p > '9')
            return 0;
    for (p = dash + 1; *p; p++)
        if (!((*p >= '0' && *p <= '9') || (*p >= 'a' && *p <= 'f')))
            return 0;
    return 1;
}

/* Open directory name under dfd without following a link (created first if
 * create). ENOTFOUND if absent; ECORRUPT, naming it as shown, if it is a
 * symbolic link or not a directory. */
static int open_subdir(int dfd, const char *name, int create, const char *shown, int *out,
                       int *created)
{
    if (created)
        *created = 0;
    if (create) {
        if (mkdirat(dfd, name, 0755) == 0) {
            if (created)
                *created = 1;
        } else if (errno != EEXIST) {
            return bs__error_errno(errno, "cannot create directory %s", shown);
        }
    }
    *out = openat(dfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (*out >= 0)
        return 0;
    int e = errno;
    struct stat st;
    if (e == ENOENT)
        return bs__error(BLOBSTORE_ENOTFOUND, "%s does not exist", shown);
    if ((e == ELOOP || e == ENOTDIR) && fstatat(dfd, name, &st, AT_SYMLINK_NOFOLLOW) == 0)
        return bs__error(BLOBSTORE_ECORRUPT,
                         S_ISLNK(st.st_mode) ? "%s is a symbolic link: the store never follows "
                                               "links in its directories"
                                             : "%s is not a directory",
                         shown);
    return bs__error_errno(e, "cannot open directory %s", shown);
}

/* blobs/ (which: 0) or tmp/ (1): its fd, or ECORRUPT if refused, ENOTFOUND
 * if absent (a read-only store that never had one). */
static int top_dir(fs_backend *be, int which, int *fd)
{
    *fd = which ? be->tmpfd : be->blobsfd;
    if (*fd >= 0)
        return 0;
    const char *bad = which ? be->tmp_bad : be->blobs_bad;
    if (bad)
        return bs__error(BLOBSTORE_ECORRUPT, "%s", bad);
    return bs__error(BLOBSTORE_ENOTFOUND, "%s/%s does not exist", be->base,
                     which ? "tmp" : "blobs");
}

/* The directory holding object name (its shard, or blobs/), as a new fd. */
static int shard_open(fs_backend *be, const char *name, int create, int *out, int *created)
{
    int bfd, rc = top_dir(be, 0, &bfd);
    if (created)
        *created = 0;
    if (rc)
        return rc;
    size_t sc = (size_t)be->shard_chars, nl = strlen(name);
    if (sc > nl)
        sc = nl;
    if (!sc) {
        *out = fcntl(bfd, F_DUPFD_CLOEXEC, 0);
        return *out >= 0 ? 0 : bs__error_errno(errno, "cannot use %s/blobs", be->base);
    }
    char shard[16], shown[4200];
    snprintf(shard, sizeof(shard), "%.*s", (int)sc, name);
    snprintf(shown, sizeof(shown), "%s/blobs/%s", be->base, shard);
    return open_subdir(bfd, shard, create, shown, out, created);
}

static int fw_flush(fs_writer *w)
{
    if (!w->len)
        return 0;
    int e = bs__write_all(w->fd, w->buf, w->len);
    w->len = 0;
    if (e)
        return bs__error_errno(-e, "cannot write %s/tmp/%s", w->be->base, w->tname);
    return 0;
}

static int fw_write(blobstore_blob_writer *pw, const void *p, size_t n)
{
    fs_writer *w = (fs_writer *)pw;
    if (w->len + n > WBUF) {
        int rc = fw_flush(w);
        if (rc)
            return rc;
        if (n >= WBUF) {
            int e = bs__write_all(w->fd, p, n);
            return e ? bs__error_errno(-e, "cannot write %s/tmp/%s", w->be->base, w->tname) : 0;
        }
    }
    memcpy(w->buf + w->len, p, n);
    w->len += n;
    return 0;
}

static void fw_free(fs_writer *w, int unlink_it)
{
    if (w->fd >= 0)
        close(w->fd);
    if (unlink_it)
        unlinkat(w->be->tmpfd, w->tname, 0);
    free(w->buf);
    free(w);
}

static void fw_abort(blobstore_blob_writer *pw)
{
    fw_free((fs_writer *)pw, 1);
}

static int fw_commit(blobstore_blob_writer *pw, const char *name, int sync)
{
    fs_writer *w = (fs_writer *)pw;
    fs_backend *be = w->be;
    int sfd = -1, created = 0;
    int rc = name_check(name);
    if (!rc)
        rc = fw_flush(w);
    if (!rc && sync && fsync(w->fd) != 0)
        rc = bs__error_errno(errno, "fsync of %s/tmp/%s", be->base, w->tname);
    if (!rc && close(w->fd) != 0)
        rc = bs__error_errno(errno, "close of %s/tmp/%s", be->base, w->tname);
    w->fd = -1;
    if (!rc)
        rc = shard_open(be, name, 1, &sfd, &created);
    if (!rc && renameat(be->tmpfd, w->tname, sfd, name) != 0)
        rc = bs__error_errno(errno, "cannot rename %s/tmp/%s to %s", be->base, w->tname, name);
    if (!rc && sync) {
        if (fsync(sfd) != 0)
            rc = bs__error_errno(errno, "fsync of the directory of %s", name);
        else if (created && be->shard_chars && fsync(be->blobsfd) != 0)
            rc = bs__error_errno(errno, "fsync of %s/blobs", be->base);
    }
    if (sfd >= 0)
        close(sfd);
    fw_free(w, rc != 0);
    return rc;
}

static int fs_writer_new(blobstore_blob_writer **out, blobstore_blob_backend *pbe)
{
    fs_backend *be = (fs_backend *)pbe;
    if (be->readonly)
        return bs__error(BLOBSTORE_EREADONLY, "the store in %s is open read-only", be->base);
    int tfd, rc = top_dir(be, 1, &tfd);
    if (rc)
        return rc;
    fs_writer *w = bs__calloc(1, sizeof(*w));
    if (!w)
        return BLOBSTORE_ENOMEM;
    w->fd = -1;
    w->be = be;
    w->buf = bs__malloc(WBUF);
    unsigned char rnd[8];
    char hex[17];
    rc = !w->buf ? BLOBSTORE_ENOMEM : bs__random_bytes(rnd, sizeof(rnd));
    if (rc) {
        fw_free(w, 0);
        return rc;
    }
    bs__hex(hex, rnd, sizeof(rnd));
    snprintf(w->tname, sizeof(w->tname), "w-%ld-%s", (long)getpid(), hex);
    w->fd = openat(tfd, w->tname, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0644);
    if (w->fd < 0) {
        rc = bs__error_errno(errno, "cannot create %s/tmp/%s", be->base, w->tname);
        fw_free(w, 0);
        return rc;
    }
    w->parent.write = fw_write;
    w->parent.commit = fw_commit;
    w->parent.abort = fw_abort;
    *out = &w->parent;
    return 0;
}

static int fr_read(blobstore_blob_reader *pr, void *buf, size_t cap, size_t *out_n)
{
    fs_reader *r = (fs_reader *)pr;
    for (;;) {
        ssize_t n = read(r->fd, buf, cap);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return bs__error_errno(errno, "cannot read blob");
        *out_n = (size_t)n;
        return 0;
    }
}

static void fr_close(blobstore_blob_reader *pr)
{
    fs_reader *r = (fs_reader *)pr;
    close(r->fd);
    free(r);
}

/* Open the file of an object for reading: fd, or ENOTFOUND naming it; a link
 * or anything but a regular file in its place is ECORRUPT (never followed,
 * never opened: a FIFO would block). */
static int open_object(fs_backend *be, const char *name, int *fd)
{
    int sfd;
    *fd = -1;
    int rc = name_check(name);
    if (!rc)
        rc = shard_open(be, name, 0, &sfd, NULL);
    if (rc == BLOBSTORE_ENOTFOUND)
        return bs__error(BLOBSTORE_ENOTFOUND, "blob file %s is missing", name);
    if (rc)
        return rc;
    *fd = openat(sfd, name, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
    struct stat st;
    if (*fd < 0) {
        if (errno == ENOENT)
            rc = bs__error(BLOBSTORE_ENOTFOUND, "blob file %s is missing", name);
        else if (errno == ELOOP)
            rc = bs__error(BLOBSTORE_ECORRUPT,
                           "blob file %s is a symbolic link: the store never follows links", name);
        else
            rc = bs__error_errno(errno, "cannot open blob file %s", name);
    } else if (fstat(*fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        rc = bs__error(BLOBSTORE_ECORRUPT, "blob file %s is not a regular file", name);
    } else if (fcntl(*fd, F_SETFL, O_RDONLY) != 0) {
        rc = bs__error_errno(errno, "cannot use blob file %s", name);
    }
    if (rc && *fd >= 0) {
        close(*fd);
        *fd = -1;
    }
    close(sfd);
    return rc;
}

static int fs_reader_new(blobstore_blob_reader **out, blobstore_blob_backend *pbe, const char *name)
{
    int fd;
    int rc = open_object((fs_backend *)pbe, name, &fd);
    if (rc)
        return rc;
    fs_reader *r = bs__calloc(1, sizeof(*r));
    if (!r) {
        close(fd);
        return BLOBSTORE_ENOMEM;
    }
    posix_fadvise(fd, 0, 0, POSIX_FADV_SEQUENTIAL);
    r->fd = fd;
    r->parent.read = fr_read;
    r->parent.close = fr_close;
    *out = &r->parent;
    return 0;
}

static int fs_read_range(blobstore_blob_backend *pbe, const char *name, uint64_t off, void *buf,
                         size_t len, size_t *out_n)
{
    int fd = -1;
    *out_n = 0;
    int rc = open_object((fs_backend *)pbe, name, &fd);
    while (!rc && *out_n < len) {
        ssize_t n = pread(fd, (char *)buf + *out_n, len - *out_n, (off_t)(off + *out_n));
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            rc = bs__error_errno(errno, "cannot read blob %s", name);
        else if (n == 0)
            break;
        else
            *out_n += (size_t)n;
    }
    if (fd >= 0)
        close(fd);
    return rc;
}

static int fs_ctl(blobstore_blob_backend *pbe, int op, void *arg)
{
    if (op == BS__BLOB_CTL_WRITER_FOR) /* tmp/ and a rename is as direct */
        return BLOBSTORE_EUNSUPPORTED;
    if (op == BS__BLOB_CTL_OPEN_FD) {
        bs_blob_fd *q = arg;
        return open_object((fs_backend *)pbe, q->name, &q->fd);
    }
    if (op == BS__BLOB_CTL_SIZE) {
        bs_blob_size *q = arg;
        int fd;
        int rc = open_object((fs_backend *)pbe, q->name, &fd);
        if (rc)
            return rc;
        struct stat st;
        if (fstat(fd, &st) != 0)
            rc = bs__error_errno(errno, "cannot stat blob file %s", q->name);
        else
            q->size = (uint64_t)st.st_size;
        close(fd);
        return rc;
    }
    return bs__error(BLOBSTORE_EUNSUPPORTED, "filesystem blobs: unknown ctl operation %d", op);
}

/* 1 if something is at the object's place: a link or special file there is
 * damage that reading reports (as corrupt), not an absence that would make
 * its entry look dangling. */
static int fs_exists(blobstore_blob_backend *pbe, const char *name)
{
    int sfd;
    int rc = name_check(name);
    if (!rc)
        rc = shard_open((fs_backend *)pbe, name, 0, &sfd, NULL);
    if (rc == BLOBSTORE_ENOTFOUND || rc == BLOBSTORE_ECORRUPT) {
        /* a link where the directory should be: damage reads report */
        bs__error_clear();
        return rc == BLOBSTORE_ECORRUPT;
    }
    if (rc)
        return rc;
    struct stat st;
    if (fstatat(sfd, name, &st, AT_SYMLINK_NOFOLLOW) == 0)
        rc = 1;
    else
        rc = errno == ENOENT ? 0 : bs__error_errno(errno, "cannot stat blob file %s", name);
    close(sfd);
    return rc;
}

/* Remove a regular file name in directory dfd; anything else is refused. */
static int remove_own(int dfd, const char *name, const char *shown)
{
    struct stat st;
    if (fstatat(dfd, name, &st, AT_SYMLINK_NOFOLLOW) != 0)
        return errno == ENOENT ? bs__error(BLOBSTORE_ENOTFOUND, "%s does not exist", shown)
                               : bs__error_errno(errno, "cannot stat %s", shown);
    if (!S_ISREG(st.st_mode))
        return bs__error(BLOBSTORE_ECORRUPT, "%s is not a regular file: not removed", shown);
    if (unlinkat(dfd, name, 0) != 0)
        return errno == ENOENT ? bs__error(BLOBSTORE_ENOTFOUND, "%s does not exist", shown)
                               : bs__error_errno(errno, "cannot remove %s", shown);
    return 0;
}

static int fs_remove(blobstore_blob_backend *pbe, const char *name)
{
    fs_backend *be = (fs_backend *)pbe;
    if (be->readonly)
        return bs__error(BLOBSTORE_EREADONLY, "the store in %s is open read-only", be->base);
    int sfd;
    int rc = name_check(name);
    if (!rc)
        rc = shard_open(be, name, 0, &sfd, NULL);
    if (rc == BLOBSTORE_ENOTFOUND)
        return bs__error(BLOBSTORE_ENOTFOUND, "blob %s does not exist", name);
    if (rc)
        return rc;
    char shown[512];
    snprintf(shown, sizeof(shown), "blob file %s", name);
    rc = remove_own(sfd, name, shown);
    close(sfd);
    return rc;
}

/* The type of entry de of directory dfd, without following links. */
static int entry_type(int dfd, const struct dirent *de)
{
    if (de->d_type != DT_UNKNOWN)
        return de->d_type;
    struct stat st;
    if (fstatat(dfd, de->d_name, &st, AT_SYMLINK_NOFOLLOW) != 0)
        return DT_UNKNOWN;
    return S_ISDIR(st.st_mode)   ? DT_DIR
           : S_ISREG(st.st_mode) ? DT_REG
           : S_ISLNK(st.st_mode) ? DT_LNK
                                 : DT_UNKNOWN;
}

static int is_shard_name(const char *s, int sc)
{
    if ((int)strlen(s) != sc)
        return 0;
    for (; *s; s++)
        if (!((*s >= '0' && *s <= '9') || (*s >= 'a' && *s <= 'f')))
            return 0;
    return 1;
}

typedef struct {
    blobstore_blob_list_fn fn;
    void *ctx;
} list_ctx;

static int foreign(list_ctx *l, const char *a, const char *b, const char *c)
{
    char rel[1024];
    snprintf(rel, sizeof(rel), "%s%s%s%s%s", a, b ? "/" : "", b ? b : "", c ? "/" : "", c ? c : "");
    return l->fn(l->ctx, rel, BLOBSTORE_BLOB_LIST_FOREIGN);
}

/* List the object files of directory dfd (blobs/ or a shard, shard "" or its
 * name); anything else there is reported foreign and not entered. */
static int list_objects(fs_backend *be, int dfd, const char *shard, list_ctx *l)
{
    /* a new open file description: a dup would share the offset */
    int fd = openat(dfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    DIR *d = fd >= 0 ? fdopendir(fd) : NULL;
    if (!d) {
        if (fd >= 0)
            close(fd);
        return bs__error_errno(errno, "cannot list %s/blobs/%s", be->base, shard);
    }
    int rc = 0, sc = be->shard_chars;
    struct dirent *de;
    errno = 0;
    while (!rc && (de = readdir(d)) != NULL) {
        const char *n = de->d_name;
        if (!strcmp(n, ".") || !strcmp(n, ".."))
            continue;
        int type = entry_type(dfd, de);
        if (!*shard && sc) { /* blobs/ of a sharded store: shard directories */
            int sfd;
            if (type != DT_DIR || !is_shard_name(n, sc)) {
                rc = foreign(l, "blobs", n, NULL);
            } else if (open_subdir(dfd, n, 0, n, &sfd, NULL) != 0) {
                bs__error_clear();
                rc = foreign(l, "blobs", n, NULL); /* replaced by a link meanwhile */
            } else {
                rc = list_objects(be, sfd, n, l);
                close(sfd);
            }
        } else if (type == DT_REG && bs__blob_name_ok(n) && strncmp(n, shard, strlen(shard)) == 0) {
            rc = l->fn(l->ctx, n, 0);
        } else {
            rc = foreign(l, "blobs", *shard ? shard : NULL, n);
        }
    }
    closedir(d);
    return rc;
}

static int fs_list(blobstore_blob_backend *pbe, blobstore_blob_list_fn fn, void *ctx)
{
    fs_backend *be = (fs_backend *)pbe;
    list_ctx l = {fn, ctx};
    int rc = 0;
    if (be->blobsfd >= 0)
        rc = list_objects(be, be->blobsfd, "", &l);
    else if (be->blobs_bad)
        rc = foreign(&l, "blobs", NULL, NULL);
    if (rc)
        return rc;
    if (be->tmpfd < 0)
        return be->tmp_bad ? foreign(&l, "tmp", NULL, NULL) : 0;
    int fd = openat(be->tmpfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    DIR *d = fd >= 0 ? fdopendir(fd) : NULL;
    if (!d) {
        if (fd >= 0)
            close(fd);
        return bs__error_errno(errno, "cannot list %s/tmp", be->base);
    }
    struct dirent *de;
    while (!rc && (de = readdir(d)) != NULL) {
        if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
            continue;
        if (entry_type(be->tmpfd, de) == DT_REG && temp_name_ok(de->d_name))
            rc = fn(ctx, de->d_name, 1);
        else
            rc = foreign(&l, "tmp", de->d_name, NULL);
    }
    closedir(d);
    return rc;
}

static int fs_remove_temp(blobstore_blob_backend *pbe, const char *name)
{
    fs_backend *be = (fs_backend *)pbe;
    if (be->readonly)
        return bs__error(BLOBSTORE_EREADONLY, "the store in %s is open read-only", be->base);
    if (!temp_name_ok(name))
        return bs__error(BLOBSTORE_EINVAL, "\"%s\" is not a temporary file of the store", name);
    int tfd, rc = top_dir(be, 1, &tfd);
    if (rc)
        return rc;
    char shown[512];
    snprintf(shown, sizeof(shown), "temporary file %s", name);
    rc = remove_own(tfd, name, shown);
    if (rc == BLOBSTORE_ENOTFOUND) {
        bs__error_clear();
        rc = 0;
    }
    return rc;
}

static int fs_sync(blobstore_blob_backend *pbe)
{
    fs_backend *be = (fs_backend *)pbe;
    int fd = be->blobsfd >= 0 ? be->blobsfd : be->basefd;
    return syncfs(fd) == 0 ? 0 : bs__error_errno(errno, "syncfs of %s", be->base);
}

static void fs_free(blobstore_blob_backend *pbe)
{
    fs_backend *be = (fs_backend *)pbe;
    if (!be)
        return;
    if (be->basefd >= 0)
        close(be->basefd);
    if (be->blobsfd >= 0)
        close(be->blobsfd);
    if (be->tmpfd >= 0)
        close(be->tmpfd);
    free(be->base);
    free(be->blobs_bad);
    free(be->tmp_bad);
    free(be);
}

/* Open blobs/ or tmp/ at start. A link or non-directory there is kept as
 * damage to report (verify names it; reads and writes refuse) rather than
 * failing the open. */
static int open_top(fs_backend *be, const char *name, int *fd, char **bad)
{
    char shown[4200];
    snprintf(shown, sizeof(shown), "%s/%s", be->base, name);
    int rc = open_subdir(be->basefd, name, !be->readonly, shown, fd, NULL);
    if (rc == BLOBSTORE_ENOTFOUND && be->readonly) {
        bs__error_clear();
        return 0;
    }
    if (rc == BLOBSTORE_ECORRUPT) {
        *bad = bs__strdup(blobstore_errmsg());
        rc = *bad ? 0 : BLOBSTORE_ENOMEM;
    }
    return rc;
}

int bs__blob_fs_open(blobstore_blob_backend **out, const char *base_dir, int shard_chars,
                     int readonly)
{
    if (!out || !base_dir)
        return bs__error(BLOBSTORE_EINVAL, "filesystem blob backend needs a base directory");
    if (shard_chars < 0 || shard_chars > 8)
        return bs__error(BLOBSTORE_EINVAL, "shard_chars must be 0..8, not %d", shard_chars);
    fs_backend *be = bs__calloc(1, sizeof(*be));
    if (!be)
        return BLOBSTORE_ENOMEM;
    be->basefd = be->blobsfd = be->tmpfd = -1;
    be->shard_chars = shard_chars;
    be->readonly = readonly;
    be->base = bs__strdup(base_dir);
    int rc = !be->base ? BLOBSTORE_ENOMEM : readonly ? 0 : bs__mkdir_p(base_dir, 0755);
    if (!rc) {
        be->basefd = open(base_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (be->basefd < 0)
            rc = bs__error_errno(errno, "cannot open directory %s", base_dir);
    }
    if (!rc)
        rc = open_top(be, "blobs", &be->blobsfd, &be->blobs_bad);
    if (!rc)
        rc = open_top(be, "tmp", &be->tmpfd, &be->tmp_bad);
    if (rc) {
        fs_free(&be->parent);
        return rc;
    }
    be->parent.version = BLOBSTORE_BLOB_BACKEND_VERSION;
    be->parent.read_range = fs_read_range;
    be->parent.writer = fs_writer_new;
    be->parent.reader = fs_reader_new;
    be->parent.exists = fs_exists;
    be->parent.remove = fs_remove;
    be->parent.list = fs_list;
    be->parent.remove_temp = fs_remove_temp;
    be->parent.sync = fs_sync;
    be->parent.free = fs_free;
    be->parent.ctl = fs_ctl;
    *out = &be->parent;
    return 0;
}

BLOBSTORE_API int blobstore_blob_backend_fs_new(blobstore_blob_backend **out, const char *base_dir,
                                                int shard_chars)
{
    return bs__blob_fs_open(out, base_dir, shard_chars, 0);
}
