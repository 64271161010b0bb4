/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * NVMe plugin, NBD back-end (namespace.N.uri), against real NBD servers
 * the tests start: nbdkit's memory and file plugins (with filters that
 * take away zeroing or multi-conn, or log the connections), and qemu-nbd
 * serving a qcow2 image; Format NVM erasing the export.  What the guest
 * writes is checked on the server's side (the file, or a connection of the
 * test's own).  The
 * server killed with SIGKILL while writes are in flight and restarted:
 * every write completes and reads back.  The server gone for good: I/O
 * fails with Namespace Not Ready after reconnect-timeout, and works again
 * once the server is back.
 */
#include "config.h"

#include <check.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include <libnbd.h>

#include "nbd_server.h"
#include "nvme_tdrv_fake.h"

#define NS_SIZE (64ull << 20)

static struct tdrv D;
static struct nbd_server S;
static char file_path[256];
static bool srv_on_tcp;    /* srv_file(): nbdkit on TCP at 127.0.0.1 */

/* ---- set-up ---- */

static void srv(const char *prog, const char *const *args)
{
    ck_assert_int_eq(ns_init(&S), 0);
    ck_assert_int_eq(ns_start(&S, prog, args), 0);
}

/* A raw file of NS_SIZE served by nbdkit's file plugin, with filters
 * and their parameters (which go after the plugin's). */
static void srv_file(const char *const *filters, const char *const *params)
{
    static char arg[300];
    const char *args[NS_MAX_ARGS];
    unsigned n = 0;
    int fd;

    ck_assert_int_eq(srv_on_tcp ? ns_init_tcp(&S) : ns_init(&S), 0);
    snprintf(file_path, sizeof(file_path), "%s/disk.raw", S.dir);
    fd = open(file_path, O_CREAT | O_RDWR, 0600);
    ck_assert_int_ge(fd, 0);
    ck_assert_int_eq(ftruncate(fd, (off_t)NS_SIZE), 0);
    close(fd);
    for (; filters && filters[n]; n++) {
        args[n] = filters[n];
    }
    args[n++] = "file";
    snprintf(arg, sizeof(arg), "file=%s", file_path);
    args[n++] = arg;
    for (; params && *params; params++) {
        args[n++] = *params;
    }
    args[n] = NULL;
    ck_assert_int_eq(ns_start(&S, "nbdkit", args), 0);
}

/* The controller with namespace 1 on S's export, plus extra config. */
static void up_with(const char *const *extra)
{
    const char *kv[16] = { "namespace.1.uri", S.uri };
    unsigned n = 2;

    for (; extra && *extra; extra++) {
        kv[n++] = *extra;
    }
    kv[n] = NULL;
    ck_assert_int_eq(td_open(&D, 0, false, kv), 0);
    ck_assert_int_eq(td_enable(&D, 32), 0);
    ck_assert_int_eq(td_create_io_queue(&D, 1, 64), 0);
}

static void down(void)
{
    td_close(&D);
    ns_cleanup(&S);
    file_path[0] = 0;
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
    c.cdw10 = 0; /* CNS 0: the namespace */
    ck_assert_int_eq(td_cmd(&D, 0, &c, NULL), 0);
    memcpy(&v, td_ptr(&D, buf + NVME_IDNS_NSZE), 8);
    return v;
}

/* What the server holds at off, read over a connection of our own. */
static void check_server(uint64_t off, const void *expect, size_t len)
{
    struct nbd_handle *h = nbd_create();
    uint8_t *buf = malloc(len);

    ck_assert_ptr_nonnull(h);
    ck_assert_msg(nbd_connect_uri(h, S.uri) == 0, "%s", nbd_get_error());
    ck_assert_int_eq(nbd_pread(h, buf, len, off, 0), 0);
    ck_assert_int_eq(memcmp(buf, expect, len), 0);
    nbd_close(h);
    free(buf);
}

static void check_file(uint64_t off, const void *expect, size_t len)
{
    int fd = open(file_path, O_RDONLY);
    uint8_t *buf = malloc(len);

    ck_assert_int_ge(fd, 0);
    ck_assert_int_eq(pread(fd, buf, len, (off_t)off), (ssize_t)len);
    ck_assert_int_eq(memcmp(buf, expect, len), 0);
    free(buf);
    close(fd);
}

/* Write at slba from src, read it back into dst, compare; the server has
 * it too. */
static void roundtrip(uint64_t src, uint64_t dst, uint64_t slba, uint32_t nlb)
{
    size_t len = (size_t)nlb * 512;

    fill(src, len, (unsigned)slba);
    memset(td_ptr(&D, dst), 0, len);
    ck_assert_int_eq(td_rw(&D, 1, NVME_CMD_WRITE, slba, nlb, src, 0), 0);
    ck_assert_int_eq(td_rw(&D, 1, NVME_CMD_READ, slba, nlb, dst, 0), 0);
    ck_assert_int_eq(memcmp(td_ptr(&D, src), td_ptr(&D, dst), len), 0);
    check_server(slba * 512, td_ptr(&D, src), len);
}

/* Zeroing commands on [slba, +nlb) read back as zeroes, around them not. */
static void check_zeroing(bool file)
{
    static const uint8_t zero[65536];
    uint64_t a = td_alloc(&D, 1 << 20, 4096), b = td_alloc(&D, 1 << 20, 4096);
    uint64_t r = td_alloc(&D, 4096, 4096);
    struct nvme_dsm_range *rg = td_ptr(&D, r);
    struct nvme_sqe c;

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
    rg[0].slba = 1024;
    rg[0].nlb = 128;
    rg[1].slba = 1536;
    rg[1].nlb = 0; /* an empty range is skipped */
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
    check_server(256 * 512, zero, 65536);
    if (file) {
        check_file(16 * 512, zero, 8192);
        check_file(1024 * 512, zero, 65536);
    }
}

/* ---- tests ---- */

START_TEST(test_memory_io)
{
    const char *const args[] = { "memory", "size=48M", NULL };
    uint64_t a, b;
    struct nvme_sqe c;

    srv("nbdkit", args);
    up_with(NULL);
    ck_assert_uint_eq(identify_nsze(), (48ull << 20) / 512); /* the server's */
    a = td_alloc(&D, 256 << 10, 4096);
    b = td_alloc(&D, 256 << 10, 4096);
    roundtrip(a, b, 0, 1);
    roundtrip(a + 512, b + 1024, 7, 9);      /* PRP1 + PRP2, offsets */
    roundtrip(a, b, 1000, 128);              /* a PRP list */
    roundtrip(a + 512, b + 1536, 2000, 256); /* 128 KiB = MDTS, offset */
    /* FUA, Flush (this namespace, all), Compare */
    fill(a, 4096, 3);
    ck_assert_int_eq(td_rw(&D, 1, NVME_CMD_WRITE, 8, 8, a, NVME_RW_FUA), 0);
    check_server(8 * 512, td_ptr(&D, a), 4096);
    c = cmd(NVME_CMD_FLUSH, 0, 1);
    c.cdw12 = 0;
    ck_assert_int_eq(td_cmd(&D, 1, &c, NULL), 0);
    c.nsid = NVME_NSID_ALL;
    ck_assert_int_eq(td_cmd(&D, 1, &c, NULL), 0);
    ck_assert_int_eq(td_rw(&D, 1, NVME_CMD_COMPARE, 8, 8, a, 0), 0);
    ((uint8_t *)td_ptr(&D, a))[100] ^= 1;
    ck_assert_int_eq(td_rw(&D, 1, NVME_CMD_COMPARE, 8, 8, a, 0),
                     NVME_SC_COMPARE_FAILED);
    /* the end of the export, and beyond it */
    ck_assert_int_eq(td_rw(&D, 1, NVME_CMD_READ, (48ull << 20) / 512 - 1, 1,
                           b, 0), 0);
    ck_assert_int_eq(td_rw(&D, 1, NVME_CMD_READ, (48ull << 20) / 512, 1, b, 0),
                     NVME_SC_LBA_RANGE);
    check_zeroing(false);
    /* Format NVM with user data erase: the export reads back as zeroes */
    fill(a, 4096, 11);
    ck_assert_int_eq(td_rw(&D, 1, NVME_CMD_WRITE, 4000, 8, a, 0), 0);
    memset(&c, 0, sizeof(c));
    c.opcode = NVME_ADM_FORMAT_NVM;
    c.nsid = 1;
    c.cdw10 = 1u << 9; /* LBAF 0, SES 1 */
    ck_assert_int_eq(td_cmd(&D, 0, &c, NULL), 0);
    memset(td_ptr(&D, a), 0, 4096);
    check_server(4000 * 512, td_ptr(&D, a), 4096);
    ck_assert_uint_eq(fake_read32(D.dev, 0, NVME_REG_CSTS) & NVME_CSTS_CFS, 0);
    down();
}
END_TEST

/* Across the network the shadow hold is off by default (the driver
 * submits again only after a completion, a round trip away), but hold-us
 * given in the configuration is what the controller does. */
START_TEST(test_hold_when_asked)
{
    static const char *const hold[] = { "hold-us", "50", NULL };
    const char *const args[] = { "memory", "size=16M", NULL };
    int r;

    srv("nbdkit", args);
    up_with(hold);
    ck_assert_int_eq(td_enable_shadow(&D), 0);
    r = td_shadow_hold_probe(&D, 1, td_alloc(&D, 4096, 4096), 20);
    ck_assert_msg(r == 1, "no unrung submission fetched during the hold "
                  "in 20 tries (probe: %d)", r);
    down();
}
END_TEST

/* Guest buffers in pieces (a PRP list whose pages run backwards, as a
 * guest's scattered pages do) go through the back-end's bounce buffers:
 * 96 writes of 128 KiB out at once, then 96 reads, more than the buffers
 * kept for reuse (64), so some are allocated and freed as they finish
 * while others are reused; what each wrote is what the server holds and
 * what each read brings back, page by page. */
#define SCAT_CMDS 96
#define SCAT_PAGES 32 /* 128 KiB, MDTS */

static void scat_cmd(struct nvme_sqe *c, uint8_t opc, unsigned k,
                         uint64_t buf)
{
    uint64_t pages[SCAT_PAGES - 1];

    /* page j of the transfer is page SCAT_PAGES-1-j of buf */
    for (unsigned j = 1; j < SCAT_PAGES; j++) {
        pages[j - 1] = buf + (uint64_t)(SCAT_PAGES - 1 - j) * 4096;
    }
    *c = cmd(opc, (uint64_t)k * SCAT_PAGES * 8, SCAT_PAGES * 8);
    td_build_prp(&D, c, buf + (SCAT_PAGES - 1) * 4096ull, pages, SCAT_PAGES - 1);
}

static void scat_all(uint8_t opc, uint64_t bufs)
{
    struct nvme_cqe e;
    unsigned done = 0;

    for (unsigned k = 0; k < SCAT_CMDS; k++) {
        struct nvme_sqe c;

        scat_cmd(&c, opc, k, bufs + (uint64_t)k * SCAT_PAGES * 4096);
        td_queue_cmd(&D, 2, &c);
    }
    td_ring(&D, 2);
    for (; done < SCAT_CMDS; done++) {
        ck_assert_int_eq(td_wait(&D, 2, &e), 0);
        ck_assert_int_eq(td_status(&e), 0);
    }
}

START_TEST(test_scattered_deep)
{
    const char *const args[] = { "memory", "size=32M", NULL };
    const size_t each = SCAT_PAGES * 4096;
    uint64_t src, dst;

    srv("nbdkit", args);
    up_with(NULL);
    ck_assert_int_eq(td_create_io_queue(&D, 2, 256), 0);
    src = td_alloc(&D, SCAT_CMDS * each, 4096);
    dst = td_alloc(&D, SCAT_CMDS * each, 4096);
    fill(src, SCAT_CMDS * each, 5);
    scat_all(NVME_CMD_WRITE, src);
    scat_all(NVME_CMD_READ, dst);
    /* the reads land where they came from; the server holds each
     * command's pages in transfer order (checked for two of them) */
    ck_assert_int_eq(memcmp(td_ptr(&D, src), td_ptr(&D, dst),
                            SCAT_CMDS * each), 0);
    for (unsigned k = 0; k < SCAT_CMDS; k += SCAT_CMDS - 1) {
        uint8_t *expect = malloc(each);

        for (unsigned j = 0; j < SCAT_PAGES; j++) {
            memcpy(expect + j * 4096ull,
                   td_ptr(&D, src + k * each + (SCAT_PAGES - 1 - j) * 4096ull),
                   4096);
        }
        check_server(k * each, expect, each);
        free(expect);
    }
    down();
}
END_TEST

/* The file plugin with zeroing taken away: zeroing becomes writes of
 * zeroes; and a window of the export (size=). */
START_TEST(test_file_no_zero)
{
    const char *const filters[] = { "--filter=nozero", NULL };
    const char *const params[] = { "zeromode=none", NULL };
    const char *const extra[] = { "namespace.1.size", "32M", NULL };
    uint64_t a, b;

    srv_file(filters, params);
    up_with(extra);
    ck_assert_uint_eq(identify_nsze(), (32ull << 20) / 512);
    a = td_alloc(&D, 256 << 10, 4096);
    b = td_alloc(&D, 256 << 10, 4096);
    roundtrip(a, b, 64, 64);
    fill(a, 8192, 4);
    ck_assert_int_eq(td_rw(&D, 1, NVME_CMD_WRITE, 4096, 16, a, NVME_RW_FUA), 0);
    check_file(4096 * 512, td_ptr(&D, a), 8192);
    check_zeroing(true);
    ck_assert_int_eq(td_rw(&D, 1, NVME_CMD_READ, (32ull << 20) / 512, 1, b, 0),
                     NVME_SC_LBA_RANGE);
    down();
}
END_TEST

static unsigned count_lines(const char *path, const char *what)
{
    FILE *f = fopen(path, "r");
    char line[1024];
    unsigned n = 0;

    ck_assert_ptr_nonnull(f);
    while (fgets(line, sizeof(line), f)) {
        n += strstr(line, what) != NULL;
    }
    fclose(f);
    return n;
}

/* nbdkit's memory plugin behind its log filter (logpath: which connection
 * served what), on TCP or on a UNIX socket, with multi-conn unless
 * no_multi_conn. */
static void srv_logged(bool tcp, bool no_multi_conn, char *logpath, size_t len)
{
    static char logarg[256];
    const char *args[8];
    unsigned n = 0;

    ck_assert_int_eq(tcp ? ns_init_tcp(&S) : ns_init(&S), 0);
    snprintf(logpath, len, "%s/log", S.dir);
    snprintf(logarg, sizeof(logarg), "logfile=%s", logpath);
    if (no_multi_conn) {
        args[n++] = "--filter=multi-conn";
    }
    args[n++] = "--filter=log";
    args[n++] = "memory";
    args[n++] = "size=16M";
    args[n++] = logarg;
    if (no_multi_conn) {
        args[n++] = "multi-conn-mode=disable";
    }
    args[n] = NULL;
    ck_assert_int_eq(ns_start(&S, "nbdkit", args), 0);
}

/* How many connections the controller opens to a fresh logging server
 * (srv_logged) to serve one write and read back, with extra config. */
static unsigned connections_opened(bool tcp, bool no_multi_conn,
                                   const char *const *extra, uint64_t a,
                                   uint64_t b)
{
    char logpath[200];
    unsigned n;

    srv_logged(tcp, no_multi_conn, logpath, sizeof(logpath));
    up_with(extra);
    roundtrip(a, b, 0, 16);
    td_close(&D);
    n = count_lines(logpath, "Connect") - 1;   /* roundtrip's own check */
    ns_cleanup(&S);
    return n;
}

/* Multi-conn: namespace.1.connections connections, commands spread over
 * them (the log filter records which connection served what); without
 * multi-conn, one; by default one over a UNIX socket and four over TCP. */
START_TEST(test_multi_conn)
{
    static char logpath[200];
    const char *const extra[] = { "namespace.1.connections", "3", NULL };
    uint64_t a, b;

    srv_logged(false, false, logpath, sizeof(logpath));
    up_with(extra);
    a = td_alloc(&D, 64 << 10, 4096);
    b = td_alloc(&D, 64 << 10, 4096);
    for (int i = 0; i < 12; i++) {
        roundtrip(a, b, 64 * (uint64_t)i, 16);
    }
    td_close(&D);
    ck_assert_uint_eq(count_lines(logpath, "Connect"), 3 + 12); /* + ours */
    for (int id = 1; id <= 3; id++) {
        char what[64];

        snprintf(what, sizeof(what), "connection=%d Write", id);
        ck_assert_msg(count_lines(logpath, what) >= 3,
                      "connection %d wrote %u times", id,
                      count_lines(logpath, what));
    }
    ns_cleanup(&S);

    /* The same with multi-conn taken away: one connection. */
    ck_assert_uint_eq(connections_opened(false, true, extra, a, b), 1);
    /* The defaults, with multi-conn: one over a UNIX socket, four over TCP */
    ck_assert_uint_eq(connections_opened(false, false, NULL, a, b), 1);
    ck_assert_uint_eq(connections_opened(true, false, NULL, a, b), 4);
}
END_TEST

/* A server that cannot do FUA (nbdkit's fua filter in its default mode,
 * none, does not offer it; nbdkit 1.32 refuses the mode named; the log
 * filter before it records what we send): a FUA write
 * goes out as the write and then a flush, neither with the flag, and the
 * data is there; a write without FUA sends no flush. */
START_TEST(test_fua_emulated)
{
    static char logarg[256], logpath[200];
    uint64_t a, b;

    ck_assert_int_eq(ns_init(&S), 0);
    snprintf(logpath, sizeof(logpath), "%s/log", S.dir);
    snprintf(logarg, sizeof(logarg), "logfile=%s", logpath);
    {
        const char *const args[] = { "--filter=log", "--filter=fua", "memory",
                                     "size=16M", logarg, NULL };

        ck_assert_int_eq(ns_start(&S, "nbdkit", args), 0);
    }
    up_with(NULL);
    a = td_alloc(&D, 8192, 4096);
    b = td_alloc(&D, 8192, 4096);
    fill(a, 8192, 21);
    ck_assert_int_eq(td_rw(&D, 1, NVME_CMD_WRITE, 0, 8, a, 0), 0);
    ck_assert_uint_eq(count_lines(logpath, " Write id="), 1);
    ck_assert_uint_eq(count_lines(logpath, " Flush id="), 0);
    ck_assert_int_eq(td_rw(&D, 1, NVME_CMD_WRITE, 64, 16, a, NVME_RW_FUA), 0);
    ck_assert_uint_eq(count_lines(logpath, " Write id="), 2);
    ck_assert_uint_eq(count_lines(logpath, " Flush id="), 1);
    ck_assert_uint_eq(count_lines(logpath, "fua=1"), 0);
    ck_assert_int_eq(td_rw(&D, 1, NVME_CMD_READ, 64, 16, b, 0), 0);
    ck_assert_int_eq(memcmp(td_ptr(&D, a), td_ptr(&D, b), 8192), 0);
    down();
}
END_TEST

/* Send c to nbdkit's pause filter's control socket and wait for its
 * upper-case echo (a pause is in force once no request is in flight). */
static void pause_ctl(const char *path, char c)
{
    struct sockaddr_un sa = { .sun_family = AF_UNIX };
    int fd = socket(AF_UNIX, SOCK_STREAM, 0);
    char reply = 0;

    ck_assert_int_ge(fd, 0);
    ck_assert_uint_lt(strlen(path), sizeof(sa.sun_path));
    memcpy(sa.sun_path, path, strlen(path) + 1);
    ck_assert_int_eq(connect(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
    ck_assert_int_eq(write(fd, &c, 1), 1);
    ck_assert_int_eq(read(fd, &reply, 1), 1);
    ck_assert_int_eq(reply, c - 'a' + 'A');
    close(fd);
}

/* A server that stops answering with its socket open (nbdkit's pause
 * filter): the controller's last flush, when it is destroyed, gives up
 * after reconnect-timeout instead of holding the device thread (and the
 * daemon's stop) for ever; what was written before is on the server. */
START_TEST(test_flush_hung_server)
{
    static char ctl[200], ctlarg[256];
    const char *const extra[] = { "namespace.1.reconnect-timeout", "2", NULL };
    uint8_t data[4096];
    uint64_t a;

    ck_assert_int_eq(ns_init(&S), 0);
    snprintf(ctl, sizeof(ctl), "%s/pause", S.dir);
    snprintf(ctlarg, sizeof(ctlarg), "pause-control=%s", ctl);
    {
        const char *const args[] = { "--filter=pause", "memory", "size=16M",
                                     ctlarg, NULL };

        ck_assert_int_eq(ns_start(&S, "nbdkit", args), 0);
    }
    up_with(extra);
    a = td_alloc(&D, 4096, 4096);
    fill(a, 4096, 31);
    memcpy(data, td_ptr(&D, a), sizeof(data));
    ck_assert_int_eq(td_rw(&D, 1, NVME_CMD_WRITE, 0, 8, a, 0), 0);
    pause_ctl(ctl, 'p');
    td_close(&D); /* returns: the flush gave up */
    pause_ctl(ctl, 'r');
    check_server(0, data, sizeof(data));
    down();
}
END_TEST

/* qemu-nbd serving a qcow2 image (any image format works through NBD),
 * then the same image read-only. */
START_TEST(test_qemu_nbd_qcow2)
{
    static char img[256];
    const char *args[] = { "-f", "qcow2", img, NULL };
    const char *ro_args[] = { "-r", "-f", "qcow2", img, NULL };
    char cmdline[512];
    uint64_t a, b;

    if (!ns_have("qemu-nbd") || !ns_have("qemu-img")) {
        fprintf(stderr, "SKIP test_qemu_nbd_qcow2: no qemu-nbd/qemu-img "
                "(qemu-utils)\n");
        return;
    }
    ck_assert_int_eq(ns_init(&S), 0);
    snprintf(img, sizeof(img), "%s/disk.qcow2", S.dir);
    snprintf(cmdline, sizeof(cmdline), "qemu-img create -q -f qcow2 %s 20M",
             img);
    ck_assert_int_eq(system(cmdline), 0);
    ck_assert_int_eq(ns_start(&S, "qemu-nbd", args), 0);
    up_with(NULL);
    ck_assert_uint_eq(identify_nsze(), (20ull << 20) / 512);
    a = td_alloc(&D, 256 << 10, 4096);
    b = td_alloc(&D, 256 << 10, 4096);
    roundtrip(a, b, 0, 8);
    roundtrip(a + 512, b, 3000, 256);
    check_zeroing(false);
    td_close(&D);
    ns_kill(&S);

    ck_assert_int_eq(ns_start(&S, "qemu-nbd", ro_args), 0);
    up_with(NULL);
    ck_assert_int_eq(td_rw(&D, 1, NVME_CMD_READ, 3000, 256, b, 0), 0);
    fill(a + 512, 256 * 512, 3000);
    ck_assert_int_eq(memcmp(td_ptr(&D, b), td_ptr(&D, a + 512), 256 * 512), 0);
    ck_assert_int_eq(td_rw(&D, 1, NVME_CMD_WRITE, 0, 8, a, 0),
                     NVME_SC_NS_WRITE_PROTECTED);
    down();
}
END_TEST

/* The server killed while 32 writes wait in it (the delay filter holds
 * each for 2 s), restarted 500 ms later: every write completes without
 * error, and everything reads back, from the guest and from the file. */
START_TEST(test_server_restart)
{
    const char *const filters[] = { "--filter=delay", NULL };
    const char *const params[] = { "delay-write=2000ms", NULL };
    enum { N = 32, NLB = 8 }; /* 4 KiB each: PRP1 alone */
    uint64_t a, b;
    struct nvme_cqe cqe;
    struct timespec pause = { 0, 500 * 1000 * 1000 };

    srv_file(filters, params);
    up_with(NULL);
    D.timeout_ms = 30000;
    a = td_alloc(&D, N * NLB * 512, 4096);
    b = td_alloc(&D, N * NLB * 512, 4096);
    fill(a, N * NLB * 512, 77);
    for (unsigned i = 0; i < N; i++) {
        struct nvme_sqe c = cmd(NVME_CMD_WRITE, (uint64_t)i * NLB * 3, NLB);

        c.dptr1 = a + (uint64_t)i * NLB * 512;
        td_queue_cmd(&D, 1, &c);
    }
    td_ring(&D, 1);
    nanosleep(&pause, NULL); /* all in the server, none answered yet */
    ns_kill(&S);
    nanosleep(&pause, NULL);
    ck_assert_int_eq(ns_restart(&S), 0);
    for (unsigned i = 0; i < N; i++) {
        ck_assert_int_eq(td_wait(&D, 1, &cqe), 0);
        ck_assert_int_eq(td_status(&cqe), 0);
    }
    for (unsigned i = 0; i < N; i++) {
        uint64_t off = (uint64_t)i * NLB * 512;

        ck_assert_int_eq(td_rw(&D, 1, NVME_CMD_READ, (uint64_t)i * NLB * 3,
                               NLB, b + off, 0), 0);
        ck_assert_int_eq(memcmp(td_ptr(&D, b + off), td_ptr(&D, a + off),
                                NLB * 512), 0);
        check_file((uint64_t)i * NLB * 3 * 512, td_ptr(&D, a + off), NLB * 512);
    }
    /* a normal shutdown (CC.SHN) flushes through the new connections */
    D.tr->wr32(&D, NVME_REG_CC, D.tr->rd32(&D, NVME_REG_CC) | 1u << 14);
    ck_assert_int_eq(td_wait_csts(&D, NVME_CSTS_SHST_MASK, NVME_CSTS_SHST_DONE), 0);
    ck_assert_int_eq(td_disable(&D), 0);
    down();
}
END_TEST

/* The server gone for longer than reconnect-timeout: the command waiting
 * for it and the next ones fail with Namespace Not Ready; the controller
 * is fine; once the server is back, I/O works again. */
START_TEST(test_server_gone)
{
    const char *const extra[] = { "namespace.1.reconnect-timeout", "1", NULL };
    uint64_t a;
    int st = -1;

    srv_file(NULL, NULL);
    up_with(extra);
    D.timeout_ms = 20000;
    a = td_alloc(&D, 8192, 4096);
    fill(a, 8192, 5);
    ck_assert_int_eq(td_rw(&D, 1, NVME_CMD_WRITE, 0, 16, a, 0), 0);
    ns_kill(&S);
    ck_assert_int_eq(td_rw(&D, 1, NVME_CMD_READ, 0, 16, a, 0),
                     NVME_SC_NS_NOT_READY);
    ck_assert_int_eq(td_rw(&D, 1, NVME_CMD_WRITE, 0, 16, a, 0),
                     NVME_SC_NS_NOT_READY);
    ck_assert_uint_eq(fake_read32(D.dev, 0, NVME_REG_CSTS) & NVME_CSTS_CFS, 0);
    ck_assert_int_eq(ns_restart(&S), 0);
    /* reconnection retries every 2 s at most */
    for (int i = 0; i < 100 && st != 0; i++) {
        usleep(50000);
        memset(td_ptr(&D, a), 0, 8192);
        st = td_rw(&D, 1, NVME_CMD_READ, 0, 16, a, 0);
    }
    ck_assert_int_eq(st, 0);
    {
        uint8_t expect[8192];

        memcpy(expect, td_ptr(&D, a), sizeof(expect));
        fill(a, 8192, 5);
        ck_assert_int_eq(memcmp(expect, td_ptr(&D, a), sizeof(expect)), 0);
    }
    down();
}
END_TEST

/* ---- NBD over TLS ---- */

static char tls_dir[64];      /* the credentials, beside no server */
static char tls_uri[300];

static void tls_path(char *buf, size_t len, const char *name)
{
    snprintf(buf, len, "%s/%s", tls_dir, name);
}

static void write_text(const char *name, const char *text)
{
    char path[128];
    FILE *f;

    tls_path(path, sizeof(path), name);
    f = fopen(path, "w");
    ck_assert_ptr_nonnull(f);
    ck_assert_int_ge(fputs(text, f), 0);
    ck_assert_int_eq(fclose(f), 0);
}

static void tls_cleanup(void)
{
    char cmd[128];

    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tls_dir);
    ck_assert_int_eq(system(cmd), 0);
    tls_dir[0] = 0;
}

/* A file of NS_SIZE behind nbdkit with TLS required and tls_opt (its
 * --tls-psk= or --tls-certificates= option); tls_uri names the export
 * with TLS (nbds+unix, or nbds on TCP with srv_on_tcp), as user alice
 * (PSK's identity). */
static void srv_tls(const char *tls_opt)
{
    const char *const filters[] = { "--tls=require", tls_opt, NULL };

    srv_file(filters, NULL);
    if (S.port) {
        snprintf(tls_uri, sizeof(tls_uri), "nbds://alice@127.0.0.1:%u/", S.port);
    } else {
        snprintf(tls_uri, sizeof(tls_uri), "nbds+unix://alice@/?socket=%s",
                 S.sock);
    }
}

/* Write, read back through the namespace, and find it in the server's
 * file: the data went through the TLS connection. */
static void tls_io(void)
{
    uint64_t a = td_alloc(&D, 64 << 10, 4096), b = td_alloc(&D, 64 << 10, 4096);

    fill(a, 64 << 10, 21);
    ck_assert_int_eq(td_rw(&D, 1, NVME_CMD_WRITE, 2048, 128, a, NVME_RW_FUA), 0);
    memset(td_ptr(&D, b), 0, 64 << 10);
    ck_assert_int_eq(td_rw(&D, 1, NVME_CMD_READ, 2048, 128, b, 0), 0);
    ck_assert_int_eq(memcmp(td_ptr(&D, a), td_ptr(&D, b), 64 << 10), 0);
    check_file(2048 * 512, td_ptr(&D, a), 64 << 10);
}

/* The controller on tls_uri with this TLS key and value, then I/O. */
static void tls_up_io(const char *key, const char *value)
{
    const char *const kv[] = { "namespace.1.uri", tls_uri, key, value, NULL };

    ck_assert_int_eq(td_open(&D, 0, false, kv), 0);
    ck_assert_int_eq(td_enable(&D, 32), 0);
    ck_assert_int_eq(td_create_io_queue(&D, 1, 64), 0);
    ck_assert_uint_eq(identify_nsze(), NS_SIZE / 512);
    tls_io();
    td_close(&D);
}

/* Realize fails, and the device's error names namespace 1 and says why
 * (what: a fragment of it). */
static void tls_refused(const char *uri, const char *key, const char *value,
                        const char *what)
{
    const char *const kv[] = { "namespace.1.uri", uri, key, value, NULL };
    const char *err;

    ck_assert_int_lt(td_open(&D, 0, false, kv), 0);
    err = fake_dev_last_error(D.dev);
    ck_assert_msg(strstr(err, "namespace 1") && strstr(err, what),
                  "error '%s' does not say '%s'", err, what);
    td_close(&D);
}

/* Pre-shared keys (nbdkit --tls-psk, namespace.1.tls-psk-file): the right
 * key serves I/O; no TLS, a wrong key, the key file named in the URI, or
 * the key with a URI without TLS are refused at realize with the reason. */
START_TEST(test_tls_psk)
{
    char srv_psk[128], opt[160], cli_psk[128], bad_psk[128], in_uri[460];

    ck_assert_ptr_nonnull(mkdtemp(strcpy(tls_dir, "/tmp/vfud-tls.XXXXXX")));
    write_text("server.psk", "alice:0f1e2d3c4b5a69788796a5b4c3d2e1f0"
               "00112233445566778899aabbccddeeff\n");
    write_text("client.psk", "alice:0f1e2d3c4b5a69788796a5b4c3d2e1f0"
               "00112233445566778899aabbccddeeff\n");
    write_text("bad.psk", "alice:0f1e2d3c4b5a69788796a5b4c3d2e1f0"
               "00112233445566778899aabbccddee00\n");
    tls_path(srv_psk, sizeof(srv_psk), "server.psk");
    tls_path(cli_psk, sizeof(cli_psk), "client.psk");
    tls_path(bad_psk, sizeof(bad_psk), "bad.psk");
    snprintf(opt, sizeof(opt), "--tls-psk=%s", srv_psk);
    srv_tls(opt);

    tls_up_io("namespace.1.tls-psk-file", cli_psk);
    /* the server requires TLS: a plain URI is turned away */
    tls_refused(S.uri, NULL, NULL, "NBD");
    tls_refused(tls_uri, "namespace.1.tls-psk-file", bad_psk, "NBD");
    tls_refused(S.uri, "namespace.1.tls-psk-file", cli_psk, "needs an nbds");
    snprintf(in_uri, sizeof(in_uri), "%s&tls-psk-file=%s", tls_uri, cli_psk);
    tls_refused(in_uri, NULL, NULL, "not in the URI");
    down();
    tls_cleanup();
}
END_TEST

/* X.509 (nbdkit --tls-certificates, namespace.1.tls-certificates): a CA
 * the test makes signs the server's certificate (for localhost and
 * 127.0.0.1), the client's directory holds that CA, and I/O goes through,
 * over the UNIX socket and over TCP.  libnbd verifies the server's
 * certificate over TCP only, where it has a host name to check (over a
 * UNIX socket a client with another CA is let in too): on TCP a client
 * whose directory holds another CA is refused at realize, and says the
 * certificate is why.  A missing PSK file fails the connection; PSK and
 * X.509 keys are exclusive. */
#define MK_CERTS \
        "(cd '%s' && mkdir server client other && " \
        "ca() { openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 " \
        "-nodes -days 2 -subj \"/CN=$1\" -keyout $1-key.pem -out $1-cert.pem; } && " \
        "ca vfud-test-ca && ca vfud-other-ca && " \
        "openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes " \
        "-subj /CN=localhost -keyout server/server-key.pem -out server.csr && " \
        "printf 'subjectAltName=DNS:localhost,IP:127.0.0.1\\n" \
        "extendedKeyUsage=serverAuth\\n' " \
        ">server.ext && " \
        "openssl x509 -req -in server.csr -CA vfud-test-ca-cert.pem " \
        "-CAkey vfud-test-ca-key.pem -CAcreateserial -days 2 -extfile server.ext " \
        "-out server/server-cert.pem && " \
        "cp vfud-test-ca-cert.pem server/ca-cert.pem && " \
        "cp vfud-test-ca-cert.pem client/ca-cert.pem && " \
        "cp vfud-other-ca-cert.pem other/ca-cert.pem) >/dev/null 2>&1"

START_TEST(test_tls_x509)
{
    char cmd[1400], opt[160], cli[128], other[128];
    const char *const both[] = { "namespace.1.uri", tls_uri,
                                 "namespace.1.tls-certificates", cli,
                                 "namespace.1.tls-psk-file", other, NULL };

    ck_assert_ptr_nonnull(mkdtemp(strcpy(tls_dir, "/tmp/vfud-tls.XXXXXX")));
    snprintf(cmd, sizeof(cmd), MK_CERTS, tls_dir);
    ck_assert_msg(system(cmd) == 0, "openssl could not make the certificates");
    snprintf(opt, sizeof(opt), "--tls-certificates=%s/server", tls_dir);
    tls_path(cli, sizeof(cli), "client");
    tls_path(other, sizeof(other), "other");
    srv_tls(opt);

    tls_up_io("namespace.1.tls-certificates", cli);
    tls_refused(tls_uri, "namespace.1.tls-psk-file", "/nonexistent/x.psk", "NBD");
    ck_assert_int_lt(td_open(&D, 0, false, both), 0);
    ck_assert_ptr_nonnull(strstr(fake_dev_last_error(D.dev), "exclusive"));
    td_close(&D);
    down();

    srv_on_tcp = true;
    srv_tls(opt);
    srv_on_tcp = false;
    tls_up_io("namespace.1.tls-certificates", cli);
    tls_refused(tls_uri, "namespace.1.tls-certificates", other,
                "certificate is not signed by a CA of");
    down();
    tls_cleanup();
}
END_TEST

/* Bad configurations say why and fail realize. */
START_TEST(test_bad_config)
{
    const char *const gone[] = { "namespace.1.uri",
                                 "nbd+unix:///?socket=/nonexistent/sock",
                                 NULL };
    const char *const bad_conns[] = { "namespace.1.uri", "nbd://localhost",
                                      "namespace.1.connections", "0", NULL };
    const char *const both[] = { "namespace.1.uri", S.uri,
                                 "namespace.1.path", "/tmp/x", NULL };
    const char *const too_big[] = { "namespace.1.uri", S.uri,
                                    "namespace.1.size", "1G", NULL };
    const char *const args[] = { "memory", "size=1M", NULL };

    ck_assert_int_lt(td_open(&D, 0, false, gone), 0);
    ck_assert_ptr_nonnull(strstr(fake_dev_last_error(D.dev), "namespace 1"));
    td_close(&D);
    ck_assert_int_lt(td_open(&D, 0, false, bad_conns), 0);
    td_close(&D);
    srv("nbdkit", args);
    ck_assert_int_lt(td_open(&D, 0, false, both), 0);
    ck_assert_ptr_nonnull(strstr(fake_dev_last_error(D.dev), "exclusive"));
    td_close(&D);
    ck_assert_int_lt(td_open(&D, 0, false, too_big), 0);
    ck_assert_ptr_nonnull(strstr(fake_dev_last_error(D.dev), "larger"));
    down();
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("nvme_nbd");
    TCase *tc = tcase_create("nbd");

    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, test_memory_io);
    tcase_add_test(tc, test_hold_when_asked);
    tcase_add_test(tc, test_scattered_deep);
    tcase_add_test(tc, test_file_no_zero);
    tcase_add_test(tc, test_multi_conn);
    tcase_add_test(tc, test_fua_emulated);
    tcase_add_test(tc, test_flush_hung_server);
    tcase_add_test(tc, test_qemu_nbd_qcow2);
    tcase_add_test(tc, test_server_restart);
    tcase_add_test(tc, test_server_gone);
    tcase_add_test(tc, test_bad_config);
    tcase_add_test(tc, test_tls_psk);
    if (ns_have("openssl")) {
        tcase_add_test(tc, test_tls_x509);
    } else {
        fprintf(stderr, "test_tls_x509 not run: no openssl (Debian package "
                "openssl)\n");
    }
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr;
    int failed;

    if (access(td_plugin_path(), R_OK) != 0) {
        fprintf(stderr, "SKIP: plugin %s not built\n", td_plugin_path());
        return 77;
    }
    if (!ns_have("nbdkit")) {
        fprintf(stderr, "SKIP: no nbdkit (Debian package nbdkit)\n");
        return 77;
    }
    sr = srunner_create(suite());
    srunner_run_all(sr, CK_NORMAL);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
