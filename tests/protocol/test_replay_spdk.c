/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Replay of what SPDK's vfio-user client sends when spdk_nvme_identify or
 * spdk_nvme_perf attaches to an NVMe controller (trtype VFIOUSER) and
 * detaches again.  There is no wire capture of it: the byte sequences are
 * reconstructed from SPDK's source, lib/vfio_user/host/vfio_user.c and
 * vfio_user_pci.c as of commit 488570ebd418 (the SPDX-header revision,
 * SPDK v22.09 era; the message code is the same at 70b31195eeaa, before
 * it) and lib/nvme/nvme_vfio_user.c at a33a53bd3a46.  What that code does,
 * and what the table below therefore holds:
 *
 * - every request has msg_id 0 and header flags 0 (the request struct is
 *   zeroed and only cmd and msg_size are set), and SPDK waits for each
 *   reply before the next request: nothing is pipelined;
 * - VERSION is major 0, minor 1 with no JSON at all (4 bytes);
 * - DEVICE_GET_INFO has argsz 16;
 * - DEVICE_GET_REGION_INFO, for each index below num_regions, sends its
 *   whole 4096-byte reply buffer as the request: argsz and payload are
 *   4096 - 32 = 4064 bytes, the rest zero; a reply longer than 4096 bytes
 *   of payload is an error for it; fds in the reply are the sparse areas';
 * - DMA_MAP (argsz 32, flags READ|WRITE, offset = the hugepage file
 *   offset, addr = the virtual address: SPDK's IOVA is its VA) carries the
 *   memory's fd, and so does every DMA_UNMAP (argsz 24, flags 0): the
 *   unmap's fd is the one SPDK's libvfio-user server closes unused;
 * - region accesses: a REGION_READ is the 16-byte header with count, a
 *   REGION_WRITE the header and count bytes; the NVMe driver reads and
 *   writes the PCI command register (config offset 4, 2 bytes, |= 0x404),
 *   reads CAP with one 8-byte access, writes ASQ and ACQ with one 8-byte
 *   access each, AQA, then CC; doorbells are written through the mmapped
 *   page at BAR0 + 0x1000, never by messages;
 * - no DEVICE_GET_IRQ_INFO and no DEVICE_SET_IRQS: the SPDK NVMe driver
 *   polls its completion queues, so its vfio-user client never asks for
 *   interrupts.
 *
 * The addresses are those of SPDK's default heap (0x200000000000) with
 * DPDK's single-file hugepage segments (one fd, growing offsets); they are
 * an example, the layout of each message is SPDK's.
 */
#include "config.h"

#include "proto.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

/* SPDK's reply buffer for DEVICE_GET_REGION_INFO. */
#define SPDK_RINFO_BUF 4096u
#define SPDK_MAX_PAYLOAD 4096u

#define HEAP_VA 0x200000000000ull
#define SEG_SIZE 0x800000ull /* two segments of 8 MiB, one file */

/* NVMe registers SPDK touches by messages. */
#define REG_CAP 0x00
#define REG_VS 0x08
#define REG_CC 0x14
#define REG_CSTS 0x1c
#define REG_AQA 0x24
#define REG_ASQ 0x28
#define REG_ACQ 0x30
#define DB_PAGE 0x1000

/* Where the replayed driver keeps its admin queues (inside segment 0). */
#define ASQ_OFF 0x10000ull
#define ACQ_OFF 0x20000ull
#define IDBUF_OFF 0x30000ull
#define AQ_ENTRIES 32u

struct spdk_client {
    struct vfu_client *c;
    int mem;           /* the hugepage file */
    uint8_t *ram;      /* our view of it */
    uint8_t *db;       /* BAR0's mmapped doorbell page */
    bool db_mappable;  /* the daemon offers it (doorbells = poll) */
    unsigned nr_regions;
};

/* One request in SPDK's framing; the reply's payload is returned (malloc,
 * free it) and received fds in rfds. */
static int spdk_request(struct spdk_client *s, uint16_t cmd, const void *arg,
                        size_t arg_len, const int *fds, unsigned nr_fds,
                        void **body, size_t *blen, int *rfds, unsigned *nr_rfds)
{
    g_autoptr(GByteArray) b = g_byte_array_new();
    struct vfio_user_header hdr;
    unsigned dummy_nr = 0;
    int r;

    ck_assert_uint_le(arg_len, SPDK_MAX_PAYLOAD);
    pt_msg_append(b, 0, cmd, 0, arg, arg_len);
    ck_assert_int_eq(vfu_client_send_raw(s->c, b->data, b->len, fds, nr_fds), 0);
    r = vfu_client_recv_reply(s->c, 0, &hdr, body, blen, rfds,
                              nr_rfds != NULL ? nr_rfds : &dummy_nr);
    if (r == 0) {
        ck_assert_uint_eq(hdr.cmd, cmd);
        ck_assert_uint_eq(hdr.flags, VFIO_USER_F_TYPE_REPLY);
        /* vfio_user_dev_send_request(): more than its buffer is -EIO */
        ck_assert_uint_le(hdr.msg_size - sizeof(hdr), SPDK_MAX_PAYLOAD);
    }
    return r;
}

static void spdk_mmio(struct spdk_client *s, unsigned region, uint64_t off,
                      void *buf, uint32_t len, bool write)
{
    uint8_t req[sizeof(struct vfio_user_region_access) + 8];
    struct vfio_user_region_access a = { .offset = off, .region = region,
                                         .count = len };
    void *body = NULL;
    size_t blen = 0;
    int r;

    ck_assert_uint_le(len, 8);
    memcpy(req, &a, sizeof(a));
    if (write) {
        memcpy(req + sizeof(a), buf, len);
    }
    r = spdk_request(s, write ? VFIO_USER_REGION_WRITE : VFIO_USER_REGION_READ,
                     req, sizeof(a) + (write ? len : 0), NULL, 0, &body, &blen,
                     NULL, NULL);
    ck_assert_msg(r == 0, "region %u %s at %#llx: %s", region,
                  write ? "write" : "read", (unsigned long long)off, strerror(-r));
    if (!write) {
        ck_assert_uint_eq(blen, sizeof(a) + len);
        memcpy(buf, (uint8_t *)body + sizeof(a), len);
    }
    free(body);
}

static uint32_t bar0_rd32(struct spdk_client *s, uint64_t off)
{
    uint32_t v = 0;

    spdk_mmio(s, VFIO_PCI_BAR0_REGION_INDEX, off, &v, 4, false);
    return v;
}

static void bar0_wr(struct spdk_client *s, uint64_t off, uint64_t v, uint32_t len)
{
    spdk_mmio(s, VFIO_PCI_BAR0_REGION_INDEX, off, &v, len, true);
}

/* vfio_user_check_version() */
static void spdk_version(struct spdk_client *s)
{
    struct vfio_user_version v = { .major = 0, .minor = 1 };
    void *body = NULL;
    size_t blen = 0;

    ck_assert_int_eq(spdk_request(s, VFIO_USER_VERSION, &v, sizeof(v), NULL, 0,
                                  &body, &blen, NULL, NULL), 0);
    ck_assert_uint_ge(blen, sizeof(v));
    memcpy(&v, body, sizeof(v));
    ck_assert_uint_eq(v.major, 0);
    ck_assert_uint_le(v.minor, 1);
    free(body);
}

/* vfio_user_get_dev_info() */
static void spdk_dev_info(struct spdk_client *s)
{
    struct vfio_user_device_info i = { .argsz = sizeof(i) };
    void *body = NULL;
    size_t blen = 0;

    ck_assert_uint_eq(sizeof(i), 16);
    ck_assert_int_eq(spdk_request(s, VFIO_USER_DEVICE_GET_INFO, &i, sizeof(i),
                                  NULL, 0, &body, &blen, NULL, NULL), 0);
    ck_assert_uint_eq(blen, sizeof(i));
    memcpy(&i, body, sizeof(i));
    ck_assert_uint_ne(i.flags & VFIO_DEVICE_FLAGS_PCI, 0);
    ck_assert_uint_gt(i.num_regions, VFIO_PCI_CONFIG_REGION_INDEX);
    s->nr_regions = i.num_regions;
    free(body);
}

/* vfio_device_map_bars_and_config_region(): one 4096-byte buffer, sent
 * whole as the request for every region. */
static void spdk_region_infos(struct spdk_client *s)
{
    g_autofree uint8_t *buf = g_malloc0(SPDK_RINFO_BUF);

    for (unsigned i = 0; i < s->nr_regions; i++) {
        struct vfio_user_region_info info = {
            .argsz = SPDK_RINFO_BUF - sizeof(struct vfio_user_region_info),
            .index = i,
        };
        int fds[8];
        unsigned nr = G_N_ELEMENTS(fds);
        void *body = NULL;
        size_t blen = 0;
        int r;

        ck_assert_uint_eq(info.argsz, 4064);
        memset(buf, 0, SPDK_RINFO_BUF);
        memcpy(buf, &info, sizeof(info));
        r = spdk_request(s, VFIO_USER_DEVICE_GET_REGION_INFO, buf, info.argsz,
                         NULL, 0, &body, &blen, fds, &nr);
        ck_assert_msg(r == 0, "GET_REGION_INFO %u with argsz 4064: %s", i,
                      strerror(-r));
        ck_assert_uint_ge(blen, sizeof(info));
        ck_assert_uint_le(blen, info.argsz);
        memcpy(&info, body, sizeof(info));
        ck_assert_uint_eq(info.index, i);
        if (i == VFIO_PCI_CONFIG_REGION_INDEX) {
            ck_assert_uint_ge(info.size, 256);
        }
        if (i == VFIO_PCI_BAR0_REGION_INDEX && !s->db_mappable) {
            /* Trapped doorbells: no mappable part, so SPDK's
             * spdk_vfio_user_get_bar_addr(BAR0, 0x1000) finds nothing. */
            ck_assert_uint_eq(info.flags & VFIO_REGION_INFO_FLAG_MMAP, 0);
            ck_assert_uint_eq(nr, 0);
        } else if (i == VFIO_PCI_BAR0_REGION_INDEX) {
            struct vfio_user_cap_sparse_mmap cap;
            struct vfio_user_sparse_mmap_area area;
            void *p;

            /* Poll mode: the doorbell page is the one sparse area, and its
             * fd comes with this reply (SPDK mmaps fds[i] for area i). */
            ck_assert_uint_ne(info.flags & VFIO_REGION_INFO_FLAG_MMAP, 0);
            ck_assert_uint_ne(info.flags & VFIO_REGION_INFO_FLAG_CAPS, 0);
            ck_assert_uint_eq(blen, info.argsz);
            ck_assert_uint_eq(nr, 1);
            memcpy(&cap, (uint8_t *)body + info.cap_offset, sizeof(cap));
            ck_assert_uint_eq(cap.header.id, VFIO_REGION_INFO_CAP_SPARSE_MMAP);
            ck_assert_uint_eq(cap.nr_areas, 1);
            memcpy(&area, (uint8_t *)body + info.cap_offset + sizeof(cap),
                   sizeof(area));
            ck_assert_uint_eq(area.offset, DB_PAGE);
            ck_assert_uint_ge(area.size, 0x1000);
            p = mmap(NULL, area.size, PROT_READ | PROT_WRITE, MAP_SHARED, fds[0],
                     (off_t)(info.offset + area.offset));
            ck_assert_ptr_ne(p, MAP_FAILED);
            s->db = p;
            close(fds[0]);
        } else {
            pt_close_fds(fds, nr);
            ck_assert_uint_eq(nr, 0);
        }
        free(body);
    }
    ck_assert(s->db_mappable == (s->db != NULL));
}

/* vfio_user_dev_dma_map_unmap() */
static int spdk_dma(struct spdk_client *s, bool map, uint64_t va, uint64_t size,
                    uint64_t file_off)
{
    void *body = NULL;
    size_t blen = 0;
    int r;

    if (map) {
        struct vfio_user_dma_map m = {
            .argsz = sizeof(m),
            .flags = VFIO_USER_F_DMA_REGION_READ | VFIO_USER_F_DMA_REGION_WRITE,
            .offset = file_off, .addr = va, .size = size,
        };

        ck_assert_uint_eq(sizeof(m), 32);
        r = spdk_request(s, VFIO_USER_DMA_MAP, &m, sizeof(m), &s->mem, 1, &body,
                         &blen, NULL, NULL);
    } else {
        struct vfio_user_dma_unmap u = { .argsz = sizeof(u), .addr = va,
                                         .size = size };

        ck_assert_uint_eq(sizeof(u), 24);
        r = spdk_request(s, VFIO_USER_DMA_UNMAP, &u, sizeof(u), &s->mem, 1, &body,
                         &blen, NULL, NULL);
    }
    free(body);
    return r;
}

/* nvme_vfio_ctrlr_construct() up to a ready controller, then one Identify
 * Controller through the mmapped doorbells, as SPDK's admin queue does. */
static void spdk_nvme_attach(struct spdk_client *s)
{
    uint16_t cmd = 0;
    uint64_t cap = 0;
    uint32_t csts = 0;
    uint8_t sqe[64] = { 0 }, cqe[16];
    gint64 deadline;

    spdk_mmio(s, VFIO_PCI_CONFIG_REGION_INDEX, 4, &cmd, 2, false);
    cmd |= 0x404; /* bus master, INTx disabled */
    spdk_mmio(s, VFIO_PCI_CONFIG_REGION_INDEX, 4, &cmd, 2, true);
    spdk_mmio(s, VFIO_PCI_BAR0_REGION_INDEX, REG_CAP, &cap, 8, false);
    ck_assert_uint_eq((cap >> 32) & 0xf, 0); /* DSTRD: 4-byte doorbells */
    ck_assert_uint_ge(bar0_rd32(s, REG_VS), 0x00010400);
    ck_assert_uint_eq(bar0_rd32(s, REG_CC) & 1, 0);
    ck_assert_uint_eq(bar0_rd32(s, REG_CSTS) & 1, 0);
    /* nvme_vfio_ctrlr_enable(): ASQ, ACQ as one 8-byte write each, AQA */
    bar0_wr(s, REG_ASQ, HEAP_VA + ASQ_OFF, 8);
    bar0_wr(s, REG_ACQ, HEAP_VA + ACQ_OFF, 8);
    bar0_wr(s, REG_AQA, (AQ_ENTRIES - 1) << 16 | (AQ_ENTRIES - 1), 4);
    bar0_wr(s, REG_CC, 0x00460001, 4); /* IOCQES 4, IOSQES 6, EN */
    deadline = g_get_monotonic_time() + 10 * G_USEC_PER_SEC;
    while (!((csts = bar0_rd32(s, REG_CSTS)) & 1)) {
        ck_assert_msg(g_get_monotonic_time() < deadline, "CSTS.RDY never set");
        g_usleep(1000);
    }
    ck_assert_uint_eq(csts & 2, 0); /* no CFS */

    /* Identify Controller, CID 7, into IDBUF */
    sqe[0] = 0x06;
    sqe[2] = 7;
    {
        uint64_t prp1 = HEAP_VA + IDBUF_OFF;
        uint32_t cdw10 = 1;

        memcpy(sqe + 24, &prp1, 8);
        memcpy(sqe + 40, &cdw10, 4);
    }
    memcpy(s->ram + ASQ_OFF, sqe, sizeof(sqe));
    __atomic_store_n((uint32_t *)(void *)(s->db + 0), 1, __ATOMIC_RELEASE);
    deadline = g_get_monotonic_time() + 10 * G_USEC_PER_SEC;
    for (;;) {
        memcpy(cqe, s->ram + ACQ_OFF, sizeof(cqe));
        if (cqe[14] & 1) { /* phase tag */
            break;
        }
        ck_assert_msg(g_get_monotonic_time() < deadline,
                      "no completion for Identify through the doorbell page");
        g_usleep(1000);
    }
    ck_assert_uint_eq(cqe[12] | cqe[13] << 8, 7);          /* CID */
    ck_assert_uint_eq((cqe[14] | cqe[15] << 8) >> 1, 0);   /* status */
    /* VID at byte 0, the model number at 24 */
    ck_assert_uint_ne(s->ram[IDBUF_OFF] | s->ram[IDBUF_OFF + 1] << 8, 0);
    ck_assert_int_eq(memcmp(s->ram + IDBUF_OFF + 24, "spdk-replay", 11), 0);
    __atomic_store_n((uint32_t *)(void *)(s->db + 4), 1, __ATOMIC_RELEASE);
}

/* nvme_ctrlr_destruct(): a normal shutdown, then CSTS.SHST complete. */
static void spdk_nvme_shutdown(struct spdk_client *s)
{
    gint64 deadline = g_get_monotonic_time() + 10 * G_USEC_PER_SEC;

    bar0_wr(s, REG_CC, 0x00464001, 4);
    while (((bar0_rd32(s, REG_CSTS) >> 2) & 3) != 2) {
        ck_assert_msg(g_get_monotonic_time() < deadline, "shutdown never completed");
        g_usleep(1000);
    }
}

static struct harness *start_nvme(const char *doorbells)
{
    static const char *const names[] = { "nvme0", NULL };
    g_autofree char *cfg = g_strdup_printf("[nvme0]\nplugin = nvme\n"
                                           "model = spdk-replay\n"
                                           "doorbells = %s\n"
                                           "namespace.1.path = @DIR@/ns1.img\n"
                                           "namespace.1.size = 16M\n",
                                           doorbells);

    return pt_start(cfg, names);
}

static void spdk_open(struct harness *h, struct spdk_client *s)
{
    memset(s, 0, sizeof(*s));
    s->db_mappable = true;
    s->c = pt_connect(h, "nvme0");
    s->mem = pt_memfd(2 * SEG_SIZE);
    s->ram = mmap(NULL, 2 * SEG_SIZE, PROT_READ | PROT_WRITE, MAP_SHARED, s->mem, 0);
    ck_assert_ptr_ne(s->ram, MAP_FAILED);
}

static void spdk_close(struct harness *h, struct spdk_client *s)
{
    if (s->db != NULL) {
        munmap(s->db, 0x1000);
    }
    munmap(s->ram, 2 * SEG_SIZE);
    close(s->mem);
    pt_close_wait(h, s->c);
}

START_TEST(test_spdk_attach_identify_detach)
{
    struct harness *h = start_nvme("poll");
    int base = harness_fd_count(h->pid);
    struct spdk_client s;

    spdk_open(h, &s);
    spdk_version(&s);
    spdk_dev_info(&s);
    spdk_region_infos(&s);
    /* spdk_mem_map_alloc() registers the heap, one notification per
     * contiguous registered range */
    ck_assert_int_eq(spdk_dma(&s, true, HEAP_VA, SEG_SIZE, 0), 0);
    ck_assert_int_eq(spdk_dma(&s, true, HEAP_VA + SEG_SIZE, SEG_SIZE, SEG_SIZE), 0);
    spdk_nvme_attach(&s);
    spdk_nvme_shutdown(&s);
    /* spdk_vfio_user_release(): each window unmapped, with its fd */
    ck_assert_int_eq(spdk_dma(&s, false, HEAP_VA, SEG_SIZE, 0), 0);
    ck_assert_int_eq(spdk_dma(&s, false, HEAP_VA + SEG_SIZE, SEG_SIZE, SEG_SIZE), 0);
    /* the unmaps really removed the windows: mapping them again works,
     * unmapping what is not there does not */
    ck_assert_int_eq(spdk_dma(&s, true, HEAP_VA, 2 * SEG_SIZE, 0), 0);
    ck_assert_int_eq(spdk_dma(&s, false, HEAP_VA, SEG_SIZE, 0), -ENOENT);
    ck_assert_int_eq(spdk_dma(&s, false, HEAP_VA, 2 * SEG_SIZE, 0), 0);
    pt_assert_alive(s.c);
    spdk_close(h, &s);
    /* every stray fd of the unmaps was closed */
    ck_assert_int_eq(pt_fd_count_settle(h, base, 3000), base);
    pt_finish(h);
}
END_TEST

/* What nvme_vfio_ctrlr_construct() does when the doorbell page is not
 * mappable: spdk_vfio_user_setup() completes (VERSION, region infos, the
 * heap's DMA_MAPs), nvme_vfio_setup_bar0() finds no mapping and SPDK logs
 * "Error to get device BAR0", then spdk_vfio_user_release() unmaps and
 * closes: not one region access.  SPDK shows nothing more; the daemon must
 * say who left, why and what to configure.  Shadow and adaptive both trap
 * the doorbells (SPDK never uses Doorbell Buffer Config over vfio-user). */
static void spdk_gives_up(const char *doorbells)
{
    struct harness *h = start_nvme(doorbells);
    g_autofree char *who = g_strdup_printf("client pid %d", (int)getpid());
    struct spdk_client s;

    spdk_open(h, &s);
    s.db_mappable = false;
    spdk_version(&s);
    spdk_dev_info(&s);
    spdk_region_infos(&s);
    ck_assert_int_eq(spdk_dma(&s, true, HEAP_VA, SEG_SIZE, 0), 0);
    ck_assert_int_eq(spdk_dma(&s, true, HEAP_VA + SEG_SIZE, SEG_SIZE, SEG_SIZE), 0);
    ck_assert_int_eq(spdk_dma(&s, false, HEAP_VA, SEG_SIZE, 0), 0);
    ck_assert_int_eq(spdk_dma(&s, false, HEAP_VA + SEG_SIZE, SEG_SIZE, SEG_SIZE), 0);
    spdk_close(h, &s);
    if (!pt_log_wait(h, "set doorbells = poll", 3000)) {
        g_autofree char *log = harness_log(h);

        ck_abort_msg("no word on why SPDK's client left: %s", log);
    }
    ck_assert(harness_log_contains(h, who));
    ck_assert(harness_log_contains(h, "Error to get device BAR0"));
    ck_assert_uint_eq(pt_log_count(h, "set doorbells = poll"), 1);
    pt_finish(h);
}

START_TEST(test_spdk_shadow_says_why)
{
    spdk_gives_up("shadow");
}
END_TEST

START_TEST(test_spdk_adaptive_says_why)
{
    spdk_gives_up("adaptive");
}
END_TEST

/* A client that does use the device in shadow mode (config space, as QEMU
 * at realize, and a register) leaves without that warning. */
START_TEST(test_shadow_client_that_touches_is_not_warned)
{
    struct harness *h = start_nvme("shadow");
    struct spdk_client s;
    uint16_t cmd = 0;

    spdk_open(h, &s);
    s.db_mappable = false;
    spdk_version(&s);
    spdk_dev_info(&s);
    spdk_region_infos(&s);
    spdk_mmio(&s, VFIO_PCI_CONFIG_REGION_INDEX, 4, &cmd, 2, false);
    ck_assert_uint_ge(bar0_rd32(&s, REG_VS), 0x00010400);
    spdk_close(h, &s);
    ck_assert(pt_log_wait(h, "client disconnected", 3000));
    ck_assert_uint_eq(pt_log_count(h, "set doorbells = poll"), 0);
    pt_finish(h);
}
END_TEST

START_TEST(test_spdk_region_info_answers_per_argsz)
{
    struct harness *h = start_nvme("poll");
    struct spdk_client s;
    uint8_t buf[48] = { 0 };
    struct vfio_user_region_info info = { .index = VFIO_PCI_BAR0_REGION_INDEX };
    int fds[8];
    unsigned nr = G_N_ELEMENTS(fds);
    void *body = NULL;
    size_t blen = 0;

    spdk_open(h, &s);
    spdk_version(&s);
    /* A request longer than 32 bytes whose argsz is still too small for
     * the sparse-mmap capability: the 32-byte answer tells the size
     * needed, and no fd comes with it. */
    info.argsz = sizeof(buf);
    memcpy(buf, &info, sizeof(info));
    ck_assert_int_eq(spdk_request(&s, VFIO_USER_DEVICE_GET_REGION_INFO, buf,
                                  sizeof(buf), NULL, 0, &body, &blen, fds, &nr), 0);
    ck_assert_uint_eq(blen, sizeof(info));
    ck_assert_uint_eq(nr, 0);
    memcpy(&info, body, sizeof(info));
    ck_assert_uint_gt(info.argsz, sizeof(buf));
    ck_assert_uint_eq(info.flags & VFIO_REGION_INFO_FLAG_CAPS, 0);
    free(body);
    pt_assert_alive(s.c);
    spdk_close(h, &s);
    pt_finish(h);
}
END_TEST

static Suite *replay_spdk_suite(void)
{
    Suite *s = suite_create("replay-spdk");
    TCase *tc = pt_tcase("spdk");

    tcase_add_test(tc, test_spdk_attach_identify_detach);
    tcase_add_test(tc, test_spdk_region_info_answers_per_argsz);
    tcase_add_test(tc, test_spdk_shadow_says_why);
    tcase_add_test(tc, test_spdk_adaptive_says_why);
    tcase_add_test(tc, test_shadow_client_that_touches_is_not_warned);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return pt_run(replay_spdk_suite());
}
