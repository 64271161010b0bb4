/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * NVMe constants and wire structures used by the NVMe plugin: only what the
 * controller needs, named after the NVMe Base Specification 1.4 (and the NVM
 * Command Set).  All multi-byte fields are little-endian on the wire; the
 * plugin only builds for little-endian hosts (checked in nvme.c).
 */
#ifndef VFUD_NVME_SPEC_H
#define VFUD_NVME_SPEC_H

#include <stdint.h>

/* ---- BAR0 controller registers ---- */
#define NVME_REG_CAP     0x00
#define NVME_REG_VS      0x08
#define NVME_REG_INTMS   0x0c
#define NVME_REG_INTMC   0x10
#define NVME_REG_CC      0x14
#define NVME_REG_CSTS    0x1c
#define NVME_REG_NSSR    0x20
#define NVME_REG_AQA     0x24
#define NVME_REG_ASQ     0x28
#define NVME_REG_ACQ     0x30
#define NVME_REG_DBS     0x1000 /* first doorbell */

#define NVME_CAP_MQES(x)   ((uint64_t)(x) & 0xffff)
#define NVME_CAP_CQR       (1ull << 16)
#define NVME_CAP_TO(x)     ((uint64_t)(x) << 24)
#define NVME_CAP_DSTRD(x)  ((uint64_t)(x) << 32)
#define NVME_CAP_NSSRS     (1ull << 36)
#define NVME_CAP_CSS_NVM   (1ull << 37)
#define NVME_CAP_MPSMIN(x) ((uint64_t)(x) << 48)
#define NVME_CAP_MPSMAX(x) ((uint64_t)(x) << 52)

#define NVME_CC_EN           (1u << 0)
#define NVME_CC_CSS(cc)      (((cc) >> 4) & 0x7)
#define NVME_CC_MPS(cc)      (((cc) >> 7) & 0xf)
#define NVME_CC_AMS(cc)      (((cc) >> 11) & 0x7)
#define NVME_CC_SHN(cc)      (((cc) >> 14) & 0x3)
#define NVME_CC_IOSQES(cc)   (((cc) >> 16) & 0xf)
#define NVME_CC_IOCQES(cc)   (((cc) >> 20) & 0xf)

#define NVME_CSTS_RDY        (1u << 0)
#define NVME_CSTS_CFS        (1u << 1)
#define NVME_CSTS_SHST_MASK  (3u << 2)
#define NVME_CSTS_SHST_OCCUR (1u << 2)
#define NVME_CSTS_SHST_DONE  (2u << 2)
#define NVME_CSTS_NSSRO      (1u << 4)

#define NVME_NSSR_MAGIC 0x4e564d65u /* "NVMe" */

/* ---- Queue entries ---- */
struct nvme_sqe {
    uint8_t opcode;
    uint8_t flags;  /* FUSE [1:0], PSDT [7:6] */
    uint16_t cid;
    uint32_t nsid;
    uint32_t cdw2, cdw3;
    uint64_t mptr;
    uint64_t dptr1; /* PRP1, or the first 8 bytes of an SGL descriptor */
    uint64_t dptr2; /* PRP2, or the last 8 bytes of an SGL descriptor */
    uint32_t cdw10, cdw11, cdw12, cdw13, cdw14, cdw15;
};
_Static_assert(sizeof(struct nvme_sqe) == 64, "SQE is 64 bytes");

#define NVME_SQE_PSDT(flags) (((flags) >> 6) & 3)
#define NVME_PSDT_PRP 0

struct nvme_cqe {
    uint32_t dw0;
    uint32_t dw1;
    uint16_t sq_head;
    uint16_t sq_id;
    uint16_t cid;
    uint16_t status; /* phase [0], SC [8:1], SCT [11:9], CRD, M, DNR [15] */
};
_Static_assert(sizeof(struct nvme_cqe) == 16, "CQE is 16 bytes");

struct nvme_sgl_desc {
    uint64_t addr;
    uint32_t len;
    uint8_t rsvd[3];
    uint8_t type; /* type [7:4], subtype [3:0] */
};
_Static_assert(sizeof(struct nvme_sgl_desc) == 16, "SGL descriptor is 16 bytes");

#define NVME_SGL_DATA_BLOCK   0x0
#define NVME_SGL_BIT_BUCKET   0x1
#define NVME_SGL_SEGMENT      0x2
#define NVME_SGL_LAST_SEGMENT 0x3

struct nvme_dsm_range {
    uint32_t cattr;
    uint32_t nlb;
    uint64_t slba;
};
_Static_assert(sizeof(struct nvme_dsm_range) == 16, "DSM range is 16 bytes");

/* ---- Status: SCT << 8 | SC; the CQE holds it shifted left by one ---- */
#define NVME_SCT_GENERIC 0x000
#define NVME_SCT_CMD     0x100
#define NVME_SCT_MEDIA   0x200
#define NVME_CQE_DNR     0x8000 /* Do Not Retry, in the CQE status field */

enum {
    NVME_SC_SUCCESS = 0x00,
    NVME_SC_INVALID_OPCODE = 0x01,
    NVME_SC_INVALID_FIELD = 0x02,
    NVME_SC_DATA_XFER_ERROR = 0x04,
    NVME_SC_INTERNAL = 0x06,
    NVME_SC_ABORT_REQ = 0x07,
    NVME_SC_ABORT_SQ_DELETED = 0x08,
    NVME_SC_INVALID_NS = 0x0b,
    NVME_SC_CMD_SEQ_ERROR = 0x0c,
    NVME_SC_SGL_INVALID_SEG = 0x0d,
    NVME_SC_SGL_INVALID_COUNT = 0x0e,
    NVME_SC_SGL_INVALID_DATA_LEN = 0x0f,
    NVME_SC_SGL_INVALID_TYPE = 0x11,
    NVME_SC_PRP_INVALID_OFFSET = 0x13,
    NVME_SC_SGL_INVALID_OFFSET = 0x16,
    NVME_SC_NS_WRITE_PROTECTED = 0x20,
    NVME_SC_KEEP_ALIVE_EXPIRED = 0x25,
    NVME_SC_LBA_RANGE = 0x80,
    NVME_SC_CAP_EXCEEDED = 0x81,
    NVME_SC_NS_NOT_READY = 0x82,

    NVME_SC_CQ_INVALID = NVME_SCT_CMD | 0x00,
    NVME_SC_QID_INVALID = NVME_SCT_CMD | 0x01,
    NVME_SC_QUEUE_SIZE = NVME_SCT_CMD | 0x02,
    NVME_SC_ABORT_LIMIT = NVME_SCT_CMD | 0x03,
    NVME_SC_AER_LIMIT = NVME_SCT_CMD | 0x05,
    NVME_SC_INVALID_VECTOR = NVME_SCT_CMD | 0x08,
    NVME_SC_INVALID_LOG_PAGE = NVME_SCT_CMD | 0x09,
    NVME_SC_INVALID_FORMAT = NVME_SCT_CMD | 0x0a,
    NVME_SC_INVALID_QUEUE_DELETION = NVME_SCT_CMD | 0x0c,
    NVME_SC_FEAT_NOT_SAVEABLE = NVME_SCT_CMD | 0x0d,

    NVME_SC_WRITE_FAULT = NVME_SCT_MEDIA | 0x80,
    NVME_SC_UNRECOVERED_READ = NVME_SCT_MEDIA | 0x81,
    NVME_SC_COMPARE_FAILED = NVME_SCT_MEDIA | 0x85,
};

/* ---- Admin opcodes ---- */
enum {
    NVME_ADM_DELETE_SQ = 0x00,
    NVME_ADM_CREATE_SQ = 0x01,
    NVME_ADM_GET_LOG_PAGE = 0x02,
    NVME_ADM_DELETE_CQ = 0x04,
    NVME_ADM_CREATE_CQ = 0x05,
    NVME_ADM_IDENTIFY = 0x06,
    NVME_ADM_ABORT = 0x08,
    NVME_ADM_SET_FEATURES = 0x09,
    NVME_ADM_GET_FEATURES = 0x0a,
    NVME_ADM_ASYNC_EVENT = 0x0c,
    NVME_ADM_KEEP_ALIVE = 0x18,
    NVME_ADM_DBBUF_CONFIG = 0x7c,
    NVME_ADM_FORMAT_NVM = 0x80,
};

/* ---- NVM command set opcodes ---- */
enum {
    NVME_CMD_FLUSH = 0x00,
    NVME_CMD_WRITE = 0x01,
    NVME_CMD_READ = 0x02,
    NVME_CMD_COMPARE = 0x05,
    NVME_CMD_WRITE_ZEROES = 0x08,
    NVME_CMD_DSM = 0x09,
};

#define NVME_RW_FUA        (1u << 30) /* CDW12 */
#define NVME_RW_PRINFO(x)  (((x) >> 26) & 0xf)
#define NVME_WZ_DEAC       (1u << 25) /* CDW12 of Write Zeroes */
#define NVME_DSM_AD        (1u << 2)  /* CDW11 of DSM */

/* ---- Identify ---- */
enum {
    NVME_CNS_NS = 0x00,
    NVME_CNS_CTRL = 0x01,
    NVME_CNS_NS_ACTIVE_LIST = 0x02,
    NVME_CNS_NS_DESC_LIST = 0x03,
    NVME_CNS_CS_NS = 0x05,
    NVME_CNS_CS_CTRL = 0x06,
    NVME_CNS_CS_INDEP_NS = 0x08,
};

#define NVME_NIDT_EUI64 1
#define NVME_NIDT_NGUID 2
#define NVME_NIDT_UUID  3
#define NVME_NIDT_CSI   4

/* Byte offsets in the Identify Controller data structure. */
#define NVME_IDC_VID     0
#define NVME_IDC_SSVID   2
#define NVME_IDC_SN      4
#define NVME_IDC_MN      24
#define NVME_IDC_FR      64
#define NVME_IDC_RAB     72
#define NVME_IDC_IEEE    73
#define NVME_IDC_CMIC    76
#define NVME_IDC_MDTS    77
#define NVME_IDC_CNTLID  78
#define NVME_IDC_VER     80
#define NVME_IDC_RTD3R   84
#define NVME_IDC_RTD3E   88
#define NVME_IDC_OAES    92
#define NVME_IDC_CTRATT  96
#define NVME_IDC_CNTRLTYPE 111
#define NVME_IDC_KAS     320
#define NVME_IDC_OACS    256
#define NVME_IDC_ACL     258
#define NVME_IDC_AERL    259
#define NVME_IDC_FRMW    260
#define NVME_IDC_LPA     261
#define NVME_IDC_ELPE    262
#define NVME_IDC_NPSS    263
#define NVME_IDC_WCTEMP  266
#define NVME_IDC_CCTEMP  268
#define NVME_IDC_SQES    512
#define NVME_IDC_CQES    513
#define NVME_IDC_MAXCMD  514
#define NVME_IDC_NN      516
#define NVME_IDC_ONCS    520
#define NVME_IDC_FNA     524
#define NVME_IDC_VWC     525
#define NVME_IDC_SGLS    536
#define NVME_IDC_SUBNQN  768
#define NVME_IDC_PSD0    2048

#define NVME_OACS_FORMAT (1u << 1)
#define NVME_OACS_DBBUF  (1u << 8)
#define NVME_ONCS_COMPARE (1u << 0)
#define NVME_ONCS_DSM     (1u << 2)
#define NVME_ONCS_WRITE_ZEROES (1u << 3)
#define NVME_ONCS_SAVE_SELECT (1u << 4) /* Set Features SV, Get Features SEL */
#define NVME_LPA_CMD_EFFECTS (1u << 1)
#define NVME_LPA_EXT_DATA    (1u << 2)

/* Byte offsets in the Identify Namespace data structure. */
#define NVME_IDNS_NSZE    0
#define NVME_IDNS_NCAP    8
#define NVME_IDNS_NUSE    16
#define NVME_IDNS_NSFEAT  24
#define NVME_IDNS_NLBAF   25
#define NVME_IDNS_FLBAS   26
#define NVME_IDNS_DLFEAT  33
#define NVME_IDNS_NOWS    72
#define NVME_IDNS_NSATTR  99
#define NVME_IDNS_NGUID   104
#define NVME_IDNS_EUI64   120
#define NVME_IDNS_LBAF    128

/* ---- Features ---- */
enum {
    NVME_FEAT_ARBITRATION = 0x01,
    NVME_FEAT_POWER_MGMT = 0x02,
    NVME_FEAT_TEMP_THRESH = 0x04,
    NVME_FEAT_ERR_RECOVERY = 0x05,
    NVME_FEAT_VOLATILE_WC = 0x06,
    NVME_FEAT_NUM_QUEUES = 0x07,
    NVME_FEAT_IRQ_COALESCE = 0x08,
    NVME_FEAT_IRQ_CONFIG = 0x09,
    NVME_FEAT_WRITE_ATOMIC = 0x0a,
    NVME_FEAT_ASYNC_EVENT = 0x0b,
    NVME_FEAT_KEEP_ALIVE = 0x0f,
    NVME_FEAT_HOST_BEHAVIOR = 0x16,
};

/* Get Features SEL (CDW10 bits 10:8) */
enum {
    NVME_SEL_CURRENT = 0,
    NVME_SEL_DEFAULT = 1,
    NVME_SEL_SAVED = 2,
    NVME_SEL_SUPPORTED = 3,
};

/* Get Features SEL=011b: capabilities of a feature (DW0) */
#define NVME_FEAT_CAP_SAVE   (1u << 0)
#define NVME_FEAT_CAP_NS     (1u << 1)
#define NVME_FEAT_CAP_CHANGE (1u << 2)

/* Host Behavior Support data structure: 512 bytes, ACRE in byte 0,
 * ETDAS in byte 1, LBAFEE in byte 2 */
#define NVME_HBS_SIZE 512u

/* ---- Log pages ---- */
enum {
    NVME_LOG_ERROR = 0x01,
    NVME_LOG_SMART = 0x02,
    NVME_LOG_FW_SLOT = 0x03,
    NVME_LOG_CHANGED_NS = 0x04,
    NVME_LOG_CMD_EFFECTS = 0x05,
};

/* Commands Supported and Effects bits */
#define NVME_CSE_CSUPP (1u << 0)
#define NVME_CSE_LBCC  (1u << 1)
#define NVME_CSE_NCC   (1u << 2)
#define NVME_CSE_NIC   (1u << 3)
#define NVME_CSE_CCC   (1u << 4)
#define NVME_CSE_EXCL_NS (1u << 16) /* CSE: no other command to the ns */

/* Asynchronous event types */
#define NVME_AER_TYPE_ERROR 0
#define NVME_AER_TYPE_SMART 1
#define NVME_AER_TYPE_NOTICE 2
#define NVME_AER_ERR_INVALID_DB 0     /* write to an invalid doorbell register */
#define NVME_AER_ERR_INVALID_DB_VAL 1 /* invalid doorbell write value */
#define NVME_AER_NOTICE_NS_ATTR 0     /* Namespace Attribute Changed */
/* OAES and the Asynchronous Event Configuration feature: Namespace
 * Attribute Notices */
#define NVME_OAES_NS_ATTR (1u << 8)
#define NVME_CHANGED_NS_MAX 1024      /* entries of log page 04h */

#define NVME_NSID_ALL 0xffffffffu

#endif
