/* SPDX-License-Identifier: BSD-3-Clause */
#include "config.h"

#include "daemon_test.h"

#include <check.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <glib.h>

/* All temporary files of this program, so that a failed test (which
 * cannot clean up after itself) leaves nothing behind either. */
static char *top_tmp;

static int remove_entry(const char *path, const struct stat *st, int flag,
                        struct FTW *ftw)
{
    (void)st;
    (void)flag;
    (void)ftw;
    remove(path);
    return 0;
}

void dt_init(void)
{
    const char *tmp = getenv("TMPDIR");

    /* Not g_dir_make_tmp(): g_get_tmp_dir() reads TMPDIR once, on first
     * use, and must see ours. */
    top_tmp = g_strdup_printf("%s/vfud-daemon-tests-XXXXXX",
                              tmp != NULL && tmp[0] == '/' ? tmp : "/tmp");
    if (mkdtemp(top_tmp) != NULL) {
        setenv("TMPDIR", top_tmp, 1);
    } else {
        g_free(top_tmp);
        top_tmp = NULL;
    }
    /* Under systemd these would change the log format or make the daemon
     * talk to the real service manager. */
    unsetenv("NOTIFY_SOCKET");
    unsetenv("JOURNAL_STREAM");
    unsetenv("LISTEN_FDS");
    unsetenv("LISTEN_PID");
    /* A daemon that hangs up on a client must not kill the test. */
    signal(SIGPIPE, SIG_IGN);
    prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0);
}

/* Our children other than Check's (all reaped by now) are orphaned
 * daemons: a test failed before it could stop them.  Zombies are not:
 * a daemon's helper (sandbox_maps.c) outlives it by a moment and, as we
 * are the subreaper, becomes ours to reap. */
void dt_finish(void)
{
    DIR *d = opendir("/proc");
    struct dirent *e;

    if (d == NULL) {
        return;
    }
    while ((e = readdir(d)) != NULL) {
        g_autofree char *path = NULL;
        g_autofree char *stat = NULL;
        const char *p;
        long ppid;
        char state;

        if (e->d_name[0] < '1' || e->d_name[0] > '9') {
            continue;
        }
        path = g_strdup_printf("/proc/%s/stat", e->d_name);
        if (!g_file_get_contents(path, &stat, NULL, NULL)) {
            continue;
        }
        /* "pid (comm) state ppid ...": comm may hold spaces and ')'. */
        p = strrchr(stat, ')');
        if (p == NULL || sscanf(p + 1, " %c %ld", &state, &ppid) != 2) {
            continue;
        }
        if (ppid == (long)getpid() && state != 'Z') {
            pid_t pid = (pid_t)atol(e->d_name);

            fprintf(stderr, "killing daemon %d left by a failed test\n", (int)pid);
            kill(pid, SIGKILL);
        }
    }
    closedir(d);
    while (waitpid(-1, NULL, WNOHANG) > 0) {
    }
    if (top_tmp != NULL && getenv("VFUD_TEST_KEEP") == NULL) {
        nftw(top_tmp, remove_entry, 16, FTW_DEPTH | FTW_PHYS);
    }
    g_free(top_tmp);
    top_tmp = NULL;
}

bool dt_has_line(const char *text, const char *line)
{
    g_auto(GStrv) lines = g_strsplit(text, "\n", -1);

    for (char **l = lines; *l != NULL; l++) {
        if (strcmp(*l, line) == 0) {
            return true;
        }
    }
    return false;
}

bool dt_has_match(const char *text, const char *regex)
{
    return g_regex_match_simple(regex, text, G_REGEX_MULTILINE, 0);
}

unsigned dt_count_lines(const char *text, const char *prefix)
{
    g_auto(GStrv) lines = g_strsplit(text, "\n", -1);
    unsigned n = 0;

    for (char **l = lines; *l != NULL; l++) {
        if (g_str_has_prefix(*l, prefix)) {
            n++;
        }
    }
    return n;
}

int dt_check_config(const struct harness *h, bool plugin_dir,
                    const char *const *extra, char **output)
{
    g_autoptr(GPtrArray) args = g_ptr_array_new_with_free_func(g_free);
    int rc;

    g_ptr_array_add(args, g_strdup("--check-config"));
    g_ptr_array_add(args, g_strdup("-c"));
    g_ptr_array_add(args, g_strdup(h->config_path));
    if (plugin_dir) {
        g_ptr_array_add(args, g_strdup_printf("--plugin-dir=%s",
                                              harness_plugin_dir()));
    }
    for (const char *const *a = extra; a != NULL && *a != NULL; a++) {
        g_ptr_array_add(args, g_strdup(*a));
    }
    g_ptr_array_add(args, NULL);
    rc = harness_run((const char *const *)args->pdata, output);
    return rc;
}

int dt_run_config(const struct harness *h, char **output)
{
    g_autofree char *pd = g_strdup_printf("--plugin-dir=%s", harness_plugin_dir());
    g_autofree char *log = g_build_filename(h->dir, "run.log", NULL);
    const char *args[] = { "-c", h->config_path, pd, NULL };
    pid_t pid = dt_spawn(args, log, -1, -1);
    int rc = dt_wait_exit(pid, DT_WAIT_MS);

    if (!g_file_get_contents(log, output, NULL, NULL)) {
        *output = g_strdup("");
    }
    return rc;
}

bool dt_wait_log(const struct harness *h, const char *text)
{
    gint64 deadline = g_get_monotonic_time() + DT_WAIT_MS * 1000;

    while (!harness_log_contains(h, text)) {
        if (g_get_monotonic_time() > deadline) {
            return false;
        }
        g_usleep(10000);
    }
    return true;
}

bool dt_wait_listening(const struct harness *h, const char *const *devices)
{
    for (const char *const *d = devices; *d != NULL; d++) {
        g_autofree char *sock = harness_socket(h, *d);
        g_autofree char *text = g_strdup_printf("listening on %s;", sock);

        if (!dt_wait_log(h, text)) {
            return false;
        }
    }
    return true;
}

pid_t dt_spawn(const char *const *args, const char *log_path, int pass_fd,
               int as_fd)
{
    const struct harness_spawn how = {
        .log_path = log_path, .fds = &pass_fd, .nr_fds = pass_fd >= 0 ? 1 : 0,
        .uid = (uid_t)-1, .gid = (gid_t)-1,
    };

    /* Passed fds are numbered from 3. */
    ck_assert(pass_fd < 0 || as_fd == 3);
    return harness_spawn(args, &how);
}

int dt_wait_exit(pid_t pid, int timeout_ms)
{
    gint64 deadline = g_get_monotonic_time() + (gint64)timeout_ms * 1000;
    int status;

    for (;;) {
        pid_t r = waitpid(pid, &status, WNOHANG);

        if (r == pid) {
            break;
        }
        if (r < 0 && errno != EINTR) {
            return -1;
        }
        if (g_get_monotonic_time() > deadline) {
            kill(pid, SIGKILL);
            waitpid(pid, NULL, 0);
            return -1;
        }
        g_usleep(10000);
    }
    if (WIFEXITED(status)) {
        return WEXITSTATUS(status);
    }
    return 128 + WTERMSIG(status);
}

int dt_stop(pid_t pid)
{
    kill(pid, SIGTERM);
    return dt_wait_exit(pid, DT_WAIT_MS);
}

bool dt_wait_file(const char *path)
{
    gint64 deadline = g_get_monotonic_time() + DT_WAIT_MS * 1000;

    while (access(path, F_OK) != 0) {
        if (g_get_monotonic_time() > deadline) {
            return false;
        }
        g_usleep(10000);
    }
    return true;
}

struct vfu_client *dt_client(const char *path)
{
    struct vfu_client *c = NULL;
    int r = vfu_client_connect(path, &c);

    ck_assert_msg(r == 0, "connect %s: %s", path, g_strerror(-r));
    /* Valgrind can make the daemon slow to answer. */
    vfu_client_set_timeout(c, DT_WAIT_MS);
    r = vfu_client_negotiate(c, NULL, NULL);
    ck_assert_msg(r == 0, "negotiate on %s: %s", path, g_strerror(-r));
    return c;
}

uint32_t dt_read32(struct vfu_client *c, unsigned region, uint64_t offset)
{
    uint32_t v = 0;
    int r = vfu_client_region_read(c, region, offset, &v, sizeof(v));

    ck_assert_msg(r == 0, "read region %u at 0x%llx: %s", region,
                  (unsigned long long)offset, g_strerror(-r));
    return GUINT32_FROM_LE(v);
}

void dt_write32(struct vfu_client *c, unsigned region, uint64_t offset,
                uint32_t v)
{
    uint32_t le = GUINT32_TO_LE(v);
    int r = vfu_client_region_write(c, region, offset, &le, sizeof(le), false);

    ck_assert_msg(r == 0, "write region %u at 0x%llx: %s", region,
                  (unsigned long long)offset, g_strerror(-r));
}

int dt_unix_socket(const char *path, bool listen_too)
{
    struct sockaddr_un sa = { .sun_family = AF_UNIX };
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);

    ck_assert_int_ge(fd, 0);
    ck_assert_uint_lt(strlen(path), sizeof(sa.sun_path));
    strcpy(sa.sun_path, path);
    ck_assert_msg(bind(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0, "bind %s: %s",
                  path, g_strerror(errno));
    if (listen_too) {
        ck_assert_int_eq(listen(fd, 4), 0);
    }
    return fd;
}
