/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Process isolation of a device: see isolate.h.
 *
 * Restarts back off: the first comes after RESTART_MIN_MS, each quick
 * failure doubles the delay up to RESTART_MAX_MS, and a child that ran
 * for RESTART_RESET_MS counts as healthy again, so a plugin that crashes
 * at start-up does not make the daemon spin while a crash once a day is
 * recovered from at once.
 */
#include "config.h"

#include "device.h"
#include "device_proc.h"
#include "isolate.h"
#include "log.h"
#include "sandbox.h"
#include "util.h"

#include <errno.h>
#include <signal.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <glib.h>

#define RESTART_MIN_MS 500u
#define RESTART_MAX_MS 30000u
#define RESTART_RESET_MS 60000
/* How long a child may take to stop on SIGTERM before SIGKILL. */
#define STOP_WAIT_MS 10000

static char *self_exe;
static pid_t parent_pid;

void isolate_init(const char *argv0)
{
    g_free(self_exe);
    /* The binary we run as, even if argv[0] was relative or a symlink. */
    self_exe = g_file_read_link("/proc/self/exe", NULL);
    if (self_exe == NULL) {
        self_exe = g_strdup(argv0);
    }
}

bool isolate_in_child(void)
{
    return parent_pid != 0;
}

bool isolate_child_setup(void)
{
    parent_pid = getppid();
    /* A child outliving its supervisor would hold the device's socket
     * and nobody would restart it. */
    prctl(PR_SET_PDEATHSIG, SIGTERM);
    return getppid() == parent_pid && parent_pid != 1;
}

/* The child's environment: ours without what was meant for us alone. */
static char **child_environ(void)
{
    static const char *const drop[] = {
        "NOTIFY_SOCKET", "LISTEN_FDS", "LISTEN_PID", "LISTEN_FDNAMES",
    };
    char **env = g_get_environ();

    for (size_t i = 0; i < G_N_ELEMENTS(drop); i++) {
        env = g_environ_unsetenv(env, drop[i]);
    }
    return env;
}

static void child_exited(GPid pid, gint status, gpointer data);

static int spawn_child(vfud_dev *dev)
{
    g_autoptr(GError) err = NULL;
    g_auto(GStrv) env = child_environ();
    g_autoptr(GPtrArray) argv = g_ptr_array_new();
    size_t len = strlen(dev->proc->iso_config);
    int source_fds[3], target_fds[3] = { 3, 4, 5 };
    int cfd, maps, r = 0;
    GPid pid;

    cfd = memfd_create("vfiouserd-isolated.conf", MFD_CLOEXEC);
    if (cfd < 0) {
        return -errno;
    }
    if (write(cfd, dev->proc->iso_config, len) != (ssize_t)len) {
        r = errno != 0 ? -errno : -EIO;
        close(cfd);
        return r;
    }
    /* Its own channel to our /proc/PID/maps helper, for its clients only:
     * its own helper would be as confined as it is (sandbox_maps.c). */
    maps = sandbox_maps_child_channel(dev->proc->listen_fd);
    if (maps < 0 && maps != -ENOSYS) {
        dev_warn(dev, "no /proc/PID/maps helper for the isolated process: %s; "
                 "guest memory is checked by content only", g_strerror(-maps));
    }
    g_ptr_array_add(argv, self_exe);
    g_ptr_array_add(argv, (gpointer) "--isolated-child");
    g_ptr_array_add(argv, (gpointer) "-c");
    g_ptr_array_add(argv, (gpointer) "/proc/self/fd/4");
    g_ptr_array_add(argv, (gpointer) "--fd=3");
    g_ptr_array_add(argv, (gpointer) "--log");
    g_ptr_array_add(argv, (gpointer)log_target_name());
    if (log_enabled(LOG_DEBUG)) {
        g_ptr_array_add(argv, (gpointer) "-v");
    }
    if (maps >= 0) {
        g_ptr_array_add(argv, (gpointer) "--maps-fd=5");
    }
    g_ptr_array_add(argv, NULL);
    source_fds[0] = dev->proc->listen_fd;
    source_fds[1] = cfd;
    source_fds[2] = maps;
    if (!g_spawn_async_with_pipes_and_fds(NULL, (const char *const *)argv->pdata,
                                          (const char *const *)env,
                                          G_SPAWN_DO_NOT_REAP_CHILD, NULL, NULL,
                                          -1, -1, -1, source_fds, target_fds,
                                          maps >= 0 ? 3 : 2,
                                          &pid, NULL, NULL, NULL, &err)) {
        dev_err(dev, "cannot start the isolated process: %s", err->message);
        close(cfd);
        if (maps >= 0) {
            close(maps);
        }
        return -ECHILD;
    }
    close(cfd);
    if (maps >= 0) {
        close(maps);
    }
    dev->proc->iso_pid = pid;
    dev->proc->iso_started = g_get_monotonic_time();
    dev->proc->iso_watch = g_child_watch_source_new(pid);
    g_source_set_callback(dev->proc->iso_watch, G_SOURCE_FUNC(child_exited), dev, NULL);
    g_source_attach(dev->proc->iso_watch, dev->ctx);
    dev_info(dev, "isolated process pid %d started", (int)pid);
    return 0;
}

static gboolean restart(gpointer data)
{
    vfud_dev *dev = data;

    g_source_unref(dev->proc->iso_timer);
    dev->proc->iso_timer = NULL;
    dev->proc->iso_restarts++;
    if (spawn_child(dev) < 0) {
        /* Try again later, as after a crash. */
        dev->proc->iso_backoff_ms = MIN(dev->proc->iso_backoff_ms * 2, RESTART_MAX_MS);
        dev->proc->iso_timer = g_timeout_source_new(dev->proc->iso_backoff_ms);
        g_source_set_callback(dev->proc->iso_timer, restart, dev, NULL);
        g_source_attach(dev->proc->iso_timer, dev->ctx);
    }
    return G_SOURCE_REMOVE;
}

static void describe(gint status, char *buf, size_t len)
{
    if (WIFSIGNALED(status)) {
        snprintf(buf, len, "was killed by signal %d (SIG%s)%s", WTERMSIG(status),
                 sigabbrev_np(WTERMSIG(status)) != NULL ? sigabbrev_np(WTERMSIG(status))
                                                        : "?",
                 WCOREDUMP(status) ? ", core dumped" : "");
    } else if (WIFEXITED(status)) {
        snprintf(buf, len, "exited with status %d", WEXITSTATUS(status));
    } else {
        snprintf(buf, len, "ended (wait status %#x)", (unsigned)status);
    }
}

static void child_exited(GPid pid, gint status, gpointer data)
{
    vfud_dev *dev = data;
    gint64 ran_ms = (g_get_monotonic_time() - dev->proc->iso_started) / 1000;
    char how[128];

    g_spawn_close_pid(pid);
    g_source_unref(dev->proc->iso_watch);
    dev->proc->iso_watch = NULL;
    dev->proc->iso_pid = 0;
    describe(status, how, sizeof(how));
    if (ran_ms >= RESTART_RESET_MS || dev->proc->iso_backoff_ms == 0) {
        dev->proc->iso_backoff_ms = RESTART_MIN_MS;
    } else {
        dev->proc->iso_backoff_ms = MIN(dev->proc->iso_backoff_ms * 2, RESTART_MAX_MS);
    }
    dev_err(dev, "isolated process pid %d %s after %lld ms; restarting it in %u ms "
            "(restart %u)", (int)pid, how, (long long)ran_ms, dev->proc->iso_backoff_ms,
            dev->proc->iso_restarts + 1);
    dev->proc->iso_timer = g_timeout_source_new(dev->proc->iso_backoff_ms);
    g_source_set_callback(dev->proc->iso_timer, restart, dev, NULL);
    g_source_attach(dev->proc->iso_timer, dev->ctx);
}

int isolate_start(vfud_dev *dev)
{
    dev->proc->iso_backoff_ms = 0;
    return spawn_child(dev);
}

void isolate_stop(vfud_dev *dev)
{
    pid_t pid = dev->proc->iso_pid;
    gint64 deadline = g_get_monotonic_time() + (gint64)STOP_WAIT_MS * 1000;
    int status;

    if (dev->proc->iso_timer != NULL) {
        g_source_destroy(dev->proc->iso_timer);
        g_source_unref(dev->proc->iso_timer);
        dev->proc->iso_timer = NULL;
    }
    if (dev->proc->iso_watch != NULL) {
        /* We reap it ourselves now. */
        g_source_destroy(dev->proc->iso_watch);
        g_source_unref(dev->proc->iso_watch);
        dev->proc->iso_watch = NULL;
    }
    if (pid <= 0) {
        return;
    }
    kill(pid, SIGTERM);
    while (waitpid(pid, &status, WNOHANG) == 0) {
        if (g_get_monotonic_time() > deadline) {
            dev_warn(dev, "isolated process pid %d ignored SIGTERM for %d ms; killed",
                     (int)pid, STOP_WAIT_MS);
            kill(pid, SIGKILL);
            waitpid(pid, &status, 0);
            break;
        }
        g_usleep(10000);
    }
    dev->proc->iso_pid = 0;
}
