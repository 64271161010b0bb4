/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * bench_transport: how close the daemon's message path comes to the limit
 * of its transport.  Run by "make bench"; prints figures, never fails on
 * them (only on errors).
 *
 * What it does.  It starts the built daemon (tests/common/harness; the
 * VFIOUSERD variable names another binary) with a gpio and a testdev
 * device, and the echo server bench_echo (a vfio-user server that only
 * frames and answers, with the daemon's read/batch/flush strategy: see
 * bench_echo.c).  It connects and negotiates once per server with the
 * client library, then drives the sockets with a lean pipelined client
 * (bench_client.c) through every case:
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
 * writes, +7 sets filters 0-7 to 0.  testdev (--device testdev|both): BAR0
 * (region 0) SCRATCH at 0x10, a plain 32-bit register.
 *
 * Each repetition runs every case against every server in turn, echo
 * first in even repetitions and last in odd ones, so drift on a busy
 * machine hits both; each measurement follows a short warm-up on the same
 * connection.
 *
 * Placement decides the regime, so it is fixed, and by default the whole
 * set runs twice (--pin):
 *
 *   same   client and servers on one CPU.  No cross-CPU wake-ups: msgs/s
 *          is bounded by the CPU time client and server spend per message
 *          (the harshest comparison, and stable).  It is also what the
 *          scheduler chooses by itself for a request/reply pair here
 *          ("--pin none" gave the same figures).
 *   split  client on one CPU, every server thread on another, as a VMM's
 *          vCPU thread and the daemon on different cores.  A round trip is
 *          then dominated by waking the other CPU (tens of us in a VM), so
 *          msgs/s mostly measures that and is noisy; cpu us/msg still
 *          shows the server's own cost.
 *
 * How to read the output.  One table per placement, one block per case:
 *
 *   read  x8  echo        the reference: what framing alone costs
 *   read  x8  gpio        the daemon serving the gpio device
 *   read  x8  gpio/echo   ratios, medians of the per-repetition ratios
 *
 *   msgs/s      replies per second of wall time
 *   p50/p99 us  round trip, send() before the request to recv() after
 *               its reply, median and 99th percentile
 *   cpu us/msg  the server's CPU time (all threads, from schedstat) per
 *               message: the figure that does not depend on the client
 *   sys%        share of that CPU time spent in the kernel (/proc stat,
 *               tick resolution)
 *   msgs/run    messages per time a server thread got a CPU: 1 at depth
 *               1, 8 at depth 8 if every batch is read and answered in one
 *               go (less on one CPU, where the client preempts the server)
 *   cli us/msg  the benchmark client's own CPU per message
 *
 * With --echo-uring, a second echo server, "echo-uring" (bench_echo
 * --uring: one io_uring_enter() per batch for the replies' send and the
 * next receive, instead of poll + recvmsg + sendmsg), is measured too,
 * and each daemon device gets a second ratio line against it: what merging
 * system calls would be worth to a server of the echo server's shape.
 *
 * With --vs-keys "isolate = process", a second gpio device, gpio*, served
 * by a process of its own, is measured beside gpio in each repetition; the
 * server's CPU is the daemon's and its children's (bench_cpu.c), and the
 * last lines give gpio*'s ratios to gpio, msgs per CPU-second among them.
 * With --vs-env VAR=VALUE, gpio* is instead the gpio device of a second
 * daemon, started with VAR=VALUE in its environment: "--vs-env
 * VFIOUSERD_URING=no" sets the poll path beside the default io_uring turn,
 * measured in turn in the same run (split placements are too noisy here
 * for ratios taken from separate runs).
 *
 * On a ratio line msgs/s, p50, p99 and cpu us/msg are daemon/echo: 1.00
 * is "as fast as framing alone", cpu 1.30 "30% more CPU than framing".
 * The last lines of a table check the targets at the deepest pipeline:
 * msgs/s ratio >= 0.95 and cpu ratio <= 1.30.
 */
#include "config.h"

#include "bench.h"
#include "harness.h"
#include "vfu_client.h"

#include <errno.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <unistd.h>

#include <glib.h>

#define MAX_TARGETS 6
#define MAX_CASES 16
#define MAX_REPS 64
#define MAX_PLACEMENTS 8

#define TARGET_MPS_RATIO 0.95
#define TARGET_CPU_RATIO 1.30

enum { OP_READ, OP_WRITE, NR_OPS };

static const char *const op_names[NR_OPS] = { "read", "write" };

struct target {
    const char *name; /* "echo", "gpio", "testdev" */
    pid_t pid;        /* server process */
    struct vfu_client *cl;
    struct bench_op ops[NR_OPS];
};

struct bench_case {
    unsigned op;
    unsigned depth;
};

/* Where the client and the servers run. */
struct placement {
    char name[40];
    cpu_set_t client, servers;
};

struct bench {
    struct target targets[MAX_TARGETS];
    unsigned nr_targets; /* targets[0] is the echo server */
    unsigned uring;      /* index of echo-uring, 0 if not measured */
    struct bench_case cases[MAX_CASES];
    int nr_cases;
    unsigned max_depth;
    enum bench_send mode;
    cpu_set_t all; /* the CPUs we may use */
    struct bench_sample samples[MAX_TARGETS][MAX_CASES][MAX_REPS];
};

static double opt_seconds = 1.0;
static double opt_warmup = 0.2;
static int opt_reps = 5;
static char *opt_depths;
static char *opt_device;
static char *opt_send;
static char *opt_pin;
static gboolean opt_verbose;
static gboolean opt_echo_uring;
static char *opt_config_keys; /* "sandbox = off", "isolate = process" */
static char *opt_vs_keys;     /* a second gpio device, configured so */
static char *opt_vs_env;      /* a second daemon, with this in its environment */

/* What gpio* differs by, for the ratio lines. */
static const char *vs_label(void)
{
    return opt_vs_keys != NULL ? opt_vs_keys : opt_vs_env;
}

static GOptionEntry options[] = {
    { "keys", 0, 0, G_OPTION_ARG_STRING, &opt_config_keys,
      "extra daemon or device keys, ';'-separated (\"sandbox = off;isolate = process\"): "
      "sandbox goes to [daemon], the others to both devices", "KEYS" },
    { "vs-keys", 0, 0, G_OPTION_ARG_STRING, &opt_vs_keys,
      "also measure a second gpio device (\"gpio*\") with these device keys added, "
      "';'-separated (\"isolate = process\"), in the same run, and print its ratios "
      "to gpio", "KEYS" },
    { "vs-env", 0, 0, G_OPTION_ARG_STRING, &opt_vs_env,
      "also measure the gpio device of a second daemon (\"gpio*\") started with "
      "VAR=VALUE in its environment (\"VFIOUSERD_URING=no\"), in the same run, and "
      "print its ratios to gpio", "VAR=VALUE" },
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
      "placements to run, comma-separated: same, split, none (scheduler's "
      "choice) or C/S (client on CPU C, servers on CPU S); default same,split",
      "LIST" },
    { "echo-uring", 0, 0, G_OPTION_ARG_NONE, &opt_echo_uring,
      "also measure bench_echo --uring (\"echo-uring\") and print the "
      "devices' ratios to it", NULL },
    { "verbose", 'v', 0, G_OPTION_ARG_NONE, &opt_verbose,
      "print every measurement, and the daemon's log", NULL },
    { NULL, 0, 0, 0, NULL, NULL, NULL },
};

/* ------------------------------------------------------------------------
 * Servers
 */
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

/* Connect and negotiate; the echo server may not listen yet. */
static int connect_target(struct target *t, const char *path)
{
    gint64 deadline = g_get_monotonic_time() + 10 * G_USEC_PER_SEC;
    int r;

    while ((r = vfu_client_connect(path, &t->cl)) == -ENOENT ||
           r == -ECONNREFUSED) {
        if (g_get_monotonic_time() > deadline) {
            break;
        }
        g_usleep(10000);
    }
    if (r == 0) {
        r = vfu_client_negotiate(t->cl, NULL, NULL);
    }
    if (r < 0) {
        fprintf(stderr, "bench: %s: connect/negotiate on %s: %s\n", t->name,
                path, g_strerror(-r));
    }
    return r;
}

/* Start bench_echo on path (with --uring if uring); its pid, or -1. */
static pid_t start_echo(const char *path, bool uring)
{
    const char *argv[] = { BENCH_ECHO_PATH, uring ? "--uring" : path,
                           uring ? path : NULL, NULL };
    g_autoptr(GError) err = NULL;
    GPid pid;

    if (!g_spawn_async(NULL, (char **)argv, NULL, G_SPAWN_DO_NOT_REAP_CHILD,
                       NULL, NULL, &pid, &err)) {
        fprintf(stderr, "bench: cannot start %s: %s\n", argv[0], err->message);
        return -1;
    }
    return pid;
}

/* ------------------------------------------------------------------------
 * Placements
 */
static int nth_cpu(const cpu_set_t *set, int n)
{
    for (int cpu = 0; cpu < CPU_SETSIZE; cpu++) {
        if (CPU_ISSET(cpu, set) && n-- == 0) {
            return cpu;
        }
    }
    return -1;
}

static void pin_pair(struct placement *p, int c, int s)
{
    CPU_ZERO(&p->client);
    CPU_ZERO(&p->servers);
    CPU_SET(c, &p->client);
    CPU_SET(s, &p->servers);
}

static int parse_placements(const struct bench *b, const char *text,
                            struct placement *out, int max)
{
    g_auto(GStrv) parts = g_strsplit(text, ",", -1);
    int first = nth_cpu(&b->all, 0), second = nth_cpu(&b->all, 1);
    int n = 0;

    for (char **p = parts; *p != NULL; p++) {
        struct placement *pl = &out[n];
        unsigned c, s;

        if (n == max) {
            return -EINVAL;
        }
        memset(pl, 0, sizeof(*pl));
        if (strcmp(*p, "same") == 0) {
            pin_pair(pl, first, first);
            snprintf(pl->name, sizeof(pl->name), "same CPU (%d)", first);
        } else if (strcmp(*p, "split") == 0) {
            if (second < 0) {
                fprintf(stderr, "bench: only one CPU: skipping \"split\"\n");
                continue;
            }
            pin_pair(pl, first, second);
            snprintf(pl->name, sizeof(pl->name), "split (client %d, servers %d)",
                     first, second);
        } else if (strcmp(*p, "none") == 0) {
            pl->client = pl->servers = b->all;
            snprintf(pl->name, sizeof(pl->name), "not pinned");
        } else if (sscanf(*p, "%u/%u", &c, &s) == 2 && c < CPU_SETSIZE &&
                   s < CPU_SETSIZE) {
            pin_pair(pl, (int)c, (int)s);
            snprintf(pl->name, sizeof(pl->name), "client %u, servers %u", c, s);
        } else {
            return -EINVAL;
        }
        n++;
    }
    return n;
}

static int apply_placement(const struct bench *b, const struct placement *pl)
{
    int r = bench_pin(0, &pl->client);

    for (unsigned i = 0; i < b->nr_targets && r == 0; i++) {
        r = bench_pin(b->targets[i].pid, &pl->servers);
    }
    if (r < 0) {
        fprintf(stderr, "bench: placement %s: %s\n", pl->name, g_strerror(-r));
    }
    return r;
}

/* ------------------------------------------------------------------------
 * Measuring
 */
static int measure(struct target *t, const struct bench_case *bc,
                   enum bench_send mode, struct bench_sample *s)
{
    const struct bench_op *op = &t->ops[bc->op];
    int fd = vfu_client_fd(t->cl);
    struct bench_cpu c0, c1;
    struct bench_result res;
    double ticks;
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
    if (r == 0 && res.msgs == 0) {
        r = -EIO;
    }
    if (r < 0) {
        fprintf(stderr, "bench: %s %s x%u: %s\n", t->name, op->name, bc->depth,
                g_strerror(-r));
        return r;
    }
    ticks = (double)((c1.ticks_user + c1.ticks_sys) - (c0.ticks_user + c0.ticks_sys));
    s->mps = (double)res.msgs / res.secs;
    s->p50 = res.p50_us;
    s->p99 = res.p99_us;
    s->cpu_us = (double)(c1.ns - c0.ns) / 1000.0 / (double)res.msgs;
    s->sys_pct = ticks > 0 ? 100.0 * (double)(c1.ticks_sys - c0.ticks_sys) / ticks : 0;
    s->msgs_per_run = c1.runs > c0.runs
                          ? (double)res.msgs / (double)(c1.runs - c0.runs)
                          : 0;
    s->cli_us = res.client_cpu_s * 1e6 / (double)res.msgs;
    if (opt_verbose) {
        fprintf(stderr, "  %-5s x%-3u %-8s %10.0f msgs/s  p50 %7.1f  p99 %7.1f us  "
                "cpu %6.2f us/msg  sys %3.0f%%  %5.2f msgs/run  cli %5.2f us/msg\n",
                op->name, bc->depth, t->name, s->mps, s->p50, s->p99, s->cpu_us,
                s->sys_pct, s->msgs_per_run, s->cli_us);
    }
    return 0;
}

static int run_all(struct bench *b)
{
    for (int rep = 0; rep < opt_reps; rep++) {
        if (opt_verbose) {
            fprintf(stderr, "repetition %d/%d\n", rep + 1, opt_reps);
        }
        for (int ci = 0; ci < b->nr_cases; ci++) {
            for (unsigned k = 0; k < b->nr_targets; k++) {
                unsigned ti = rep % 2 == 0 ? k : (k + 1) % b->nr_targets;

                if (measure(&b->targets[ti], &b->cases[ci], b->mode,
                            &b->samples[ti][ci][rep]) < 0) {
                    return -1;
                }
            }
        }
    }
    return 0;
}

/* ------------------------------------------------------------------------
 * Output
 */
static void print_banner(const struct bench *b)
{
    struct utsname u;
    g_autoptr(GDateTime) now = g_date_time_new_now_local();
    g_autofree char *when = g_date_time_format(now, "%Y-%m-%d %H:%M:%S");

    uname(&u);
    printf("# vfiouserd transport benchmark, %s, %s %s, %ld CPUs online\n", when,
           u.sysname, u.release, sysconf(_SC_NPROCESSORS_ONLN));
    printf("# daemon: %s\n", harness_daemon_path());
    printf("# %d repetitions x %d cases x %u servers, %.1f s each (+%.1f s "
           "warm-up); client sends: %s\n", opt_reps, b->nr_cases, b->nr_targets,
           opt_seconds, opt_warmup,
           b->mode == BENCH_SEND_EACH ? "one send per request" : "refills in one send");
    printf("# gpio: BAR2 +4, 4 bytes; testdev: BAR0 SCRATCH 0x10, 4 bytes; "
           "figures are medians over the repetitions\n");
}

static void print_table(const struct bench *b, const struct placement *pl)
{
    const struct target *t = b->targets;

    printf("\n## placement: %s\n", pl->name);
    bench_report_titles();
    for (int ci = 0; ci < b->nr_cases; ci++) {
        const struct bench_case *bc = &b->cases[ci];

        for (unsigned ti = 0; ti < b->nr_targets; ti++) {
            bench_report_row(op_names[bc->op], bc->depth, t[ti].name,
                             b->samples[ti][ci], opt_reps);
        }
        for (unsigned ti = 1; ti < b->nr_targets; ti++) {
            bench_report_ratio(op_names[bc->op], bc->depth, t[ti].name,
                               b->samples[ti][ci], b->samples[0][ci], opt_reps);
        }
        for (unsigned ti = b->uring + 1; b->uring != 0 && ti < b->nr_targets; ti++) {
            bench_report_ratio_to(op_names[bc->op], bc->depth, t[ti].name,
                                  t[b->uring].name, b->samples[ti][ci],
                                  b->samples[b->uring][ci], opt_reps);
        }
        printf("\n");
    }
    printf("# targets at x%u: daemon msgs/s >= %.2f x echo, daemon cpu/msg "
           "<= %.2f x echo\n", b->max_depth, TARGET_MPS_RATIO, TARGET_CPU_RATIO);
    for (int ci = 0; ci < b->nr_cases; ci++) {
        if (b->cases[ci].depth != b->max_depth) {
            continue;
        }
        for (unsigned ti = b->uring + 1; ti < b->nr_targets; ti++) {
            double rm, rc;

            bench_ratios(b->samples[ti][ci], b->samples[0][ci], opt_reps, &rm, &rc);
            printf("#   %-7s %-5s x%u: msgs/s %.3f %s, cpu/msg %.3f %s\n",
                   t[ti].name, op_names[b->cases[ci].op], b->max_depth, rm,
                   rm >= TARGET_MPS_RATIO ? "met" : "MISSED", rc,
                   rc <= TARGET_CPU_RATIO ? "met" : "MISSED");
        }
    }
    if (vs_label() != NULL && strcmp(t[b->uring + 1].name, "gpio") == 0) {
        unsigned vs = b->nr_targets - 1, gpio = b->uring + 1; /* gpio* comes last */

        printf("# gpio* (%s) / gpio, medians of per-repetition ratios:\n", vs_label());
        for (int ci = 0; ci < b->nr_cases; ci++) {
            double rm, rc;

            bench_ratios(b->samples[vs][ci], b->samples[gpio][ci], opt_reps, &rm, &rc);
            printf("#   %-5s x%-3u msgs/s %.3f  cpu/msg %.3f  msgs per CPU-second %.3f\n",
                   op_names[b->cases[ci].op], b->cases[ci].depth, rm, rc,
                   rc > 0 ? 1.0 / rc : 0.0);
        }
    }
    fflush(stdout);
}

/* ------------------------------------------------------------------------
 * Set-up
 */
static int parse_options(struct bench *b, int *argc, char ***argv)
{
    g_autoptr(GOptionContext) ctx = g_option_context_new("- vfiouserd transport benchmark");
    g_autoptr(GError) err = NULL;
    g_auto(GStrv) parts = NULL;
    unsigned depths[MAX_CASES / NR_OPS];
    unsigned nd = 0;

    g_option_context_add_main_entries(ctx, options, NULL);
    if (!g_option_context_parse(ctx, argc, argv, &err)) {
        fprintf(stderr, "bench: %s\n", err->message);
        return -EINVAL;
    }
    if (opt_reps < 1 || opt_reps > MAX_REPS || opt_seconds <= 0 || opt_warmup < 0) {
        fprintf(stderr, "bench: --reps is 1..%d, --seconds > 0, --warmup >= 0\n",
                MAX_REPS);
        return -EINVAL;
    }
    parts = g_strsplit(opt_depths != NULL ? opt_depths : "1,8", ",", -1);
    for (char **p = parts; *p != NULL; p++) {
        guint64 v;

        if (nd == G_N_ELEMENTS(depths) ||
            !g_ascii_string_to_unsigned(*p, 10, 1, 1024, &v, NULL)) {
            fprintf(stderr, "bench: --depths: up to %zu numbers, 1..1024\n",
                    G_N_ELEMENTS(depths));
            return -EINVAL;
        }
        depths[nd++] = (unsigned)v;
        b->max_depth = MAX(b->max_depth, (unsigned)v);
    }
    for (unsigned op = 0; op < NR_OPS; op++) {
        for (unsigned d = 0; d < nd; d++) {
            b->cases[b->nr_cases++] = (struct bench_case){ op, depths[d] };
        }
    }
    b->mode = BENCH_SEND_BATCH;
    if (opt_send != NULL && strcmp(opt_send, "each") == 0) {
        b->mode = BENCH_SEND_EACH;
    } else if (opt_send != NULL && strcmp(opt_send, "batch") != 0) {
        fprintf(stderr, "bench: --send is batch or each\n");
        return -EINVAL;
    }
    if (opt_device == NULL) {
        opt_device = g_strdup("gpio");
    }
    if (opt_vs_env != NULL && (opt_vs_keys != NULL || strchr(opt_vs_env, '=') == NULL)) {
        fprintf(stderr, "bench: --vs-env is VAR=VALUE, and not with --vs-keys\n");
        return -EINVAL;
    }
    if (strcmp(opt_device, "gpio") != 0 && strcmp(opt_device, "testdev") != 0 &&
        strcmp(opt_device, "both") != 0) {
        fprintf(stderr, "bench: --device is gpio, testdev or both\n");
        return -EINVAL;
    }
    return 0;
}

static const char bench_conf[] =
    "[daemon]\n"
    "socket-dir = @SOCKDIR@\n"
    "%s"
    "[gpio0]\n"
    "plugin = gpio\n"
    "%s"
    "[td0]\n"
    "plugin = testdev\n"
    "%s"
    "%s";

/* --keys: sandbox* to [daemon], the rest to each device. */
static char *bench_config(void)
{
    g_auto(GStrv) keys = g_strsplit(opt_config_keys != NULL ? opt_config_keys : "", ";", -1);
    g_autoptr(GString) daemon = g_string_new("");
    g_autoptr(GString) device = g_string_new("");
    g_autoptr(GString) other = g_string_new("");

    for (char **k = keys; *k != NULL; k++) {
        g_autofree char *t = g_strstrip(g_strdup(*k));

        if (t[0] != '\0') {
            g_string_append_printf(g_str_has_prefix(t, "sandbox") ? daemon : device,
                                   "%s\n", t);
        }
    }
    if (opt_vs_keys != NULL) {
        g_auto(GStrv) vs = g_strsplit(opt_vs_keys, ";", -1);

        g_string_append_printf(other, "[gpio1]\nplugin = gpio\n%s", device->str);
        for (char **k = vs; *k != NULL; k++) {
            g_autofree char *t = g_strstrip(g_strdup(*k));

            if (t[0] != '\0') {
                g_string_append_printf(other, "%s\n", t);
            }
        }
    }
    return g_strdup_printf(bench_conf, daemon->str, device->str, device->str, other->str);
}

/* --vs-env: the same daemon and configuration once more, with VAR=VALUE
 * in its environment; its gpio device is gpio*. */
static struct harness *start_vs_daemon(struct bench *b)
{
    g_auto(GStrv) kv = g_strsplit(opt_vs_env, "=", 2);
    g_autofree char *was = g_strdup(g_getenv(kv[0]));
    g_autofree char *conf = bench_config();
    g_autofree char *path = NULL;
    struct harness *h = harness_new(conf);
    struct target *t;
    int r;

    g_setenv(kv[0], kv[1], TRUE);
    r = harness_start(h, NULL, (const char *const[]){ "gpio0", "td0", NULL });
    if (was != NULL) {
        g_setenv(kv[0], was, TRUE);
    } else {
        g_unsetenv(kv[0]);
    }
    if (r < 0) {
        g_autofree char *log = harness_log(h);

        fprintf(stderr, "bench: the second daemon did not start:\n%s", log);
        harness_free(h);
        return NULL;
    }
    t = &b->targets[b->nr_targets++];
    *t = (struct target){ .name = "gpio*", .pid = h->pid };
    set_ops(t, 2, 4);
    path = harness_socket(h, "gpio0");
    if (connect_target(t, path) < 0) {
        harness_stop(h);
        harness_free(h);
        return NULL;
    }
    return h;
}

/* Connect to the daemon's devices named by --device. */
static int add_daemon_targets(struct bench *b, const struct harness *h)
{
    static const struct {
        const char *name, *device;
        uint32_t region;
        uint64_t offset;
    } devs[] = {
        { "gpio", "gpio0", 2, 4 },
        { "testdev", "td0", 0, 0x10 },
        { "gpio*", "gpio1", 2, 4 },
    };

    for (size_t i = 0; i < G_N_ELEMENTS(devs); i++) {
        struct target *t;
        g_autofree char *path = NULL;

        if (strcmp(devs[i].name, "gpio*") == 0 ? opt_vs_keys == NULL
                                                : strcmp(opt_device, "both") != 0 &&
                                                      strcmp(opt_device, devs[i].name) != 0) {
            continue;
        }
        t = &b->targets[b->nr_targets++];
        *t = (struct target){ .name = devs[i].name, .pid = h->pid };
        set_ops(t, devs[i].region, devs[i].offset);
        path = harness_socket(h, devs[i].device);
        if (connect_target(t, path) < 0) {
            return -1;
        }
    }
    return 0;
}

int main(int argc, char **argv)
{
    static struct bench b;
    struct placement placements[MAX_PLACEMENTS];
    g_autofree char *echo_path = NULL;
    g_autofree char *uring_path = NULL;
    struct harness *h, *vs = NULL;
    pid_t echo_pid = -1, uring_pid = -1;
    int np, ret = 1;

    if (parse_options(&b, &argc, &argv) < 0) {
        return 2;
    }
    if (sched_getaffinity(0, sizeof(b.all), &b.all) < 0) {
        perror("bench: sched_getaffinity");
        return 1;
    }
    np = parse_placements(&b, opt_pin != NULL ? opt_pin : "same,split", placements,
                          MAX_PLACEMENTS);
    if (np <= 0) {
        fprintf(stderr, "bench: --pin: same, split, none or C/S, comma-separated\n");
        return 2;
    }
    signal(SIGPIPE, SIG_IGN);

    /* Both devices are always configured, so the daemon has the same
     * threads whichever is measured. */
    {
        g_autofree char *conf = bench_config();

        h = harness_new(conf);
    }
    if (harness_start(h, NULL,
                      (const char *const[]){ "gpio0", "td0",
                                             opt_vs_keys != NULL ? "gpio1" : NULL, NULL })
        < 0) {
        g_autofree char *log = harness_log(h);

        fprintf(stderr, "bench: the daemon did not start:\n%s", log);
        harness_free(h);
        return 1;
    }
    echo_path = g_build_filename(h->dir, "echo.sock", NULL);
    echo_pid = start_echo(echo_path, false);
    b.targets[0] = (struct target){ .name = "echo", .pid = echo_pid };
    b.nr_targets = 1;
    set_ops(&b.targets[0], 2, 4);
    if (echo_pid < 0 || connect_target(&b.targets[0], echo_path) < 0) {
        goto out;
    }
    if (opt_echo_uring) {
        struct target *t = &b.targets[b.nr_targets];

        uring_path = g_build_filename(h->dir, "echo-uring.sock", NULL);
        uring_pid = start_echo(uring_path, true);
        *t = (struct target){ .name = "echo-uring", .pid = uring_pid };
        b.uring = b.nr_targets++;
        set_ops(t, 2, 4);
        if (uring_pid < 0 || connect_target(t, uring_path) < 0) {
            goto out;
        }
    }
    if (add_daemon_targets(&b, h) < 0) {
        goto out;
    }
    if (opt_vs_env != NULL && (vs = start_vs_daemon(&b)) == NULL) {
        goto out;
    }

    print_banner(&b);
    for (int i = 0; i < np; i++) {
        if (apply_placement(&b, &placements[i]) < 0 || run_all(&b) < 0) {
            goto out;
        }
        print_table(&b, &placements[i]);
    }
    ret = 0;

out:
    for (unsigned ti = 0; ti < MAX_TARGETS; ti++) {
        vfu_client_close(b.targets[ti].cl);
    }
    if (echo_pid > 0) {
        kill(echo_pid, SIGTERM);
        waitpid(echo_pid, NULL, 0);
    }
    if (uring_pid > 0) {
        kill(uring_pid, SIGTERM);
        waitpid(uring_pid, NULL, 0);
    }
    if (harness_stop(h) != 0 || (vs != NULL && harness_stop(vs) != 0)) {
        ret = 1;
        fprintf(stderr, "bench: the daemon did not stop cleanly\n");
    }
    if (vs != NULL) {
        harness_free(vs);
    }
    if (opt_verbose || ret != 0) {
        g_autofree char *log = harness_log(h);

        fprintf(stderr, "bench: the daemon's log:\n%s", log);
    }
    harness_free(h);
    return ret;
}
