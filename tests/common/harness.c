/* SPDX-License-Identifier: BSD-3-Clause */
#include "config.h"

#include "harness.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <grp.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <glib.h>

const char *harness_daemon_path(void)
{
    const char *p = getenv("VFIOUSERD");

    return p != NULL ? p : BUILDDIR "/daemon/vfiouserd";
}

const char *harness_plugin_dir(void)
{
    const char *p = getenv("VFIOUSERD_PLUGIN_DIR");

    return p != NULL ? p : BUILDDIR "/plugins/.libs";
}

static char *replace(const char *text, const char *from, const char *to)
{
    g_auto(GStrv) parts = g_strsplit(text, from, -1);

    return g_strjoinv(to, parts);
}

struct harness *harness_new(const char *config_text)
{
    struct harness *h = g_new0(struct harness, 1);
    g_autofree char *t1 = NULL;
    g_autofree char *t2 = NULL;

    h->dir = g_dir_make_tmp("vfud-test-XXXXXX", NULL);
    g_assert_nonnull(h->dir);
    h->sock_dir = g_build_filename(h->dir, "sock", NULL);
    h->config_path = g_build_filename(h->dir, "vfiouserd.conf", NULL);
    h->log_path = g_build_filename(h->dir, "daemon.log", NULL);
    h->pid = -1;
    t1 = replace(config_text != NULL ? config_text : "", "@SOCKDIR@", h->sock_dir);
    t2 = replace(t1, "@DIR@", h->dir);
    g_assert_true(g_file_set_contents(h->config_path, t2, -1, NULL));
    return h;
}

char *harness_socket(const struct harness *h, const char *device)
{
    return g_strdup_printf("%s/%s.sock", h->sock_dir, device);
}

bool harness_wrapped(void)
{
    const char *w = getenv("VFIOUSERD_WRAPPER");

    return w != NULL && w[0] != '\0';
}

/* $VFIOUSERD_WRAPPER's words, then the daemon. */
static GPtrArray *wrapper_argv(void)
{
    GPtrArray *argv = g_ptr_array_new_with_free_func(g_free);

    if (harness_wrapped()) {
        gchar **parts = NULL;

        g_assert_true(g_shell_parse_argv(getenv("VFIOUSERD_WRAPPER"), NULL,
                                         &parts, NULL));
        for (gchar **p = parts; *p != NULL; p++) {
            g_ptr_array_add(argv, g_strdup(*p));
        }
        g_strfreev(parts);
    }
    g_ptr_array_add(argv, g_strdup(harness_daemon_path()));
    return argv;
}

/* fork and exec argv with stdin /dev/null, stdout and stderr out_fd, and
 * what `how` asks for (may be NULL); no other fd of ours. */
static pid_t spawn(GPtrArray *argv, int out_fd, const struct harness_spawn *how)
{
    unsigned nr_fds = how != NULL ? how->nr_fds : 0;
    int moved[16];
    pid_t pid;

    g_assert_cmpuint(nr_fds, <=, G_N_ELEMENTS(moved));
    g_ptr_array_add(argv, NULL);
    pid = fork();
    g_assert_cmpint(pid, >=, 0);
    if (pid == 0) {
        int null = open("/dev/null", O_RDONLY);
        char pidbuf[32];

        dup2(null, 0);
        dup2(out_fd, 1);
        dup2(out_fd, 2);
        /* Passed fds: out of the way of 3.. first, then into place. */
        for (unsigned i = 0; i < nr_fds; i++) {
            moved[i] = fcntl(how->fds[i], F_DUPFD_CLOEXEC, 100);
        }
        for (unsigned i = 0; i < nr_fds; i++) {
            dup2(moved[i], 3 + (int)i);
        }
        /* The daemon must not inherit our test fds. */
        for (int fd = 3 + (int)nr_fds; fd < 1024; fd++) {
            close(fd);
        }
        snprintf(pidbuf, sizeof(pidbuf), "%d", (int)getpid());
        for (const char *const *e = how != NULL ? how->env : NULL;
             e != NULL && *e != NULL; e++) {
            g_autofree char *name = g_strndup(*e, strcspn(*e, "="));
            const char *value = strchr(*e, '=') != NULL ? strchr(*e, '=') + 1 : "";

            setenv(name, strcmp(value, "self") == 0 ? pidbuf : value, 1);
        }
        if (how != NULL && how->uid != (uid_t)-1) {
            /* Our private TMPDIR is not theirs (valgrind writes there). */
            setenv("TMPDIR", "/tmp", 1);
            if (setgroups(0, NULL) < 0 || setgid(how->gid) < 0 ||
                setuid(how->uid) < 0) {
                _exit(126);
            }
        }
        execvp((char *)argv->pdata[0], (char **)argv->pdata);
        _exit(127);
    }
    return pid;
}

pid_t harness_spawn(const char *const *args, const struct harness_spawn *how)
{
    g_autoptr(GPtrArray) argv = wrapper_argv();
    int log_fd;
    pid_t pid;

    for (const char *const *a = args; *a != NULL; a++) {
        g_ptr_array_add(argv, g_strdup(*a));
    }
    log_fd = open(how->log_path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    g_assert_cmpint(log_fd, >=, 0);
    pid = spawn(argv, log_fd, how);
    close(log_fd);
    return pid;
}

int harness_start(struct harness *h, const char *const *extra_args,
                  const char *const *wait_for)
{
    g_autoptr(GPtrArray) argv = wrapper_argv();
    g_autofree char *pd = g_strdup_printf("--plugin-dir=%s", harness_plugin_dir());
    gint64 deadline;
    int log_fd;

    g_ptr_array_add(argv, g_strdup("-c"));
    g_ptr_array_add(argv, g_strdup(h->config_path));
    g_ptr_array_add(argv, g_strdup(pd));
    for (const char *const *a = extra_args; a != NULL && *a != NULL; a++) {
        g_ptr_array_add(argv, g_strdup(*a));
    }
    log_fd = open(h->log_path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    g_assert_cmpint(log_fd, >=, 0);
    h->pid = spawn(argv, log_fd, NULL);
    close(log_fd);

    /* Valgrind makes start-up slow. */
    deadline = g_get_monotonic_time() + 30 * G_USEC_PER_SEC;
    for (;;) {
        bool all = true;
        int status;

        for (const char *const *d = wait_for; d != NULL && *d != NULL; d++) {
            g_autofree char *s = harness_socket(h, *d);

            if (access(s, F_OK) != 0) {
                all = false;
            }
        }
        if (all) {
            return 0;
        }
        if (waitpid(h->pid, &status, WNOHANG) == h->pid) {
            h->pid = -1;
            return -1;
        }
        if (g_get_monotonic_time() > deadline) {
            return -1;
        }
        g_usleep(10000);
    }
}

int harness_stop(struct harness *h)
{
    int status;
    gint64 deadline = g_get_monotonic_time() + 30 * G_USEC_PER_SEC;

    if (h->pid < 0) {
        return -1;
    }
    kill(h->pid, SIGTERM);
    for (;;) {
        pid_t r = waitpid(h->pid, &status, WNOHANG);

        if (r == h->pid) {
            break;
        }
        if (g_get_monotonic_time() > deadline) {
            kill(h->pid, SIGKILL);
            waitpid(h->pid, &status, 0);
            break;
        }
        g_usleep(10000);
    }
    h->pid = -1;
    if (WIFEXITED(status)) {
        return WEXITSTATUS(status);
    }
    return 128 + WTERMSIG(status);
}

char *harness_log(const struct harness *h)
{
    char *text = NULL;

    if (!g_file_get_contents(h->log_path, &text, NULL, NULL)) {
        return g_strdup("");
    }
    return text;
}

bool harness_log_contains(const struct harness *h, const char *text)
{
    g_autofree char *log = harness_log(h);

    return strstr(log, text) != NULL;
}

static void remove_tree(const char *path)
{
    GDir *d = g_dir_open(path, 0, NULL);
    const char *name;

    if (d != NULL) {
        while ((name = g_dir_read_name(d)) != NULL) {
            g_autofree char *p = g_build_filename(path, name, NULL);

            if (g_file_test(p, G_FILE_TEST_IS_DIR) &&
                !g_file_test(p, G_FILE_TEST_IS_SYMLINK)) {
                remove_tree(p);
            } else {
                unlink(p);
            }
        }
        g_dir_close(d);
    }
    rmdir(path);
}

void harness_free(struct harness *h)
{
    if (h == NULL) {
        return;
    }
    if (h->pid > 0) {
        kill(h->pid, SIGKILL);
        waitpid(h->pid, NULL, 0);
    }
    if (getenv("VFUD_TEST_KEEP") == NULL) {
        remove_tree(h->dir);
    }
    g_free(h->dir);
    g_free(h->sock_dir);
    g_free(h->config_path);
    g_free(h->log_path);
    g_free(h);
}

int harness_run(const char *const *args, char **output)
{
    g_autoptr(GPtrArray) argv = wrapper_argv();
    char tmpl[] = "/tmp/vfud-out-XXXXXX";
    int fd = mkstemp(tmpl);
    int status;
    pid_t pid;

    g_assert_cmpint(fd, >=, 0);
    unlink(tmpl);
    for (const char *const *a = args; a != NULL && *a != NULL; a++) {
        g_ptr_array_add(argv, g_strdup(*a));
    }
    pid = spawn(argv, fd, NULL);
    waitpid(pid, &status, 0);
    if (output != NULL) {
        off_t len = lseek(fd, 0, SEEK_END);

        *output = g_malloc0((gsize)len + 1);
        g_assert_cmpint(pread(fd, *output, (size_t)len, 0), ==, len);
    }
    close(fd);
    if (WIFEXITED(status)) {
        return WEXITSTATUS(status);
    }
    return 128 + WTERMSIG(status);
}

bool harness_rss_meaningful(void)
{
#ifdef VFUD_SANITIZED
    return false;
#else
    return !harness_wrapped();
#endif
}

int harness_fd_count(pid_t pid)
{
    g_autofree char *path = g_strdup_printf("/proc/%d/fd", (int)pid);
    GDir *d = g_dir_open(path, 0, NULL);
    int n = 0;

    if (d == NULL) {
        return -1;
    }
    while (g_dir_read_name(d) != NULL) {
        n++;
    }
    g_dir_close(d);
    return n;
}

/* io_uring instances among a process's fds (the merged turn's rings:
 * engine/conn_uring.c), -1 if its fds cannot be read. */
int harness_io_uring_count(pid_t pid)
{
    g_autofree char *path = g_strdup_printf("/proc/%d/fd", (int)pid);
    GDir *d = g_dir_open(path, 0, NULL);
    const char *name;
    int n = 0;

    if (d == NULL) {
        return -1;
    }
    while ((name = g_dir_read_name(d)) != NULL) {
        g_autofree char *fd = g_build_filename(path, name, NULL);
        g_autofree char *target = g_file_read_link(fd, NULL);

        n += g_strcmp0(target, "anon_inode:[io_uring]") == 0;
    }
    g_dir_close(d);
    return n;
}
