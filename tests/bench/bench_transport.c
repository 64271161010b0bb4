/*
 * bench_transport: how close the daemon's message path comes to the limit
 * of its transport.  Run by "make bench"; prints figures, never fails on
 * them (only on errors).
 *
 * What it does.  It starts the built daemon (tests/common/harness) with a
 * gpio device (and, with --device testdev|both, a testdev) and the echo
 * server bench_echo (a vfio-user server that only frames and answers, with
 * the daemon's read/batch/flush strategy: see bench_echo.c).  It connects
 * and negotiates once per server with the client library, then drives the
 * sockets with a lean pipelined client (bench_client.c) through every case:
 *
 *   read   REGION_READ  of 4 bytes, with a reply
 *   write  REGION_WRITE of 4 bytes, with a reply (a posted write is no
 *          round trip)
 *   x1, x8 requests kept in flight (--depths)
 *
 * The accesses: gpio BAR2 (region 2) at +4, i.e. registers 4-7: outputs
 * 8-15, inputs 8-15, interrupt status, filter status.  Reading them has no
 * side effect (reading +0..+3 would enable the interrupt and the filters),
 * and the write stores 00 00 00 00: outputs 8-15 stay 0 (their reset value,
 * so the plugin logs nothing and writes no output file), +5 and +6 ignore
 * writes, +7 sets filters 0-7 to 0.  testdev: BAR0 (region 0) SCRATCH at
 * 0x10, a plain 32-bit register.
 *
 * Each repetition runs every case against every server in turn, the order
 * of echo and daemon alternating between repetitions, so drift on a noisy
 * machine hits both; the table gives medians over the repetitions.  Each
 * measurement is preceded by a short warm-up on the same connection.
 *
 * How to read the output.  One block per case:
 *
 *   read  x8  echo        the reference: what framing alone costs
 *   read  x8  gpio        the daemon serving the gpio device
 *   read  x8  gpio/echo   ratios, medians of the per-repetition ratios
 *
 *   msgs/s      replies per second of wall time
 *   p50/p99 us  round trip, send() before the request to recv() after
 *               its reply, median and 99th percentile
 *   cpu us/msg  the server's CPU time (all threads, from schedstat) per
 *               message: the figure that does not depend on how fast the
 *               client is
 *   sys%        share of that CPU time spent in the kernel (/proc stat,
 *               tick resolution)
 *   msgs/run    messages per time a server thread got the CPU: how well
 *               the server batches (1.00 at depth 1; up to 8 at depth 8)
 *   cli us/msg  the benchmark client's own CPU per message
 *
 * On the ratio line, msgs/s is daemon/echo (1.00 = as fast as the limit),
 * p50/p99 are daemon/echo, and cpu us/msg is daemon/echo (1.00 = no cost
 * above framing).  The last lines check the targets at the deepest
 * pipeline: msgs/s ratio >= 0.95 and cpu ratio <= 1.30.
 *
 * Placement matters more than anything else, so it is fixed: by default
 * the client runs on the first CPU we may use and every server thread on
 * the second (a VMM's vCPU thread and the daemon on different cores, as
 * deployed).  There a round trip is dominated by waking the other CPU, and
 * msgs/s mostly measures that; cpu us/msg still shows the server's own
 * cost.  "--pin 0,0" puts everything on one CPU: no cross-CPU wake-ups, so
 * msgs/s becomes a measure of the CPU time client and server spend per
 * message, the harshest comparison.  "--pin none" leaves placement to the
 * scheduler, which on a small VM flips between both regimes from one
 * measurement to the next (watch p50: ~10 us vs ~40 us here).
 */
#include "config.h"

#include "bench.h"
#include "harness.h"
#include "vfu_client.h"

#include <errno.h>
#include <sched.h>
#include <signal.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <unistd.h>

#include <glib.h>

#define MAX_TARGETS 3
#define MAX_CASES 16
#define MAX_REPS 64

#define TARGET_MPS_RATIO 0.95
#define TARGET_CPU_RATIO 1.30

enum { OP_READ, OP_WRITE, NR_OPS };

struct target {
    const char *name;        /* "echo", "gpio", "testdev" */
    pid_t pid;               /* server process */
    struct vfu_client *cl;
    struct bench_op ops[NR_OPS];
};

struct sample {
    double mps, p50, p99, cpu_us, sys_pct, msgs_per_run, cli_us;
};

struct bench_case {
    unsigned op;
    unsigned depth;
};

static double opt_seconds = 1.0;
static double opt_warmup = 0.2;
static int opt_reps = 5;
static char *opt_depths;
static char *opt_device;
static char *opt_send;
static gboolean opt_verbose;
static char *opt_pin;

static GOptionEntry options[] = {
    { "seconds", 's', 0, G_OPTION_ARG_DOUBLE, &opt_seconds,
      "duration of each measurement (default 1)", "S" },
    { "warmup", 0, 0, G_OPTION_ARG_DOUBLE, &opt_warmup,
      "warm-up before each measurement (default 0.2)", "S" },
    { "reps", 'r', 0, G_OPTION_ARG_INT, &opt_reps,
      "repetitions of the whole set (default 5)", "N" },
    { "depths", 'd', 0, G_OPTION_ARG_STRING, &opt_depths,
      "requests in flight, comma-separated (default 1,8)", "LIST" },
    { "device", 0, 0, G_OPTION_ARG_STRING, &opt_device,
      "daemon device to measure: gpio, testdev or both (default gpio)", "DEV" },
    { "send", 0, 0, G_OPTION_ARG_STRING, &opt_send,
      "client sends: batch (refills in one send, default) or each "
      "(one send per request)", "MODE" },
    { "pin", 0, 0, G_OPTION_ARG_STRING, &opt_pin,
      "pin the client to CPU C and every server to CPU S; \"none\": let "
      "the scheduler place them (default: the first two CPUs we may use)",
      "C,S" },
    { "verbose", 'v', 0, G_OPTION_ARG_NONE, &opt_verbose,
      "print every measurement", NULL },
    { NULL, 0, 0, 0, NULL, NULL, NULL },
};

static const char *const op_names[NR_OPS] = { "read", "write" };

static void set_ops(struct target *t, uint32_t region, uint64_t offset)
{
    for (unsigned i = 0; i < NR_OPS; i++) {
        t->ops[i] = (struct bench_op){
            .name = op_names[i],
            .cmd = i == OP_READ ? VFIO_USER_REGION_READ : VFIO_USER_REGION_WRITE,
            .region = region,
            .offset = offset,
            .count = 4,
        };
    }
}

static int connect_target(struct target *t, const char *path)
{
    int r = vfu_client_connect(path, &t->cl);

    if (r == 0) {
        r = vfu_client_negotiate(t->cl, NULL, NULL);
    }
    if (r < 0) {
        fprintf(stderr, "bench: %s: connect/negotiate on %s: %s\n", t->name,
                path, g_strerror(-r));
    }
    return r;
}

/* Start bench_echo on path; its pid, or -1. */
static pid_t start_echo(const char *path)
{
    const char *argv[] = { BENCH_ECHO_PATH, path, NULL };
    g_autoptr(GError) err = NULL;
    GPid pid;

    if (!g_spawn_async(NULL, (char **)argv, NULL, G_SPAWN_DO_NOT_REAP_CHILD,
                       NULL, NULL, &pid, &err)) {
        fprintf(stderr, "bench: cannot start %s: %s\n", argv[0], err->message);
        return -1;
    }
    return pid;
}

/* Connect to the echo server once it listens. */
static int connect_echo(struct target *t, const char *path)
{
    gint64 deadline = g_get_monotonic_time() + 10 * G_USEC_PER_SEC;

    for (;;) {
        int r = vfu_client_connect(path, &t->cl);

        if (r == 0) {
            r = vfu_client_negotiate(t->cl, NULL, NULL);
            if (r < 0) {
                fprintf(stderr, "bench: echo: negotiate: %s\n", g_strerror(-r));
            }
            return r;
        }
        if ((r != -ENOENT && r != -ECONNREFUSED) ||
            g_get_monotonic_time() > deadline) {
            fprintf(stderr, "bench: echo: connect %s: %s\n", path, g_strerror(-r));
            return r;
        }
        g_usleep(10000);
    }
}

static int measure(struct target *t, const struct bench_case *bc,
                   enum bench_send mode, struct sample *s)
{
    struct bench_cpu c0, c1;
    struct bench_result res;
    int fd = vfu_client_fd(t->cl);
    const struct bench_op *op = &t->ops[bc->op];
    double cpu_ns, ticks;
    int r;

    r = bench_run(fd, op, bc->depth, opt_warmup, mode, &res);
    if (r == 0) {
        r = bench_cpu_read(t->pid, &c0);
    }
    if (r == 0) {
        r = bench_run(fd, op, bc->depth, opt_seconds, mode, &res);
    }
    if (r == 0) {
        r = bench_cpu_read(t->pid, &c1);
    }
    if (r < 0) {
        fprintf(stderr, "bench: %s %s x%u: %s\n", t->name, op->name, bc->depth,
                g_strerror(-r));
        return r;
    }
    if (res.msgs == 0) {
        fprintf(stderr, "bench: %s %s x%u: no replies\n", t->name, op->name, bc->depth);
        return -EIO;
    }
    cpu_ns = (double)(c1.ns - c0.ns);
    ticks = (double)((c1.ticks_user + c1.ticks_sys) - (c0.ticks_user + c0.ticks_sys));
    s->mps = (double)res.msgs / res.secs;
    s->p50 = res.p50_us;
    s->p99 = res.p99_us;
    s->cpu_us = cpu_ns / 1000.0 / (double)res.msgs;
    s->sys_pct = ticks > 0 ? 100.0 * (double)(c1.ticks_sys - c0.ticks_sys) / ticks : 0;
    s->msgs_per_run = c1.runs > c0.runs ? (double)res.msgs / (double)(c1.runs - c0.runs) : 0;
    s->cli_us = res.client_cpu_s * 1e6 / (double)res.msgs;
    if (opt_verbose) {
        fprintf(stderr, "  %-5s x%-3u %-8s %10.0f msgs/s  p50 %7.1f  p99 %7.1f us  "
                "cpu %6.2f us/msg  sys %3.0f%%  %5.2f msgs/run  cli %5.2f us/msg\n",
                op->name, bc->depth, t->name, s->mps, s->p50, s->p99, s->cpu_us,
                s->sys_pct, s->msgs_per_run, s->cli_us);
    }
    return 0;
}

/* The first two CPUs we may run on, as "C,S", or "none" with fewer. */
static char *default_pin(void)
{
    cpu_set_t set;
    int found[2], n = 0;

    if (sched_getaffinity(0, sizeof(set), &set) < 0) {
        return g_strdup("none");
    }
    for (int cpu = 0; cpu < CPU_SETSIZE && n < 2; cpu++) {
        if (CPU_ISSET(cpu, &set)) {
            found[n++] = cpu;
        }
    }
    return n < 2 ? g_strdup("none") : g_strdup_printf("%d,%d", found[0], found[1]);
}

/* --pin C,S: the client on C, the servers on S. */
static int pin_all(const struct target *t, unsigned n)
{
    unsigned cc, sc;
    int r;

    if (strcmp(opt_pin, "none") == 0) {
        return 0;
    }
    if (sscanf(opt_pin, "%u,%u", &cc, &sc) != 2) {
        fprintf(stderr, "bench: --pin wants two CPU numbers, as 0,1\n");
        return -EINVAL;
    }
    r = bench_pin(0, (int)cc);
    for (unsigned i = 0; i < n && r == 0; i++) {
        r = bench_pin(t[i].pid, (int)sc);
    }
    if (r < 0) {
        fprintf(stderr, "bench: --pin %s: %s\n", opt_pin, g_strerror(-r));
    }
    return r;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;

    return x < y ? -1 : x > y;
}

static double median(double *v, int n)
{
    qsort(v, (size_t)n, sizeof(*v), cmp_double);
    return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

/* Median over the repetitions of one field of struct sample. */
static double med_field(struct sample s[], int n, size_t off)
{
    double v[MAX_REPS];

    for (int i = 0; i < n; i++) {
        memcpy(&v[i], (const char *)&s[i] + off, sizeof(double));
    }
    return median(v, n);
}

static double med_ratio(struct sample a[], struct sample b[], int n, size_t off)
{
    double v[MAX_REPS];

    for (int i = 0; i < n; i++) {
        double x, y;

        memcpy(&x, (const char *)&a[i] + off, sizeof(double));
        memcpy(&y, (const char *)&b[i] + off, sizeof(double));
        v[i] = y > 0 ? x / y : 0;
    }
    return median(v, n);
}

static void print_row(const char *label, unsigned depth, const char *who,
                      struct sample s[], int n)
{
    char c[16];

    snprintf(c, sizeof(c), "x%u", depth);
    printf("%-5s %-4s %-12s %10.0f %8.1f %8.1f %10.2f %5.0f %8.2f %10.2f\n",
           label, c, who,
           med_field(s, n, offsetof(struct sample, mps)),
           med_field(s, n, offsetof(struct sample, p50)),
           med_field(s, n, offsetof(struct sample, p99)),
           med_field(s, n, offsetof(struct sample, cpu_us)),
           med_field(s, n, offsetof(struct sample, sys_pct)),
           med_field(s, n, offsetof(struct sample, msgs_per_run)),
           med_field(s, n, offsetof(struct sample, cli_us)));
}

static int parse_depths(const char *text, unsigned *depths, unsigned max)
{
    g_auto(GStrv) parts = g_strsplit(text, ",", -1);
    unsigned n = 0;

    for (char **p = parts; *p != NULL; p++) {
        guint64 v;

        if (n == max || !g_ascii_string_to_unsigned(*p, 10, 1, 1024, &v, NULL)) {
            return -EINVAL;
        }
        depths[n++] = (unsigned)v;
    }
    return (int)n;
}

static const char bench_conf[] =
    "[daemon]\n"
    "socket-dir = @SOCKDIR@\n"
    "[gpio0]\n"
    "plugin = gpio\n"
    "[td0]\n"
    "plugin = testdev\n";

static void print_header(int nr_cases, unsigned nr_targets, enum bench_send mode)
{
    struct utsname u;
    g_autoptr(GDateTime) now = g_date_time_new_now_local();
    g_autofree char *when = g_date_time_format(now, "%Y-%m-%d %H:%M:%S");

    uname(&u);
    printf("# vfiouserd transport benchmark, %s, %s %s, %ld CPUs\n", when,
           u.sysname, u.release, sysconf(_SC_NPROCESSORS_ONLN));
    printf("# %d repetitions x %d cases x %u servers, %.1f s each (+%.1f s "
           "warm-up), client sends: %s\n", opt_reps, nr_cases, nr_targets,
           opt_seconds, opt_warmup, mode == BENCH_SEND_EACH ? "each" : "batch");
    printf("# daemon: %s\n", harness_daemon_path());
    printf("# gpio: BAR2 +4, 4 bytes; testdev: BAR0 SCRATCH 0x10, 4 bytes; "
           "medians over repetitions\n");
    if (strcmp(opt_pin, "none") == 0) {
        printf("# not pinned: the scheduler places client and servers\n");
    } else {
        printf("# pinned to CPUs (client,servers): %s\n", opt_pin);
    }
    printf("#\n%-5s %-4s %-12s %10s %8s %8s %10s %5s %8s %10s\n", "case", "in",
           "server", "msgs/s", "p50 us", "p99 us", "cpu us/msg", "sys%",
           "msgs/run", "cli us/msg");
}

int main(int argc, char **argv)
{
    g_autoptr(GOptionContext) ctx = g_option_context_new("- vfiouserd transport benchmark");
    g_autoptr(GError) err = NULL;
    static struct sample samples[MAX_TARGETS][MAX_CASES][MAX_REPS];
    struct target targets[MAX_TARGETS];
    struct bench_case cases[MAX_CASES];
    unsigned depths[MAX_CASES / NR_OPS];
    enum bench_send mode = BENCH_SEND_BATCH;
    unsigned nr_targets = 1;
    struct harness *h;
    g_autofree char *echo_path = NULL;
    g_autofree char *gpio_path = NULL;
    g_autofree char *td_path = NULL;
    bool want_gpio, want_td;
    int nd, nr_cases = 0, ret = 1;
    pid_t echo_pid;

    g_option_context_add_main_entries(ctx, options, NULL);
    if (!g_option_context_parse(ctx, &argc, &argv, &err)) {
        fprintf(stderr, "bench: %s\n", err->message);
        return 2;
    }
    nd = parse_depths(opt_depths != NULL ? opt_depths : "1,8", depths,
                      G_N_ELEMENTS(depths));
    if (nd <= 0 || opt_reps < 1 || opt_reps > MAX_REPS || opt_seconds <= 0 ||
        opt_warmup < 0) {
        fprintf(stderr, "bench: bad --depths, --reps (1..%d) or --seconds\n", MAX_REPS);
        return 2;
    }
    if (opt_send != NULL && strcmp(opt_send, "each") == 0) {
        mode = BENCH_SEND_EACH;
    } else if (opt_send != NULL && strcmp(opt_send, "batch") != 0) {
        fprintf(stderr, "bench: --send is batch or each\n");
        return 2;
    }
    if (opt_pin == NULL) {
        opt_pin = default_pin();
    }
    if (opt_device == NULL) {
        opt_device = g_strdup("gpio");
    }
    want_gpio = strcmp(opt_device, "gpio") == 0 || strcmp(opt_device, "both") == 0;
    want_td = strcmp(opt_device, "testdev") == 0 || strcmp(opt_device, "both") == 0;
    if (!want_gpio && !want_td) {
        fprintf(stderr, "bench: --device is gpio, testdev or both\n");
        return 2;
    }
    for (unsigned op = 0; op < NR_OPS; op++) {
        for (int d = 0; d < nd; d++) {
            cases[nr_cases++] = (struct bench_case){ .op = op, .depth = depths[d] };
        }
    }
    signal(SIGPIPE, SIG_IGN);

    h = harness_new(bench_conf);
    /* Both devices are always configured, so both device threads exist
     * (idle) whichever is measured. */
    if (harness_start(h, NULL, (const char *const[]){ "gpio0", "td0", NULL }) < 0) {
        g_autofree char *log = harness_log(h);

        fprintf(stderr, "bench: the daemon did not start:\n%s", log);
        harness_free(h);
        return 1;
    }
    echo_path = g_build_filename(h->dir, "echo.sock", NULL);
    echo_pid = start_echo(echo_path);
    memset(targets, 0, sizeof(targets));
    targets[0] = (struct target){ .name = "echo", .pid = echo_pid };
    set_ops(&targets[0], 2, 4);
    if (echo_pid < 0 || connect_echo(&targets[0], echo_path) < 0) {
        goto out;
    }
    if (want_gpio) {
        struct target *t = &targets[nr_targets++];

        *t = (struct target){ .name = "gpio", .pid = h->pid };
        set_ops(t, 2, 4);
        gpio_path = harness_socket(h, "gpio0");
        if (connect_target(t, gpio_path) < 0) {
            goto out;
        }
    }
    if (want_td) {
        struct target *t = &targets[nr_targets++];

        *t = (struct target){ .name = "testdev", .pid = h->pid };
        set_ops(t, 0, 0x10);
        td_path = harness_socket(h, "td0");
        if (connect_target(t, td_path) < 0) {
            goto out;
        }
    }

    if (pin_all(targets, nr_targets) < 0) {
        goto out;
    }
    for (int rep = 0; rep < opt_reps; rep++) {
        if (opt_verbose) {
            fprintf(stderr, "repetition %d/%d\n", rep + 1, opt_reps);
        }
        for (int ci = 0; ci < nr_cases; ci++) {
            for (unsigned k = 0; k < nr_targets; k++) {
                /* Even repetitions: echo first; odd ones: echo last. */
                unsigned ti = rep % 2 == 0 ? k : (k + 1) % nr_targets;

                if (measure(&targets[ti], &cases[ci], mode, &samples[ti][ci][rep]) < 0) {
                    goto out;
                }
            }
        }
    }

    print_header(nr_cases, nr_targets, mode);
    for (int ci = 0; ci < nr_cases; ci++) {
        const struct bench_case *bc = &cases[ci];

        for (unsigned ti = 0; ti < nr_targets; ti++) {
            print_row(op_names[bc->op], bc->depth, targets[ti].name,
                      samples[ti][ci], opt_reps);
        }
        for (unsigned ti = 1; ti < nr_targets; ti++) {
            char who[32], c[16];

            snprintf(who, sizeof(who), "%s/echo", targets[ti].name);
            snprintf(c, sizeof(c), "x%u", bc->depth);
            printf("%-5s %-4s %-12s %10.3f %8.2f %8.2f %10.3f\n", op_names[bc->op],
                   c, who,
                   med_ratio(samples[ti][ci], samples[0][ci], opt_reps,
                             offsetof(struct sample, mps)),
                   med_ratio(samples[ti][ci], samples[0][ci], opt_reps,
                             offsetof(struct sample, p50)),
                   med_ratio(samples[ti][ci], samples[0][ci], opt_reps,
                             offsetof(struct sample, p99)),
                   med_ratio(samples[ti][ci], samples[0][ci], opt_reps,
                             offsetof(struct sample, cpu_us)));
        }
        printf("\n");
    }
    printf("# targets at x%u: daemon msgs/s >= %.2f x echo, daemon cpu/msg <= %.2f x echo\n",
           depths[nd - 1], TARGET_MPS_RATIO, TARGET_CPU_RATIO);
    for (int ci = 0; ci < nr_cases; ci++) {
        if (cases[ci].depth != depths[nd - 1]) {
            continue;
        }
        for (unsigned ti = 1; ti < nr_targets; ti++) {
            double rm = med_ratio(samples[ti][ci], samples[0][ci], opt_reps,
                                  offsetof(struct sample, mps));
            double rc = med_ratio(samples[ti][ci], samples[0][ci], opt_reps,
                                  offsetof(struct sample, cpu_us));

            printf("#   %-7s %-5s x%u: msgs/s %.3f %s, cpu/msg %.3f %s\n",
                   targets[ti].name, op_names[cases[ci].op], cases[ci].depth, rm,
                   rm >= TARGET_MPS_RATIO ? "met" : "MISSED", rc,
                   rc <= TARGET_CPU_RATIO ? "met" : "MISSED");
        }
    }
    ret = 0;

out:
    for (unsigned ti = 0; ti < MAX_TARGETS; ti++) {
        vfu_client_close(targets[ti].cl);
    }
    if (echo_pid > 0) {
        kill(echo_pid, SIGTERM);
        waitpid(echo_pid, NULL, 0);
    }
    if (harness_stop(h) != 0) {
        g_autofree char *log = harness_log(h);

        fprintf(stderr, "bench: the daemon did not stop cleanly; its log:\n%s", log);
        ret = 1;
    } else if (opt_verbose || ret != 0) {
        g_autofree char *log = harness_log(h);

        fprintf(stderr, "bench: the daemon's log:\n%s", log);
    }
    harness_free(h);
    return ret;
}
