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
 */
#include "internal.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

typedef struct {
    blobstore_blob_backend parent;
    char *blobs;
    char *tmp;
    int shard_chars;
} fs_backend;

#define WBUF 65536

typedef struct {
    blobstore_blob_writer parent;
    fs_backend *be;
    int fd;
    char *path;
    unsigned char *buf;
    size_t len;
} fs_writer;

typedef struct {
    blobstore_blob_reader parent;
    int fd;
} fs_reader;

static int name_check(const char *name)
{
    size_t n = strlen(name);
    if (n == 0 || n > 255 || name[0] == '.')
        return bs__error(BLOBSTORE_EINVAL, "invalid blob name \"%s\"", name);
    for (size_t i = 0; i < n; i++) {
        char c = name[i];
        if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
              c == '-' || c == '_' || c == '.'))
            return bs__error(BLOBSTORE_EINVAL, "invalid blob name \"%s\"", name);
    }
    return 0;
}

/* dir (blobs/<shard>) and path of a name; caller frees both. */
static int name_paths(fs_backend *be, const char *name, char **dir, char **path)
{
    size_t sc = (size_t)be->shard_chars, bl = strlen(be->blobs), nl = strlen(name);
    if (sc > nl)
        sc = nl;
    *dir = bs__malloc(bl + sc + 2);
    *path = bs__malloc(bl + sc + nl + 3);
    if (!*dir || !*path) {
        free(*dir);
        free(*path);
        return BLOBSTORE_ENOMEM;
    }
    if (sc) {
        snprintf(*dir, bl + sc + 2, "%s/%.*s", be->blobs, (int)sc, name);
        snprintf(*path, bl + sc + nl + 3, "%s/%s", *dir, name);
    } else {
        snprintf(*dir, bl + 1, "%s", be->blobs);
        snprintf(*path, bl + nl + 2, "%s/%s", be->blobs, name);
    }
    return 0;
}

static int fw_flush(fs_writer *w)
{
    if (!w->len)
        return 0;
    int e = bs__write_all(w->fd, w->buf, w->len);
    w->len = 0;
    if (e)
        return bs__error_errno(-e, "cannot write %s", w->path);
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
            return e ? bs__error_errno(-e, "cannot write %s", w->path) : 0;
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
        unlink(w->path);
    free(w->path);
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
    char *dir = NULL, *path = NULL;
    int rc = name_check(name);
    if (!rc)
        rc = fw_flush(w);
    if (!rc && sync && fsync(w->fd) != 0)
        rc = bs__error_errno(errno, "fsync of %s", w->path);
    if (!rc && close(w->fd) != 0)
        rc = bs__error_errno(errno, "close of %s", w->path);
    w->fd = -1;
    if (!rc)
        rc = name_paths(w->be, name, &dir, &path);
    if (!rc) {
        int created = 0;
        if (mkdir(dir, 0755) == 0)
            created = 1;
        else if (errno != EEXIST)
            rc = bs__error_errno(errno, "cannot create directory %s", dir);
        if (!rc && rename(w->path, path) != 0)
            rc = bs__error_errno(errno, "cannot rename %s to %s", w->path, path);
        if (!rc && sync) {
            rc = bs__fsync_dir(dir);
            if (!rc && created && strcmp(dir, w->be->blobs) != 0)
                rc = bs__fsync_dir(w->be->blobs);
        }
    }
    free(dir);
    free(path);
    fw_free(w, rc != 0);
    return rc;
}

static int fs_writer_new(blobstore_blob_writer **out, blobstore_blob_backend *pbe)
{
    fs_backend *be = (fs_backend *)pbe;
    fs_writer *w = bs__calloc(1, sizeof(*w));
    if (!w)
        return BLOBSTORE_ENOMEM;
    w->fd = -1;
    w->be = be;
    w->buf = bs__malloc(WBUF);
    size_t n = strlen(be->tmp) + 48;
    w->path = bs__malloc(n);
    unsigned char rnd[8];
    char hex[17];
    int rc = (!w->buf || !w->path) ? BLOBSTORE_ENOMEM : bs__random_bytes(rnd, sizeof(rnd));
    if (rc) {
        fw_free(w, 0);
        return rc;
    }
    bs__hex(hex, rnd, sizeof(rnd));
    snprintf(w->path, n, "%s/w-%ld-%s", be->tmp, (long)getpid(), hex);
    w->fd = open(w->path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
    if (w->fd < 0) {
        rc = bs__error_errno(errno, "cannot create %s", w->path);
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

/* Open the file of an object for reading: fd, or ENOTFOUND naming it. */
static int open_object(fs_backend *be, const char *name, int *fd)
{
    char *dir, *path;
    *fd = -1;
    int rc = name_check(name);
    if (rc || (rc = name_paths(be, name, &dir, &path)) != 0)
        return rc;
    if ((*fd = open(path, O_RDONLY | O_CLOEXEC)) < 0)
        rc = errno == ENOENT ? bs__error(BLOBSTORE_ENOTFOUND, "blob file %s is missing", path)
                             : bs__error_errno(errno, "cannot open %s", path);
    free(dir);
    free(path);
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

static int fs_exists(blobstore_blob_backend *pbe, const char *name)
{
    char *dir, *path;
    int rc = name_check(name);
    if (rc || (rc = name_paths((fs_backend *)pbe, name, &dir, &path)) != 0)
        return rc;
    struct stat st;
    if (stat(path, &st) == 0)
        rc = S_ISREG(st.st_mode) ? 1 : 0;
    else
        rc = errno == ENOENT ? 0 : bs__error_errno(errno, "cannot stat %s", path);
    free(dir);
    free(path);
    return rc;
}

static int fs_remove(blobstore_blob_backend *pbe, const char *name)
{
    char *dir, *path;
    int rc = name_check(name);
    if (rc || (rc = name_paths((fs_backend *)pbe, name, &dir, &path)) != 0)
        return rc;
    if (unlink(path) != 0)
        rc = errno == ENOENT ? bs__error(BLOBSTORE_ENOTFOUND, "blob %s does not exist", name)
                             : bs__error_errno(errno, "cannot remove %s", path);
    free(dir);
    free(path);
    return rc;
}

/* List regular files of dir; recurse one level into shard directories. */
static int list_dir(const char *dir, int depth, int is_temp, blobstore_blob_list_fn fn, void *ctx)
{
    DIR *d = opendir(dir);
    if (!d)
        return errno == ENOENT ? 0 : bs__error_errno(errno, "cannot list %s", dir);
    int rc = 0;
    struct dirent *de;
    while (!rc && (de = readdir(d)) != NULL) {
        if (de->d_name[0] == '.')
            continue;
        int type = de->d_type;
        if (type == DT_UNKNOWN) {
            struct stat st;
            char *p = bs__path_join(dir, de->d_name);
            if (!p) {
                rc = BLOBSTORE_ENOMEM;
                break;
            }
            type = stat(p, &st) == 0 && S_ISDIR(st.st_mode) ? DT_DIR : DT_REG;
            free(p);
        }
        if (type == DT_DIR && depth > 0) {
            char *p = bs__path_join(dir, de->d_name);
            rc = p ? list_dir(p, depth - 1, is_temp, fn, ctx) : BLOBSTORE_ENOMEM;
            free(p);
        } else if (type == DT_REG) {
            rc = fn(ctx, de->d_name, is_temp);
        }
    }
    closedir(d);
    return rc;
}

static int fs_list(blobstore_blob_backend *pbe, blobstore_blob_list_fn fn, void *ctx)
{
    fs_backend *be = (fs_backend *)pbe;
    int rc = list_dir(be->blobs, be->shard_chars ? 1 : 0, 0, fn, ctx);
    return rc ? rc : list_dir(be->tmp, 0, 1, fn, ctx);
}

static int fs_remove_temp(blobstore_blob_backend *pbe, const char *name)
{
    fs_backend *be = (fs_backend *)pbe;
    int rc = name_check(name);
    if (rc)
        return rc;
    char *p = bs__path_join(be->tmp, name);
    if (!p)
        return BLOBSTORE_ENOMEM;
    if (unlink(p) != 0 && errno != ENOENT)
        rc = bs__error_errno(errno, "cannot remove %s", p);
    free(p);
    return rc;
}

static int fs_sync(blobstore_blob_backend *pbe)
{
    fs_backend *be = (fs_backend *)pbe;
    int fd = open(be->blobs, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0)
        return bs__error_errno(errno, "cannot open %s", be->blobs);
    int rc = syncfs(fd) == 0 ? 0 : bs__error_errno(errno, "syncfs of %s", be->blobs);
    close(fd);
    return rc;
}

static void fs_free(blobstore_blob_backend *pbe)
{
    fs_backend *be = (fs_backend *)pbe;
    if (!be)
        return;
    free(be->blobs);
    free(be->tmp);
    free(be);
}

BLOBSTORE_API int blobstore_blob_backend_fs_new(blobstore_blob_backend **out, const char *base_dir,
                                                int shard_chars)
{
    if (!out || !base_dir)
        return bs__error(BLOBSTORE_EINVAL, "filesystem blob backend needs a base directory");
    if (shard_chars < 0 || shard_chars > 8)
        return bs__error(BLOBSTORE_EINVAL, "shard_chars must be 0..8, not %d", shard_chars);
    fs_backend *be = bs__calloc(1, sizeof(*be));
    if (!be)
        return BLOBSTORE_ENOMEM;
    be->blobs = bs__path_join(base_dir, "blobs");
    be->tmp = bs__path_join(base_dir, "tmp");
    be->shard_chars = shard_chars;
    int rc = (!be->blobs || !be->tmp) ? BLOBSTORE_ENOMEM : bs__mkdir_p(be->blobs, 0755);
    if (!rc)
        rc = bs__mkdir_p(be->tmp, 0755);
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
    *out = &be->parent;
    return 0;
}
