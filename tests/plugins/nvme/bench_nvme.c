/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Rough hot-path benchmark of the NVMe plugin in the fake daemon: one
 * "guest" thread keeps QD commands of 4 KiB in flight on one queue against
 * the null (or a file) back-end and reports IOPS.  Guest memory is shared
 * (fd-backed), so this measures the controller, not the transport.
 *
 *   bench_nvme [shadow|poll|trapped] [qd] [seconds] [null|file]
 */
#include "config.h"

#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "nvme_tdrv_fake.h"

static double now(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static double cpu(clockid_t id)
{
    struct timespec ts;

    clock_gettime(id, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

int main(int argc, char **argv)
{
    const char *mode = argc > 1 ? argv[1] : "shadow";
    unsigned qd = argc > 2 ? (unsigned)atoi(argv[2]) : 32;
    double secs = argc > 3 ? atof(argv[3]) : 2.0;
    bool null = !(argc > 4 && strcmp(argv[4], "file") == 0);
    const char *extra_null[] = { "backend", "null", "size", "64G",
                                 "doorbells", strcmp(mode, "poll") ? "shadow" : "poll",
                                 NULL };
    const char *extra_file[] = { "doorbells", strcmp(mode, "poll") ? "shadow" : "poll",
                                 NULL };
    struct tdrv d;
    uint64_t buf, n = 0;
    double t0, c0, elapsed;

    if (access(td_plugin_path(), R_OK) != 0) {
        fprintf(stderr, "plugin %s not built\n", td_plugin_path());
        return 77;
    }
    if (td_open(&d, null ? 0 : 1ull << 30, false, null ? extra_null : extra_file) < 0 ||
        td_enable(&d, 32) < 0 || td_create_io_queue(&d, 1, 1024) != 0) {
        fprintf(stderr, "set-up failed\n");
        return 1;
    }
    if (strcmp(mode, "shadow") == 0 && td_enable_shadow(&d) != 0) {
        fprintf(stderr, "no shadow doorbells\n");
        return 1;
    }
    buf = td_alloc(&d, 4096ull * qd, 4096);
    for (unsigned i = 0; i < qd; i++) {
        struct nvme_sqe c;

        memset(&c, 0, sizeof(c));
        c.opcode = NVME_CMD_READ;
        c.nsid = 1;
        c.cdw10 = i * 8;
        c.cdw12 = 7;
        c.dptr1 = buf + 4096ull * i;
        td_queue_cmd(&d, 1, &c);
    }
    td_ring(&d, 1);
    t0 = now();
    c0 = cpu(CLOCK_PROCESS_CPUTIME_ID);
    while ((elapsed = now() - t0) < secs) {
        struct nvme_cqe e;
        unsigned got = 0;

        while (td_cqe_ready(&d, 1)) {
            struct nvme_sqe c;

            if (td_wait(&d, 1, &e) < 0 || td_status(&e) != 0) {
                fprintf(stderr, "I/O error\n");
                return 1;
            }
            memset(&c, 0, sizeof(c));
            c.opcode = NVME_CMD_READ;
            c.nsid = 1;
            c.cdw10 = (uint32_t)((n * 8) % (1u << 20));
            c.cdw12 = 7;
            c.dptr1 = buf + 4096ull * (n % qd);
            td_queue_cmd(&d, 1, &c);
            n++;
            got++;
        }
        if (got) {
            td_ring(&d, 1);
        } else {
            sched_yield(); /* share a core with the poller gracefully */
        }
    }
    printf("%s %s qd=%u: %.0f IOPS, process CPU %.2f cores, doorbell writes %u\n",
           mode, null ? "null" : "file", qd, n / elapsed,
           (cpu(CLOCK_PROCESS_CPUTIME_ID) - c0) / elapsed, d.rings);
    td_close(&d);
    return 0;
}
