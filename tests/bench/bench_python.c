/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * bench_python: what a device model in Python costs per region access.
 * Run by "make bench-python"; prints figures, never fails on them.
 *
 * One daemon serves two devices: gpio0, the C gpio plugin, and pygpio0,
 * the python plugin running plugins/python/examples/idio16.py, the same
 * card.  A client connects to each and does round trips, one at a time
 * (REGION_READ or REGION_WRITE with a reply), on BAR2 registers 4-7
 * (outputs 8-15, inputs 8-15, status, filters: reads change nothing, the
 * write of zeros keeps the outputs at their reset value).  Every
 * repetition measures each device for the given time, in alternating
 * order, so drift on a shared machine hits both; the figures are the
 * medians.
 *
 *   bench_python [-r REPS] [-s SECONDS]       (default 5 x 1 s)
 *
 * Output, for each access: round trips per second of each device and the
 * ratio python/C; then the daemon's CPU time per round trip (all its
 * threads, from schedstat, while only that device is driven) and what
 * Python adds to it: taking the GIL, building the arguments, the script's
 * own code.  On a busy machine round trips per second mostly measure
 * wake-ups; the CPU time per round trip is the steadier figure.
 */
#include "config.h"

#include "bench.h"
#include "harness.h"
#include "vfu_client.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <glib.h>

#define MAX_REPS 50

static double now_s(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

/* Round trips per second on c for secs seconds, and the daemon's CPU
 * microseconds per round trip meanwhile; 0 on error. */
static double measure(pid_t daemon, struct vfu_client *c, bool write, double secs,
                      double *cpu_us)
{
    uint8_t buf[4] = { 0 };
    unsigned long n = 0;
    struct bench_cpu c0, c1;
    double t0, t;

    if (bench_cpu_read(daemon, &c0) < 0) {
        return 0;
    }
    t0 = now_s();

    do {
        for (int i = 0; i < 64; i++) {
            int r = write ? vfu_client_region_write(c, 2, 4, buf, 4, false)
                          : vfu_client_region_read(c, 2, 4, buf, 4);

            if (r < 0) {
                fprintf(stderr, "bench_python: region %s: %s\n",
                        write ? "write" : "read", strerror(-r));
                return 0;
            }
        }
        n += 64;
        t = now_s() - t0;
    } while (t < secs);
    if (bench_cpu_read(daemon, &c1) < 0) {
        return 0;
    }
    *cpu_us = (double)(c1.ns - c0.ns) / 1e3 / n;
    return n / t;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;

    return (x > y) - (x < y);
}

static double median(double *v, int n)
{
    qsort(v, (size_t)n, sizeof(*v), cmp_double);
    return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

static struct vfu_client *connect_dev(struct harness *h, const char *dev)
{
    g_autofree char *path = harness_socket(h, dev);
    struct vfu_client *c = NULL;

    if (vfu_client_connect(path, &c) < 0 || vfu_client_negotiate(c, NULL, NULL) < 0) {
        fprintf(stderr, "bench_python: cannot connect to %s\n", path);
        vfu_client_close(c);
        return NULL;
    }
    return c;
}

int main(int argc, char **argv)
{
    int reps = 5, opt;
    double secs = 1;
    static const char *const devs[] = { "gpio0", "pygpio0", NULL };
    double fig[2][2][MAX_REPS]; /* [device][write][rep] */
    double cpu[2][2][MAX_REPS];
    double warm;
    struct vfu_client *c[2] = { NULL, NULL };
    g_autofree char *conf = NULL;
    struct harness *h;
    int rc = 1;

    while ((opt = getopt(argc, argv, "r:s:")) != -1) {
        if (opt == 'r') {
            reps = atoi(optarg);
        } else if (opt == 's') {
            secs = atof(optarg);
        } else {
            fprintf(stderr, "usage: bench_python [-r REPS] [-s SECONDS]\n");
            return 2;
        }
    }
    if (reps < 1 || reps > MAX_REPS || secs <= 0) {
        fprintf(stderr, "bench_python: 1 <= REPS <= %d, SECONDS > 0\n", MAX_REPS);
        return 2;
    }
    conf = g_strdup_printf("[daemon]\nsocket-dir = @SOCKDIR@\n"
                           "[gpio0]\nplugin = gpio\n"
                           "[pygpio0]\nplugin = python\nscript = %s\n",
                           PY_EXAMPLES "/idio16.py");
    h = harness_new(conf);
    if (harness_start(h, NULL, devs) < 0) {
        g_autofree char *log = harness_log(h);

        fprintf(stderr, "bench_python: the daemon did not start:\n%s", log);
        harness_free(h);
        return 1;
    }
    for (int d = 0; d < 2; d++) {
        if ((c[d] = connect_dev(h, devs[d])) == NULL) {
            goto out;
        }
        measure(h->pid, c[d], false, 0.2, &warm); /* warm-up */
    }
    for (int r = 0; r < reps; r++) {
        for (int k = 0; k < 2; k++) {
            int d = (r + k) % 2; /* alternate which goes first */

            for (int w = 0; w < 2; w++) {
                fig[d][w][r] = measure(h->pid, c[d], w, secs, &cpu[d][w][r]);
                if (fig[d][w][r] == 0) {
                    goto out;
                }
            }
        }
    }
    printf("# region round trips per second, 4 bytes at BAR2+4, one in flight; "
           "median of %d x %.1f s\n", reps, secs);
    printf("%-6s %10s %10s %6s | %14s %14s %10s\n", "access", "C rt/s", "py rt/s",
           "py/C", "C cpu us/rt", "py cpu us/rt", "py +us");
    for (int w = 0; w < 2; w++) {
        double cg = median(fig[0][w], reps), py = median(fig[1][w], reps);
        double cc = median(cpu[0][w], reps), pc = median(cpu[1][w], reps);

        printf("%-6s %10.0f %10.0f %6.2f | %14.1f %14.1f %10.1f\n", w ? "write" : "read",
               cg, py, py / cg, cc, pc, pc - cc);
    }
    rc = 0;
out:
    vfu_client_close(c[0]);
    vfu_client_close(c[1]);
    harness_stop(h);
    harness_free(h);
    return rc;
}
