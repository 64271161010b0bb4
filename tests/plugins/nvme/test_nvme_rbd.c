/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * NVMe plugin, Ceph RBD back-end (namespace.N.uri = rbd:POOL/IMAGE),
 * against a real single-node Ceph cluster the test starts once with
 * tests/plugins/nvme/ceph-cluster (about 10-30 s) and removes at the end.  What
 * the guest writes is checked on the cluster's side, through an image
 * handle of the test's own.  A snapshot and read-only=true give read-only
 * namespaces; bad configurations are refused; the cluster stopped: I/O
 * fails with Namespace Not Ready after reconnect-timeout, the controller
 * stays up, and I/O works again once the cluster is restarted.
 */
#include "config.h"

#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <rbd/librbd.h>

#include "nvme_tdrv_fake.h"

#define IMG_SIZE (64ull << 20)

static struct tdrv D;
static char dir[64];       /* the cluster's directory */
static char conf[128];     /* its ceph.conf */
static char uri[200];      /* of the test's image */
static unsigned img_seq;

static int cluster(const char *cmd)
{
    char line[512];

    snprintf(line, sizeof(line), "%s %s %s >&2", CEPH_CLUSTER, cmd, dir);
    return system(line);
}

/* ---- the test's own view of the cluster ---- */

struct view {
    rados_t cl;
    rados_ioctx_t io;
};

static void view_open(struct view *v)
{
    ck_assert_int_eq(rados_create(&v->cl, NULL), 0);
    ck_assert_int_eq(rados_conf_read_file(v->cl, conf), 0);
    ck_assert_int_eq(rados_connect(v->cl), 0);
    ck_assert_int_eq(rados_ioctx_create(v->cl, "rbd", &v->io), 0);
}

static void view_close(struct view *v)
{
    rados_ioctx_destroy(v->io);
    rados_shutdown(v->cl);
}

/* A fresh image of IMG_SIZE for this test; uri names it. */
static void new_image(void)
{
    struct view v;
    char name[32];
    int order = 0;

    snprintf(name, sizeof(name), "img%u-%d", img_seq++, (int)getpid());
    view_open(&v);
    ck_assert_int_eq(rbd_create(v.io, name, IMG_SIZE, &order), 0);
    view_close(&v);
    snprintf(uri, sizeof(uri), "rbd:rbd/%s", name);
}

/* What the image holds at off. */
static void check_image(uint64_t off, const void *expect, size_t len)
{
    struct view v;
    rbd_image_t img;
    uint8_t *buf = malloc(len);

    view_open(&v);
    ck_assert_int_eq(rbd_open_read_only(v.io, uri + 8, &img, NULL), 0);
    ck_assert_int_eq(rbd_read(img, off, len, (char *)buf), (ssize_t)len);
    ck_assert_msg(memcmp(buf, expect, len) == 0, "the image differs at "
                  "%llu (%zu bytes)", (unsigned long long)off, len);
    rbd_close(img);
    view_close(&v);
    free(buf);
}

/* ---- the controller ---- */

static void up_with(const char *const *extra)
{
    const char *kv[20] = { "namespace.1.uri", uri, "namespace.1.rbd-conf", conf };
    unsigned n = 4;

    for (; extra && *extra; extra++) {
        kv[n++] = *extra;
    }
    kv[n] = NULL;
    ck_assert_int_eq(td_open(&D, 0, false, kv), 0);
    D.timeout_ms = 30000;
    ck_assert_int_eq(td_enable(&D, 32), 0);
    ck_assert_int_eq(td_create_io_queue(&D, 1, 64), 0);
}

static void fill(uint64_t iova, size_t len, unsigned seed)
{
    uint8_t *p = td_ptr(&D, iova);

    for (size_t i = 0; i < len; i++) {
        p[i] = (uint8_t)(seed * 131 + i * 7 + (i >> 9));
    }
}

static struct nvme_sqe cmd(uint8_t opc, uint64_t slba, uint32_t nlb)
{
    struct nvme_sqe c;

    memset(&c, 0, sizeof(c));
    c.opcode = opc;
    c.nsid = 1;
    c.cdw10 = (uint32_t)slba;
    c.cdw11 = (uint32_t)(slba >> 32);
    c.cdw12 = nlb - 1;
    return c;
}

static uint64_t identify_nsze(void)
{
    uint64_t buf = td_alloc(&D, 4096, 4096), v;
    struct nvme_sqe c;

    memset(&c, 0, sizeof(c));
    c.opcode = NVME_ADM_IDENTIFY;
    c.nsid = 1;
    c.dptr1 = buf;
    ck_assert_int_eq(td_cmd(&D, 0, &c, NULL), 0);
    memcpy(&v, td_ptr(&D, buf + NVME_IDNS_NSZE), 8);
    return v;
}

/* librbd's cache holds writes until a flush (or FUA): then the cluster
 * has them. */
static void flush(void)
{
    struct nvme_sqe c = cmd(NVME_CMD_FLUSH, 0, 1);

    c.cdw12 = 0;
    ck_assert_int_eq(td_cmd(&D, 1, &c, NULL), 0);
}

static void roundtrip(uint64_t src, uint64_t dst, uint64_t slba, uint32_t nlb)
{
    size_t len = (size_t)nlb * 512;

    fill(src, len, (unsigned)slba);
    memset(td_ptr(&D, dst), 0, len);
    ck_assert_int_eq(td_rw(&D, 1, NVME_CMD_WRITE, slba, nlb, src, 0), 0);
    ck_assert_int_eq(td_rw(&D, 1, NVME_CMD_READ, slba, nlb, dst, 0), 0);
    ck_assert_int_eq(memcmp(td_ptr(&D, src), td_ptr(&D, dst), len), 0);
    flush();
    check_image(slba * 512, td_ptr(&D, src), len);
}

/* ---- tests ---- */

/* Reads and writes (PRP lists, unaligned guest buffers, MDTS), FUA, Flush,
 * Compare, the end of the image; Write Zeroes with and without DEAC and
 * Deallocate on ranges that do not cover whole 4 MiB objects read back as
 * zeroes with the data around them intact; Format NVM erases the image. */
START_TEST(test_io)
{
    static const uint8_t zero[65536];
    uint64_t a, b, r;
    struct nvme_dsm_range *rg;
    struct nvme_sqe c;

    new_image();
    up_with(NULL);
    ck_assert_uint_eq(identify_nsze(), IMG_SIZE / 512);
    a = td_alloc(&D, 1 << 20, 4096);
    b = td_alloc(&D, 1 << 20, 4096);
    roundtrip(a, b, 0, 1);
    roundtrip(a + 512, b + 1024, 7, 9);
    roundtrip(a, b, 1000, 128);
    roundtrip(a + 512, b + 1536, 8190, 256); /* across two objects */
    fill(a, 4096, 3);
    ck_assert_int_eq(td_rw(&D, 1, NVME_CMD_WRITE, 8, 8, a, NVME_RW_FUA), 0);
    check_image(8 * 512, td_ptr(&D, a), 4096);
    c = cmd(NVME_CMD_FLUSH, 0, 1);
    c.cdw12 = 0;
    ck_assert_int_eq(td_cmd(&D, 1, &c, NULL), 0);
    c.nsid = NVME_NSID_ALL;
    ck_assert_int_eq(td_cmd(&D, 1, &c, NULL), 0);
    ck_assert_int_eq(td_rw(&D, 1, NVME_CMD_COMPARE, 8, 8, a, 0), 0);
    ((uint8_t *)td_ptr(&D, a))[100] ^= 1;
    ck_assert_int_eq(td_rw(&D, 1, NVME_CMD_COMPARE, 8, 8, a, 0),
                     NVME_SC_COMPARE_FAILED);
    ck_assert_int_eq(td_rw(&D, 1, NVME_CMD_READ, IMG_SIZE / 512 - 1, 1, b, 0), 0);
    ck_assert_int_eq(td_rw(&D, 1, NVME_CMD_READ, IMG_SIZE / 512, 1, b, 0),
                     NVME_SC_LBA_RANGE);

    /* 1 MiB of data at LBA 0, then zeroing inside it */
    fill(a, 1 << 20, 9);
    for (int i = 0; i < 8; i++) {
        ck_assert_int_eq(td_rw(&D, 1, NVME_CMD_WRITE, 256 * (uint64_t)i, 256,
                               a + (uint64_t)i * 131072, 0), 0);
    }
    c = cmd(NVME_CMD_WRITE_ZEROES, 16, 16);
    ck_assert_int_eq(td_cmd(&D, 1, &c, NULL), 0);
    c = cmd(NVME_CMD_WRITE_ZEROES, 256, 256);
    c.cdw12 |= NVME_WZ_DEAC | NVME_RW_FUA;
    ck_assert_int_eq(td_cmd(&D, 1, &c, NULL), 0);
    r = td_alloc(&D, 4096, 4096);
    rg = td_ptr(&D, r);
    rg[0].slba = 1024;
    rg[0].nlb = 128;
    rg[1].slba = 1500;
    rg[1].nlb = 3; /* 1.5 KiB: far below any discard granularity */
    c = cmd(NVME_CMD_DSM, 0, 1);
    c.cdw10 = 1;
    c.cdw11 = NVME_DSM_AD;
    c.cdw12 = 0;
    c.dptr1 = r;
    ck_assert_int_eq(td_cmd(&D, 1, &c, NULL), 0);
    ck_assert_int_eq(td_rw(&D, 1, NVME_CMD_READ, 0, 64, b, 0), 0);
    ck_assert_int_eq(memcmp(td_ptr(&D, b), td_ptr(&D, a), 16 * 512), 0);
    ck_assert_int_eq(memcmp(td_ptr(&D, b + 16 * 512), zero, 16 * 512), 0);
    ck_assert_int_eq(memcmp(td_ptr(&D, b + 32 * 512), td_ptr(&D, a + 32 * 512),
                            32 * 512), 0);
    ck_assert_int_eq(td_rw(&D, 1, NVME_CMD_READ, 256, 256, b, 0), 0);
    ck_assert_int_eq(memcmp(td_ptr(&D, b), zero, 65536), 0);
    ck_assert_int_eq(memcmp(td_ptr(&D, b + 65536), zero, 65536), 0);
    ck_assert_int_eq(td_rw(&D, 1, NVME_CMD_READ, 1024, 256, b, 0), 0);
    ck_assert_int_eq(memcmp(td_ptr(&D, b), zero, 65536), 0);
    ck_assert_int_eq(memcmp(td_ptr(&D, b + 65536), td_ptr(&D, a + 1152 * 512),
                            65536), 0);
    ck_assert_int_eq(td_rw(&D, 1, NVME_CMD_READ, 1496, 16, b, 0), 0);
    ck_assert_int_eq(memcmp(td_ptr(&D, b), td_ptr(&D, a + 1496 * 512), 4 * 512), 0);
    ck_assert_int_eq(memcmp(td_ptr(&D, b + 4 * 512), zero, 3 * 512), 0);
    ck_assert_int_eq(memcmp(td_ptr(&D, b + 7 * 512), td_ptr(&D, a + 1503 * 512),
                            9 * 512), 0);
    flush();
    check_image(256 * 512, zero, 65536);
    check_image(1500 * 512, zero, 3 * 512);
    check_image(1503 * 512, td_ptr(&D, a + 1503 * 512), 512);

    /* Format NVM with user data erase: the image reads back as zeroes */
    fill(a, 4096, 11);
    ck_assert_int_eq(td_rw(&D, 1, NVME_CMD_WRITE, 100000, 8, a, 0), 0);
    memset(&c, 0, sizeof(c));
    c.opcode = NVME_ADM_FORMAT_NVM;
    c.nsid = 1;
    c.cdw10 = 1u << 9; /* LBAF 0, SES 1 */
    ck_assert_int_eq(td_cmd(&D, 0, &c, NULL), 0);
    check_image(100000 * 512, zero, 4096);
    ck_assert_uint_eq(fake_read32(D.dev, 0, NVME_REG_CSTS) & NVME_CSTS_CFS, 0);
    td_close(&D);
}
END_TEST

/* A snapshot is a read-only namespace holding the data of its time; so is
 * the image itself with read-only=true. */
START_TEST(test_read_only)
{
    const char *const ro[] = { "namespace.1.read-only", "true", NULL };
    char base[sizeof(uri)];
    uint8_t data[8192];
    uint64_t a, b;

    new_image();
    up_with(NULL);
    a = td_alloc(&D, 65536, 4096);
    b = td_alloc(&D, 65536, 4096);
    fill(a, 8192, 21);
    memcpy(data, td_ptr(&D, a), sizeof(data));
    ck_assert_int_eq(td_rw(&D, 1, NVME_CMD_WRITE, 64, 16, a, 0), 0);
    td_close(&D); /* flushes */
    check_image(64 * 512, data, sizeof(data));
    {
        static const char zero[512];
        struct view v;
        rbd_image_t img;

        view_open(&v);
        ck_assert_int_eq(rbd_open(v.io, uri + 8, &img, NULL), 0);
        ck_assert_int_eq(rbd_snap_create(img, "s1"), 0);
        ck_assert_int_eq(rbd_write(img, 64 * 512, 512, zero), 512);
        rbd_close(img);
        view_close(&v);
    }
    snprintf(base, sizeof(base), "%s", uri);
    ck_assert_int_lt(snprintf(uri, sizeof(uri), "%.150s@s1", base), (int)sizeof(uri));
    up_with(NULL); /* (a new device: a new guest memory) */
    b = td_alloc(&D, 65536, 4096);
    ck_assert_int_eq(td_rw(&D, 1, NVME_CMD_READ, 64, 16, b, 0), 0);
    ck_assert_int_eq(memcmp(data, td_ptr(&D, b), 8192), 0);
    ck_assert_int_eq(td_rw(&D, 1, NVME_CMD_WRITE, 64, 16, b, 0),
                     NVME_SC_NS_WRITE_PROTECTED);
    td_close(&D);

    snprintf(uri, sizeof(uri), "%s", base);
    up_with(ro);
    b = td_alloc(&D, 65536, 4096);
    ck_assert_int_eq(td_rw(&D, 1, NVME_CMD_READ, 64, 16, b, 0), 0);
    ck_assert_int_eq(((uint8_t *)td_ptr(&D, b))[0], 0); /* written after s1 */
    ck_assert_int_eq(memcmp(data + 512, td_ptr(&D, b + 512), 7680), 0);
    ck_assert_int_eq(td_rw(&D, 1, NVME_CMD_WRITE, 64, 16, b, 0),
                     NVME_SC_NS_WRITE_PROTECTED);
    td_close(&D);
}
END_TEST

static void refused(const char *const *kv, const char *why)
{
    ck_assert_int_lt(td_open(&D, 0, false, kv), 0);
    ck_assert_msg(strstr(fake_dev_last_error(D.dev), "namespace 1") &&
                  strstr(fake_dev_last_error(D.dev), why),
                  "'%s' does not say '%s'", fake_dev_last_error(D.dev), why);
    td_close(&D);
}

/* Bad configurations say why and fail realize. */
START_TEST(test_bad_config)
{
    char nosnap[sizeof(uri) + 8];

    new_image();
    snprintf(nosnap, sizeof(nosnap), "%s@nope", uri);
    {
        const char *const kv[] = { "namespace.1.uri", "rbd:rbd", NULL };
        refused(kv, "is not rbd:POOL");
    }
    {
        const char *const kv[] = { "namespace.1.uri", "rbd:rbd/", NULL };
        refused(kv, "is not rbd:POOL");
    }
    {
        const char *const kv[] = { "namespace.1.uri", "rbd:rbd/x@", NULL };
        refused(kv, "is not rbd:POOL");
    }
    {
        const char *const kv[] = { "namespace.1.uri", uri,
                                   "namespace.1.rbd-conf", "/nonexistent/ceph.conf",
                                   NULL };
        refused(kv, "/nonexistent/ceph.conf");
    }
    {
        const char *const kv[] = { "namespace.1.uri", "rbd:nopool/x",
                                   "namespace.1.rbd-conf", conf, NULL };
        refused(kv, "pool nopool");
    }
    {
        const char *const kv[] = { "namespace.1.uri", "rbd:rbd/noimage",
                                   "namespace.1.rbd-conf", conf, NULL };
        refused(kv, "image noimage");
    }
    {
        const char *const kv[] = { "namespace.1.uri", nosnap,
                                   "namespace.1.rbd-conf", conf, NULL };
        refused(kv, "@nope");
    }
    {
        const char *const kv[] = { "namespace.1.uri", uri,
                                   "namespace.1.rbd-conf", conf,
                                   "namespace.1.size", "1G", NULL };
        refused(kv, "larger");
    }
    {
        const char *const kv[] = { "namespace.1.uri", uri,
                                   "namespace.1.rbd-conf", conf,
                                   "namespace.1.path", "/tmp/x", NULL };
        refused(kv, "exclusive");
    }
    {
        /* cephx: a client with no key in the keyring */
        const char *const kv[] = { "namespace.1.uri", uri,
                                   "namespace.1.rbd-conf", conf,
                                   "namespace.1.rbd-id", "nobody",
                                   "namespace.1.reconnect-timeout", "3", NULL };
        refused(kv, "cannot connect to the Ceph cluster");
    }
}
END_TEST

/* cephx as in production: client.vfud, whose key (rbd-keyring) allows RBD
 * on the pool rbd only, serves the image. */
START_TEST(test_cephx_client)
{
    char keyring[160];
    const char *extra[5] = { "namespace.1.rbd-id", "vfud",
                             "namespace.1.rbd-keyring", keyring, NULL };
    uint64_t a, b;

    snprintf(keyring, sizeof(keyring), "%s/client.vfud.keyring", dir);
    new_image();
    up_with(extra);
    a = td_alloc(&D, 8192, 4096);
    b = td_alloc(&D, 8192, 4096);
    roundtrip(a, b, 32, 16);
    td_close(&D);
}
END_TEST

/* The client instance (its global id) that watches the image of u: the
 * librados handle that opened it, seen from the cluster's side. */
static int64_t watcher_of(const char *u)
{
    struct view v;
    rbd_image_t img;
    rbd_image_watcher_t w[4];
    size_t n = 4;
    int64_t id;

    view_open(&v);
    ck_assert_int_eq(rbd_open_read_only(v.io, u + 8, &img, NULL), 0);
    ck_assert_int_eq(rbd_watchers_list(img, w, &n), 0);
    ck_assert_uint_eq(n, 1); /* a read-only open does not watch */
    id = w[0].id;
    rbd_watchers_list_cleanup(w, n);
    rbd_close(img);
    view_close(&v);
    return id;
}

/* The namespaces of every device of the process share one cluster
 * connection when their settings are the same, and only then: two
 * namespaces of one controller and one of another controller are watched
 * by one client; a namespace as another client (client.vfud), or with
 * another reconnect-timeout, has its own.  The handle outlives the
 * controller that made it while another uses it. */
START_TEST(test_shared_connection)
{
    char u[5][200], keyring[160];
    const char *kv[] = { "namespace.1.uri", u[0], "namespace.1.rbd-conf", conf,
                         "namespace.2.uri", u[1], "namespace.2.rbd-conf", conf,
                         "namespace.3.uri", u[2], "namespace.3.rbd-conf", conf,
                         "namespace.3.rbd-id", "vfud",
                         "namespace.3.rbd-keyring", keyring,
                         "namespace.4.uri", u[3], "namespace.4.rbd-conf", conf,
                         "namespace.4.reconnect-timeout", "7", NULL };
    const char *kv2[] = { "namespace.1.uri", u[4], "namespace.1.rbd-conf", conf,
                          NULL };
    struct tdrv E;
    int64_t id;
    uint64_t a, b;

    snprintf(keyring, sizeof(keyring), "%s/client.vfud.keyring", dir);
    for (int i = 0; i < 5; i++) {
        new_image();
        snprintf(u[i], sizeof(u[i]), "%s", uri);
    }
    ck_assert_int_eq(td_open(&E, 0, false, kv2), 0);
    ck_assert_int_eq(td_enable(&E, 32), 0);
    ck_assert_int_eq(td_open(&D, 0, false, kv), 0);
    D.timeout_ms = 30000;
    ck_assert_int_eq(td_enable(&D, 32), 0);
    ck_assert_int_eq(td_create_io_queue(&D, 1, 64), 0);
    id = watcher_of(u[4]);
    ck_assert_int_eq(watcher_of(u[0]), id);
    ck_assert_int_eq(watcher_of(u[1]), id);
    ck_assert_int_ne(watcher_of(u[2]), id);
    ck_assert_int_ne(watcher_of(u[3]), id);
    ck_assert_int_ne(watcher_of(u[3]), watcher_of(u[2]));
    td_close(&E); /* made the shared handle; D's namespaces keep it */
    snprintf(uri, sizeof(uri), "%s", u[0]);
    a = td_alloc(&D, 8192, 4096);
    b = td_alloc(&D, 8192, 4096);
    roundtrip(a, b, 64, 16);
    ck_assert_int_eq(watcher_of(u[0]), id);
    td_close(&D);
}
END_TEST

/* A guest's QD32 through shadow doorbells: 32 commands out at all times,
 * each new one queued as soon as one completes.  With 16 or more out the
 * I/O thread waits for librbd's completions (handed over from librbd's
 * threads) with EventIdx withheld instead of asking for doorbells, and
 * fetches new commands when one comes: none may be left in the queue, and
 * every write must reach the image in its place. */
START_TEST(test_deep_queue)
{
    enum { QD = 32, CMDS = 1024, BLK = 4096 };
    uint64_t bufs, expect_iova;
    uint16_t slot_of[65536];
    unsigned sent = 0, done = 0, out = 0, free_slots[QD], nfree = QD;

    new_image();
    up_with(NULL);
    ck_assert_int_eq(td_enable_shadow(&D), 0);
    bufs = td_alloc(&D, QD * BLK, 4096);
    expect_iova = td_alloc(&D, CMDS * BLK, 4096);
    for (unsigned i = 0; i < QD; i++) {
        free_slots[i] = i;
    }
    D.rings = 0;
    while (done < CMDS) {
        struct nvme_cqe cqe;

        while (out < QD && sent < CMDS) {
            unsigned slot = free_slots[--nfree];
            uint64_t buf = bufs + (uint64_t)slot * BLK;
            struct nvme_sqe c = cmd(NVME_CMD_WRITE, (uint64_t)sent * 8, 8);
            uint16_t cid;

            fill(buf, BLK, sent);
            memcpy(td_ptr(&D, expect_iova + (uint64_t)sent * BLK),
                   td_ptr(&D, buf), BLK);
            c.dptr1 = buf;
            cid = td_queue_cmd(&D, 1, &c);
            slot_of[cid] = (uint16_t)slot;
            sent++;
            out++;
        }
        td_ring(&D, 1);
        ck_assert_int_eq(td_wait(&D, 1, &cqe), 0);
        ck_assert_int_eq(td_status(&cqe), 0);
        free_slots[nfree++] = slot_of[cqe.cid];
        out--;
        done++;
    }
    fprintf(stderr, "test_deep_queue: %u writes at QD%u, %u real doorbell "
            "writes\n", CMDS, QD, D.rings);
    flush();
    check_image(0, td_ptr(&D, expect_iova), (size_t)CMDS * BLK);
    td_close(&D);
}
END_TEST

/* The cluster stopped: after reconnect-timeout the command waiting and
 * the next ones fail with Namespace Not Ready, the controller is fine, and
 * a new controller on the image is refused after its timeout; the cluster
 * restarted: I/O works again and the data is there. */
START_TEST(test_cluster_restart)
{
    const char *const extra[] = { "namespace.1.reconnect-timeout", "3", NULL };
    uint64_t a, b;
    int st = -1;

    new_image();
    up_with(extra);
    a = td_alloc(&D, 8192, 4096);
    b = td_alloc(&D, 8192, 4096);
    fill(a, 8192, 5);
    ck_assert_int_eq(td_rw(&D, 1, NVME_CMD_WRITE, 0, 16, a, 0), 0);
    ck_assert_int_eq(cluster("stop"), 0);
    ck_assert_int_eq(td_rw(&D, 1, NVME_CMD_READ, 0, 16, b, 0),
                     NVME_SC_NS_NOT_READY);
    ck_assert_int_eq(td_rw(&D, 1, NVME_CMD_WRITE, 16, 16, a, 0),
                     NVME_SC_NS_NOT_READY);
    ck_assert_uint_eq(fake_read32(D.dev, 0, NVME_REG_CSTS) & NVME_CSTS_CFS, 0);
    {
        /* a controller configured meanwhile: refused once the timeout
         * has passed, saying why */
        const char *const kv[] = { "namespace.1.uri", uri,
                                   "namespace.1.rbd-conf", conf,
                                   "namespace.1.reconnect-timeout", "2", NULL };
        struct tdrv d2;

        ck_assert_int_lt(td_open(&d2, 0, false, kv), 0);
        ck_assert_ptr_nonnull(strstr(fake_dev_last_error(d2.dev),
                                     "cannot connect to the Ceph cluster"));
        td_close(&d2);
    }
    ck_assert_int_eq(cluster("restart"), 0);
    for (int i = 0; i < 60 && st != 0; i++) {
        memset(td_ptr(&D, b), 0, 8192);
        st = td_rw(&D, 1, NVME_CMD_READ, 0, 16, b, 0);
        if (st) {
            ck_assert_int_eq(st, NVME_SC_NS_NOT_READY);
            sleep(1);
        }
    }
    ck_assert_int_eq(st, 0);
    ck_assert_int_eq(memcmp(td_ptr(&D, a), td_ptr(&D, b), 8192), 0);
    fill(a, 8192, 6);
    ck_assert_int_eq(td_rw(&D, 1, NVME_CMD_WRITE, 16, 16, a, NVME_RW_FUA), 0);
    check_image(16 * 512, td_ptr(&D, a), 8192);
    td_close(&D);
}
END_TEST

/* The image grown by another client (here the test's own handle, as
 * "rbd resize" would): Identify Namespace gives the new size once librbd
 * has told the plugin (an update watch), and the new blocks are served;
 * a namespace with a size= of its own keeps it. */
/* The Changed Namespace List (log page 04h): its first two entries. */
static void changed_ns(uint32_t *first, uint32_t *second)
{
    uint64_t buf = td_alloc(&D, 4096, 4096);
    struct nvme_sqe c;

    memset(&c, 0, sizeof(c));
    c.opcode = NVME_ADM_GET_LOG_PAGE;
    c.nsid = NVME_NSID_ALL;
    c.dptr1 = buf;
    c.cdw10 = NVME_LOG_CHANGED_NS | (1023u << 16); /* 4 KiB, RAE 0 */
    ck_assert_int_eq(td_cmd(&D, 0, &c, NULL), 0);
    memcpy(first, td_ptr(&D, buf), 4);
    memcpy(second, td_ptr(&D, buf + 4), 4);
}

START_TEST(test_resize)
{
    char sz[32];
    const char *const fixed[] = { "namespace.1.size", sz, NULL };
    struct view v;
    rbd_image_t img;
    uint64_t a, nsze = 0;
    struct nvme_sqe c;
    struct nvme_cqe e;
    uint32_t n1, n2;
    uint16_t aer;

    new_image();
    up_with(NULL);
    /* Namespace Attribute Notices on, and an Asynchronous Event Request
     * waiting for one */
    memset(&c, 0, sizeof(c));
    c.opcode = NVME_ADM_SET_FEATURES;
    c.cdw10 = NVME_FEAT_ASYNC_EVENT;
    c.cdw11 = NVME_OAES_NS_ATTR;
    ck_assert_int_eq(td_cmd(&D, 0, &c, NULL), 0);
    changed_ns(&n1, &n2);
    ck_assert_uint_eq(n1, 0);
    memset(&c, 0, sizeof(c));
    c.opcode = NVME_ADM_ASYNC_EVENT;
    aer = td_submit(&D, 0, &c);
    a = td_alloc(&D, 4096, 4096);
    fill(a, 4096, 11);
    ck_assert_int_eq(td_rw(&D, 1, NVME_CMD_WRITE, IMG_SIZE / 512, 8, a, 0),
                     NVME_SC_LBA_RANGE);
    view_open(&v);
    ck_assert_int_eq(rbd_open(v.io, uri + 8, &img, NULL), 0);
    ck_assert_int_eq(rbd_resize(img, 2 * IMG_SIZE), 0);
    rbd_close(img);
    view_close(&v);
    /* the event: Notice, Namespace Attribute Changed, log page 04h,
     * which lists namespace 1 and is empty once read */
    ck_assert_int_eq(td_wait(&D, 0, &e), 0);
    ck_assert_uint_eq(e.cid, aer);
    ck_assert_int_eq(td_status(&e), 0);
    ck_assert_uint_eq(e.dw0 & 0xffffff, NVME_AER_TYPE_NOTICE |
                      NVME_AER_NOTICE_NS_ATTR << 8 | NVME_LOG_CHANGED_NS << 16);
    changed_ns(&n1, &n2);
    ck_assert_uint_eq(n1, 1);
    ck_assert_uint_eq(n2, 0);
    changed_ns(&n1, &n2);
    ck_assert_uint_eq(n1, 0);
    for (int i = 0; i < 100 && nsze != 2 * IMG_SIZE / 512; i++) {
        nsze = identify_nsze();
        if (nsze != 2 * IMG_SIZE / 512) {
            usleep(100000);
        }
    }
    ck_assert_uint_eq(nsze, 2 * IMG_SIZE / 512);
    ck_assert_int_eq(td_rw(&D, 1, NVME_CMD_WRITE, IMG_SIZE / 512, 8, a,
                           NVME_RW_FUA), 0);
    check_image(IMG_SIZE, td_ptr(&D, a), 4096);
    td_close(&D);

    snprintf(sz, sizeof(sz), "%llu", (unsigned long long)IMG_SIZE);
    up_with(fixed);
    ck_assert_uint_eq(identify_nsze(), IMG_SIZE / 512);
    view_open(&v);
    ck_assert_int_eq(rbd_open(v.io, uri + 8, &img, NULL), 0);
    ck_assert_int_eq(rbd_resize(img, 3 * IMG_SIZE), 0);
    rbd_close(img);
    view_close(&v);
    sleep(1);
    ck_assert_uint_eq(identify_nsze(), IMG_SIZE / 512);
    td_close(&D);
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("nvme_rbd");
    TCase *tc = tcase_create("rbd");

    tcase_set_timeout(tc, 180);
    tcase_add_test(tc, test_io);
    tcase_add_test(tc, test_deep_queue);
    tcase_add_test(tc, test_read_only);
    tcase_add_test(tc, test_bad_config);
    tcase_add_test(tc, test_cluster_restart);
    tcase_add_test(tc, test_resize);
    tcase_add_test(tc, test_cephx_client);
    tcase_add_test(tc, test_shared_connection);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr;
    int failed, r;

    if (access(td_plugin_path(), R_OK) != 0) {
        fprintf(stderr, "SKIP: plugin %s not built\n", td_plugin_path());
        return 77;
    }
    snprintf(dir, sizeof(dir), "/tmp/vfu-ceph.%d", (int)getpid());
    snprintf(conf, sizeof(conf), "%s/ceph.conf", dir);
    r = cluster("start");
    if (r == -1 || !WIFEXITED(r) || WEXITSTATUS(r) != 0) {
        int code = WIFEXITED(r) ? WEXITSTATUS(r) : 1;

        (void)cluster("destroy");
        if (code == 77) {
            fprintf(stderr, "SKIP: no Ceph (Debian packages ceph-mon "
                    "ceph-osd ceph-common)\n");
            return 77;
        }
        fprintf(stderr, "the test cluster did not start\n");
        return EXIT_FAILURE;
    }
    sr = srunner_create(suite());
    srunner_run_all(sr, CK_NORMAL);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    (void)cluster("destroy");
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
