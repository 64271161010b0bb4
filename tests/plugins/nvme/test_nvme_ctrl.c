/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * NVMe plugin, controller level: PCI identity, registers, enable/disable,
 * Identify, features, queue management and its error cases, log pages,
 * asynchronous events, shutdown and reset with I/O in flight.
 */
#include "config.h"

#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "nvme_tdrv_fake.h"

#define NS_SIZE (64ull << 20)

static struct tdrv D;

static void open_default(const char *const *extra)
{
    ck_assert_int_eq(td_open(&D, NS_SIZE, false, extra), 0);
}

static void up(void)
{
    open_default(NULL);
    ck_assert_int_eq(td_enable(&D, 32), 0);
}

static void down(void)
{
    td_close(&D);
}

static struct nvme_sqe cmd(uint8_t opc)
{
    struct nvme_sqe c;

    memset(&c, 0, sizeof(c));
    c.opcode = opc;
    return c;
}

static int identify(uint8_t cns, uint32_t nsid, uint64_t *buf_iova)
{
    struct nvme_sqe c = cmd(NVME_ADM_IDENTIFY);

    *buf_iova = td_alloc(&D, 4096, 4096);
    memset(td_ptr(&D, *buf_iova), 0xee, 4096);
    c.nsid = nsid;
    c.dptr1 = *buf_iova;
    c.cdw10 = cns;
    return td_cmd(&D, 0, &c, NULL);
}

static uint16_t le16(const uint8_t *p)
{
    return (uint16_t)(p[0] | p[1] << 8);
}

static uint32_t le32(const uint8_t *p)
{
    return (uint32_t)le16(p) | (uint32_t)le16(p + 2) << 16;
}

static uint64_t le64(const uint8_t *p)
{
    return le32(p) | (uint64_t)le32(p + 4) << 32;
}

START_TEST(test_pci_identity)
{
    open_default(NULL);
    ck_assert_uint_eq(fake_pci_id(D.dev)->class_code, 0x010802);
    ck_assert_int_eq(fake_pci_type(D.dev), VFUD_PCI_EXPRESS);
    ck_assert(fake_has_cap(D.dev, "pm"));
    ck_assert(fake_has_cap(D.dev, "express"));
    ck_assert(fake_has_cap(D.dev, "msix"));
    ck_assert_uint_eq(fake_msix_vectors(D.dev), 5); /* 4 queues + admin */
    ck_assert_uint_eq(fake_region_size(D.dev, VFUD_REGION_BAR0), 0x4000);
    ck_assert(fake_region_flags(D.dev, VFUD_REGION_BAR0) & VFUD_REGION_64BIT);
    ck_assert(fake_region_mem(D.dev, VFUD_REGION_BAR0) == NULL);
    ck_assert_uint_eq(fake_irq_count_setup(D.dev, VFUD_IRQ_INTX), 1);
    down();
}
END_TEST

START_TEST(test_registers)
{
    uint64_t cap;

    open_default(NULL);
    cap = fake_read64(D.dev, 0, NVME_REG_CAP);
    ck_assert_uint_eq(cap & 0xffff, 1023);          /* MQES */
    ck_assert(cap & (1ull << 16));                  /* CQR */
    ck_assert_uint_ne((cap >> 24) & 0xff, 0);       /* TO */
    ck_assert_uint_eq((cap >> 32) & 0xf, 0);        /* DSTRD */
    ck_assert(cap & (1ull << 37));                  /* CSS: NVM */
    ck_assert_uint_eq((cap >> 48) & 0xff, 0);       /* MPSMIN/MAX: 4 KiB */
    ck_assert_uint_eq(fake_read32(D.dev, 0, NVME_REG_VS), 0x00010400);
    ck_assert_uint_eq(fake_read32(D.dev, 0, NVME_REG_CSTS), 0);
    /* byte and 16-bit reads */
    {
        uint8_t b = 0;
        uint16_t h = 0;

        ck_assert_int_eq(fake_region_read(D.dev, 0, NVME_REG_VS + 2, &b, 1), 0);
        ck_assert_uint_eq(b, 1);
        ck_assert_int_eq(fake_region_read(D.dev, 0, NVME_REG_VS + 1, &h, 2), 0);
        ck_assert_uint_eq(h, 0x0104);
    }
    /* AQA / ASQ / ACQ read back; 8-byte writes too */
    fake_write32(D.dev, 0, NVME_REG_AQA, 0x001f001f);
    ck_assert_uint_eq(fake_read32(D.dev, 0, NVME_REG_AQA), 0x001f001f);
    {
        uint64_t v = 0x123456789000ull;

        ck_assert_int_eq(fake_region_write(D.dev, 0, NVME_REG_ASQ, &v, 8), 0);
        ck_assert_uint_eq(fake_read64(D.dev, 0, NVME_REG_ASQ), v);
    }
    /* INTMS / INTMC */
    fake_write32(D.dev, 0, NVME_REG_INTMS, 1);
    ck_assert_uint_eq(fake_read32(D.dev, 0, NVME_REG_INTMS), 1);
    fake_write32(D.dev, 0, NVME_REG_INTMC, 1);
    ck_assert_uint_eq(fake_read32(D.dev, 0, NVME_REG_INTMC), 0);
    /* doorbells read as zero; writes outside the registers are harmless */
    ck_assert_uint_eq(fake_read32(D.dev, 0, NVME_REG_DBS), 0);
    fake_write32(D.dev, 0, 0x1ffc, 5);
    fake_write32(D.dev, 0, 0x800, 5);
    down();
}
END_TEST

START_TEST(test_enable_disable)
{
    up();
    ck_assert_uint_eq(fake_read32(D.dev, 0, NVME_REG_CSTS) & NVME_CSTS_RDY, 1);
    ck_assert_int_eq(td_disable(&D), 0);
    ck_assert_int_eq(td_enable(&D, 2), 0); /* smallest admin queue */
    {
        uint64_t b;
        ck_assert_int_eq(identify(NVME_CNS_CTRL, 0, &b), 0);
    }
    down();
}
END_TEST

START_TEST(test_enable_invalid)
{
    open_default(NULL);
    fake_write32(D.dev, 0, NVME_REG_AQA, 0); /* one-entry queues: invalid */
    fake_write64(D.dev, 0, NVME_REG_ASQ, TD_MEM_IOVA);
    fake_write64(D.dev, 0, NVME_REG_ACQ, TD_MEM_IOVA + 4096);
    fake_write32(D.dev, 0, NVME_REG_CC, NVME_CC_EN | 6u << 16 | 4u << 20);
    ck_assert_uint_eq(fake_read32(D.dev, 0, NVME_REG_CSTS) &
                      (NVME_CSTS_RDY | NVME_CSTS_CFS), NVME_CSTS_CFS);
    fake_write32(D.dev, 0, NVME_REG_CC, 0);
    ck_assert_uint_eq(fake_read32(D.dev, 0, NVME_REG_CSTS), 0);
    /* misaligned ASQ */
    fake_write32(D.dev, 0, NVME_REG_AQA, 0x00030003);
    fake_write64(D.dev, 0, NVME_REG_ASQ, TD_MEM_IOVA + 64);
    fake_write32(D.dev, 0, NVME_REG_CC, NVME_CC_EN | 6u << 16 | 4u << 20);
    ck_assert(fake_read32(D.dev, 0, NVME_REG_CSTS) & NVME_CSTS_CFS);
    /* memory page size the controller does not support */
    fake_write32(D.dev, 0, NVME_REG_CC, 0);
    fake_write64(D.dev, 0, NVME_REG_ASQ, TD_MEM_IOVA);
    fake_write32(D.dev, 0, NVME_REG_CC, NVME_CC_EN | 1u << 7);
    ck_assert(fake_read32(D.dev, 0, NVME_REG_CSTS) & NVME_CSTS_CFS);
    down();
}
END_TEST

START_TEST(test_identify_ctrl)
{
    uint64_t b;
    uint8_t *d;

    up();
    ck_assert_int_eq(identify(NVME_CNS_CTRL, 0, &b), 0);
    d = td_ptr(&D, b);
    ck_assert_uint_eq(le16(d + NVME_IDC_VID), fake_pci_id(D.dev)->vendor_id);
    ck_assert_int_eq(memcmp(d + NVME_IDC_SN, "VFUD", 4), 0);
    ck_assert_int_eq(memcmp(d + NVME_IDC_MN, "vfiouserd NVMe", 14), 0);
    ck_assert_uint_eq(d[NVME_IDC_MDTS], 5);
    ck_assert_uint_eq(le32(d + NVME_IDC_VER), 0x00010400);
    ck_assert_uint_eq(d[NVME_IDC_SQES], 0x66);
    ck_assert_uint_eq(d[NVME_IDC_CQES], 0x44);
    ck_assert_uint_eq(le32(d + NVME_IDC_NN), 1);
    ck_assert(le16(d + NVME_IDC_OACS) & NVME_OACS_DBBUF);
    ck_assert(le16(d + NVME_IDC_OACS) & NVME_OACS_FORMAT);
    ck_assert_uint_eq(le16(d + NVME_IDC_ONCS) & 0xd, 0xd);
    /* Save/Select: Get Features answers SEL default/saved/supported */
    ck_assert(le16(d + NVME_IDC_ONCS) & NVME_ONCS_SAVE_SELECT);
    /* Keep Alive supported, with 100 ms granularity */
    ck_assert_uint_eq(le16(d + NVME_IDC_KAS), 1);
    ck_assert_uint_eq(d[NVME_IDC_VWC] & 1, 1);
    ck_assert_uint_eq(le32(d + NVME_IDC_SGLS) & 3, 1);
    ck_assert(d[NVME_IDC_LPA] & NVME_LPA_CMD_EFFECTS);
    ck_assert_int_eq(strncmp((char *)d + NVME_IDC_SUBNQN, "nqn.", 4), 0);
    /* CNS 06h (NVM command set controller) succeeds; other CSI refused */
    ck_assert_int_eq(identify(NVME_CNS_CS_CTRL, 0, &b), 0);
    {
        struct nvme_sqe c = cmd(NVME_ADM_IDENTIFY);

        c.dptr1 = td_alloc(&D, 4096, 4096);
        c.cdw10 = NVME_CNS_CS_CTRL;
        c.cdw11 = 2u << 24;
        ck_assert_int_eq(td_cmd(&D, 0, &c, NULL), NVME_SC_INVALID_FIELD);
    }
    ck_assert_int_eq(identify(0x55, 0, &b), NVME_SC_INVALID_FIELD);
    down();
}
END_TEST

START_TEST(test_identify_ns)
{
    static const char *const extra[] = {
        "namespace.3.backend", "null", "namespace.3.size", "1M",
        "namespace.3.block-size", "4096", NULL
    };
    uint64_t b, b2, b3;
    uint8_t *d;

    open_default(extra);
    ck_assert_int_eq(td_enable(&D, 32), 0);
    ck_assert_int_eq(identify(NVME_CNS_NS, 1, &b), 0);
    d = td_ptr(&D, b);
    ck_assert_uint_eq(le64(d + NVME_IDNS_NSZE), NS_SIZE / 512);
    ck_assert_uint_eq(le64(d + NVME_IDNS_NCAP), NS_SIZE / 512);
    ck_assert_uint_eq(d[NVME_IDNS_FLBAS], 0);
    ck_assert_uint_eq(d[NVME_IDNS_NLBAF], 1);
    ck_assert_uint_eq(d[NVME_IDNS_LBAF + 2], 9);
    ck_assert_uint_eq(d[NVME_IDNS_LBAF + 4 + 2], 12);
    ck_assert_uint_eq(d[NVME_IDNS_DLFEAT] & 7, 1);
    ck_assert_uint_eq(d[NVME_IDNS_NSATTR], 0);

    ck_assert_int_eq(identify(NVME_CNS_NS, 3, &b3), 0);
    d = td_ptr(&D, b3);
    ck_assert_uint_eq(le64(d + NVME_IDNS_NSZE), 256);
    ck_assert_uint_eq(d[NVME_IDNS_FLBAS], 1);
    /* identifiers differ between namespaces */
    ck_assert_int_ne(memcmp((uint8_t *)td_ptr(&D, b) + NVME_IDNS_NGUID,
                            d + NVME_IDNS_NGUID, 16), 0);
    ck_assert_int_ne(memcmp((uint8_t *)td_ptr(&D, b) + NVME_IDNS_EUI64,
                            d + NVME_IDNS_EUI64, 8), 0);

    /* an inactive NSID below NN reads as zeroes; 0 and > NN are invalid */
    ck_assert_int_eq(identify(NVME_CNS_NS, 2, &b2), 0);
    d = td_ptr(&D, b2);
    for (int i = 0; i < 4096; i++) {
        ck_assert_uint_eq(d[i], 0);
    }
    ck_assert_int_eq(identify(NVME_CNS_NS, 0, &b2), NVME_SC_INVALID_NS);
    ck_assert_int_eq(identify(NVME_CNS_NS, 4, &b2), NVME_SC_INVALID_NS);

    /* active namespace list */
    ck_assert_int_eq(identify(NVME_CNS_NS_ACTIVE_LIST, 0, &b2), 0);
    d = td_ptr(&D, b2);
    ck_assert_uint_eq(le32(d), 1);
    ck_assert_uint_eq(le32(d + 4), 3);
    ck_assert_uint_eq(le32(d + 8), 0);
    ck_assert_int_eq(identify(NVME_CNS_NS_ACTIVE_LIST, 1, &b2), 0);
    d = td_ptr(&D, b2);
    ck_assert_uint_eq(le32(d), 3);
    ck_assert_uint_eq(le32(d + 4), 0);

    /* descriptors: EUI64, NGUID, UUID, CSI; unique per namespace */
    ck_assert_int_eq(identify(NVME_CNS_NS_DESC_LIST, 1, &b2), 0);
    d = td_ptr(&D, b2);
    ck_assert_uint_eq(d[0], NVME_NIDT_EUI64);
    ck_assert_uint_eq(d[1], 8);
    ck_assert_int_eq(memcmp(d + 4, (uint8_t *)td_ptr(&D, b) + NVME_IDNS_EUI64, 8), 0);
    ck_assert_uint_eq(d[12], NVME_NIDT_NGUID);
    ck_assert_uint_eq(d[13], 16);
    ck_assert_uint_eq(d[32], NVME_NIDT_UUID);
    ck_assert_uint_eq(d[33], 16);
    ck_assert_uint_eq(d[52], NVME_NIDT_CSI);
    ck_assert_uint_eq(d[53], 1);
    ck_assert_uint_eq(d[56], 0);
    ck_assert_uint_eq(d[57], 0); /* end of list */
    ck_assert_int_eq(identify(NVME_CNS_NS_DESC_LIST, 3, &b3), 0);
    ck_assert_int_ne(memcmp((uint8_t *)td_ptr(&D, b2) + 36,
                            (uint8_t *)td_ptr(&D, b3) + 36, 16), 0);
    ck_assert_int_eq(identify(NVME_CNS_NS_DESC_LIST, 2, &b2), NVME_SC_INVALID_NS);
    ck_assert_int_eq(identify(NVME_CNS_CS_INDEP_NS, 1, &b2), 0);
    down();
}
END_TEST

static int set_feature(uint8_t fid, uint32_t v, uint32_t *dw0)
{
    struct nvme_sqe c = cmd(NVME_ADM_SET_FEATURES);
    struct nvme_cqe e;
    int st;

    c.cdw10 = fid;
    c.cdw11 = v;
    st = td_cmd(&D, 0, &c, &e);
    if (dw0) {
        *dw0 = e.dw0;
    }
    return st;
}

static int get_feature(uint8_t fid, uint32_t cdw11, uint32_t *dw0)
{
    struct nvme_sqe c = cmd(NVME_ADM_GET_FEATURES);
    struct nvme_cqe e;
    int st;

    c.cdw10 = fid;
    c.cdw11 = cdw11;
    st = td_cmd(&D, 0, &c, &e);
    *dw0 = e.dw0;
    return st;
}

START_TEST(test_features)
{
    uint32_t v;

    up();
    ck_assert_int_eq(set_feature(NVME_FEAT_NUM_QUEUES, 63 | 63u << 16, &v), 0);
    ck_assert_uint_eq(v, 3 | 3u << 16); /* 4 pairs, 0's based */
    ck_assert_int_eq(set_feature(NVME_FEAT_NUM_QUEUES, 0xffff, NULL),
                     NVME_SC_INVALID_FIELD);
    ck_assert_int_eq(get_feature(NVME_FEAT_VOLATILE_WC, 0, &v), 0);
    ck_assert_uint_eq(v, 1);
    ck_assert_int_eq(set_feature(NVME_FEAT_VOLATILE_WC, 0, NULL), 0);
    ck_assert_int_eq(get_feature(NVME_FEAT_VOLATILE_WC, 0, &v), 0);
    ck_assert_uint_eq(v, 0);
    ck_assert_int_eq(set_feature(NVME_FEAT_TEMP_THRESH, 350, NULL), 0);
    ck_assert_int_eq(get_feature(NVME_FEAT_TEMP_THRESH, 0, &v), 0);
    ck_assert_uint_eq(v & 0xffff, 350);
    ck_assert_int_eq(set_feature(NVME_FEAT_POWER_MGMT, 1, NULL),
                     NVME_SC_INVALID_FIELD);
    ck_assert_int_eq(set_feature(NVME_FEAT_POWER_MGMT, 0, NULL), 0);
    ck_assert_int_eq(set_feature(NVME_FEAT_IRQ_COALESCE, 0x0a04, NULL), 0);
    ck_assert_int_eq(get_feature(NVME_FEAT_IRQ_COALESCE, 0, &v), 0);
    ck_assert_uint_eq(v, 0x0a04);
    ck_assert_int_eq(set_feature(NVME_FEAT_IRQ_CONFIG, 2 | 1u << 16, NULL), 0);
    ck_assert_int_eq(get_feature(NVME_FEAT_IRQ_CONFIG, 2, &v), 0);
    ck_assert_uint_eq(v, 2 | 1u << 16);
    ck_assert_int_eq(set_feature(NVME_FEAT_IRQ_CONFIG, 99, NULL),
                     NVME_SC_INVALID_FIELD);
    ck_assert_int_eq(set_feature(NVME_FEAT_ASYNC_EVENT, 0x1ff, NULL), 0);
    ck_assert_int_eq(set_feature(NVME_FEAT_ARBITRATION, 3, NULL), 0);
    ck_assert_int_eq(set_feature(0x7f, 0, NULL), NVME_SC_INVALID_FIELD);
    /* optional features not implemented: Autonomous Power State
     * Transition, Timestamp */
    ck_assert_int_eq(get_feature(0x0c, 0, &v), NVME_SC_INVALID_FIELD);
    ck_assert_int_eq(get_feature(0x0e, 0, &v), NVME_SC_INVALID_FIELD);
    ck_assert_int_eq(set_feature(0x0e, 0, NULL), NVME_SC_INVALID_FIELD);
    {
        struct nvme_sqe c = cmd(NVME_ADM_SET_FEATURES);

        c.cdw10 = NVME_FEAT_ARBITRATION | 1u << 31; /* save */
        ck_assert_int_eq(td_cmd(&D, 0, &c, NULL), NVME_SC_FEAT_NOT_SAVEABLE);
        /* an unknown feature is that before it is not saveable */
        c.cdw10 = 0x0e | 1u << 31;
        ck_assert_int_eq(td_cmd(&D, 0, &c, NULL), NVME_SC_INVALID_FIELD);
    }
    ck_assert_int_eq(td_create_io_queue(&D, 1, 16), 0);
    ck_assert_int_eq(set_feature(NVME_FEAT_NUM_QUEUES, 1, NULL),
                     NVME_SC_CMD_SEQ_ERROR);
    down();
}
END_TEST

static int get_feature_sel(uint8_t fid, unsigned sel, uint32_t cdw11,
                           uint32_t *dw0)
{
    struct nvme_sqe c = cmd(NVME_ADM_GET_FEATURES);
    struct nvme_cqe e;
    int st;

    c.cdw10 = fid | sel << 8;
    c.cdw11 = cdw11;
    st = td_cmd(&D, 0, &c, &e);
    *dw0 = e.dw0;
    return st;
}

/* Every feature the controller has answers Get Features with each SEL:
 * current, default, saved (the default: nothing is saveable) and the
 * supported capabilities (changeable, not saveable, not per namespace).
 * What NVMe 2.0 makes mandatory for an I/O controller is among them, and
 * so is Keep Alive Timer, which a compliance suite found missing. */
START_TEST(test_features_select)
{
    static const uint8_t fids[] = {
        NVME_FEAT_ARBITRATION, NVME_FEAT_POWER_MGMT, NVME_FEAT_TEMP_THRESH,
        NVME_FEAT_ERR_RECOVERY, NVME_FEAT_VOLATILE_WC, NVME_FEAT_NUM_QUEUES,
        NVME_FEAT_IRQ_COALESCE, NVME_FEAT_IRQ_CONFIG, NVME_FEAT_WRITE_ATOMIC,
        NVME_FEAT_ASYNC_EVENT, NVME_FEAT_KEEP_ALIVE,
    };
    uint32_t v;

    up();
    for (size_t i = 0; i < sizeof(fids); i++) {
        for (unsigned sel = 0; sel <= 3; sel++) {
            ck_assert_msg(get_feature_sel(fids[i], sel, 0, &v) == 0,
                          "feature %#x SEL %u", fids[i], sel);
            if (sel == 3) {
                ck_assert_uint_eq(v, NVME_FEAT_CAP_CHANGE);
            }
        }
    }
    ck_assert_int_eq(get_feature_sel(NVME_FEAT_ARBITRATION, 4, 0, &v),
                     NVME_SC_INVALID_FIELD);
    ck_assert_int_eq(get_feature_sel(0x0e, 3, 0, &v), NVME_SC_INVALID_FIELD);
    /* change current values: default and saved do not follow */
    ck_assert_int_eq(set_feature(NVME_FEAT_ARBITRATION, 3, NULL), 0);
    ck_assert_int_eq(set_feature(NVME_FEAT_TEMP_THRESH, 350, NULL), 0);
    ck_assert_int_eq(set_feature(NVME_FEAT_VOLATILE_WC, 0, NULL), 0);
    ck_assert_int_eq(set_feature(NVME_FEAT_IRQ_CONFIG, 2 | 1u << 16, NULL), 0);
    ck_assert_int_eq(set_feature(NVME_FEAT_KEEP_ALIVE, 60000, NULL), 0);
    ck_assert_int_eq(get_feature_sel(NVME_FEAT_ARBITRATION, 0, 0, &v), 0);
    ck_assert_uint_eq(v, 3);
    for (unsigned sel = 1; sel <= 2; sel++) {
        ck_assert_int_eq(get_feature_sel(NVME_FEAT_ARBITRATION, sel, 0, &v), 0);
        ck_assert_uint_eq(v, 0);
        ck_assert_int_eq(get_feature_sel(NVME_FEAT_TEMP_THRESH, sel, 0, &v), 0);
        ck_assert_uint_eq(v, 343);
        ck_assert_int_eq(get_feature_sel(NVME_FEAT_VOLATILE_WC, sel, 0, &v), 0);
        ck_assert_uint_eq(v, 1);
        ck_assert_int_eq(get_feature_sel(NVME_FEAT_IRQ_CONFIG, sel, 2, &v), 0);
        ck_assert_uint_eq(v, 2);
        ck_assert_int_eq(get_feature_sel(NVME_FEAT_KEEP_ALIVE, sel, 0, &v), 0);
        ck_assert_uint_eq(v, 0);
    }
    ck_assert_int_eq(get_feature_sel(NVME_FEAT_TEMP_THRESH, 0, 0, &v), 0);
    ck_assert_uint_eq(v, 350);
    ck_assert_int_eq(get_feature_sel(NVME_FEAT_IRQ_CONFIG, 0, 2, &v), 0);
    ck_assert_uint_eq(v, 2 | 1u << 16);
    ck_assert_int_eq(get_feature_sel(NVME_FEAT_KEEP_ALIVE, 0, 0, &v), 0);
    ck_assert_uint_eq(v, 60000);
    /* a controller reset brings the defaults back */
    ck_assert_int_eq(td_disable(&D), 0);
    ck_assert_int_eq(td_enable(&D, 32), 0);
    ck_assert_int_eq(get_feature_sel(NVME_FEAT_ARBITRATION, 0, 0, &v), 0);
    ck_assert_uint_eq(v, 0);
    ck_assert_int_eq(get_feature_sel(NVME_FEAT_KEEP_ALIVE, 0, 0, &v), 0);
    ck_assert_uint_eq(v, 0);
    down();
}
END_TEST

/* Host Behavior Support moves a 512-byte structure both ways. */
static int host_behavior(bool set, unsigned sel, uint8_t b0, uint8_t b1,
                         uint8_t b2, uint8_t *out)
{
    struct nvme_sqe c = cmd(set ? NVME_ADM_SET_FEATURES : NVME_ADM_GET_FEATURES);
    uint64_t buf = td_alloc(&D, 4096, 4096);
    uint8_t *p = td_ptr(&D, buf);
    int st;

    memset(p, set ? 0 : 0xee, 4096);
    if (set) {
        p[0] = b0;
        p[1] = b1;
        p[2] = b2;
    }
    c.cdw10 = NVME_FEAT_HOST_BEHAVIOR | sel << 8;
    c.dptr1 = buf;
    st = td_cmd(&D, 0, &c, NULL);
    if (out) {
        memcpy(out, p, 4096);
    }
    return st;
}

START_TEST(test_host_behavior_support)
{
    uint8_t d[4096];
    uint32_t v;

    up();
    ck_assert_int_eq(get_feature_sel(NVME_FEAT_HOST_BEHAVIOR, 3, 0, &v), 0);
    ck_assert_uint_eq(v, NVME_FEAT_CAP_CHANGE);
    ck_assert_int_eq(host_behavior(false, 0, 0, 0, 0, d), 0);
    for (unsigned i = 0; i < 512; i++) {
        ck_assert_uint_eq(d[i], 0); /* ACRE 0, the rest reserved */
    }
    ck_assert_uint_eq(d[512], 0xee); /* 512 bytes, not more */
    ck_assert_int_eq(host_behavior(true, 0, 1, 0, 0, NULL), 0);
    ck_assert_int_eq(host_behavior(false, 0, 0, 0, 0, d), 0);
    ck_assert_uint_eq(d[0], 1);
    ck_assert_int_eq(host_behavior(false, 1, 0, 0, 0, d), 0); /* default */
    ck_assert_uint_eq(d[0], 0);
    /* no telemetry data area 4, no extended LBA formats, ACRE is 0 or 1 */
    ck_assert_int_eq(host_behavior(true, 0, 0, 1, 0, NULL), NVME_SC_INVALID_FIELD);
    ck_assert_int_eq(host_behavior(true, 0, 0, 0, 1, NULL), NVME_SC_INVALID_FIELD);
    ck_assert_int_eq(host_behavior(true, 0, 2, 0, 0, NULL), NVME_SC_INVALID_FIELD);
    ck_assert_int_eq(host_behavior(false, 0, 0, 0, 0, d), 0);
    ck_assert_uint_eq(d[0], 1); /* refused settings changed nothing */
    down();
}
END_TEST

static int get_log(uint8_t lid, uint32_t len, uint64_t off, uint64_t *iova);

static int64_t ka_now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* The Keep Alive Timer: off by default; with KATO set, Keep Alive commands
 * keep the controller alive, and without them it becomes fatal (CSTS.CFS)
 * and the Error Information log says why.  (About 5 s.) */
START_TEST(test_keep_alive)
{
    struct nvme_sqe ka = cmd(NVME_ADM_KEEP_ALIVE);
    int64_t t0, last, worst = 0;
    uint64_t b;
    uint8_t *e;

    up();
    ck_assert_int_eq(td_cmd(&D, 0, &ka, NULL), 0); /* harmless while off */
    ck_assert_int_eq(set_feature(NVME_FEAT_KEEP_ALIVE, 1000, NULL), 0);
    t0 = last = ka_now_ms();
    while (ka_now_ms() - t0 < 2500) {
        ck_assert_int_eq(td_cmd(&D, 0, &ka, NULL), 0);
        if (ka_now_ms() - last > worst) {
            worst = ka_now_ms() - last;
        }
        last = ka_now_ms();
        usleep(100 * 1000);
    }
    /* 2.5 s with a Keep Alive at least every KATO/2: still alive (unless
     * this process itself was stalled for that long) */
    if (worst < 500) {
        ck_assert_uint_eq(fake_read32(D.dev, 0, NVME_REG_CSTS) & NVME_CSTS_CFS, 0);
    }
    /* now silence: fatal after KATO */
    D.timeout_ms = 10000;
    ck_assert_int_eq(td_wait_csts(&D, NVME_CSTS_CFS, NVME_CSTS_CFS), 0);
    /* not early: the last Keep Alive was a little before `last` */
    ck_assert_int_ge(ka_now_ms() - last, 900);
    /* a fatal controller processes no command: a controller reset clears
     * it and turns the timer off; the Error Information log says why */
    ck_assert_int_eq(td_disable(&D), 0);
    ck_assert_int_eq(td_enable(&D, 32), 0);
    ck_assert_int_eq(get_log(NVME_LOG_ERROR, 64, 0, &b), 0);
    e = td_ptr(&D, b);
    ck_assert_uint_eq(le16(e + 12) >> 1, NVME_SC_KEEP_ALIVE_EXPIRED);
    usleep(1200 * 1000);
    ck_assert_uint_eq(fake_read32(D.dev, 0, NVME_REG_CSTS) & NVME_CSTS_CFS, 0);
    down();
}
END_TEST

static int create_cq(uint16_t qid, uint32_t size, uint16_t iv, uint32_t flags,
                     uint64_t base)
{
    struct nvme_sqe c = cmd(NVME_ADM_CREATE_CQ);

    c.dptr1 = base ? base : td_alloc(&D, size * 16ull, 4096);
    c.cdw10 = qid | (size - 1) << 16;
    c.cdw11 = flags | (uint32_t)iv << 16;
    return td_cmd(&D, 0, &c, NULL);
}

static int create_sq(uint16_t qid, uint32_t size, uint16_t cqid, uint32_t flags)
{
    struct nvme_sqe c = cmd(NVME_ADM_CREATE_SQ);

    c.dptr1 = td_alloc(&D, size * 64ull, 4096);
    c.cdw10 = qid | (size - 1) << 16;
    c.cdw11 = flags | (uint32_t)cqid << 16;
    return td_cmd(&D, 0, &c, NULL);
}

static int delete_q(uint8_t opc, uint16_t qid)
{
    struct nvme_sqe c = cmd(opc);

    c.cdw10 = qid;
    return td_cmd(&D, 0, &c, NULL);
}

START_TEST(test_queue_errors)
{
    up();
    /* CQ */
    ck_assert_int_eq(create_cq(0, 16, 0, 3, 0), NVME_SC_QID_INVALID);
    ck_assert_int_eq(create_cq(5, 16, 0, 3, 0), NVME_SC_QID_INVALID);
    ck_assert_int_eq(create_cq(1, 1025, 1, 3, 0), NVME_SC_QUEUE_SIZE);
    ck_assert_int_eq(create_cq(1, 1, 1, 3, 0), NVME_SC_QUEUE_SIZE);
    ck_assert_int_eq(create_cq(1, 16, 5, 3, 0), NVME_SC_INVALID_VECTOR);
    ck_assert_int_eq(create_cq(1, 16, 1, 2, 0), NVME_SC_INVALID_FIELD); /* PC=0 */
    ck_assert_int_eq(create_cq(1, 16, 1, 3, TD_MEM_IOVA + 0x100000 + 8),
                     NVME_SC_PRP_INVALID_OFFSET);
    ck_assert_int_eq(create_cq(1, 1024, 1, 3, 0), 0);
    ck_assert_int_eq(create_cq(1, 16, 1, 3, 0), NVME_SC_QID_INVALID); /* exists */
    /* SQ */
    ck_assert_int_eq(create_sq(0, 16, 1, 1), NVME_SC_QID_INVALID);
    ck_assert_int_eq(create_sq(5, 16, 1, 1), NVME_SC_QID_INVALID);
    ck_assert_int_eq(create_sq(1, 2000, 1, 1), NVME_SC_QUEUE_SIZE);
    /* CQID 0 (the admin CQ) and CQID beyond the queues the controller
     * has are invalid identifiers; CQ 2 could exist but was not created */
    ck_assert_int_eq(create_sq(1, 16, 2, 1), NVME_SC_CQ_INVALID);
    ck_assert_int_eq(create_sq(1, 16, 0, 1), NVME_SC_QID_INVALID);
    ck_assert_int_eq(create_sq(1, 16, 5, 1), NVME_SC_QID_INVALID);
    ck_assert_int_eq(create_sq(1, 16, 0xffff, 1), NVME_SC_QID_INVALID);
    ck_assert_int_eq(create_sq(1, 16, 1, 0), NVME_SC_INVALID_FIELD);
    ck_assert_int_eq(create_sq(1, 16, 1, 1), 0);
    ck_assert_int_eq(create_sq(1, 16, 1, 1), NVME_SC_QID_INVALID);
    ck_assert_int_eq(create_sq(2, 16, 1, 1), 0); /* two SQs on one CQ */
    /* deletion */
    ck_assert_int_eq(delete_q(NVME_ADM_DELETE_CQ, 1), NVME_SC_INVALID_QUEUE_DELETION);
    ck_assert_int_eq(delete_q(NVME_ADM_DELETE_SQ, 0), NVME_SC_QID_INVALID);
    ck_assert_int_eq(delete_q(NVME_ADM_DELETE_SQ, 3), NVME_SC_QID_INVALID);
    ck_assert_int_eq(delete_q(NVME_ADM_DELETE_CQ, 0), NVME_SC_QID_INVALID);
    ck_assert_int_eq(delete_q(NVME_ADM_DELETE_SQ, 1), 0);
    ck_assert_int_eq(delete_q(NVME_ADM_DELETE_CQ, 1), NVME_SC_INVALID_QUEUE_DELETION);
    ck_assert_int_eq(delete_q(NVME_ADM_DELETE_SQ, 2), 0);
    ck_assert_int_eq(delete_q(NVME_ADM_DELETE_CQ, 1), 0);
    ck_assert_int_eq(delete_q(NVME_ADM_DELETE_CQ, 1), NVME_SC_QID_INVALID);
    /* unknown admin opcode, fused admin command */
    {
        struct nvme_sqe c = cmd(0x77);

        ck_assert_int_eq(td_cmd(&D, 0, &c, NULL), NVME_SC_INVALID_OPCODE);
        c = cmd(NVME_ADM_IDENTIFY);
        c.flags = 1;
        ck_assert_int_eq(td_cmd(&D, 0, &c, NULL), NVME_SC_INVALID_FIELD);
    }
    down();
}
END_TEST

static int get_log(uint8_t lid, uint32_t len, uint64_t off, uint64_t *iova)
{
    struct nvme_sqe c = cmd(NVME_ADM_GET_LOG_PAGE);

    *iova = td_alloc(&D, 8192, 4096);
    memset(td_ptr(&D, *iova), 0xee, 8192);
    c.nsid = NVME_NSID_ALL;
    c.dptr1 = *iova;
    c.dptr2 = *iova + 4096;
    c.cdw10 = lid | ((len / 4 - 1) & 0xffff) << 16;
    c.cdw11 = (len / 4 - 1) >> 16;
    c.cdw12 = (uint32_t)off;
    c.cdw13 = (uint32_t)(off >> 32);
    return td_cmd(&D, 0, &c, NULL);
}

START_TEST(test_log_pages)
{
    uint64_t b;
    uint8_t *d;
    uint64_t wr_before, buf;

    up();
    ck_assert_int_eq(get_log(NVME_LOG_SMART, 512, 0, &b), 0);
    d = td_ptr(&D, b);
    ck_assert_uint_eq(d[3], 100);
    ck_assert_uint_eq(le16(d + 1), 313);
    wr_before = le64(d + 80);
    ck_assert_uint_eq(le64(d + 112), 1); /* power cycles */

    ck_assert_int_eq(td_create_io_queue(&D, 1, 16), 0);
    buf = td_alloc(&D, 65536, 4096);
    for (int i = 0; i < 10; i++) {
        ck_assert_int_eq(td_rw(&D, 1, NVME_CMD_WRITE, (uint64_t)i * 128, 128, buf, 0), 0);
    }
    ck_assert_int_eq(td_rw(&D, 1, NVME_CMD_READ, 0, 8, buf, 0), 0);
    ck_assert_int_eq(get_log(NVME_LOG_SMART, 512, 0, &b), 0);
    d = td_ptr(&D, b);
    ck_assert_uint_eq(le64(d + 80), wr_before + 10);  /* host writes */
    ck_assert_uint_eq(le64(d + 64), 1);               /* host reads */
    ck_assert_uint_eq(le64(d + 48), 2);               /* 1280 units -> 2 */
    ck_assert_uint_eq(le64(d + 32), 1);
    /* partial read with an offset */
    ck_assert_int_eq(get_log(NVME_LOG_SMART, 8, 80, &b), 0);
    ck_assert_uint_eq(le64(td_ptr(&D, b)), wr_before + 10);
    ck_assert_int_eq(get_log(NVME_LOG_SMART, 8, 2, &b), NVME_SC_INVALID_FIELD);
    ck_assert_int_eq(get_log(NVME_LOG_SMART, 8, 600, &b), NVME_SC_INVALID_FIELD);
    /* reading past the page: zeroes */
    ck_assert_int_eq(get_log(NVME_LOG_SMART, 1024, 0, &b), 0);
    ck_assert_uint_eq(((uint8_t *)td_ptr(&D, b))[1000], 0);

    ck_assert_int_eq(get_log(NVME_LOG_CMD_EFFECTS, 4096, 0, &b), 0);
    d = td_ptr(&D, b);
    ck_assert_uint_eq(le32(d + 4 * NVME_ADM_IDENTIFY) & 1, 1);
    ck_assert_uint_eq(le32(d + 1024 + 4 * NVME_CMD_WRITE) & 3, 3);
    ck_assert_uint_eq(le32(d + 1024 + 4 * 0x7f), 0);
    ck_assert_int_eq(get_log(NVME_LOG_FW_SLOT, 512, 0, &b), 0);
    d = td_ptr(&D, b);
    ck_assert_uint_eq(d[0], 1);
    /* the failed log page reads above are in the error log, newest first */
    ck_assert_int_eq(get_log(NVME_LOG_ERROR, 256, 0, &b), 0);
    d = td_ptr(&D, b);
    ck_assert_uint_ge(le64(d), 2);                      /* error count */
    ck_assert_uint_eq(le64(d) - 1, le64(d + 64));       /* older next */
    ck_assert_uint_eq(le16(d + 8), 0);                  /* admin SQ */
    ck_assert_uint_eq((le16(d + 12) >> 1) & 0x7ff, NVME_SC_INVALID_FIELD);
    ck_assert_int_eq(get_log(0x70, 512, 0, &b), NVME_SC_INVALID_LOG_PAGE);
    ck_assert_int_eq(get_log(NVME_LOG_SMART, 512, 0, &b), 0);
    ck_assert_uint_ge(le64((uint8_t *)td_ptr(&D, b) + 176), 3); /* entries */
    down();
}
END_TEST

START_TEST(test_aer_abort)
{
    struct nvme_sqe c;
    struct nvme_cqe e;
    uint16_t cids[4];

    up();
    for (int i = 0; i < 4; i++) {
        c = cmd(NVME_ADM_ASYNC_EVENT);
        cids[i] = td_submit(&D, 0, &c);
    }
    usleep(20000);
    ck_assert(!td_cqe_ready(&D, 0)); /* held */
    c = cmd(NVME_ADM_ASYNC_EVENT);
    ck_assert_int_eq(td_cmd(&D, 0, &c, NULL), NVME_SC_AER_LIMIT);

    /* Abort: accepted, command not aborted (DW0 bit 0) */
    c = cmd(NVME_ADM_ABORT);
    c.cdw10 = (uint32_t)cids[0] << 16;
    ck_assert_int_eq(td_cmd(&D, 0, &c, &e), 0);
    ck_assert_uint_eq(e.dw0 & 1, 1);

    /* an invalid doorbell value raises an error event */
    ck_assert_int_eq(td_create_io_queue(&D, 1, 16), 0);
    fake_write32(D.dev, 0, NVME_REG_DBS + 8, 99); /* SQ1 tail 99 >= size */
    ck_assert_int_eq(td_wait(&D, 0, &e), 0);
    ck_assert_uint_eq(td_status(&e), 0);
    ck_assert_uint_eq(e.dw0 & 7, NVME_AER_TYPE_ERROR);
    ck_assert_uint_eq((e.dw0 >> 8) & 0xff, NVME_AER_ERR_INVALID_DB_VAL);
    ck_assert_uint_eq((e.dw0 >> 16) & 0xff, NVME_LOG_ERROR);
    /* the queue still works once the host writes a sane value */
    fake_write32(D.dev, 0, NVME_REG_DBS + 8, 0);
    {
        uint64_t buf = td_alloc(&D, 4096, 4096);

        ck_assert_int_eq(td_rw(&D, 1, NVME_CMD_READ, 0, 8, buf, 0), 0);
    }
    down();
}
END_TEST

START_TEST(test_shutdown)
{
    uint64_t buf;

    up();
    ck_assert_int_eq(td_create_io_queue(&D, 1, 64), 0);
    buf = td_alloc(&D, 65536, 4096);
    memset(td_ptr(&D, buf), 0x5a, 65536);
    for (int i = 0; i < 16; i++) {
        struct nvme_sqe c;

        memset(&c, 0, sizeof(c));
        c.opcode = NVME_CMD_WRITE;
        c.nsid = 1;
        c.cdw10 = (uint32_t)i * 8;
        c.cdw12 = 7;
        c.dptr1 = buf + (uint64_t)i * 4096;
        td_queue_cmd(&D, 1, &c);
    }
    td_ring(&D, 1);
    /* shutdown right after ringing: the submitted writes are still served
     * and are durable once SHST says complete */
    fake_write32(D.dev, 0, NVME_REG_CC, fake_read32(D.dev, 0, NVME_REG_CC) | 1u << 14);
    for (int i = 0; i < 5000; i++) {
        if ((fake_read32(D.dev, 0, NVME_REG_CSTS) & NVME_CSTS_SHST_MASK) ==
            NVME_CSTS_SHST_DONE) {
            break;
        }
        usleep(1000);
    }
    ck_assert_uint_eq(fake_read32(D.dev, 0, NVME_REG_CSTS) & NVME_CSTS_SHST_MASK,
                      NVME_CSTS_SHST_DONE);
    /* every accepted write is in the file */
    {
        FILE *f = fopen(D.path, "rb");
        uint8_t blk[512];
        unsigned long fetched = 0;

        ck_assert_ptr_nonnull(f);
        for (int i = 0; i < 16 * 8; i++) {
            ck_assert_uint_eq(fread(blk, 1, 512, f), 512);
            if (blk[0] == 0x5a && blk[511] == 0x5a) {
                fetched++;
            }
        }
        fclose(f);
        ck_assert_uint_eq(fetched, 16 * 8);
    }
    ck_assert_int_eq(td_disable(&D), 0);
    ck_assert_int_eq(td_enable(&D, 8), 0);
    ck_assert_uint_eq(fake_read32(D.dev, 0, NVME_REG_CSTS) & NVME_CSTS_SHST_MASK, 0);
    down();
}
END_TEST

START_TEST(test_disable_with_io_in_flight)
{
    uint64_t buf;

    for (int round = 0; round < 3; round++) {
        up();
        ck_assert_int_eq(td_create_io_queue(&D, 1, 256), 0);
        ck_assert_int_eq(td_create_io_queue(&D, 2, 256), 0);
        buf = td_alloc(&D, 1 << 20, 4096);
        for (int i = 0; i < 200; i++) {
            struct nvme_sqe c;

            memset(&c, 0, sizeof(c));
            c.opcode = i & 1 ? NVME_CMD_READ : NVME_CMD_WRITE;
            c.nsid = 1;
            c.cdw10 = (uint32_t)(i * 64);
            c.cdw12 = 63;
            c.dptr1 = buf + (uint64_t)(i % 32) * 32768;
            c.dptr2 = c.dptr1 + 4096; /* not a list: invalid for 32K... */
            c.dptr2 = 0;
            c.cdw12 = 7; /* 4 KiB: PRP1 only */
            td_queue_cmd(&D, (uint16_t)(1 + (i & 1)), &c);
        }
        td_ring(&D, 1);
        td_ring(&D, 2);
        if (round > 0) {
            usleep(200 * round);
        }
        /* controller reset with commands in flight: returns only when
         * nothing references guest memory any more */
        fake_write32(D.dev, 0, NVME_REG_CC, 0);
        ck_assert_uint_eq(fake_read32(D.dev, 0, NVME_REG_CSTS) & NVME_CSTS_RDY, 0);
        ck_assert_int_eq(fake_sg_refs(D.dev), 0);
        /* and it comes back */
        ck_assert_int_eq(td_enable(&D, 16), 0);
        ck_assert_int_eq(td_create_io_queue(&D, 1, 16), 0);
        ck_assert_int_eq(td_rw(&D, 1, NVME_CMD_READ, 0, 8, buf, 0), 0);
        down();
    }
}
END_TEST

START_TEST(test_device_reset_and_unmap)
{
    uint64_t buf;

    up();
    ck_assert_int_eq(td_create_io_queue(&D, 1, 16), 0);
    ck_assert_int_eq(td_enable_shadow(&D), 0);
    buf = td_alloc(&D, 4096, 4096);
    ck_assert_int_eq(td_rw(&D, 1, NVME_CMD_WRITE, 0, 8, buf, 0), 0);
    ck_assert_int_gt(fake_sg_refs(D.dev), 0); /* cached queue mappings */
    /* DEVICE_RESET: registers back to power-on, nothing held */
    ck_assert_int_eq(fake_dev_reset(D.dev, VFUD_RESET_DEVICE), 0);
    ck_assert_uint_eq(fake_read32(D.dev, 0, NVME_REG_CC), 0);
    ck_assert_uint_eq(fake_read32(D.dev, 0, NVME_REG_CSTS), 0);
    ck_assert_int_eq(fake_sg_refs(D.dev), 0);
    ck_assert_int_eq(td_enable(&D, 8), 0);
    ck_assert_int_eq(td_create_io_queue(&D, 1, 16), 0);
    ck_assert_int_eq(td_rw(&D, 1, NVME_CMD_WRITE, 0, 8, buf, 0), 0);
    /* DMA_UNMAP of the window with queues mapped: all references dropped */
    ck_assert_int_eq(fake_dma_unmap(D.dev, TD_MEM_IOVA), 0);
    fake_dev_detach(D.dev);
    down();
}
END_TEST

/* After a daemon crash (VFUD_RESET_LOST): reset, and a fatal status the
 * guest driver's timeout handler sees; its reset (disable, enable) brings
 * the controller back, and I/O works again. */
START_TEST(test_lost_reset)
{
    uint64_t buf;

    up();
    ck_assert_int_eq(td_create_io_queue(&D, 1, 16), 0);
    buf = td_alloc(&D, 4096, 4096);
    ck_assert_int_eq(td_rw(&D, 1, NVME_CMD_WRITE, 0, 8, buf, 0), 0);
    ck_assert_int_eq(fake_dev_reset(D.dev, VFUD_RESET_LOST), 0);
    ck_assert_uint_eq(fake_read32(D.dev, 0, NVME_REG_CC), 0);
    ck_assert_uint_eq(fake_read32(D.dev, 0, NVME_REG_CSTS) &
                      (NVME_CSTS_RDY | NVME_CSTS_CFS), NVME_CSTS_CFS);
    /* Linux nvme_reset_work: CC.EN = 0 (already), then enable. */
    ck_assert_int_eq(td_disable(&D), 0);
    ck_assert_int_eq(td_enable(&D, 8), 0);
    ck_assert_uint_eq(fake_read32(D.dev, 0, NVME_REG_CSTS) &
                      (NVME_CSTS_RDY | NVME_CSTS_CFS), NVME_CSTS_RDY);
    ck_assert_int_eq(td_create_io_queue(&D, 1, 16), 0);
    ck_assert_int_eq(td_rw(&D, 1, NVME_CMD_READ, 0, 8, buf, 0), 0);
    fake_dev_detach(D.dev);
    down();
}
END_TEST

START_TEST(test_nssr)
{
    up();
    fake_write32(D.dev, 0, NVME_REG_NSSR, 0x12345678); /* wrong magic */
    ck_assert_uint_eq(fake_read32(D.dev, 0, NVME_REG_CSTS) & NVME_CSTS_RDY, 1);
    fake_write32(D.dev, 0, NVME_REG_NSSR, NVME_NSSR_MAGIC);
    ck_assert_uint_eq(fake_read32(D.dev, 0, NVME_REG_CSTS),
                      NVME_CSTS_NSSRO);
    fake_write32(D.dev, 0, NVME_REG_CSTS, NVME_CSTS_NSSRO);
    ck_assert_uint_eq(fake_read32(D.dev, 0, NVME_REG_CSTS), 0);
    ck_assert_int_eq(td_enable(&D, 8), 0);
    down();
}
END_TEST

/* KEY = VALUE is valid on its own but belongs to other doorbells than
 * DOORBELLS: realize refuses the device and names the key */
static void refused_with_doorbells(const char *key, const char *value,
                                   const char *doorbells)
{
    vfud_dev *dev = fake_dev_new("mode");

    ck_assert_int_eq(fake_dev_load(dev, td_plugin_path()), 0);
    ck_assert_int_eq(fake_dev_config(dev, "path", "/nonexistent/dir/file"), 0);
    ck_assert_int_eq(fake_dev_config(dev, "doorbells", doorbells), 0);
    ck_assert_int_eq(fake_dev_config(dev, key, value), 0);
    ck_assert_int_lt(fake_dev_realize(dev), 0);
    ck_assert_msg(strstr(fake_dev_last_error(dev), key) != NULL,
                  "%s with doorbells = %s: \"%s\"", key, doorbells,
                  fake_dev_last_error(dev));
    fake_dev_free(dev);
}

START_TEST(test_config_errors)
{
    vfud_dev *dev = fake_dev_new("bad");

    ck_assert_int_eq(fake_dev_load(dev, td_plugin_path()), 0);
    ck_assert_int_lt(fake_dev_config(dev, "queues", "0"), 0);
    ck_assert_int_lt(fake_dev_config(dev, "queues", "1000"), 0);
    ck_assert_int_lt(fake_dev_config(dev, "doorbells", "sometimes"), 0);
    ck_assert_int_lt(fake_dev_config(dev, "namespace.0.path", "/x"), 0);
    ck_assert_int_lt(fake_dev_config(dev, "namespace.1.block-size", "1024"), 0);
    ck_assert_int_lt(fake_dev_config(dev, "namespace.1.cache", "maybe"), 0);
    ck_assert_int_lt(fake_dev_config(dev, "namespace.1.uuid", "123"), 0);
    ck_assert_int_lt(fake_dev_config(dev, "serial", "012345678901234567890"), 0);
    ck_assert_int_lt(fake_dev_config(dev, "namespace.1.bogus", "1"), 0);
    ck_assert_int_lt(fake_dev_config(dev, "poll-idle-us", "0"), 0);
    ck_assert_int_lt(fake_dev_config(dev, "hold-us", "1001"), 0);
    ck_assert_int_lt(fake_dev_config(dev, "hold-us", "x"), 0);
    ck_assert_int_eq(fake_dev_config(dev, "namespace.1.uuid",
                                     "12345678-1234-1234-1234-123456789abc"), 0);
    /* a namespace without a path cannot be realized */
    ck_assert_int_lt(fake_dev_realize(dev), 0);
    ck_assert_str_ne(fake_dev_last_error(dev), "");
    fake_dev_free(dev);

    dev = fake_dev_new("empty");
    ck_assert_int_eq(fake_dev_load(dev, td_plugin_path()), 0);
    ck_assert_int_lt(fake_dev_realize(dev), 0); /* no namespace at all */
    fake_dev_free(dev);

    /* a polling window belongs to adaptive doorbells only, and a hold
     * to shadow doorbells only */
    refused_with_doorbells("poll-idle-us", "100", "shadow");
    refused_with_doorbells("poll-idle-us", "100", "poll");
    refused_with_doorbells("hold-us", "0", "adaptive");
    refused_with_doorbells("hold-us", "50", "poll");

    dev = fake_dev_new("missing");
    ck_assert_int_eq(fake_dev_load(dev, td_plugin_path()), 0);
    ck_assert_int_eq(fake_dev_config(dev, "path", "/nonexistent/dir/file"), 0);
    ck_assert_int_lt(fake_dev_realize(dev), 0);
    fake_dev_free(dev);
}
END_TEST

static double cpu_seconds(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

START_TEST(test_idle_cpu)
{
    double t0, used;

    /* shadow doorbells (default): an idle controller with live queues and
     * an outstanding AER costs no CPU */
    up();
    ck_assert_int_eq(td_create_io_queue(&D, 1, 64), 0);
    ck_assert_int_eq(td_create_io_queue(&D, 2, 64), 0);
    ck_assert_int_eq(td_enable_shadow(&D), 0);
    {
        struct nvme_sqe c = cmd(NVME_ADM_ASYNC_EVENT);

        td_submit(&D, 0, &c);
    }
    usleep(10000);
    t0 = cpu_seconds();
    usleep(500 * 1000);
    used = cpu_seconds() - t0;
    ck_assert_msg(used < 0.01, "idle controller used %.3f s of CPU", used);
    down();
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("nvme_ctrl");
    TCase *tc = tcase_create("ctrl");

    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_pci_identity);
    tcase_add_test(tc, test_registers);
    tcase_add_test(tc, test_enable_disable);
    tcase_add_test(tc, test_enable_invalid);
    tcase_add_test(tc, test_identify_ctrl);
    tcase_add_test(tc, test_identify_ns);
    tcase_add_test(tc, test_features);
    tcase_add_test(tc, test_features_select);
    tcase_add_test(tc, test_host_behavior_support);
    tcase_add_test(tc, test_keep_alive);
    tcase_add_test(tc, test_queue_errors);
    tcase_add_test(tc, test_log_pages);
    tcase_add_test(tc, test_aer_abort);
    tcase_add_test(tc, test_shutdown);
    tcase_add_test(tc, test_disable_with_io_in_flight);
    tcase_add_test(tc, test_device_reset_and_unmap);
    tcase_add_test(tc, test_lost_reset);
    tcase_add_test(tc, test_nssr);
    tcase_add_test(tc, test_config_errors);
    tcase_add_test(tc, test_idle_cpu);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(suite());
    int failed;

    if (access(td_plugin_path(), R_OK) != 0) {
        fprintf(stderr, "SKIP: plugin %s not built\n", td_plugin_path());
        return 77;
    }
    srunner_run_all(sr, CK_NORMAL);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
