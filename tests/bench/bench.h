/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The transport benchmark's pieces: a lean pipelined client for the hot
 * loop (bench_client.c), CPU accounting and pinning of processes
 * (bench_cpu.c) and the table (bench_report.c).  The driver is
 * bench_transport.c; the reference server is bench_echo.c.
 */
#ifndef VFUD_BENCH_H
#define VFUD_BENCH_H

#include <sched.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

/* One kind of request: REGION_READ or REGION_WRITE (with a reply) of
 * `count` bytes at region/offset.  Writes send `data`. */
struct bench_op {
    const char *name;
    uint16_t cmd;
    uint32_t region;
    uint64_t offset;
    uint32_t count;
    uint8_t data[8];
};

enum bench_send {
    BENCH_SEND_BATCH, /* the requests that refill the pipeline go in one send() */
    BENCH_SEND_EACH,  /* one send() per request, as a VMM's vCPUs would */
};

struct bench_result {
    uint64_t msgs;      /* replies received */
    double secs;        /* from the first send to the last reply */
    double p50_us;      /* round trip, median */
    double p99_us;      /* round trip, 99th percentile */
    double client_cpu_s; /* our own CPU time meanwhile */
};

/* Keep `depth` requests in flight on the connected, negotiated socket fd
 * for `seconds`, then stop sending and collect the replies still due.
 * Every reply is checked (order, command, size, no error).  0 or -errno
 * (-EPROTO for a wrong reply). */
int bench_run(int fd, const struct bench_op *op, unsigned depth, double seconds,
              enum bench_send mode, struct bench_result *res);

/* CPU time consumed by all threads of a process and of its descendants
 * (isolate = process: the devices' own processes do the work). */
struct bench_cpu {
    uint64_t ns;    /* sum_exec_runtime from /proc/PID/task/STAR/schedstat */
    uint64_t runs;  /* times a thread was put on a CPU (schedstat pcount) */
    uint64_t ticks_user, ticks_sys; /* /proc/PID/stat, in clock ticks */
};

/* 0 or -errno.  Falls back to utime+stime (tick resolution, runs = 0) on a
 * kernel without schedstat. */
int bench_cpu_read(pid_t pid, struct bench_cpu *out);

/* Restrict every thread of pid (0: ourselves) and of its descendants to
 * the CPUs in set.  0 or -errno. */
int bench_pin(pid_t pid, const cpu_set_t *set);

/* ---- the table (bench_report.c) ---- */

/* One measurement of one server in one case. */
struct bench_sample {
    double mps;          /* messages per second */
    double p50, p99;     /* round trip, microseconds */
    double cpu_us;       /* server CPU per message, microseconds */
    double sys_pct;      /* share of it in the kernel */
    double msgs_per_run; /* messages per time a server thread got a CPU */
    double cli_us;       /* client CPU per message, microseconds */
};

/* Column titles. */
void bench_report_titles(void);
/* Medians over n repetitions: one line for a server. */
void bench_report_row(const char *op, unsigned depth, const char *server,
                      const struct bench_sample *s, int n);
/* Medians of the per-repetition ratios server/echo. */
void bench_report_ratio(const char *op, unsigned depth, const char *server,
                        const struct bench_sample *s,
                        const struct bench_sample *echo, int n);
/* The same against the reference server named ref. */
void bench_report_ratio_to(const char *op, unsigned depth, const char *server,
                           const char *ref, const struct bench_sample *s,
                           const struct bench_sample *echo, int n);
/* The median ratios (msgs/s and cpu/msg) of server over echo. */
void bench_ratios(const struct bench_sample *s, const struct bench_sample *echo,
                  int n, double *mps, double *cpu);

/* Monotonic clock in nanoseconds. */
uint64_t bench_now_ns(void);

#endif
