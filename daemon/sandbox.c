/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The sandbox: configuration keys, the plan built from the devices, and
 * applying the layers in order (see sandbox.h).
 *
 * Capabilities, no_new_privs and Landlock domains belong to threads, and
 * by the time the daemon has bound its sockets its device threads and the
 * plugins' own (the NVMe I/O thread) run already.  So each thread confines
 * itself: a real-time signal makes it run the same few system calls from
 * its handler, as glibc does for setuid().  seccomp has TSYNC for that.
 */
#include "config.h"

#include "conn_uring.h"

#include "log.h"
#include "sandbox.h"
#include "util.h"

#include <dirent.h>
#include <pthread.h>
#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <glib-unix.h>

static bool active;

/* Not one of glibc's own (SIGRTMIN is past them). */
#define BROADCAST_SIGNAL (SIGRTMIN + 4)

/* ------------------------------------------------------------------------
 * Configuration
 */
int sandbox_config_key(struct sandbox_config *sc, const char *key,
                       const char *value, char **why)
{
    if (strcmp(key, "sandbox") == 0) {
        if (strcmp(value, "on") == 0 || strcmp(value, "yes") == 0) {
            sc->off = false;
        } else if (strcmp(value, "off") == 0 || strcmp(value, "no") == 0) {
            sc->off = true;
        } else {
            *why = g_strdup_printf("sandbox = %s: expected on or off", value);
        }
    } else if (strcmp(key, "sandbox-violation") == 0) {
        if (strcmp(value, "kill") == 0) {
            sc->violation = SANDBOX_KILL;
        } else if (strcmp(value, "eperm") == 0) {
            sc->violation = SANDBOX_EPERM;
        } else {
            *why = g_strdup_printf("sandbox-violation = %s: expected kill or eperm",
                                   value);
        }
    } else if (strcmp(key, "user") == 0) {
        uid_t uid;
        int r = util_parse_uid(value, &uid);

        if (r < 0) {
            *why = g_strdup_printf("user '%s': %s", value,
                                   r == -ENOENT ? "no such user" : "invalid user id");
            return 1;
        }
        g_free(sc->user);
        sc->user = g_strdup(value);
    } else if (strcmp(key, "group") == 0) {
        gid_t gid;
        int r = util_parse_gid(value, &gid);

        if (r < 0) {
            *why = g_strdup_printf("group '%s': %s", value,
                                   r == -ENOENT ? "no such group" : "invalid group id");
            return 1;
        }
        g_free(sc->group);
        sc->group = g_strdup(value);
    } else {
        return 0;
    }
    return 1;
}

void sandbox_config_clear(struct sandbox_config *sc)
{
    g_clear_pointer(&sc->user, g_free);
    g_clear_pointer(&sc->group, g_free);
}

void sandbox_config_write(const struct sandbox_config *sc, GString *out)
{
    /* user and group are the parent's business: its children start with
     * its identity and could not change it. */
    g_string_append_printf(out, "sandbox = %s\n", sc->off ? "off" : "on");
    g_string_append_printf(out, "sandbox-violation = %s\n",
                           sc->violation == SANDBOX_KILL ? "kill" : "eperm");
}

/* ------------------------------------------------------------------------
 * The plan
 */
struct sandbox_plan *sandbox_plan_new(const struct sandbox_config *cfg)
{
    struct sandbox_plan *p = g_new0(struct sandbox_plan, 1);

    p->cfg = cfg;
    p->ruleset_fd = -1;
    p->maps_fd = -1;
    p->syscalls = g_ptr_array_new();
    p->rw_paths = g_ptr_array_new_with_free_func(g_free);
    p->ro_paths = g_ptr_array_new_with_free_func(g_free);
    return p;
}

void sandbox_plan_free(struct sandbox_plan *p)
{
    if (p == NULL) {
        return;
    }
    if (p->ruleset_fd >= 0) {
        close(p->ruleset_fd);
    }
    g_ptr_array_unref(p->syscalls);
    g_ptr_array_unref(p->rw_paths);
    g_ptr_array_unref(p->ro_paths);
    g_free(p->device);
    g_free(p->socket_dir);
    g_free(p->control_dir);
    g_free(p);
}

void sandbox_plan_add_syscalls(struct sandbox_plan *p, const char *const *list)
{
    for (const char *const *s = list; s != NULL && *s != NULL; s++) {
        g_ptr_array_add(p->syscalls, (gpointer)*s);
    }
}

void sandbox_plan_add_config_value(struct sandbox_plan *p, const char *value)
{
    if (value[0] != '/') {
        return;
    }
    /* The directory: files named there may be replaced by rename or
     * created on first use. */
    if (g_file_test(value, G_FILE_TEST_IS_DIR)) {
        g_ptr_array_add(p->rw_paths, g_strdup(value));
    } else {
        g_ptr_array_add(p->rw_paths, g_path_get_dirname(value));
    }
}

/* ------------------------------------------------------------------------
 * Every thread
 */
static int (*bc_fn)(void *arg);
static void *bc_arg;
static int bc_done;
static int bc_error;

static void on_broadcast(int sig)
{
    int saved = errno;
    int r = bc_fn(bc_arg);

    (void)sig;
    if (r < 0) {
        int zero = 0;

        __atomic_compare_exchange_n(&bc_error, &zero, r, false, __ATOMIC_SEQ_CST,
                                    __ATOMIC_SEQ_CST);
    }
    __atomic_add_fetch(&bc_done, 1, __ATOMIC_SEQ_CST);
    errno = saved;
}

/* Does thread tid block sig?  GLib's worker thread blocks them all; it
 * is created confined instead (sandbox_prepare), and status_confined()
 * checks that afterwards. */
static bool blocks_signal(pid_t tid, int sig)
{
    g_autofree char *path = g_strdup_printf("/proc/self/task/%d/status", (int)tid);
    g_autofree char *text = NULL;
    const char *p;

    if (!g_file_get_contents(path, &text, NULL, NULL) ||
        (p = strstr(text, "\nSigBlk:")) == NULL) {
        return false;
    }
    return (g_ascii_strtoull(p + 8, NULL, 16) >> (sig - 1)) & 1;
}

/* Has thread tid no capability and no_new_privs? */
static bool thread_confined(pid_t tid)
{
    g_autofree char *path = g_strdup_printf("/proc/self/task/%d/status", (int)tid);
    g_autofree char *text = NULL;
    const char *eff, *nnp;

    if (!g_file_get_contents(path, &text, NULL, NULL)) {
        return true; /* it ended */
    }
    eff = strstr(text, "\nCapEff:");
    nnp = strstr(text, "\nNoNewPrivs:");
    return eff != NULL && nnp != NULL && g_ascii_strtoull(eff + 8, NULL, 16) == 0 &&
           g_ascii_strtoull(nnp + 12, NULL, 10) == 1;
}

int sandbox_on_all_threads(int (*fn)(void *arg), void *arg)
{
    g_autoptr(GHashTable) seen = g_hash_table_new(g_direct_hash, g_direct_equal);
    struct sigaction sa = { 0 }, old;
    int sig = BROADCAST_SIGNAL;
    pid_t self = (pid_t)syscall(SYS_gettid);
    int sent = 0;
    bool more = true;
    /* Generous: under valgrind a thread takes its time. */
    gint64 deadline = g_get_monotonic_time() + 30 * G_USEC_PER_SEC;

    bc_fn = fn;
    bc_arg = arg;
    bc_done = 0;
    bc_error = 0;
    sa.sa_handler = on_broadcast;
    sa.sa_flags = SA_RESTART;
    sigemptyset(&sa.sa_mask);
    sigaction(sig, &sa, &old);
    /* Until a pass finds no thread it has not seen: a thread may start
     * another meanwhile. */
    while (more) {
        DIR *d = opendir("/proc/self/task");
        struct dirent *de;

        if (d == NULL) {
            sigaction(sig, &old, NULL);
            return -errno;
        }
        more = false;
        while ((de = readdir(d)) != NULL) {
            pid_t tid = (pid_t)atoi(de->d_name);

            if (tid <= 0 || tid == self ||
                g_hash_table_contains(seen, GINT_TO_POINTER(tid))) {
                continue;
            }
            if (blocks_signal(tid, sig)) {
                /* GLib's worker, confined when it was created, or a thread
                 * glibc is still starting (with every signal blocked):
                 * look again. */
                if (thread_confined(tid)) {
                    g_hash_table_add(seen, GINT_TO_POINTER(tid));
                } else if (g_get_monotonic_time() < deadline) {
                    more = true;
                    g_usleep(1000);
                }
                continue;
            }
            g_hash_table_add(seen, GINT_TO_POINTER(tid));
            if (syscall(SYS_tgkill, getpid(), tid, sig) == 0) {
                sent++;
                more = true;
            }
        }
        closedir(d);
        while (__atomic_load_n(&bc_done, __ATOMIC_SEQ_CST) < sent) {
            if (g_get_monotonic_time() > deadline) {
                log_error(NULL, "sandbox: %d of %d threads did not confine themselves "
                          "within 30 s", sent - bc_done, sent);
                sigaction(sig, &old, NULL);
                return -ETIMEDOUT;
            }
            g_usleep(1000);
        }
    }
    /* A late signal is discarded, never fatal. */
    sa.sa_handler = SIG_IGN;
    sigaction(sig, &sa, NULL);
    return bc_error;
}

struct confine {
    int ruleset_fd;
};

/* Threads that ran before sandbox_prepare put the main thread in the
 * Landlock domain (a plugin's load() may start one: the python plugin's
 * watchdog): they did not inherit it and take one of their own at apply. */
#define PRE_THREADS_MAX 64
static pid_t pre_threads[PRE_THREADS_MAX];
static int nr_pre_threads;

static bool ran_before_domain(pid_t tid)
{
    for (int i = 0; i < nr_pre_threads; i++) {
        if (pre_threads[i] == tid) {
            return true;
        }
    }
    return false;
}

/* On each thread: no_new_privs, no capabilities, the Landlock domain. */
static int confine_thread(void *arg)
{
    const struct confine *c = arg;
    int r;

    if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0) {
        return -errno;
    }
    r = privdrop_thread_caps();
    if (r == 0 && c->ruleset_fd >= 0 && ran_before_domain((pid_t)syscall(SYS_gettid))) {
        r = landlock_restrict_thread(c->ruleset_fd);
    }
    return r;
}

/* The threads other than ours (at most PRE_THREADS_MAX). */
static int list_other_threads(void)
{
    g_autoptr(GDir) d = g_dir_open("/proc/self/task", 0, NULL);
    pid_t self = (pid_t)syscall(SYS_gettid);
    const char *name;

    nr_pre_threads = 0;
    while (d != NULL && (name = g_dir_read_name(d)) != NULL) {
        pid_t tid = (pid_t)atoi(name);

        if (tid != self) {
            if (nr_pre_threads == PRE_THREADS_MAX) {
                return -E2BIG;
            }
            pre_threads[nr_pre_threads++] = tid;
        }
    }
    return d != NULL ? 0 : -errno;
}

/* valgrind runs our code on a CPU it emulates, with system calls of its
 * own that no allow-list of ours describes. */
static bool under_valgrind(void)
{
    const char *preload = getenv("LD_PRELOAD");

    return preload != NULL && strstr(preload, "vgpreload") != NULL;
}

/* GLib creates its worker thread (unix signals, child watches) on first
 * use, with every signal blocked, so it would never run the broadcast's
 * handler.  A thread that confined itself creates it instead: threads
 * inherit their creator's capabilities, no_new_privs and Landlock domain.
 * Except the capabilities when privdrop_apply will switch users: glibc's
 * setgroups and setresuid run on every thread (its own signal, which no
 * thread can block) and abort the process when one thread lacks the
 * capability; leaving uid 0 clears the worker's capabilities then. */
static gpointer make_glib_worker(gpointer data)
{
    struct sandbox_plan *p = data;
    struct confine c = { .ruleset_fd = p->ruleset_fd };
    GSource *src;
    int r;

    if (p->switch_user) {
        r = prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0 ? -errno : 0;
    } else {
        r = confine_thread(&c);
    }
    if (r < 0) {
        return GINT_TO_POINTER(r);
    }
    src = g_unix_signal_source_new(SIGHUP);
    g_source_unref(src);
    return NULL;
}

int sandbox_prepare(struct sandbox_plan *p)
{
    int r;

    p->ruleset_fd = -1;
    if (p->cfg->off) {
        return 0;
    }
    /* Our signal must reach every thread started from now on, whatever
     * mask we inherited across execve. */
    {
        sigset_t set;

        sigemptyset(&set);
        sigaddset(&set, BROADCAST_SIGNAL);
        pthread_sigmask(SIG_UNBLOCK, &set, NULL);
    }
    if (p->maps_fd >= 0) {
        /* An isolated device's process: a helper of its own, in the
         * daemon's domain and without capabilities, could not open the
         * maps; the daemon's helper serves it, with or without Landlock
         * here (a sanitized build may go without). */
        sandbox_maps_adopt(p->maps_fd);
    }
    p->switch_user = privdrop_will_switch(p->cfg);
    /* The rules name paths that the new user may not be able to open. */
    r = landlock_prepare(p, &p->ruleset_fd);
    if (r < 0 && r != -EOPNOTSUPP) {
        return r;
    }
    /* Landlock now, on the main thread, so that every thread started
     * later is in this one domain: a domain per thread would make the
     * threads strangers to each other (LeakSanitizer's tracer could not
     * attach to them).  Nothing start-up still does needs more than the
     * rules allow, and no_new_privs takes nothing root needs. */
    if (p->ruleset_fd >= 0 && (r = list_other_threads()) < 0) {
        log_error(NULL, "sandbox: cannot list the threads: %s", g_strerror(-r));
        return r;
    }
#ifdef VFUD_SANITIZED
    if (p->ruleset_fd >= 0 && nr_pre_threads > 0) {
        /* LeakSanitizer's tracer, in the main thread's domain, could not
         * stop a thread of another domain and would report false leaks. */
        log_notice(NULL, "sandbox: sanitized build with threads started before "
                   "the sandbox: no Landlock");
        close(p->ruleset_fd);
        p->ruleset_fd = -1;
        nr_pre_threads = 0;
    }
#endif
    if (p->ruleset_fd >= 0) {
        /* Landlock's ptrace scope would hide the clients' /proc/PID/maps
         * (dma_verify.c) from us; a helper outside the domain opens them.
         * Without it the content check still decides, more slowly. */
        r = p->maps_fd >= 0 ? 0 : sandbox_maps_start();
        if (r < 0) {
            log_warn(NULL, "sandbox: cannot start the /proc/PID/maps helper: %s; "
                     "guest memory is checked by content only", g_strerror(-r));
        }
        if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0 ||
            (r = landlock_restrict_thread(p->ruleset_fd)) < 0) {
            r = r < 0 ? r : -errno;
            log_error(NULL, "sandbox: landlock_restrict_self: %s", g_strerror(-r));
            return r;
        }
        if (nr_pre_threads == 0) {
            close(p->ruleset_fd);
            p->ruleset_fd = -1;
        } /* else sandbox_apply gives the earlier threads their domain */
        p->landlock = true;
    }
    r = GPOINTER_TO_INT(g_thread_join(g_thread_new("sandbox", make_glib_worker, p)));
    if (r < 0) {
        log_error(NULL, "sandbox: cannot confine a thread: %s", g_strerror(-r));
    }
    return r;
}

/* Every thread, as the kernel reports it: no capability, no_new_privs. */
static int check_threads(void)
{
    g_autoptr(GDir) d = g_dir_open("/proc/self/task", 0, NULL);
    const char *name;
    int bad = 0;

    while (d != NULL && (name = g_dir_read_name(d)) != NULL) {
        if (!thread_confined((pid_t)atoi(name))) {
            g_autofree char *path = g_strdup_printf("/proc/self/task/%s/comm", name);
            g_autofree char *comm = NULL;

            if (g_file_get_contents(path, &comm, NULL, NULL)) {
                g_strchomp(comm);
            }
            log_error(NULL, "sandbox: thread %s (%s) kept capabilities or may gain them",
                      name, comm != NULL ? comm : "?");
            bad++;
        }
    }
    if (bad > 0) {
        /* Threads a library started while a plugin loaded cannot be made
         * to confine themselves (such work belongs in the plugin's
         * running(), as the NVMe plugin's RBD connection is). */
        log_error(NULL, "sandbox: %d thread%s started before the sandbox (by a plugin's "
                  "library) cannot be confined: the daemon will not run half-confined; "
                  "set sandbox = off in [daemon] to run this configuration",
                  bad, bad == 1 ? "" : "s");
    }
    return bad > 0 ? -EPERM : 0;
}

/* An isolated device's own limits, hard ones: after the filter it could
 * not raise them anyway. */
static int apply_limits(const struct sandbox_plan *p)
{
    struct rlimit rl;

    if (p->limit_fds != 0) {
        rl.rlim_cur = rl.rlim_max = p->limit_fds;
        if (setrlimit(RLIMIT_NOFILE, &rl) < 0) {
            log_error(p->device, "sandbox: limit-fds = %llu: %s",
                      (unsigned long long)p->limit_fds, g_strerror(errno));
            return -errno;
        }
    }
    if (p->limit_memory != 0) {
        rl.rlim_cur = rl.rlim_max = p->limit_memory;
        if (setrlimit(RLIMIT_AS, &rl) < 0) {
            log_error(p->device, "sandbox: limit-memory = %llu: %s",
                      (unsigned long long)p->limit_memory, g_strerror(errno));
            return -errno;
        }
    }
    return 0;
}

int sandbox_apply(struct sandbox_plan *p)
{
    struct confine c = { .ruleset_fd = p->ruleset_fd };
    int r;

    if (p->cfg->off) {
        log_notice(NULL, "sandbox: off (sandbox = off): no privilege drop, "
                   "system call filter or file access limits");
        return apply_limits(p);
    }
    /* Rings for device threads started later (an upgrade's adopted
     * devices, hot adds, reloads), while io_uring_setup is allowed and we
     * are still who configured it (kernel.io_uring_group). */
    conn_uring_seal(p->devices, p->isolated_child ? 0 : SANDBOX_URING_SPARE);
    r = privdrop_apply(p->cfg);
    if (r == 0) {
        r = confine_thread(&c);
    }
    if (r == 0) {
        r = sandbox_on_all_threads(confine_thread, &c);
    }
    if (p->ruleset_fd >= 0) {
        close(p->ruleset_fd);
        p->ruleset_fd = -1;
    }
    if (r < 0) {
        log_error(NULL, "sandbox: cannot confine the daemon's threads: %s",
                  g_strerror(-r));
        return r;
    }
    r = check_threads();
    if (r == 0) {
        r = apply_limits(p);
    }
    if (r < 0) {
        return r;
    }
    if (under_valgrind()) {
        log_notice(NULL, "sandbox: under valgrind: no system call filter");
    } else {
        r = seccomp_apply(p);
        if (r < 0) {
            return r;
        }
    }
    active = true;
    log_info(p->device, "sandbox: in force (no_new_privs, no capabilities%s%s)",
             p->landlock ? ", landlock" : "",
             under_valgrind() ? "" : ", seccomp");
    return 0;
}

bool sandbox_active(void)
{
    return active;
}
