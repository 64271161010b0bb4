/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The NVMe plugin in the real daemon, driven the way QEMU and a guest's
 * driver drive it, with no guest: the client library (common/client)
 * connects to the device's socket, gives it guest memory with DMA_MAP,
 * connects MSI-X eventfds with SET_IRQS, turns bus mastering on and runs
 * the test driver (nvme_tdrv.h) over REGION_READ/REGION_WRITE of BAR0,
 * doorbells as posted writes.
 *
 * Most tests run twice (Check loop index): with guest memory shared as a
 * memfd (the daemon works on it in place: no DMA message may be seen), and
 * message-only (every access is a DMA_READ/DMA_WRITE the client answers).
 * test_read_write runs a third time with the memfd sent but mapped
 * privately by the client (QEMU's share=off): the daemon must notice and
 * use messages.  What each test asserts is said above it.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <glib.h>

#include "nvme_tdrv_vfu.h"
#include "proto.h"

#define NS_SIZE  (64ull << 20)
#define SERIAL   "VFUD-DAEMON-TEST-01"
#define MODEL    "vfiouserd NVMe daemon test"
#define FIRMWARE "T1.2.3"
#define QUEUES   4

/* The loop index of the tests that run in both memory modes. */
#define SHARED(i) ((i) == 0)

struct nd {
    struct harness *h;
    struct vfu_client *cl;
    struct tdrv d;
    bool share;
    bool priv;
    bool poll;
    char *img; /* namespace 1's backing file */
};

static struct nd N;

/* ------------------------------------------------------------------------
 * The daemon and the "guest"
 */

/* Start a daemon with one nvme device "nvme0" (namespace 1: a 64 MiB
 * sparse file; extra: more keys for its section). */
static void nd_start(const char *extra, bool share)
{
    g_autofree char *cfg = g_strdup_printf(
        "[nvme0]\n"
        "plugin = nvme\n"
        "serial = " SERIAL "\n"
        "model = " MODEL "\n"
        "firmware = " FIRMWARE "\n"
        "queues = %d\n"
        "namespace.1.path = @DIR@/ns1.img\n"
        "namespace.1.size = %llu\n"
        "%s\n",
        QUEUES, NS_SIZE, extra ? extra : "");
    static const char *const names[] = { "nvme0", NULL };

    memset(&N, 0, sizeof(N));
    N.share = share;
    N.poll = extra && strstr(extra, "doorbells = poll");
    N.h = pt_start(cfg, names);
    N.img = g_build_filename(N.h->dir, "ns1.img", NULL);
}

/* Connect a client and make it the device's guest. */
static void nd_connect(void)
{
    struct td_vfu_opts o = {
        .share = N.share,
        .private_mem = N.priv,
        .poll_doorbells = N.poll,
        .vectors = QUEUES + 1,
    };
    int r;

    N.cl = pt_open(N.h, "nvme0");
    r = td_vfu_attach(&N.d, N.cl, &o);
    ck_assert_msg(r == 0, "guest set-up: %s", strerror(-r));
    N.d.timeout_ms = harness_wrapped() ? 60000 : 10000;
}

/* Controller enabled (admin queue of 32), I/O queue 1 of 64 entries. */
static void nd_up_with(const char *extra, bool share)
{
    nd_start(extra, share);
    nd_connect();
    ck_assert_int_eq(td_enable(&N.d, 32), 0);
    ck_assert_int_eq(td_create_io_queue(&N.d, 1, 64), 0);
}

static void nd_up(bool share)
{
    nd_up_with(NULL, share);
}

/* Loop index 0: shared, 1: message-only, 2: private memory with its fd. */
static void nd_up_mem(int mode)
{
    nd_start(NULL, mode != 1);
    N.priv = mode == 2;
    nd_connect();
    ck_assert_int_eq(td_enable(&N.d, 32), 0);
    ck_assert_int_eq(td_create_io_queue(&N.d, 1, 64), 0);
}

static void nd_disconnect(void)
{
    ck_assert_msg(td_vfu_error(&N.d) == 0, "a message failed: %s",
                  strerror(-td_vfu_error(&N.d)));
    td_vfu_detach(&N.d);
    pt_close_wait(N.h, N.cl);
    N.cl = NULL;
}

/* Disconnect and stop the daemon, which must exit 0 (and, under valgrind,
 * without errors or leaks). */
static void nd_down(void)
{
    nd_disconnect();
    pt_finish(N.h);
    g_free(N.img);
    memset(&N, 0, sizeof(N));
}

/* DMA messages the client answered so far. */
static uint64_t dma_msgs(void)
{
    uint64_t r = 0, w = 0;

    vfu_client_dma_stats(N.cl, &r, &w);
    return r + w;
}

/* ------------------------------------------------------------------------
 * Commands and data
 */
static struct nvme_sqe cmd(uint8_t opc)
{
    struct nvme_sqe c;

    memset(&c, 0, sizeof(c));
    c.opcode = opc;
    return c;
}

static struct nvme_sqe rw_cmd(uint8_t opc, uint64_t slba, uint32_t nlb)
{
    struct nvme_sqe c = cmd(opc);

    c.nsid = 1;
    c.cdw10 = (uint32_t)slba;
    c.cdw11 = (uint32_t)(slba >> 32);
    c.cdw12 = nlb - 1;
    return c;
}

/* Submit and wait; the status, with the whole CQE in *e if not NULL.
 * Every error completion must carry Do Not Retry. */
static int run(uint16_t qid, struct nvme_sqe *c, struct nvme_cqe *e)
{
    struct nvme_cqe tmp;
    int st;

    if (!e) {
        e = &tmp;
    }
    st = td_cmd(&N.d, qid, c, e);
    ck_assert_msg(st >= 0, "opcode %#x on queue %u: no completion", c->opcode,
                  qid);
    if (st != 0 && st != NVME_SC_ABORT_REQ) {
        ck_assert_msg(e->status & NVME_CQE_DNR, "status %#x without DNR", st);
    }
    return st;
}

static int admin(struct nvme_sqe *c, struct nvme_cqe *e)
{
    return run(0, c, e);
}

static void fill(uint64_t iova, size_t len, unsigned seed)
{
    uint8_t *p = td_ptr(&N.d, iova);

    for (size_t i = 0; i < len; i++) {
        p[i] = (uint8_t)(seed * 131 + i * 7 + (i >> 9));
    }
}

static void read_file(uint64_t off, void *buf, size_t len)
{
    int fd = open(N.img, O_RDONLY);

    ck_assert_int_ge(fd, 0);
    ck_assert_int_eq(pread(fd, buf, len, (off_t)off), (ssize_t)len);
    close(fd);
}

static void check_file(uint64_t off, const void *expect, size_t len)
{
    uint8_t *buf = g_malloc(len);

    read_file(off, buf, len);
    ck_assert_msg(memcmp(buf, expect, len) == 0,
                  "backing file differs at %#llx (+%zu)",
                  (unsigned long long)off, len);
    g_free(buf);
}

static bool all_zero(const uint8_t *p, size_t len)
{
    for (size_t i = 0; i < len; i++) {
        if (p[i]) {
            return false;
        }
    }
    return true;
}

/* Write nlb blocks from src at slba, read them back into dst (same
 * shape), compare with each other and with the file. */
static void roundtrip(uint64_t src, uint64_t dst, uint64_t slba, uint32_t nlb)
{
    size_t len = (size_t)nlb * 512;

    fill(src, len, (unsigned)slba);
    memset(td_ptr(&N.d, dst), 0, len);
    ck_assert_int_eq(td_rw(&N.d, 1, NVME_CMD_WRITE, slba, nlb, src, 0), 0);
    ck_assert_int_eq(td_rw(&N.d, 1, NVME_CMD_READ, slba, nlb, dst, 0), 0);
    ck_assert_int_eq(memcmp(td_ptr(&N.d, src), td_ptr(&N.d, dst), len), 0);
    check_file(slba * 512, td_ptr(&N.d, src), len);
}

static void set_sgl(struct nvme_sqe *c, uint64_t addr, uint32_t len,
                    uint8_t type)
{
    struct nvme_sgl_desc d = { addr, len, { 0 }, (uint8_t)(type << 4) };

    c->flags = 1 << 6; /* PSDT: SGL */
    memcpy(&c->dptr1, &d, 16);
}

static void put_desc(uint64_t at, uint64_t addr, uint32_t len, uint8_t type)
{
    struct nvme_sgl_desc d = { addr, len, { 0 }, (uint8_t)(type << 4) };

    memcpy(td_ptr(&N.d, at), &d, 16);
}

static int identify(uint8_t cns, uint32_t nsid, uint64_t *buf)
{
    struct nvme_sqe c = cmd(NVME_ADM_IDENTIFY);

    *buf = td_alloc(&N.d, 4096, 4096);
    memset(td_ptr(&N.d, *buf), 0xee, 4096);
    c.nsid = nsid;
    c.dptr1 = *buf;
    c.cdw10 = cns;
    return admin(&c, NULL);
}

static uint32_t get_feature(uint8_t fid, int *st)
{
    struct nvme_sqe c = cmd(NVME_ADM_GET_FEATURES);
    struct nvme_cqe e;

    c.cdw10 = fid;
    *st = admin(&c, &e);
    return e.dw0;
}

static int get_log(uint8_t lid, uint64_t *buf, uint32_t len)
{
    struct nvme_sqe c = cmd(NVME_ADM_GET_LOG_PAGE);

    *buf = td_alloc(&N.d, 4096, 4096);
    c.nsid = NVME_NSID_ALL;
    c.dptr1 = *buf;
    c.cdw10 = lid | (len / 4 - 1) << 16;
    return admin(&c, NULL);
}

static uint64_t le64_at(uint64_t iova)
{
    uint64_t v;

    memcpy(&v, td_ptr(&N.d, iova), 8);
    return v;
}

/* Space-padded ASCII field of an Identify structure equals s. */
static void assert_field(const uint8_t *p, size_t width, const char *s)
{
    size_t n = strlen(s);

    ck_assert_msg(memcmp(p, s, n) == 0, "field is \"%.*s\", configured \"%s\"",
                  (int)width, (const char *)p, s);
    for (size_t i = n; i < width; i++) {
        ck_assert_uint_eq(p[i], ' ');
    }
}

/* ------------------------------------------------------------------------
 * Bring-up and the admin command set
 */

/* The device as a guest's PCI core sees it, then the controller brought up
 * as Linux does it: CAP/VS, AQA/ASQ/ACQ, CC.EN, RDY; Identify agrees with
 * the configuration; the admin queue's completions raise MSI-X vector 0. */
START_TEST(test_bringup)
{
    struct vfio_user_region_info ri;
    uint64_t cap, b;
    uint16_t v16;
    uint32_t v32;
    uint8_t *d;
    int st;

    nd_start(NULL, SHARED(_i));
    N.cl = pt_open(N.h, "nvme0");
    ck_assert_int_eq(vfu_client_cfg_read16(N.cl, PCI_VENDOR_ID, &v16), 0);
    ck_assert_uint_eq(v16, 0x4e56);
    ck_assert_int_eq(vfu_client_cfg_read16(N.cl, PCI_DEVICE_ID, &v16), 0);
    ck_assert_uint_eq(v16, 0x6d65);
    ck_assert_int_eq(vfu_client_cfg_read32(N.cl, PCI_CLASS_REVISION, &v32), 0);
    ck_assert_uint_eq(v32 >> 8, 0x010802);
    ck_assert_uint_ne(pt_find_cap(N.cl, PCI_CAP_ID_MSIX), 0);
    ck_assert_uint_ne(pt_find_cap(N.cl, PCI_CAP_ID_EXP), 0);
    ck_assert_int_ge(vfu_client_region_info(N.cl, 0, &ri, NULL, 0, NULL), 0);
    ck_assert_uint_eq(ri.size, 0x4000);
    vfu_client_close(N.cl);
    pt_log_wait_count(N.h, "client disconnected", 1);

    nd_connect();
    cap = pt_bar0(N.cl, NVME_REG_CAP) | (uint64_t)pt_bar0(N.cl, NVME_REG_CAP + 4) << 32;
    ck_assert_uint_eq(cap & 0xffff, 1023);    /* MQES */
    ck_assert(cap & (1ull << 16));            /* CQR */
    ck_assert_uint_eq((cap >> 32) & 0xf, 0);  /* DSTRD */
    ck_assert(cap & (1ull << 37));            /* CSS: NVM */
    ck_assert_uint_eq(pt_bar0(N.cl, NVME_REG_VS), 0x00010400);
    ck_assert_uint_eq(pt_bar0(N.cl, NVME_REG_CSTS), 0);
    ck_assert_int_eq(td_enable(&N.d, 32), 0);
    ck_assert_uint_eq(pt_bar0(N.cl, NVME_REG_CSTS), NVME_CSTS_RDY);

    ck_assert_int_eq(identify(NVME_CNS_CTRL, 0, &b), 0);
    d = td_ptr(&N.d, b);
    assert_field(d + NVME_IDC_SN, 20, SERIAL);
    assert_field(d + NVME_IDC_MN, 40, MODEL);
    assert_field(d + NVME_IDC_FR, 8, FIRMWARE);
    ck_assert_uint_eq(d[NVME_IDC_MDTS], 5);
    ck_assert_uint_eq(d[NVME_IDC_SQES], 0x66);
    ck_assert_uint_eq(d[NVME_IDC_CQES], 0x44);
    ck_assert_uint_eq(d[NVME_IDC_NN], 1);
    ck_assert_uint_eq(d[NVME_IDC_VWC] & 1, 1);
    ck_assert(d[NVME_IDC_OACS + 1] & 1); /* Doorbell Buffer Config */
    ck_assert_uint_ge(td_vfu_irqs(&N.d, 0), 1);

    ck_assert_int_eq(identify(NVME_CNS_NS, 1, &b), 0);
    ck_assert_uint_eq(le64_at(b + NVME_IDNS_NSZE), NS_SIZE / 512);
    ck_assert_uint_eq(le64_at(b + NVME_IDNS_NCAP), NS_SIZE / 512);
    d = td_ptr(&N.d, b);
    ck_assert_uint_eq(d[NVME_IDNS_FLBAS] & 0xf, 0);
    ck_assert_uint_eq(d[NVME_IDNS_LBAF + 2], 9); /* 512-byte blocks */
    ck_assert_int_eq(identify(NVME_CNS_NS_ACTIVE_LIST, 0, &b), 0);
    d = td_ptr(&N.d, b);
    ck_assert_uint_eq(d[0], 1);
    ck_assert_uint_eq(d[4], 0);
    ck_assert_int_eq(identify(NVME_CNS_NS_DESC_LIST, 1, &b), 0);
    d = td_ptr(&N.d, b);
    ck_assert_uint_ne(d[0], 0); /* a descriptor (EUI-64, NGUID, UUID) */

    /* 4 queue pairs offered (0-based counts) */
    ck_assert_uint_eq(get_feature(NVME_FEAT_NUM_QUEUES, &st), 0x00030003);
    ck_assert_int_eq(st, 0);
    for (uint16_t q = 1; q <= QUEUES; q++) {
        ck_assert_int_eq(td_create_io_queue(&N.d, q, 16), 0);
    }
    for (uint16_t q = 1; q <= QUEUES; q++) {
        uint64_t a = td_alloc(&N.d, 4096, 4096);

        ck_assert_int_eq(td_rw(&N.d, q, NVME_CMD_READ, q, 8, a, 0), 0);
        ck_assert_uint_ge(td_vfu_irqs(&N.d, q), 1);
    }
    ck_assert_int_eq(td_disable(&N.d), 0);
    ck_assert_uint_eq(pt_bar0(N.cl, NVME_REG_CSTS), 0);
    ck_assert_int_eq(td_enable(&N.d, 2), 0); /* the smallest admin queue */
    ck_assert_int_eq(identify(NVME_CNS_CTRL, 0, &b), 0);
    nd_down();
}
END_TEST

/* Every admin command the controller implements answers as it should,
 * and the queue management errors carry their command-specific status. */
START_TEST(test_admin)
{
    struct nvme_sqe c;
    struct nvme_cqe e;
    uint64_t b, a;
    int st;

    nd_up(SHARED(_i));
    /* queue creation errors */
    c = cmd(NVME_ADM_CREATE_CQ);
    c.dptr1 = td_alloc(&N.d, 4096, 4096);
    c.cdw10 = (QUEUES + 1) | 15u << 16;
    c.cdw11 = 3;
    ck_assert_int_eq(admin(&c, NULL), NVME_SC_QID_INVALID);
    c.cdw10 = 2 | 4095u << 16; /* above MQES */
    ck_assert_int_eq(admin(&c, NULL), NVME_SC_QUEUE_SIZE);
    c.cdw10 = 2 | 15u << 16;
    c.cdw11 = 3 | (QUEUES + 1u) << 16; /* no such MSI-X vector */
    ck_assert_int_eq(admin(&c, NULL), NVME_SC_INVALID_VECTOR);
    c.cdw11 = 3 | 2u << 16;
    c.dptr1 += 8; /* not page aligned */
    ck_assert_int_eq(admin(&c, NULL), NVME_SC_PRP_INVALID_OFFSET);
    c = cmd(NVME_ADM_CREATE_SQ);
    c.dptr1 = td_alloc(&N.d, 4096, 4096);
    c.cdw10 = 2 | 15u << 16;
    c.cdw11 = 1 | 3u << 16; /* CQ 3 does not exist */
    ck_assert_int_eq(admin(&c, NULL), NVME_SC_CQ_INVALID);
    c = cmd(NVME_ADM_DELETE_CQ);
    c.cdw10 = 1; /* SQ 1 still uses it */
    ck_assert_int_eq(admin(&c, NULL), NVME_SC_INVALID_QUEUE_DELETION);
    /* delete queue pair 1 and create it again */
    c = cmd(NVME_ADM_DELETE_SQ);
    c.cdw10 = 1;
    ck_assert_int_eq(admin(&c, NULL), 0);
    c = cmd(NVME_ADM_DELETE_CQ);
    c.cdw10 = 1;
    ck_assert_int_eq(admin(&c, NULL), 0);
    ck_assert_int_eq(admin(&c, NULL), NVME_SC_QID_INVALID);
    ck_assert_int_eq(td_create_io_queue(&N.d, 1, 32), 0);

    /* features: volatile write cache on, then off and back */
    ck_assert_uint_eq(get_feature(NVME_FEAT_VOLATILE_WC, &st), 1);
    ck_assert_int_eq(st, 0);
    c = cmd(NVME_ADM_SET_FEATURES);
    c.cdw10 = NVME_FEAT_VOLATILE_WC;
    c.cdw11 = 0;
    ck_assert_int_eq(admin(&c, NULL), 0);
    ck_assert_uint_eq(get_feature(NVME_FEAT_VOLATILE_WC, &st), 0);
    c.cdw11 = 1;
    ck_assert_int_eq(admin(&c, NULL), 0);
    ck_assert_uint_eq(get_feature(NVME_FEAT_TEMP_THRESH, &st) & 0xffff, 343);
    ck_assert_int_eq(st, 0);
    get_feature(0x7f, &st);
    ck_assert_int_eq(st, NVME_SC_INVALID_FIELD);

    /* SMART counts what was written */
    a = td_alloc(&N.d, 65536, 4096);
    for (int i = 0; i < 16; i++) {
        ck_assert_int_eq(td_rw(&N.d, 1, NVME_CMD_WRITE, 128ull * i, 128, a, 0), 0);
    }
    ck_assert_int_eq(get_log(NVME_LOG_SMART, &b, 512), 0);
    ck_assert_uint_eq(le64_at(b + 48), 3);  /* 2048 units: 3 thousands */
    ck_assert_uint_ge(le64_at(b + 80), 16); /* host write commands */
    ck_assert_int_eq(get_log(NVME_LOG_FW_SLOT, &b, 512), 0);
    assert_field((uint8_t *)td_ptr(&N.d, b) + 8, 8, FIRMWARE);
    ck_assert_int_eq(get_log(NVME_LOG_CMD_EFFECTS, &b, 4096), 0);
    ck_assert(*(uint32_t *)td_ptr(&N.d, b + 1024 + 4 * NVME_CMD_WRITE) & 1);
    ck_assert_int_eq(get_log(0x70, &b, 512), NVME_SC_INVALID_LOG_PAGE);

    /* an Asynchronous Event Request stays outstanding; Abort completes */
    c = cmd(NVME_ADM_ASYNC_EVENT);
    td_submit(&N.d, 0, &c);
    c = cmd(NVME_ADM_ABORT);
    c.cdw10 = 0xffffu << 16;
    ck_assert_int_eq(admin(&c, &e), 0);
    ck_assert_uint_eq(e.dw0 & 1, 1); /* not aborted */
    /* Format NVM to 4 KiB blocks and back */
    c = cmd(NVME_ADM_FORMAT_NVM);
    c.nsid = 1;
    c.cdw10 = 1;
    ck_assert_int_eq(admin(&c, NULL), 0);
    ck_assert_int_eq(identify(NVME_CNS_NS, 1, &b), 0);
    ck_assert_uint_eq(le64_at(b + NVME_IDNS_NSZE), NS_SIZE / 4096);
    c.cdw10 = 0;
    ck_assert_int_eq(admin(&c, NULL), 0);
    /* Keep Alive (Identify says KAS 1); not implemented: namespace
     * management */
    c = cmd(NVME_ADM_KEEP_ALIVE);
    ck_assert_int_eq(admin(&c, NULL), 0);
    c = cmd(0x0d);
    ck_assert_int_eq(admin(&c, NULL), NVME_SC_INVALID_OPCODE);
    nd_down();
}
END_TEST

/* ------------------------------------------------------------------------
 * Data pointers
 */

/* Read/Write through every PRP shape and through SGLs; the data reaches
 * the file and comes back.  Shared memory needs no DMA message at all;
 * message-only memory works through them. */
START_TEST(test_read_write)
{
    uint64_t a, b, pages[40], list, seg, seg2;
    struct nvme_sqe c;

    nd_up_mem(_i);
    a = td_alloc(&N.d, 256 << 10, 4096);
    b = td_alloc(&N.d, 256 << 10, 4096);
    roundtrip(a, b, 0, 1);                  /* PRP1, one block */
    roundtrip(a + 512, b + 1024, 7, 2);     /* PRP1 with an offset */
    roundtrip(a, b, 100, 8);                /* exactly one page */
    roundtrip(a, b, 10, 16);                /* PRP1 + PRP2 */
    roundtrip(a + 2048, b + 3072, 50, 8);   /* crossing into PRP2's page */
    roundtrip(a + 4, b + 8, 60, 9);         /* dword offsets */
    roundtrip(a, b, 1000, 128);             /* PRP list */
    roundtrip(a + 512, b + 1536, 2000, 256); /* 128 KiB (MDTS), offset */

    /* a PRP list that starts 3 entries before the end of its page: its
     * last slot chains to the next list page */
    fill(a, 128 << 10, 3);
    for (int dir = 0; dir < 2; dir++) {
        uint64_t buf = dir ? b : a;

        for (int i = 0; i < 31; i++) {
            pages[i] = buf + 4096 * (uint64_t)(i + 1);
        }
        list = td_alloc(&N.d, 8192, 4096) + 4096 - 24;
        c = rw_cmd(dir ? NVME_CMD_READ : NVME_CMD_WRITE, 4096, 256);
        td_build_prp_at(&N.d, &c, buf, pages, 31, list);
        ck_assert_int_eq(run(1, &c, NULL), 0);
    }
    ck_assert_int_eq(memcmp(td_ptr(&N.d, a), td_ptr(&N.d, b), 128 << 10), 0);
    check_file(4096 * 512, td_ptr(&N.d, a), 128 << 10);

    /* SGL: one data block */
    fill(a, 65536, 9);
    c = rw_cmd(NVME_CMD_WRITE, 0, 8);
    set_sgl(&c, a + 400, 4096, NVME_SGL_DATA_BLOCK);
    ck_assert_int_eq(run(1, &c, NULL), 0);
    check_file(0, td_ptr(&N.d, a + 400), 4096);
    /* a last segment of three odd-sized data blocks */
    seg = td_alloc(&N.d, 4096, 16);
    put_desc(seg, a + 1, 1000, NVME_SGL_DATA_BLOCK);
    put_desc(seg + 16, a + 5000, 2000, NVME_SGL_DATA_BLOCK);
    put_desc(seg + 32, a + 20000, 1096, NVME_SGL_DATA_BLOCK);
    c = rw_cmd(NVME_CMD_WRITE, 64, 8);
    set_sgl(&c, seg, 48, NVME_SGL_LAST_SEGMENT);
    ck_assert_int_eq(run(1, &c, NULL), 0);
    check_file(64 * 512, td_ptr(&N.d, a + 1), 1000);
    check_file(64 * 512 + 1000, td_ptr(&N.d, a + 5000), 2000);
    check_file(64 * 512 + 3000, td_ptr(&N.d, a + 20000), 1096);
    /* segment -> last segment, reading into two pieces */
    seg = td_alloc(&N.d, 4096, 16);
    seg2 = td_alloc(&N.d, 4096, 16);
    put_desc(seg, b, 2048, NVME_SGL_DATA_BLOCK);
    put_desc(seg + 16, seg2, 16, NVME_SGL_LAST_SEGMENT);
    put_desc(seg2, b + 10000, 2048, NVME_SGL_DATA_BLOCK);
    c = rw_cmd(NVME_CMD_READ, 0, 8);
    set_sgl(&c, seg, 32, NVME_SGL_SEGMENT);
    ck_assert_int_eq(run(1, &c, NULL), 0);
    ck_assert_int_eq(memcmp(td_ptr(&N.d, b), td_ptr(&N.d, a + 400), 2048), 0);
    ck_assert_int_eq(memcmp(td_ptr(&N.d, b + 10000), td_ptr(&N.d, a + 2448),
                            2048), 0);

    ck_assert_uint_ge(td_vfu_irqs(&N.d, 1), 1);
    if (N.share && !N.priv) {
        ck_assert_uint_eq(dma_msgs(), 0);
    } else {
        ck_assert_uint_gt(dma_msgs(), 100);
    }
    if (N.priv) {
        pt_log_wait_count(N.h, "give the memory backend share=on", 1);
    }
    ck_assert_uint_eq(pt_log_count(N.h, "give the memory backend share=on"),
                      N.priv ? 1 : 0);
    nd_down();
}
END_TEST

/* Flush, FUA, Write Zeroes (plain and deallocating), Dataset Management
 * deallocate (reads back zeroes, file space released) and Compare. */
START_TEST(test_other_io)
{
    uint64_t a, b, r;
    struct nvme_sqe c;
    struct nvme_dsm_range *rg;
    static const uint8_t zero[16384];

    nd_up(SHARED(_i));
    a = td_alloc(&N.d, 1 << 20, 4096);
    b = td_alloc(&N.d, 1 << 20, 4096);
    fill(a, 1 << 20, 5);
    for (int i = 0; i < 8; i++) {
        ck_assert_int_eq(td_rw(&N.d, 1, NVME_CMD_WRITE, 256 * (uint64_t)i, 256,
                               a + (uint64_t)i * 131072, i == 3 ? NVME_RW_FUA : 0),
                         0);
    }
    check_file(0, td_ptr(&N.d, a), 1 << 20);
    c = rw_cmd(NVME_CMD_FLUSH, 0, 1);
    c.cdw12 = 0;
    ck_assert_int_eq(run(1, &c, NULL), 0);
    c.nsid = NVME_NSID_ALL;
    ck_assert_int_eq(run(1, &c, NULL), 0);

    /* Write Zeroes, then one with DEAC and FUA */
    c = rw_cmd(NVME_CMD_WRITE_ZEROES, 16, 16);
    ck_assert_int_eq(run(1, &c, NULL), 0);
    c = rw_cmd(NVME_CMD_WRITE_ZEROES, 256, 32);
    c.cdw12 |= NVME_WZ_DEAC | NVME_RW_FUA;
    ck_assert_int_eq(run(1, &c, NULL), 0);
    ck_assert_int_eq(td_rw(&N.d, 1, NVME_CMD_READ, 0, 64, b, 0), 0);
    ck_assert_int_eq(memcmp(td_ptr(&N.d, b), td_ptr(&N.d, a), 16 * 512), 0);
    ck_assert_int_eq(memcmp(td_ptr(&N.d, b + 16 * 512), zero, 8192), 0);
    ck_assert_int_eq(memcmp(td_ptr(&N.d, b + 32 * 512), td_ptr(&N.d, a + 32 * 512),
                            32 * 512), 0);
    check_file(16 * 512, zero, 8192);
    check_file(256 * 512, zero, 16384);

    /* DSM deallocate of two ranges */
    r = td_alloc(&N.d, 4096, 4096);
    rg = td_ptr(&N.d, r);
    rg[0].slba = 512;
    rg[0].nlb = 256;
    rg[1].slba = 1024;
    rg[1].nlb = 512;
    c = rw_cmd(NVME_CMD_DSM, 0, 1);
    c.cdw10 = 1;
    c.cdw11 = NVME_DSM_AD;
    c.cdw12 = 0;
    c.dptr1 = r;
    ck_assert_int_eq(run(1, &c, NULL), 0);
    ck_assert_int_eq(td_rw(&N.d, 1, NVME_CMD_READ, 512, 32, b, 0), 0);
    ck_assert_int_eq(memcmp(td_ptr(&N.d, b), zero, 16384), 0);
    ck_assert_int_eq(td_rw(&N.d, 1, NVME_CMD_READ, 1536, 16, b, 0), 0);
    ck_assert_int_eq(memcmp(td_ptr(&N.d, b), td_ptr(&N.d, a + 1536 * 512), 8192),
                     0);
    check_file(1024 * 512, zero, 16384);
    c.cdw11 = 0; /* hints only: a no-op */
    ck_assert_int_eq(run(1, &c, NULL), 0);

    /* Compare: equal, then one bit off */
    fill(a, 65536, 77);
    ck_assert_int_eq(td_rw(&N.d, 1, NVME_CMD_WRITE, 3000, 128, a, 0), 0);
    memcpy(td_ptr(&N.d, b), td_ptr(&N.d, a), 65536);
    ck_assert_int_eq(td_rw(&N.d, 1, NVME_CMD_COMPARE, 3000, 128, b, 0), 0);
    ((uint8_t *)td_ptr(&N.d, b))[40000] ^= 1;
    ck_assert_int_eq(td_rw(&N.d, 1, NVME_CMD_COMPARE, 3000, 128, b, 0),
                     NVME_SC_COMPARE_FAILED);
    ck_assert_int_eq(td_rw(&N.d, 1, NVME_CMD_COMPARE, 3000, 8, b, 0), 0);
    nd_down();
}
END_TEST

/* ------------------------------------------------------------------------
 * Error statuses
 */

/* Each error is reported with its status and DNR, lands in the Error
 * Information log, and leaves the controller healthy. */
START_TEST(test_errors)
{
    uint64_t a, pages[8], b;
    struct nvme_sqe c;
    struct nvme_cqe e;

    nd_up(SHARED(_i));
    a = td_alloc(&N.d, 256 << 10, 4096);
    /* invalid opcode (I/O and admin), invalid namespace */
    c = rw_cmd(0x7e, 0, 1);
    ck_assert_int_eq(run(1, &c, &e), NVME_SC_INVALID_OPCODE);
    c = cmd(0x7d);
    ck_assert_int_eq(admin(&c, NULL), NVME_SC_INVALID_OPCODE);
    c = rw_cmd(NVME_CMD_READ, 0, 1);
    c.nsid = 2;
    c.dptr1 = a;
    ck_assert_int_eq(run(1, &c, NULL), NVME_SC_INVALID_NS);
    /* invalid field: reserved PSDT, protection information, fused, beyond
     * MDTS */
    c = rw_cmd(NVME_CMD_READ, 0, 1);
    c.dptr1 = a;
    c.flags = 3 << 6;
    ck_assert_int_eq(run(1, &c, NULL), NVME_SC_INVALID_FIELD);
    ck_assert_int_eq(td_rw(&N.d, 1, NVME_CMD_READ, 0, 1, a, 1u << 29),
                     NVME_SC_INVALID_FIELD);
    c = rw_cmd(NVME_CMD_READ, 0, 1);
    c.dptr1 = a;
    c.flags = 1;
    ck_assert_int_eq(run(1, &c, NULL), NVME_SC_INVALID_FIELD);
    c = rw_cmd(NVME_CMD_READ, 0, 264); /* 132 KiB */
    {
        uint64_t p40[33];

        for (int i = 0; i < 33; i++) {
            p40[i] = a + 4096 * (uint64_t)(i + 1);
        }
        td_build_prp(&N.d, &c, a, p40, 33);
    }
    ck_assert_int_eq(run(1, &c, NULL), NVME_SC_INVALID_FIELD);
    /* LBA out of range: the last block is fine, one more is not */
    ck_assert_int_eq(td_rw(&N.d, 1, NVME_CMD_READ, NS_SIZE / 512 - 1, 1, a, 0), 0);
    ck_assert_int_eq(td_rw(&N.d, 1, NVME_CMD_READ, NS_SIZE / 512 - 1, 2, a, 0),
                     NVME_SC_LBA_RANGE);
    ck_assert_int_eq(td_rw(&N.d, 1, NVME_CMD_WRITE, NS_SIZE / 512, 1, a, 0),
                     NVME_SC_LBA_RANGE);
    ck_assert_int_eq(td_rw(&N.d, 1, NVME_CMD_READ, ~0ull - 2, 8, a, 0),
                     NVME_SC_LBA_RANGE);
    c = rw_cmd(NVME_CMD_WRITE_ZEROES, NS_SIZE / 512 - 1, 2);
    ck_assert_int_eq(run(1, &c, NULL), NVME_SC_LBA_RANGE);
    /* invalid PRP offset: PRP1 not dword aligned, PRP2 with an offset, a
     * list entry with an offset, a list pointer not qword aligned */
    c = rw_cmd(NVME_CMD_READ, 0, 1);
    c.dptr1 = a + 2;
    ck_assert_int_eq(run(1, &c, NULL), NVME_SC_PRP_INVALID_OFFSET);
    c = rw_cmd(NVME_CMD_READ, 0, 16);
    c.dptr1 = a;
    c.dptr2 = a + 4096 + 512;
    ck_assert_int_eq(run(1, &c, NULL), NVME_SC_PRP_INVALID_OFFSET);
    for (int i = 0; i < 3; i++) {
        pages[i] = a + 4096 * (uint64_t)(i + 1);
    }
    pages[1] += 64;
    c = rw_cmd(NVME_CMD_READ, 0, 32);
    td_build_prp(&N.d, &c, a, pages, 3);
    ck_assert_int_eq(run(1, &c, NULL), NVME_SC_PRP_INVALID_OFFSET);
    c = rw_cmd(NVME_CMD_READ, 0, 32);
    c.dptr1 = a;
    c.dptr2 = td_alloc(&N.d, 4096, 4096) + 4;
    ck_assert_int_eq(run(1, &c, NULL), NVME_SC_PRP_INVALID_OFFSET);
    /* data transfer error: buffers, a PRP list, a list entry and an SGL
     * segment outside every DMA window */
    ck_assert_int_eq(td_rw(&N.d, 1, NVME_CMD_READ, 0, 8, 0x1000, 0),
                     NVME_SC_DATA_XFER_ERROR);
    ck_assert_int_eq(td_rw(&N.d, 1, NVME_CMD_WRITE, 0, 8, 0x7000000000ull, 0),
                     NVME_SC_DATA_XFER_ERROR);
    c = rw_cmd(NVME_CMD_WRITE, 0, 16);
    c.dptr1 = a;
    c.dptr2 = TD_MEM_IOVA + TD_MEM_SIZE;
    ck_assert_int_eq(run(1, &c, NULL), NVME_SC_DATA_XFER_ERROR);
    c = rw_cmd(NVME_CMD_READ, 0, 32);
    c.dptr1 = a;
    c.dptr2 = 0x2000;
    ck_assert_int_eq(run(1, &c, NULL), NVME_SC_DATA_XFER_ERROR);
    pages[0] = a + 4096;
    pages[1] = 0x3000;
    pages[2] = a + 8192;
    c = rw_cmd(NVME_CMD_READ, 0, 32);
    td_build_prp(&N.d, &c, a, pages, 3);
    ck_assert_int_eq(run(1, &c, NULL), NVME_SC_DATA_XFER_ERROR);
    c = rw_cmd(NVME_CMD_READ, 0, 1);
    set_sgl(&c, 0x5000, 48, NVME_SGL_LAST_SEGMENT);
    ck_assert_int_eq(run(1, &c, NULL), NVME_SC_DATA_XFER_ERROR);
    /* an Identify into nowhere */
    c = cmd(NVME_ADM_IDENTIFY);
    c.cdw10 = NVME_CNS_CTRL;
    c.dptr1 = 0x4000;
    ck_assert_int_eq(admin(&c, NULL), NVME_SC_DATA_XFER_ERROR);
    /* none of that hurt the controller or the daemon's guest memory */
    ck_assert_uint_eq(pt_bar0(N.cl, NVME_REG_CSTS), NVME_CSTS_RDY);
    ck_assert_uint_eq(vfu_client_request_errors(N.cl), 0);
    roundtrip(a, a + (128 << 10), 77, 8);
    /* the newest failure is in the error log */
    ck_assert_int_eq(get_log(NVME_LOG_ERROR, &b, 256), 0);
    ck_assert_uint_ge(le64_at(b), 20);                   /* error count */
    ck_assert_uint_eq(*(uint16_t *)td_ptr(&N.d, b + 8), 0); /* admin queue */
    ck_assert_uint_eq(*(uint16_t *)td_ptr(&N.d, b + 12) >> 1,
                      NVME_SC_DATA_XFER_ERROR);
    nd_down();
}
END_TEST

/* A failed command is logged at debug level with what a user needs to see
 * why a driver is unhappy: which command, its CID, the queue and the
 * status by name. */
START_TEST(test_failed_command_logged)
{
    struct nvme_sqe c;

    nd_up_with("log-level = debug", true);
    c = rw_cmd(0x7e, 0, 1);
    ck_assert_int_eq(run(1, &c, NULL), NVME_SC_INVALID_OPCODE);
    c = cmd(NVME_ADM_CREATE_SQ);
    c.dptr1 = td_alloc(&N.d, 4096, 4096);
    c.cdw10 = 2 | 15u << 16;
    c.cdw11 = 1; /* CQID 0 */
    ck_assert_int_eq(admin(&c, NULL), NVME_SC_QID_INVALID);
    ck_assert(pt_log_wait(N.h, "on SQ 1 failed: Invalid Command Opcode "
                          "(SCT 0 SC 0x01)", 5000));
    ck_assert(pt_log_wait(N.h, "nvme: I/O command 0x7e (CID ", 5000));
    ck_assert(pt_log_wait(N.h, "nvme: admin command 0x01 (CID ", 5000));
    ck_assert(pt_log_wait(N.h, "on SQ 0 failed: Invalid Queue Identifier "
                          "(SCT 1 SC 0x01)", 5000));
    nd_down();
}
END_TEST

/* ------------------------------------------------------------------------
 * Queues
 */

/* A 4-entry SQ kept full (3 commands) round after round wraps many times;
 * a 4-entry CQ shared with a 16-entry SQ is full most of the time: the
 * completions that do not fit wait until the host frees entries. */
START_TEST(test_queue_full_wrap)
{
    uint64_t a, b;
    struct nvme_sqe c;
    struct nvme_cqe e[3];

    nd_up(SHARED(_i));
    ck_assert_int_eq(td_create_io_queue(&N.d, 2, 4), 0);
    a = td_alloc(&N.d, 3 * 4096, 4096);
    b = td_alloc(&N.d, 3 * 4096, 4096);
    for (int round = 0; round < 25; round++) {
        uint16_t cid[3];

        fill(a, 3 * 4096, (unsigned)round);
        for (int i = 0; i < 3; i++) {
            c = rw_cmd(NVME_CMD_WRITE, (uint64_t)(round * 3 + i) * 8, 8);
            c.dptr1 = a + 4096 * (uint64_t)i;
            cid[i] = td_queue_cmd(&N.d, 2, &c);
        }
        td_ring(&N.d, 2);
        for (int i = 0; i < 3; i++) {
            ck_assert_int_eq(td_wait(&N.d, 2, &e[i]), 0);
            ck_assert_int_eq(td_status(&e[i]), 0);
            ck_assert_uint_eq(e[i].sq_id, 2);
            ck_assert(e[i].cid == cid[0] || e[i].cid == cid[1] ||
                      e[i].cid == cid[2]);
        }
        ck_assert_uint_eq(e[2].sq_head, N.d.q[2].sq_tail);
        check_file((uint64_t)round * 3 * 4096, td_ptr(&N.d, a), 3 * 4096);
    }
    for (int i = 0; i < 3; i++) {
        c = rw_cmd(NVME_CMD_READ, (uint64_t)(24 * 3 + i) * 8, 8);
        c.dptr1 = b + 4096 * (uint64_t)i;
        ck_assert_int_eq(run(2, &c, NULL), 0);
    }
    ck_assert_int_eq(memcmp(td_ptr(&N.d, a), td_ptr(&N.d, b), 3 * 4096), 0);

    /* CQ 3 of 4 entries (3 usable) under SQ 3 of 16 */
    N.d.q[3] = (struct td_queue){ .qid = 3, .size = 4, .phase = true, .vector = 3 };
    N.d.q[3].cq_iova = td_alloc(&N.d, 4096, 4096);
    N.d.q[3].sq_iova = td_alloc(&N.d, 16 * 64, 4096);
    c = cmd(NVME_ADM_CREATE_CQ);
    c.dptr1 = N.d.q[3].cq_iova;
    c.cdw10 = 3 | 3u << 16;
    c.cdw11 = 3 | 3u << 16;
    ck_assert_int_eq(admin(&c, NULL), 0);
    c = cmd(NVME_ADM_CREATE_SQ);
    c.dptr1 = N.d.q[3].sq_iova;
    c.cdw10 = 3 | 15u << 16;
    c.cdw11 = 1 | 3u << 16;
    ck_assert_int_eq(admin(&c, NULL), 0);
    N.d.q[3].used = true;
    for (int i = 0; i < 10; i++) {
        c = rw_cmd(NVME_CMD_READ, 0, 8);
        c.dptr1 = a;
        c.cid = (uint16_t)(100 + i); /* the SQ wraps at 16, not at 4 */
        memcpy(td_ptr(&N.d, N.d.q[3].sq_iova + 64ull * (uint64_t)i), &c, 64);
    }
    N.d.tr->doorbell(&N.d, NVME_REG_DBS + 3 * 8, 10);
    {
        unsigned seen = 0;

        for (int i = 0; i < 10; i++) {
            ck_assert_int_eq(td_wait(&N.d, 3, &e[0]), 0);
            ck_assert_int_eq(td_status(&e[0]), 0);
            ck_assert_uint_ge(e[0].cid, 100);
            ck_assert_uint_lt(e[0].cid, 110);
            seen |= 1u << (e[0].cid - 100);
        }
        ck_assert_uint_eq(seen, 0x3ff);
    }
    nd_down();
}
END_TEST

/* Shadow doorbells with EventIdx (shared memory): once set up, the driver
 * rings the real doorbell only when EventIdx asks; a burst of 32 commands
 * behind one shadow update needs at most one; the admin queue keeps its
 * real doorbells; queues created later are shadowed too.  With
 * message-only memory Doorbell Buffer Config is refused and the real
 * doorbells keep working. */
START_TEST(test_shadow_doorbells)
{
    uint64_t a, b;
    unsigned n = 100, rings;

    nd_up(SHARED(_i));
    if (!N.share) {
        ck_assert_int_eq(td_enable_shadow(&N.d), NVME_SC_INVALID_FIELD);
        a = td_alloc(&N.d, 8192, 4096);
        roundtrip(a, a + 4096, 0, 8);
        nd_down();
        return;
    }
    ck_assert_int_eq(td_enable_shadow(&N.d), 0);
    a = td_alloc(&N.d, 8192, 4096);
    b = td_alloc(&N.d, 8192, 4096);
    N.d.rings = 0;
    for (unsigned i = 0; i < n; i++) {
        fill(a, 4096, i);
        ck_assert_int_eq(td_rw(&N.d, 1, NVME_CMD_WRITE, i * 8ull, 8, a, 0), 0);
        ck_assert_int_eq(td_rw(&N.d, 1, NVME_CMD_READ, i * 8ull, 8, b, 0), 0);
        ck_assert_int_eq(memcmp(td_ptr(&N.d, a), td_ptr(&N.d, b), 4096), 0);
    }
    /* the controller published how far it got on SQ 1 (once idle: in
     * the pass after the one that posted the last completion) */
    ck_assert(td_wait_sq_eventidx(&N.d, 1, 2000));
    /* an idle controller asks for each new submission (one per command);
     * CQ head updates rarely ring */
    ck_assert_uint_le(N.d.rings, 2 * n + 2 * n / 16 + 4);
    ck_assert_uint_ge(N.d.rings, 1);

    rings = N.d.rings;
    for (unsigned i = 0; i < 32; i++) {
        struct nvme_sqe c = rw_cmd(NVME_CMD_READ, i * 8ull, 8);

        c.dptr1 = b;
        td_queue_cmd(&N.d, 1, &c);
    }
    td_ring(&N.d, 1);
    ck_assert_uint_le(N.d.rings - rings, 1);
    for (unsigned i = 0; i < 32; i++) {
        struct nvme_cqe e;

        ck_assert_int_eq(td_wait(&N.d, 1, &e), 0);
        ck_assert_int_eq(td_status(&e), 0);
    }
    {
        uint64_t id;

        ck_assert_int_eq(identify(NVME_CNS_CTRL, 0, &id), 0);
    }
    ck_assert_int_eq(td_create_io_queue(&N.d, 3, 16), 0);
    ck_assert_int_eq(td_rw(&N.d, 3, NVME_CMD_READ, 0, 8, b, 0), 0);
    ck_assert(td_wait_sq_eventidx(&N.d, 3, 2000));
    ck_assert_uint_eq(dma_msgs(), 0);
    nd_down();
}
END_TEST

/* vfiouserctl stats DEVICE [--json]: what the plugin counted through
 * io_stats.  Output of the tool, run as an operator would. */
static char *ctl_run(const char *a1, const char *a2, const char *a3, int *status)
{
    g_autofree char *ctl = g_build_filename(N.h->sock_dir, "control", NULL);
    const char *argv[] = { VFIOUSERCTL, "--socket", ctl, a1, a2, a3, NULL };
    g_autoptr(GError) e = NULL;
    char *out = NULL;

    ck_assert_msg(g_spawn_sync(NULL, (char **)argv, NULL, 0, NULL, NULL, &out,
                               NULL, status, &e),
                  "cannot run vfiouserctl: %s", e ? e->message : "?");
    return out;
}

static void assert_matches(const char *text, const char *re)
{
    ck_assert_msg(g_regex_match_simple(re, text, G_REGEX_MULTILINE, 0),
                  "output does not match /%s/:\n%s", re, text);
}

START_TEST(test_io_stats)
{
    uint64_t a, b;
    g_autofree char *text = NULL;
    g_autofree char *js = NULL;
    int st = -1;

    nd_up(true);
    a = td_alloc(&N.d, 8192, 4096);
    b = td_alloc(&N.d, 8192, 4096);
    for (unsigned i = 0; i < 10; i++) {
        roundtrip(a, b, i * 8ull, 8); /* a 4 KiB write, then a read */
    }
    {
        struct nvme_sqe c = rw_cmd(NVME_CMD_FLUSH, 0, 1);

        ck_assert_int_eq(td_cmd(&N.d, 1, &c, NULL), 0);
        /* beyond the namespace: an error */
        c = rw_cmd(NVME_CMD_READ, NS_SIZE / 512, 8);
        c.dptr1 = b;
        ck_assert_int_eq(td_cmd(&N.d, 1, &c, NULL), NVME_SC_LBA_RANGE);
    }
    text = ctl_run("stats", "nvme0", NULL, &st);
    ck_assert_msg(g_spawn_check_wait_status(st, NULL), "%s", text);
    assert_matches(text, "^nvme0 \\(nvme\\)$");
    assert_matches(text, "^  reads +11 \\(40\\.0.KiB\\)$");
    assert_matches(text, "^  writes +10 \\(40\\.0.KiB\\)$");
    assert_matches(text, "^  other +1$");
    assert_matches(text, "^  errors +1$");
    assert_matches(text, "^  queue depth +0$");
    /* 22 completions in the histogram; the last bucket holds 100% */
    assert_matches(text, "^  latency +count +cumulative$");
    assert_matches(text, " 100\\.00%$");
    js = ctl_run("--json", "stats", "nvme0", &st);
    ck_assert_msg(g_spawn_check_wait_status(st, NULL), "%s", js);
    assert_matches(js, "\"bytes_written\": *40960");
    assert_matches(js, "\"latency\": *\\[\\s*\\{\\s*\"from_ns\"");
    nd_down();
}
END_TEST

/* doorbells=adaptive: shadow doorbells, and the controller polls them for
 * poll-idle-us after the last command before it publishes EventIdx and
 * sleeps.  Whatever the timing (polling or asleep), every command
 * completes with its data; once idle the controller has published how far
 * it got, so the next submission rings the real doorbell exactly once and
 * wakes it.  Mapped over the run: no DMA message. */
START_TEST(test_adaptive_doorbells)
{
    uint64_t a, b;
    unsigned rings;

    nd_up_with("doorbells = adaptive\npoll-idle-us = 200", SHARED(_i));
    if (!N.share) {
        ck_assert_int_eq(td_enable_shadow(&N.d), NVME_SC_INVALID_FIELD);
        a = td_alloc(&N.d, 8192, 4096);
        roundtrip(a, a + 4096, 0, 8);
        nd_down();
        return;
    }
    ck_assert_int_eq(td_enable_shadow(&N.d), 0);
    a = td_alloc(&N.d, 65536, 4096);
    b = td_alloc(&N.d, 65536, 4096);
    for (unsigned i = 0; i < 200; i++) {
        roundtrip(a, b, (uint64_t)i * 16, 1 + i % 128);
        if (i % 50 == 49) {
            usleep(2000); /* let it fall asleep now and then */
        }
    }
    /* idle: EventIdx catches up with the tail (it sleeps) */
    ck_assert(td_wait_sq_eventidx(&N.d, 1, 5000));
    rings = N.d.rings;
    roundtrip(a, b, 0, 8);
    /* the write rang (it woke the controller); the read that followed may
     * have found it polling, or asleep again */
    ck_assert_uint_ge(N.d.rings - rings, 1);
    ck_assert_uint_eq(dma_msgs(), 0);
    nd_down();
}
END_TEST

/* doorbells=poll: BAR0's doorbell page is mmappable (sparse area
 * 0x1000+4 KiB with an fd) and the controller finds doorbells written
 * there without any message; Doorbell Buffer Config is not offered. */
START_TEST(test_poll_doorbells)
{
    struct vfio_user_region_info ri;
    struct vfio_user_cap_sparse_mmap sp;
    struct vfio_user_sparse_mmap_area area;
    uint8_t caps[256];
    struct nvme_sqe c;
    uint64_t a, b;
    int fd = -1;

    nd_up_with("doorbells = poll\npoll-max-sleep-us = 200", SHARED(_i));
    ck_assert_ptr_nonnull((void *)N.d.db_page);
    ck_assert_int_gt(vfu_client_region_info(N.cl, 0, &ri, caps, sizeof(caps), &fd), 0);
    ck_assert_int_ge(fd, 0);
    close(fd);
    ck_assert(ri.flags & VFIO_REGION_INFO_FLAG_MMAP);
    memcpy(&sp, caps + ri.cap_offset - 32, sizeof(sp));
    ck_assert_uint_eq(sp.header.id, VFIO_REGION_INFO_CAP_SPARSE_MMAP);
    ck_assert_uint_eq(sp.nr_areas, 1);
    memcpy(&area, caps + ri.cap_offset - 32 + sizeof(sp), sizeof(area));
    ck_assert_uint_eq(area.offset, 0x1000);
    ck_assert_uint_eq(area.size, 0x1000);

    a = td_alloc(&N.d, 65536, 4096);
    b = td_alloc(&N.d, 65536, 4096);
    for (int i = 0; i < 20; i++) {
        roundtrip(a, b, (uint64_t)i * 128, 128);
    }
    usleep(20000); /* the poller backs off to its longest sleep... */
    roundtrip(a, b, 0, 8); /* ...and still notices */
    c = cmd(NVME_ADM_DBBUF_CONFIG);
    c.dptr1 = td_alloc(&N.d, 4096, 4096);
    c.dptr2 = td_alloc(&N.d, 4096, 4096);
    ck_assert_int_eq(admin(&c, NULL), NVME_SC_INVALID_OPCODE);
    nd_down();
}
END_TEST

/* Random sizes (512 B .. 128 KiB), offsets, PRPs or SGLs, on four queues
 * with 96 commands in flight: the data written is the data read back. */
START_TEST(test_stress_verify)
{
    enum { PER_Q = 24, SLOTS = QUEUES * PER_Q, ROUNDS = 6 };
    uint64_t ref[SLOTS], wbuf[SLOTS], rbuf;
    uint32_t lba[SLOTS], nlb[SLOTS];
    unsigned seed = 4242;

    nd_up(SHARED(_i));
    for (uint16_t q = 2; q <= QUEUES; q++) {
        ck_assert_int_eq(td_create_io_queue(&N.d, q, 64), 0);
    }
    if (N.share) {
        ck_assert_int_eq(td_enable_shadow(&N.d), 0);
    }
    for (int i = 0; i < SLOTS; i++) {
        ref[i] = td_alloc(&N.d, 132 << 10, 4096);
        wbuf[i] = td_alloc(&N.d, 136 << 10, 4096);
    }
    rbuf = td_alloc(&N.d, 136 << 10, 4096);
    for (int round = 0; round < ROUNDS; round++) {
        struct nvme_cqe e;

        for (int i = 0; i < SLOTS; i++) {
            uint16_t qid = (uint16_t)(1 + i % QUEUES);
            struct nvme_sqe c;
            uint64_t buf;

            seed = seed * 1103515245 + 12345;
            nlb[i] = 1 + (seed >> 8) % 256;
            lba[i] = (uint32_t)(i * 512 + ((seed >> 4) % 4) * 64);
            fill(ref[i], nlb[i] * 512, (unsigned)(round * 1000 + i));
            buf = wbuf[i] + ((seed >> 10) % 2 ? 0 : ((seed >> 12) % 8) * 512);
            memcpy(td_ptr(&N.d, buf), td_ptr(&N.d, ref[i]), nlb[i] * 512);
            c = rw_cmd(NVME_CMD_WRITE, lba[i], nlb[i]);
            if ((seed >> 16) % 3 == 0) {
                uint64_t seg = td_alloc(&N.d, 64, 16);
                uint32_t len = nlb[i] * 512, off = 0;
                unsigned nd = 0;

                while (off < len) {
                    uint32_t l = nd == 3 ? len - off : (len - off + 1) / 2;

                    put_desc(seg + 16 * nd, buf + off, l, NVME_SGL_DATA_BLOCK);
                    off += l;
                    nd++;
                }
                set_sgl(&c, seg, 16 * nd, NVME_SGL_LAST_SEGMENT);
            } else {
                uint64_t pages[40];
                unsigned n = 0;
                uint64_t len = nlb[i] * 512ull;
                uint64_t first = 4096 - (buf & 4095);

                if (len > first) {
                    for (uint64_t p = (buf & ~4095ull) + 4096; p < buf + len;
                         p += 4096) {
                        pages[n++] = p;
                    }
                }
                td_build_prp(&N.d, &c, buf, pages, n);
            }
            td_queue_cmd(&N.d, qid, &c);
        }
        for (uint16_t q = 1; q <= QUEUES; q++) {
            td_ring(&N.d, q);
        }
        for (int i = 0; i < SLOTS; i++) {
            ck_assert_int_eq(td_wait(&N.d, (uint16_t)(1 + i % QUEUES), &e), 0);
            ck_assert_int_eq(td_status(&e), 0);
        }
        for (int i = 0; i < SLOTS; i++) {
            ck_assert_int_eq(td_rw(&N.d, (uint16_t)(1 + i % QUEUES),
                                   NVME_CMD_READ, lba[i], nlb[i], rbuf, 0), 0);
            ck_assert_msg(memcmp(td_ptr(&N.d, rbuf), td_ptr(&N.d, ref[i]),
                                 nlb[i] * 512) == 0,
                          "round %d slot %d lba %u nlb %u", round, i, lba[i],
                          nlb[i]);
        }
    }
    nd_down();
}
END_TEST

/* ------------------------------------------------------------------------
 * Resets, disconnects and durability
 */
#define WBLOCKS  300

/*
 * Writes of 64 KiB (a PRP list each), in both memory modes: with
 * message-only memory a reset then waits for DMA_READ replies as large as
 * the daemon's initial receive buffer (see test_large_dma_reply_while_waiting).
 */
struct batch {
    uint64_t buf[WBLOCKS];
    bool done[WBLOCKS];
    unsigned nr_done;
    uint32_t nlb;  /* blocks per write */
    uint32_t len;  /* bytes per write */
};

static void pattern(uint8_t *p, uint32_t len, unsigned blk, unsigned gen)
{
    for (unsigned i = 0; i < len; i += 4) {
        uint32_t v = (blk << 20) ^ (gen << 28) ^ i ^ 0x5a5a0000u;

        memcpy(p + i, &v, 4);
    }
}

/* A PRP1 + list command for len bytes at the page-aligned buf. */
static void prp_cmd(struct nvme_sqe *c, uint64_t buf, uint32_t len)
{
    uint64_t pages[32];
    unsigned n = len / 4096 - 1;

    for (unsigned k = 0; k < n; k++) {
        pages[k] = buf + 4096 * (uint64_t)(k + 1);
    }
    td_build_prp(&N.d, c, buf, pages, n);
}

/* Queue WBLOCKS writes on a 512-entry queue 2 and ring once. */
static void batch_submit(struct batch *bt, unsigned gen)
{
    memset(bt, 0, sizeof(*bt));
    bt->nlb = 128;
    bt->len = bt->nlb * 512;
    ck_assert_int_eq(td_create_io_queue(&N.d, 2, 512), 0);
    for (unsigned i = 0; i < WBLOCKS; i++) {
        struct nvme_sqe c = rw_cmd(NVME_CMD_WRITE, (uint64_t)i * bt->nlb, bt->nlb);

        bt->buf[i] = td_alloc(&N.d, bt->len, 4096);
        pattern(td_ptr(&N.d, bt->buf[i]), bt->len, i, gen);
        prp_cmd(&c, bt->buf[i], bt->len);
        ck_assert_uint_eq(td_queue_cmd(&N.d, 2, &c), i);
    }
    td_ring(&N.d, 2);
}

/* Record the completions in the CQ now (waiting for the first one). */
static void batch_harvest(struct batch *bt, bool wait_first)
{
    struct nvme_cqe e;

    if (wait_first) {
        ck_assert_int_eq(td_wait(&N.d, 2, &e), 0);
        ck_assert_int_eq(td_status(&e), 0);
        ck_assert_uint_lt(e.cid, WBLOCKS);
        bt->done[e.cid] = true;
        bt->nr_done++;
    }
    while (td_cqe_ready(&N.d, 2)) {
        td_consume(&N.d, 2, &e);
        ck_assert_int_eq(td_status(&e), 0);
        ck_assert_uint_lt(e.cid, WBLOCKS);
        bt->done[e.cid] = true;
        bt->nr_done++;
    }
}

/* Completed writes are in the file; the others are either entirely there
 * or not at all (the controller finished what it had started). */
static void batch_check_file(const struct batch *bt, unsigned gen)
{
    uint8_t *want = g_malloc(bt->len), *got = g_malloc(bt->len);
    unsigned whole = 0;

    for (unsigned i = 0; i < WBLOCKS; i++) {
        pattern(want, bt->len, i, gen);
        read_file((uint64_t)i * bt->len, got, bt->len);
        if (bt->done[i]) {
            ck_assert_msg(memcmp(want, got, bt->len) == 0,
                          "completed write %u is not in the file", i);
        } else {
            ck_assert_msg(memcmp(want, got, bt->len) == 0 || all_zero(got, bt->len),
                          "write %u is in the file in part", i);
        }
        whole += memcmp(want, got, bt->len) == 0;
    }
    fprintf(stderr, "  %u of %u writes completed, %u in the file\n",
            bt->nr_done, WBLOCKS, whole);
    g_free(want);
    g_free(got);
}

/* Read every completed write back through the (re-enabled) controller. */
static void batch_read_back(const struct batch *bt, unsigned gen)
{
    uint8_t *want = g_malloc(bt->len);
    uint64_t r = td_alloc(&N.d, bt->len, 4096);

    for (unsigned i = 0; i < WBLOCKS; i++) {
        struct nvme_sqe c = rw_cmd(NVME_CMD_READ, (uint64_t)i * bt->nlb, bt->nlb);

        if (!bt->done[i]) {
            continue;
        }
        prp_cmd(&c, r, bt->len);
        ck_assert_int_eq(run(1, &c, NULL), 0);
        pattern(want, bt->len, i, gen);
        ck_assert_msg(memcmp(td_ptr(&N.d, r), want, bt->len) == 0,
                      "completed write %u reads back differently", i);
    }
    g_free(want);
}

/* CC.EN=0 with writes in flight: when the register write has been
 * answered and RDY reads 0, the controller writes nothing more to guest
 * memory (no CQE appears, no DMA message arrives); every write that
 * completed is in the file and reads back after re-enabling. */
START_TEST(test_reset_in_flight)
{
    static struct batch bt;
    uint8_t *cq_before;
    uint64_t msgs;

    nd_up(SHARED(_i));
    batch_submit(&bt, 1);
    batch_harvest(&bt, true);
    pt_bar0_set(N.cl, NVME_REG_CC, 0);
    ck_assert_int_eq(td_wait_csts(&N.d, NVME_CSTS_RDY, 0), 0);
    cq_before = g_malloc(512 * 16);
    memcpy(cq_before, td_ptr(&N.d, N.d.q[2].cq_iova), 512 * 16);
    msgs = dma_msgs();
    ck_assert_int_ge(vfu_client_serve(N.cl, 100), 0);
    ck_assert_int_eq(memcmp(cq_before, td_ptr(&N.d, N.d.q[2].cq_iova), 512 * 16), 0);
    ck_assert_uint_eq(dma_msgs(), msgs);
    batch_harvest(&bt, false); /* completions posted before the reset */
    g_free(cq_before);
    batch_check_file(&bt, 1);

    ck_assert_int_eq(td_enable(&N.d, 32), 0);
    ck_assert_int_eq(td_create_io_queue(&N.d, 1, 64), 0);
    batch_read_back(&bt, 1);
    nd_down();
}
END_TEST

/* The client goes away with writes in flight.  The daemon survives, the
 * next client finds a reset controller (RDY=0), every write that had
 * completed is in the file and reads back after re-enabling, and the rest
 * are whole or absent. */
START_TEST(test_disconnect_in_flight)
{
    static struct batch bt;

    nd_up(SHARED(_i));
    batch_submit(&bt, 2);
    batch_harvest(&bt, true);
    td_vfu_detach(&N.d);
    pt_close_wait(N.h, N.cl);
    N.cl = NULL;

    nd_connect();
    ck_assert_uint_eq(pt_bar0(N.cl, NVME_REG_CSTS) & NVME_CSTS_RDY, 0);
    batch_check_file(&bt, 2);
    ck_assert_int_eq(td_enable(&N.d, 32), 0);
    ck_assert_int_eq(td_create_io_queue(&N.d, 1, 64), 0);
    batch_read_back(&bt, 2);
    /* and the device is as good as new */
    {
        uint64_t a = td_alloc(&N.d, 8192, 4096);

        roundtrip(a, a + 4096, 999, 8);
    }
    nd_down();
}
END_TEST

/* Durability: writes followed by a completed Flush, and FUA writes, are
 * in the backing file after the daemon is killed with SIGKILL (nothing
 * was left in the daemon's hands).  _i: 0 page cache, 1 cache=none. */
START_TEST(test_sigkill_durability)
{
    enum { NFLUSH = 48, NFUA = 16 }; /* queue 1 holds 63 */
    uint64_t a;
    struct nvme_sqe c;
    int status;

    nd_up_with(_i ? "namespace.1.cache = none" : NULL, true);
    a = td_alloc(&N.d, (NFLUSH + NFUA) * 4096ull, 4096);
    fill(a, (NFLUSH + NFUA) * 4096ull, 31);
    for (unsigned i = 0; i < NFLUSH; i++) {
        c = rw_cmd(NVME_CMD_WRITE, (uint64_t)i * 1990, 8);
        c.dptr1 = a + 4096ull * i;
        td_queue_cmd(&N.d, 1, &c);
    }
    td_ring(&N.d, 1);
    for (unsigned i = 0; i < NFLUSH; i++) {
        struct nvme_cqe e;

        ck_assert_int_eq(td_wait(&N.d, 1, &e), 0);
        ck_assert_int_eq(td_status(&e), 0);
    }
    c = rw_cmd(NVME_CMD_FLUSH, 0, 1);
    c.cdw12 = 0;
    ck_assert_int_eq(run(1, &c, NULL), 0);
    for (unsigned i = 0; i < NFUA; i++) {
        ck_assert_int_eq(td_rw(&N.d, 1, NVME_CMD_WRITE, 128000 + i * 8ull, 8,
                               a + 4096ull * (NFLUSH + i), NVME_RW_FUA), 0);
    }
    kill(N.h->pid, SIGKILL);
    ck_assert_int_eq(waitpid(N.h->pid, &status, 0), N.h->pid);
    ck_assert(WIFSIGNALED(status));
    N.h->pid = -1;
    for (unsigned i = 0; i < NFLUSH; i++) {
        check_file((uint64_t)i * 1990 * 512, td_ptr(&N.d, a + 4096ull * i), 4096);
    }
    for (unsigned i = 0; i < NFUA; i++) {
        check_file((128000 + i * 8ull) * 512,
                   td_ptr(&N.d, a + 4096ull * (NFLUSH + i)), 4096);
    }
    td_vfu_detach(&N.d);
    vfu_client_close(N.cl);
    harness_free(N.h);
    g_free(N.img);
}
END_TEST

#define MSG_IOVA 0x200000000ull /* a second, message-only DMA window */

/*
 * A DMA reply larger than the room left in the daemon's receive buffer,
 * arriving while the device thread waits inside a plugin callback
 * (regression: the daemon's reply pump used to read only into that room).
 *
 * CC.EN=0 makes the plugin wait (vfud_wait) on the device thread for its
 * I/O thread, which is waiting for the reply to a DMA_READ of 128 KiB
 * (a Write whose data is in message-only memory).  The daemon's reply pump
 * may not move the receive buffer, because the message being served lives
 * in it; when it only read into the room left (64 KiB on a fresh
 * connection), the rest of the reply stayed in the socket, the DMA request
 * timed out after 5 s, and the register write was answered 5 s late (a
 * guest's reset under load with message-only memory).  Expected: at once.
 */
START_TEST(test_large_dma_reply_while_waiting)
{
    static const char *const names[] = { "nvme0", NULL };
    struct harness *h = pt_start("[nvme0]\nplugin = nvme\n"
                                 "namespace.1.path = @DIR@/ns1.img\n"
                                 "namespace.1.size = 16M\n", names);
    struct vfu_client *cl = pt_open(h, "nvme0");
    struct td_vfu_opts o = { .share = true, .vectors = 5 };
    struct tdrv d;
    struct nvme_sqe c;
    struct pollfd pfd;
    uint64_t pages[31];
    gint64 t0, ms;

    ck_assert_int_eq(td_vfu_attach(&d, cl, &o), 0);
    ck_assert_ptr_nonnull(vfu_client_add_memory(cl, MSG_IOVA, 1 << 20, false));
    ck_assert_int_eq(td_enable(&d, 8), 0);
    ck_assert_int_eq(td_create_io_queue(&d, 1, 8), 0);

    /* 128 KiB written from the message-only window (the PRP list itself is
     * in shared memory): the controller fetches the data with one
     * DMA_READ of 128 KiB */
    memset(&c, 0, sizeof(c));
    c.opcode = NVME_CMD_WRITE;
    c.nsid = 1;
    c.cdw12 = 255;
    for (int i = 0; i < 31; i++) {
        pages[i] = MSG_IOVA + 4096 * (uint64_t)(i + 1);
    }
    td_build_prp(&d, &c, MSG_IOVA, pages, 31);
    td_submit(&d, 1, &c);
    pfd.fd = vfu_client_fd(cl);
    pfd.events = POLLIN;
    ck_assert_int_eq(poll(&pfd, 1, 5000), 1); /* the DMA_READ is here */

    /* The reset: the client answers the DMA_READ while it waits. */
    vfu_client_set_timeout(cl, 30000);
    t0 = g_get_monotonic_time();
    pt_bar0_set(cl, NVME_REG_CC, 0);
    ms = (g_get_monotonic_time() - t0) / 1000;
    fprintf(stderr, "CC.EN=0 answered after %lld ms\n", (long long)ms);
    ck_assert_uint_eq(pt_bar0(cl, NVME_REG_CSTS) & NVME_CSTS_RDY, 0);
    ck_assert_msg(!harness_log_contains(h, "unexpected reply"),
                  "the DMA reply was dropped");
    ck_assert_msg(ms < 1000, "CC.EN=0 took %lld ms: the DMA_READ reply was "
                  "stuck behind the receive buffer", (long long)ms);
    td_vfu_detach(&d);
    pt_close_wait(h, cl);
    pt_finish(h);
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("nvme_daemon");
    TCase *tc = pt_tcase("daemon");

    /* loops: 0 = shared guest memory, 1 = message-only */
    tcase_add_loop_test(tc, test_bringup, 0, 2);
    tcase_add_loop_test(tc, test_admin, 0, 2);
    /* 2 = private memory sent with its fd */
    tcase_add_loop_test(tc, test_read_write, 0, 3);
    tcase_add_loop_test(tc, test_other_io, 0, 2);
    tcase_add_loop_test(tc, test_errors, 0, 2);
    tcase_add_test(tc, test_failed_command_logged);
    tcase_add_loop_test(tc, test_queue_full_wrap, 0, 2);
    tcase_add_loop_test(tc, test_shadow_doorbells, 0, 2);
    tcase_add_loop_test(tc, test_adaptive_doorbells, 0, 2);
    tcase_add_test(tc, test_io_stats);
    tcase_add_loop_test(tc, test_poll_doorbells, 0, 2);
    tcase_add_loop_test(tc, test_stress_verify, 0, 2);
    tcase_add_loop_test(tc, test_reset_in_flight, 0, 2);
    tcase_add_loop_test(tc, test_disconnect_in_flight, 0, 2);
    /* 0 = page cache, 1 = O_DIRECT */
    tcase_add_loop_test(tc, test_sigkill_durability, 0, 2);
    tcase_add_test(tc, test_large_dma_reply_while_waiting);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    g_autofree char *plugin = g_build_filename(harness_plugin_dir(), "nvme.so", NULL);
    SRunner *sr;
    int failed;

    if (access(harness_daemon_path(), X_OK) != 0 || access(plugin, R_OK) != 0) {
        fprintf(stderr, "SKIP: needs the built daemon (%s) and nvme plugin (%s)\n",
                harness_daemon_path(), plugin);
        return 77;
    }
    sr = srunner_create(suite());
    srunner_run_all(sr, CK_ENV);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
