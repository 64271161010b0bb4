/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * testdev: a PCI Express device for the test-suite (built, never installed).
 * It exercises every part of the plugin API that a test can observe; the
 * unit tests, the e2e tests and the guest-side test program rely on the
 * layout below, so change it only together with them.
 *
 * Identity: vendor 0xfffd, device 0x0001 (subsystem the same), revision 1,
 * class 0xff0000.  0xfffd is not a PCI-SIG vendor id we know of; it marks
 * the device as test-only.  Capabilities: PM, MSI-X (4 vectors), PCI Express
 * with FLR, vendor-specific (body "TESTDEV" 0x01), and the Device Serial
 * Number extended capability (serial = the "magic" key).
 * Interrupts: MSI-X 0-3, INTx pin A, ERR and REQ.
 *
 * BAR0: 4 KiB, 32-bit memory, trapped.  Little-endian 32-bit registers;
 * reads of any size and alignment, writes of whole aligned dwords only (an
 * aligned 8-byte write is two dword writes, low first).  Unlisted offsets
 * read 0 and ignore writes.
 *
 *   0x000 ID            RO  0x7e57de01
 *   0x004 BUF_SIZE      RO  size of the device buffer: 65536
 *   0x008 MAGIC_LO      RO  the "magic" key, low 32 bits
 *   0x00c MAGIC_HI      RO  and high 32 bits
 *   0x010 SCRATCH       RW  0 after reset
 *   0x014 BAR2_TRAPS    RO  BAR2 accesses that reached region_read/write
 *   0x018 IRQ_RAISE     WO  N: vfud_irq_trigger(N) (MSI-X vector N, or INTx
 *                           for N = 0 when MSI-X is off)
 *   0x01c IRQ_RESULT    RO  result of the last IRQ_RAISE, IRQ_SIGNAL or DMA
 *                           completion interrupt: 0 or -errno
 *   0x020 INTX_DEASSERT WO  any value: vfud_intx_deassert()
 *   0x024 RESETS        RO  resets since realize (survives reset)
 *   0x028 LAST_RESET    RO  0 none, else enum vfud_reset_reason + 1
 *   0x02c IRQ_SIGNAL    WO  3: signal ERR, 4: signal REQ.  QEMU stops the
 *                           VM on ERR and unplugs the device on REQ.
 *   0x030 MIG_FAULT     RW  migration faults to inject (tests), 0 after
 *                           reset, not migrated: bit 0 quiesce(stop) fails,
 *                           bit 1 quiesce(resume) fails, bit 2 save_state
 *                           fails, bit 3 load_state fails
 *   0x034 STALL_MS      WO  N (<= 10000): the write itself sleeps N ms, for
 *                           tests of the daemon's callback time limit
 *   0x038 CRASH         WO  0x0badf00d: the plugin crashes (SIGSEGV), for
 *                           tests of process isolation
 *   0x100 DMA_SRC_LO/HI RW  0x100/0x104: source (guest address, or offset
 *                           in the device buffer for FROM_DEV)
 *   0x108 DMA_DST_LO/HI RW  0x108/0x10c: destination (guest address, or
 *                           offset in the device buffer for TO_DEV)
 *   0x110 DMA_LEN       RW  bytes, 1..1 MiB
 *   0x114 DMA_OP        RW  0 FILL     guest[DST] = DMA_FILL repeated (LE)
 *                           1 COPY     guest[SRC] -> guest[DST]
 *                           2 TO_DEV   guest[SRC] -> buffer[DST]
 *                           3 FROM_DEV buffer[SRC] -> guest[DST]
 *   0x118 DMA_FILL      RW  32-bit fill pattern
 *   0x11c DMA_VECTOR    RW  interrupt raised when a DMA ends (done or
 *                           error); >= 4 means none; 0xffffffff after reset
 *   0x120 DMA_GO        WO  bit 0: start (ignored while busy)
 *   0x124 DMA_STATUS    RO  bit 0 busy, bit 1 done, bit 2 error,
 *                           bits 31:16 errno of the error
 *   0x128 DMA_COUNT     RO  DMAs completed without error since reset
 *
 * A DMA runs in vfud_submit() on the device's worker thread, never in
 * region_write: the client may be blocked on our reply, and DMA by messages
 * needs its main loop (PROTOCOL.md trap 7).  The "dma-delay-ms" key makes
 * each DMA wait first, so tests can reset or disconnect with one in flight;
 * reset wakes it and it ends without effect.
 *
 * BAR2: 64 KiB, 64-bit prefetchable memory, backed by the daemon's shared
 * memory.  0x0000-0x3fff and 0xc000-0xffff may be mmapped; 0x4000-0xbfff is
 * trapped (served from the same memory, counted in BAR2_TRAPS).  After
 * realize and reset each aligned dword at offset o holds 0xb2000000 | o.
 *
 * BAR4: 4 KiB, MSI-X table at 0x000 and PBA at 0x800.  The daemon serves
 * both; should an access reach us anyway, reads give 0 and writes are
 * ignored.
 *
 * ROM: 2 KiB.  0x55 0xaa, zeros up to 0x1f (no PCI data structure, so
 * firmware never runs it), "VFIOUSERD TESTDEV ROM" zero-padded at 0x20-0x3f,
 * then each byte at offset o >= 0x40 is o & 0xff.
 *
 * Migration (state version 1): every register but MIG_FAULT, the DMA
 * engine (a DMA started but not done travels as a parked job) and the
 * device buffer; BAR2 is the daemon's memory and travels with the daemon's
 * part of the stream.  While stopped, a DMA that is still waiting out its
 * delay gives up and is parked, as is one started by DMA_GO; a DMA already
 * moving data finishes first (the daemon drains jobs).  Resuming (on the
 * source after an aborted migration, or on the destination) starts the
 * parked DMA again, delay included.
 *
 * Reset: registers to the values above, the DMA engine idle, the device
 * buffer zeroed, BAR2 refilled.  Nothing depends on the client: detach has
 * nothing to drop, and dma_unmap has nothing to drop either because every
 * access to guest memory goes through vfud_dma_read/write and no pointer is
 * kept (it only logs, for tests).
 */
#include <config.h>

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <vfiouserd/plugin.h>

#define TESTDEV_ID        0x7e57de01u
#define TESTDEV_BUF_SIZE  (64u << 10)
#define TESTDEV_DMA_MAX   (1u << 20)
#define TESTDEV_VECTORS   4
#define TESTDEV_BAR0_SIZE 4096
#define TESTDEV_BAR2_SIZE (64u << 10)
#define TESTDEV_BAR4_SIZE 4096
#define TESTDEV_ROM_SIZE  2048

enum {
    REG_ID = 0x000,
    REG_BUF_SIZE = 0x004,
    REG_MAGIC_LO = 0x008,
    REG_MAGIC_HI = 0x00c,
    REG_SCRATCH = 0x010,
    REG_BAR2_TRAPS = 0x014,
    REG_IRQ_RAISE = 0x018,
    REG_IRQ_RESULT = 0x01c,
    REG_INTX_DEASSERT = 0x020,
    REG_RESETS = 0x024,
    REG_LAST_RESET = 0x028,
    REG_IRQ_SIGNAL = 0x02c,
    REG_MIG_FAULT = 0x030,
    REG_STALL_MS = 0x034,
    REG_CRASH = 0x038,
    REG_DMA_SRC_LO = 0x100,
    REG_DMA_SRC_HI = 0x104,
    REG_DMA_DST_LO = 0x108,
    REG_DMA_DST_HI = 0x10c,
    REG_DMA_LEN = 0x110,
    REG_DMA_OP = 0x114,
    REG_DMA_FILL = 0x118,
    REG_DMA_VECTOR = 0x11c,
    REG_DMA_GO = 0x120,
    REG_DMA_STATUS = 0x124,
    REG_DMA_COUNT = 0x128,
};

enum { DMA_FILL, DMA_COPY, DMA_TO_DEV, DMA_FROM_DEV };

#define DMA_STATUS_BUSY  (1u << 0)
#define DMA_STATUS_DONE  (1u << 1)
#define DMA_STATUS_ERROR (1u << 2)

#define MIG_FAULT_STOP   (1u << 0)
#define MIG_FAULT_RESUME (1u << 1)
#define MIG_FAULT_SAVE   (1u << 2)
#define MIG_FAULT_LOAD   (1u << 3)

#define TESTDEV_STATE_VERSION 1

/* The registers of one DMA, copied at GO. */
struct testdev_dma {
    uint64_t src, dst;
    uint32_t len, op, fill, vector;
};

struct testdev {
    /* Configuration. */
    uint64_t magic;
    unsigned dma_delay_ms;
    bool fail_realize;

    /* Registers only the device thread touches. */
    uint32_t scratch;
    uint32_t bar2_traps;
    uint32_t resets;
    uint32_t last_reset;
    uint64_t dma_src, dma_dst;
    uint32_t dma_len, dma_op, dma_fill, dma_vector;
    uint8_t *bar2; /* the daemon's shared memory */
    uint32_t mig_fault;

    /* Shared with the worker thread. */
    pthread_mutex_t lock;
    pthread_cond_t wake; /* reset: a delayed DMA stops waiting */
    bool abort;          /* reset: queued and running DMAs end without effect */
    int32_t irq_result;
    uint32_t dma_status;
    uint32_t dma_count;
    bool stopped;        /* quiesced for migration: start no DMA */
    bool parked;         /* a DMA waits for the device to run again */
    struct testdev_dma park;

    /* Device buffer: the worker's while a DMA runs, reset clears it after
     * draining. */
    uint8_t buf[TESTDEV_BUF_SIZE];
};

struct testdev_job {
    struct testdev *t;
    struct testdev_dma d;
};

static void testdev_fill_bar2(struct testdev *t)
{
    for (uint32_t o = 0; o < TESTDEV_BAR2_SIZE; o += 4) {
        uint32_t v = 0xb2000000u | o;

        for (unsigned i = 0; i < 4; i++) {
            t->bar2[o + i] = (uint8_t)(v >> (8 * i));
        }
    }
}

static uint8_t testdev_rom_byte(uint64_t o)
{
    static const char text[] = "VFIOUSERD TESTDEV ROM";

    if (o < 2) {
        return o == 0 ? 0x55 : 0xaa;
    }
    if (o < 0x20) {
        return 0;
    }
    if (o < 0x40) {
        return o - 0x20 < sizeof(text) ? (uint8_t)text[o - 0x20] : 0;
    }
    return (uint8_t)o;
}

/* Wait dma-delay-ms, or less if reset aborts or the device stops.
 * Returns true to go on. */
static bool testdev_delay(struct testdev *t)
{
    struct timespec until;
    bool go;

    clock_gettime(CLOCK_MONOTONIC, &until);
    until.tv_sec += t->dma_delay_ms / 1000;
    until.tv_nsec += (long)(t->dma_delay_ms % 1000) * 1000000;
    if (until.tv_nsec >= 1000000000) {
        until.tv_sec++;
        until.tv_nsec -= 1000000000;
    }
    pthread_mutex_lock(&t->lock);
    while (!t->abort && !t->stopped && t->dma_delay_ms > 0 &&
           pthread_cond_timedwait(&t->wake, &t->lock, &until) != ETIMEDOUT) {
        /* woken early: look at abort and stopped again */
    }
    go = !t->abort && !t->stopped;
    pthread_mutex_unlock(&t->lock);
    return go;
}

static int testdev_dma_fill(vfud_dev *dev, const struct testdev_dma *j)
{
    uint8_t *p = malloc(j->len);
    int r;

    if (p == NULL) {
        return -ENOMEM;
    }
    for (uint32_t i = 0; i < j->len; i++) {
        p[i] = (uint8_t)(j->fill >> (8 * (i % 4)));
    }
    r = vfud_dma_write(dev, j->dst, p, j->len);
    free(p);
    return r;
}

static int testdev_dma_copy(vfud_dev *dev, const struct testdev_dma *j)
{
    uint8_t *p = malloc(j->len);
    int r;

    if (p == NULL) {
        return -ENOMEM;
    }
    r = vfud_dma_read(dev, j->src, p, j->len);
    if (r == 0) {
        r = vfud_dma_write(dev, j->dst, p, j->len);
    }
    free(p);
    return r;
}

static int testdev_dma_do(vfud_dev *dev, struct testdev *t, const struct testdev_dma *j)
{
    if (j->len == 0 || j->len > TESTDEV_DMA_MAX) {
        return -EINVAL;
    }
    switch (j->op) {
    case DMA_FILL:
        return testdev_dma_fill(dev, j);
    case DMA_COPY:
        return testdev_dma_copy(dev, j);
    case DMA_TO_DEV:
        if (j->dst > TESTDEV_BUF_SIZE || j->len > TESTDEV_BUF_SIZE - j->dst) {
            return -ERANGE;
        }
        return vfud_dma_read(dev, j->src, t->buf + j->dst, j->len);
    case DMA_FROM_DEV:
        if (j->src > TESTDEV_BUF_SIZE || j->len > TESTDEV_BUF_SIZE - j->src) {
            return -ERANGE;
        }
        return vfud_dma_write(dev, j->dst, t->buf + j->src, j->len);
    default:
        return -EINVAL;
    }
}

/* On the worker thread. */
static void testdev_dma_run(vfud_dev *dev, void *opaque)
{
    struct testdev_job *j = opaque;
    struct testdev *t = j->t;
    int r = -ECANCELED;
    bool ran = false;

    if (testdev_delay(t)) {
        r = testdev_dma_do(dev, t, &j->d);
        ran = true;
    }
    pthread_mutex_lock(&t->lock);
    if (!ran && !t->abort && t->stopped) {
        /* Stopped for migration before it moved a byte: it waits, still
         * busy, for the device to run again (here or elsewhere). */
        t->parked = true;
        t->park = j->d;
    } else if (!t->abort) {
        if (r == 0) {
            t->dma_status = DMA_STATUS_DONE;
            t->dma_count++;
        } else {
            t->dma_status = DMA_STATUS_ERROR | (uint32_t)-r << 16;
            vfud_log(dev, LOG_DEBUG, "DMA op %u failed: %s", j->d.op, strerror(-r));
        }
        if (j->d.vector < TESTDEV_VECTORS) {
            t->irq_result = vfud_irq_trigger(dev, j->d.vector);
        }
    }
    pthread_mutex_unlock(&t->lock);
    free(j);
}

/* Hand a DMA to the worker. */
static void testdev_dma_submit(vfud_dev *dev, struct testdev *t,
                               const struct testdev_dma *d)
{
    struct testdev_job *j = malloc(sizeof(*j));

    if (j != NULL) {
        j->t = t;
        j->d = *d;
    }
    if (j == NULL || vfud_submit(dev, testdev_dma_run, j) < 0) {
        vfud_log(dev, LOG_ERR, "cannot start a DMA");
        free(j);
        pthread_mutex_lock(&t->lock);
        t->dma_status = DMA_STATUS_ERROR | (uint32_t)ENOMEM << 16;
        pthread_mutex_unlock(&t->lock);
    }
}

static void testdev_dma_go(vfud_dev *dev, struct testdev *t)
{
    struct testdev_dma d = {
        .src = t->dma_src, .dst = t->dma_dst, .len = t->dma_len,
        .op = t->dma_op, .fill = t->dma_fill, .vector = t->dma_vector,
    };
    bool busy, stopped;

    pthread_mutex_lock(&t->lock);
    busy = t->dma_status & DMA_STATUS_BUSY;
    stopped = t->stopped;
    if (!busy) {
        t->dma_status = DMA_STATUS_BUSY;
        if (stopped) {
            /* A stopped device starts nothing: it runs when resumed. */
            t->parked = true;
            t->park = d;
        }
    }
    pthread_mutex_unlock(&t->lock);
    if (busy) {
        vfud_log(dev, LOG_WARNING, "DMA_GO while busy: ignored");
        return;
    }
    if (!stopped) {
        testdev_dma_submit(dev, t, &d);
    }
}

static uint32_t testdev_reg_read(struct testdev *t, uint64_t reg)
{
    uint32_t v;

    switch (reg) {
    case REG_ID:         return TESTDEV_ID;
    case REG_BUF_SIZE:   return TESTDEV_BUF_SIZE;
    case REG_MAGIC_LO:   return (uint32_t)t->magic;
    case REG_MAGIC_HI:   return (uint32_t)(t->magic >> 32);
    case REG_SCRATCH:    return t->scratch;
    case REG_BAR2_TRAPS: return t->bar2_traps;
    case REG_RESETS:     return t->resets;
    case REG_LAST_RESET: return t->last_reset;
    case REG_DMA_SRC_LO: return (uint32_t)t->dma_src;
    case REG_DMA_SRC_HI: return (uint32_t)(t->dma_src >> 32);
    case REG_DMA_DST_LO: return (uint32_t)t->dma_dst;
    case REG_DMA_DST_HI: return (uint32_t)(t->dma_dst >> 32);
    case REG_DMA_LEN:    return t->dma_len;
    case REG_DMA_OP:     return t->dma_op;
    case REG_DMA_FILL:   return t->dma_fill;
    case REG_DMA_VECTOR: return t->dma_vector;
    case REG_MIG_FAULT:  return t->mig_fault;
    case REG_IRQ_RESULT:
    case REG_DMA_STATUS:
    case REG_DMA_COUNT:
        pthread_mutex_lock(&t->lock);
        v = reg == REG_IRQ_RESULT ? (uint32_t)t->irq_result
          : reg == REG_DMA_STATUS ? t->dma_status : t->dma_count;
        pthread_mutex_unlock(&t->lock);
        return v;
    default:
        return 0;
    }
}

static void testdev_reg_write(vfud_dev *dev, struct testdev *t, uint64_t reg, uint32_t v)
{
    int r;

    switch (reg) {
    case REG_SCRATCH:    t->scratch = v; break;
    case REG_DMA_SRC_LO: t->dma_src = (t->dma_src & ~0xffffffffull) | v; break;
    case REG_DMA_SRC_HI: t->dma_src = (t->dma_src & 0xffffffffull) | (uint64_t)v << 32; break;
    case REG_DMA_DST_LO: t->dma_dst = (t->dma_dst & ~0xffffffffull) | v; break;
    case REG_DMA_DST_HI: t->dma_dst = (t->dma_dst & 0xffffffffull) | (uint64_t)v << 32; break;
    case REG_DMA_LEN:    t->dma_len = v; break;
    case REG_DMA_OP:     t->dma_op = v; break;
    case REG_DMA_FILL:   t->dma_fill = v; break;
    case REG_DMA_VECTOR: t->dma_vector = v; break;
    case REG_MIG_FAULT:  t->mig_fault = v & 0xf; break;
    case REG_DMA_GO:
        if (v & 1) {
            testdev_dma_go(dev, t);
        }
        break;
    case REG_INTX_DEASSERT:
        vfud_intx_deassert(dev);
        break;
    case REG_CRASH:
        if (v == 0x0badf00du) {
            raise(SIGSEGV); /* a plugin bug, on purpose */
        }
        break;
    case REG_STALL_MS:
        /* A misbehaving callback, on purpose. */
        usleep((v < 10000u ? v : 10000u) * 1000u);
        break;
    case REG_IRQ_RAISE:
    case REG_IRQ_SIGNAL:
        if (reg == REG_IRQ_RAISE) {
            r = vfud_irq_trigger(dev, v);
        } else if (v == VFUD_IRQ_ERR || v == VFUD_IRQ_REQ) {
            r = vfud_irq_signal(dev, v);
        } else {
            r = -EINVAL;
        }
        pthread_mutex_lock(&t->lock);
        t->irq_result = r;
        pthread_mutex_unlock(&t->lock);
        break;
    default:
        break; /* read-only or unused */
    }
}

static int testdev_bar0_read(struct testdev *t, uint64_t offset, uint8_t *p, size_t len)
{
    for (size_t i = 0; i < len; i++) {
        uint64_t o = offset + i;

        p[i] = (uint8_t)(testdev_reg_read(t, o & ~3ull) >> (8 * (o & 3)));
    }
    return 0;
}

static int testdev_bar0_write(vfud_dev *dev, struct testdev *t, uint64_t offset,
                              const uint8_t *p, size_t len)
{
    if (offset % 4 != 0 || len % 4 != 0) {
        vfud_error(dev, "BAR0 write of %zu bytes at 0x%llx: registers take "
                   "aligned dwords", len, (unsigned long long)offset);
        return -EINVAL;
    }
    for (size_t i = 0; i < len; i += 4) {
        uint32_t v = p[i] | p[i + 1] << 8 | p[i + 2] << 16 | (uint32_t)p[i + 3] << 24;

        testdev_reg_write(dev, t, offset + i, v);
    }
    return 0;
}

static int testdev_create(vfud_dev *dev)
{
    struct testdev *t = calloc(1, sizeof(*t));
    pthread_condattr_t attr;

    if (t == NULL) {
        return -ENOMEM;
    }
    pthread_mutex_init(&t->lock, NULL);
    pthread_condattr_init(&attr);
    pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
    pthread_cond_init(&t->wake, &attr);
    pthread_condattr_destroy(&attr);
    t->dma_vector = 0xffffffffu;
    vfud_set_private(dev, t);
    return 0;
}

static void testdev_destroy(vfud_dev *dev)
{
    struct testdev *t = vfud_get_private(dev);

    if (t == NULL) {
        return;
    }
    /* No DMA may outlive the state it writes to. */
    pthread_mutex_lock(&t->lock);
    t->abort = true;
    pthread_cond_broadcast(&t->wake);
    pthread_mutex_unlock(&t->lock);
    vfud_submit_drain(dev);
    pthread_cond_destroy(&t->wake);
    pthread_mutex_destroy(&t->lock);
    free(t);
}

static int testdev_config(vfud_dev *dev, const char *key, const char *value)
{
    struct testdev *t = vfud_get_private(dev);
    uint64_t n;

    if (strcmp(key, "magic") == 0) {
        if (vfud_parse_u64(value, &t->magic) < 0) {
            vfud_error(dev, "magic: expected a 64-bit number, not \"%s\"", value);
            return -EINVAL;
        }
    } else if (strcmp(key, "dma-delay-ms") == 0) {
        if (vfud_parse_u64(value, &n) < 0 || n > 60000) {
            vfud_error(dev, "dma-delay-ms: expected 0..60000, not \"%s\"", value);
            return -EINVAL;
        }
        t->dma_delay_ms = (unsigned)n;
    } else if (strcmp(key, "fail-realize") == 0) {
        if (vfud_parse_bool(value, &t->fail_realize) < 0) {
            vfud_error(dev, "fail-realize: expected a boolean, not \"%s\"", value);
            return -EINVAL;
        }
    } else {
        vfud_error(dev, "unknown key %s", key);
        return -EINVAL;
    }
    return 0;
}

static int testdev_realize(vfud_dev *dev)
{
    static const uint8_t vendor_cap[] = { 'T', 'E', 'S', 'T', 'D', 'E', 'V', 0x01 };
    static const struct vfud_mmap_area bar2_areas[] = {
        { .offset = 0x0000, .size = 0x4000 },
        { .offset = 0xc000, .size = 0x4000 },
    };
    static const struct vfud_pci_id id = {
        .vendor_id = 0xfffd, .device_id = 0x0001,
        .subsys_vendor_id = 0xfffd, .subsys_id = 0x0001,
        .class_code = 0xff0000, .revision = 1,
    };
    struct testdev *t = vfud_get_private(dev);
    int r;

    if (t->fail_realize) {
        vfud_error(dev, "failing on purpose (fail-realize is set)");
        return -EIO;
    }
    if ((r = vfud_pci_init(dev, VFUD_PCI_EXPRESS, &id)) < 0 ||
        (r = vfud_pci_add_cap_pm(dev)) < 0 ||
        (r = vfud_pci_add_cap_msix(dev, TESTDEV_VECTORS, VFUD_REGION_BAR4, 0x000,
                                   VFUD_REGION_BAR4, 0x800)) < 0 ||
        (r = vfud_pci_add_cap_express(dev, VFUD_PCIE_FLR)) < 0 ||
        (r = vfud_pci_add_cap_vendor(dev, vendor_cap, sizeof(vendor_cap))) < 0 ||
        (r = vfud_pci_add_ext_cap_dsn(dev, t->magic)) < 0) {
        return r;
    }
    if ((r = vfud_region_add(dev, VFUD_REGION_BAR0, TESTDEV_BAR0_SIZE, VFUD_REGION_RW)) < 0 ||
        (r = vfud_region_add(dev, VFUD_REGION_BAR2, TESTDEV_BAR2_SIZE,
                             VFUD_REGION_RW | VFUD_REGION_64BIT | VFUD_REGION_PREFETCH)) < 0 ||
        (r = vfud_region_add(dev, VFUD_REGION_BAR4, TESTDEV_BAR4_SIZE, VFUD_REGION_RW)) < 0 ||
        (r = vfud_region_add(dev, VFUD_REGION_ROM, TESTDEV_ROM_SIZE, VFUD_REGION_READ)) < 0) {
        return r;
    }
    t->bar2 = vfud_region_alloc_mmap(dev, VFUD_REGION_BAR2, bar2_areas, 2);
    if (t->bar2 == NULL) {
        r = -errno;
        vfud_error(dev, "BAR2 memory: %s", strerror(errno));
        return r;
    }
    testdev_fill_bar2(t);
    if ((r = vfud_irq_setup(dev, VFUD_IRQ_INTX, 1)) < 0 ||
        (r = vfud_irq_setup(dev, VFUD_IRQ_ERR, 1)) < 0 ||
        (r = vfud_irq_setup(dev, VFUD_IRQ_REQ, 1)) < 0) {
        return r;
    }
    return 0;
}

static int testdev_reset(vfud_dev *dev, enum vfud_reset_reason why)
{
    struct testdev *t = vfud_get_private(dev);

    /* Stop what runs, let what is queued fall through, then clear. */
    pthread_mutex_lock(&t->lock);
    t->abort = true;
    pthread_cond_broadcast(&t->wake);
    pthread_mutex_unlock(&t->lock);
    vfud_submit_drain(dev);

    pthread_mutex_lock(&t->lock);
    t->abort = false;
    t->irq_result = 0;
    t->dma_status = 0;
    t->dma_count = 0;
    t->parked = false;
    pthread_mutex_unlock(&t->lock);
    t->mig_fault = 0;

    t->scratch = 0;
    t->bar2_traps = 0;
    t->resets++;
    t->last_reset = (uint32_t)why + 1;
    t->dma_src = t->dma_dst = 0;
    t->dma_len = t->dma_op = t->dma_fill = 0;
    t->dma_vector = 0xffffffffu;
    memset(t->buf, 0, sizeof(t->buf));
    testdev_fill_bar2(t);
    vfud_intx_deassert(dev);
    return 0;
}

static int testdev_region_read(vfud_dev *dev, unsigned region, uint64_t offset,
                               void *buf, size_t len)
{
    struct testdev *t = vfud_get_private(dev);
    uint8_t *p = buf;

    switch (region) {
    case VFUD_REGION_BAR0:
        return testdev_bar0_read(t, offset, p, len);
    case VFUD_REGION_BAR2:
        t->bar2_traps++;
        memcpy(p, t->bar2 + offset, len);
        return 0;
    case VFUD_REGION_ROM:
        for (size_t i = 0; i < len; i++) {
            p[i] = testdev_rom_byte(offset + i);
        }
        return 0;
    default:
        vfud_log(dev, LOG_DEBUG, "read of region %u at 0x%llx reached the plugin",
                 region, (unsigned long long)offset);
        memset(p, 0, len);
        return 0;
    }
}

static int testdev_region_write(vfud_dev *dev, unsigned region, uint64_t offset,
                                const void *buf, size_t len)
{
    struct testdev *t = vfud_get_private(dev);

    switch (region) {
    case VFUD_REGION_BAR0:
        return testdev_bar0_write(dev, t, offset, buf, len);
    case VFUD_REGION_BAR2:
        t->bar2_traps++;
        memcpy(t->bar2 + offset, buf, len);
        return 0;
    case VFUD_REGION_ROM:
        vfud_error(dev, "the expansion ROM is read-only");
        return -EROFS;
    default:
        vfud_log(dev, LOG_DEBUG, "write to region %u at 0x%llx reached the plugin",
                 region, (unsigned long long)offset);
        return 0;
    }
}

/* ---- Migration ---- */

/* State version 1: 24 little-endian dwords (registers, engine, parked
 * DMA; 64-bit values as two), then the device buffer. */
#define TESTDEV_STATE_WORDS 24u
#define TESTDEV_STATE_SIZE (TESTDEV_STATE_WORDS * 4u + TESTDEV_BUF_SIZE)

static void put_le32(uint8_t *p, uint32_t v)
{
    for (unsigned i = 0; i < 4; i++) {
        p[i] = (uint8_t)(v >> (8 * i));
    }
}

static uint32_t get_le32(const uint8_t *p)
{
    return p[0] | p[1] << 8 | p[2] << 16 | (uint32_t)p[3] << 24;
}

static int testdev_quiesce(vfud_dev *dev, bool stop)
{
    struct testdev *t = vfud_get_private(dev);
    struct testdev_dma d;
    bool parked;

    if (t->mig_fault & (stop ? MIG_FAULT_STOP : MIG_FAULT_RESUME)) {
        vfud_error(dev, "MIG_FAULT asks %s to fail", stop ? "stopping" : "resuming");
        return -EIO;
    }
    pthread_mutex_lock(&t->lock);
    t->stopped = stop;
    /* A DMA waiting out its delay gives up now and parks. */
    pthread_cond_broadcast(&t->wake);
    parked = !stop && t->parked;
    d = t->park;
    if (parked) {
        t->parked = false;
    }
    pthread_mutex_unlock(&t->lock);
    if (parked) {
        testdev_dma_submit(dev, t, &d);
    }
    return 0;
}

static int testdev_save_state(vfud_dev *dev, vfud_mig_stream *out)
{
    struct testdev *t = vfud_get_private(dev);
    uint8_t head[TESTDEV_STATE_WORDS * 4];
    int r;

    if (t->mig_fault & MIG_FAULT_SAVE) {
        vfud_error(dev, "MIG_FAULT asks saving to fail");
        return -EIO;
    }
    pthread_mutex_lock(&t->lock);
    const uint32_t w[TESTDEV_STATE_WORDS] = {
        t->scratch, t->bar2_traps, t->resets, t->last_reset,
        (uint32_t)t->dma_src, (uint32_t)(t->dma_src >> 32),
        (uint32_t)t->dma_dst, (uint32_t)(t->dma_dst >> 32),
        t->dma_len, t->dma_op, t->dma_fill, t->dma_vector,
        (uint32_t)t->irq_result, t->dma_status, t->dma_count, t->parked,
        (uint32_t)t->park.src, (uint32_t)(t->park.src >> 32),
        (uint32_t)t->park.dst, (uint32_t)(t->park.dst >> 32),
        t->park.len, t->park.op, t->park.fill, t->park.vector,
    };
    pthread_mutex_unlock(&t->lock);
    for (unsigned i = 0; i < TESTDEV_STATE_WORDS; i++) {
        put_le32(head + 4 * i, w[i]);
    }
    r = vfud_mig_write(out, head, sizeof(head));
    if (r == 0) {
        /* Stopped: the worker is idle and nothing touches the buffer. */
        r = vfud_mig_write(out, t->buf, sizeof(t->buf));
    }
    return r;
}

static int testdev_load_state(vfud_dev *dev, uint32_t version, const void *data,
                              size_t len)
{
    struct testdev *t = vfud_get_private(dev);
    const uint8_t *p = data;
    uint32_t w[TESTDEV_STATE_WORDS];

    if (t->mig_fault & MIG_FAULT_LOAD) {
        vfud_error(dev, "MIG_FAULT asks loading to fail");
        return -EIO;
    }
    if (version != 1 || len != TESTDEV_STATE_SIZE) {
        vfud_error(dev, "state version %u of %zu bytes; version 1 has %u", version,
                   len, TESTDEV_STATE_SIZE);
        return -EINVAL;
    }
    for (unsigned i = 0; i < TESTDEV_STATE_WORDS; i++) {
        w[i] = get_le32(p + 4 * i);
    }
    /* A parked DMA is what keeps the engine busy, and only that. */
    if (w[15] > 1 || ((w[13] & DMA_STATUS_BUSY) != 0) != (w[15] == 1)) {
        vfud_error(dev, "inconsistent DMA engine state (status %#x, parked %u)",
                   w[13], w[15]);
        return -EINVAL;
    }
    t->scratch = w[0];
    t->bar2_traps = w[1];
    t->resets = w[2];
    t->last_reset = w[3];
    t->dma_src = w[4] | (uint64_t)w[5] << 32;
    t->dma_dst = w[6] | (uint64_t)w[7] << 32;
    t->dma_len = w[8];
    t->dma_op = w[9];
    t->dma_fill = w[10];
    t->dma_vector = w[11];
    pthread_mutex_lock(&t->lock);
    t->irq_result = (int32_t)w[12];
    t->dma_status = w[13];
    t->dma_count = w[14];
    t->parked = w[15] == 1;
    t->park = (struct testdev_dma){
        .src = w[16] | (uint64_t)w[17] << 32, .dst = w[18] | (uint64_t)w[19] << 32,
        .len = w[20], .op = w[21], .fill = w[22], .vector = w[23],
    };
    pthread_mutex_unlock(&t->lock);
    memcpy(t->buf, p + TESTDEV_STATE_WORDS * 4, TESTDEV_BUF_SIZE);
    return 0;
}

/* Nothing to drop (see the top of the file); logged so tests can see it. */
static void testdev_dma_unmap(vfud_dev *dev, uint64_t iova, uint64_t len)
{
    vfud_log(dev, LOG_DEBUG, "dma_unmap 0x%llx+0x%llx",
             (unsigned long long)iova, (unsigned long long)len);
}

static const struct vfud_config_key testdev_config_keys[] = {
    { "magic", "64-bit value shown in MAGIC_LO/HI and the serial number (default 0)" },
    { "dma-delay-ms", "wait this long before each DMA (default 0, max 60000)" },
    { "fail-realize", "make realize fail, to test error handling (default false)" },
    { NULL, NULL },
};

static struct vfud_plugin testdev_plugin = {
    .name = "testdev",
    .version = PACKAGE_VERSION,
    .description = "test device: registers, DMA engine, MSI-X, sparse mmap, ROM",
    .config_keys = testdev_config_keys,
    .create = testdev_create,
    .config = testdev_config,
    .realize = testdev_realize,
    .destroy = testdev_destroy,
    .reset = testdev_reset,
    .region_read = testdev_region_read,
    .region_write = testdev_region_write,
    .dma_unmap = testdev_dma_unmap,
    .state_version = TESTDEV_STATE_VERSION,
    .quiesce = testdev_quiesce,
    .save_state = testdev_save_state,
    .load_state = testdev_load_state,
};

VFUD_REGISTER_PLUGIN(testdev_plugin)
