/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The seed corpus of the NVMe fuzz target (corpus-nvme/), written in the
 * input format of fuzz_nvme.h: what Linux's nvme driver does when it
 * probes a controller, then a few I/O patterns the fuzzer should start
 * from (PRP lists and SGL segments, chained too, message-only memory,
 * shadow and polled doorbells, INTx, unmapping, shutdown, durable writes,
 * completions waiting for room).
 *
 *   test_fuzz_nvme_seeds             check that corpus-nvme/ of the source
 *                                    tree holds exactly these seeds (make
 *                                    check: a format change needs new ones)
 *   test_fuzz_nvme_seeds --write DIR write them (make fuzz-nvme-seeds)
 */
#include "config.h"

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz_nvme.h"
#include "../../plugins/nvme/nvme_spec.h"

struct seed {
    uint8_t buf[8192];
    size_t len;
    uint16_t cid; /* the next command's, as a driver numbers them */
};

/* ---- Encoding ---- */

static void put(struct seed *s, uint64_t v, unsigned bytes)
{
    if (s->len + bytes > sizeof(s->buf)) {
        fprintf(stderr, "test_fuzz_nvme_seeds: a seed outgrew its buffer\n");
        exit(EXIT_FAILURE);
    }
    for (unsigned i = 0; i < bytes; i++) {
        s->buf[s->len++] = (uint8_t)(v >> (8 * i));
    }
}

/* An address in window w (enum nf_addr_base), off bytes in. */
struct addr {
    uint8_t sel;
    uint32_t off;
};

static struct addr w0(uint32_t off)
{
    return (struct addr){ NF_ADDR_W0, off };
}

static struct addr w1(uint32_t off)
{
    return (struct addr){ NF_ADDR_W1, off };
}

static struct addr w2(uint32_t off)
{
    return (struct addr){ NF_ADDR_W2, off };
}

static void put_addr(struct seed *s, struct addr a)
{
    put(s, a.sel, 1);
    put(s, a.off, 4);
}

static void reg_write32(struct seed *s, uint16_t off, uint32_t v)
{
    put(s, NF_OP_REG_WRITE, 1);
    put(s, 2, 1); /* 4 bytes */
    put(s, off, 2);
    put(s, v, 8);
}

static void reg_read32(struct seed *s, uint16_t off)
{
    put(s, NF_OP_REG_READ, 1);
    put(s, 2, 1);
    put(s, off, 2);
}

/* A command on qid (0: admin) with data at d1 (and d2) if given. */
static void cmd(struct seed *s, unsigned qid, uint8_t flags,
                const struct nvme_sqe *cmd_sqe, const struct addr *d1,
                const struct addr *d2)
{
    struct nvme_sqe e = *cmd_sqe;
    const struct nvme_sqe *sqe = &e;

    e.cid = s->cid++;
    put(s, qid ? NF_OP_IO : NF_OP_ADMIN, 1);
    if (qid) {
        put(s, qid - 1, 1); /* the target adds 1 */
    }
    flags |= (d1 ? NF_CMD_DPTR1 : 0) | (d2 ? NF_CMD_DPTR2 : 0);
    put(s, flags, 1);
    for (unsigned i = 0; i < sizeof(*sqe); i++) {
        put(s, ((const uint8_t *)sqe)[i], 1);
    }
    if (d1) {
        put_addr(s, *d1);
    }
    if (d2) {
        put_addr(s, *d2);
    }
}

static void mem_write(struct seed *s, struct addr a, const void *p, uint16_t len)
{
    put(s, NF_OP_MEM_WRITE, 1);
    put_addr(s, a);
    put(s, len, 2);
    for (unsigned i = 0; i < len; i++) {
        put(s, ((const uint8_t *)p)[i], 1);
    }
}

static void prp_list(struct seed *s, struct addr list, unsigned n,
                     struct addr first)
{
    put(s, NF_OP_PRP_LIST, 1);
    put_addr(s, list);
    put(s, n - 1, 1);
    put_addr(s, first);
    put(s, 1, 1); /* consecutive pages */
}

struct sgl {
    uint8_t type;
    uint32_t len;
    struct addr a;
};

static void sgl(struct seed *s, struct addr at, const struct sgl *d, unsigned n)
{
    put(s, NF_OP_SGL, 1);
    put_addr(s, at);
    put(s, n - 1, 1);
    for (unsigned i = 0; i < n; i++) {
        put(s, d[i].type, 1);
        put(s, d[i].len, 4);
        put_addr(s, d[i].a);
    }
}

/* ---- Commands ---- */

static struct nvme_sqe sqe(uint8_t opcode, uint32_t nsid, uint32_t cdw10,
                           uint32_t cdw11, uint32_t cdw12)
{
    struct nvme_sqe e;

    memset(&e, 0, sizeof(e));
    e.opcode = opcode;
    e.nsid = nsid;
    e.cdw10 = cdw10;
    e.cdw11 = cdw11;
    e.cdw12 = cdw12;
    return e;
}

/* Scratch page the admin commands read into. */
#define DATA 0x10000u

static void identify(struct seed *s, uint8_t cns, uint32_t nsid)
{
    struct nvme_sqe e = sqe(NVME_ADM_IDENTIFY, nsid, cns, 0, 0);
    struct addr d = w0(DATA);

    cmd(s, 0, 0, &e, &d, NULL);
}

static void set_features(struct seed *s, uint8_t fid, uint32_t v)
{
    struct nvme_sqe e = sqe(NVME_ADM_SET_FEATURES, 0, fid, v, 0);

    cmd(s, 0, 0, &e, NULL, NULL);
}

static void get_features(struct seed *s, uint8_t fid, uint32_t cdw11)
{
    struct nvme_sqe e = sqe(NVME_ADM_GET_FEATURES, 0, fid, cdw11, 0);

    cmd(s, 0, 0, &e, NULL, NULL);
}

static void get_log(struct seed *s, uint8_t lid, uint32_t bytes, uint32_t off)
{
    uint32_t numd = bytes / 4 - 1;
    struct nvme_sqe e = sqe(NVME_ADM_GET_LOG_PAGE, NVME_NSID_ALL,
                            lid | (numd & 0xffff) << 16, numd >> 16, off);
    struct addr d = w0(DATA);

    cmd(s, 0, 0, &e, &d, NULL);
}

/* I/O queue pair qid of n entries, CQ then SQ, at sq_at/cq_at. */
static void create_queue_at(struct seed *s, uint16_t qid, uint32_t n,
                            uint16_t vector, struct addr cq_at,
                            struct addr sq_at)
{
    struct nvme_sqe e = sqe(NVME_ADM_CREATE_CQ, 0, qid | (n - 1) << 16,
                            1u | 2u | (uint32_t)vector << 16, 0);

    cmd(s, 0, 0, &e, &cq_at, NULL);
    e = sqe(NVME_ADM_CREATE_SQ, 0, qid | (n - 1) << 16, 1u | (uint32_t)qid << 16, 0);
    cmd(s, 0, 0, &e, &sq_at, NULL);
}

static void create_queue(struct seed *s, uint16_t qid)
{
    create_queue_at(s, qid, 64, qid, w0(0x20000u + qid * 0x2000u),
                    w0(0x21000u + qid * 0x2000u));
}

static void rw(struct seed *s, unsigned qid, uint8_t opcode, uint32_t nsid,
               uint64_t slba, uint32_t nlb, const struct addr *d1,
               const struct addr *d2)
{
    struct nvme_sqe e = sqe(opcode, nsid, (uint32_t)slba,
                            (uint32_t)(slba >> 32), nlb - 1);

    cmd(s, qid, 0, &e, d1, d2);
}

/* What Linux does up to its first I/O: identify, number of queues, the
 * queues (none: the caller makes its own), namespaces, AER, shadow
 * doorbells, logs. */
static void linux_probe(struct seed *s, unsigned queues, bool shadow)
{
    unsigned asked = queues ? queues - 1 : 0; /* 0's based */
    struct nvme_sqe e;

    identify(s, NVME_CNS_CTRL, 0);
    set_features(s, NVME_FEAT_NUM_QUEUES, asked | asked << 16);
    if (shadow) {
        struct addr dbs = w0(0x30000), eis = w0(0x31000);

        e = sqe(NVME_ADM_DBBUF_CONFIG, 0, 0, 0, 0);
        cmd(s, 0, 0, &e, &dbs, &eis);
    }
    for (uint16_t q = 1; q <= queues; q++) {
        create_queue(s, q);
    }
    identify(s, NVME_CNS_NS_ACTIVE_LIST, 0);
    for (uint32_t ns = 1; ns <= 3; ns++) {
        identify(s, NVME_CNS_NS, ns);
        identify(s, NVME_CNS_NS_DESC_LIST, ns);
        identify(s, NVME_CNS_CS_INDEP_NS, ns);
    }
    get_features(s, NVME_FEAT_VOLATILE_WC, 0);
    set_features(s, NVME_FEAT_ASYNC_EVENT, 0x100);
    e = sqe(NVME_ADM_ASYNC_EVENT, 0, 0, 0, 0);
    cmd(s, 0, NF_CMD_NO_REAP, &e, NULL, NULL);
    get_log(s, NVME_LOG_CMD_EFFECTS, 4096, 0);
    get_log(s, NVME_LOG_SMART, 512, 0);
    get_log(s, NVME_LOG_ERROR, 256, 0);
}

/* ---- The seeds ---- */

static void seed_linux_probe(struct seed *s)
{
    struct addr d = w0(0x50000);

    put(s, 0, 1);
    linux_probe(s, 4, true);
    rw(s, 1, NVME_CMD_READ, 1, 0, 8, &d, NULL); /* the partition table */
    rw(s, 2, NVME_CMD_READ, 2, 0, 8, &d, NULL);
}

static void seed_io_prp(struct seed *s)
{
    static const char hello[] = "written by the fuzz seed";
    struct addr a = w0(0x50000), b = w0(0x51000), list = w0(0x40000),
                odd = w0(0x52200), cross = { NF_ADDR_W0_END, 0x1000 };

    put(s, 0, 1);
    linux_probe(s, 1, true);
    mem_write(s, a, hello, sizeof(hello));
    rw(s, 1, NVME_CMD_WRITE, 2, 0, 16, &a, &b);          /* PRP1 + PRP2 */
    rw(s, 1, NVME_CMD_READ, 2, 0, 16, &b, &a);
    prp_list(s, list, 16, w0(0x60000));
    rw(s, 1, NVME_CMD_WRITE, 2, 64, 128, &a, &list);     /* PRP list */
    rw(s, 1, NVME_CMD_READ, 2, 64, 128, &odd, &list);    /* offset PRP1 */
    rw(s, 1, NVME_CMD_READ, 2, 8, 8, &cross, NULL);      /* across W0/W1 */
    rw(s, 1, NVME_CMD_COMPARE, 2, 0, 1, &a, NULL);
    rw(s, 1, NVME_CMD_READ, 1, 100, 256, &a, &list);     /* MDTS */
}

static void seed_io_sgl(struct seed *s)
{
    const struct sgl descs[] = {
        { NVME_SGL_DATA_BLOCK << 4, 1024, w0(0x50000) },
        { NVME_SGL_DATA_BLOCK << 4, 2048, w2(0x1000) },
        { NVME_SGL_DATA_BLOCK << 4, 1024, w1(0x300) },
    };
    struct addr seg = w0(0x48000);
    struct nvme_sqe e;

    put(s, 0, 1);
    linux_probe(s, 1, false);
    /* one data block in the command */
    e = sqe(NVME_CMD_WRITE, 2, 0, 0, 7);
    e.flags = 1u << 6;
    e.dptr2 = 4096ull | (uint64_t)(NVME_SGL_DATA_BLOCK << 4) << 56;
    cmd(s, 1, 0, &e, &(struct addr){ NF_ADDR_W2, 0x2000 }, NULL);
    /* a last segment of three descriptors */
    sgl(s, seg, descs, 3);
    e = sqe(NVME_CMD_READ, 2, 0, 0, 7);
    e.flags = 1u << 6;
    e.dptr2 = 48ull | (uint64_t)(NVME_SGL_LAST_SEGMENT << 4) << 56;
    cmd(s, 1, 0, &e, &seg, NULL);
    e.opcode = NVME_CMD_WRITE;
    e.nsid = 1;
    cmd(s, 1, 0, &e, &seg, NULL);
}

static void seed_io_misc(struct seed *s)
{
    const struct nvme_dsm_range ranges[] = {
        { 0, 16, 0 }, { 0, 8, 1000 }, { 0, 0, 2000 },
    };
    struct addr a = w0(0x50000), r = w0(0x58000), m = w2(0x3000);
    struct nvme_sqe e;

    put(s, 0, 1);
    linux_probe(s, 2, true);
    rw(s, 1, NVME_CMD_WRITE, 2, 10, 8, &a, NULL);
    e = sqe(NVME_CMD_FLUSH, NVME_NSID_ALL, 0, 0, 0);
    cmd(s, 1, 0, &e, NULL, NULL);
    e = sqe(NVME_CMD_FLUSH, 2, 0, 0, 0);
    cmd(s, 2, 0, &e, NULL, NULL);
    e = sqe(NVME_CMD_WRITE_ZEROES, 2, 10, 0, 7 | NVME_WZ_DEAC);
    cmd(s, 1, 0, &e, NULL, NULL);
    e = sqe(NVME_CMD_WRITE_ZEROES, 2, 20, 0, 7 | NVME_RW_FUA);
    cmd(s, 1, 0, &e, NULL, NULL);
    mem_write(s, r, ranges, sizeof(ranges));
    e = sqe(NVME_CMD_DSM, 2, 2, NVME_DSM_AD, 0);
    cmd(s, 2, 0, &e, &r, NULL);
    rw(s, 1, NVME_CMD_COMPARE, 2, 10, 8, &a, NULL);
    rw(s, 1, NVME_CMD_READ, 3, 0, 2, &a, &m);             /* 4 KiB blocks */
    rw(s, 1, NVME_CMD_WRITE, 3, 0, 1, &a, NULL);          /* read-only */
    rw(s, 2, NVME_CMD_READ, 1, 0, 8, &m, NULL);           /* message-only */
    rw(s, 2, NVME_CMD_WRITE, 2, 0, 8, &m, NULL);
    rw(s, 2, NVME_CMD_READ, 2, 8191, 2, &a, NULL);        /* past the end */
}

static void seed_admin_misc(struct seed *s)
{
    struct nvme_sqe e;

    put(s, 0, 1);
    linux_probe(s, 1, false);
    for (uint8_t fid = NVME_FEAT_ARBITRATION; fid <= NVME_FEAT_ASYNC_EVENT; fid++) {
        get_features(s, fid, 0);
        get_features(s, fid | 3u << 8, 0); /* supported capabilities */
    }
    set_features(s, NVME_FEAT_TEMP_THRESH, 350 | 1u << 20);
    set_features(s, NVME_FEAT_IRQ_CONFIG, 1 | 1u << 16);
    set_features(s, NVME_FEAT_VOLATILE_WC, 0);
    get_log(s, NVME_LOG_FW_SLOT, 512, 0);
    get_log(s, NVME_LOG_SMART, 8192, 256);
    identify(s, NVME_CNS_CS_CTRL, 0);
    identify(s, 0x55, 0);
    e = sqe(NVME_ADM_ABORT, 0, 1u << 16, 0, 0);
    cmd(s, 0, 0, &e, NULL, NULL);
    e = sqe(NVME_ADM_KEEP_ALIVE, 0, 0, 0, 0);
    cmd(s, 0, 0, &e, NULL, NULL);
    e = sqe(NVME_ADM_FORMAT_NVM, 2, 1 | 1u << 9, 0, 0); /* 4 KiB, erase */
    cmd(s, 0, 0, &e, NULL, NULL);
    identify(s, NVME_CNS_NS, 2);
    e = sqe(NVME_ADM_DELETE_SQ, 0, 1, 0, 0);
    cmd(s, 0, 0, &e, NULL, NULL);
    e = sqe(NVME_ADM_DELETE_CQ, 0, 1, 0, 0);
    cmd(s, 0, 0, &e, NULL, NULL);
    create_queue_at(s, 1, 2, 1, w1(0x10000), w1(0x11000));
    rw(s, 1, NVME_CMD_READ, 2, 0, 1, &(struct addr){ NF_ADDR_W0, 0x50000 }, NULL);
}

/* Shutdown as Linux does at power-off: CC.SHN normal, poll CSTS.SHST. */
static void seed_shutdown(struct seed *s)
{
    struct addr a = w0(0x50000);

    put(s, 0, 1);
    linux_probe(s, 1, true);
    rw(s, 1, NVME_CMD_WRITE, 2, 0, 8, &a, NULL);
    reg_write32(s, NVME_REG_CC, NVME_CC_EN | 6u << 16 | 4u << 20 | 1u << 14);
    reg_read32(s, NVME_REG_CSTS);
    reg_write32(s, NVME_REG_CC, 0);
    reg_read32(s, NVME_REG_CSTS);
    put(s, NF_OP_BRINGUP, 1);
    identify(s, NVME_CNS_CTRL, 0);
}

/* doorbells=poll, queue-entries 4096, 128 queue pairs. */
static void seed_poll(struct seed *s)
{
    struct addr a = w0(0x50000);

    put(s, NF_SETUP_POLL | NF_SETUP_MANY_QUEUES | 2u << 2, 1);
    linux_probe(s, 2, true); /* Doorbell Buffer Config is refused */
    create_queue_at(s, 128, 4096, 128, w1(0), w0(0x80000));
    rw(s, 128, NVME_CMD_READ, 1, 0, 1, &a, NULL);
    rw(s, 1, NVME_CMD_WRITE, 2, 0, 1, &a, NULL);
}

/* Queues in message-only memory; INTx; the guest programs the registers. */
static void seed_msg_queues_intx(struct seed *s)
{
    struct addr a = w2(0x8000);

    put(s, NF_SETUP_NO_BRINGUP, 1);
    put(s, NF_OP_IRQ_MODE, 1);
    put(s, 2, 1); /* INTx */
    reg_write32(s, NVME_REG_AQA, 7 | 7u << 16);
    reg_write32(s, NVME_REG_ASQ, (uint32_t)NF_W2_IOVA);
    reg_write32(s, NVME_REG_ASQ + 4, 0);
    reg_write32(s, NVME_REG_ACQ, (uint32_t)(NF_W2_IOVA + 0x1000));
    reg_write32(s, NVME_REG_ACQ + 4, 0);
    reg_write32(s, NVME_REG_CC, NVME_CC_EN | 6u << 16 | 4u << 20);
    reg_read32(s, NVME_REG_CSTS);
    identify(s, NVME_CNS_CTRL, 0);
    create_queue_at(s, 1, 16, 0, w2(0x4000), w2(0x5000));
    rw(s, 1, NVME_CMD_READ, 1, 0, 8, &a, NULL);
    reg_write32(s, NVME_REG_INTMS, 1);
    rw(s, 1, NVME_CMD_WRITE, 2, 0, 8, &a, NULL);
    reg_write32(s, NVME_REG_INTMC, 1);
}

/* The client unmaps memory the queues live in, maps it again (message-only
 * this time), resets. */
static void seed_unmap(struct seed *s)
{
    struct addr a = w0(0x50000);

    put(s, 0, 1);
    linux_probe(s, 1, true);
    create_queue_at(s, 2, 32, 2, w1(0x20000), w1(0x21000));
    rw(s, 2, NVME_CMD_READ, 2, 0, 8, &a, NULL);
    put(s, NF_OP_WINDOW, 1);
    put(s, NF_W1, 1);
    rw(s, 2, NVME_CMD_READ, 2, 0, 8, &a, NULL);
    put(s, NF_OP_WINDOW, 1);
    put(s, NF_W1 | NF_WINDOW_SWAP, 1); /* back, but message-only */
    rw(s, 2, NVME_CMD_READ, 2, 0, 8, &a, NULL);
    /* the same under the admin queue and the shadow doorbells */
    put(s, NF_OP_WINDOW, 1);
    put(s, NF_W0, 1);
    put(s, NF_OP_WINDOW, 1);
    put(s, NF_W0 | NF_WINDOW_SWAP, 1);
    rw(s, 1, NVME_CMD_READ, 2, 0, 8, &a, NULL);
    identify(s, NVME_CNS_CTRL, 0);
    put(s, NF_OP_BUS_MASTER, 1);
    put(s, 0, 1);
    rw(s, 1, NVME_CMD_READ, 2, 0, 8, &a, NULL);
    put(s, NF_OP_BUS_MASTER, 1);
    put(s, 1, 1);
    put(s, NF_OP_RESET, 1);
    put(s, 1, 1); /* FLR */
    put(s, NF_OP_BRINGUP, 1);
    identify(s, NVME_CNS_CTRL, 0);
}

/* A PRP list that continues on another page, SGL segments chained. */
static void seed_chains(struct seed *s)
{
    const struct sgl seg1[] = {
        { NVME_SGL_DATA_BLOCK << 4, 512, w0(0x50000) },
        { NVME_SGL_SEGMENT << 4, 32, w0(0x49000) },
    };
    const struct sgl seg2[] = {
        { NVME_SGL_DATA_BLOCK << 4, 512, w2(0x1000) },
        { NVME_SGL_LAST_SEGMENT << 4, 16, w0(0x4a000) },
    };
    const struct sgl seg3[] = {
        { NVME_SGL_DATA_BLOCK << 4, 1024, w1(0x800) },
    };
    const struct sgl bucket[] = {
        { NVME_SGL_BIT_BUCKET << 4, 512, w0(0x50000) },
    };
    struct addr a = w0(0x50000), list = w0(0x40ff0), seg = w0(0x48000);
    uint64_t next = NF_W0_IOVA + 0x41000;
    struct nvme_sqe e;

    put(s, 0, 1);
    linux_probe(s, 1, true);
    /* two entries fit before the page ends: a data page, then the page
     * where the list goes on */
    prp_list(s, list, 1, w0(0x61000));
    mem_write(s, w0(0x40ff8), &next, sizeof(next));
    prp_list(s, w0(0x41000), 6, w0(0x62000));
    rw(s, 1, NVME_CMD_WRITE, 2, 0, 64, &a, &list);
    rw(s, 1, NVME_CMD_READ, 2, 0, 64, &a, &list);
    /* a segment, a segment, a last segment: 2 KiB */
    sgl(s, seg, seg1, 2);
    sgl(s, w0(0x49000), seg2, 2);
    sgl(s, w0(0x4a000), seg3, 1);
    e = sqe(NVME_CMD_READ, 2, 0, 0, 3);
    e.flags = 1u << 6;
    e.dptr2 = 32ull | (uint64_t)(NVME_SGL_SEGMENT << 4) << 56;
    cmd(s, 1, 0, &e, &seg, NULL);
    e.opcode = NVME_CMD_WRITE;
    cmd(s, 1, 0, &e, &seg, NULL);
    /* a bit bucket, which the controller does not support */
    sgl(s, w0(0x4b000), bucket, 1);
    e.dptr2 = 16ull | (uint64_t)(NVME_SGL_LAST_SEGMENT << 4) << 56;
    e.nsid = 1;
    e.cdw12 = 0;
    cmd(s, 1, 0, &e, &(struct addr){ NF_ADDR_W0, 0x4b000 }, NULL);
}

/* No volatile write cache on namespace 2, FUA, the other namespaces. */
static void seed_durable(struct seed *s)
{
    const struct nvme_dsm_range range = { 0, 8, 0 };
    struct addr a = w0(0x50000), r = w0(0x58000);
    struct nvme_sqe e;

    put(s, NF_SETUP_NO_WCACHE, 1);
    linux_probe(s, 1, false);
    rw(s, 1, NVME_CMD_WRITE, 2, 0, 8, &a, NULL);
    set_features(s, NVME_FEAT_VOLATILE_WC, 1);
    e = sqe(NVME_CMD_WRITE, 2, 8, 0, 7 | NVME_RW_FUA);
    cmd(s, 1, 0, &e, &a, NULL);
    e = sqe(NVME_CMD_WRITE_ZEROES, 2, 0, 0, 7 | NVME_RW_FUA | NVME_WZ_DEAC);
    cmd(s, 1, 0, &e, NULL, NULL);
    rw(s, 1, NVME_CMD_COMPARE, 1, 0, 8, &a, NULL);
    rw(s, 1, NVME_CMD_COMPARE, 3, 0, 1, &a, NULL);
    mem_write(s, r, &range, sizeof(range));
    for (uint32_t ns = 1; ns <= 3; ns++) {
        e = sqe(NVME_CMD_DSM, ns, 0, NVME_DSM_AD, 0);
        cmd(s, 1, 0, &e, &r, NULL);
        e = sqe(NVME_CMD_WRITE_ZEROES, ns, 0, 0, 0);
        cmd(s, 1, 0, &e, NULL, NULL);
    }
}

/* Two SQs on a CQ of two entries: completions wait for room; one SQ is
 * deleted while they do. */
static void seed_shared_cq(struct seed *s)
{
    struct addr a = w0(0x50000), cq = w0(0x20000), sq1 = w0(0x21000),
                sq2 = w0(0x22000);
    struct nvme_sqe e;

    put(s, 0, 1);
    linux_probe(s, 0, false);
    e = sqe(NVME_ADM_CREATE_CQ, 0, 1 | 1u << 16, 1u | 2u | 1u << 16, 0);
    cmd(s, 0, 0, &e, &cq, NULL);
    e = sqe(NVME_ADM_CREATE_SQ, 0, 1 | 7u << 16, 1u | 1u << 16, 0);
    cmd(s, 0, 0, &e, &sq1, NULL);
    e = sqe(NVME_ADM_CREATE_SQ, 0, 2 | 7u << 16, 1u | 1u << 16, 0);
    cmd(s, 0, 0, &e, &sq2, NULL);
    for (unsigned i = 0; i < 3; i++) {
        e = sqe(NVME_CMD_READ, 1, i, 0, 0);
        cmd(s, 1, NF_CMD_NO_REAP, &e, &a, NULL);
        cmd(s, 2, NF_CMD_NO_REAP, &e, &a, NULL);
    }
    e = sqe(NVME_ADM_DELETE_SQ, 0, 1, 0, 0);
    cmd(s, 0, NF_CMD_NO_REAP, &e, NULL, NULL);
    put(s, NF_OP_REAP, 1);
    put(s, 0, 1);
    put(s, 0, 1);
    put(s, NF_OP_REAP, 1);
    put(s, 0xff, 1);
    put(s, 0, 1);
}

static const struct {
    const char *name;
    void (*make)(struct seed *s);
} seeds[] = {
    { "linux-probe", seed_linux_probe },
    { "io-prp", seed_io_prp },
    { "io-sgl", seed_io_sgl },
    { "io-misc", seed_io_misc },
    { "admin-misc", seed_admin_misc },
    { "shutdown", seed_shutdown },
    { "poll-4096", seed_poll },
    { "msg-queues-intx", seed_msg_queues_intx },
    { "unmap", seed_unmap },
    { "io-chains", seed_chains },
    { "durable", seed_durable },
    { "shared-cq", seed_shared_cq },
};

/* Write (or compare with) dir/name; 0 if it is (now) what it should be. */
static int one(const char *dir, const char *name, const struct seed *s,
               bool write)
{
    char path[4096];
    uint8_t old[sizeof(s->buf) + 1];
    size_t n;
    FILE *f;

    snprintf(path, sizeof(path), "%s/%s", dir, name);
    if (write) {
        f = fopen(path, "wb");
        if (!f || fwrite(s->buf, 1, s->len, f) != s->len || fclose(f) != 0) {
            fprintf(stderr, "test_fuzz_nvme_seeds: %s: %s\n", path, strerror(errno));
            return -1;
        }
        return 0;
    }
    f = fopen(path, "rb");
    if (!f) {
        fprintf(stderr, "test_fuzz_nvme_seeds: %s: %s\n", path, strerror(errno));
        return -1;
    }
    n = fread(old, 1, sizeof(old), f);
    fclose(f);
    if (n != s->len || memcmp(old, s->buf, n) != 0) {
        fprintf(stderr, "test_fuzz_nvme_seeds: %s is not what the generator "
                "makes: run make fuzz-nvme-seeds\n", path);
        return -1;
    }
    return 0;
}

int main(int argc, char **argv)
{
    bool write = argc == 3 && strcmp(argv[1], "--write") == 0;
    const char *dir = write ? argv[2] : FUZZ_SRCDIR "/corpus-nvme";
    int r = 0;

    if (argc != 1 && !write) {
        fprintf(stderr, "usage: test_fuzz_nvme_seeds [--write DIR]\n");
        return 2;
    }
    for (size_t i = 0; i < sizeof(seeds) / sizeof(seeds[0]); i++) {
        struct seed s = { .len = 0, .cid = 0 };

        seeds[i].make(&s);
        if (one(dir, seeds[i].name, &s, write) < 0) {
            r = -1;
        }
    }
    if (r == 0) {
        printf("%zu seeds %s\n", sizeof(seeds) / sizeof(seeds[0]),
               write ? "written" : "checked");
    }
    return r == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
