/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Soak: one daemon (a testdev and a gpio) through 10,000 client life
 * cycles (connect, VERSION, DMA_MAP with and without fd, eventfds attached
 * with SET_IRQS, hang-up) and 1,000,000 mixed messages, after which its fd
 * count must be what it was after the warm-up and its RSS within 1 MiB of
 * it.  The figures are printed.
 *
 * SOAK_CYCLES and SOAK_MESSAGES change the counts (the defaults are the
 * issue's).  Under $VFIOUSERD_WRAPPER (valgrind) both are divided by 100;
 * under valgrind or the sanitizers the RSS is printed but not judged (their
 * allocators keep freed memory in quarantine on purpose).
 */
#include "config.h"

#include "proto.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define MIB 1024L /* in kB */
#define BATCH 128
#define SESSION_MESSAGES 20000u
#define SHARED_IOVA 0x10000000ull
#define SHARED_SIZE (1u << 20)
#define MSG_IOVA 0x20000000ull
#define MSG_SIZE (64u << 10)
#define CHURN_IOVA 0x40000000ull

static unsigned env_count(const char *name, unsigned def)
{
    const char *v = getenv(name);
    unsigned n = v != NULL ? (unsigned)strtoul(v, NULL, 0) : def;

    if (v == NULL && harness_wrapped()) {
        n = MAX(n / 100, 1);
    }
    return n;
}

static long rss_kb(pid_t pid)
{
    g_autofree char *path = g_strdup_printf("/proc/%d/status", (int)pid);
    g_autofree char *text = NULL;
    const char *p;

    if (!g_file_get_contents(path, &text, NULL, NULL)) {
        return -1;
    }
    p = strstr(text, "VmRSS:");
    return p != NULL ? strtol(p + 6, NULL, 10) : -1;
}

struct figures {
    int fds;
    long rss;
};

static struct figures measure(struct harness *h, const char *when)
{
    struct figures f = { harness_fd_count(h->pid), rss_kb(h->pid) };

    printf("soak: %-28s fds %d, VmRSS %ld kB\n", when, f.fds, f.rss);
    fflush(stdout);
    return f;
}

/* The daemon has dropped the client when its fds are back to baseline. */
static void wait_fds(struct harness *h, int want)
{
    gint64 deadline = g_get_monotonic_time() + 30 * G_USEC_PER_SEC;
    int n;

    /* (pt_fd_count_settle polls every 5 ms: too slow for 10,000 rounds) */
    while ((n = harness_fd_count(h->pid)) != want &&
           g_get_monotonic_time() < deadline) {
        g_usleep(100);
    }
    ck_assert_msg(n == want, "the daemon has %d fds after a client left, "
                  "expected %d", n, want);
}

/* ------------------------------------------------------------------------
 * Life cycles
 */
static void life_cycle(struct harness *h, const char *dev, unsigned i,
                       unsigned nr_msix, int base_fds)
{
    struct vfu_client *c = pt_open(h, dev);
    int mem = pt_memfd(64 << 10);
    int efds[5];
    unsigned n = 0;
    int r;

    r = vfu_client_dma_map(c, 0x100000, 64 << 10, mem, 0,
                           VFIO_USER_F_DMA_REGION_READ | VFIO_USER_F_DMA_REGION_WRITE);
    ck_assert_msg(r == 0, "cycle %u: DMA_MAP with fd: %s", i, strerror(-r));
    close(mem);
    r = vfu_client_dma_map(c, 0x200000, 4096, -1, 0, VFIO_USER_F_DMA_REGION_READ);
    ck_assert_msg(r == 0, "cycle %u: DMA_MAP without fd: %s", i, strerror(-r));

    efds[n++] = pt_eventfd();
    pt_irq_attach(c, PT_IRQ_INTX, 0, 1, efds);
    efds[n++] = pt_eventfd();
    pt_irq_attach(c, PT_IRQ_ERR, 0, 1, &efds[1]);
    if (nr_msix > 0) {
        for (unsigned k = 0; k < 3; k++) {
            efds[n++] = pt_eventfd();
        }
        pt_irq_attach(c, PT_IRQ_MSIX, 0, MIN(nr_msix, 3u), &efds[2]);
    }
    pt_close_fds(efds, n);
    vfu_client_close(c);
    wait_fds(h, base_fds);
}

static unsigned msix_count(struct harness *h, const char *dev, int base_fds)
{
    struct vfu_client *c = pt_open(h, dev);
    struct vfio_user_irq_info info;

    ck_assert_int_eq(vfu_client_irq_info(c, PT_IRQ_MSIX, &info), 0);
    vfu_client_close(c);
    wait_fds(h, base_fds);
    return info.count;
}

static void run_cycles(struct harness *h, unsigned n, int base_fds)
{
    unsigned msix_t0 = msix_count(h, "t0", base_fds);
    unsigned msix_g0 = msix_count(h, "g0", base_fds);

    for (unsigned i = 0; i < n; i++) {
        bool t = i % 2 == 0;

        life_cycle(h, t ? "t0" : "g0", i, t ? msix_t0 : msix_g0, base_fds);
    }
}

/* ------------------------------------------------------------------------
 * Mixed messages: pipelined batches on testdev
 */
struct expect {
    uint16_t id;
    int err;           /* expected errno, 0: success */
    bool check_value;  /* a SCRATCH read: payload must hold value */
    uint32_t value;
};

struct session {
    struct vfu_client *c;
    uint16_t id;
    uint32_t scratch; /* what SCRATCH holds once the batch is served */
    uint64_t seq;
    uint64_t msgs; /* messages sent */
};

static void add(struct session *s, GByteArray *buf, struct expect *ex,
                unsigned *nex, uint16_t cmd, uint32_t flags, const void *p,
                size_t len, int err)
{
    uint16_t id = s->id++;

    pt_msg_append(buf, id, cmd, flags, p, len);
    s->msgs++;
    if (!(flags & VFIO_USER_F_NO_REPLY)) {
        ex[*nex] = (struct expect){ .id = id, .err = err };
        (*nex)++;
    }
}

/* One message of kind k into the batch. */
static void add_kind(struct session *s, GByteArray *buf, struct expect *ex,
                     unsigned *nex, unsigned k)
{
    struct {
        struct pt_region_access a;
        uint32_t v;
    } __attribute__((packed)) w = {
        .a = { .offset = TD_SCRATCH, .region = PT_BAR0, .count = 4 },
    };
    struct vfio_user_region_access rd = { .offset = TD_SCRATCH, .region = PT_BAR0,
                                          .count = 4 };
    struct vfio_user_device_info di = { .argsz = sizeof(di) };
    struct vfio_user_irq_info ii = { .argsz = sizeof(ii), .index = PT_IRQ_MSIX };
    struct vfio_user_region_info ri = { .argsz = sizeof(ri), .index = PT_BAR2 };
    struct vfio_user_dma_map map = {
        .argsz = sizeof(map), .flags = VFIO_USER_F_DMA_REGION_READ,
        .addr = CHURN_IOVA + (s->seq % 64) * 4096, .size = 4096,
    };
    struct vfio_user_dma_unmap unmap = {
        .argsz = sizeof(unmap), .addr = map.addr, .size = 4096,
    };
    struct vfio_user_irq_set irq = {
        .argsz = sizeof(irq), .index = PT_IRQ_MSIX, .start = 0, .count = 1,
    };
    struct vfio_user_region_access bad = { .offset = 0x1000, .region = PT_BAR0,
                                           .count = 4 };

    switch (k) {
    case 0: /* write with a reply */
    case 1: /* posted write */
        w.v = (uint32_t)s->seq;
        s->scratch = w.v;
        add(s, buf, ex, nex, VFIO_USER_REGION_WRITE,
            k == 1 ? VFIO_USER_F_NO_REPLY : 0, &w, sizeof(w), 0);
        break;
    case 2:
    case 3:
        add(s, buf, ex, nex, VFIO_USER_REGION_READ, 0, &rd, sizeof(rd), 0);
        ex[*nex - 1].check_value = true;
        ex[*nex - 1].value = s->scratch;
        break;
    case 4:
        rd.region = PT_CONFIG;
        rd.offset = 0;
        rd.count = 64;
        add(s, buf, ex, nex, VFIO_USER_REGION_READ, 0, &rd, sizeof(rd), 0);
        break;
    case 5:
        add(s, buf, ex, nex, VFIO_USER_DEVICE_GET_INFO, 0, &di, sizeof(di), 0);
        break;
    case 6:
        add(s, buf, ex, nex, VFIO_USER_DEVICE_GET_IRQ_INFO, 0, &ii, sizeof(ii), 0);
        break;
    case 7: /* short argsz: no fd in the reply */
        add(s, buf, ex, nex, VFIO_USER_DEVICE_GET_REGION_INFO, 0, &ri, sizeof(ri), 0);
        break;
    case 8:
        add(s, buf, ex, nex, VFIO_USER_DMA_MAP, 0, &map, sizeof(map), 0);
        add(s, buf, ex, nex, VFIO_USER_DMA_UNMAP, 0, &unmap, sizeof(unmap), 0);
        break;
    case 9:
        irq.flags = PT_MASK | PT_NONE;
        add(s, buf, ex, nex, VFIO_USER_DEVICE_SET_IRQS, 0, &irq, sizeof(irq), 0);
        irq.flags = PT_UNMASK | PT_NONE;
        add(s, buf, ex, nex, VFIO_USER_DEVICE_SET_IRQS, 0, &irq, sizeof(irq), 0);
        break;
    case 10: /* outside BAR0 */
        add(s, buf, ex, nex, VFIO_USER_REGION_READ, 0, &bad, sizeof(bad), EINVAL);
        break;
    default: /* a command nobody knows */
        add(s, buf, ex, nex, 200, 0, NULL, 0, ENOSYS);
        break;
    }
    s->seq++;
}

#define KINDS 12

/* Send up to n messages as one write and check every reply. */
static unsigned batch(struct session *s, unsigned n)
{
    g_autoptr(GByteArray) buf = g_byte_array_new();
    struct expect ex[BATCH + 2];
    uint64_t first = s->msgs;
    unsigned nex = 0;

    /* (kinds 8 and 9 are two messages: a batch may end one over n) */
    while (s->msgs - first < n) {
        add_kind(s, buf, ex, &nex, (unsigned)(s->seq % KINDS));
    }
    ck_assert_int_eq(vfu_client_send_raw(s->c, buf->data, buf->len, NULL, 0), 0);
    for (unsigned i = 0; i < nex; i++) {
        struct vfio_user_header h;
        void *body = NULL;
        size_t len = 0;
        int r = vfu_client_recv_reply(s->c, ex[i].id, &h, &body, &len, NULL, NULL);

        ck_assert_msg(r == -ex[i].err, "id %#x (%s): %s, expected %s", ex[i].id,
                      vfio_user_command_name(h.cmd), r == 0 ? "ok" : strerror(-r),
                      ex[i].err == 0 ? "ok" : strerror(ex[i].err));
        if (ex[i].check_value) {
            uint32_t v;

            ck_assert_uint_eq(len, sizeof(struct vfio_user_region_access) + 4);
            memcpy(&v, (uint8_t *)body + sizeof(struct vfio_user_region_access), 4);
            ck_assert_msg(v == ex[i].value, "SCRATCH read %#x, wrote %#x (in order)",
                          v, ex[i].value);
        }
        free(body);
    }
    return (unsigned)(s->msgs - first);
}

/* A DMA through the device into each kind of window, checked. */
static void device_dma(struct vfu_client *c, uint64_t iova, uint32_t fill)
{
    uint32_t st = pt_dma(c, TD_OP_FILL, 0, iova, 4096, fill);
    const uint32_t *p = vfu_client_guest_ptr(c, iova, 4096);

    ck_assert_msg(!(st & TD_ST_ERROR), "DMA fill at %#llx failed: %s",
                  (unsigned long long)iova, strerror((int)TD_ST_ERRNO(st)));
    ck_assert_ptr_nonnull(p);
    ck_assert_uint_eq(p[0], fill);
    ck_assert_uint_eq(p[1023], fill);
}

static uint64_t message_session(struct harness *h, unsigned n, int base_fds)
{
    struct session s = { .id = 1 };
    int efds[4];
    uint64_t done = 0;

    s.c = pt_open(h, "t0");
    ck_assert_ptr_nonnull(vfu_client_add_memory(s.c, SHARED_IOVA, SHARED_SIZE, true));
    ck_assert_ptr_nonnull(vfu_client_add_memory(s.c, MSG_IOVA, MSG_SIZE, false));
    for (unsigned i = 0; i < 4; i++) {
        efds[i] = pt_eventfd();
    }
    pt_irq_attach(s.c, PT_IRQ_MSIX, 0, 4, efds);
    pt_bus_master(s.c, true);
    while (done < n) {
        done += batch(&s, (unsigned)MIN((uint64_t)BATCH, n - done));
        if (done % (BATCH * 40) < BATCH) {
            device_dma(s.c, SHARED_IOVA + (done % 16) * 4096, (uint32_t)done);
            device_dma(s.c, MSG_IOVA, ~(uint32_t)done);
        }
    }
    pt_close_fds(efds, 4);
    vfu_client_close(s.c);
    wait_fds(h, base_fds);
    return done;
}

static uint64_t run_messages(struct harness *h, unsigned n, int base_fds)
{
    uint64_t done = 0;

    while (done < n) {
        done += message_session(h, (unsigned)MIN((uint64_t)SESSION_MESSAGES, n - done),
                                base_fds);
    }
    return done;
}

/* ------------------------------------------------------------------------
 * The test
 */
START_TEST(soak)
{
    static const char *const names[] = { "t0", "g0", NULL };
    unsigned cycles = env_count("SOAK_CYCLES", 10000);
    unsigned messages = env_count("SOAK_MESSAGES", 1000000);
    /* (the [daemon] section is open: keep its log short) */
    struct harness *h = pt_start("log-level = notice\n"
                                 "[t0]\nplugin = testdev\n[g0]\nplugin = gpio\n",
                                 names);
    struct figures base, mid, end;
    gint64 t0, t1, t2;
    uint64_t sent;
    int idle_fds;

    /* Warm-up: let the allocators reach their working size first. */
    idle_fds = harness_fd_count(h->pid);
    run_cycles(h, MIN(cycles, 200u), idle_fds);
    run_messages(h, MIN(messages, 2 * SESSION_MESSAGES), idle_fds);
    base = measure(h, "after warm-up:");

    t0 = g_get_monotonic_time();
    run_cycles(h, cycles, base.fds);
    t1 = g_get_monotonic_time();
    mid = measure(h, "after the life cycles:");
    sent = run_messages(h, messages, base.fds);
    t2 = g_get_monotonic_time();
    end = measure(h, "after the messages:");

    printf("soak: %u life cycles in %.1f s (%.0f/s); %llu messages in %.1f s "
           "(%.0f/s)\n", cycles, (t1 - t0) / 1e6, cycles / ((t1 - t0) / 1e6),
           (unsigned long long)sent, (t2 - t1) / 1e6, sent / ((t2 - t1) / 1e6));
    printf("soak: fds %d -> %d -> %d; VmRSS %ld -> %ld -> %ld kB (%+ld kB)\n",
           base.fds, mid.fds, end.fds, base.rss, mid.rss, end.rss,
           end.rss - base.rss);
    fflush(stdout);

    ck_assert_int_eq(mid.fds, base.fds);
    ck_assert_int_eq(end.fds, base.fds);
    if (harness_rss_meaningful()) {
        ck_assert_msg(mid.rss - base.rss <= MIB && end.rss - base.rss <= MIB,
                      "the daemon's RSS grew from %ld to %ld to %ld kB",
                      base.rss, mid.rss, end.rss);
    } else {
        printf("soak: RSS not judged (valgrind or sanitizers)\n");
    }
    pt_finish(h);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("soak");
    TCase *tc = pt_tcase("soak");

    /* Minutes, not seconds: CK_TIMEOUT_MULTIPLIER still scales it. */
    tcase_set_timeout(tc, 900);
    tcase_add_test(tc, soak);
    suite_add_tcase(s, tc);
    return pt_run(s);
}
