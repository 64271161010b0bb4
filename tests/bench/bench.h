/*
 * The transport benchmark's pieces: a lean pipelined client for the hot
 * loop (bench_client.c) and CPU accounting of another process
 * (bench_cpu.c).  The driver is bench_transport.c; the reference server is
 * bench_echo.c.
 */
#ifndef VFUD_BENCH_H
#define VFUD_BENCH_H

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

/* CPU time consumed by all threads of a process. */
struct bench_cpu {
    uint64_t ns;    /* sum_exec_runtime from /proc/PID/task/STAR/schedstat */
    uint64_t runs;  /* times a thread was put on a CPU (schedstat pcount) */
    uint64_t ticks_user, ticks_sys; /* /proc/PID/stat, in clock ticks */
};

/* 0 or -errno.  Falls back to utime+stime (tick resolution, runs = 0) on a
 * kernel without schedstat. */
int bench_cpu_read(pid_t pid, struct bench_cpu *out);

/* Put every thread of pid (0: ourselves) on one CPU.  0 or -errno. */
int bench_pin(pid_t pid, int cpu);

/* Monotonic clock in nanoseconds. */
uint64_t bench_now_ns(void);

#endif
