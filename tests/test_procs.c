/*
 * test_procs.c - several processes on one store, and processes killed with
 * SIGKILL in the middle of a stream of puts.
 */
#include "test.h"

#include "blobstore.h"

#include <signal.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static blobstore *open_at(const char *dir, const char *backend, int durability)
{
    blobstore_options o = BLOBSTORE_OPTIONS_INIT;
    o.cache_dir = dir;
    o.backend = backend;
    o.durability = durability;
    blobstore *bs = NULL;
    if (blobstore_open(&bs, &o) != 0) {
        fprintf(stderr, "open %s: %s\n", dir, blobstore_errmsg());
        return NULL;
    }
    return bs;
}

/* The content of key k: deterministic, some values large enough that a
 * kill lands in the middle of writing them. */
static size_t content_of(const char *key, unsigned char **out)
{
    unsigned h = 2166136261u;
    for (const char *p = key; *p; p++)
        h = (h ^ (unsigned char)*p) * 16777619u;
    size_t len = h % 5 == 0 ? 1500000 + h % 1000000 : 10 + h % 3000;
    unsigned char *d = malloc(len);
    for (size_t i = 0; i < len; i++) {
        h = h * 1103515245u + 12345u;
        d[i] = (unsigned char)(i % 3 ? h >> 24 : i);
    }
    *out = d;
    return len;
}

static int has_content(blobstore *bs, const char *key)
{
    unsigned char *want;
    size_t n = content_of(key, &want), got_n;
    void *got;
    int rc = blobstore_get(&got, &got_n, bs, key);
    int ok = rc == 0 && got_n == n && memcmp(got, want, n) == 0;
    if (!ok)
        fprintf(stderr, "  key %s: rc %d (%s), %zu vs %zu bytes\n", key, rc, blobstore_errmsg(),
                rc ? 0 : got_n, n);
    if (!rc)
        blobstore_free(got);
    free(want);
    return ok;
}

static void writers(const char *backend)
{
    const char *dir = test_tmpdir();
    blobstore *bs = open_at(dir, backend, 0); /* create the store first */
    CHECK(bs != NULL);
    CHECK_EQ(blobstore_put(NULL, bs, "shared", "x", 1, "{}"), 0);
    blobstore_close(bs);
    enum { PROCS = 4, PUTS = 60 };
    pid_t pids[PROCS];
    for (int p = 0; p < PROCS; p++) {
        pids[p] = fork();
        if (pids[p] == 0) {
            blobstore *mine = open_at(dir, backend, BLOBSTORE_DURABILITY_RELAXED);
            int fails = !mine;
            char key[64], member[64];
            for (int i = 0; mine && i < PUTS; i++) {
                snprintf(key, sizeof(key), "p%d/k%03d", p, i);
                unsigned char *d;
                size_t n = content_of(key, &d);
                n = n > 100000 ? 100000 : n; /* keep this test quick */
                if (blobstore_put(NULL, mine, key, d, n, "{\"proc\": true}") != 0)
                    fails++;
                free(d);
                if (i % 10 == 0) {
                    snprintf(member, sizeof(member), "{\"p%d_%d\": %d}", p, i, i);
                    if (blobstore_update_metadata(mine, "shared", member) != 0)
                        fails++;
                }
            }
            blobstore_close(mine);
            _exit(fails ? 1 : 0);
        }
    }
    for (int p = 0; p < PROCS; p++) {
        int st;
        waitpid(pids[p], &st, 0);
        CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0);
    }
    bs = open_at(dir, backend, 0);
    CHECK(bs != NULL);
    blobstore_list l;
    CHECK_EQ(blobstore_list_keys(&l, bs, NULL, "{\"proc\": true}"), 0);
    CHECK_EQ(l.count, PROCS * PUTS);
    blobstore_list_free(&l);
    char *meta;
    CHECK_EQ(blobstore_get_metadata(&meta, bs, "shared"), 0);
    for (int p = 0; p < PROCS; p++)
        for (int i = 0; i < PUTS; i += 10) {
            char member[64];
            snprintf(member, sizeof(member), "\"p%d_%d\":%d", p, i, i);
            CHECK(strstr(meta, member) != NULL);
        }
    blobstore_free(meta);
    blobstore_verify_stats vs;
    CHECK_EQ(blobstore_verify(&vs, bs, 0, NULL, NULL), 0);
    CHECK_EQ(vs.ok, PROCS * PUTS + 1);
    CHECK_EQ(vs.corrupt + vs.dangling + vs.orphans + vs.temps, 0);
    blobstore_close(bs);
}

TEST(processes_share_json_store)
{
    writers("json");
}

TEST(processes_share_sqlite_store)
{
    writers("sqlite");
}

/* A child puts k0000, k0001, ... and reports each key on a pipe once its
 * put returned; the parent kills it at a random moment, then checks. */
static void kill_rounds(const char *backend, int durability)
{
    const char *dir = test_tmpdir();
    blobstore *bs = open_at(dir, backend, durability);
    CHECK(bs != NULL);
    blobstore_close(bs);
    srand((unsigned)time(NULL) ^ (unsigned)getpid());
    int next = 0;
    for (int round = 0; round < 4; round++) {
        int fds[2];
        CHECK_EQ(pipe(fds), 0);
        pid_t pid = fork();
        if (pid == 0) {
            close(fds[0]);
            blobstore *mine = open_at(dir, backend, durability);
            char key[32];
            for (int i = next;; i++) {
                snprintf(key, sizeof(key), "k%05d", i);
                unsigned char *d;
                size_t n = content_of(key, &d);
                if (!mine || blobstore_put(NULL, mine, key, d, n, NULL) != 0)
                    _exit(3);
                free(d);
                if (i % 7 == 3) /* replacements and deletes too */
                    blobstore_delete(mine, key);
                int w = i;
                if (write(fds[1], &w, sizeof(w)) != sizeof(w))
                    _exit(4);
            }
        }
        close(fds[1]);
        usleep(30000 + (useconds_t)(rand() % 150000));
        kill(pid, SIGKILL);
        int st;
        waitpid(pid, &st, 0);
        CHECK(WIFSIGNALED(st));
        int done = -1, w;
        while (read(fds[0], &w, sizeof(w)) == sizeof(w))
            done = w;
        close(fds[0]);

        bs = open_at(dir, backend, durability);
        CHECK(bs != NULL);
        blobstore_list l;
        CHECK_EQ(blobstore_list_keys(&l, bs, NULL, NULL), 0);
        for (size_t i = 0; i < l.count; i++)
            CHECK(has_content(bs, l.keys[i]));
        blobstore_list_free(&l);
        for (int i = next; i <= done; i++) { /* every put that returned is there */
            char key[32];
            snprintf(key, sizeof(key), "k%05d", i);
            CHECK_EQ(blobstore_exists(bs, key), i % 7 == 3 ? 0 : 1);
        }
        blobstore_verify_stats vs;
        CHECK_EQ(blobstore_verify(&vs, bs, 0, NULL, NULL), 0);
        CHECK_EQ(vs.corrupt, 0);
        CHECK_EQ(vs.dangling, 0);
        CHECK_EQ(blobstore_verify(&vs, bs, BLOBSTORE_VERIFY_REPAIR, NULL, NULL), 0);
        CHECK_EQ(blobstore_verify(&vs, bs, 0, NULL, NULL), 0);
        CHECK_EQ(vs.corrupt + vs.dangling + vs.orphans + vs.temps, 0);
        CHECK_EQ(vs.ok, vs.entries);
        blobstore_close(bs);
        next = done + 2; /* the key being written at the kill may or may not be there */
    }
}

TEST(sigkill_json_durable)
{
    kill_rounds("json", BLOBSTORE_DURABILITY_DURABLE);
}

TEST(sigkill_json_relaxed)
{
    kill_rounds("json", BLOBSTORE_DURABILITY_RELAXED);
}

TEST(sigkill_sqlite_durable)
{
    kill_rounds("sqlite", BLOBSTORE_DURABILITY_DURABLE);
}

TEST(sigkill_sqlite_relaxed)
{
    kill_rounds("sqlite", BLOBSTORE_DURABILITY_RELAXED);
}

static const test_case tests[] = {
    TEST_ENTRY(processes_share_json_store), TEST_ENTRY(processes_share_sqlite_store),
    TEST_ENTRY(sigkill_json_durable),       TEST_ENTRY(sigkill_json_relaxed),
    TEST_ENTRY(sigkill_sqlite_durable),     TEST_ENTRY(sigkill_sqlite_relaxed),
};
TEST_MAIN(tests)
