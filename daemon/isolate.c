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
#include "fdstore.h"
#include "handoff.h"
#include "isolate.h"
#include "isolate_store.h"
#include "log.h"
#include "sandbox.h"
#include "util.h"

#include <errno.h>
#include <signal.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
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
     * and nobody would restart it; after a crash of the supervisor, it
     * would serve the client beside the next supervisor's child, which
     * re-attaches it from systemd's store.  SIGKILL, not SIGTERM: a
     * clean stop would capture the device for a store that is gone (the
     * supervisor is), and serve on while it does. */
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    return getppid() == parent_pid && parent_pid != 1;
}

/* The child's environment: ours without what was meant for us alone. */
static char **child_environ(void)
{
    static const char *const drop[] = {
        "NOTIFY_SOCKET", "LISTEN_FDS", "LISTEN_PID", "LISTEN_FDNAMES",
        FDSTORE_CHILD_FDS, FDSTORE_CHILD_FDNAMES,
        /* A test's format for our hand-over, not for the child's to us. */
        "VFIOUSERD_TEST_HANDOFF_VERSION",
    };
    const char *test_version = g_getenv("VFIOUSERD_TEST_CHILD_HANDOFF_VERSION");
    char **env = g_get_environ();

    for (size_t i = 0; i < G_N_ELEMENTS(drop); i++) {
        env = g_environ_unsetenv(env, drop[i]);
    }
    if (g_strcmp0(g_environ_getenv(env, "VFIOUSERD_URING"), "no") != 0) {
        /* Isolated device processes serve the poll way (and say so once):
         * once our sandbox is in force they inherit its filter and cannot
         * make io_uring rings (engine/conn_uring.c), and before it a
         * child with a ring lost its client's replies now and then in
         * test_isolate, which the poll path never did.  The hole found
         * since (input a turn received, waiting on a poll result GLib
         * threw away: chan_src_check) may have been why; until that is
         * shown, the poll path. */
        env = g_environ_setenv(env, "VFIOUSERD_URING", "sealed", TRUE);
    }
    if (test_version != NULL) {
        /* A test's format for the hand-over the child stores, which the
         * next child is to refuse (test_upgrade). */
        env = g_environ_setenv(env, "VFIOUSERD_TEST_HANDOFF_VERSION", test_version, TRUE);
    }
    return env;
}

static void child_exited(GPid pid, gint status, gpointer data);

/* The child's fixed fds; what its store kept follows STORE_FD. */
#define LISTEN_FD 3
#define CONFIG_FD 4
#define MAPS_FD 5
#define STORE_FD 6
/* A child started before an upgrade's pause (isolate_prestart): no
 * listening socket nor stored fds, its hand-over comes here. */
#define UPGRADE_FD 7

/* upgrade_sock >= 0: the child waits on it for the hand-over (the stored
 * fds are not passed), and its maps helper's channel is scoped to the
 * listening socket when that comes (take_over). */
static int spawn_child(vfud_dev *dev, int upgrade_sock)
{
    g_autoptr(GError) err = NULL;
    g_auto(GStrv) env = child_environ();
    g_autoptr(GPtrArray) argv = g_ptr_array_new();
    g_autoptr(GArray) source_fds = g_array_new(FALSE, FALSE, sizeof(int));
    g_autoptr(GArray) target_fds = g_array_new(FALSE, FALSE, sizeof(int));
    g_autoptr(GString) names = g_string_new(NULL);
    g_autofree char *store_arg = NULL;
    g_autofree char *nstored = NULL;
    size_t len = strlen(dev->proc->iso_config);
    int cfd, maps, store, r = 0;
    guint fixed;
    GPid pid;

    if (dev->proc->iso_store == NULL) {
        dev->proc->iso_store = iso_store_new(dev->name);
        /* A previous parent's, from systemd's store. */
        iso_store_seed(dev->proc->iso_store);
    }
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
    dev->proc->iso_maps_id = 0;
    maps = sandbox_maps_child_channel(upgrade_sock >= 0 ? -1 : dev->proc->listen_fd,
                                      &dev->proc->iso_maps_id);
    if (maps < 0 && maps != -ENOSYS) {
        dev_warn(dev, "no /proc/PID/maps helper for the isolated process: %s; "
                 "guest memory is checked by content only", g_strerror(-maps));
    }
    /* Its fd store is ours: a crash of it keeps the client. */
    store = iso_store_channel(dev->proc->iso_store, dev->ctx);
    if (store < 0) {
        dev_warn(dev, "no fd store for the isolated process: %s; a crash of it "
                 "disconnects its client", g_strerror(-store));
    }
    g_ptr_array_add(argv, self_exe);
    g_ptr_array_add(argv, (gpointer) "--isolated-child");
    g_ptr_array_add(argv, (gpointer) "-c");
    g_ptr_array_add(argv, (gpointer) "/proc/self/fd/4");
    if (upgrade_sock >= 0) {
        /* Its socket comes in the hand-over. */
        g_ptr_array_add(argv, (gpointer) "--upgrade-fd=7");
    } else {
        g_ptr_array_add(argv, (gpointer) "--fd=3");
    }
    g_ptr_array_add(argv, (gpointer) "--log");
    g_ptr_array_add(argv, (gpointer)log_target_name());
    if (log_enabled(LOG_DEBUG)) {
        g_ptr_array_add(argv, (gpointer) "-v");
    }
    if (maps >= 0) {
        g_ptr_array_add(argv, (gpointer) "--maps-fd=5");
    }
#define PASS(src, dst)                                                          \
    do {                                                                        \
        int s_ = (src), d_ = (dst);                                             \
        g_array_append_val(source_fds, s_);                                     \
        g_array_append_val(target_fds, d_);                                     \
    } while (0)
    if (upgrade_sock < 0) {
        PASS(dev->proc->listen_fd, LISTEN_FD);
    }
    PASS(cfd, CONFIG_FD);
    if (maps >= 0) {
        PASS(maps, MAPS_FD);
    }
    if (store >= 0) {
        store_arg = g_strdup_printf("--store-fd=%d", STORE_FD);
        g_ptr_array_add(argv, store_arg);
        PASS(store, STORE_FD);
    }
    if (upgrade_sock >= 0) {
        PASS(upgrade_sock, UPGRADE_FD);
    }
    fixed = source_fds->len;
    if (store >= 0 && upgrade_sock < 0) {
        iso_store_export(dev->proc->iso_store, dev->proc->listen_fd, source_fds, names);
        for (guint i = fixed; i < source_fds->len; i++) {
            int t = STORE_FD + 1 + (int)(i - fixed);

            g_array_append_val(target_fds, t);
        }
        nstored = g_strdup_printf("%u", source_fds->len - fixed);
        env = g_environ_setenv(env, FDSTORE_CHILD_FDS, nstored, TRUE);
        env = g_environ_setenv(env, FDSTORE_CHILD_FDNAMES, names->str, TRUE);
    }
#undef PASS
    g_ptr_array_add(argv, NULL);
    if (!g_spawn_async_with_pipes_and_fds(NULL, (const char *const *)argv->pdata,
                                          (const char *const *)env,
                                          G_SPAWN_DO_NOT_REAP_CHILD, NULL, NULL,
                                          -1, -1, -1, (const int *)(void *)source_fds->data,
                                          (const int *)(void *)target_fds->data,
                                          source_fds->len, &pid, NULL, NULL, NULL, &err)) {
        dev_err(dev, "cannot start the isolated process: %s", err->message);
        r = -ECHILD;
    }
    close(cfd);
    if (maps >= 0) {
        close(maps);
    }
    if (store >= 0) {
        close(store);
    }
    if (r < 0) {
        iso_store_drain(dev->proc->iso_store);
        return r;
    }
    dev->proc->iso_pid = pid;
    dev->proc->iso_started = g_get_monotonic_time();
    dev->proc->iso_watch = g_child_watch_source_new(pid);
    g_source_set_callback(dev->proc->iso_watch, G_SOURCE_FUNC(child_exited), dev, NULL);
    g_source_attach(dev->proc->iso_watch, dev->ctx);
    if (source_fds->len > fixed) {
        dev_info(dev, "isolated process given the %u fd(s) its predecessor stored",
                 source_fds->len - fixed);
    }
    dev_info(dev, "isolated process pid %d started", (int)pid);
    return 0;
}

static gboolean restart(gpointer data)
{
    vfud_dev *dev = data;

    g_source_unref(dev->proc->iso_timer);
    dev->proc->iso_timer = NULL;
    dev->proc->iso_restarts++;
    if (spawn_child(dev, -1) < 0) {
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
    /* What it stored last (a hand-over on a clean stop) is in the queue. */
    iso_store_drain(dev->proc->iso_store);
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

/* sig (SIGTERM: store the state with us first; SIGINT: for good, as
 * main.c reads them in the child), then SIGKILL if it takes too long;
 * reaped here. */
static void stop_child(vfud_dev *dev, pid_t pid, int sig)
{
    gint64 deadline = g_get_monotonic_time() + (gint64)STOP_WAIT_MS * 1000;
    /* Readable when it has exited: the wait below ends then, not at the
     * next 10 ms poll (which was most of an isolated upgrade's pause: the
     * child stops and stores its state in about 1 ms).  Without pidfds
     * (Linux < 5.3), the poll alone. */
#ifdef SYS_pidfd_open
    int pidfd = (int)syscall(SYS_pidfd_open, pid, 0);
#else
    int pidfd = -1;
#endif
    int status;

    kill(pid, sig);
    while (waitpid(pid, &status, WNOHANG) == 0) {
        if (g_get_monotonic_time() > deadline) {
            dev_warn(dev, "isolated process pid %d ignored SIG%s for %d ms; killed",
                     (int)pid, sigabbrev_np(sig), STOP_WAIT_MS);
            kill(pid, SIGKILL);
            waitpid(pid, &status, 0);
            break;
        }
        /* Its clean stop stores its state with us: read it meanwhile. */
        iso_store_pump(dev->proc->iso_store, pidfd, 10);
    }
    if (pidfd >= 0) {
        close(pidfd);
    }
    dev->proc->iso_pid = 0;
    /* What it stored on its way out. */
    iso_store_drain(dev->proc->iso_store);
}

static void unwatch(vfud_dev *dev);

/* A child that never served: it goes at once. */
static void discard_child(vfud_dev *dev)
{
    pid_t pid = dev->proc->iso_pid;
    int status;

    unwatch(dev);
    if (pid > 0) {
        kill(pid, SIGKILL);
        waitpid(pid, &status, 0);
    }
    dev->proc->iso_pid = 0;
    iso_store_drain(dev->proc->iso_store);
}

int isolate_prestart(vfud_dev *dev)
{
    g_autofree char *said = NULL;
    gint64 t0 = g_get_monotonic_time();
    int sv[2];
    int r;

    if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) < 0) {
        r = -errno;
        dev_err(dev, "upgrade: no socket for the isolated process: %s", g_strerror(-r));
        return r;
    }
    if (dev->proc->iso_store == NULL) {
        /* Seeded when the hand-over has arrived (isolate_start). */
        dev->proc->iso_store = iso_store_new(dev->name);
    }
    r = spawn_child(dev, sv[1]);
    close(sv[1]);
    if (r < 0) {
        close(sv[0]);
        return r;
    }
    /* Its plugin loaded, its device started and its sandbox applied. */
    r = handoff_hear(sv[0], HANDOFF_READY_MS, &said);
    if (r == 0 && strcmp(said, "READY") != 0) {
        r = -EPROTO;
    }
    if (r < 0) {
        dev_err(dev, "upgrade: the new isolated process did not get ready: %s",
                said != NULL ? said : g_strerror(-r));
        close(sv[0]);
        discard_child(dev);
        return r;
    }
    dev->proc->iso_upgrade_fd = sv[0];
    dev_info(dev, "upgrade: isolated process pid %d ready in %.1f ms, before the pause",
             (int)dev->proc->iso_pid, (double)(g_get_monotonic_time() - t0) / 1000.0);
    return 0;
}

void isolate_prestart_cancel(vfud_dev *dev)
{
    if (dev->proc->iso_upgrade_fd < 0) {
        return;
    }
    util_close(&dev->proc->iso_upgrade_fd);
    dev->proc->iso_state_sent = false;
    discard_child(dev);
    iso_store_free(dev->proc->iso_store);
    dev->proc->iso_store = NULL;
}

/* Give the child started early the state its predecessor stored: the
 * stopped child's hand-over, replayed from our store as the fd store
 * replays systemd's (fdstore_handover_sock).  Its answer is heard later
 * (isolate_take_over_wait), so that the children of several devices load
 * their states at the same time.  -ENOENT: none stored (the predecessor
 * was being restarted, or stored nothing); the child is gone then. */
static int take_over_send(vfud_dev *dev)
{
    struct iso_store *s = dev->proc->iso_store;
    g_autoptr(GArray) fds = g_array_new(FALSE, FALSE, sizeof(int));
    g_autofree char *why = NULL;
    int blob = -1;
    int r;

    dev->proc->iso_sent_at = g_get_monotonic_time();
    /* What the hand-over brought (upgrade_adopt gave it to fdstore's
     * table), or systemd's store. */
    iso_store_seed(s);
    if (dev->proc->iso_maps_id > 0) {
        /* Before it has a client: its channel to the maps helper answers
         * for the clients of this listening socket from now on. */
        int rm = sandbox_maps_scope(dev->proc->iso_maps_id, dev->proc->listen_fd);

        if (rm < 0) {
            dev_warn(dev, "no /proc/PID/maps helper for the isolated process: %s; "
                     "guest memory is checked by content only", g_strerror(-rm));
        }
        dev->proc->iso_maps_id = 0;
    }
    r = iso_store_handover(s, dev->proc->listen_fd, &blob, fds, &why);
    if (r == 0) {
        r = handoff_send_stream(dev->proc->iso_upgrade_fd, blob,
                                (const int *)(void *)fds->data, fds->len);
        if (r < 0) {
            why = g_strdup_printf("sending it: %s", g_strerror(-r));
        }
    }
    util_close(&blob);
    for (guint i = 0; i < fds->len; i++) {
        close(g_array_index(fds, int, i));
    }
    if (r < 0) {
        util_close(&dev->proc->iso_upgrade_fd);
        discard_child(dev);
        if (r != -ENOENT) {
            dev_err(dev, "upgrade: the new isolated process refused the state: %s",
                    why != NULL ? why : g_strerror(-r));
        }
        return r;
    }
    dev->proc->iso_state_sent = true;
    return 0;
}

bool isolate_taking_over(const vfud_dev *dev)
{
    return dev->proc->iso_upgrade_fd >= 0 && dev->proc->iso_state_sent;
}

int isolate_take_over_wait(vfud_dev *dev)
{
    g_autofree char *said = NULL;
    g_autofree char *why = NULL;
    /* Half the old process's wait for our own answer, from the send: a
     * refusal must reach it before it gives up and serves on. */
    gint64 left_ms = (dev->proc->iso_sent_at - g_get_monotonic_time()) / 1000 +
                     HANDOFF_STATE_MS / 2;
    int r = handoff_hear(dev->proc->iso_upgrade_fd, (int)MAX(left_ms, 1), &said);

    if (r < 0) {
        why = g_strdup_printf("no answer: %s", g_strerror(-r));
    } else if (strcmp(said, "OK") != 0) {
        r = -EPROTO;
        why = g_strdup(g_str_has_prefix(said, "ERR ") ? said + 4 : said);
    }
    util_close(&dev->proc->iso_upgrade_fd);
    dev->proc->iso_state_sent = false;
    if (r < 0) {
        discard_child(dev);
        dev_err(dev, "upgrade: the new isolated process refused the state: %s", why);
        return r;
    }
    dev_info(dev, "isolated process pid %d took over the state its predecessor "
             "stored, in %.1f ms",
             (int)dev->proc->iso_pid,
             (double)(g_get_monotonic_time() - dev->proc->iso_sent_at) / 1000.0);
    return 0;
}

int isolate_start(vfud_dev *dev)
{
    dev->proc->iso_backoff_ms = 0;
    if (dev->proc->iso_upgrade_fd >= 0) {
        int r = take_over_send(dev);

        if (r != -ENOENT) {
            return r;
        }
        /* Nothing to take over: the crash path, with what it stored. */
    }
    return spawn_child(dev, -1);
}

static void unwatch(vfud_dev *dev)
{
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
}

int isolate_capture(vfud_dev *dev, char **why)
{
    pid_t pid = dev->proc->iso_pid;

    (void)why;
    unwatch(dev);
    if (pid > 0) {
        stop_child(dev, pid, SIGTERM);
    }
    return 0;
}

void isolate_stop(vfud_dev *dev)
{
    pid_t pid = dev->proc->iso_pid;

    unwatch(dev);
    if (pid > 0) {
        /* Nothing to keep: no capture, nothing logged about one. */
        stop_child(dev, pid, SIGINT);
    }
    /* For good: its client goes with the fds we kept for it. */
    iso_store_free(dev->proc->iso_store);
    dev->proc->iso_store = NULL;
}

void isolate_resume(vfud_dev *dev)
{
    dev->proc->iso_backoff_ms = RESTART_MIN_MS;
    if (spawn_child(dev, -1) < 0) {
        dev->proc->iso_timer = g_timeout_source_new(dev->proc->iso_backoff_ms);
        g_source_set_callback(dev->proc->iso_timer, restart, dev, NULL);
        g_source_attach(dev->proc->iso_timer, dev->ctx);
    }
}

void isolate_handoff(vfud_dev *dev, GPtrArray *listen)
{
    if (dev->proc->iso_store != NULL) {
        iso_store_handoff(dev->proc->iso_store, listen);
    }
}
