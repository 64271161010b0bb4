/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The fd store an isolated device's parent keeps for its child
 * (daemon/isolate_store.c), built from its source alone, with systemd's
 * store (fdstore.c) replaced by a list of the names pushed to it.
 *
 * What it takes for a file it keeps already.  The rule is systemd's: the
 * same open file (a dup(), an SCM_RIGHTS pass) is kept once, whatever the
 * name, and two opens of one file are two files, as two eventfds are
 * although they share the kernel's one anonymous inode.  Without kcmp
 * (here: a seccomp filter makes it fail with ENOSYS) the store falls back
 * to the inode: two opens of one file count as one, eventfds are all kept.
 */
#include "config.h"

#include "fdstore.h"
#include "isolate_store.h"

#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <glib.h>

#ifdef HAVE_SECCOMP
#include <seccomp.h>
#endif

/* ---- systemd's store, as isolate_store.c sees it ---- */
static GPtrArray *pushed; /* names, in order */

int fdstore_push(const char *name, int fd)
{
    (void)fd;
    g_ptr_array_add(pushed, g_strdup(name));
    return 0;
}

void fdstore_remove(const char *name)
{
    (void)name;
}

GPtrArray *fdstore_taken_names(const char *prefix)
{
    (void)prefix;
    return g_ptr_array_new_with_free_func(g_free);
}

int fdstore_take_fd(const char *name)
{
    (void)name;
    return -1;
}

/* ---- the child's side ---- */
static int store(int chan, const char *name, int fd)
{
    union {
        char buf[CMSG_SPACE(sizeof(int))];
        struct cmsghdr align;
    } u;
    g_autofree char *text = g_strdup_printf("FDSTORE=1\nFDNAME=%s\n", name);
    struct iovec iov = { .iov_base = text, .iov_len = strlen(text) };
    struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1,
                         .msg_control = u.buf, .msg_controllen = sizeof(u.buf) };
    struct cmsghdr *c = CMSG_FIRSTHDR(&mh);

    c->cmsg_level = SOL_SOCKET;
    c->cmsg_type = SCM_RIGHTS;
    c->cmsg_len = CMSG_LEN(sizeof(int));
    memcpy(CMSG_DATA(c), &fd, sizeof(int));
    return sendmsg(chan, &mh, 0) == (ssize_t)iov.iov_len ? 0 : -errno;
}

/* A child stores, in this order: a file (a), a dup() of it (b), a second
 * open of the same file (c), the first again under its own name, two
 * eventfds (e1, e2) and a dup() of the first (e3).  Returns the names
 * kept, ':'-joined as the next child gets them, and the names pushed to
 * systemd's store in *mirrored.  g_assert, not ck_assert: it also runs in
 * a process of the test's own. */
static char *scenario(char **mirrored)
{
    char path[] = "/tmp/test_isolate_store.XXXXXX";
    int file = mkstemp(path);
    int second = open(path, O_RDONLY | O_CLOEXEC);
    int dup_file = dup(file);
    int e1 = eventfd(0, EFD_CLOEXEC);
    int e2 = eventfd(0, EFD_CLOEXEC);
    int dup_e1 = dup(e1);
    const struct {
        const char *name;
        int fd;
    } sends[] = {
        { "vfud/a", file }, { "vfud/b", dup_file }, { "vfud/c", second },
        { "vfud/a", file }, { "vfud/e1", e1 },      { "vfud/e2", e2 },
        { "vfud/e3", dup_e1 },
    };
    const int mine[] = { file, second, dup_file, e1, e2, dup_e1 };
    struct iso_store *s = iso_store_new("d");
    GMainContext *ctx = g_main_context_new();
    g_autoptr(GArray) fds = g_array_new(FALSE, FALSE, sizeof(int));
    GString *names = g_string_new(NULL);
    int chan;

    unlink(path);
    for (size_t i = 0; i < G_N_ELEMENTS(mine); i++) {
        g_assert(mine[i] >= 0);
    }
    pushed = g_ptr_array_new_with_free_func(g_free);
    chan = iso_store_channel(s, ctx);
    g_assert(chan >= 0);
    for (size_t i = 0; i < G_N_ELEMENTS(sends); i++) {
        g_assert(store(chan, sends[i].name, sends[i].fd) == 0);
    }
    iso_store_pump(s, -1, 1000);
    iso_store_export(s, -1, fds, names);
    g_assert(fds->len == iso_store_count(s));
    g_ptr_array_add(pushed, NULL);
    *mirrored = g_strjoinv(":", (char **)pushed->pdata);
    iso_store_free(s);
    g_ptr_array_unref(pushed);
    g_main_context_unref(ctx);
    close(chan);
    for (size_t i = 0; i < G_N_ELEMENTS(mine); i++) {
        close(mine[i]);
    }
    return g_string_free(names, FALSE);
}

START_TEST(same_open_file_kept_once)
{
    g_autofree char *mirrored = NULL;
    g_autofree char *kept = scenario(&mirrored);

    /* b, the second a and e3 are files kept already; c is another open of
     * a's file, e2 another eventfd. */
    ck_assert_str_eq(kept, "vfud/a:vfud/c:vfud/e1:vfud/e2");
    ck_assert_str_eq(mirrored, "vfud/d/c/a:vfud/d/c/c:vfud/d/c/e1:vfud/d/c/e2");
}
END_TEST

START_TEST(without_kcmp_the_inode_decides)
{
#ifdef HAVE_SECCOMP
    pid_t pid;
    int st = 0;

    fflush(NULL);
    pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        scmp_filter_ctx f = seccomp_init(SCMP_ACT_ALLOW);
        g_autofree char *mirrored = NULL;
        g_autofree char *kept = NULL;

        /* As a kernel without CONFIG_KCMP answers. */
        if (f == NULL || prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0 ||
            seccomp_rule_add(f, SCMP_ACT_ERRNO(ENOSYS), SCMP_SYS(kcmp), 0) < 0 ||
            seccomp_load(f) < 0) {
            fprintf(stderr, "cannot load the filter\n");
            _exit(2);
        }
        kept = scenario(&mirrored);
        /* c has a's inode and is taken for it; e3, a dup() of e1, is kept
         * too, as any eventfd is. */
        if (strcmp(kept, "vfud/a:vfud/e1:vfud/e2:vfud/e3") != 0) {
            fprintf(stderr, "kept without kcmp: %s\n", kept);
            _exit(1);
        }
        _exit(0);
    }
    ck_assert_int_eq(waitpid(pid, &st, 0), pid);
    ck_assert_msg(WIFEXITED(st) && WEXITSTATUS(st) == 0, "child status %#x", st);
#else
    fprintf(stderr, "without_kcmp_the_inode_decides: built without libseccomp, "
            "no way to make kcmp fail\n");
#endif
}
END_TEST

static Suite *isolate_store_suite(void)
{
    Suite *s = suite_create("isolate_store");
    TCase *tc = tcase_create("duplicates");

    tcase_add_test(tc, same_open_file_kept_once);
    tcase_add_test(tc, without_kcmp_the_inode_decides);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(isolate_store_suite());
    int failed;

    srunner_run_all(sr, CK_ENV);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
