/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * CPUs and processes.  CPU time of another process, all threads together,
 * and of every process it started: a device with isolate = process is
 * served by a child of the daemon, whose CPU is the device's cost as much
 * as the daemon's own (counting the daemon alone made process mode look
 * free).  schedstat gives
 * nanoseconds (the scheduler's own sum_exec_runtime) and the number of
 * times a thread was put on a CPU; /proc/PID/stat gives the user/system
 * split, but only in clock ticks.
 */
#include "config.h"

#include "bench.h"

#include <dirent.h>
#include <sched.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <glib.h>

static int read_schedstat(pid_t pid, struct bench_cpu *out)
{
    char path[64];
    struct dirent *de;
    DIR *d;
    int found = 0;

    snprintf(path, sizeof(path), "/proc/%d/task", (int)pid);
    d = opendir(path);
    if (d == NULL) {
        return -errno;
    }
    while ((de = readdir(d)) != NULL) {
        char p[300];
        uint64_t run, wait, count;
        FILE *f;

        if (de->d_name[0] == '.') {
            continue;
        }
        snprintf(p, sizeof(p), "/proc/%d/task/%s/schedstat", (int)pid, de->d_name);
        f = fopen(p, "re");
        if (f == NULL) {
            continue; /* the thread just ended */
        }
        if (fscanf(f, "%" SCNu64 " %" SCNu64 " %" SCNu64, &run, &wait, &count) == 3) {
            out->ns += run;
            out->runs += count;
            found++;
        }
        fclose(f);
    }
    closedir(d);
    return found > 0 ? 0 : -ENOENT;
}

static int read_stat(pid_t pid, struct bench_cpu *out)
{
    char path[64], buf[1024];
    unsigned long long ut, st;
    const char *p;
    size_t n;
    FILE *f;

    snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
    f = fopen(path, "re");
    if (f == NULL) {
        return -errno;
    }
    n = fread(buf, 1, sizeof(buf) - 1, f);
    fclose(f);
    buf[n] = '\0';
    /* The command name may hold spaces and parentheses: fields restart
     * after the last ')'.  utime and stime are fields 14 and 15. */
    p = strrchr(buf, ')');
    if (p == NULL ||
        sscanf(p + 1, " %*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu",
               &ut, &st) != 2) {
        return -EPROTO;
    }
    out->ticks_user = ut;
    out->ticks_sys = st;
    return 0;
}

static pid_t parent_of(pid_t pid)
{
    char path[64], buf[512];
    const char *p;
    size_t n;
    FILE *f;
    int ppid;

    snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
    f = fopen(path, "re");
    if (f == NULL) {
        return -1;
    }
    n = fread(buf, 1, sizeof(buf) - 1, f);
    fclose(f);
    buf[n] = '\0';
    p = strrchr(buf, ')');
    return p != NULL && sscanf(p + 1, " %*c %d", &ppid) == 1 ? (pid_t)ppid : -1;
}

#define FAMILY_MAX 256

/* pid first, then its descendants, from one pass over /proc. */
static int family(pid_t pid, pid_t *out)
{
    static pid_t pids[32768], ppids[32768];
    int nr = 0, n = 1;
    struct dirent *de;
    DIR *d = opendir("/proc");

    out[0] = pid;
    if (d == NULL) {
        return n;
    }
    while ((de = readdir(d)) != NULL && nr < (int)G_N_ELEMENTS(pids)) {
        pid_t p = (pid_t)atoi(de->d_name);

        if (p > 0 && p != pid) {
            pids[nr] = p;
            ppids[nr++] = parent_of(p);
        }
    }
    closedir(d);
    for (int i = 0; i < n; i++) {
        for (int k = 0; k < nr && n < FAMILY_MAX; k++) {
            if (ppids[k] == out[i]) {
                out[n++] = pids[k];
            }
        }
    }
    return n;
}

static int read_one(pid_t pid, struct bench_cpu *out)
{
    int r;

    memset(out, 0, sizeof(*out));
    r = read_stat(pid, out);
    if (r < 0) {
        return r;
    }
    if (read_schedstat(pid, out) < 0) {
        long hz = sysconf(_SC_CLK_TCK);

        out->ns = (out->ticks_user + out->ticks_sys) * (1000000000u / (uint64_t)hz);
        out->runs = 0;
    }
    return 0;
}

int bench_cpu_read(pid_t pid, struct bench_cpu *out)
{
    pid_t fam[FAMILY_MAX];
    int n = family(pid, fam);
    int r = read_one(pid, out);

    /* Descendants that end meanwhile are skipped: a restart is not part
     * of any figure. */
    for (int i = 1; r == 0 && i < n; i++) {
        struct bench_cpu c;

        if (read_one(fam[i], &c) == 0) {
            out->ns += c.ns;
            out->runs += c.runs;
            out->ticks_user += c.ticks_user;
            out->ticks_sys += c.ticks_sys;
        }
    }
    return r;
}

static int pin_one(pid_t pid, const cpu_set_t *set)
{
    char path[64];
    struct dirent *de;
    DIR *d;
    int r = 0;

    if (pid == 0) {
        return sched_setaffinity(0, sizeof(*set), set) < 0 ? -errno : 0;
    }
    /* Affinity is per thread: set it on each.  Threads started later
     * inherit it from the one that starts them. */
    snprintf(path, sizeof(path), "/proc/%d/task", (int)pid);
    d = opendir(path);
    if (d == NULL) {
        return -errno;
    }
    while ((de = readdir(d)) != NULL) {
        if (de->d_name[0] == '.') {
            continue;
        }
        if (sched_setaffinity((pid_t)atoi(de->d_name), sizeof(*set), set) < 0 &&
            errno != ESRCH) {
            r = -errno;
        }
    }
    closedir(d);
    return r;
}

int bench_pin(pid_t pid, const cpu_set_t *set)
{
    pid_t fam[FAMILY_MAX];
    int n, r;

    if (pid == 0) {
        return pin_one(0, set);
    }
    n = family(pid, fam);
    r = pin_one(pid, set);
    for (int i = 1; r == 0 && i < n; i++) {
        int e = pin_one(fam[i], set);

        r = e == -ENOENT || e == -ESRCH ? 0 : e;
    }
    return r;
}
