/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * seccomp-bpf: the system calls the daemon may make once it has started.
 *
 * The filter allows the "base" group (what the daemon's own code, GLib and
 * glibc need to serve clients), "spawn" in a daemon that starts isolated
 * device processes, and every group or call a loaded plugin declares in
 * struct vfud_plugin.syscalls.  Anything else traps: the SIGSYS handler
 * logs the call's name and the device, then either lets it fail with EPERM
 * or ends the offending process (sandbox-violation).
 *
 * Adding a group: one entry in `groups` below and one line in
 * vfiouserd(8), SECURITY.  Calls whose arguments matter (socket's family,
 * clone's flags, prctl's option) are narrowed in add_conditional().
 */
#include "config.h"

#include "device.h"
#include "log.h"
#include "sandbox.h"

#include <errno.h>
#include <linux/io_uring.h>
#include <linux/kcmp.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <ucontext.h>
#include <unistd.h>

#ifdef HAVE_SECCOMP
#include <seccomp.h>

struct group {
    const char *name;
    const char *const *calls;
};

/* Our own code, GLib and glibc while serving: I/O on fds we hold, memory,
 * threads and their synchronisation, time, signals, polling, UNIX sockets
 * (clients, the control socket, the journal, sd_notify), files in the
 * directories Landlock leaves us. */
static const char *const base_calls[] = {
    "read", "write", "readv", "writev", "pread64", "pwrite64", "preadv",
    "pwritev", "preadv2", "pwritev2", "lseek", "close", "close_range", "dup",
    "dup2", "dup3", "fcntl", "ioctl", "flock",
    "open", "openat", "openat2", "stat", "fstat", "lstat", "newfstatat",
    "statx", "fstatfs", "statfs", "access", "faccessat", "faccessat2",
    "readlink", "readlinkat", "getdents64", "getcwd", "unlink", "unlinkat",
    "rename", "renameat", "renameat2", "mkdir", "mkdirat", "chmod", "fchmod",
    "fchmodat", "fchown", "fchownat", "lchown", "umask", "ftruncate",
    "memfd_create", "fsync", "fdatasync",
    "mmap", "munmap", "mprotect", "mremap", "madvise", "brk", "msync",
    "mincore", "membarrier",
    "futex", "futex_waitv", "set_robust_list", "get_robust_list", "rseq",
    "sched_yield", "sched_getaffinity", "getpriority",
    "nanosleep", "clock_nanosleep", "clock_gettime", "clock_getres",
    "gettimeofday", "time",
    "rt_sigaction", "rt_sigprocmask", "rt_sigreturn", "rt_sigtimedwait",
    "sigaltstack", "tgkill", "kill", "restart_syscall",
    "getpid", "gettid", "getppid", "getuid", "geteuid", "getgid", "getegid",
    "getgroups", "getresuid", "getresgid",
    "poll", "ppoll", "select", "pselect6", "epoll_create", "epoll_create1",
    /* Device threads wait with it (engine/conn_uring.c) on rings made
     * before the filter, restricted to sendmsg, recvmsg, poll and cancel:
     * without io_uring_setup, and with io_uring_register only to enable a
     * ring (add_conditional), it reaches no further than those calls. */
    "io_uring_enter",
    "epoll_ctl", "epoll_wait", "epoll_pwait", "epoll_pwait2", "eventfd",
    "eventfd2", "timerfd_create", "timerfd_settime", "timerfd_gettime",
    "signalfd4", "pipe", "pipe2",
    "socketpair", "bind", "listen", "accept", "accept4", "connect",
    "getsockopt", "setsockopt", "getsockname", "getpeername", "sendmsg",
    "recvmsg", "sendto", "recvfrom", "shutdown",
    "exit", "exit_group", "getrandom", "uname", "sysinfo", "getrlimit",
    NULL
};

/* Starting isolated device processes: fork, exec of our own binary
 * (Landlock allows no other), reaping, and what a new process does before
 * its own sandbox exists. */
static const char *const spawn_calls[] = {
    "fork", "vfork", "execve", "execveat", "wait4", "waitid", "pidfd_open",
    "pidfd_send_signal", "arch_prctl",
    "set_tid_address", "prlimit64", "setrlimit", "setsid", "setpgid",
    "getpgid", "getsid", "capget", "capset", "landlock_create_ruleset",
    "landlock_add_rule", "landlock_restrict_self", "seccomp",
    "sched_setaffinity", "getdents", "chdir", "fchdir",
    NULL
};

static const char *const io_uring_calls[] = {
    "io_uring_setup", "io_uring_enter", "io_uring_register", NULL
};

/* Files and block devices as storage: the synchronous fall-backs. */
static const char *const block_io_calls[] = {
    "fallocate", "sync_file_range", "syncfs", "copy_file_range", "fadvise64",
    "readahead", "fsync", "fdatasync", NULL
};

/* TCP/IP clients (NBD, RBD): sockets of any family, name resolution. */
static const char *const network_client_calls[] = {
    "socket", "connect", "sendmmsg", "recvmmsg", "getsockopt", "setsockopt",
    "getsockname", "getpeername", "sendto", "recvfrom", "sendmsg", "recvmsg",
    "shutdown", "poll", "ppoll", NULL
};

/* Threads of a plugin's own that poll and wait (also in base; a plugin may
 * name it to say so). */
static const char *const event_calls[] = {
    "eventfd2", "epoll_create1", "epoll_ctl", "epoll_wait", "epoll_pwait",
    "epoll_pwait2", "futex", "futex_waitv", "timerfd_create",
    "timerfd_settime", "timerfd_gettime", NULL
};

/* Sanitized builds: LeakSanitizer stops the world with ptrace from a
 * cloned thread and reads /proc; ASan's reports need a few more.  The
 * tracer lists the threads with the old getdents (not getdents64): refused,
 * it died of the SIGSYS it blocks, and the exit check spun for ever
 * waiting for it.  Its clone shares our memory (CLONE_VM): allowed so in
 * add_conditional, while a fork (glibc's, without CLONE_VM) stays refused
 * as in any build.  (fork here is the system call, which only the
 * sanitizers' symbolizer uses; glibc forks with clone.) */
static const char *const sanitizer_calls[] = {
    "ptrace", "wait4", "waitid", "prctl", "sched_getaffinity",
    "getrlimit", "prlimit64", "sigaltstack", "readlink", "openat", "getdents64", "getdents",
    "process_vm_readv", "fork", NULL
};

static const struct group groups[] = {
    { "base", base_calls },
    { "spawn", spawn_calls },
    { "io_uring", io_uring_calls },
    { "block-io", block_io_calls },
    { "network-client", network_client_calls },
    { "event", event_calls },
    { "sanitizer", sanitizer_calls },
};

/* ------------------------------------------------------------------------
 * What is in force
 */
static bool filter_on;
static enum sandbox_violation violation;
static bool in_isolated_child;
static char *child_device;
static GHashTable *allowed; /* names and groups the filter allows */

/* Names of syscall numbers, resolved before the filter is loaded: the
 * SIGSYS handler must not allocate. */
#define NAMES_MAX 1024
static char *syscall_names[NAMES_MAX];

static const struct group *find_group(const char *name)
{
    for (size_t i = 0; i < G_N_ELEMENTS(groups); i++) {
        if (strcmp(groups[i].name, name) == 0) {
            return &groups[i];
        }
    }
    return NULL;
}

bool seccomp_known(const char *name)
{
    return find_group(name) != NULL ||
           seccomp_syscall_resolve_name(name) != __NR_SCMP_ERROR;
}

int seccomp_check_needs(const char *const *list, char **why)
{
    if (!filter_on || list == NULL) {
        return 0;
    }
    for (const char *const *s = list; *s != NULL; s++) {
        const struct group *g = find_group(*s);

        if (g == NULL && g_hash_table_contains(allowed, *s)) {
            continue;
        }
        if (g != NULL && g_hash_table_contains(allowed, g->name)) {
            continue;
        }
        *why = g_strdup_printf("sandbox: the running daemon's seccomp filter does not "
                               "allow '%s' (it can only narrow after start-up): "
                               "restart the daemon with this device configured", *s);
        return -EPERM;
    }
    return 0;
}

/* ------------------------------------------------------------------------
 * Violations
 */
static void fail_call(void *ctx)
{
    ucontext_t *uc = ctx;

#if defined(__x86_64__)
    uc->uc_mcontext.gregs[REG_RAX] = -EPERM;
#elif defined(__aarch64__)
    uc->uc_mcontext.regs[0] = (unsigned long long)-EPERM;
#else
    (void)uc;
#endif
}

/* The device this thread serves, else the thread's name ("nvme0-io"). */
static void who(char *buf, size_t len, const char **dev)
{
    vfud_dev *d = device_current();
    char name[17] = "";

    *dev = d != NULL ? d->name : NULL;
    prctl(PR_GET_NAME, name, 0, 0, 0);
    snprintf(buf, len, "thread %d (%s)", (int)syscall(SYS_gettid), name);
}

/* Logging here is not async-signal-safe in general; SIGSYS is, however,
 * synchronous: it arrives at the forbidden call itself, in code that asked
 * for a system call and holds none of the logger's locks. */
static void on_sigsys(int sig, siginfo_t *si, void *ctx)
{
    int nr = si->si_syscall;
    const char *name = nr >= 0 && nr < NAMES_MAX && syscall_names[nr] != NULL
                       ? syscall_names[nr] : "?";
    char thread[64];
    const char *dev;
    vfud_dev *d = device_current();

    (void)sig;
    who(thread, sizeof(thread), &dev);
    if (dev == NULL && in_isolated_child) {
        dev = child_device; /* one device per process: a thread of its plugin */
    }
    if (violation == SANDBOX_KILL && in_isolated_child) {
        log_error(dev, "sandbox: forbidden system call %s (%d) in %s: "
                  "killing the device's process", name, nr, thread);
        signal(SIGSYS, SIG_DFL);
        syscall(SYS_tgkill, getpid(), syscall(SYS_gettid), SIGSYS);
        _exit(128 + SIGSYS); /* not reached */
    }
    fail_call(ctx);
    if (violation == SANDBOX_KILL && d != NULL) {
        /* Killing the daemon would take every other guest's device with
         * it: the call fails and the device stops serving. */
        log_error(dev, "sandbox: forbidden system call %s (%d) in %s: failed "
                  "with EPERM; the device is marked failed", name, nr, thread);
        __atomic_store_n(&d->sandbox_failed, true, __ATOMIC_RELEASE);
        return;
    }
    log_error(dev, "sandbox: forbidden system call %s (%d) in %s: failed with EPERM",
              name, nr, thread);
}

/* ------------------------------------------------------------------------
 * Building the filter
 */
static int add_name(scmp_filter_ctx ctx, const char *name, GHashTable *done)
{
    int nr = seccomp_syscall_resolve_name(name);
    int r;

    if (nr == __NR_SCMP_ERROR) {
        return 0; /* not on this architecture ("open" on arm64) */
    }
    if (g_hash_table_contains(done, name)) {
        return 0;
    }
    g_hash_table_add(done, (gpointer)name);
    r = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, nr, 0);
    if (r < 0 && r != -EEXIST) {
        log_error(NULL, "sandbox: seccomp: cannot allow %s: %s", name, g_strerror(-r));
        return r;
    }
    return 0;
}

static int add_entry(scmp_filter_ctx ctx, const char *entry, GHashTable *done)
{
    const struct group *g = find_group(entry);

    g_hash_table_add(allowed, g_strdup(entry));
    if (g == NULL) {
        return add_name(ctx, entry, done);
    }
    for (const char *const *c = g->calls; *c != NULL; c++) {
        int r = add_name(ctx, *c, done);

        g_hash_table_add(allowed, g_strdup(*c));
        if (r < 0) {
            return r;
        }
    }
    return 0;
}

/* Calls allowed with some arguments only (unless a group allowed them
 * outright). */
static int add_conditional(scmp_filter_ctx ctx, GHashTable *done)
{
    int r = 0;

    if (!g_hash_table_contains(done, "socket")) {
        r = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(socket), 1,
                             SCMP_A0(SCMP_CMP_EQ, AF_UNIX));
    }
    if (r == 0 && !g_hash_table_contains(done, "clone")) {
        /* Threads only: a new process needs "spawn". */
        r = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(clone), 1,
                             SCMP_A0(SCMP_CMP_MASKED_EQ, CLONE_THREAD, CLONE_THREAD));
    } else if (r == 0) {
        r = 0;
    }
#ifdef VFUD_SANITIZED
    if (r == 0 && !g_hash_table_contains(done, "clone")) {
        r = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(clone), 1,
                             SCMP_A0(SCMP_CMP_MASKED_EQ, CLONE_VM, CLONE_VM));
    }
#endif
    if (r == 0 && g_hash_table_contains(allowed, "spawn") &&
        !g_hash_table_contains(done, "clone")) {
        r = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(clone), 1,
                             SCMP_A0(SCMP_CMP_MASKED_EQ, CLONE_THREAD, 0));
    }
    if (r == 0) {
        /* clone3's flags live in memory a filter cannot read: ENOSYS makes
         * glibc fall back to clone, whose flags it can. */
        r = seccomp_rule_add(ctx, SCMP_ACT_ERRNO(ENOSYS), SCMP_SYS(clone3), 0);
    }
    if (r == 0 && !g_hash_table_contains(done, "io_uring_register")) {
        /* A device thread enables the ring made for it before the filter
         * (engine/conn_uring.c: DEFER_TASKRUN binds a ring to the thread
         * that enables it).  Enabling makes nothing new: a ring's
         * restrictions are fixed before, and an enabled ring refuses. */
        r = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(io_uring_register), 1,
                             SCMP_A1(SCMP_CMP_EQ, IORING_REGISTER_ENABLE_RINGS));
    }
    if (r == 0 && !g_hash_table_contains(done, "prctl")) {
        /* the first 4 for every daemon: PR_SET_TIMERSLACK for a device
         * thread's own short timed sleeps (the nvme plugin's poller and
         * shadow hold; it touches the calling thread only), started after
         * the filter on a restart, an upgrade or a hot add */
        static const int options[] = {
            PR_SET_NAME, PR_GET_NAME, PR_GET_DUMPABLE, PR_SET_TIMERSLACK,
            PR_SET_PDEATHSIG, PR_SET_NO_NEW_PRIVS, PR_GET_NO_NEW_PRIVS,
            PR_CAPBSET_READ, PR_CAPBSET_DROP, PR_GET_SECUREBITS,
            PR_SET_SECUREBITS,
        };
        size_t n = g_hash_table_contains(allowed, "spawn") ? G_N_ELEMENTS(options) : 4;

        for (size_t i = 0; i < n && r == 0; i++) {
            r = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(prctl), 1,
                                 SCMP_A0(SCMP_CMP_EQ, (scmp_datum_t)options[i]));
        }
    }
    if (r == 0 && g_hash_table_contains(allowed, "spawn") &&
        !g_hash_table_contains(done, "kcmp")) {
        /* The store of isolated devices' fds tells a file stored twice
         * from two files by kcmp(KCMP_FILE) (isolate_store.c), in a daemon
         * with isolated devices only.  Our own pid both sides and
         * KCMP_FILE only: it compares two fds we hold, and says nothing
         * about another process. */
        scmp_datum_t self = (scmp_datum_t)getpid();

        r = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(kcmp), 3,
                             SCMP_A0(SCMP_CMP_EQ, self), SCMP_A1(SCMP_CMP_EQ, self),
                             SCMP_A2(SCMP_CMP_EQ, KCMP_FILE));
    }
    if (r == 0 && !g_hash_table_contains(done, "prlimit64")) {
        /* Reading a limit; changing one is for start-up. */
        r = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(prlimit64), 1,
                             SCMP_A2(SCMP_CMP_EQ, 0));
    }
    if (r < 0) {
        log_error(NULL, "sandbox: seccomp: cannot add a conditional rule: %s",
                  g_strerror(-r));
    }
    return r;
}

static void resolve_names(void)
{
    for (int nr = 0; nr < NAMES_MAX; nr++) {
        if (syscall_names[nr] == NULL) {
            syscall_names[nr] = seccomp_syscall_resolve_num_arch(SCMP_ARCH_NATIVE, nr);
        }
    }
}

/* Where a trap can answer EPERM by writing the return register. */
static bool can_emulate_eperm(void)
{
#if defined(__x86_64__) || defined(__aarch64__)
    return true;
#else
    return false;
#endif
}

int seccomp_apply(const struct sandbox_plan *p)
{
    g_autoptr(GHashTable) done = g_hash_table_new(g_str_hash, g_str_equal);
    struct sigaction sa = { 0 };
    scmp_filter_ctx ctx;
    uint32_t action = SCMP_ACT_TRAP;
    int r;

    violation = p->cfg->violation;
    in_isolated_child = p->isolated_child;
    g_free(child_device);
    child_device = g_strdup(p->device);
    if (violation == SANDBOX_EPERM && !can_emulate_eperm()) {
        action = SCMP_ACT_ERRNO(EPERM);
    }
    if (allowed == NULL) {
        allowed = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);
    }
    ctx = seccomp_init(action);
    if (ctx == NULL) {
        log_error(NULL, "sandbox: seccomp_init failed");
        return -ENOMEM;
    }
    /* All threads, including those plugins started. */
    r = seccomp_attr_set(ctx, SCMP_FLTATR_CTL_TSYNC, 1);
    if (r == 0) {
        r = add_entry(ctx, "base", done);
    }
    if (r == 0 && p->spawns) {
        r = add_entry(ctx, "spawn", done);
    }
#ifdef VFUD_SANITIZED
    if (r == 0) {
        r = add_entry(ctx, "sanitizer", done);
    }
#endif
    for (guint i = 0; r == 0 && i < p->syscalls->len; i++) {
        r = add_entry(ctx, g_ptr_array_index(p->syscalls, i), done);
    }
    if (r == 0) {
        r = add_conditional(ctx, done);
    }
    if (r == 0) {
        resolve_names();
        sa.sa_sigaction = on_sigsys;
        sa.sa_flags = SA_SIGINFO | SA_NODEFER;
        sigemptyset(&sa.sa_mask);
        sigaction(SIGSYS, &sa, NULL);
        r = seccomp_load(ctx);
        if (r < 0) {
            log_error(NULL, "sandbox: cannot load the seccomp filter: %s",
                      g_strerror(-r));
        }
    }
    seccomp_release(ctx);
    if (r == 0) {
        filter_on = true;
    }
    return r;
}

#else /* !HAVE_SECCOMP: built with --disable-seccomp */

bool seccomp_known(const char *name)
{
    (void)name;
    return true;
}

int seccomp_check_needs(const char *const *list, char **why)
{
    (void)list;
    (void)why;
    return 0;
}

int seccomp_apply(const struct sandbox_plan *p)
{
    (void)p;
    log_warn(NULL, "sandbox: built without libseccomp: no system call filter");
    return 0;
}

#endif
