/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Live migration of the NVMe plugin between two daemons, each its own
 * process, both configured with the same namespace file (shared storage).
 * The test driver (nvme_tdrv.h) plays the guest on the source through one
 * client; the test plays the VMM: destination to RESUMING, source to
 * STOP_COPY, guest RAM copied while both are stopped, state written to the
 * destination, destination RUNNING; then the driver carries on against the
 * destination with the queues it had.
 *
 * Also: the DMA log sees the controller's writes to queue memory (for a
 * VMM's pre-copy of guest RAM); and moves between daemons whose namespace
 * is the same NBD export, with writes in flight in the server, or the same
 * Ceph RBD image (a one-node cluster the test starts).
 *
 * Loop index of the migration tests: 0 shadow doorbells (with the shadow
 * doorbell buffer), 1 poll doorbells (mmapped page), 2 shadow doorbells
 * with message-only guest memory (DMA_READ/DMA_WRITE for everything).
 */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <glib.h>

#include "migtest.h"
#include "nvme_tdrv_vfu.h"
#ifdef HAVE_LIBNBD
#include "nbd_server.h"
#endif
#ifdef HAVE_LIBRBD
#include <sys/wait.h>

#include <rbd/librbd.h>
#endif

#define NS_SIZE (64ull << 20)
#define SERIAL  "VFUD-MIGRATE-01"
#define MODEL   "vfiouserd NVMe migration test"
#define QUEUES  4

enum { M_SHADOW, M_POLL, M_MESSAGES, M_MODES };
static const char *const mode_names[M_MODES] = {
    "shadow doorbells", "poll doorbells", "shadow doorbells, message-only memory",
};

/* One daemon with device "nvme0" and the guest driving it. */
struct side {
    struct harness *h;
    struct vfu_client *cl;
    struct tdrv d;
};

/* Per test: the directory of the shared namespace file. */
static char *shared_dir;

static void setup(void)
{
    shared_dir = g_dir_make_tmp("nvmemig-XXXXXX", NULL);
    ck_assert_ptr_nonnull(shared_dir);
}

static void teardown(void)
{
    const char *names[] = { "ns1.img", "other.img" };

    for (unsigned i = 0; i < G_N_ELEMENTS(names); i++) {
        g_autofree char *p = g_build_filename(shared_dir, names[i], NULL);

        unlink(p);
    }
    rmdir(shared_dir);
    g_free(shared_dir);
}

/* A daemon whose nvme0 has namespace 1 on the shared file, unless
 * ns_keys gives other namespace lines; serial NULL: the default. */
static void side_start(struct side *s, int mode, const char *serial,
                       const char *ns_keys)
{
    g_autofree char *ns = ns_keys ? g_strdup(ns_keys)
                                  : g_strdup_printf("namespace.1.path = %s/ns1.img\n"
                                                    "namespace.1.size = %llu\n",
                                                    shared_dir, NS_SIZE);
    g_autofree char *cfg = g_strdup_printf(
        "[nvme0]\n"
        "plugin = nvme\n"
        "serial = %s\n"
        "model = " MODEL "\n"
        "queues = %d\n"
        "%s%s",
        serial ? serial : SERIAL, QUEUES,
        mode == M_POLL ? "doorbells = poll\n" : "", ns);
    static const char *const names[] = { "nvme0", NULL };

    memset(s, 0, sizeof(*s));
    s->h = pt_start(cfg, names);
}

/* Connect a client and make it the device's guest (memory, MSI-X
 * eventfds, bus mastering), as QEMU does on both sides of a migration. */
static void side_connect(struct side *s, int mode)
{
    struct td_vfu_opts o = {
        .share = mode != M_MESSAGES,
        .poll_doorbells = mode == M_POLL,
        .vectors = QUEUES + 1,
    };
    int r;

    s->cl = pt_open(s->h, "nvme0");
    r = td_vfu_attach(&s->d, s->cl, &o);
    ck_assert_msg(r == 0, "guest set-up: %s", strerror(-r));
    s->d.timeout_ms = harness_wrapped() ? 60000 : 10000;
}

static void side_finish(struct side *s)
{
    if (s->cl) {
        ck_assert_msg(td_vfu_error(&s->d) == 0, "a message failed: %s",
                      strerror(-td_vfu_error(&s->d)));
        td_vfu_detach(&s->d);
        pt_close_wait(s->h, s->cl);
    }
    pt_finish(s->h);
    memset(s, 0, sizeof(*s));
}

/* ------------------------------------------------------------------------
 * Commands
 */
static struct nvme_sqe cmd(uint8_t opc)
{
    struct nvme_sqe c;

    memset(&c, 0, sizeof(c));
    c.opcode = opc;
    return c;
}

/* A read or write of whole 4 KiB pages at a page-aligned buffer. */
static struct nvme_sqe rw(uint8_t opc, uint64_t slba, uint32_t nlb, uint64_t buf)
{
    struct nvme_sqe c = cmd(opc);

    c.nsid = 1;
    c.cdw10 = (uint32_t)slba;
    c.cdw11 = (uint32_t)(slba >> 32);
    c.cdw12 = nlb - 1;
    c.dptr1 = buf;
    return c;
}

static int admin(struct tdrv *d, struct nvme_sqe *c, struct nvme_cqe *e)
{
    int st = td_cmd(d, 0, c, e);

    ck_assert_msg(st >= 0, "admin opcode %#x: no completion", c->opcode);
    return st;
}

static void set_feature(struct tdrv *d, uint8_t fid, uint32_t v)
{
    struct nvme_sqe c = cmd(NVME_ADM_SET_FEATURES);

    c.cdw10 = fid;
    c.cdw11 = v;
    ck_assert_int_eq(admin(d, &c, NULL), 0);
}

static uint32_t get_feature(struct tdrv *d, uint8_t fid, uint32_t cdw11)
{
    struct nvme_sqe c = cmd(NVME_ADM_GET_FEATURES);
    struct nvme_cqe e;

    c.cdw10 = fid;
    c.cdw11 = cdw11;
    ck_assert_int_eq(admin(d, &c, &e), 0);
    return e.dw0;
}

/* Host Behavior Support: set ACRE, or read it back. */
static void set_acre(struct tdrv *d, uint8_t acre)
{
    struct nvme_sqe c = cmd(NVME_ADM_SET_FEATURES);
    uint64_t buf = td_alloc(d, 4096, 4096);

    memset(td_ptr(d, buf), 0, 512);
    *(uint8_t *)td_ptr(d, buf) = acre;
    c.cdw10 = NVME_FEAT_HOST_BEHAVIOR;
    c.dptr1 = buf;
    ck_assert_int_eq(admin(d, &c, NULL), 0);
}

static uint8_t get_acre(struct tdrv *d)
{
    struct nvme_sqe c = cmd(NVME_ADM_GET_FEATURES);
    uint64_t buf = td_alloc(d, 4096, 4096);

    memset(td_ptr(d, buf), 0xee, 512);
    c.cdw10 = NVME_FEAT_HOST_BEHAVIOR;
    c.dptr1 = buf;
    ck_assert_int_eq(admin(d, &c, NULL), 0);
    return *(uint8_t *)td_ptr(d, buf);
}

/* A log page (at most 4 KiB) into guest memory; returns its address. */
static const uint8_t *get_log(struct tdrv *d, uint8_t lid, uint32_t len)
{
    uint64_t buf = td_alloc(d, 4096, 4096);
    struct nvme_sqe c = cmd(NVME_ADM_GET_LOG_PAGE);

    c.nsid = NVME_NSID_ALL;
    c.dptr1 = buf;
    c.cdw10 = lid | (len / 4 - 1) << 16;
    ck_assert_int_eq(admin(d, &c, NULL), 0);
    return td_ptr(d, buf);
}

/* The same, with Retain Asynchronous Event: the log stays as it is. */
static const uint8_t *get_log_rae(struct tdrv *d, uint8_t lid, uint32_t len)
{
    uint64_t buf = td_alloc(d, 4096, 4096);
    struct nvme_sqe c = cmd(NVME_ADM_GET_LOG_PAGE);

    c.nsid = NVME_NSID_ALL;
    c.dptr1 = buf;
    c.cdw10 = lid | 1u << 15 | (len / 4 - 1) << 16;
    ck_assert_int_eq(admin(d, &c, NULL), 0);
    return td_ptr(d, buf);
}

static uint64_t le64(const uint8_t *p)
{
    uint64_t v = 0;

    for (int i = 7; i >= 0; i--) {
        v = v << 8 | p[i];
    }
    return v;
}

static void fill(struct tdrv *d, uint64_t iova, size_t len, unsigned seed)
{
    uint8_t *p = td_ptr(d, iova);

    for (size_t i = 0; i < len; i++) {
        p[i] = (uint8_t)(seed * 131 + i * 7 + (i >> 9));
    }
}

static bool same(struct tdrv *d, uint64_t iova, size_t len, unsigned seed)
{
    const uint8_t *p = td_ptr(d, iova);

    for (size_t i = 0; i < len; i++) {
        if (p[i] != (uint8_t)(seed * 131 + i * 7 + (i >> 9))) {
            return false;
        }
    }
    return true;
}

/* Wait until the next n entries of a CQ are posted, without consuming
 * them. */
static void wait_posted(struct tdrv *d, uint16_t qid, unsigned n)
{
    const struct td_queue *q = &d->q[qid];
    gint64 deadline = g_get_monotonic_time() + (gint64)d->timeout_ms * 1000;

    for (;;) {
        unsigned have = 0;

        for (unsigned i = 0; i < n; i++) {
            unsigned at = q->cq_head + i;
            unsigned phase = (q->phase ? 1 : 0) ^ (at >= q->size);
            const volatile struct nvme_cqe *e =
                td_ptr(d, q->cq_iova + (at % q->size) * 16ull);

            have += (e->status & 1) == phase;
        }
        if (have == n) {
            return;
        }
        ck_assert_msg(g_get_monotonic_time() < deadline,
                      "queue %u: %u of %u completions posted", qid, have, n);
        d->tr->idle(d, q->vector, 10);
    }
}

/* A doorbell write as the guest does it, bypassing the shadow buffer. */
static void raw_doorbell(struct tdrv *d, uint32_t slot, uint32_t v)
{
    if (d->db_page) {
        __atomic_thread_fence(__ATOMIC_SEQ_CST);
        d->db_page[slot] = v;
    } else {
        d->tr->doorbell(d, NVME_REG_DBS + 4ull * slot, v);
    }
}

/* ------------------------------------------------------------------------
 * Migration, as the VMM does it
 */
struct figures {
    size_t bytes;          /* the whole stream */
    uint64_t plugin_bytes; /* the NVMe plugin's part */
    double stopped_ms;     /* source STOP_COPY until destination RUNNING */
    double ram_ms;         /* of which copying guest RAM */
    unsigned waiting;      /* completions that travelled waiting for room */
};

static GByteArray *plugin_state(const GByteArray *b);
static unsigned count_records(const GByteArray *st, uint16_t tag);

/* Guest RAM, device writes included: what the driver has used of it. */
static void copy_guest(struct tdrv *dst, const struct tdrv *src)
{
    memcpy(dst->mem, src->mem, src->next_free - TD_MEM_IOVA);
}

/* The guest (its driver state) now runs against the destination. */
static void driver_moves(struct tdrv *dst, const struct tdrv *src)
{
    struct tdrv t = *dst;

    *dst = *src;
    dst->tr = t.tr;
    dst->tr_priv = t.tr_priv;
    dst->dev = t.dev;
    dst->mem = t.mem;
    dst->db_page = t.db_page;
    dst->poll_mode = t.poll_mode;
}

static struct figures migrate(struct side *src, struct side *dst)
{
    struct figures f;
    GByteArray *b;
    gint64 t0, t1;

    mt_set(dst->cl, MT_RESUMING);
    t0 = g_get_monotonic_time();
    b = mt_save(src->cl);
    t1 = g_get_monotonic_time();
    copy_guest(&dst->d, &src->d);
    f.ram_ms = (double)(g_get_monotonic_time() - t1) / 1000.0;
    mt_write_all(dst->cl, b->data, b->len);
    mt_set(dst->cl, MT_STOP);
    mt_set(dst->cl, MT_RUNNING);
    f.stopped_ms = (double)(g_get_monotonic_time() - t0) / 1000.0;
    mt_set(src->cl, MT_STOP);
    driver_moves(&dst->d, &src->d);
    f.bytes = b->len;
    f.plugin_bytes = le64(b->data + 112);
    {
        GByteArray *st = plugin_state(b);

        f.waiting = count_records(st, 8 /* WAIT */);
        g_byte_array_unref(st);
    }
    g_byte_array_unref(b);
    return f;
}

/* What the source said when it stopped (how much it drained). */
static void report_stop(struct side *s)
{
    g_autofree char *log = NULL;
    const char *l;

    ck_assert(pt_log_wait(s->h, "nvme: stopped:", 5000));
    log = harness_log(s->h);
    l = strstr(log, "nvme: stopped:");
    fprintf(stderr, "MEASURE source: %.*s\n", (int)strcspn(l, "\n"), l);
}

/* ------------------------------------------------------------------------
 * Streams, taken apart (see daemon/mig_stream.h and plugins/nvme/
 * mig_format.c): the plugin's records inside the daemon's sections.
 */
#define HDR_SIZE 128u
#define DIGEST 32u
#define SEC_PLUGIN 4u

static uint32_t le32(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
           (uint32_t)p[3] << 24;
}

static void put_le32(uint8_t *p, uint32_t v)
{
    for (int i = 0; i < 4; i++) {
        p[i] = (uint8_t)(v >> (8 * i));
    }
}

static void put_le64(uint8_t *p, uint64_t v)
{
    for (int i = 0; i < 8; i++) {
        p[i] = (uint8_t)(v >> (8 * i));
    }
}

/* Where the plugin's state lies in a stream. */
static void plugin_part(const GByteArray *b, size_t *at, size_t *len)
{
    size_t pos = HDR_SIZE;

    while (pos + 16 <= b->len - DIGEST) {
        uint64_t l = le64(b->data + pos + 8);

        if (le32(b->data + pos) == SEC_PLUGIN) {
            *at = pos + 16;
            *len = (size_t)l;
            return;
        }
        pos += 16 + (size_t)l;
    }
    ck_abort_msg("no plugin section in the stream");
}

/* Stream b with the plugin's state replaced: the daemon's lengths and
 * checksum made right, so that what is judged is the plugin's state. */
static GByteArray *with_plugin_state(const GByteArray *b, const uint8_t *st,
                                     size_t len)
{
    GByteArray *o = g_byte_array_new();
    uint8_t digest[32];
    gsize dlen = sizeof(digest);
    GChecksum *ck;
    size_t at, old;

    plugin_part(b, &at, &old);
    g_byte_array_append(o, b->data, (guint)at);
    put_le64(o->data + at - 8, len);
    g_byte_array_append(o, st, (guint)len);
    g_byte_array_append(o, b->data + at + old, (guint)(b->len - DIGEST - at - old));
    put_le64(o->data + 16, o->len + DIGEST);
    put_le64(o->data + 112, len);
    ck = g_checksum_new(G_CHECKSUM_SHA256);
    g_checksum_update(ck, o->data, o->len);
    g_checksum_get_digest(ck, digest, &dlen);
    g_checksum_free(ck);
    g_byte_array_append(o, digest, sizeof(digest));
    return o;
}

/* Stream b as a plugin of state version v saved it (the header says so;
 * the checksum made right). */
static GByteArray *with_state_version(const GByteArray *b, uint32_t v)
{
    GByteArray *o = g_byte_array_new();
    uint8_t digest[32];
    gsize dlen = sizeof(digest);
    GChecksum *ck;

    g_byte_array_append(o, b->data, b->len - DIGEST);
    put_le32(o->data + 56, v);
    ck = g_checksum_new(G_CHECKSUM_SHA256);
    g_checksum_update(ck, o->data, o->len);
    g_checksum_get_digest(ck, digest, &dlen);
    g_checksum_free(ck);
    g_byte_array_append(o, digest, sizeof(digest));
    return o;
}

/* A copy of the plugin's state. */
static GByteArray *plugin_state(const GByteArray *b)
{
    GByteArray *s = g_byte_array_new();
    size_t at, len;

    plugin_part(b, &at, &len);
    g_byte_array_append(s, b->data + at, (guint)len);
    return s;
}

/* Offset of the body of the n-th record with this tag in a plugin state. */
static size_t record(const GByteArray *st, uint16_t tag, unsigned n)
{
    size_t pos = 0;

    while (pos + 8 <= st->len) {
        uint16_t t = (uint16_t)(st->data[pos] | st->data[pos + 1] << 8);
        uint32_t l = le32(st->data + pos + 4);

        if (t == tag && n-- == 0) {
            return pos + 8;
        }
        pos += 8 + l;
    }
    ck_abort_msg("no record %u in the plugin state", tag);
    return 0;
}

enum { REC_IDENT = 1, REC_NS = 2, REC_REGS = 3, REC_CQ = 6, REC_SQ = 7, REC_WAIT = 8,
       REC_HOST = 14, REC_CHANGED_NS = 15 };

static unsigned count_records(const GByteArray *st, uint16_t tag)
{
    unsigned n = 0;

    for (size_t pos = 0; pos + 8 <= st->len; pos += 8 + le32(st->data + pos + 4)) {
        n += (uint16_t)(st->data[pos] | st->data[pos + 1] << 8) == tag;
    }
    return n;
}

/* ------------------------------------------------------------------------
 * The tests
 */

/* A guest with three I/O queues and I/O on all of them moves:
 *   - commands submitted before the migration complete exactly once
 *     (posted by the source when it stopped, or fetched by the
 *     destination), with the right CIDs and phases; the data they wrote
 *     and read is right;
 *   - completions that found their CQ full travel and are posted on the
 *     destination when the guest makes room;
 *   - outstanding AERs travel: an event on the destination completes one
 *     with its CID from the source;
 *   - registers read the same on both sides; features, SMART counters and
 *     the error log are the source's;
 *   - the same queues keep working (phases wrap) on the destination.
 * The stream size and the time the device is stopped are printed. */
START_TEST(test_migrate_in_flight)
{
    const int mode = _i;
    struct side src, dst;
    struct tdrv *d;
    struct nvme_sqe c;
    struct nvme_cqe e;
    uint64_t sync_buf[16], w_buf[40], r_buf[20], q3_buf[6];
    uint16_t w_cid[40], r_cid[20], flush_cid, q3_cid[6], aer_cid[2], bad_cid;
    g_autofree bool *seen = g_new0(bool, 65536);
    static const unsigned regs[] = {
        NVME_REG_CAP, NVME_REG_CAP + 4, NVME_REG_VS, NVME_REG_INTMS,
        NVME_REG_CC, NVME_REG_CSTS, NVME_REG_AQA, NVME_REG_ASQ,
        NVME_REG_ASQ + 4, NVME_REG_ACQ, NVME_REG_ACQ + 4,
    };
    uint32_t reg_src[G_N_ELEMENTS(regs)];
    struct figures f;
    const uint8_t *smart, *errlog;
    unsigned writes = 0, reads = 0;

    side_start(&src, mode, NULL, NULL);
    side_connect(&src, mode);
    d = &src.d;
    ck_assert_int_eq(td_enable(d, 32), 0);
    /* Features the guest set, before and after creating queues. */
    set_feature(d, NVME_FEAT_NUM_QUEUES, 3 | 3u << 16);
    ck_assert_int_eq(td_create_io_queue(d, 1, 64), 0);
    ck_assert_int_eq(td_create_io_queue(d, 2, 64), 0);
    ck_assert_int_eq(td_create_io_queue(d, 3, 4), 0);
    if (mode == M_SHADOW) {
        ck_assert_int_eq(td_enable_shadow(d), 0);
    }
    set_feature(d, NVME_FEAT_ARBITRATION, 0x03020107);
    set_feature(d, NVME_FEAT_TEMP_THRESH, 350);
    set_feature(d, NVME_FEAT_TEMP_THRESH, 1u << 20 | 250);
    set_feature(d, NVME_FEAT_ERR_RECOVERY, 0x10064);
    set_feature(d, NVME_FEAT_IRQ_COALESCE, 0x0a05);
    set_feature(d, NVME_FEAT_IRQ_CONFIG, 2 | 1u << 16);
    set_feature(d, NVME_FEAT_WRITE_ATOMIC, 1);
    set_feature(d, NVME_FEAT_ASYNC_EVENT, 0x1ff);
    set_feature(d, NVME_FEAT_VOLATILE_WC, 0);
    /* state version 2: Keep Alive (long enough not to expire here) and
     * Host Behavior Support */
    set_feature(d, NVME_FEAT_KEEP_ALIVE, 600000);
    set_acre(d, 1);
    /* Two event requests stay outstanding. */
    c = cmd(NVME_ADM_ASYNC_EVENT);
    aer_cid[0] = td_submit(d, 0, &c);
    c = cmd(NVME_ADM_ASYNC_EVENT);
    aer_cid[1] = td_submit(d, 0, &c);
    /* One failing command for the error log. */
    c = cmd(0x7f);
    c.nsid = 1;
    bad_cid = d->q[1].next_cid;
    ck_assert_int_eq(td_cmd(d, 1, &c, NULL), NVME_SC_INVALID_OPCODE);

    /* Every queue wraps once before the migration, so that phase tags
     * other than the first travel too. */
    for (unsigned i = 0; i < 24; i++) {
        ck_assert_uint_eq(get_feature(d, NVME_FEAT_WRITE_ATOMIC, 0), 1);
    }
    for (unsigned i = 0; i < 70; i++) {
        uint64_t buf = td_alloc(d, 4096, 4096);

        ck_assert_int_eq(td_rw(d, 2, NVME_CMD_READ, 0, 8, buf, 0), 0);
        reads++;
    }
    for (unsigned i = 0; i < 5; i++) {
        c = cmd(NVME_CMD_FLUSH);
        c.nsid = 1;
        ck_assert_int_eq(td_cmd(d, 3, &c, NULL), 0);
    }
    ck_assert(!d->q[0].phase && !d->q[2].phase && !d->q[3].phase);
    /* Data written before, synchronously: 16 x 4 KiB at LBA 0, so that
     * queue 1 wraps too. */
    for (unsigned i = 0; i < 16; i++) {
        sync_buf[i] = td_alloc(d, 4096, 4096);
        fill(d, sync_buf[i], 4096, 100 + i);
        ck_assert_int_eq(td_rw(d, 1, NVME_CMD_WRITE, 8 * i, 8, sync_buf[i], 0), 0);
        writes++;
    }
    for (unsigned i = 0; i < 50; i++) {
        c = cmd(NVME_CMD_FLUSH);
        c.nsid = 1;
        ck_assert_int_eq(td_cmd(d, 1, &c, NULL), 0);
    }
    ck_assert(!d->q[1].phase);
    /* Queue 3 (4 entries): three completions fill its CQ, the guest does
     * not consume them, and three more commands find no room. */
    for (unsigned i = 0; i < 6; i++) {
        q3_buf[i] = td_alloc(d, 4096, 4096);
        fill(d, q3_buf[i], 4096, 300 + i);
        c = rw(NVME_CMD_WRITE, 4096 + 8 * i, 8, q3_buf[i]);
        q3_cid[i] = td_queue_cmd(d, 3, &c);
        writes++;
        if (i == 2) {
            td_ring(d, 3);
            wait_posted(d, 3, 3);
        }
    }
    td_ring(d, 3);
    /* Two admin commands after it, one after the other: the I/O thread
     * serves the queues in turn, so when the second completes it has been
     * through queue 3 and fetched what was there (its completions then
     * wait for room, and the quiesce drains them into that wait). */
    ck_assert_uint_eq(get_feature(d, NVME_FEAT_ARBITRATION, 0), 0x03020107);
    ck_assert_uint_eq(get_feature(d, NVME_FEAT_WRITE_ATOMIC, 0), 1);

    side_start(&dst, mode, NULL, NULL);
    side_connect(&dst, mode);
    /* In flight when the source stops (as far as the host is quick
     * enough: the stop may also find some not fetched yet, or done): 40
     * writes on queue 1, every fourth with FUA, 20 reads and a flush on
     * queue 2, submitted just before the migration starts. */
    for (unsigned i = 0; i < 40; i++) {
        w_buf[i] = td_alloc(d, 4096, 4096);
        fill(d, w_buf[i], 4096, 200 + i);
        c = rw(NVME_CMD_WRITE, 2048 + 8 * i, 8, w_buf[i]);
        c.cdw12 |= i % 4 == 0 ? NVME_RW_FUA : 0;
        w_cid[i] = td_queue_cmd(d, 1, &c);
        writes++;
    }
    for (unsigned i = 0; i < 20; i++) {
        r_buf[i] = td_alloc(d, 4096, 4096);
        c = rw(NVME_CMD_READ, 8 * (i % 16), 8, r_buf[i]);
        r_cid[i] = td_queue_cmd(d, 2, &c);
        reads++;
    }
    c = cmd(NVME_CMD_FLUSH);
    c.nsid = 1;
    flush_cid = td_queue_cmd(d, 2, &c);
    td_ring(d, 1);
    td_ring(d, 2);
    f = migrate(&src, &dst);
    fprintf(stderr, "MEASURE nvme migration (%s): stream %zu bytes (NVMe state "
            "%llu bytes), stopped %.3f ms from STOP_COPY to RUNNING (guest RAM "
            "copy %.3f ms of it)\n", mode_names[mode], f.bytes,
            (unsigned long long)f.plugin_bytes, f.stopped_ms, f.ram_ms);
    report_stop(&src);
    ck_assert_uint_eq(mt_get(src.cl), MT_STOP);
    ck_assert_uint_eq(mt_get(dst.cl), MT_RUNNING);
    ck_assert_uint_eq(f.waiting, 3);
    d = &dst.d;

    /* Every in-flight command completes once, on its queue. */
    for (unsigned n = 0; n < 40; n++) {
        ck_assert_int_eq(td_wait(d, 1, &e), 0);
        ck_assert_int_eq(td_status(&e), 0);
        ck_assert_uint_eq(e.sq_id, 1);
        ck_assert_msg(!seen[e.cid], "CID %u completed twice", e.cid);
        seen[e.cid] = true;
    }
    for (unsigned i = 0; i < 40; i++) {
        ck_assert_msg(seen[w_cid[i]], "write CID %u never completed", w_cid[i]);
        seen[w_cid[i]] = false;
    }
    for (unsigned n = 0; n < 21; n++) {
        ck_assert_int_eq(td_wait(d, 2, &e), 0);
        ck_assert_int_eq(td_status(&e), 0);
        ck_assert_msg(!seen[e.cid], "CID %u completed twice", e.cid);
        seen[e.cid] = true;
    }
    for (unsigned i = 0; i < 20; i++) {
        ck_assert_msg(seen[r_cid[i]], "read CID %u never completed", r_cid[i]);
        ck_assert_msg(same(d, r_buf[i], 4096, 100 + i % 16),
                      "read %u returned wrong data", i);
    }
    ck_assert(seen[flush_cid]);
    /* Queue 3: the three posted, then room, then the three that waited. */
    for (unsigned i = 0; i < 3; i++) {
        ck_assert(td_cqe_ready(d, 3));
        td_consume(d, 3, &e);
        ck_assert_uint_eq(e.cid, q3_cid[i]);
        ck_assert_int_eq(td_status(&e), 0);
    }
    td_cq_ring(d, 3);
    for (unsigned i = 3; i < 6; i++) {
        ck_assert_int_eq(td_wait(d, 3, &e), 0);
        ck_assert_uint_eq(e.cid, q3_cid[i]);
        ck_assert_int_eq(td_status(&e), 0);
    }

    /* Registers: the stopped source answers from its state. */
    for (unsigned i = 0; i < G_N_ELEMENTS(regs); i++) {
        reg_src[i] = pt_rd32(src.cl, PT_BAR0, regs[i]);
        ck_assert_msg(pt_rd32(dst.cl, PT_BAR0, regs[i]) == reg_src[i],
                      "register %#x: %#x, source %#x", regs[i],
                      pt_rd32(dst.cl, PT_BAR0, regs[i]), reg_src[i]);
    }
    ck_assert_uint_eq(reg_src[5] & NVME_CSTS_RDY, NVME_CSTS_RDY);

    /* Features. */
    ck_assert_uint_eq(get_feature(d, NVME_FEAT_NUM_QUEUES, 0),
                      (QUEUES - 1) | (QUEUES - 1) << 16);
    ck_assert_uint_eq(get_feature(d, NVME_FEAT_ARBITRATION, 0), 0x03020107);
    ck_assert_uint_eq(get_feature(d, NVME_FEAT_TEMP_THRESH, 0), 350);
    ck_assert_uint_eq(get_feature(d, NVME_FEAT_TEMP_THRESH, 1u << 20),
                      1u << 20 | 250);
    ck_assert_uint_eq(get_feature(d, NVME_FEAT_ERR_RECOVERY, 0), 0x10064);
    ck_assert_uint_eq(get_feature(d, NVME_FEAT_IRQ_COALESCE, 0), 0x0a05);
    ck_assert_uint_eq(get_feature(d, NVME_FEAT_IRQ_CONFIG, 2), 2 | 1u << 16);
    ck_assert_uint_eq(get_feature(d, NVME_FEAT_IRQ_CONFIG, 1), 1);
    ck_assert_uint_eq(get_feature(d, NVME_FEAT_WRITE_ATOMIC, 0), 1);
    ck_assert_uint_eq(get_feature(d, NVME_FEAT_ASYNC_EVENT, 0), 0x1ff);
    ck_assert_uint_eq(get_feature(d, NVME_FEAT_VOLATILE_WC, 0), 0);
    ck_assert_uint_eq(get_feature(d, NVME_FEAT_KEEP_ALIVE, 0), 600000);
    ck_assert_uint_eq(get_acre(d), 1);

    /* An event on the destination completes an AER of the source: an
     * invalid admin SQ doorbell value (the admin queue is never shadowed). */
    raw_doorbell(d, 0, 1000);
    ck_assert_int_eq(td_wait(d, 0, &e), 0);
    ck_assert_msg(e.cid == aer_cid[0] || e.cid == aer_cid[1],
                  "CID %u is not one of the AERs (%u, %u)", e.cid, aer_cid[0],
                  aer_cid[1]);
    ck_assert_int_eq(td_status(&e), 0);
    ck_assert_uint_eq(e.dw0 & 7, NVME_AER_TYPE_ERROR);
    ck_assert_uint_eq((e.dw0 >> 8) & 0xff, NVME_AER_ERR_INVALID_DB_VAL);
    ck_assert_uint_eq((e.dw0 >> 16) & 0xff, NVME_LOG_ERROR);

    /* SMART counters and the error log came along. */
    smart = get_log(d, NVME_LOG_SMART, 512);
    ck_assert_uint_eq(le64(smart + 64), reads);
    ck_assert_uint_eq(le64(smart + 80), writes);
    ck_assert_uint_eq(le64(smart + 176), 1);
    errlog = get_log(d, NVME_LOG_ERROR, 256);
    ck_assert_uint_eq(le64(errlog), 1);
    ck_assert_uint_eq(errlog[8] | errlog[9] << 8, 1);
    ck_assert_uint_eq(errlog[10] | errlog[11] << 8, bad_cid);

    /* The data written before and during the migration reads back. */
    for (unsigned i = 0; i < 16 + 40 + 6; i++) {
        uint64_t slba = i < 16 ? 8 * i : i < 56 ? 2048 + 8 * (i - 16)
                                                 : 4096 + 8 * (i - 56);
        unsigned seed = i < 16 ? 100 + i : i < 56 ? 200 + i - 16 : 300 + i - 56;
        uint64_t buf = td_alloc(d, 4096, 4096);

        ck_assert_int_eq(td_rw(d, 1 + i % 3, NVME_CMD_READ, slba, 8, buf, 0), 0);
        ck_assert_msg(same(d, buf, 4096, seed), "LBA %llu: wrong data",
                      (unsigned long long)slba);
    }
    /* The queues keep going: several wraps of queue 1 (64 entries) and of
     * queue 3 (4 entries), writes then reads, every CID and phase right. */
    for (unsigned i = 0; i < 150; i++) {
        uint16_t qid = i % 5 == 4 ? 3 : 1 + i % 2;
        uint64_t buf = td_alloc(d, 4096, 4096);

        fill(d, buf, 4096, 400 + i);
        ck_assert_int_eq(td_rw(d, qid, NVME_CMD_WRITE, 8192 + 8 * i, 8, buf, 0), 0);
        memset(td_ptr(d, buf), 0, 4096);
        ck_assert_int_eq(td_rw(d, qid, NVME_CMD_READ, 8192 + 8 * i, 8, buf, 0), 0);
        ck_assert(same(d, buf, 4096, 400 + i));
    }

    side_finish(&src);
    side_finish(&dst);
}
END_TEST

/* A controller formatted to 4 KiB blocks (Format NVM) keeps that format
 * on a destination configured with 512-byte blocks. */
START_TEST(test_format_travels)
{
    struct side src, dst;
    struct nvme_sqe c;
    const uint8_t *id;
    uint64_t buf;

    side_start(&src, M_SHADOW, NULL, NULL);
    side_connect(&src, M_SHADOW);
    ck_assert_int_eq(td_enable(&src.d, 16), 0);
    ck_assert_int_eq(td_create_io_queue(&src.d, 1, 16), 0);
    c = cmd(NVME_ADM_FORMAT_NVM);
    c.nsid = 1;
    c.cdw10 = 1; /* LBA format 1: 4096 bytes */
    ck_assert_int_eq(admin(&src.d, &c, NULL), 0);
    buf = td_alloc(&src.d, 4096, 4096);
    fill(&src.d, buf, 4096, 7);
    c = rw(NVME_CMD_WRITE, 3, 1, buf);
    ck_assert_int_eq(td_cmd(&src.d, 1, &c, NULL), 0);

    side_start(&dst, M_SHADOW, NULL, NULL);
    side_connect(&dst, M_SHADOW);
    (void)migrate(&src, &dst);

    buf = td_alloc(&dst.d, 4096, 4096);
    c = cmd(NVME_ADM_IDENTIFY);
    c.nsid = 1;
    c.dptr1 = buf;
    c.cdw10 = 0; /* CNS 0: namespace */
    ck_assert_int_eq(admin(&dst.d, &c, NULL), 0);
    id = td_ptr(&dst.d, buf);
    ck_assert_uint_eq(id[NVME_IDNS_FLBAS] & 0xf, 1);
    ck_assert_uint_eq(le64(id + NVME_IDNS_NSZE), NS_SIZE / 4096);
    buf = td_alloc(&dst.d, 4096, 4096);
    c = rw(NVME_CMD_READ, 3, 1, buf);
    ck_assert_int_eq(td_cmd(&dst.d, 1, &c, NULL), 0);
    ck_assert(same(&dst.d, buf, 4096, 7));

    side_finish(&src);
    side_finish(&dst);
}
END_TEST

/* A controller in use (its own queues and data) receives broken streams:
 * each is refused (EINVAL, RESUMING kept), the plugin's refusals are
 * logged, and the controller carries on with its own state.  Then the
 * good stream loads into it and the source's queues work there. */
START_TEST(test_bad_streams)
{
    struct side src, dst;
    uint64_t buf;
    uint32_t asq_before, aqa_before;
    GByteArray *b, *st, *x;
    size_t at;
    unsigned refusals;

    side_start(&src, M_SHADOW, NULL, NULL);
    side_connect(&src, M_SHADOW);
    ck_assert_int_eq(td_enable(&src.d, 32), 0);
    ck_assert_int_eq(td_create_io_queue(&src.d, 1, 64), 0);
    ck_assert_int_eq(td_enable_shadow(&src.d), 0);
    buf = td_alloc(&src.d, 4096, 4096);
    fill(&src.d, buf, 4096, 11);
    ck_assert_int_eq(td_rw(&src.d, 1, NVME_CMD_WRITE, 64, 8, buf, 0), 0);

    /* The destination's own guest: another admin queue size and layout. */
    side_start(&dst, M_SHADOW, NULL, NULL);
    side_connect(&dst, M_SHADOW);
    (void)td_alloc(&dst.d, 8 * 4096, 4096);
    ck_assert_int_eq(td_enable(&dst.d, 8), 0);
    ck_assert_int_eq(td_create_io_queue(&dst.d, 2, 16), 0);
    buf = td_alloc(&dst.d, 4096, 4096);
    fill(&dst.d, buf, 4096, 22);
    ck_assert_int_eq(td_rw(&dst.d, 2, NVME_CMD_WRITE, 128, 8, buf, 0), 0);
    asq_before = pt_rd32(dst.cl, PT_BAR0, NVME_REG_ASQ);
    aqa_before = pt_rd32(dst.cl, PT_BAR0, NVME_REG_AQA);

    b = mt_save(src.cl);
    st = plugin_state(b);
    ck_assert_uint_eq(count_records(st, REC_CQ), 2);
    ck_assert_uint_eq(count_records(st, REC_SQ), 2);

    /* The daemon's own checks: a flipped byte, a cut stream. */
    x = g_byte_array_new();
    g_byte_array_append(x, b->data, b->len);
    x->data[x->len / 2] ^= 0x40;
    ck_assert_int_eq(mt_load_try(dst.cl, x->data, x->len), -EINVAL);
    ck_assert_uint_eq(mt_get(dst.cl), MT_RESUMING);
    ck_assert_int_eq(mt_load_try(dst.cl, b->data, b->len - 100), -EINVAL);
    g_byte_array_unref(x);

    /* The plugin's, with the daemon's checksum made right. */
#define TRY_PLUGIN(what, ...)                                                \
    do {                                                                     \
        GByteArray *s_ = g_byte_array_new();                                 \
        g_byte_array_append(s_, st->data, st->len);                          \
        __VA_ARGS__;                                                         \
        x = with_plugin_state(b, s_->data, s_->len);                         \
        ck_assert_msg(mt_load_try(dst.cl, x->data, x->len) == -EINVAL,       \
                      "%s: accepted", what);                                 \
        ck_assert_uint_eq(mt_get(dst.cl), MT_RESUMING);                      \
        g_byte_array_unref(x);                                               \
        g_byte_array_unref(s_);                                              \
    } while (0)

    TRY_PLUGIN("truncated", g_byte_array_set_size(s_, s_->len - 6));
    TRY_PLUGIN("empty", g_byte_array_set_size(s_, 0));
    TRY_PLUGIN("CQ larger than MQES", {
        at = record(s_, REC_CQ, 1);
        put_le32(s_->data + at + 16, 60000);
    });
    TRY_PLUGIN("CQ vector out of range", {
        at = record(s_, REC_CQ, 1);
        s_->data[at + 2] = 9;
    });
    TRY_PLUGIN("SQ head beyond its size", {
        at = record(s_, REC_SQ, 1);
        put_le32(s_->data + at + 16, 64);
    });
    TRY_PLUGIN("SQ bound to a missing CQ", {
        at = record(s_, REC_SQ, 1);
        s_->data[at + 2] = 3;
    });
    TRY_PLUGIN("queue id beyond the queues", {
        at = record(s_, REC_SQ, 1);
        s_->data[at] = 9;
    });
    TRY_PLUGIN("register record of the wrong length", {
        at = record(s_, REC_REGS, 0);
        put_le32(s_->data + at - 4, 35);
    });
    TRY_PLUGIN("unknown record", {
        static const uint8_t rec[8] = { 200, 0, 0, 0, 0, 0, 0, 0 };
        g_byte_array_append(s_, rec, sizeof(rec));
    });
    TRY_PLUGIN("a waiting completion for a queue that does not exist", {
        static const uint8_t rec[20] = { REC_WAIT, 0, 0, 0, 12, 0, 0, 0,
                                         4, 0, 4, 0, 1, 0, 0, 0, 0, 0, 0, 0 };
        g_byte_array_append(s_, rec, sizeof(rec));
    });
    TRY_PLUGIN("other queue count", {
        at = record(s_, REC_IDENT, 0);
        s_->data[at] = 2;
    });
    TRY_PLUGIN("namespace of another size", {
        at = record(s_, REC_NS, 0);
        s_->data[at + 4] ^= 1;
    });
    TRY_PLUGIN("host record with ACRE 2", {
        at = record(s_, REC_HOST, 0);
        s_->data[at + 4] = 2;
    });
    TRY_PLUGIN("host record of the wrong length", {
        at = record(s_, REC_HOST, 0);
        put_le32(s_->data + at - 4, 4);
    });
    TRY_PLUGIN("a changed namespace beyond NN", {
        static const uint8_t rec[20] = { REC_CHANGED_NS, 0, 0, 0, 12, 0, 0, 0,
                                         1, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0 };
        g_byte_array_append(s_, rec, sizeof(rec));
    });
    TRY_PLUGIN("a changed namespace listed twice", {
        static const uint8_t rec[24] = { REC_CHANGED_NS, 0, 0, 0, 16, 0, 0, 0,
                                         2, 0, 0, 0, 0, 0, 0, 0,
                                         1, 0, 0, 0, 1, 0, 0, 0 };
        g_byte_array_append(s_, rec, sizeof(rec));
    });
    TRY_PLUGIN("a changed-namespace record longer than its count", {
        static const uint8_t rec[20] = { REC_CHANGED_NS, 0, 0, 0, 12, 0, 0, 0,
                                         0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0 };
        g_byte_array_append(s_, rec, sizeof(rec));
    });
#undef TRY_PLUGIN
    /* The Changed Namespace List travels from state version 3 on: a
     * version-2 stream with it is refused. */
    {
        static const uint8_t rec[20] = { REC_CHANGED_NS, 0, 0, 0, 12, 0, 0, 0,
                                         1, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0 };
        GByteArray *s_ = g_byte_array_new(), *v2;

        g_byte_array_append(s_, st->data, st->len);
        g_byte_array_append(s_, rec, sizeof(rec));
        x = with_plugin_state(b, s_->data, s_->len);
        v2 = with_state_version(x, 2);
        ck_assert_int_eq(mt_load_try(dst.cl, v2->data, v2->len), -EINVAL);
        ck_assert_uint_eq(mt_get(dst.cl), MT_RESUMING);
        g_byte_array_unref(v2);
        g_byte_array_unref(x);
        g_byte_array_unref(s_);
    }
    pt_log_wait_count(dst.h, "nvme: migration stream refused", 18);
    refusals = pt_log_count(dst.h, "nvme: migration stream refused");
    ck_assert_uint_eq(refusals, 18);

    /* Leaving RESUMING without data keeps the controller's own state. */
    mt_set(dst.cl, MT_RUNNING);
    ck_assert_uint_eq(pt_rd32(dst.cl, PT_BAR0, NVME_REG_ASQ), asq_before);
    ck_assert_uint_eq(pt_rd32(dst.cl, PT_BAR0, NVME_REG_AQA), aqa_before);
    ck_assert_uint_eq(pt_rd32(dst.cl, PT_BAR0, NVME_REG_CSTS) & NVME_CSTS_RDY,
                      NVME_CSTS_RDY);
    buf = td_alloc(&dst.d, 4096, 4096);
    ck_assert_int_eq(td_rw(&dst.d, 2, NVME_CMD_READ, 128, 8, buf, 0), 0);
    ck_assert(same(&dst.d, buf, 4096, 22));

    /* The good stream replaces that state, as a plugin of state version 2
     * (no Changed Namespace List) would have saved it: older streams still
     * load. */
    x = with_state_version(b, 2);
    ck_assert_int_eq(mt_load_try(dst.cl, x->data, x->len), 0);
    g_byte_array_unref(x);
    copy_guest(&dst.d, &src.d);
    mt_set(dst.cl, MT_RUNNING);
    mt_set(src.cl, MT_STOP);
    driver_moves(&dst.d, &src.d);
    ck_assert_uint_eq(pt_rd32(dst.cl, PT_BAR0, NVME_REG_ASQ),
                      pt_rd32(src.cl, PT_BAR0, NVME_REG_ASQ));
    buf = td_alloc(&dst.d, 4096, 4096);
    ck_assert_int_eq(td_rw(&dst.d, 1, NVME_CMD_READ, 64, 8, buf, 0), 0);
    ck_assert(same(&dst.d, buf, 4096, 11));
    ck_assert_int_eq(td_rw(&dst.d, 1, NVME_CMD_READ, 128, 8, buf, 0), 0);
    ck_assert(same(&dst.d, buf, 4096, 22));

    g_byte_array_unref(st);
    g_byte_array_unref(b);
    side_finish(&src);
    side_finish(&dst);
}
END_TEST

/* Destinations configured otherwise than the source refuse its stream,
 * saying why, and keep their (power-on) state; one configured alike
 * accepts it. */
START_TEST(test_other_configuration)
{
    g_autofree char *other = g_strdup_printf(
        "namespace.1.path = %s/other.img\nnamespace.1.size = %llu\n", shared_dir,
        NS_SIZE / 2);
    g_autofree char *two = g_strdup_printf(
        "namespace.1.path = %s/ns1.img\nnamespace.1.size = %llu\n"
        "namespace.2.path = %s/other.img\nnamespace.2.size = 1M\n",
        shared_dir, NS_SIZE, shared_dir);
    g_autofree char *ro = g_strdup_printf(
        "namespace.1.path = %s/ns1.img\nnamespace.1.read-only = true\n", shared_dir);
    g_autofree char *uuid = g_strdup_printf(
        "namespace.1.path = %s/ns1.img\nnamespace.1.size = %llu\n"
        "namespace.1.uuid = 01234567-89ab-4def-8123-456789abcdef\n",
        shared_dir, NS_SIZE);
    const struct {
        const char *serial, *ns_keys, *why;
    } cases[] = {
        { NULL, other, "namespace 1 differs" },
        { NULL, two, "the namespaces differ" },
        { NULL, ro, "namespace 1 differs" },
        { NULL, uuid, "namespace 1 has other identifiers" },
        { "VFUD-OTHER-SERIAL", NULL, "the controller differs" },
    };
    struct side src, dst;
    GByteArray *b;

    side_start(&src, M_SHADOW, NULL, NULL);
    side_connect(&src, M_SHADOW);
    ck_assert_int_eq(td_enable(&src.d, 32), 0);
    ck_assert_int_eq(td_create_io_queue(&src.d, 1, 64), 0);
    b = mt_save(src.cl);

    for (unsigned i = 0; i < G_N_ELEMENTS(cases); i++) {
        side_start(&dst, M_SHADOW, cases[i].serial, cases[i].ns_keys);
        side_connect(&dst, M_SHADOW);
        ck_assert_msg(mt_load_try(dst.cl, b->data, b->len) == -EINVAL,
                      "case %u (%s): accepted", i, cases[i].why);
        ck_assert_msg(pt_log_wait(dst.h, cases[i].why, 5000),
                      "case %u: the log does not say '%s'", i, cases[i].why);
        mt_set(dst.cl, MT_RUNNING);
        ck_assert_uint_eq(pt_rd32(dst.cl, PT_BAR0, NVME_REG_CC), 0);
        ck_assert_uint_eq(pt_rd32(dst.cl, PT_BAR0, NVME_REG_CSTS), 0);
        side_finish(&dst);
    }
    side_start(&dst, M_SHADOW, NULL, NULL);
    side_connect(&dst, M_SHADOW);
    ck_assert_int_eq(mt_load_try(dst.cl, b->data, b->len), 0);
    mt_set(dst.cl, MT_RUNNING);
    ck_assert_uint_eq(pt_rd32(dst.cl, PT_BAR0, NVME_REG_CSTS) & NVME_CSTS_RDY,
                      NVME_CSTS_RDY);

    g_byte_array_unref(b);
    side_finish(&src);
    side_finish(&dst);
}
END_TEST

/* Stopping posts what was in flight and then leaves guest memory alone;
 * resuming the same daemon (a migration abandoned) serves the commands
 * the guest submitted meanwhile, each completing once. */
START_TEST(test_stop_and_resume)
{
    const int mode = _i;
    struct side s;
    struct tdrv *d = &s.d;
    struct nvme_sqe c;
    struct nvme_cqe e;
    uint16_t cid[8];
    unsigned done = 0;
    uint8_t *cq_copy;
    const size_t cq_len = 64 * 16;

    side_start(&s, mode, NULL, NULL);
    side_connect(&s, mode);
    ck_assert_int_eq(td_enable(d, 32), 0);
    ck_assert_int_eq(td_create_io_queue(d, 1, 64), 0);
    if (mode == M_SHADOW) {
        ck_assert_int_eq(td_enable_shadow(d), 0);
    }
    for (unsigned i = 0; i < 8; i++) {
        uint64_t buf = td_alloc(d, 4096, 4096);

        fill(d, buf, 4096, 50 + i);
        c = rw(NVME_CMD_WRITE, 8 * i, 8, buf);
        cid[i] = td_queue_cmd(d, 1, &c);
        if (i == 3) {
            td_ring(d, 1);
            mt_set(s.cl, MT_STOP);
        }
    }
    /* What the controller had fetched when it stopped is complete (it may
     * not have fetched everything: the stop can come first). */
    while (td_cqe_ready(d, 1)) {
        td_consume(d, 1, &e);
        ck_assert_uint_eq(e.cid, cid[done]);
        ck_assert_int_eq(td_status(&e), 0);
        done++;
    }
    ck_assert_uint_le(done, 4);
    /* Submitted while stopped: the CQ does not change until the device
     * runs (compared after a register read, a round trip to the device). */
    cq_copy = g_memdup2(td_ptr(d, d->q[1].cq_iova), cq_len);
    td_ring(d, 1);
    td_cq_ring(d, 1);
    ck_assert_uint_eq(pt_rd32(s.cl, PT_BAR0, NVME_REG_CSTS) & NVME_CSTS_RDY,
                      NVME_CSTS_RDY);
    ck_assert_int_eq(memcmp(cq_copy, td_ptr(d, d->q[1].cq_iova), cq_len), 0);
    g_free(cq_copy);
    mt_set(s.cl, MT_RUNNING);
    for (; done < 8; done++) {
        ck_assert_int_eq(td_wait(d, 1, &e), 0);
        ck_assert_uint_eq(e.cid, cid[done]);
        ck_assert_int_eq(td_status(&e), 0);
    }
    side_finish(&s);
}
END_TEST

/* One page's dirty bit in the source's DMA log (cleared by reading). */
static bool page_dirty(struct vfu_client *c, uint64_t iova)
{
    struct vfio_user_device_feature_dma_logging_report rq = {
        .iova = iova, .length = 4096, .page_size = 4096,
    };
    struct pt_reply r;
    uint64_t bits;
    int ret = mt_feature_try(c, 8 + sizeof(rq) + 8,
                             MT_GET | VFIO_USER_DEVICE_FEATURE_DMA_LOGGING_REPORT,
                             &rq, sizeof(rq), &r);

    ck_assert_msg(ret == 0, "DMA_LOGGING_REPORT: %s", strerror(-ret));
    ck_assert_uint_eq(r.len, 8 + sizeof(rq) + 8);
    memcpy(&bits, r.payload + 8 + sizeof(rq), 8);
    pt_reply_clear(&r);
    return bits & 1;
}

/* Pre-copy of guest RAM needs every page the device writes: completion
 * entries and EventIdx updates go through pointers held since the queue
 * (or shadow buffer) was set up, and must still show in the DMA log. */
START_TEST(test_queue_writes_logged)
{
    struct vfio_user_device_feature_dma_logging_control ctl = {
        .page_size = 4096, .num_ranges = 0,
    };
    struct side s;
    struct tdrv *d = &s.d;
    struct pt_reply r;
    struct nvme_sqe c;

    side_start(&s, M_SHADOW, NULL, NULL);
    side_connect(&s, M_SHADOW);
    ck_assert_int_eq(td_enable(d, 16), 0);
    ck_assert_int_eq(td_create_io_queue(d, 1, 16), 0);
    ck_assert_int_eq(td_enable_shadow(d), 0);
    ck_assert_int_eq(mt_feature_try(s.cl, 8 + sizeof(ctl),
                                    MT_SET | VFIO_USER_DEVICE_FEATURE_DMA_LOGGING_START,
                                    &ctl, sizeof(ctl), &r), 0);
    pt_reply_clear(&r);
    ck_assert(!page_dirty(s.cl, d->q[1].cq_iova));
    ck_assert(!page_dirty(s.cl, d->eis_iova));
    c = cmd(NVME_CMD_FLUSH);
    c.nsid = 1;
    ck_assert_int_eq(td_cmd(d, 1, &c, NULL), 0);
    ck_assert_msg(page_dirty(s.cl, d->q[1].cq_iova), "CQ page not logged");
    ck_assert_msg(page_dirty(s.cl, d->eis_iova), "EventIdx page not logged");
    side_finish(&s);
}
END_TEST

#ifdef HAVE_LIBNBD
/* Two daemons ("two hosts") whose namespace 1 is the same NBD export
 * (nbdkit's file plugin, every write held 200 ms by the delay filter):
 * eight writes are in the server when the source stops; stopping waits
 * for them and flushes, the stream carries the controller, not the
 * data, and the destination connects to the export itself: the guest's
 * completions and data are all there, read through the destination. */
START_TEST(test_migrate_nbd)
{
    enum { SYNC = 16, ASYNC = 8 };
    static char file[200], file_arg[220];
    const char *args[] = { "--filter=delay", "file", file_arg,
                           "delay-write=200ms", NULL };
    struct nbd_server srv;
    struct side src, dst;
    struct tdrv *d;
    struct nvme_cqe e;
    struct figures f;
    uint64_t buf[SYNC + ASYNC];
    g_autofree char *keys = NULL;
    FILE *fp;

    if (!ns_have("nbdkit")) {
        fprintf(stderr, "SKIP test_migrate_nbd: no nbdkit\n");
        return;
    }
    ck_assert_int_eq(ns_init(&srv), 0);
    snprintf(file, sizeof(file), "%s/disk.raw", srv.dir);
    snprintf(file_arg, sizeof(file_arg), "file=%s", file);
    fp = fopen(file, "w");
    ck_assert_ptr_nonnull(fp);
    ck_assert_int_eq(ftruncate(fileno(fp), (off_t)NS_SIZE), 0);
    fclose(fp);
    ck_assert_int_eq(ns_start(&srv, "nbdkit", args), 0);
    keys = g_strdup_printf("namespace.1.uri = %s\n", srv.uri);

    side_start(&src, M_SHADOW, NULL, keys);
    side_connect(&src, M_SHADOW);
    d = &src.d;
    ck_assert_int_eq(td_enable(d, 32), 0);
    ck_assert_int_eq(td_create_io_queue(d, 1, 64), 0);
    ck_assert_int_eq(td_enable_shadow(d), 0);
    for (unsigned i = 0; i < SYNC + ASYNC; i++) {
        buf[i] = td_alloc(d, 4096, 4096);
        fill(d, buf[i], 4096, 700 + i);
    }
    for (unsigned i = 0; i < SYNC; i++) {
        ck_assert_int_eq(td_rw(d, 1, NVME_CMD_WRITE, 8 * i, 8, buf[i], 0), 0);
    }
    for (unsigned i = SYNC; i < SYNC + ASYNC; i++) {
        struct nvme_sqe c = rw(NVME_CMD_WRITE, 8 * i, 8, buf[i]);

        td_queue_cmd(d, 1, &c);
    }
    td_ring(d, 1);
    side_start(&dst, M_SHADOW, NULL, keys);
    side_connect(&dst, M_SHADOW);
    f = migrate(&src, &dst);
    report_stop(&src);
    /* far less than the 96 KiB the guest wrote: no data blocks */
    ck_assert_uint_lt(f.bytes, 16384);
    printf("nbd: stream %zu bytes, stopped %.1f ms\n", f.bytes, f.stopped_ms);

    d = &dst.d;
    for (unsigned i = 0; i < ASYNC; i++) {
        ck_assert_int_eq(td_wait(d, 1, &e), 0);
        ck_assert_int_eq(td_status(&e), 0);
    }
    for (unsigned i = 0; i < SYNC + ASYNC; i++) {
        memset(td_ptr(d, buf[i]), 0, 4096);
        ck_assert_int_eq(td_rw(d, 1, NVME_CMD_READ, 8 * i, 8, buf[i], 0), 0);
        ck_assert_msg(same(d, buf[i], 4096, 700 + i), "block %u", i);
    }
    /* and the server has them (the file behind it) */
    fp = fopen(file, "r");
    ck_assert_ptr_nonnull(fp);
    for (unsigned i = 0; i < SYNC + ASYNC; i++) {
        uint8_t b[4096];

        ck_assert_int_eq(pread(fileno(fp), b, 4096, (off_t)i * 4096), 4096);
        ck_assert_int_eq(memcmp(b, td_ptr(d, buf[i]), 4096), 0);
    }
    fclose(fp);
    side_finish(&dst);
    side_finish(&src);
    ns_cleanup(&srv);
}
END_TEST
#endif

#ifdef HAVE_LIBRBD
/* Who holds the exclusive lock of rbd/mig (librbd's owner string, "" for
 * no one); the image has the feature (rbd_create's default features). */
static void rbd_lock_owner(const char *conf, char *out, size_t len)
{
    rados_t cl;
    rados_ioctx_t io;
    rbd_image_t img;
    rbd_lock_mode_t mode;
    char *owners[4];
    size_t n = 4;
    uint64_t features;
    int r;

    ck_assert_int_eq(rados_create(&cl, NULL), 0);
    ck_assert_int_eq(rados_conf_read_file(cl, conf), 0);
    ck_assert_int_eq(rados_connect(cl), 0);
    ck_assert_int_eq(rados_ioctx_create(cl, "rbd", &io), 0);
    /* read-write (librbd answers EINVAL on a read-only handle); opening
     * takes no lock, only a write would */
    ck_assert_int_eq(rbd_open(io, "mig", &img, NULL), 0);
    ck_assert_int_eq(rbd_get_features(img, &features), 0);
    ck_assert(features & RBD_FEATURE_EXCLUSIVE_LOCK);
    r = rbd_lock_get_owners(img, &mode, owners, &n);
    out[0] = '\0';
    if (r == 0) {
        ck_assert_uint_le(n, 1);
        if (n == 1) {
            ck_assert_int_eq(mode, RBD_LOCK_MODE_EXCLUSIVE);
            snprintf(out, len, "%s", owners[0]);
        }
        rbd_lock_get_owners_cleanup(owners, n);
    } else {
        ck_assert_int_eq(r, -ENOENT);
    }
    rbd_close(img);
    rados_ioctx_destroy(io);
    rados_shutdown(cl);
}

/* Two daemons ("two hosts") whose namespace 1 is the same RBD image of a
 * one-node Ceph cluster the test starts: the source writes (and holds the
 * image's exclusive lock), eight writes are queued when it stops; the
 * stream carries no data blocks; the destination reads every block, and
 * its own writes take the lock from the source, which is still running
 * with the image open.  The cluster has it all, read with librbd. */
START_TEST(test_migrate_rbd)
{
    enum { SYNC = 16, ASYNC = 8 };
    g_autofree char *dir = g_strdup_printf("/tmp/vfu-cephmig.%d", (int)getpid());
    g_autofree char *conf = g_build_filename(dir, "ceph.conf", NULL);
    g_autofree char *start = g_strdup_printf("%s start %s rbd mig 64 >&2",
                                             CEPH_CLUSTER, dir);
    g_autofree char *destroy = g_strdup_printf("%s destroy %s >&2",
                                               CEPH_CLUSTER, dir);
    g_autofree char *keys = NULL;
    struct side src, dst;
    struct tdrv *d;
    struct nvme_cqe e;
    struct figures f;
    uint64_t buf[SYNC + ASYNC + 1];
    char src_owner[256], dst_owner[256];
    int r;

    r = system(start);
    if (WIFEXITED(r) && WEXITSTATUS(r) == 77) {
        fprintf(stderr, "SKIP test_migrate_rbd: no Ceph (ceph-mon ceph-osd "
                "ceph-common)\n");
        (void)system(destroy);
        return;
    }
    ck_assert_msg(WIFEXITED(r) && WEXITSTATUS(r) == 0, "the Ceph cluster did "
                  "not start");
    keys = g_strdup_printf("namespace.1.uri = rbd:rbd/mig\n"
                           "namespace.1.rbd-conf = %s\n", conf);

    side_start(&src, M_SHADOW, NULL, keys);
    side_connect(&src, M_SHADOW);
    d = &src.d;
    ck_assert_int_eq(td_enable(d, 32), 0);
    ck_assert_int_eq(td_create_io_queue(d, 1, 64), 0);
    ck_assert_int_eq(td_enable_shadow(d), 0);
    /* The image grows and the host has not read about it yet: notices on,
     * no event request out; the source lists namespace 1 in log page 04h
     * (read here with RAE, which leaves the list and the notice as they
     * are).  State version 3 carries the list. */
    set_feature(d, NVME_FEAT_ASYNC_EVENT, NVME_OAES_NS_ATTR);
    {
        rados_t cl;
        rados_ioctx_t io;
        rbd_image_t img;

        ck_assert_int_eq(rados_create(&cl, NULL), 0);
        ck_assert_int_eq(rados_conf_read_file(cl, conf), 0);
        ck_assert_int_eq(rados_connect(cl), 0);
        ck_assert_int_eq(rados_ioctx_create(cl, "rbd", &io), 0);
        ck_assert_int_eq(rbd_open(io, "mig", &img, NULL), 0);
        ck_assert_int_eq(rbd_resize(img, 128ull << 20), 0);
        rbd_close(img);
        rados_ioctx_destroy(io);
        rados_shutdown(cl);
    }
    for (int i = 0; i < 100 && le32(get_log_rae(d, NVME_LOG_CHANGED_NS, 8)) != 1;
         i++) {
        usleep(100000);
    }
    ck_assert_uint_eq(le32(get_log_rae(d, NVME_LOG_CHANGED_NS, 8)), 1);
    for (unsigned i = 0; i < SYNC + ASYNC + 1; i++) {
        buf[i] = td_alloc(d, 4096, 4096);
        fill(d, buf[i], 4096, 900 + i);
    }
    for (unsigned i = 0; i < SYNC; i++) {
        ck_assert_int_eq(td_rw(d, 1, NVME_CMD_WRITE, 8 * i, 8, buf[i], 0), 0);
    }
    for (unsigned i = SYNC; i < SYNC + ASYNC; i++) {
        struct nvme_sqe c = rw(NVME_CMD_WRITE, 8 * i, 8, buf[i]);

        td_queue_cmd(d, 1, &c);
    }
    td_ring(d, 1);
    rbd_lock_owner(conf, src_owner, sizeof(src_owner));
    ck_assert_str_ne(src_owner, ""); /* the source's writes took the lock */
    side_start(&dst, M_SHADOW, NULL, keys);
    side_connect(&dst, M_SHADOW);
    f = migrate(&src, &dst);
    report_stop(&src);
    ck_assert_uint_lt(f.bytes, 16384); /* no data blocks */
    printf("rbd: stream %zu bytes, stopped %.1f ms\n", f.bytes, f.stopped_ms);

    d = &dst.d;
    for (unsigned i = 0; i < ASYNC; i++) {
        ck_assert_int_eq(td_wait(d, 1, &e), 0);
        ck_assert_int_eq(td_status(&e), 0);
    }
    /* The notice and the list it points to came along: an event request
     * gets the notice at once, the list names namespace 1, and is empty
     * once read. */
    {
        struct nvme_sqe c = cmd(NVME_ADM_ASYNC_EVENT);
        uint16_t aer = td_submit(d, 0, &c);
        const uint8_t *p;

        ck_assert_int_eq(td_wait(d, 0, &e), 0);
        ck_assert_uint_eq(e.cid, aer);
        ck_assert_uint_eq(e.dw0 & 0xffffff, NVME_AER_TYPE_NOTICE |
                          NVME_AER_NOTICE_NS_ATTR << 8 | NVME_LOG_CHANGED_NS << 16);
        p = get_log(d, NVME_LOG_CHANGED_NS, 8);
        ck_assert_uint_eq(le32(p), 1);
        ck_assert_uint_eq(le32(p + 4), 0);
        ck_assert_uint_eq(le32(get_log(d, NVME_LOG_CHANGED_NS, 8)), 0);
    }
    for (unsigned i = 0; i < SYNC + ASYNC; i++) {
        memset(td_ptr(d, buf[i]), 0, 4096);
        ck_assert_int_eq(td_rw(d, 1, NVME_CMD_READ, 8 * i, 8, buf[i], 0), 0);
        ck_assert_msg(same(d, buf[i], 4096, 900 + i), "block %u", i);
    }
    /* the destination writes: librbd moves the lock to it */
    ck_assert_int_eq(td_rw(d, 1, NVME_CMD_WRITE, 8 * (SYNC + ASYNC), 8,
                           buf[SYNC + ASYNC], NVME_RW_FUA), 0);
    rbd_lock_owner(conf, dst_owner, sizeof(dst_owner));
    ck_assert_str_ne(dst_owner, "");
    ck_assert_str_ne(dst_owner, src_owner);
    printf("rbd: exclusive lock moved from %s to %s\n", src_owner, dst_owner);
    {
        rados_t cl;
        rados_ioctx_t io;
        rbd_image_t img;
        uint8_t b[4096];

        ck_assert_int_eq(rados_create(&cl, NULL), 0);
        ck_assert_int_eq(rados_conf_read_file(cl, conf), 0);
        ck_assert_int_eq(rados_connect(cl), 0);
        ck_assert_int_eq(rados_ioctx_create(cl, "rbd", &io), 0);
        ck_assert_int_eq(rbd_open_read_only(io, "mig", &img, NULL), 0);
        for (unsigned i = 0; i < SYNC + ASYNC + 1; i++) {
            ck_assert_int_eq(rbd_read(img, (uint64_t)i * 4096, 4096, (char *)b),
                             4096);
            ck_assert_msg(memcmp(b, td_ptr(d, buf[i]), 4096) == 0, "block %u", i);
        }
        rbd_close(img);
        rados_ioctx_destroy(io);
        rados_shutdown(cl);
    }
    side_finish(&dst);
    side_finish(&src);
    (void)system(destroy);
}
END_TEST
#endif

static Suite *suite(void)
{
    Suite *s = suite_create("nvme_migrate");
    TCase *tc = pt_tcase("migrate");

    /* test_other_configuration starts seven daemons: under ASan on a
     * loaded machine that passed pt_tcase's 30 s (a CI run at load 13). */
    tcase_set_timeout(tc, 120);
    tcase_add_checked_fixture(tc, setup, teardown);
    /* loops: shadow doorbells, poll doorbells, message-only memory */
    tcase_add_loop_test(tc, test_migrate_in_flight, 0, M_MODES);
    tcase_add_loop_test(tc, test_stop_and_resume, 0, M_MODES);
    tcase_add_test(tc, test_format_travels);
    tcase_add_test(tc, test_queue_writes_logged);
    tcase_add_test(tc, test_bad_streams);
    tcase_add_test(tc, test_other_configuration);
#ifdef HAVE_LIBNBD
    tcase_add_test(tc, test_migrate_nbd);
#endif
    suite_add_tcase(s, tc);
#ifdef HAVE_LIBRBD
    /* starting the cluster takes 10-30 s */
    tc = pt_tcase("migrate_rbd");
    tcase_set_timeout(tc, 180);
    tcase_add_test(tc, test_migrate_rbd);
    suite_add_tcase(s, tc);
#endif
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
