/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The benchmark's table: medians over the repetitions, and ratios taken per
 * repetition (daemon and echo measured back to back) before their median,
 * so that drift on a busy machine cancels out.
 */
#include "config.h"

#include "bench.h"

#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_N 64

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

static double field(const struct bench_sample *s, size_t off)
{
    double v;

    memcpy(&v, (const char *)s + off, sizeof(v));
    return v;
}

/* Median over the repetitions of one field. */
static double med(const struct bench_sample *s, int n, size_t off)
{
    double v[MAX_N];

    for (int i = 0; i < n && i < MAX_N; i++) {
        v[i] = field(&s[i], off);
    }
    return median(v, n < MAX_N ? n : MAX_N);
}

/* Median over the repetitions of a field's ratio a/b. */
static double med_ratio(const struct bench_sample *a, const struct bench_sample *b,
                        int n, size_t off)
{
    double v[MAX_N];

    for (int i = 0; i < n && i < MAX_N; i++) {
        double y = field(&b[i], off);

        v[i] = y > 0 ? field(&a[i], off) / y : 0;
    }
    return median(v, n < MAX_N ? n : MAX_N);
}

void bench_report_titles(void)
{
    printf("%-5s %-4s %-15s %10s %8s %8s %10s %5s %8s %10s\n", "case", "in",
           "server", "msgs/s", "p50 us", "p99 us", "cpu us/msg", "sys%",
           "msgs/run", "cli us/msg");
}

void bench_report_row(const char *op, unsigned depth, const char *server,
                      const struct bench_sample *s, int n)
{
    char in[16];

    snprintf(in, sizeof(in), "x%u", depth);
    printf("%-5s %-4s %-15s %10.0f %8.1f %8.1f %10.2f %5.0f %8.2f %10.2f\n",
           op, in, server,
           med(s, n, offsetof(struct bench_sample, mps)),
           med(s, n, offsetof(struct bench_sample, p50)),
           med(s, n, offsetof(struct bench_sample, p99)),
           med(s, n, offsetof(struct bench_sample, cpu_us)),
           med(s, n, offsetof(struct bench_sample, sys_pct)),
           med(s, n, offsetof(struct bench_sample, msgs_per_run)),
           med(s, n, offsetof(struct bench_sample, cli_us)));
}

void bench_report_ratio(const char *op, unsigned depth, const char *server,
                        const struct bench_sample *s,
                        const struct bench_sample *echo, int n)
{
    bench_report_ratio_to(op, depth, server, "echo", s, echo, n);
}

void bench_report_ratio_to(const char *op, unsigned depth, const char *server,
                           const char *ref, const struct bench_sample *s,
                           const struct bench_sample *echo, int n)
{
    char in[16], who[40];

    snprintf(in, sizeof(in), "x%u", depth);
    snprintf(who, sizeof(who), "%s/%s", server, ref);
    printf("%-5s %-4s %-15s %10.3f %8.2f %8.2f %10.3f\n", op, in, who,
           med_ratio(s, echo, n, offsetof(struct bench_sample, mps)),
           med_ratio(s, echo, n, offsetof(struct bench_sample, p50)),
           med_ratio(s, echo, n, offsetof(struct bench_sample, p99)),
           med_ratio(s, echo, n, offsetof(struct bench_sample, cpu_us)));
}

void bench_ratios(const struct bench_sample *s, const struct bench_sample *echo,
                  int n, double *mps, double *cpu)
{
    *mps = med_ratio(s, echo, n, offsetof(struct bench_sample, mps));
    *cpu = med_ratio(s, echo, n, offsetof(struct bench_sample, cpu_us));
}
