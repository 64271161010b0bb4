/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Fuzz target: the NVMe plugin driven by a hostile guest.
 *
 * Each input gets a new controller: the plugin linked in (plugin_nvme.c)
 * and loaded into the fake daemon of the unit tests (tests/harness), with
 * guest memory as local buffers and no I/O thread (fuzz_nvme_sync.c), so
 * that an input always does the same thing.  A new device per input costs
 * little next to what the input does (with ASAN, about 0.2 ms of the
 * 1.4 ms an input of a grown corpus takes on average) and undoes what a
 * controller reset keeps: formats, features, logs, counters.  Namespace
 * 2's file lives for the whole process and is emptied before each input.
 *
 * The input (format in fuzz_nvme.h) chooses the configuration, then a
 * sequence of operations: register and doorbell writes of any size and
 * value, admin and I/O commands (any 64 bytes, with data pointers aimed
 * into or out of guest memory), PRP lists, SGL segments and data written
 * into guest memory, completions reaped or left in place, DMA windows
 * unmapped and mapped again, bus mastering, interrupt modes and resets.
 * After each operation the controller runs until it is idle.
 *
 * Oracles besides the sanitizers: the controller settles (no livelock) and
 * would not spin in its I/O thread (fuzz_nvme_sync.c); a DMA window it is
 * told to unmap, and all guest memory once it is disabled or reset, is
 * referenced no more (fuzz_nvme_guest.c, run_op); no fd outlives the
 * device.  A violation abort()s,
 * which libFuzzer records as a crash with its input.
 *
 * FUZZ_LOG=LEVEL (error, warning, info, debug) shows the plugin's log;
 * the default is silent under libFuzzer and "debug" in the replay (so log
 * formatting runs too).  FUZZ_TRACE=1 prints each operation and each
 * completion the guest reaps.
 */
#include "config.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <unistd.h>

#include "fuzz.h"
#include "fuzz_nvme_priv.h"

static char file_path[PATH_MAX]; /* namespace 2 and 3 */
static int file_fd = -1;
static int log_level = -1;
static int fd_baseline = -1;
bool nf_trace;

void nf_die(const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    fputs("fuzz_nvme: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
    abort();
}

/* ------------------------------------------------------------------------
 * Reading the input: what is missing reads as zeroes
 */
struct nf_in {
    const uint8_t *p;
    size_t n;
};

static uint64_t take(struct nf_in *in, unsigned bytes)
{
    uint64_t v = 0;

    for (unsigned i = 0; i < bytes && in->n; i++, in->p++, in->n--) {
        v |= (uint64_t)*in->p << (8 * i);
    }
    return v;
}

static uint8_t in_u8(struct nf_in *in)
{
    return (uint8_t)take(in, 1);
}

static uint16_t in_u16(struct nf_in *in)
{
    return (uint16_t)take(in, 2);
}

static uint32_t in_u32(struct nf_in *in)
{
    return (uint32_t)take(in, 4);
}

/* An address (enum nf_addr_base); self: where the structure holding it
 * goes, or 0. */
static uint64_t in_addr_at(struct nf_in *in, uint64_t self)
{
    static const uint64_t base[] = { NF_W0_IOVA, NF_W1_IOVA, NF_W2_IOVA };
    static const uint64_t size[] = { NF_W0_SIZE, NF_W1_SIZE, NF_W2_SIZE };
    uint8_t sel = in_u8(in);
    uint32_t off = in_u32(in);
    uint64_t a;

    switch (sel & 7) {
    case NF_ADDR_W0:
    case NF_ADDR_W1:
    case NF_ADDR_W2:
        a = base[sel & 7] + off % size[sel & 7];
        break;
    case NF_ADDR_W0_END:
    case NF_ADDR_W1_END:
    case NF_ADDR_W2_END: {
        unsigned w = (sel & 7) - NF_ADDR_W0_END;

        a = base[w] + size[w] - off % 8192;
        break;
    }
    case NF_ADDR_HOLE:
        a = NF_HOLE + off;
        break;
    default:
        a = off | (uint64_t)in_u32(in) << 32;
        break;
    }
    if ((sel & NF_ADDR_SELF) && self) {
        a = self + (uint64_t)(int64_t)(int32_t)off;
    }
    if (sel & NF_ADDR_PAGE) {
        a &= ~(uint64_t)(NVME_PAGE_SIZE - 1);
    } else if (sel & NF_ADDR_QWORD) {
        a &= ~(uint64_t)7;
    }
    return a;
}

static uint64_t in_addr(struct nf_in *in)
{
    return in_addr_at(in, 0);
}

/* ------------------------------------------------------------------------
 * The device
 */

static void process_init(void)
{
    const char *dir = access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp";
    const char *level = getenv("FUZZ_LOG");

    nf_trace = getenv("FUZZ_TRACE") != NULL;
#ifdef FUZZ_REPLAY
    log_level = LOG_DEBUG;
#endif
    if (level) {
        static const char *const names[] = { "error", "warning", "info", "debug" };
        static const int levels[] = { LOG_ERR, LOG_WARNING, LOG_INFO, LOG_DEBUG };
        unsigned i;

        for (i = 0; i < 4 && strcmp(level, names[i]) != 0; i++) {
        }
        if (i == 4) {
            nf_die("FUZZ_LOG=%s: not error, warning, info or debug", level);
        }
        log_level = levels[i];
    }
    /* tmpfs: fdatasync and fallocate cost nothing, and no disk wears */
    snprintf(file_path, sizeof(file_path), "%s/vfiouserd-fuzz-nvme-XXXXXX", dir);
    file_fd = mkstemp(file_path);
    if (file_fd < 0) {
        nf_die("cannot create %s: %s", file_path, strerror(errno));
    }
}

static void process_exit(void)
{
    if (file_fd >= 0) {
        unlink(file_path);
    }
}

static int count_fds(void)
{
    DIR *d = opendir("/proc/self/fd");
    struct dirent *e;
    int n = 0;

    if (d == NULL) {
        return -1;
    }
    while ((e = readdir(d)) != NULL) {
        if (e->d_name[0] != '.') {
            n++;
        }
    }
    closedir(d);
    return n - 1; /* the directory's own fd */
}

static void config(struct nf_guest *g, const char *key, const char *value)
{
    if (fake_dev_config(g->dev, key, value) < 0) {
        nf_die("config %s=%s: %s", key, value, fake_dev_last_error(g->dev));
    }
}

static void device_new(struct nf_guest *g, uint8_t setup)
{
    static const char *const entries[] = { "64", "2", "4096", "17" };

    memset(g, 0, sizeof(*g));
    /* Namespace 2 starts empty (sparse) for every input. */
    if (ftruncate(file_fd, 0) < 0 || ftruncate(file_fd, NF_FILE_SIZE) < 0) {
        nf_die("%s: %s", file_path, strerror(errno));
    }
    g->dev = fake_dev_new("fuzz-nvme");
    if (!g->dev) {
        nf_die("out of memory");
    }
    fake_dev_set_log_level(g->dev, log_level);
    fake_dev_set_plugin(g->dev, nf_sync_plugin());
    config(g, "queues", setup & NF_SETUP_MANY_QUEUES ? "128" : "4");
    config(g, "queue-entries", entries[NF_SETUP_ENTRIES(setup)]);
    config(g, "doorbells", setup & NF_SETUP_POLL ? "poll" : "shadow");
    config(g, "namespace.1.backend", "null");
    config(g, "namespace.1.size", "64M");
    config(g, "namespace.2.path", file_path);
    config(g, "namespace.2.write-cache", setup & NF_SETUP_NO_WCACHE ? "off" : "on");
    config(g, "namespace.3.path", file_path);
    config(g, "namespace.3.read-only", "on");
    config(g, "namespace.3.block-size", "4096");
    for (unsigned w = 0; w < NF_NR_WINDOWS; w++) {
        nf_window_map(g, w, false);
    }
    if (fake_dev_realize(g->dev) < 0) {
        nf_die("realize: %s", fake_dev_last_error(g->dev));
    }
    fake_dev_attach(g->dev);
    g->c = vfud_get_private(g->dev);
}

static void device_free(struct nf_guest *g)
{
    int refs;

    /* A reset drops every queue: nothing may point into guest memory. */
    fake_dev_reset(g->dev, VFUD_RESET_DEVICE);
    refs = fake_sg_refs(g->dev);
    if (refs != 0) {
        nf_die("%d references to guest memory outlived a reset", refs);
    }
    for (unsigned w = 0; w < NF_NR_WINDOWS; w++) {
        nf_window_unmap(g, w);
    }
    fake_dev_free(g->dev);
    g->dev = NULL;
}

/* ------------------------------------------------------------------------
 * Operations
 */

static bool touches(uint64_t off, size_t len, uint64_t reg)
{
    return off < reg + 4 && reg < off + len;
}

static void op_reg_write(struct nf_guest *g, struct nf_in *in)
{
    size_t len = 1u << (in_u8(in) & 3);
    uint64_t off = in_u16(in) % NVME_BAR0_SIZE;
    uint64_t v = take(in, 8);

    if (off + len > NVME_BAR0_SIZE) {
        off = NVME_BAR0_SIZE - len;
    }
    nf_reg_write(g, off, &v, len);
    if (touches(off, len, NVME_REG_CC) || touches(off, len, NVME_REG_NSSR)) {
        nf_guest_forget(g); /* perhaps a reset: the queues are gone */
    }
}

static void op_reg_read(struct nf_guest *g, struct nf_in *in)
{
    size_t len = 1u << (in_u8(in) & 3);
    uint64_t off = in_u16(in) % NVME_BAR0_SIZE;
    uint64_t v;

    if (off + len > NVME_BAR0_SIZE) {
        off = NVME_BAR0_SIZE - len;
    }
    nf_reg_read(g, off, &v, len);
}

static void op_doorbell(struct nf_guest *g, struct nf_in *in)
{
    uint32_t slot = in_u16(in) % NVME_DB_SLOTS;
    uint32_t v = in_u32(in);

    nf_reg_write(g, NVME_REG_DBS + slot * 4ull, &v, 4);
}

static void op_command(struct nf_guest *g, struct nf_in *in, bool admin)
{
    unsigned qid = admin ? 0 : 1 + in_u8(in) % g->c->nr_io_queues;
    uint8_t flags = in_u8(in);
    struct nvme_sqe sqe;

    for (unsigned i = 0; i < sizeof(sqe); i++) {
        ((uint8_t *)&sqe)[i] = in_u8(in);
    }
    if (flags & NF_CMD_DPTR1) {
        sqe.dptr1 = in_addr(in);
    }
    if (flags & NF_CMD_DPTR2) {
        sqe.dptr2 = in_addr(in);
    }
    if (!nf_submit(g, qid, &sqe, !(flags & NF_CMD_NO_RING),
                   flags & NF_CMD_MMIO)) {
        return;
    }
    nf_settle(g->c);
    if (!(flags & NF_CMD_NO_REAP)) {
        nf_reap_all(g);
    }
}

static void op_mem_write(struct nf_guest *g, struct nf_in *in)
{
    uint64_t a = in_addr(in);
    size_t len = in_u16(in) % (NF_MEM_WRITE_MAX + 1);

    if (len > in->n) {
        len = in->n;
    }
    nf_mem_write(g, a, in->p, len);
    in->p += len;
    in->n -= len;
}

static void op_prp_list(struct nf_guest *g, struct nf_in *in)
{
    uint64_t list = in_addr(in), first;
    unsigned n = 1 + in_u8(in) % NF_PRP_LIST_MAX;
    uint64_t ent[NF_PRP_LIST_MAX];
    uint8_t stride;

    first = in_addr_at(in, list);
    stride = in_u8(in);
    for (unsigned i = 0; i < n; i++) {
        ent[i] = first + (uint64_t)i * stride * NVME_PAGE_SIZE;
    }
    nf_mem_write(g, list, ent, n * sizeof(ent[0]));
}

static void op_sgl(struct nf_guest *g, struct nf_in *in)
{
    uint64_t at = in_addr(in);
    unsigned n = 1 + in_u8(in) % NF_SGL_MAX;
    struct nvme_sgl_desc d[NF_SGL_MAX];

    memset(d, 0, sizeof(d));
    for (unsigned i = 0; i < n; i++) {
        d[i].type = in_u8(in);
        d[i].len = in_u32(in);
        d[i].addr = in_addr_at(in, at);
    }
    nf_mem_write(g, at, d, n * sizeof(d[0]));
}

static void op_reap(struct nf_guest *g, struct nf_in *in)
{
    uint8_t which = in_u8(in);
    bool report = !(in_u8(in) & 1);

    if (which == 0xff) {
        for (unsigned qid = 0; qid <= g->c->nr_io_queues; qid++) {
            nf_reap(g, qid, report);
        }
    } else {
        nf_reap(g, which % (g->c->nr_io_queues + 1), report);
    }
}

static void op_window(struct nf_guest *g, struct nf_in *in)
{
    uint8_t b = in_u8(in);
    unsigned w = (b & ~NF_WINDOW_SWAP) % NF_NR_WINDOWS;

    if (!nf_window_map(g, w, b & NF_WINDOW_SWAP)) {
        nf_window_unmap(g, w);
    }
}

static void op_irq_mode(struct nf_guest *g, struct nf_in *in)
{
    static const enum vfud_irq_type modes[] = {
        VFUD_IRQ_MSIX, VFUD_IRQ_MSI, VFUD_IRQ_INTX, VFUD_NR_IRQ_TYPES,
    };

    fake_irq_set_mode(g->dev, modes[in_u8(in) % 4]);
}

static const char *const op_names[] = {
    "reg-write", "reg-read", "doorbell", "admin", "io", "mem-write",
    "prp-list", "sgl", "reap", "bringup", "window", "bus-master", "irq-mode",
    "reset",
};
_Static_assert(sizeof(op_names) / sizeof(op_names[0]) == NF_NR_OPS,
               "a name for every operation");

static void run_op(struct nf_guest *g, struct nf_in *in)
{
    enum nf_op op = (enum nf_op)(in_u8(in) % NF_NR_OPS);

    if (nf_trace) {
        fprintf(stderr, "%s (%zu bytes left)\n", op_names[op], in->n);
    }
    switch (op) {
    case NF_OP_REG_WRITE:
        op_reg_write(g, in);
        break;
    case NF_OP_REG_READ:
        op_reg_read(g, in);
        break;
    case NF_OP_DOORBELL:
        op_doorbell(g, in);
        break;
    case NF_OP_ADMIN:
        op_command(g, in, true);
        break;
    case NF_OP_IO:
        op_command(g, in, false);
        break;
    case NF_OP_MEM_WRITE:
        op_mem_write(g, in);
        break;
    case NF_OP_PRP_LIST:
        op_prp_list(g, in);
        break;
    case NF_OP_SGL:
        op_sgl(g, in);
        break;
    case NF_OP_REAP:
        op_reap(g, in);
        break;
    case NF_OP_BRINGUP:
        nf_bringup(g);
        break;
    case NF_OP_WINDOW:
        op_window(g, in);
        break;
    case NF_OP_BUS_MASTER:
        fake_set_bus_master(g->dev, in_u8(in) & 1);
        break;
    case NF_OP_IRQ_MODE:
        op_irq_mode(g, in);
        break;
    case NF_OP_RESET:
        fake_dev_reset(g->dev, in_u8(in) & 1 ? VFUD_RESET_FLR : VFUD_RESET_DEVICE);
        nf_guest_forget(g);
        break;
    case NF_NR_OPS:
        break;
    }
    nf_settle(g->c);
    /* A controller that is not enabled has let go of all guest memory
     * (the reset that disabled it did). */
    if (!g->c->enabled && fake_sg_refs(g->dev) != 0) {
        nf_die("a disabled controller holds %d references to guest memory",
               fake_sg_refs(g->dev));
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static bool ready;
    struct nf_in in = { data, size };
    struct nf_guest g;
    uint8_t setup;
    int n;

    if (!ready) {
        process_init();
        atexit(process_exit);
        ready = true;
    }
    if (size == 0) {
        return 0;
    }
    setup = in_u8(&in);
    device_new(&g, setup);
    if (!(setup & NF_SETUP_NO_BRINGUP)) {
        nf_bringup(&g);
        nf_settle(g.c);
    }
    while (in.n) {
        run_op(&g, &in);
    }
    device_free(&g);

    n = count_fds();
    if (fd_baseline < 0) {
        fd_baseline = n;
    } else if (n != fd_baseline) {
        nf_die("%d fds open after the input, %d before", n, fd_baseline);
    }
    return 0;
}
