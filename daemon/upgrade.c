/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * vfiouserctl upgrade (upgrade.h).
 */
#include "config.h"

#include "upgrade.h"
#include "dev_handoff.h"
#include "device.h"
#include "device_proc.h"
#include "fdstore.h"
#include "handoff.h"
#include "listener.h"
#include "log.h"
#include "sandbox.h"
#include "sd_notify.h"
#include "upgrade_launcher.h"
#include "util.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

static char **saved_argv;
static char *self_exe;
static int (*confine_fn)(void *arg);
static void *confine_arg;
static struct control *the_control;

void upgrade_save_argv(int argc, char **argv)
{
    GPtrArray *a = g_ptr_array_new();

    for (int i = 0; i < argc; i++) {
        /* A previous upgrade's hand-over fd is not ours to pass on. */
        if (g_str_has_prefix(argv[i], "--upgrade-fd")) {
            if (strcmp(argv[i], "--upgrade-fd") == 0 && i + 1 < argc) {
                i++;
            }
            continue;
        }
        g_ptr_array_add(a, g_strdup(argv[i]));
    }
    g_ptr_array_add(a, NULL);
    saved_argv = (char **)g_ptr_array_free(a, FALSE);
    /* The path, not the file: a package upgrade replaces the file. */
    self_exe = g_file_read_link("/proc/self/exe", NULL);
}

int upgrade_prepare(void)
{
    g_auto(GStrv) argv = NULL;
    GPtrArray *a;
    int r;

    if (self_exe == NULL || saved_argv == NULL) {
        return -ENOENT;
    }
    /* The new process's command line, fixed now: the launcher starts this
     * and nothing else. */
    a = g_ptr_array_new();
    g_ptr_array_add(a, g_strdup(self_exe));
    g_ptr_array_add(a, g_strdup("--upgrade-fd=4"));
    for (char **p = saved_argv + 1; *p != NULL; p++) {
        g_ptr_array_add(a, g_strdup(*p));
    }
    g_ptr_array_add(a, NULL);
    argv = (GStrv)g_ptr_array_free(a, FALSE);
    /* The launcher has its copy (fork): ours is not needed after. */
    r = upgrade_launcher_start(argv);
    if (r < 0) {
        log_warn(NULL, "upgrade: cannot start the launcher (%s); vfiouserctl "
                 "upgrade will be refused", g_strerror(-r));
    }
    return r;
}

void upgrade_set_confine(int (*fn)(void *arg), void *arg)
{
    confine_fn = fn;
    confine_arg = arg;
}

void upgrade_set_control(struct control *ctl)
{
    the_control = ctl;
}

/* ------------------------------------------------------------------------
 * Old process
 */
enum decision { UNDECIDED, COMMIT, ABORT };

struct run {
    GMutex lock;
    GCond cond;
    enum decision decision;
};

struct cap {
    struct run *run;
    struct dev_state *st;
    struct device_call *call;
    char *why;
};

/* Device thread: at a message boundary (between two dispatches of its own
 * loop).  After a capture, the thread stays here until the decision: it
 * reads nothing from the client meanwhile. */
static int capture_on_thread(vfud_dev *dev, void *data)
{
    struct cap *cp = data;
    struct run *run = cp->run;
    int r = dev_capture(dev, cp->st, &cp->why);

    device_call_return(r);
    if (r < 0) {
        return r;
    }
    g_mutex_lock(&run->lock);
    while (run->decision != ABORT) {
        /* COMMIT: the process _exit()s while we wait. */
        g_cond_wait(&run->cond, &run->lock);
    }
    g_mutex_unlock(&run->lock);
    dev_capture_resume(dev);
    dev_notice(dev, "upgrade abandoned; serving on");
    return 0;
}

static int no_op(vfud_dev *dev, void *data)
{
    (void)dev;
    (void)data;
    return 0;
}

static pid_t spawn(const char *path, int child_sock, char **why)
{
    GPtrArray *a = g_ptr_array_new_with_free_func(g_free);
    g_auto(GStrv) argv = NULL;
    pid_t pid;

    for (char **p = saved_argv; *p != NULL; p++) {
        g_ptr_array_add(a, g_strdup(*p));
    }
    g_ptr_array_insert(a, 1, g_strdup_printf("--upgrade-fd=%d", child_sock));
    g_ptr_array_add(a, NULL);
    argv = (GStrv)g_ptr_array_free(a, FALSE);
    g_free(argv[0]);
    argv[0] = g_strdup(path);
    pid = fork();
    if (pid < 0) {
        *why = g_strdup_printf("fork: %s", g_strerror(errno));
        return -1;
    }
    if (pid == 0) {
        /* Only async-signal-safe calls: another thread may hold a lock. */
        int fl = fcntl(child_sock, F_GETFD);

        if (fl >= 0) {
            fcntl(child_sock, F_SETFD, fl & ~FD_CLOEXEC);
        }
        execv(path, argv);
        _exit(127);
    }
    return pid;
}

static char *status_text(int st)
{
    if (WIFEXITED(st) && WEXITSTATUS(st) == 127) {
        return g_strdup(" (it could not be executed)");
    }
    if (WIFEXITED(st)) {
        return g_strdup_printf(" (it exited with status %d)", WEXITSTATUS(st));
    }
    if (WIFSIGNALED(st)) {
        return g_strdup_printf(" (killed by signal %d)", WTERMSIG(st));
    }
    return g_strdup("");
}

static void end_child(pid_t pid, int sock, char **status)
{
    struct pollfd p = { .fd = sock, .events = POLLIN };
    int st;

    /* It stops by itself once our end closes; a stuck one is killed. */
    shutdown(sock, SHUT_RDWR);
    if (sandbox_active()) {
        /* The launcher's child, not ours (and we may not kill it). */
        *status = upgrade_launcher_end(pid, &st) == 0 ? status_text(st) : g_strdup("");
        return;
    }
    if (poll(&p, 1, 2000) == 0) {
        kill(pid, SIGKILL);
    }
    *status = waitpid(pid, &st, 0) == pid ? status_text(st) : g_strdup("");
}

static double ms_since(gint64 t0)
{
    return (double)(g_get_monotonic_time() - t0) / 1000.0;
}

static void cmd_upgrade(struct control_request *req, json_object *args, void *data)
{
    struct devset *ds = control_request_devset(req);
    GPtrArray *entries = devset_entries(ds);
    json_object *o = NULL;
    g_autofree char *path = NULL;
    g_autofree char *why = NULL;
    g_autofree char *status = NULL;
    g_autofree char *said = NULL;
    struct run run = { .decision = UNDECIDED };
    struct cap *caps = NULL;
    struct handoff *h = NULL;
    int sv[2] = { -1, -1 };
    int err = 0;
    pid_t pid;
    gint64 t0, t_ready, t_captured = 0, t_sent = 0;
    double pause_ms;

    (void)data;
    /* The confined daemon may not start a process (seccomp) nor run a
     * binary (Landlock): the launcher forked before the sandbox starts the
     * new one, and only our own installed path with our own arguments --
     * running any other binary is what the sandbox is there to prevent. */
    if (sandbox_active() && json_object_object_get_ex(args, "exec", &o) && o != NULL) {
        control_answer_error(req, EPERM, "--exec is refused while the sandbox is on: "
                             "the sandboxed daemon only restarts its own binary "
                             "(%s); install the new one there, or set sandbox = "
                             "off in [daemon]", self_exe != NULL ? self_exe : "?");
        return;
    }
    if (sandbox_active() && !upgrade_launcher_running()) {
        control_answer_error(req, ENOTSUP, "the upgrade launcher did not start "
                             "(see the log at start-up); with the sandbox on it "
                             "is the only way to start the new process");
        return;
    }
    if (json_object_object_get_ex(args, "exec", &o) && o != NULL) {
        path = g_strdup(json_object_get_string(o));
    } else {
        path = g_strdup(self_exe);
    }
    if (path == NULL || path[0] != '/') {
        control_answer_error(req, EINVAL, "exec: an absolute path is needed");
        return;
    }
    if (access(path, X_OK) < 0) {
        control_answer_error(req, errno, "%s: %s", path, g_strerror(errno));
        return;
    }
    for (guint i = 0; i < entries->len; i++) {
        const struct devset_entry *e = g_ptr_array_index(entries, i);

        if (e->busy || e->dev->phase != DEV_RUNNING) {
            control_answer_error(req, EBUSY, "[%s] is being changed; try again",
                                      e->dev->name);
            return;
        }
    }
    if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) < 0) {
        control_answer_error(req, errno, "socketpair: %s", g_strerror(errno));
        return;
    }
    log_notice(NULL, "upgrade: starting %s", path);
    t0 = g_get_monotonic_time();
    if (sandbox_active()) {
        pid = upgrade_launcher_spawn(sv[1]);
        if (pid < 0) {
            why = g_strdup_printf("the launcher could not start %s: %s", path,
                                  g_strerror(-pid));
        }
    } else {
        pid = spawn(path, sv[1], &why);
    }
    util_close(&sv[1]);
    if (pid < 0) {
        util_close(&sv[0]);
        control_answer_error(req, EAGAIN, "%s", why);
        return;
    }
    /* The devices serve on while the new binary loads its configuration
     * and plugins; only the control socket waits. */
    err = handoff_hear(sv[0], HANDOFF_READY_MS, &said);
    if (err < 0 || strcmp(said, "READY") != 0) {
        end_child(pid, sv[0], &status);
        util_close(&sv[0]);
        log_error(NULL, "upgrade: the new process did not get ready%s", status);
        control_answer_error(req, err < 0 ? -err : EPROTO,
                                  "the new process did not get ready: %s%s",
                                  err < 0 ? g_strerror(-err) : said, status);
        return;
    }
    t_ready = g_get_monotonic_time();

    /* The pause starts: every device stops at a message boundary, all at
     * once. */
    g_mutex_init(&run.lock);
    g_cond_init(&run.cond);
    caps = g_new0(struct cap, entries->len);
    h = handoff_new();
    for (guint i = 0; i < entries->len; i++) {
        const struct devset_entry *e = g_ptr_array_index(entries, i);

        caps[i].run = &run;
        caps[i].st = dev_state_new(e->dev->name);
        caps[i].call = device_call_start(e->dev, capture_on_thread, &caps[i]);
    }
    for (guint i = 0; i < entries->len; i++) {
        const struct devset_entry *e = g_ptr_array_index(entries, i);
        int r = device_call_wait(caps[i].call);

        if (r < 0 && err == 0) {
            err = r;
            g_free(why);
            why = g_strdup_printf("[%s] %s", e->dev->name,
                                  caps[i].why != NULL ? caps[i].why : g_strerror(-r));
        }
    }
    t_captured = g_get_monotonic_time();
    if (err == 0) {
        for (guint i = 0; i < entries->len; i++) {
            const struct devset_entry *e = g_ptr_array_index(entries, i);

            dev_handoff_add(h, e->dev, &caps[i].st, true);
        }
        if (the_control != NULL) {
            h->control_fd = fcntl(control_fd(the_control), F_DUPFD_CLOEXEC, 3);
            h->control_path = g_strdup(control_socket_path(the_control));
        }
        err = handoff_send(sv[0], h);
        t_sent = g_get_monotonic_time();
        if (err < 0) {
            why = g_strdup_printf("sending the state: %s", g_strerror(-err));
        }
    }
    if (err == 0) {
        g_free(said);
        said = NULL;
        err = handoff_hear(sv[0], HANDOFF_STATE_MS, &said);
        if (err < 0) {
            why = g_strdup_printf("the new process did not answer: %s", g_strerror(-err));
        } else if (strcmp(said, "OK") != 0) {
            err = -EPROTO;
            why = g_strdup(g_str_has_prefix(said, "ERR ") ? said + 4 : said);
        }
    }
    pause_ms = ms_since(t_ready);
    if (err == 0) {
        json_object *a = json_object_new_object();

        /* The new process serves now: leave without touching anything. */
        /* The pause's parts, for whoever must make it shorter: devices
         * stopping, the state on the socket, the new process's start and
         * restore (its own log splits that further). */
        log_notice(NULL, "upgrade: pid %d took over after a %.1f ms pause "
                   "(capture %.1f, send %.1f, new process %.1f ms); exiting",
                   (int)pid, pause_ms, (double)(t_captured - t_ready) / 1000.0,
                   (double)(t_sent - t_captured) / 1000.0,
                   (double)(g_get_monotonic_time() - t_sent) / 1000.0);
        sd_notify_printf("MAINPID=%d\nSTATUS=upgraded to pid %d", (int)pid, (int)pid);
        if (the_control != NULL) {
            control_stop_accepting(the_control);
        }
        json_object_object_add(a, "ok", json_object_new_boolean(true));
        json_object_object_add(a, "pid", json_object_new_int(pid));
        json_object_object_add(a, "exec", json_object_new_string(path));
        json_object_object_add(a, "pause_ms", json_object_new_double(pause_ms));
        json_object_object_add(a, "start_ms", json_object_new_double(
                                                  (double)(t_ready - t0) / 1000.0));
        control_answer(req, a);
        if (the_control != NULL) {
            control_flush_answers(the_control);
        }
        _exit(0);
    }

    /* Failed: serve on.  A call after the capture's returns once the
     * device has resumed. */
    g_mutex_lock(&run.lock);
    run.decision = ABORT;
    g_cond_broadcast(&run.cond);
    g_mutex_unlock(&run.lock);
    for (guint i = 0; i < entries->len; i++) {
        const struct devset_entry *e = g_ptr_array_index(entries, i);

        device_call_sync(e->dev, no_op, NULL);
    }
    end_child(pid, sv[0], &status);
    util_close(&sv[0]);
    for (guint i = 0; i < entries->len; i++) {
        dev_state_free(caps[i].st);
        g_free(caps[i].why);
    }
    g_free(caps);
    handoff_free(h);
    g_mutex_clear(&run.lock);
    g_cond_clear(&run.cond);
    log_error(NULL, "upgrade refused, serving on after a %.1f ms pause: %s%s",
              pause_ms, why, status);
    control_answer_error(req, -err, "upgrade refused, the old process serves "
                              "on: %s%s", why, status);
}

void upgrade_register(void)
{
    control_register("upgrade", cmd_upgrade, NULL);
}

/* ------------------------------------------------------------------------
 * New process
 */
struct restore {
    struct dev_state *st;
    struct device_call *call;
    char *why;
};

static int restore_on_thread(vfud_dev *dev, void *data)
{
    struct restore *rs = data;

    return dev_restore(dev, rs->st, &rs->why);
}

static int prepare_on_thread(vfud_dev *dev, void *data)
{
    (void)data;
    return dev_restore_prepare(dev);
}

static int unprepare_on_thread(vfud_dev *dev, void *data)
{
    (void)data;
    dev_restore_unprepare(dev);
    return 0;
}

/* Before READY: every threaded device stops as its restore would, all at
 * once, while the old process still serves -- the pause then only loads
 * the states.  One that cannot stops inside the pause instead. */
static void prepare_devices(struct devset *ds)
{
    GPtrArray *entries = devset_entries(ds);
    struct device_call **calls = g_new0(struct device_call *, entries->len);

    for (guint i = 0; i < entries->len; i++) {
        const struct devset_entry *e = g_ptr_array_index(entries, i);

        if (!e->dev->proc->isolate) {
            calls[i] = device_call_start(e->dev, prepare_on_thread, NULL);
        }
    }
    for (guint i = 0; i < entries->len; i++) {
        if (calls[i] != NULL) {
            (void)device_call_wait(calls[i]); /* dev_restore_prepare logs */
        }
    }
    g_free(calls);
}

/* After the pause: the devices no state came for run as fresh ones. */
static void unprepare_devices(struct devset *ds)
{
    GPtrArray *entries = devset_entries(ds);

    for (guint i = 0; i < entries->len; i++) {
        const struct devset_entry *e = g_ptr_array_index(entries, i);

        if (!e->dev->proc->isolate) {
            (void)device_call_sync(e->dev, unprepare_on_thread, NULL);
        }
    }
}

static G_GNUC_NORETURN void refuse_after_fds(int sock, const char *why)
{
    g_autofree char *text = g_strdup_printf("ERR %s", why);

    log_error(NULL, "upgrade: %s; the old process serves on", why);
    handoff_say(sock, text);
    /* No clean-up: the client sockets are the old process's again, and a
     * shutdown() or unlink() here would reach them. */
    _exit(1);
}

int upgrade_adopt(struct devset *ds, int sock, struct control **ctl)
{
    struct handoff *h = NULL;
    struct restore *rs;
    GPtrArray *activation;
    g_autofree char *why = NULL;
    gint64 t_pre, t_recv, t_started;
    int r;

    fcntl(sock, F_SETFD, FD_CLOEXEC);
    /* Confined now, before READY: not in the guests' pause, and before any
     * client is served -- once they run, the kernel starts threads for
     * their I/O (io_uring's workers) that the sandbox could not confine,
     * and a sandbox failing after our OK would leave nobody serving.
     * Nothing below needs a privilege: the sockets come bound, as fds. */
    if (confine_fn != NULL && confine_fn(confine_arg) < 0) {
        handoff_say(sock, "ERR the new process could not apply its sandbox");
        return -1;
    }
    /* Plugin instances and device threads start while the old process
     * still serves: outside the pause. */
    t_pre = g_get_monotonic_time();
    if (devset_prestart(ds) < 0) {
        handoff_say(sock, "ERR the new process could not start its devices");
        return -1;
    }
    prepare_devices(ds);
    log_info(NULL, "upgrade: devices started and stopped for their state in "
             "%.1f ms, before the pause", ms_since(t_pre));
    if (handoff_say(sock, "READY") < 0) {
        log_error(NULL, "upgrade: the old process is gone");
        return -1;
    }
    r = handoff_recv(sock, &h, &why);
    t_recv = g_get_monotonic_time();
    if (r < 0) {
        g_autofree char *text = g_strdup_printf("ERR %s", why);

        log_error(NULL, "upgrade: refusing the hand-over: %s", why);
        handoff_say(sock, text);
        return -1;
    }
    for (guint i = 0; i < h->devices->len; i++) {
        const struct dev_state *st = g_ptr_array_index(h->devices, i);

        if (devset_find(ds, st->name) == NULL && st->conn != NULL) {
            g_autofree char *w = g_strdup_printf("device %s has a client and is not "
                                                 "in the new configuration", st->name);

            refuse_after_fds(sock, w);
        }
    }
    activation = listener_fd_array_new();
    for (guint i = 0; i < h->listen->len; i++) {
        struct handoff_listen *l = g_ptr_array_index(h->listen, i);
        struct listen_fd *lf;

        if (fdstore_is_ours(l->name)) {
            /* What an isolated device's process stored (isolate.h). */
            fdstore_give(l->name, l->fd);
            l->fd = -1;
            continue;
        }
        if (l->path != NULL && access(l->path, F_OK) != 0) {
            /* A stop under systemd removed the file (fdstore_restart.c):
             * the device binds a new socket there. */
            continue;
        }
        lf = g_new0(struct listen_fd, 1);
        lf->name = g_strdup(l->name);
        lf->path = g_strdup(l->path);
        lf->fd = l->fd;
        l->fd = -1;
        g_ptr_array_add(activation, lf);
    }
    if (devset_start(ds, -1, activation) < 0) {
        refuse_after_fds(sock, "the new process could not start its devices");
    }
    t_started = g_get_monotonic_time();
    for (guint i = 0; i < h->listen->len; i++) {
        const struct handoff_listen *l = g_ptr_array_index(h->listen, i);
        struct devset_entry *e = devset_find(ds, l->name);

        if (e == NULL) {
            continue;
        }
        if (l->path != NULL) {
            /* The name it was bound under may be a temporary one the old
             * process renamed: the old one knew the real name. */
            g_free(e->dev->proc->sock.path);
            e->dev->proc->sock.path = g_strdup(l->path);
        }
        if (l->unlink_on_stop) {
            /* It made the socket file: a later stop removes it, as before. */
            e->dev->proc->unlink_on_stop = true;
        }
    }
    if (h->control_path != NULL && h->control_fd >= 0 &&
        access(h->control_path, F_OK) == 0) {
        *ctl = control_adopt(ds, h->control_path, h->control_fd);
        h->control_fd = -1;
    }
    /* Every device loads its state on its own thread, all at once. */
    rs = g_new0(struct restore, h->devices->len);
    for (guint i = 0; i < h->devices->len; i++) {
        struct devset_entry *e = devset_find(ds, ((struct dev_state *)
                                                  g_ptr_array_index(h->devices, i))->name);

        rs[i].st = g_ptr_array_index(h->devices, i);
        if (e != NULL) {
            rs[i].call = device_call_start(e->dev, restore_on_thread, &rs[i]);
        }
    }
    /* Meanwhile, as each isolated device's process loads the state
     * devset_start sent it: their answers, in turn. */
    for (guint i = 0; i < devset_entries(ds)->len; i++) {
        struct devset_entry *e = g_ptr_array_index(devset_entries(ds), i);

        if (device_proc_taken_over(e->dev) < 0) {
            refuse_after_fds(sock, "the new process could not start its devices");
        }
    }
    for (guint i = 0; i < h->devices->len; i++) {
        int r2 = rs[i].call != NULL ? device_call_wait(rs[i].call) : 0;

        if (r2 < 0) {
            g_autofree char *text = g_strdup_printf("[%s] %s", rs[i].st->name,
                                                    rs[i].why != NULL ? rs[i].why
                                                                      : "restore failed");

            refuse_after_fds(sock, text);
        }
        g_free(rs[i].why);
    }
    g_free(rs);
    handoff_free(h);
    if (handoff_say(sock, "OK") < 0) {
        /* The old process died meanwhile: we are the one serving. */
        log_warn(NULL, "upgrade: the old process did not hear our OK");
    }
    close(sock);
    log_notice(NULL, "upgrade: took over every device from the old process "
               "(devices started in %.1f ms, state restored in %.1f ms)",
               (double)(t_started - t_recv) / 1000.0, ms_since(t_started));
    unprepare_devices(ds);
    return 0;
}
