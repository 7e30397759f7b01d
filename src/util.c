/*
 * util.c - small shared helpers: memory, checked sizes, byte buffers, key
 * validation, hashing, time stamps and crash-safe file writes.
 *
 * One home for each of these: modules call them rather than growing their own.
 */
#include "internal.h"

#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <openssl/evp.h>
#include <openssl/opensslv.h>
#include <openssl/sha.h>
#include <pthread.h>
#include <sys/mman.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

void *bs__malloc(size_t n)
{
    void *p = malloc(n ? n : 1);
    if (!p)
        bs__error(BLOBSTORE_ENOMEM, "out of memory allocating %zu bytes", n);
    return p;
}

/* A result buffer of many megabytes (an array's values): aligned to 2 MiB
 * and advised into huge pages, so that filling it faults once per 2 MiB
 * rather than once per 4 KiB page (those faults were half the time of a
 * 100 MB array get). Freed with free() like any other. */
#define LARGE_MIN ((size_t)4 << 20)
#define HUGE_PAGE ((size_t)2 << 20)

void *bs__malloc_large(size_t n)
{
    if (n < LARGE_MIN)
        return bs__malloc(n);
    void *p;
    if (posix_memalign(&p, HUGE_PAGE, n) != 0) {
        bs__error(BLOBSTORE_ENOMEM, "out of memory allocating %zu bytes", n);
        return NULL;
    }
#ifdef MADV_HUGEPAGE
    madvise(p, n & ~(size_t)4095, MADV_HUGEPAGE); /* advice: its failure changes nothing */
#endif
    return p;
}

void *bs__calloc(size_t n, size_t m)
{
    void *p = calloc(n ? n : 1, m ? m : 1);
    if (!p)
        bs__error(BLOBSTORE_ENOMEM, "out of memory allocating %zu x %zu bytes", n, m);
    return p;
}

void *bs__realloc(void *p, size_t n)
{
    void *q = realloc(p, n ? n : 1);
    if (!q)
        bs__error(BLOBSTORE_ENOMEM, "out of memory allocating %zu bytes", n);
    return q;
}

char *bs__strndup(const char *s, size_t n)
{
    char *d = bs__malloc(n + 1);
    if (d) {
        memcpy(d, s, n);
        d[n] = '\0';
    }
    return d;
}

char *bs__strdup(const char *s)
{
    return s ? bs__strndup(s, strlen(s)) : NULL;
}

int bs__add_overflow(size_t *out, size_t a, size_t b)
{
    return __builtin_add_overflow(a, b, out);
}

int bs__mul_overflow(size_t *out, size_t a, size_t b)
{
    return __builtin_mul_overflow(a, b, out);
}

BLOBSTORE_API void blobstore_free(void *p)
{
    free(p);
}

BLOBSTORE_API const char *blobstore_version(void)
{
    return BLOBSTORE_VERSION_STRING;
}

int bs__buf_reserve(bs_buf *b, size_t extra)
{
    size_t need;
    if (bs__add_overflow(&need, b->len, extra))
        return bs__error(BLOBSTORE_ENOMEM, "buffer size overflow");
    if (need <= b->cap)
        return 0;
    size_t cap = b->cap ? b->cap : 256;
    while (cap < need)
        cap = cap > SIZE_MAX / 2 ? need : cap * 2;
    unsigned char *d = bs__realloc(b->data, cap);
    if (!d)
        return BLOBSTORE_ENOMEM;
    b->data = d;
    b->cap = cap;
    return 0;
}

int bs__buf_append(bs_buf *b, const void *p, size_t n)
{
    int rc = bs__buf_reserve(b, n);
    if (rc)
        return rc;
    if (n)
        memcpy(b->data + b->len, p, n);
    b->len += n;
    return 0;
}

void bs__buf_free(bs_buf *b)
{
    free(b->data);
    b->data = NULL;
    b->len = b->cap = 0;
}

/* Strict UTF-8: no overlong forms, no surrogates, nothing above U+10FFFF, no NUL. */
int bs__utf8_valid(const unsigned char *s, size_t n)
{
    size_t i = 0;
    while (i < n) {
        /* eight ASCII bytes at a time (a key usually is all ASCII): none
         * with its high bit set, none zero */
        if (n - i >= 8) {
            uint64_t w;
            memcpy(&w, s + i, 8);
            if (((w | ((w & 0x7f7f7f7f7f7f7f7full) + 0x7f7f7f7f7f7f7f7full)) &
                 0x8080808080808080ull) == 0x8080808080808080ull &&
                (w & 0x8080808080808080ull) == 0) {
                i += 8;
                continue;
            }
        }
        unsigned c = s[i];
        if (c == 0)
            return 0;
        if (c < 0x80) {
            i++;
            continue;
        }
        size_t len;
        unsigned cp, min;
        if ((c & 0xE0) == 0xC0) {
            len = 2, cp = c & 0x1F, min = 0x80;
        } else if ((c & 0xF0) == 0xE0) {
            len = 3, cp = c & 0x0F, min = 0x800;
        } else if ((c & 0xF8) == 0xF0) {
            len = 4, cp = c & 0x07, min = 0x10000;
        } else {
            return 0;
        }
        if (n - i < len)
            return 0;
        for (size_t k = 1; k < len; k++) {
            if ((s[i + k] & 0xC0) != 0x80)
                return 0;
            cp = (cp << 6) | (s[i + k] & 0x3F);
        }
        if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))
            return 0;
        i += len;
    }
    return 1;
}

int bs__key_check(const char *key)
{
    if (!key)
        return bs__error(BLOBSTORE_EINVAL, "key is NULL");
    size_t n = strlen(key);
    if (n == 0)
        return bs__error(BLOBSTORE_EINVAL, "key is empty");
    if (n > BLOBSTORE_KEY_MAX)
        return bs__error(BLOBSTORE_EINVAL, "key is %zu bytes long; the limit is %d", n,
                         BLOBSTORE_KEY_MAX);
    if (!bs__utf8_valid((const unsigned char *)key, n))
        return bs__error(BLOBSTORE_EINVAL, "key is not valid UTF-8");
    return 0;
}

int bs__key_check_new(const char *key)
{
    int rc = bs__key_check(key);
    if (rc)
        return rc;
    for (const unsigned char *p = (const unsigned char *)key; *p; p++) {
        if (*p >= 0x20 && *p != 0x7F)
            continue;
        static const char *const names[0x20] = {
            [0x09] = "tab", [0x0A] = "newline", [0x0D] = "carriage return", [0x1B] = "escape"};
        const char *name = *p < sizeof(names) / sizeof(names[0]) && names[*p] ? names[*p]
                           : *p == 0x7F                                       ? "delete"
                                                                              : "";
        return bs__error(BLOBSTORE_EINVAL,
                         "key contains the control character 0x%02X%s%s%s at byte %zu: keys may "
                         "not contain control characters (0x00-0x1F, 0x7F)",
                         *p, *name ? " (" : "", name, *name ? ")" : "",
                         (size_t)(p - (const unsigned char *)key));
    }
    return 0;
}

void bs__hex(char *out, const unsigned char *in, size_t n)
{
    static const char digits[] = "0123456789abcdef";
    for (size_t i = 0; i < n; i++) {
        out[2 * i] = digits[in[i] >> 4];
        out[2 * i + 1] = digits[in[i] & 15];
    }
    out[2 * n] = '\0';
}

int bs__random_bytes(void *out, size_t n)
{
    unsigned char *p = out;
    while (n) {
        ssize_t r = getrandom(p, n, 0);
        if (r < 0) {
            if (errno == EINTR)
                continue;
            return bs__error_errno(errno, "getrandom");
        }
        p += r;
        n -= (size_t)r;
    }
    return 0;
}

/* The digits written by hand: snprintf was a twentieth of a small put
 * (issue 16). */
static char *digits(char *p, unsigned v, int n)
{
    for (int i = n - 1; i >= 0; i--, v /= 10)
        p[i] = (char)('0' + v % 10);
    return p + n;
}

void bs__iso_time(char out[32], const struct timespec *ts)
{
    struct tm tm;
    time_t t = ts->tv_sec;
    gmtime_r(&t, &tm);
    long us = ts->tv_nsec / 1000;
    if (tm.tm_year + 1900 < 0 || tm.tm_year + 1900 > 9999 || us < 0 || us > 999999) {
        snprintf(out, 32, "%04d-%02d-%02dT%02d:%02d:%02d.%06ldZ", tm.tm_year + 1900, tm.tm_mon + 1,
                 tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, us);
        return;
    }
    char *p = digits(out, (unsigned)(tm.tm_year + 1900), 4);
    *p++ = '-';
    p = digits(p, (unsigned)tm.tm_mon + 1, 2);
    *p++ = '-';
    p = digits(p, (unsigned)tm.tm_mday, 2);
    *p++ = 'T';
    p = digits(p, (unsigned)tm.tm_hour, 2);
    *p++ = ':';
    p = digits(p, (unsigned)tm.tm_min, 2);
    *p++ = ':';
    p = digits(p, (unsigned)tm.tm_sec, 2);
    *p++ = '.';
    p = digits(p, (unsigned)us, 6);
    *p++ = 'Z';
    *p = 0;
}

void bs__now_iso(char out[32])
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    bs__iso_time(out, &ts);
}

static pthread_mutex_t library_lock = PTHREAD_MUTEX_INITIALIZER;

int bs__library_load(bs_library *lib)
{
    if (__atomic_load_n(&lib->state, __ATOMIC_ACQUIRE) == 1)
        return 0;
    pthread_mutex_lock(&library_lock);
    if (lib->state == 0) {
        void *h = dlopen(lib->soname, RTLD_NOW | RTLD_LOCAL);
        const char *miss = NULL;
        for (size_t i = 0; h && i < lib->n && !miss; i++)
            if (!(*lib->syms[i].slot = dlsym(h, lib->syms[i].name)))
                miss = lib->syms[i].name;
        if (!h || miss) {
            const char *e = dlerror();
            snprintf(lib->why, sizeof(lib->why), "cannot load %s%s%s: %s", lib->soname,
                     miss ? "'s " : "", miss ? miss : "", e ? e : "not found");
            if (h)
                dlclose(h);
        }
        __atomic_store_n(&lib->state, h && !miss ? 1 : -1, __ATOMIC_RELEASE);
    }
    pthread_mutex_unlock(&library_lock);
    return lib->state == 1 ? 0 : bs__error(BLOBSTORE_EIO, "%s", lib->why);
}

/* libcrypto (SHA-256), loaded at the first hash (bs_library). The
 * low-level SHA256_* (below) are deprecated since OpenSSL 3.0, hence the
 * guard and the pragma; EVP_Digest where they are gone. */
#if OPENSSL_VERSION_MAJOR < 4 && !defined(OPENSSL_NO_DEPRECATED_3_0)
#define SHA256_LOW_LEVEL 1
#endif
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wdeprecated-declarations"
static struct {
    __typeof__(EVP_MD_fetch) *md_fetch;
    __typeof__(EVP_sha256) *sha256;
    __typeof__(EVP_MD_CTX_new) *ctx_new;
    __typeof__(EVP_MD_CTX_free) *ctx_free;
    __typeof__(EVP_DigestInit_ex) *init;
    __typeof__(EVP_DigestUpdate) *update;
    __typeof__(EVP_DigestFinal_ex) *final;
#ifdef SHA256_LOW_LEVEL
    __typeof__(SHA256_Init) *low_init;
    __typeof__(SHA256_Update) *low_update;
    __typeof__(SHA256_Final) *low_final;
#else
    __typeof__(EVP_Digest) *digest;
#endif
} ossl;
#pragma GCC diagnostic pop
static const bs_symbol ossl_syms[] = {
    {"EVP_MD_fetch", (void **)&ossl.md_fetch},    {"EVP_sha256", (void **)&ossl.sha256},
    {"EVP_MD_CTX_new", (void **)&ossl.ctx_new},   {"EVP_MD_CTX_free", (void **)&ossl.ctx_free},
    {"EVP_DigestInit_ex", (void **)&ossl.init},   {"EVP_DigestUpdate", (void **)&ossl.update},
    {"EVP_DigestFinal_ex", (void **)&ossl.final},
#ifdef SHA256_LOW_LEVEL
    {"SHA256_Init", (void **)&ossl.low_init},     {"SHA256_Update", (void **)&ossl.low_update},
    {"SHA256_Final", (void **)&ossl.low_final},
#else
    {"EVP_Digest", (void **)&ossl.digest},
#endif
};
#define STR_(x) #x
#define STR(x)  STR_(x)
static bs_library libcrypto = {"libcrypto.so." STR(OPENSSL_VERSION_MAJOR), ossl_syms,
                               sizeof(ossl_syms) / sizeof(ossl_syms[0]), 0, ""};

/* OpenSSL 3 looks the algorithm up on every implicit EVP_sha256() use;
 * fetch it once (with the library). */
static EVP_MD *md_fetched;
static pthread_once_t md_once = PTHREAD_ONCE_INIT;

static void sha256_fetch(void)
{
    if (bs__library_load(&libcrypto) == 0)
        md_fetched = ossl.md_fetch(NULL, "SHA256", NULL);
}

/* The SHA-256 algorithm, libcrypto loaded; NULL (the error set) if it
 * cannot be. */
static const EVP_MD *sha256_md(void)
{
    pthread_once(&md_once, sha256_fetch);
    if (bs__library_load(&libcrypto))
        return NULL;
    return md_fetched ? md_fetched : ossl.sha256();
}

struct bs_sha256 {
    EVP_MD_CTX *ctx;
};

bs_sha256 *bs__sha256_new(void)
{
    const EVP_MD *md = sha256_md();
    if (!md)
        return NULL;
    bs_sha256 *h = bs__malloc(sizeof(*h));
    if (!h)
        return NULL;
    h->ctx = ossl.ctx_new();
    if (!h->ctx || ossl.init(h->ctx, md, NULL) != 1) {
        ossl.ctx_free(h->ctx);
        free(h);
        bs__error(BLOBSTORE_ENOMEM, "cannot initialise SHA-256");
        return NULL;
    }
    return h;
}

void bs__sha256_update(bs_sha256 *h, const void *p, size_t n)
{
    if (n)
        ossl.update(h->ctx, p, n);
}

static void *sha256_thread_run(void *p)
{
    bs_sha_thread *t = p;
    for (size_t i = 0; i < t->niov; i++)
        bs__sha256_update(t->h, t->iov[i].data, t->iov[i].len);
    return NULL;
}

int bs__sha256_thread_start(bs_sha_thread *t, bs_sha256 *h, const bs_iov *iov, size_t niov)
{
    t->h = h;
    t->iov = iov;
    t->niov = niov;
    return pthread_create(&t->tid, NULL, sha256_thread_run, t) == 0;
}

void bs__sha256_thread_join(bs_sha_thread *t)
{
    pthread_join(t->tid, NULL);
}

void bs__sha256_final(bs_sha256 *h, unsigned char md[32])
{
    unsigned int len = 0;
    ossl.final(h->ctx, md, &len);
    bs__sha256_free(h);
}

void bs__sha256_final_hex(bs_sha256 *h, char out[65])
{
    unsigned char md[32];
    bs__sha256_final(h, md);
    bs__hex(out, md, 32);
}

void bs__sha256_free(bs_sha256 *h)
{
    if (h) {
        ossl.ctx_free(h->ctx);
        free(h);
    }
}

/* The one-shot hash (a small value's, on every put) through the low-level
 * SHA256_* where this OpenSSL still has them: the same assembly as EVP's
 * without its context and provider state allocated, looked up and freed
 * per call. Cache-cold after each round trip to a server, EVP_Digest was
 * ~14% of a 200-byte PostgreSQL put's client samples (perf), and a kept
 * EVP context still ~8% (its init frees and allocates the provider's
 * state). It cannot fail but for libcrypto missing at its first use, which
 * ends the process as the missing library would have at its start. */
void bs__sha256_hex(char out[65], const void *p, size_t n)
{
    unsigned char md[32];
    const EVP_MD *alg = sha256_md();
    if (!alg) {
        fprintf(stderr, "blobstore: %s\n", libcrypto.why);
        abort();
    }
#ifdef SHA256_LOW_LEVEL
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wdeprecated-declarations"
    SHA256_CTX c;
    ossl.low_init(&c);
    ossl.low_update(&c, p, n);
    ossl.low_final(md, &c);
#pragma GCC diagnostic pop
#else
    unsigned int len = 0;
    ossl.digest(p, n, md, &len, alg, NULL);
#endif
    bs__hex(out, md, 32);
}

char *bs__path_join(const char *a, const char *b)
{
    size_t la = strlen(a), lb = strlen(b);
    char *p = bs__malloc(la + lb + 2);
    if (!p)
        return NULL;
    memcpy(p, a, la);
    p[la] = '/';
    memcpy(p + la + 1, b, lb + 1);
    return p;
}

int bs__mkdir_p(const char *path, int mode)
{
    char *p = bs__strdup(path);
    if (!p)
        return BLOBSTORE_ENOMEM;
    int rc = 0;
    for (char *s = p + 1;; s++) {
        if (*s == '/' || *s == '\0') {
            char c = *s;
            *s = '\0';
            if (mkdir(p, (mode_t)mode) != 0 && errno != EEXIST) {
                rc = bs__error_errno(errno, "cannot create directory %s", p);
                break;
            }
            *s = c;
            if (!c)
                break;
        }
    }
    free(p);
    return rc;
}

int bs__fsync_dir(const char *dir)
{
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0)
        return bs__error_errno(errno, "cannot open directory %s", dir);
    int rc = 0;
    if (fsync(fd) != 0)
        rc = bs__error_errno(errno, "fsync of directory %s", dir);
    close(fd);
    return rc;
}

int bs__write_all(int fd, const void *p, size_t n)
{
    const unsigned char *c = p;
    while (n) {
        ssize_t w = write(fd, c, n);
        if (w < 0) {
            if (errno == EINTR)
                continue;
            return -errno;
        }
        c += w;
        n -= (size_t)w;
    }
    return 0;
}

int bs__write_file_atomic(const char *path, const void *data, size_t len, int sync)
{
    size_t n = strlen(path);
    char *tmp = bs__malloc(n + 32);
    if (!tmp)
        return BLOBSTORE_ENOMEM;
    unsigned char rnd[6];
    char hex[13];
    int rc = bs__random_bytes(rnd, sizeof(rnd));
    if (rc) {
        free(tmp);
        return rc;
    }
    bs__hex(hex, rnd, sizeof(rnd));
    snprintf(tmp, n + 32, "%s.tmp-%s", path, hex);
    int fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0644);
    if (fd < 0) {
        rc = bs__error_errno(errno, "cannot create %s", tmp);
        free(tmp);
        return rc;
    }
    int e = bs__write_all(fd, data, len);
    if (e)
        rc = bs__error_errno(-e, "cannot write %s", tmp);
    else if (sync && fsync(fd) != 0)
        rc = bs__error_errno(errno, "fsync of %s", tmp);
    if (close(fd) != 0 && !rc)
        rc = bs__error_errno(errno, "close of %s", tmp);
    if (!rc && rename(tmp, path) != 0)
        rc = bs__error_errno(errno, "cannot rename %s to %s", tmp, path);
    if (rc) {
        unlink(tmp);
    } else if (sync) {
        char *dir = bs__strdup(path);
        if (!dir) {
            rc = BLOBSTORE_ENOMEM;
        } else {
            char *slash = strrchr(dir, '/');
            if (slash == dir)
                slash[1] = '\0';
            else if (slash)
                *slash = '\0';
            else
                strcpy(dir, ".");
            rc = bs__fsync_dir(dir);
            free(dir);
        }
    }
    free(tmp);
    return rc;
}

int bs__read_file(const char *path, bs_buf *out)
{
    /* the store's own files: never through a symbolic link */
    int fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0) {
        if (errno == ENOENT)
            return bs__error(BLOBSTORE_ENOTFOUND, "%s does not exist", path);
        if (errno == ELOOP)
            return bs__error(BLOBSTORE_ECORRUPT,
                             "%s is a symbolic link: the store never follows links in its "
                             "directories",
                             path);
        return bs__error_errno(errno, "cannot open %s", path);
    }
    int rc = 0;
    for (;;) {
        if ((rc = bs__buf_reserve(out, 65536)) != 0)
            break;
        ssize_t r = read(fd, out->data + out->len, out->cap - out->len);
        if (r < 0) {
            if (errno == EINTR)
                continue;
            rc = bs__error_errno(errno, "cannot read %s", path);
            break;
        }
        if (r == 0)
            break;
        out->len += (size_t)r;
    }
    close(fd);
    return rc;
}
