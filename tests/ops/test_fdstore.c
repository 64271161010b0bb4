/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * systemd's fd store without systemd: the test plays the service manager.
 * It binds the datagram socket $NOTIFY_SOCKET names, keeps every fd the
 * daemon stores (FDSTORE=1, FDNAME=; the same open file only once, as
 * systemd does) and drops those it removes (FDSTOREREMOVE=1), then starts
 * the next daemon with them as LISTEN_FDS/LISTEN_FDNAMES -- what systemd
 * does on "systemctl restart" and on Restart=on-failure after a crash.
 *
 * A client attached as QEMU is (shared memory, an INTx eventfd, a value
 * written to the device) keeps its connection:
 *   - across SIGTERM (the clean stop of "systemctl restart"): the device
 *     state too (full hand-over through the store);
 *   - across SIGKILL: re-attached with the device reset (value lost,
 *     window and eventfd still wired);
 *   - not across a SIGKILL that lands with half a message read: the
 *     connection is dropped and the device free for a new client.
 * The sandbox stays on (the default) throughout.
 *
 * isolate = process: the parent is its child's fd store (isolate_store.h)
 * and stores what the child stores in ours as vfud/g0/c/...:
 *   - SIGKILL of the child: the same connection, re-attached with the
 *     device reset by the next child, the next request served, the
 *     parent's fds flat;
 *   - SIGTERM of the parent ("systemctl restart"): the child stores its
 *     state in the parent, the parent in ours, and the next parent's
 *     child takes it over: the same connection and the device's state;
 *   - SIGKILL of the parent: the child dies with it (SIGKILL), the next
 *     parent's child re-attaches the client with the device reset.
 */
#include "config.h"

#include "ops_test.h"

#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <poll.h>
#include <sched.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <glib.h>
#include <linux/kcmp.h>
#include <vfiouserd/plugin.h>

/* ------------------------------------------------------------------------
 * The fake service manager
 */
struct entry {
    char *name;
    int fd;
};

struct store {
    int sock;
    char *path;
    GMutex lock;        /* entries */
    GPtrArray *entries; /* struct entry * */
    GThread *reader;    /* reads all the time, as systemd does */
    GMutex pump_lock;   /* one reader at a time: messages apply in order */
    gint stop;
};

static void store_pump(struct store *s, int ms);

static gpointer reader_main(gpointer data)
{
    struct store *s = data;

    while (!g_atomic_int_get(&s->stop)) {
        struct pollfd p = { .fd = s->sock, .events = POLLIN };

        if (poll(&p, 1, 20) > 0) {
            store_pump(s, 0);
        }
    }
    return NULL;
}

static void entry_free(gpointer p)
{
    struct entry *e = p;

    close(e->fd);
    g_free(e->name);
    g_free(e);
}

static struct store *store_new(const struct harness *h)
{
    struct store *s = g_new0(struct store, 1);
    struct sockaddr_un sa = { .sun_family = AF_UNIX };

    s->path = g_build_filename(h->dir, "notify", NULL);
    s->sock = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    ck_assert_int_ge(s->sock, 0);
    g_strlcpy(sa.sun_path, s->path, sizeof(sa.sun_path));
    ck_assert_int_eq(bind(s->sock, (struct sockaddr *)&sa, sizeof(sa)), 0);
    s->entries = g_ptr_array_new_with_free_func(entry_free);
    g_mutex_init(&s->lock);
    g_mutex_init(&s->pump_lock);
    s->reader = g_thread_new("store", reader_main, s);
    return s;
}

static void store_free(struct store *s)
{
    g_atomic_int_set(&s->stop, 1);
    g_thread_join(s->reader);
    close(s->sock);
    unlink(s->path);
    g_free(s->path);
    g_ptr_array_unref(s->entries);
    g_free(s);
}

static bool same_file(int a, int b)
{
    pid_t me = getpid();

    return syscall(SYS_kcmp, me, me, KCMP_FILE, a, b) == 0;
}

static const char *field(const char *text, const char *key)
{
    const char *p = strstr(text, key);

    return p != NULL && (p == text || p[-1] == '\n') ? p + strlen(key) : NULL;
}

/* Read every message waiting, or wait up to ms for one first. */
static void store_pump(struct store *s, int ms)
{
    g_mutex_lock(&s->pump_lock);
    for (;;) {
        union {
            char buf[CMSG_SPACE(sizeof(int) * 16)];
            struct cmsghdr align;
        } u;
        char text[4096];
        struct iovec iov = { .iov_base = text, .iov_len = sizeof(text) - 1 };
        struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1,
                             .msg_control = u.buf, .msg_controllen = sizeof(u.buf) };
        struct timeval tv = { .tv_sec = ms / 1000, .tv_usec = (ms % 1000) * 1000 };
        g_autofree char *name = NULL;
        const char *n;
        ssize_t len;
        GArray *fds = g_array_new(FALSE, FALSE, sizeof(int));

        setsockopt(s->sock, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
        len = recvmsg(s->sock, &mh, MSG_CMSG_CLOEXEC | (ms > 0 ? 0 : MSG_DONTWAIT));
        ms = 0;
        if (len < 0) {
            g_array_unref(fds);
            g_mutex_unlock(&s->pump_lock);
            return;
        }
        text[len] = '\0';
        for (struct cmsghdr *cm = CMSG_FIRSTHDR(&mh); cm != NULL; cm = CMSG_NXTHDR(&mh, cm)) {
            unsigned k = (unsigned)((cm->cmsg_len - CMSG_LEN(0)) / sizeof(int));

            for (unsigned i = 0; i < k; i++) {
                int fd;

                memcpy(&fd, CMSG_DATA(cm) + i * sizeof(int), sizeof(int));
                g_array_append_val(fds, fd);
            }
        }
        g_mutex_lock(&s->lock);
        n = field(text, "FDNAME=");
        if (n != NULL) {
            name = g_strndup(n, strcspn(n, "\n"));
        }
        if (field(text, "FDSTOREREMOVE=1") != NULL) {
            ck_assert_ptr_nonnull(name);
            for (guint i = s->entries->len; i-- > 0;) {
                struct entry *e = g_ptr_array_index(s->entries, i);

                if (strcmp(e->name, name) == 0) {
                    g_ptr_array_remove_index(s->entries, i);
                }
            }
        } else if (field(text, "FDSTORE=1") != NULL) {
            ck_assert_msg(name != NULL && strlen(name) <= 255 &&
                              strchr(name, ':') == NULL, "bad FDNAME in '%s'", text);
            for (guint i = 0; i < fds->len; i++) {
                int fd = g_array_index(fds, int, i);
                bool dup = false;

                for (guint k = 0; k < s->entries->len && !dup; k++) {
                    dup = same_file(((struct entry *)g_ptr_array_index(s->entries, k))->fd, fd);
                }
                if (dup) {
                    close(fd);
                } else {
                    struct entry *e = g_new0(struct entry, 1);

                    e->name = g_strdup(name);
                    e->fd = fd;
                    g_ptr_array_add(s->entries, e);
                }
            }
            g_array_set_size(fds, 0);
        }
        g_mutex_unlock(&s->lock);
        for (guint i = 0; i < fds->len; i++) {
            close(g_array_index(fds, int, i));
        }
        g_array_unref(fds);
    }
}

static unsigned store_count(struct store *s, const char *name)
{
    unsigned n = 0;

    g_mutex_lock(&s->lock);
    for (guint i = 0; i < s->entries->len; i++) {
        const char *en = ((struct entry *)g_ptr_array_index(s->entries, i))->name;

        /* "PREFIX*": any name that starts so. */
        if (g_str_has_suffix(name, "*") ? strncmp(en, name, strlen(name) - 1) == 0
                                        : strcmp(en, name) == 0) {
            n++;
        }
    }
    g_mutex_unlock(&s->lock);
    return n;
}

/* Wait (a few seconds at most) until name is stored count times. */
static void store_expect(struct store *s, const char *name, unsigned count)
{
    for (int i = 0; i < DT_WAIT_MS / 10 && store_count(s, name) != count; i++) {
        g_usleep(10000);
    }
    ck_assert_msg(store_count(s, name) == count, "%s stored %u times, expected %u",
                  name, store_count(s, name), count);
}

/* ------------------------------------------------------------------------
 * Daemons
 */
static pid_t start(struct harness *h, struct store *s)
{
    g_autofree char *pd = g_strdup_printf("--plugin-dir=%s", harness_plugin_dir());
    g_autofree char *ns = g_strdup_printf("NOTIFY_SOCKET=%s", s->path);
    g_autofree char *nfds = NULL;
    g_autoptr(GString) names = g_string_new("LISTEN_FDNAMES=");
    const char *args[] = { "-c", h->config_path, pd, "--fd-store", NULL };
    int fds[64];
    pid_t pid;

    g_mutex_lock(&s->lock);
    nfds = g_strdup_printf("LISTEN_FDS=%u", s->entries->len);
    ck_assert_uint_le(s->entries->len, G_N_ELEMENTS(fds));
    for (guint i = 0; i < s->entries->len; i++) {
        const struct entry *e = g_ptr_array_index(s->entries, i);

        g_string_append_printf(names, "%s%s", i > 0 ? ":" : "", e->name);
        fds[i] = e->fd;
    }
    {
        /* As systemd: the variables only when it passes fds. */
        const char *env[] = { ns, s->entries->len > 0 ? "LISTEN_PID=self" : NULL,
                              nfds, names->str, NULL };

        pid = ot_spawn(args, h->log_path, fds, s->entries->len, env, (uid_t)-1,
                       (gid_t)-1);
    }
    g_mutex_unlock(&s->lock);
    ck_assert_int_gt(pid, 0);
    h->pid = pid;
    return pid;
}

/* A started daemon's control socket is up. */
static void start_ready(struct harness *h, struct store *s)
{
    start(h, s);
    ck_assert(dt_wait_log(h, "control socket "));
}

/* Reading the store meanwhile, as systemd does: a datagram socket's queue
 * is short, and the daemon's pushes would block on a full one.  Killed
 * with SIGTERM, the daemon exits 0; with another signal, of it. */
static void wait_dead(struct store *s, pid_t pid, int sig)
{
    int st = 0;
    pid_t r = 0;

    for (int i = 0; i < DT_WAIT_MS / 10 && (r = waitpid(pid, &st, WNOHANG)) == 0; i++) {
        g_usleep(10000);
    }
    ck_assert_int_eq(r, pid);
    /* What it sent before it died counts, as with systemd (which reads
     * its notify socket before it handles SIGCHLD). */
    store_pump(s, 0);
    if (sig != SIGTERM) {
        ck_assert_msg(WIFSIGNALED(st) && WTERMSIG(st) == sig, "status %#x", st);
    } else {
        ck_assert_msg(WIFEXITED(st) && WEXITSTATUS(st) == 0, "status %#x", st);
    }
}

/* SIGTERM: "systemctl stop" or the first half of "systemctl restart";
 * SIGKILL: a crash. */
static void kill_daemon(struct harness *h, struct store *s, int sig)
{
    ck_assert_int_eq(kill(h->pid, sig), 0);
    wait_dead(s, h->pid, sig);
}

/* systemd restarting the service: the daemon killed with sig (see
 * kill_daemon), the store checked as the next daemon is given it (after
 * mark, pairs of an entry's name and how many times it is stored, ended by
 * NULL: nothing changes it once the daemon is dead and its last messages
 * read), the next daemon started with it, and mark (NULL: none) awaited
 * in the log. */
G_GNUC_NULL_TERMINATED
static void restart(struct harness *h, struct store *s, int sig, const char *mark, ...)
{
    const char *name;
    va_list ap;

    kill_daemon(h, s, sig);
    va_start(ap, mark);
    while ((name = va_arg(ap, const char *)) != NULL) {
        unsigned want = va_arg(ap, unsigned);

        ck_assert_msg(store_count(s, name) == want, "%s stored %u times, expected %u",
                      name, store_count(s, name), want);
    }
    va_end(ap);
    start(h, s);
    if (mark != NULL) {
        ck_assert_msg(dt_wait_log(h, mark), "no \"%s\" in the log", mark);
    }
}

/* The client leaves (c NULL: it has), the daemon stops cleanly, the store
 * and the harness go. */
static void finish(struct harness *h, struct store *s, struct vfu_client *c)
{
    if (c != NULL) {
        vfu_client_close(c);
    }
    kill_daemon(h, s, SIGTERM);
    store_free(s);
    harness_free(h);
}

static const char config[] = "[daemon]\nsocket-dir = @SOCKDIR@\n[g0]\nplugin = gpio\n";

/* A daemon serving a client attached with value to g0 (isolated: to g0's
 * process); the store as it runs. */
static struct vfu_client *setup(struct harness *h, struct store *s, bool isolated,
                                uint8_t value)
{
    static const char *const once[] = { "conn", "win/*", "irq/0/0", "meta" };
    /* Isolated, the child's store, kept in ours through the parent. */
    const char *prefix = isolated ? "vfud/g0/c/g0/" : "vfud/g0/";
    g_autofree char *sock = harness_socket(h, "g0");
    g_autofree char *listen = g_strconcat(prefix, "listen", NULL);
    struct vfu_client *c;

    start_ready(h, s);
    if (isolated) {
        ck_assert(dt_wait_file(sock));
    }
    c = ot_gpio_attach(sock, value);
    vfu_client_set_timeout(c, DT_WAIT_MS);
    /* Everything a restarted daemon (a next process) needs, each once. */
    for (unsigned i = 0; i < G_N_ELEMENTS(once); i++) {
        g_autofree char *name = g_strconcat(prefix, once[i], NULL);

        store_expect(s, name, 1);
    }
    /* An isolated device's listening socket is the parent's. */
    store_expect(s, listen, isolated ? 0 : 1);
    if (!isolated) {
        store_expect(s, "vfud/control", 1);
    }
    return c;
}

START_TEST(restart_hands_over)
{
    struct harness *h = harness_new(config);
    struct store *s = store_new(h);
    g_autofree char *ctl = ot_control_path(h);
    struct vfu_client *c = setup(h, s, false, 0x5a);
    pid_t old = h->pid;

    for (int round = 0; round < 3; round++) {
        /* systemctl restart: SIGTERM, then a new process with the store. */
        restart(h, s, SIGTERM, "upgrade: took over every device from the old process",
                "vfud/state", 1, NULL);
        ck_assert_int_ne(h->pid, old);
        /* The stop removed the socket files; the new process binds them
         * again. */
        ck_assert(dt_wait_file(ctl));
        /* Used once: gone from the store. */
        store_expect(s, "vfud/state", 0);
        store_expect(s, "vfud/state*", 0);
        /* The same connection, the device's state kept. */
        ck_assert_uint_eq(ot_gpio_read(c), (uint8_t)(0x5a + round));
        ot_gpio_check_client(ctl);
        ot_gpio_write(c, (uint8_t)(0x5a + round + 1));
        store_expect(s, "vfud/g0/conn", 1);
        store_expect(s, "vfud/g0/meta", 1);
        old = h->pid;
    }
    /* The client leaves: its fds leave the store. */
    vfu_client_close(c);
    store_expect(s, "vfud/g0/conn", 0);
    store_expect(s, "vfud/g0/win/*", 0);
    store_expect(s, "vfud/g0/irq/0/0", 0);
    store_expect(s, "vfud/g0/listen", 1);
    /* Without a client, a restart still hands the device over. */
    restart(h, s, SIGTERM, "upgrade: took over every device", "vfud/state", 1, NULL);
    {
        g_autofree char *sock = harness_socket(h, "g0");

        ck_assert(dt_wait_file(sock));
        c = ot_gpio_attach(sock, 1);
    }
    ck_assert_uint_eq(ot_gpio_read(c), 1);
    finish(h, s, c);
}
END_TEST

START_TEST(crash_reattaches_reset)
{
    struct harness *h = harness_new(config);
    struct store *s = store_new(h);
    g_autofree char *ctl = ot_control_path(h);
    struct vfu_client *c = setup(h, s, false, 0x5a);

    for (int round = 0; round < 2; round++) {
        restart(h, s, SIGKILL, "re-attached after a crash", "vfud/state", 0, NULL);
        /* The same connection; the state is gone (reset), the window and
         * the eventfd are wired again. */
        ck_assert_uint_eq(ot_gpio_read(c), 0);
        ot_gpio_check_client(ctl);
        ot_gpio_write(c, 0x33);
        ck_assert_uint_eq(ot_gpio_read(c), 0x33);
        /* The new process's meta replaced the dead one's. */
        store_expect(s, "vfud/g0/meta", 1);
        store_expect(s, "vfud/g0/conn", 1);
        store_expect(s, "vfud/g0/win/*", 1);
    }
    /* The listening socket kept in the store is served at its configured
     * path, not the temporary name it was bound under... */
    {
        g_autofree char *sock = harness_socket(h, "g0");
        g_autofree char *log = NULL;

        ck_assert(dt_wait_log(h, "control socket "));
        ck_assert(g_file_get_contents(h->log_path, &log, NULL, NULL));
        ck_assert_ptr_null(strstr(log, "serving listening socket fd"));
        vfu_client_close(c);
        kill_daemon(h, s, SIGTERM);
        /* ...and removed by the stop, as one the process bound itself. */
        ck_assert_int_ne(access(sock, F_OK), 0);
    }
    store_free(s);
    harness_free(h);
}
END_TEST

START_TEST(crash_mid_message_drops)
{
    struct harness *h = harness_new(config);
    struct store *s = store_new(h);
    g_autofree char *sock = harness_socket(h, "g0");
    struct vfu_client *c = setup(h, s, false, 0x5a);
    const size_t half = sizeof(struct vfio_user_header) + 4;
    uint8_t m[OT_GPIO_MSG_SIZE];
    uint8_t v;

    ot_gpio_write_msg(m, 0x6b);
    /* Half a message, read by the daemon (it answers the status request
     * after it), then the crash. */
    ck_assert_int_eq(vfu_client_send_raw(c, m, half, NULL, 0), 0);
    g_usleep(200000);
    restart(h, s, SIGKILL, "stopped in the middle of a message", NULL);
    /* The store lets go of the connection: the client sees it end. */
    store_expect(s, "vfud/g0/conn", 0);
    ck_assert_int_eq(vfu_client_send_raw(c, m + half, sizeof(m) - half, NULL, 0) == 0 &&
                         vfu_client_region_read(c, VFUD_REGION_BAR2, OT_GPIO_OUT,
                                                &v, 1) == 0, 0);
    vfu_client_close(c);
    /* The device is free for the next client. */
    c = ot_gpio_attach(sock, 7);
    ck_assert_uint_eq(ot_gpio_read(c), 7);
    finish(h, s, c);
}
END_TEST

/* Wait until text is in the log count times (the daemons of a test share
 * one log). */
static bool wait_log_count(const struct harness *h, const char *text, unsigned count)
{
    for (int i = 0; i < DT_WAIT_MS / 10; i++) {
        g_autofree char *log = NULL;
        unsigned n = 0;

        if (g_file_get_contents(h->log_path, &log, NULL, NULL)) {
            for (const char *p = strstr(log, text); p != NULL; p = strstr(p + 1, text)) {
                n++;
            }
        }
        if (n >= count) {
            return n == count;
        }
        g_usleep(10000);
    }
    return false;
}

/* A daemon that dies again right after every re-attach (a plugin that
 * crashes on what the client does, or on the reset): the client is
 * dropped at the third crash in a row within 10 s of its re-attach, not
 * kept waiting through restarts for ever, and the device serves its
 * listening socket again. */
START_TEST(crash_loop_drops_client)
{
    struct harness *h = harness_new(config);
    struct store *s = store_new(h);
    g_autofree char *sock = harness_socket(h, "g0");
    struct vfu_client *c = setup(h, s, false, 0x5a);
    uint8_t v;

    for (unsigned round = 0; round < 3; round++) {
        restart(h, s, SIGKILL, NULL, NULL);
        ck_assert(wait_log_count(h, "re-attached after a crash", round + 1));
        /* Served between the crashes. */
        ck_assert_uint_eq(ot_gpio_read(c), 0);
        if (round > 0) {
            g_autofree char *mark = g_strdup_printf("crash %u in a row", round);

            ck_assert(wait_log_count(h, mark, 1));
        }
    }
    restart(h, s, SIGKILL, "[g0] fd store: the client cannot be re-attached after the "
            "crash: the device's process died 3 times in a row", NULL);
    /* Not a fourth re-attach: the connection ends, the store lets go. */
    ck_assert(wait_log_count(h, "re-attached after a crash", 3));
    store_expect(s, "vfud/g0/conn", 0);
    store_expect(s, "vfud/g0/win/*", 0);
    store_expect(s, "vfud/g0/irq/*", 0);
    ck_assert_int_ne(vfu_client_region_read(c, VFUD_REGION_BAR2, OT_GPIO_OUT, &v, 1), 0);
    vfu_client_close(c);
    /* The listening socket serves the next client, whose count starts
     * anew: a crash re-attaches it. */
    ck_assert(dt_wait_file(sock));
    c = ot_gpio_attach(sock, 9);
    vfu_client_set_timeout(c, DT_WAIT_MS);
    ck_assert_uint_eq(ot_gpio_read(c), 9);
    store_expect(s, "vfud/g0/conn", 1);
    restart(h, s, SIGKILL, NULL, NULL);
    ck_assert(wait_log_count(h, "re-attached after a crash", 4));
    ck_assert_uint_eq(ot_gpio_read(c), 0);
    finish(h, s, c);
}
END_TEST

/* Status and list of g0 name a client whose pid the daemon cannot see:
 * in their answers (the kernel's pid 0 kept) and as vfiouserctl prints
 * them, not as "pid 0".  vfiouserctl runs in our pid namespace (own_ns),
 * as on the host: LeakSanitizer (ASan builds) cannot check a process in
 * the other, whose /proc it does not have; the daemons after it go to
 * daemons_ns. */
static void check_unseen_client(const char *ctl, int own_ns, int daemons_ns)
{
    static const char words[] = "(in a pid namespace this one cannot see)";
    json_object *a = ot_request(ctl, "{\"command\":\"status\",\"device\":\"g0\"}");
    g_autofree char *arg = g_strdup_printf("--socket=%s", ctl);
    const char *args[] = { arg, "status", "g0", NULL };
    const char *list_args[] = { arg, "list", NULL };
    g_autofree char *line = g_strdup_printf("  client     %s, uid ", words);
    g_autofree char *quoted = g_regex_escape_string(words, -1);
    g_autofree char *list_line = g_strdup_printf("^g0 +gpio +connected +%s +/", quoted);
    g_autofree char *out = NULL;
    g_autofree char *list_out = NULL;

    ck_assert_str_eq(ot_str(a, "devices.0.state"), "connected");
    ck_assert_int_eq(json_object_get_int(ot_get(a, "devices.0.client.pid")), 0);
    ck_assert_str_eq(ot_str(a, "devices.0.client.who"), words);
    json_object_put(a);
    a = ot_request(ctl, "{\"command\":\"list\"}");
    ck_assert_str_eq(ot_str(a, "devices.0.name"), "g0");
    ck_assert_int_eq(json_object_get_int(ot_get(a, "devices.0.client_pid")), 0);
    ck_assert_str_eq(ot_str(a, "devices.0.client_who"), words);
    json_object_put(a);
    ck_assert_int_eq(setns(own_ns, CLONE_NEWPID), 0);
    ck_assert_int_eq(ot_ctl(args, &out), 0);
    ck_assert_int_eq(ot_ctl(list_args, &list_out), 0);
    ck_assert_int_eq(setns(daemons_ns, CLONE_NEWPID), 0);
    ck_assert_msg(strstr(out, line) != NULL && strstr(out, "pid 0") == NULL, "%s", out);
    ck_assert_msg(dt_has_match(list_out, list_line) && strstr(list_out, "pid 0") == NULL,
                  "%s", list_out);
}

/* QEMU on the host, the daemon in a container: the kernel gives the
 * daemon pid 0 for a peer outside its pid namespace.  The test process
 * stays outside the namespace its daemons start in. */
START_TEST(crash_other_pidns_names_client)
{
    /* The sandbox checks its threads in /proc, which is the host's here
     * (a container mounts its own). */
    struct harness *h = harness_new("[daemon]\nsocket-dir = @SOCKDIR@\nsandbox = off\n"
                                    "[g0]\nplugin = gpio\n");
    /* Its thread first: no thread can be made after the unshare. */
    struct store *s = store_new(h);
    g_autofree char *ctl = ot_control_path(h);
    struct vfu_client *c;
    g_autofree char *log = NULL;
    pid_t keeper;
    int daemons_ns;

    /* Ours, to go back to: LeakSanitizer's exit check (ASan builds) makes
     * a task as a thread does. */
    int own_ns = open("/proc/self/ns/pid", O_RDONLY | O_CLOEXEC);

    ck_assert_int_ge(own_ns, 0);
    if (unshare(CLONE_NEWPID) < 0) {
        fprintf(stderr, "crash_other_pidns: skipped: unshare(CLONE_NEWPID): %s "
                "(needs root)\n", g_strerror(errno));
        close(own_ns);
        store_free(s);
        harness_free(h);
        return;
    }
    /* The namespace's init: the daemons after it join the namespace while
     * it lives (a dead init would end the namespace with the first
     * daemon). */
    keeper = fork();
    ck_assert_int_ge(keeper, 0);
    if (keeper == 0) {
        for (;;) {
            pause();
        }
    }
    daemons_ns = open("/proc/self/ns/pid_for_children", O_RDONLY | O_CLOEXEC);
    ck_assert_int_ge(daemons_ns, 0);
    c = setup(h, s, false, 0x5a);
    check_unseen_client(ctl, own_ns, daemons_ns);
    restart(h, s, SIGKILL, "re-attached after a crash", NULL);
    ck_assert_uint_eq(ot_gpio_read(c), 0);
    check_unseen_client(ctl, own_ns, daemons_ns);
    ck_assert(g_file_get_contents(h->log_path, &log, NULL, NULL));
    ck_assert_msg(strstr(log, "client (in a pid namespace this one cannot see) "
                              "re-attached") != NULL, "%s", log);
    ck_assert_ptr_null(strstr(log, "client pid 0 re-attached"));
    vfu_client_close(c);
    kill_daemon(h, s, SIGTERM);
    kill(keeper, SIGKILL);
    waitpid(keeper, NULL, 0);
    ck_assert_int_eq(setns(own_ns, CLONE_NEWPID), 0);
    close(own_ns);
    close(daemons_ns);
    store_free(s);
    harness_free(h);
}
END_TEST

/* A client that connected but had not sent VERSION when the daemon died
 * is kept (QEMU sends VERSION at once and waits for the reply: dropping it
 * would fail the device's realize): the next process negotiates with it,
 * as with a new client, without a reset. */
START_TEST(crash_before_version_keeps_client)
{
    struct harness *h = harness_new(config);
    struct store *s = store_new(h);
    g_autofree char *sock = harness_socket(h, "g0");
    g_autofree char *ctl = ot_control_path(h);
    struct vfu_client *c = NULL;

    start_ready(h, s);
    ck_assert_int_eq(vfu_client_connect(sock, &c), 0);
    vfu_client_set_timeout(c, DT_WAIT_MS);
    store_expect(s, "vfud/g0/conn", 1);
    ck_assert(dt_wait_log(h, "[g0] client connected"));
    /* The meta follows the connection (written right after that line). */
    g_usleep(200000);
    restart(h, s, SIGKILL, "re-attached after a crash before its VERSION", NULL);
    ck_assert_int_eq(vfu_client_negotiate(c, NULL, NULL), 0);
    ot_gpio_wire(c);
    ot_gpio_write(c, 0x44);
    ck_assert_uint_eq(ot_gpio_read(c), 0x44);
    ot_gpio_check_client(ctl);
    /* A negotiated client from then on: the next crash re-attaches it. */
    store_expect(s, "vfud/g0/win/*", 1);
    restart(h, s, SIGKILL, "re-attached after a crash in", NULL);
    ck_assert_uint_eq(ot_gpio_read(c), 0);
    finish(h, s, c);
}
END_TEST

/* The twin socket (server->client requests; the client's replies come
 * back on it) has the same boundary check as the main one: half a reply
 * read by the dead process drops the client. */
START_TEST(crash_mid_twin_message_drops)
{
    struct harness *h = harness_new(config);
    struct store *s = store_new(h);
    g_autofree char *sock = harness_socket(h, "g0");
    static const char caps[] = "{\"capabilities\": {\"max_msg_fds\": 16, "
                               "\"twin_socket\": {\"supported\": true}}}";
    uint8_t req[sizeof(struct vfio_user_version) + sizeof(caps)];
    struct vfio_user_version v = { .major = 0, .minor = 0 };
    const struct vfio_user_header half = {
        .msg_id = 1, .cmd = VFIO_USER_DMA_READ, .msg_size = 64,
        .flags = VFIO_USER_F_TYPE_REPLY,
    };
    struct vfu_client *c = NULL;
    int fds[2] = { -1, -1 };
    unsigned nr = 2;
    void *payload = NULL;
    size_t len = 0;
    uint16_t id;
    uint8_t b;

    start_ready(h, s);
    ck_assert_int_eq(vfu_client_connect(sock, &c), 0);
    vfu_client_set_timeout(c, DT_WAIT_MS);
    memcpy(req, &v, sizeof(v));
    memcpy(req + sizeof(v), caps, sizeof(caps));
    ck_assert_int_eq(vfu_client_send(c, VFIO_USER_VERSION, VFIO_USER_F_TYPE_COMMAND, req,
                                     sizeof(req), NULL, 0, &id), 0);
    ck_assert_int_eq(vfu_client_recv_reply(c, id, NULL, &payload, &len, fds, &nr), 0);
    free(payload);
    ck_assert_uint_eq(nr, 1);
    store_expect(s, "vfud/g0/twin", 1);
    /* Half a header on the twin, read by the daemon, then the crash. */
    ck_assert_int_eq(write(fds[0], &half, 8), 8);
    g_usleep(200000);
    restart(h, s, SIGKILL, "in the middle of a message on the twin socket", NULL);
    store_expect(s, "vfud/g0/conn", 0);
    store_expect(s, "vfud/g0/twin", 0);
    /* Both sockets end. */
    ck_assert_int_eq(read(fds[0], &b, 1), 0);
    close(fds[0]);
    vfu_client_close(c);
    c = ot_gpio_attach(sock, 7);
    ck_assert_uint_eq(ot_gpio_read(c), 7);
    finish(h, s, c);
}
END_TEST

static const char iso_config[] =
    "[daemon]\nsocket-dir = @SOCKDIR@\n[g0]\nplugin = gpio\nisolate = process\n";

/* The isolated process's pid as status shows it, once it is running a
 * process other than not_pid. */
static pid_t child_pid(const char *ctl, pid_t not_pid)
{
    pid_t pid = 0;

    for (int i = 0; i < DT_WAIT_MS / 10; i++) {
        json_object *a = ot_request(ctl, "{\"command\":\"status\",\"device\":\"g0\"}");

        pid = json_object_get_int(ot_get(a, "devices.0.isolated.pid"));
        json_object_put(a);
        if (pid > 0 && pid != not_pid) {
            return pid;
        }
        g_usleep(10000);
    }
    ck_abort_msg("no isolated process other than %d", (int)not_pid);
    return -1;
}

START_TEST(isolated_crash_reattaches)
{
    struct harness *h = harness_new(iso_config);
    struct store *s = store_new(h);
    g_autofree char *ctl = ot_control_path(h);
    struct vfu_client *c = setup(h, s, true, 0x5a);
    pid_t parent = h->pid;
    pid_t child = child_pid(ctl, 0);
    int fds_first = -1;

    for (int round = 0; round < 3; round++) {
        g_autofree char *mark = g_strdup_printf("(restart %d)", round + 1);
        double t0 = ot_now_ms();

        ck_assert_int_eq(kill(child, SIGKILL), 0);
        /* The next request is served by the new process, on the same
         * connection; the value is gone (reset), the window and the
         * eventfd wired again (the child's status is its own: the store
         * says what it re-attached). */
        ck_assert_uint_eq(ot_gpio_read(c), 0);
        fprintf(stderr, "isolated process SIGKILL to the next request served: %.1f ms "
                "(restart %d)\n", ot_now_ms() - t0, round + 1);
        ck_assert(dt_wait_log(h, mark));
        child = child_pid(ctl, child);
        ot_gpio_write(c, 0x33);
        ck_assert_uint_eq(ot_gpio_read(c), 0x33);
        ck_assert(dt_wait_log(h, "re-attached after a crash"));
        store_expect(s, "vfud/g0/c/g0/conn", 1);
        store_expect(s, "vfud/g0/c/g0/meta", 1);
        store_expect(s, "vfud/g0/c/g0/win/*", 1);
        store_expect(s, "vfud/g0/c/g0/irq/0/0", 1);
        /* The parent keeps one set of the child's fds, not one per crash. */
        if (fds_first < 0) {
            fds_first = ot_settled_fd_count(parent, -1);
        } else {
            /* Once the parent has read what the child replaced. */
            ck_assert_int_eq(ot_settled_fd_count(parent, fds_first), fds_first);
        }
    }
    /* The client leaves: the parent lets go of its fds. */
    vfu_client_close(c);
    store_expect(s, "vfud/g0/c/g0/conn", 0);
    store_expect(s, "vfud/g0/c/g0/win/*", 0);
    finish(h, s, NULL);
}
END_TEST

START_TEST(isolated_restart_hands_over)
{
    struct harness *h = harness_new(iso_config);
    struct store *s = store_new(h);
    g_autofree char *ctl = ot_control_path(h);
    struct vfu_client *c = setup(h, s, true, 0x5a);

    for (int round = 0; round < 2; round++) {
        pid_t child = child_pid(ctl, 0);

        kill_daemon(h, s, SIGTERM);
        /* The child went with it, its state stored. */
        ck_assert_int_eq(kill(child, 0), -1);
        store_expect(s, "vfud/g0/c/state", 1);
        start(h, s);
        ck_assert(dt_wait_file(ctl));
        child = child_pid(ctl, child);
        /* The same connection, the device's state kept. */
        ck_assert_uint_eq(ot_gpio_read(c), (uint8_t)(0x5a + round));
        ot_gpio_write(c, (uint8_t)(0x5a + round + 1));
        ck_assert(dt_wait_log(h, "upgrade: took over every device from the old process"));
        /* Used once. */
        store_expect(s, "vfud/g0/c/state", 0);
        store_expect(s, "vfud/g0/c/g0/conn", 1);
    }
    finish(h, s, c);
}
END_TEST

/* kill -9 of the parent (a crash; systemd restarts it with the store):
 * its isolated process must not live on serving the client beside the
 * next parent's (it dies with its parent, of SIGKILL: its state has
 * nobody to be stored with), and the next parent's process re-attaches
 * the client from what the parent had stored in ours, with a reset. */
START_TEST(isolated_parent_crash_reattaches)
{
    struct harness *h = harness_new(iso_config);
    struct store *s = store_new(h);
    g_autofree char *ctl = ot_control_path(h);
    struct vfu_client *c;

    /* Orphans come to us: how the old child ended is ours to see. */
    ck_assert_int_eq(prctl(PR_SET_CHILD_SUBREAPER, 1), 0);
    c = setup(h, s, true, 0x5a);
    for (int round = 0; round < 2; round++) {
        pid_t child = child_pid(ctl, 0);
        int st = 0;
        pid_t r = 0;

        kill_daemon(h, s, SIGKILL);
        for (int i = 0; i < DT_WAIT_MS / 10 && (r = waitpid(child, &st, WNOHANG)) == 0; i++) {
            g_usleep(10000);
        }
        ck_assert_int_eq(r, child);
        ck_assert_msg(WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL, "child status %#x", st);
        /* What the parent kept for it is in the store. */
        ck_assert_uint_eq(store_count(s, "vfud/g0/c/g0/conn"), 1);
        ck_assert_uint_eq(store_count(s, "vfud/g0/c/state"), 0);
        start(h, s);
        ck_assert(dt_wait_file(ctl));
        ck_assert_int_ne(child_pid(ctl, child), child);
        /* The same connection, the device reset, then served. */
        ck_assert_uint_eq(ot_gpio_read(c), 0);
        ot_gpio_write(c, 0x33);
        ck_assert_uint_eq(ot_gpio_read(c), 0x33);
        ck_assert(wait_log_count(h, "re-attached after a crash", (unsigned)round + 1));
        store_expect(s, "vfud/g0/c/g0/conn", 1);
        store_expect(s, "vfud/g0/c/g0/meta", 1);
    }
    vfu_client_close(c);
    store_expect(s, "vfud/g0/c/g0/conn", 0);
    finish(h, s, NULL);
}
END_TEST

static Suite *fdstore_suite(void)
{
    /* One case each: CK_RUN_CASE=crash runs one. */
    const struct {
        const char *name;
        const TTest *test;
    } cases[] = {
        { "restart", restart_hands_over },
        { "crash", crash_reattaches_reset },
        { "crash_mid_message", crash_mid_message_drops },
        { "crash_before_version", crash_before_version_keeps_client },
        { "crash_mid_twin", crash_mid_twin_message_drops },
        { "crash_loop", crash_loop_drops_client },
        { "crash_other_pidns", crash_other_pidns_names_client },
        { "isolated_crash", isolated_crash_reattaches },
        { "isolated_parent_crash", isolated_parent_crash_reattaches },
        { "isolated_restart", isolated_restart_hands_over },
    };
    Suite *s = suite_create("fdstore");

    for (unsigned i = 0; i < G_N_ELEMENTS(cases); i++) {
        TCase *tc = tcase_create(cases[i].name);

        tcase_add_test(tc, cases[i].test);
        tcase_set_timeout(tc, 120);
        suite_add_tcase(s, tc);
    }
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(fdstore_suite());
    int failed;

    dt_init();
    srunner_run_all(sr, CK_ENV);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    dt_finish();
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
