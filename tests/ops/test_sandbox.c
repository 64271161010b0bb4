/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The sandbox (vfiouserd(8), SECURITY), on by default.  After start-up
 * every thread of the daemon and of an isolated device's process has
 * no_new_privs, a seccomp filter and no capability, as root and as an
 * unprivileged user.  The hostile plugin, told to by a register write,
 * tries what a device model taken over by its guest would: execve, reading
 * /etc/shadow, a TCP connection, ptrace, another process's memory through
 * /proc/PID/mem and process_vm_readv.  Each is refused and the filter's
 * refusals are logged with the call's name and the device; with
 * sandbox-violation = eperm the device goes on serving, with kill (the
 * default) a device in the daemon is failed (its client dropped, no new
 * one accepted) and an isolated device's process dies and is restarted.
 * The other devices serve their clients throughout.
 */
#include "config.h"

#include "ops_test.h"

#include <check.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <glib.h>

#include <vfiouserd/plugin.h>

#define NOBODY 65534u

#define HOSTILE_ID 0x405711e0u
#define REG_ATTACK 0x004
#define REG_RESULT 0x008
#define REG_VICTIM 0x00c
#define TESTDEV_ID 0x7e57de01u

enum { EXEC = 1, SHADOW, CONNECT, PTRACE, PROC_MEM, VM_READV, NOTHING, MAPS_LISTENER,
       MAPS_PAIR, MAPS_CLIENT };

static bool under_wrapper(void)
{
    const char *w = getenv("VFIOUSERD_WRAPPER");

    return w != NULL && w[0] != '\0';
}

/* Every thread of pid: no_new_privs, a filter (not under valgrind, where
 * the daemon runs without one), no capability. */
static void expect_confined(pid_t pid)
{
    g_autofree char *dir = g_strdup_printf("/proc/%d/task", (int)pid);
    g_autoptr(GDir) d = g_dir_open(dir, 0, NULL);
    const char *tid;
    unsigned n = 0;

    ck_assert_msg(d != NULL, "no %s", dir);
    while ((tid = g_dir_read_name(d)) != NULL) {
        g_autofree char *path = g_strdup_printf("%s/%s/status", dir, tid);
        g_autofree char *text = NULL;

        if (!g_file_get_contents(path, &text, NULL, NULL)) {
            continue;
        }
        ck_assert_msg(dt_has_line(text, "NoNewPrivs:\t1"), "%s:\n%s", path, text);
        ck_assert_msg(dt_has_line(text, "CapEff:\t0000000000000000"), "%s:\n%s", path,
                      text);
        if (!under_wrapper()) {
            ck_assert_msg(dt_has_line(text, "Seccomp:\t2"), "%s:\n%s", path, text);
        }
        n++;
    }
    ck_assert_uint_gt(n, 1);
}

/* The pid in the n-th (from 1) "[dev] isolated process pid N started". */
static pid_t child_pid(const char *log, const char *dev, unsigned n)
{
    g_autofree char *mark = g_strdup_printf("[%s] isolated process pid ", dev);
    g_auto(GStrv) lines = g_strsplit(log, "\n", -1);

    for (char **l = lines; *l != NULL; l++) {
        const char *p = strstr(*l, mark);

        if (p != NULL && g_str_has_suffix(*l, " started") && --n == 0) {
            return (pid_t)strtol(p + strlen(mark), NULL, 10);
        }
    }
    return -1;
}

/* The n-th process of dev, once it has confined itself. */
static pid_t wait_child(const struct harness *h, const char *dev, unsigned n)
{
    g_autofree char *confined = g_strdup_printf("vfiouserd: [%s] sandbox: in force", dev);

    for (int i = 0; i < DT_WAIT_MS / 10; i++) {
        g_autofree char *log = harness_log(h);
        pid_t pid = child_pid(log, dev, n);

        if (pid > 0 && dt_count_lines(log, confined) >= n) {
            return pid;
        }
        g_usleep(10000);
    }
    ck_abort_msg("no isolated process %u of %s", n, dev);
    return -1;
}

static uint32_t attack(struct vfu_client *c, uint32_t what)
{
    dt_write32(c, VFUD_REGION_BAR0, REG_ATTACK, what);
    return dt_read32(c, VFUD_REGION_BAR0, REG_RESULT);
}

static bool has_landlock(const struct harness *h)
{
    g_autofree char *log = harness_log(h);

    return strstr(log, "file access is not confined") == NULL;
}

/* The daemon's vfiouserd-maps helper (vfiouserd(8), SECURITY): one
 * process, no_new_privs, a filter of its own, CAP_SYS_PTRACE alone. */
static void expect_maps_helper(pid_t daemon)
{
    g_autoptr(GDir) d = g_dir_open("/proc", 0, NULL);
    const char *name;
    unsigned n = 0;

    while ((name = g_dir_read_name(d)) != NULL) {
        g_autofree char *path = g_strdup_printf("/proc/%s/status", name);
        g_autofree char *text = NULL;
        g_autofree char *ppid = g_strdup_printf("PPid:\t%d", (int)daemon);

        if (!g_ascii_isdigit(name[0]) || !g_file_get_contents(path, &text, NULL, NULL) ||
            !dt_has_line(text, "Name:\tvfiouserd-maps") || !dt_has_line(text, ppid)) {
            continue;
        }
        ck_assert_msg(dt_has_line(text, "NoNewPrivs:\t1") &&
                      dt_has_line(text, "CapEff:\t0000000000080000") &&
                      dt_has_line(text, "CapBnd:\t0000000000080000") &&
                      (under_wrapper() || dt_has_line(text, "Seccomp:\t2")),
                      "%s:\n%s", path, text);
        n++;
    }
    ck_assert_uint_eq(n, 1);
}

/* ------------------------------------------------------------------------ */

START_TEST(confined_as_root)
{
    static const char *const devs[] = { "t", "iso", NULL };
    struct harness *h;
    g_autofree char *log = NULL;

    if (geteuid() != 0) {
        fprintf(stderr, "confined_as_root: not root\n");
        return;
    }
    h = ot_start("[daemon]\nsocket-dir = @SOCKDIR@\n"
                 "[t]\nplugin = testdev\n"
                 "[iso]\nplugin = testdev\nisolate = process\n", NULL, devs);
    expect_confined(h->pid);
    expect_confined(wait_child(h, "iso", 1));
    /* vfiouserd(8), SECURITY, "Checking": the command as printed. */
    {
        g_autofree char *cmd = g_strdup_printf("grep -E 'NoNewPrivs|Seccomp|CapEff' "
                                               "/proc/%d/status", (int)h->pid);
        g_autofree char *out = NULL;
        gint status = -1;

        ck_assert(g_spawn_command_line_sync(cmd, &out, NULL, &status, NULL));
        ck_assert_int_eq(status, 0);
        ck_assert_msg(dt_has_line(out, "CapEff:\t0000000000000000") &&
                      dt_has_line(out, "NoNewPrivs:\t1") &&
                      (under_wrapper() || dt_has_line(out, "Seccomp:\t2")),
                      "%s", out);
    }
    if (has_landlock(h)) {
        expect_maps_helper(h->pid);
    }
    log = harness_log(h);
    ck_assert(strstr(log, "uid 0 without capabilities") != NULL ||
              strstr(log, "sandbox: running as uid") != NULL);
    ot_stop_ok(h);
    harness_free(h);
}
END_TEST

/* As the unit's User= would run it (or as the suite's own user). */
START_TEST(confined_unprivileged)
{
    g_autofree char *dir = g_strdup("/tmp/vfud-sbx-XXXXXX");
    g_autofree char *conf = NULL, *log = NULL, *ctl = NULL, *text = NULL;
    g_autofree char *pd = g_strdup_printf("--plugin-dir=%s", harness_plugin_dir());
    g_autofree char *out = NULL;
    uid_t uid = geteuid() == 0 ? NOBODY : geteuid();
    gid_t gid = geteuid() == 0 ? NOBODY : getegid();
    const char *args[] = { "-c", NULL, pd, NULL };
    pid_t pid, child = -1;

    ck_assert_ptr_nonnull(mkdtemp(dir));
    ck_assert_int_eq(chmod(dir, 0755), 0);
    ck_assert_int_eq(chown(dir, uid, gid), 0);
    conf = g_build_filename(dir, "vfiouserd.conf", NULL);
    log = g_build_filename(dir, "log", NULL);
    ctl = g_build_filename(dir, "sock/control", NULL);
    text = g_strdup_printf("[daemon]\nsocket-dir = %s/sock\n"
                           "[t]\nplugin = testdev\n"
                           "[iso]\nplugin = testdev\nisolate = process\n", dir);
    ck_assert(g_file_set_contents(conf, text, -1, NULL));
    ck_assert_int_eq(chmod(conf, 0644), 0);
    args[1] = conf;
    pid = ot_spawn(args, log, NULL, 0, NULL, uid, gid);
    for (int i = 0; i < DT_WAIT_MS / 10; i++) {
        g_free(out);
        ck_assert(g_file_get_contents(log, &out, NULL, NULL));
        if (dt_count_lines(out, "vfiouserd: sandbox: in force") == 1 &&
            dt_count_lines(out, "vfiouserd: [iso] sandbox: in force") == 1) {
            break;
        }
        g_usleep(10000);
    }
    ck_assert_msg(dt_count_lines(out, "vfiouserd: [iso] sandbox: in force") == 1, "%s",
                  out);
    child = child_pid(out, "iso", 1);
    ck_assert_int_gt(child, 0);
    expect_confined(pid);
    expect_confined(child);
    ck_assert_int_eq(dt_stop(pid), 0);
    g_free(out);
    out = g_strdup_printf("rm -rf %s", dir);
    ck_assert_int_eq(system(out), 0);
}
END_TEST

/* sandbox-violation = eperm: each attack fails, the device serves on. */
static void attacks_refused_run(void)
{
    static const char *const devs[] = { "h", "t", NULL };
    struct harness *h = ot_start("[daemon]\nsocket-dir = @SOCKDIR@\n"
                                 "sandbox-violation = eperm\n"
                                 "[h]\nplugin = hostile\n"
                                 "[t]\nplugin = testdev\n", NULL, devs);
    g_autofree char *hs = harness_socket(h, "h");
    g_autofree char *ts = harness_socket(h, "t");
    struct vfu_client *c = dt_client(hs);
    struct vfu_client *t = dt_client(ts);
    g_autofree char *log = NULL;
    bool landlock = has_landlock(h);

    ck_assert_uint_eq(dt_read32(c, VFUD_REGION_BAR0, 0), HOSTILE_ID);
    /* The test process: outside the daemon's Landlock domain. */
    dt_write32(c, VFUD_REGION_BAR0, REG_VICTIM, (uint32_t)getpid());
    ck_assert_uint_eq(attack(c, NOTHING), 0);
    ck_assert_uint_eq(attack(c, EXEC), EPERM);
    ck_assert_uint_eq(dt_read32(t, VFUD_REGION_BAR0, 0), TESTDEV_ID);
    if (landlock) {
        ck_assert_uint_eq(attack(c, SHADOW), EACCES);
    }
    ck_assert_uint_eq(attack(c, CONNECT), EPERM);
    /* Sanitized builds allow ptrace and process_vm_readv (LeakSanitizer
     * needs them): Landlock refuses them then. */
    ck_assert_uint_eq(attack(c, PTRACE), EPERM);
    if (landlock) {
        ck_assert_uint_eq(attack(c, PROC_MEM), EACCES);
    }
    ck_assert_uint_eq(attack(c, VM_READV), EPERM);
    ck_assert_uint_eq(dt_read32(t, VFUD_REGION_BAR0, 0), TESTDEV_ID);
    ck_assert_uint_eq(dt_read32(c, VFUD_REGION_BAR0, 0), HOSTILE_ID);

    log = harness_log(h);
    ck_assert(dt_has_match(log, "\\[h\\] sandbox: forbidden system call execve \\(\\d+\\) "
                                "in thread \\d+ \\(h\\): failed with EPERM"));
    ck_assert(dt_has_match(log, "\\[h\\] sandbox: forbidden system call socket "));
#ifndef VFUD_SANITIZED
    ck_assert(dt_has_match(log, "\\[h\\] sandbox: forbidden system call ptrace "));
    ck_assert(dt_has_match(log, "\\[h\\] sandbox: forbidden system call process_vm_readv "));
#endif
    vfu_client_close(c);
    vfu_client_close(t);
    ot_stop_ok(h);
    harness_free(h);
}

START_TEST(attacks_refused)
{
    if (under_wrapper()) {
        /* Under valgrind the daemon has no filter: execve would succeed. */
        fprintf(stderr, "attacks_refused: under $VFIOUSERD_WRAPPER the daemon runs without its "
                "system call filter\n");
        return;
    }
    attacks_refused_run();
}
END_TEST

/* kill, in the daemon: the device is failed, the others serve on. */
static void thread_device_failed_run(void)
{
    static const char *const devs[] = { "h", "t", NULL };
    struct harness *h = ot_start("[daemon]\nsocket-dir = @SOCKDIR@\n"
                                 "[h]\nplugin = hostile\n"
                                 "[t]\nplugin = testdev\n", NULL, devs);
    g_autofree char *hs = harness_socket(h, "h");
    g_autofree char *ts = harness_socket(h, "t");
    struct vfu_client *c = dt_client(hs);
    struct vfu_client *t = dt_client(ts);
    struct vfu_client *again = NULL;
    uint32_t v = 0;

    dt_write32(c, VFUD_REGION_BAR0, REG_ATTACK, EXEC);
    ck_assert(dt_wait_log(h, "[h] sandbox: forbidden system call execve"));
    ck_assert(dt_wait_log(h, "failed with EPERM; the device is marked failed"));
    ck_assert(dt_wait_log(h, "[h] client disconnected (sandbox violation)"));
    ck_assert_int_lt(vfu_client_region_read(c, VFUD_REGION_BAR0, 0, &v, 4), 0);
    vfu_client_close(c);
    /* A new client is turned away before it can say anything. */
    ck_assert_int_eq(vfu_client_connect(hs, &again), 0);
    vfu_client_set_timeout(again, DT_WAIT_MS);
    ck_assert_int_lt(vfu_client_negotiate(again, NULL, NULL), 0);
    vfu_client_close(again);
    ck_assert(dt_wait_log(h, "[h] refused a client"));
    ck_assert_uint_eq(dt_read32(t, VFUD_REGION_BAR0, 0), TESTDEV_ID);
    vfu_client_close(t);
    ot_stop_ok(h);
    harness_free(h);
}

START_TEST(thread_device_failed)
{
    if (under_wrapper()) {
        /* Under valgrind the daemon has no filter: execve would succeed. */
        fprintf(stderr, "thread_device_failed: under $VFIOUSERD_WRAPPER the daemon runs without its "
                "system call filter\n");
        return;
    }
    thread_device_failed_run();
}
END_TEST

#ifdef VFUD_SANITIZED
/* LeakSanitizer needs process_vm_readv (the sanitizer group): there
 * Landlock refuses it, with EPERM, and the process lives on. */
#define KILLER CONNECT
#define KILLER_CALL "socket"
#else
#define KILLER VM_READV
#define KILLER_CALL "process_vm_readv"
#endif

/* kill, isolated: the process dies of SIGSYS and is started again; a
 * sibling device's process cannot be read through /proc. */
static void isolated_killed_and_restarted_run(void)
{
    static const char *const devs[] = { "h", "v", "t", NULL };
    struct harness *h = ot_start("[daemon]\nsocket-dir = @SOCKDIR@\n"
                                 "[h]\nplugin = hostile\nisolate = process\n"
                                 "[v]\nplugin = hostile\nisolate = process\n"
                                 "[t]\nplugin = testdev\n", NULL, devs);
    g_autofree char *hs = harness_socket(h, "h");
    g_autofree char *vs = harness_socket(h, "v");
    g_autofree char *ts = harness_socket(h, "t");
    pid_t first, victim, second;
    struct vfu_client *c, *v, *t;
    uint32_t x = 0;

    first = wait_child(h, "h", 1);
    victim = wait_child(h, "v", 1);
    c = dt_client(hs);
    v = dt_client(vs);
    t = dt_client(ts);
    dt_write32(c, VFUD_REGION_BAR0, REG_VICTIM, (uint32_t)victim);
    if (has_landlock(h)) {
        /* Another device's process: not in this one's Landlock domain. */
        ck_assert_uint_eq(attack(c, PROC_MEM), EACCES);
    }
    if (has_landlock(h)) {
        /* The daemon's maps helper answers this process only about its own
         * clients: not about the listening socket (whose peer is the
         * daemon), nor a socket pair of its own. */
        ck_assert_uint_eq(attack(c, MAPS_LISTENER), EPERM);
        ck_assert_uint_eq(attack(c, MAPS_PAIR), EPERM);
    }
    /* The process dies before it answers (and nobody answers after). */
    {
        uint32_t w = GUINT32_TO_LE(KILLER);

        vfu_client_set_timeout(c, 2000);
        ck_assert_int_lt(vfu_client_region_write(c, VFUD_REGION_BAR0, REG_ATTACK, &w,
                                                 sizeof(w), false), 0);
        vfu_client_set_timeout(c, DT_WAIT_MS);
    }
    ck_assert(dt_wait_log(h, "[h] sandbox: forbidden system call " KILLER_CALL));
    ck_assert(dt_wait_log(h, "killing the device's process"));
    ck_assert(dt_wait_log(h, "was killed by signal 31 (SIGSYS)"));
    /* The client stays connected: the next process serves it, the device
     * reset (isolate_store.h). */
    ck_assert_int_eq(vfu_client_region_read(c, VFUD_REGION_BAR0, 0, &x, 4), 0);
    ck_assert_uint_eq(GUINT32_FROM_LE(x), HOSTILE_ID);
    vfu_client_close(c);
    /* The others never noticed. */
    ck_assert_uint_eq(dt_read32(v, VFUD_REGION_BAR0, 0), HOSTILE_ID);
    ck_assert_uint_eq(dt_read32(t, VFUD_REGION_BAR0, 0), TESTDEV_ID);
    second = wait_child(h, "h", 2);
    ck_assert_int_ne(second, first);
    expect_confined(second);
    c = dt_client(hs);
    ck_assert_uint_eq(dt_read32(c, VFUD_REGION_BAR0, 0), HOSTILE_ID);
    ck_assert_uint_eq(attack(c, NOTHING), 0);
    vfu_client_close(c);
    vfu_client_close(v);
    vfu_client_close(t);
    {
        /* Restarting it (fork, exec, pidfds, the new process's start-up
         * under the daemon's filter) refused nothing: the attack was the
         * only forbidden call. */
        g_autofree char *log = harness_log(h);
        g_auto(GStrv) lines = g_strsplit(log, "\n", -1);
        unsigned n = 0;

        for (char **l = lines; *l != NULL; l++) {
            n += strstr(*l, "forbidden system call") != NULL;
        }
        ck_assert_msg(n == 1, "%s", log);
    }
    ot_stop_ok(h);
    harness_free(h);
}

START_TEST(isolated_killed_and_restarted)
{
    if (under_wrapper()) {
        /* Under valgrind the daemon has no filter: execve would succeed. */
        fprintf(stderr, "isolated_killed_and_restarted: under $VFIOUSERD_WRAPPER the daemon runs without its "
                "system call filter\n");
        return;
    }
    isolated_killed_and_restarted_run();
}
END_TEST

/* An upgrade starts the new daemon's process of an isolated device before
 * the pause, sandbox on as well: its channel to the new daemon's maps
 * helper is made then, unscoped (the listening socket comes in the
 * pause), and scoped before the process gets its client.  After the
 * upgrade, the helper answers the process about its client's connection,
 * and still not about the listening socket. */
START_TEST(isolated_upgrade_maps_scoped)
{
    static const char *const devs[] = { "h", NULL };
    struct harness *h;
    g_autofree char *hs = NULL;
    g_autofree char *ctl = NULL;
    g_autofree char *log = NULL;
    g_autofree char *early = NULL;
    struct vfu_client *c;
    json_object *a;
    pid_t pid, r = 0;
    int st = 0;

    ck_assert_int_eq(prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0), 0);
    h = ot_start("[daemon]\nsocket-dir = @SOCKDIR@\n"
                 "[h]\nplugin = hostile\nisolate = process\n", NULL, devs);
    if (!has_landlock(h)) {
        fprintf(stderr, "isolated_upgrade_maps_scoped: no Landlock, no maps helper\n");
        ot_stop_ok(h);
        harness_free(h);
        return;
    }
    hs = harness_socket(h, "h");
    ctl = ot_control_path(h);
    wait_child(h, "h", 1);
    c = dt_client(hs);
    ck_assert_uint_eq(attack(c, MAPS_CLIENT), 0);
    a = ot_request(ctl, "{\"command\":\"upgrade\"}");
    ot_assert_ok(a);
    pid = json_object_get_int(ot_get(a, "pid"));
    json_object_put(a);
    ck_assert_int_gt(pid, 0);
    /* Started before the pause (the old daemon's log is the new one's). */
    early = g_strdup_printf("[h] upgrade: isolated process pid %d ready in ",
                            (int)child_pid(log = harness_log(h), "h", 2));
    ck_assert_msg(strstr(log, early) != NULL, "%s", log);
    ck_assert_msg(dt_wait_log(h, "took over the state its predecessor stored"), "%s",
                  g_steal_pointer(&log) != NULL ? harness_log(h) : "");
    /* The same connection, served by the new process. */
    ck_assert_uint_eq(dt_read32(c, VFUD_REGION_BAR0, 0), HOSTILE_ID);
    ck_assert_uint_eq(attack(c, MAPS_CLIENT), 0);
    ck_assert_uint_eq(attack(c, MAPS_LISTENER), EPERM);
    /* A crash after the upgrade: the new daemon's next process is told the
     * socket's path, not the temporary name the first daemon bound it
     * under before renaming it (its log said to attach there). */
    ck_assert_int_eq(kill(wait_child(h, "h", 2), SIGKILL), 0);
    wait_child(h, "h", 3);
    ck_assert(dt_wait_log(h, "[h] fd store: client pid "));
    ck_assert_uint_eq(dt_read32(c, VFUD_REGION_BAR0, 0), HOSTILE_ID);
    g_free(log);
    log = harness_log(h);
    {
        g_autofree char *at = g_strdup_printf("[h] plugin hostile, serving listening "
                                              "socket fd 3 at %s;", hs);
        unsigned n = 0;

        /* The first process and the third (started with --fd=3). */
        for (const char *p = strstr(log, at); p != NULL; p = strstr(p + 1, at)) {
            n++;
        }
        if (n != 2 || strstr(log, "/.h.sock.") != NULL) {
            fputs(log, stderr);
        }
        ck_assert_msg(n == 2, "%u processes said they serve %s", n, hs);
        ck_assert_msg(strstr(log, "/.h.sock.") == NULL, "a process was told a temporary "
                      "name of its socket (log above)");
    }
    vfu_client_close(c);
    ck_assert_int_eq(harness_stop(h), 0);
    ck_assert_int_eq(kill(pid, SIGTERM), 0);
    for (int i = 0; i < DT_WAIT_MS / 10 && (r = waitpid(pid, &st, WNOHANG)) == 0; i++) {
        g_usleep(10000);
    }
    ck_assert_msg(r == pid && WIFEXITED(st) && WEXITSTATUS(st) == 0,
                  "pid %d did not stop cleanly (status %#x)", (int)pid, st);
    /* The old daemon's upgrade launcher, orphaned to us. */
    while (waitpid(-1, NULL, WNOHANG) > 0) {
    }
    harness_free(h);
}
END_TEST

/* limit-fds and limit-memory: the isolated process's own hard limits; a
 * device in the daemon cannot have them. */
START_TEST(limits)
{
    static const char *const devs[] = { "iso", NULL };
    struct harness *h = ot_start("[daemon]\nsocket-dir = @SOCKDIR@\n"
                                 "[iso]\nplugin = testdev\nisolate = process\n"
                                 "limit-fds = 64\n"
#ifndef VFUD_SANITIZED
                                 /* ASan's shadow memory needs terabytes */
                                 "limit-memory = 1G\n"
#endif
                                 , NULL, devs);
    g_autofree char *path = g_strdup_printf("/proc/%d/limits",
                                            (int)wait_child(h, "iso", 1));
    g_autofree char *text = NULL;
    g_autofree char *out = NULL;
    struct harness *bad;

    ck_assert(g_file_get_contents(path, &text, NULL, NULL));
    ck_assert_msg(dt_has_match(text, "^Max open files +64 +64 +files"), "%s", text);
#ifndef VFUD_SANITIZED
    ck_assert_msg(dt_has_match(text, "^Max address space +1073741824 +1073741824 "),
                  "%s", text);
#endif
    ot_stop_ok(h);
    harness_free(h);

    bad = harness_new("[daemon]\nsocket-dir = @SOCKDIR@\n"
                      "[thr]\nplugin = testdev\nlimit-fds = 64\n");
    ck_assert_int_eq(dt_check_config(bad, true, NULL, &out), 1);
    ck_assert_msg(strstr(out, "[thr] limit-fds and limit-memory need isolate = process")
                  != NULL, "%s", out);
    harness_free(bad);
}
END_TEST

/* The keys' values are checked, every error at once. */
START_TEST(bad_keys)
{
    struct harness *h = harness_new("[daemon]\nsocket-dir = @SOCKDIR@\n"
                                    "sandbox = maybe\n"
                                    "sandbox-violation = explode\n"
                                    "user = no-such-user-x\n"
                                    "group = no-such-group-x\n"
                                    "[t]\nplugin = testdev\n");
    g_autofree char *out = NULL;

    ck_assert_int_eq(dt_check_config(h, true, NULL, &out), 1);
    ck_assert_msg(dt_has_match(out, ":3: \\[daemon\\] sandbox = maybe: expected on or off$") &&
                  dt_has_match(out, ":4: \\[daemon\\] sandbox-violation = explode: "
                                    "expected kill or eperm$") &&
                  dt_has_match(out, ":5: \\[daemon\\] user 'no-such-user-x': no such user$") &&
                  dt_has_match(out, ":6: \\[daemon\\] group 'no-such-group-x': no such "
                                    "group$"), "%s", out);
    harness_free(h);
}
END_TEST

static Suite *sandbox_suite(void)
{
    Suite *s = suite_create("sandbox");
    TCase *tc = tcase_create("sandbox");

    tcase_add_test(tc, confined_as_root);
    tcase_add_test(tc, confined_unprivileged);
    tcase_add_test(tc, attacks_refused);
    tcase_add_test(tc, thread_device_failed);
    tcase_add_test(tc, isolated_killed_and_restarted);
    tcase_add_test(tc, isolated_upgrade_maps_scoped);
    tcase_add_test(tc, limits);
    tcase_add_test(tc, bad_keys);
    tcase_set_timeout(tc, 300);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr;
    int failed;

    dt_init();
    sr = srunner_create(sandbox_suite());
    srunner_run_all(sr, CK_NORMAL);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    dt_finish();
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
