/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * vfu-testdev: guest side of the testdev end-to-end tests (runs inside the
 * lab guest, linked statically).  No driver binds to testdev, so this
 * program is its driver, through sysfs:
 *
 *   vfu-testdev [--device ID] [--magic N] dma     identity, BAR2 sparse mmap,
 *                                                 DMA + MSI-X
 *   vfu-testdev [--device ID] [--magic N] reset   the same, then a reset
 *                                   through /sys/bus/pci/devices/BDF/reset,
 *                                   checks of the state after it, DMA +
 *                                   MSI-X again
 *
 * The register map is the one at the top of plugins/testdev/testdev.c.
 * --device picks another device id of vendor fffd with that interface
 * (the python plugin's dmaengine.py is fffd:0002); the default is 0x0001.
 *
 * MSI-X without an interrupt handler: QEMU emulates the vector table and
 * delivers a vector by writing the entry's data to the entry's address
 * through the device's bus-master address space.  Each entry points at a
 * dword of a locked RAM page of ours, so a vector that fires shows up as
 * its data in that dword.  DMA targets are locked pages too, addressed by
 * their physical address from /proc/self/pagemap (no IOMMU in the guest).
 *
 * Prints what it checks; exits 0 when everything held, 1 on the first
 * failure.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#define PAGE 4096u

/* BAR0 registers */
#define REG_ID         0x000
#define REG_BUF_SIZE   0x004
#define REG_MAGIC_LO   0x008
#define REG_MAGIC_HI   0x00c
#define REG_SCRATCH    0x010
#define REG_BAR2_TRAPS 0x014
#define REG_IRQ_RESULT 0x01c
#define REG_RESETS     0x024
#define REG_LAST_RESET 0x028
#define REG_DMA_SRC_LO 0x100
#define REG_DMA_SRC_HI 0x104
#define REG_DMA_DST_LO 0x108
#define REG_DMA_DST_HI 0x10c
#define REG_DMA_LEN    0x110
#define REG_DMA_OP     0x114
#define REG_DMA_FILL   0x118
#define REG_DMA_VECTOR 0x11c
#define REG_DMA_GO     0x120
#define REG_DMA_STATUS 0x124
#define REG_DMA_COUNT  0x128

#define TESTDEV_ID       0x7e57de01u
#define TESTDEV_BUF_SIZE 65536u
#define BAR0_SIZE        4096u
#define BAR2_SIZE        65536u

enum { DMA_FILL, DMA_COPY, DMA_TO_DEV, DMA_FROM_DEV };

#define DMA_STATUS_BUSY  (1u << 0)
#define DMA_STATUS_DONE  (1u << 1)
#define DMA_STATUS_ERROR (1u << 2)

/* LAST_RESET: enum vfud_reset_reason + 1 */
#define LAST_RESET_DEVICE 1
#define LAST_RESET_FLR    2

/* PCI configuration space */
#define PCI_COMMAND          0x04
#define PCI_COMMAND_MEMORY   0x2
#define PCI_COMMAND_MASTER   0x4
#define PCI_STATUS           0x06
#define PCI_STATUS_CAP_LIST  0x10
#define PCI_CAP_PTR          0x34
#define PCI_CAP_ID_MSIX      0x11
#define MSIX_CTRL_ENABLE     0x8000
#define MSIX_CTRL_MASKALL    0x4000
#define MSIX_ENTRY_SIZE      16
#define MSIX_ENTRY_CTRL_MASK 0x1

#define WAIT_MS (120 * 1000) /* per DMA: TCG on a loaded machine */

/* A locked page of guest RAM and its physical (= bus) address. */
struct page {
    volatile uint8_t *p;
    uint64_t phys;
};

struct td {
    char bdf[NAME_MAX + 1];
    char dir[PATH_MAX];
    int cfg;                 /* the config file */
    volatile uint32_t *bar0;
    volatile uint32_t *bar2;
    volatile uint32_t *msix; /* vector table */
    unsigned msix_cap;
    unsigned vectors;
    struct page msi;         /* vector v writes its data at offset 16 * v */
    unsigned dmas;           /* successful DMAs since the last reset */
};

static void fail(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));

static void fail(const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    fputs("vfu-testdev: FAIL: ", stdout);
    vprintf(fmt, ap);
    putchar('\n');
    va_end(ap);
    exit(1);
}

static void say(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static void say(const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    fputs("vfu-testdev: ", stdout);
    vprintf(fmt, ap);
    putchar('\n');
    va_end(ap);
}

static int64_t now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static bool read_text(const char *path, char *buf, size_t size)
{
    FILE *f = fopen(path, "r");
    bool ok;

    if (f == NULL) {
        return false;
    }
    ok = fgets(buf, (int)size, f) != NULL;
    fclose(f);
    buf[strcspn(buf, "\n")] = '\0';
    return ok;
}

static void write_text(const char *path, const char *text)
{
    int fd = open(path, O_WRONLY | O_CLOEXEC);

    if (fd < 0) {
        fail("%s: %s", path, strerror(errno));
    }
    if (write(fd, text, strlen(text)) != (ssize_t)strlen(text)) {
        fail("write %s to %s: %s", text, path, strerror(errno));
    }
    close(fd);
}

/* ---- configuration space, through sysfs ---------------------------------- */

static uint32_t cfg_read(struct td *td, unsigned off, unsigned size)
{
    uint8_t b[4] = { 0 };

    if (pread(td->cfg, b, size, off) != (ssize_t)size) {
        fail("config read at 0x%x: %s", off, strerror(errno));
    }
    return b[0] | b[1] << 8 | b[2] << 16 | (uint32_t)b[3] << 24;
}

static void cfg_write16(struct td *td, unsigned off, uint16_t v)
{
    uint8_t b[2] = { (uint8_t)v, (uint8_t)(v >> 8) };

    if (pwrite(td->cfg, b, 2, off) != 2) {
        fail("config write at 0x%x: %s", off, strerror(errno));
    }
}

static unsigned cfg_find_cap(struct td *td, unsigned id)
{
    unsigned pos, guard = 0;

    if (!(cfg_read(td, PCI_STATUS, 2) & PCI_STATUS_CAP_LIST)) {
        return 0;
    }
    for (pos = cfg_read(td, PCI_CAP_PTR, 1) & ~3u; pos >= 0x40 && guard < 48;
         pos = cfg_read(td, pos + 1, 1) & ~3u, guard++) {
        if (cfg_read(td, pos, 1) == id) {
            return pos;
        }
    }
    return 0;
}

/* ---- memory ------------------------------------------------------------- */

static uint64_t phys_of(volatile void *va)
{
    uint64_t entry;
    int fd = open("/proc/self/pagemap", O_RDONLY | O_CLOEXEC);
    off_t off = (off_t)((uintptr_t)va / PAGE * sizeof(entry));

    if (fd < 0 || pread(fd, &entry, sizeof(entry), off) != sizeof(entry)) {
        fail("/proc/self/pagemap: %s", strerror(errno));
    }
    close(fd);
    if (!(entry & (1ull << 63)) || (entry & ((1ull << 55) - 1)) == 0) {
        fail("page %p is not present (pagemap entry 0x%016" PRIx64 ")", va, entry);
    }
    return (entry & ((1ull << 55) - 1)) * PAGE + (uintptr_t)va % PAGE;
}

static struct page page_alloc(void)
{
    struct page pg;
    void *p = mmap(NULL, PAGE, PROT_READ | PROT_WRITE,
                   MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE, -1, 0);

    if (p == MAP_FAILED || mlock(p, PAGE) < 0) {
        fail("locked page: %s", strerror(errno));
    }
    memset(p, 0, PAGE);
    pg.p = p;
    pg.phys = phys_of(p);
    return pg;
}

static volatile uint32_t *map_bar(struct td *td, unsigned bar, size_t size)
{
    char path[PATH_MAX + 16];
    void *p;
    int fd;

    snprintf(path, sizeof(path), "%s/resource%u", td->dir, bar);
    fd = open(path, O_RDWR | O_SYNC | O_CLOEXEC);
    if (fd < 0) {
        fail("%s: %s", path, strerror(errno));
    }
    p = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    if (p == MAP_FAILED) {
        fail("mmap %s: %s", path, strerror(errno));
    }
    close(fd);
    return p;
}

/* ---- the device --------------------------------------------------------- */

static uint32_t rd(struct td *td, unsigned reg)
{
    return td->bar0[reg / 4];
}

static void wr(struct td *td, unsigned reg, uint32_t v)
{
    td->bar0[reg / 4] = v;
}

static const char *want_device = "0x0001";

static void td_find(struct td *td)
{
    DIR *d = opendir("/sys/bus/pci/devices");
    struct dirent *e;
    char path[PATH_MAX], vendor[16], device[16];

    if (d == NULL) {
        fail("/sys/bus/pci/devices: %s", strerror(errno));
    }
    while ((e = readdir(d)) != NULL) {
        if (e->d_name[0] == '.') {
            continue;
        }
        snprintf(path, sizeof(path), "/sys/bus/pci/devices/%s/vendor", e->d_name);
        if (!read_text(path, vendor, sizeof(vendor))) {
            continue;
        }
        snprintf(path, sizeof(path), "/sys/bus/pci/devices/%s/device", e->d_name);
        if (!read_text(path, device, sizeof(device))) {
            continue;
        }
        if (strcmp(vendor, "0xfffd") == 0 && strcmp(device, want_device) == 0) {
            snprintf(td->bdf, sizeof(td->bdf), "%s", e->d_name);
            snprintf(td->dir, sizeof(td->dir), "/sys/bus/pci/devices/%s", e->d_name);
            closedir(d);
            return;
        }
    }
    closedir(d);
    fail("no PCI device fffd:%s", want_device + 2);
}

/* Memory decoding through the kernel, Bus Master by hand: both are what a
 * driver's pci_enable_device() + pci_set_master() would do. */
static void td_enable(struct td *td, bool master)
{
    uint16_t cmd = (uint16_t)cfg_read(td, PCI_COMMAND, 2);

    cmd |= PCI_COMMAND_MEMORY;
    cmd = master ? cmd | PCI_COMMAND_MASTER : cmd & ~PCI_COMMAND_MASTER;
    cfg_write16(td, PCI_COMMAND, cmd);
}

static void td_open(struct td *td)
{
    char path[PATH_MAX + 16];

    td_find(td);
    snprintf(path, sizeof(path), "%s/enable", td->dir);
    write_text(path, "1");
    snprintf(path, sizeof(path), "%s/config", td->dir);
    td->cfg = open(path, O_RDWR | O_CLOEXEC);
    if (td->cfg < 0) {
        fail("%s: %s", path, strerror(errno));
    }
    td_enable(td, true);
    td->bar0 = map_bar(td, 0, BAR0_SIZE);
    td->bar2 = map_bar(td, 2, BAR2_SIZE);
    td->msi = page_alloc();
    say("%s: command 0x%04x, MSI landing page at 0x%" PRIx64, td->bdf,
        cfg_read(td, PCI_COMMAND, 2), td->msi.phys);
}

static void td_check_identity(struct td *td, bool check_magic, uint64_t magic)
{
    uint64_t got = rd(td, REG_MAGIC_LO) | (uint64_t)rd(td, REG_MAGIC_HI) << 32;

    if (rd(td, REG_ID) != TESTDEV_ID) {
        fail("ID reads 0x%08x", rd(td, REG_ID));
    }
    if (rd(td, REG_BUF_SIZE) != TESTDEV_BUF_SIZE) {
        fail("BUF_SIZE reads 0x%08x", rd(td, REG_BUF_SIZE));
    }
    if (check_magic && got != magic) {
        fail("MAGIC reads 0x%016" PRIx64 ", configured 0x%016" PRIx64, got, magic);
    }
    say("BAR0: ID 0x%08x, magic 0x%016" PRIx64 ", resets %u", rd(td, REG_ID), got,
        rd(td, REG_RESETS));
}

static uint32_t bar2_word(unsigned off)
{
    return 0xb2000000u | off;
}

/* BAR2: 0x0000-0x3fff and 0xc000-0xffff are mmapped by QEMU, so guest
 * accesses there never reach the plugin; 0x4000-0xbfff is trapped and
 * every access there is counted in BAR2_TRAPS. */
static void td_check_bar2(struct td *td)
{
    static const unsigned trapped[] = { 0x4000, 0x8000, 0xbffc };
    uint32_t t0 = rd(td, REG_BAR2_TRAPS), t1, t2;
    unsigned n = 0;

    for (unsigned off = 0; off < BAR2_SIZE; off += 4) {
        if (off >= 0x4000 && off < 0xc000) {
            continue;
        }
        if (td->bar2[off / 4] != bar2_word(off)) {
            fail("BAR2 0x%04x reads 0x%08x, expected 0x%08x", off,
                 td->bar2[off / 4], bar2_word(off));
        }
        n++;
    }
    t1 = rd(td, REG_BAR2_TRAPS);
    if (t1 != t0) {
        fail("%u mmapped BAR2 reads reached the plugin: BAR2_TRAPS %u -> %u", n, t0, t1);
    }
    say("BAR2: %u dwords read through the sparse mmap, pattern ok, "
        "BAR2_TRAPS stays %u (no message)", n, t1);

    for (unsigned i = 0; i < sizeof(trapped) / sizeof(trapped[0]); i++) {
        unsigned off = trapped[i];

        if (td->bar2[off / 4] != bar2_word(off)) {
            fail("BAR2 0x%04x (trapped) reads 0x%08x, expected 0x%08x", off,
                 td->bar2[off / 4], bar2_word(off));
        }
    }
    t2 = rd(td, REG_BAR2_TRAPS);
    if (t2 != t1 + 3) {
        fail("3 trapped BAR2 reads: BAR2_TRAPS %u -> %u", t1, t2);
    }
    say("BAR2: 3 reads in the trapped middle, pattern ok, BAR2_TRAPS %u -> %u", t1, t2);

    /* A write through the mapping lands in the daemon's memory and reads
     * back, still without a message. */
    td->bar2[0x100 / 4] = 0x5eed1e55;
    if (td->bar2[0x100 / 4] != 0x5eed1e55 || rd(td, REG_BAR2_TRAPS) != t2) {
        fail("BAR2 write through the mmap: reads 0x%08x, BAR2_TRAPS %u",
             td->bar2[0x100 / 4], rd(td, REG_BAR2_TRAPS));
    }
}

/* Program every vector to write 0x4d580000 | v at msi + 16 * v, unmasked,
 * the way Linux does it: enable with all vectors masked, fill the table,
 * then unmask the function. */
static void td_msix_setup(struct td *td)
{
    uint16_t ctrl;
    uint32_t table;
    unsigned bar;

    td->msix_cap = cfg_find_cap(td, PCI_CAP_ID_MSIX);
    if (td->msix_cap == 0) {
        fail("no MSI-X capability");
    }
    ctrl = (uint16_t)cfg_read(td, td->msix_cap + 2, 2);
    table = cfg_read(td, td->msix_cap + 4, 4);
    td->vectors = (ctrl & 0x7ff) + 1u;
    bar = table & 7;
    if (td->msix == NULL) {
        td->msix = map_bar(td, bar, PAGE) + (table & ~7u) / 4;
    }
    cfg_write16(td, td->msix_cap + 2, ctrl | MSIX_CTRL_ENABLE | MSIX_CTRL_MASKALL);
    for (unsigned v = 0; v < td->vectors; v++) {
        volatile uint32_t *e = td->msix + v * MSIX_ENTRY_SIZE / 4;
        uint64_t addr = td->msi.phys + 16 * v;

        e[0] = (uint32_t)addr;
        e[1] = (uint32_t)(addr >> 32);
        e[2] = 0x4d580000u | v;
        e[3] &= ~MSIX_ENTRY_CTRL_MASK;
    }
    cfg_write16(td, td->msix_cap + 2, (ctrl | MSIX_CTRL_ENABLE) & ~MSIX_CTRL_MASKALL);
    say("MSI-X: capability at 0x%02x, %u vectors, table in BAR%u+0x%x, "
        "control 0x%04x -> 0x%04x", td->msix_cap, td->vectors, bar, table & ~7u, ctrl,
        cfg_read(td, td->msix_cap + 2, 2));
}

static volatile uint32_t *msi_slot(struct td *td, unsigned v)
{
    return (volatile uint32_t *)(td->msi.p + 16 * v);
}

static void td_dma_start(struct td *td, uint32_t op, uint64_t src, uint64_t dst,
                         uint32_t len, uint32_t fill, uint32_t vector)
{
    wr(td, REG_DMA_SRC_LO, (uint32_t)src);
    wr(td, REG_DMA_SRC_HI, (uint32_t)(src >> 32));
    wr(td, REG_DMA_DST_LO, (uint32_t)dst);
    wr(td, REG_DMA_DST_HI, (uint32_t)(dst >> 32));
    wr(td, REG_DMA_LEN, len);
    wr(td, REG_DMA_OP, op);
    wr(td, REG_DMA_FILL, fill);
    wr(td, REG_DMA_VECTOR, vector);
    wr(td, REG_DMA_GO, 1);
}

/* Run one DMA that raises vector v at its end, wait for that vector to
 * arrive in RAM, and return DMA_STATUS. */
static uint32_t td_dma(struct td *td, const char *what, uint32_t op, uint64_t src,
                       uint64_t dst, uint32_t len, uint32_t fill, unsigned v)
{
    volatile uint32_t *slot = msi_slot(td, v);
    int64_t start = now_ms();
    uint32_t status;

    *slot = 0;
    td_dma_start(td, op, src, dst, len, fill, v);
    while (*slot != (0x4d580000u | v)) {
        if (now_ms() - start > WAIT_MS) {
            fail("%s: no MSI-X vector %u after %d s (DMA_STATUS 0x%08x, "
                 "IRQ_RESULT %d, slot 0x%08x)", what, v, WAIT_MS / 1000,
                 rd(td, REG_DMA_STATUS), (int32_t)rd(td, REG_IRQ_RESULT), *slot);
        }
        usleep(1000);
    }
    status = rd(td, REG_DMA_STATUS);
    if ((int32_t)rd(td, REG_IRQ_RESULT) != 0) {
        fail("%s: IRQ_RESULT %d", what, (int32_t)rd(td, REG_IRQ_RESULT));
    }
    say("%s: MSI-X vector %u arrived after %lld ms, DMA_STATUS 0x%08x", what, v,
        (long long)(now_ms() - start), status);
    return status;
}

static void td_dma_ok(struct td *td, const char *what, uint32_t op, uint64_t src,
                      uint64_t dst, uint32_t len, uint32_t fill, unsigned v)
{
    uint32_t status = td_dma(td, what, op, src, dst, len, fill, v);

    if (status != DMA_STATUS_DONE) {
        fail("%s: DMA_STATUS 0x%08x, expected done (errno %u)", what, status,
             status >> 16);
    }
    td->dmas++;
}

static void check_bytes(const char *what, volatile const uint8_t *got,
                        const uint8_t *want, size_t len)
{
    for (size_t i = 0; i < len; i++) {
        if (got[i] != want[i]) {
            fail("%s: byte %zu is 0x%02x, expected 0x%02x", what, i, got[i], want[i]);
        }
    }
}

static void td_check_dma(struct td *td, unsigned round)
{
    struct page a = page_alloc(), b = page_alloc(), c = page_alloc();
    uint8_t want[PAGE], *src = malloc(PAGE);
    uint32_t fill = 0xa5c3e10fu ^ round, status;

    if (src == NULL) {
        fail("out of memory");
    }
    srand(round + 1);
    for (unsigned i = 0; i < PAGE; i++) {
        src[i] = (uint8_t)rand();
    }

    /* FILL a whole page. */
    td_dma_ok(td, "DMA FILL 4096", DMA_FILL, 0, a.phys, PAGE, fill, 0);
    for (unsigned i = 0; i < PAGE; i++) {
        want[i] = (uint8_t)(fill >> (8 * (i % 4)));
    }
    check_bytes("FILL", a.p, want, PAGE);

    /* COPY a page, then an odd-sized piece between odd offsets: the bytes
     * around the target must stay as they were. */
    memcpy((void *)b.p, src, PAGE);
    td_dma_ok(td, "DMA COPY 4096", DMA_COPY, b.phys, c.phys, PAGE, 0, 1);
    check_bytes("COPY", c.p, src, PAGE);
    memset((void *)a.p, 0xee, PAGE);
    memset(want, 0xee, PAGE);
    memcpy(want + 1001, src + 3, 1500);
    td_dma_ok(td, "DMA COPY 1500 unaligned", DMA_COPY, b.phys + 3, a.phys + 1001,
              1500, 0, 2);
    check_bytes("unaligned COPY", a.p, want, PAGE);

    /* Through the device buffer and back. */
    memset((void *)c.p, 0, PAGE);
    td_dma_ok(td, "DMA TO_DEV 4096", DMA_TO_DEV, b.phys, 0x1230, PAGE, 0, 3);
    td_dma_ok(td, "DMA FROM_DEV 4096", DMA_FROM_DEV, 0x1230, c.phys, PAGE, 0, 0);
    check_bytes("TO_DEV + FROM_DEV", c.p, src, PAGE);
    say("DMA: FILL, COPY, unaligned COPY, TO_DEV/FROM_DEV data ok");

    /* A DMA nobody mapped fails, and still raises its vector. */
    status = td_dma(td, "DMA FILL to unmapped 0x7f00000000", DMA_FILL, 0,
                    0x7f00000000ull, 64, fill, 1);
    if (!(status & DMA_STATUS_ERROR) || (status >> 16) != EFAULT) {
        fail("DMA to unmapped memory: DMA_STATUS 0x%08x, expected error EFAULT", status);
    }

    if (rd(td, REG_DMA_COUNT) != td->dmas) {
        fail("DMA_COUNT %u, expected %u", rd(td, REG_DMA_COUNT), td->dmas);
    }
    say("DMA: DMA_COUNT %u", td->dmas);
    free(src);
    munmap((void *)a.p, PAGE);
    munmap((void *)b.p, PAGE);
    munmap((void *)c.p, PAGE);
}

/* Without Bus Master the device must not reach memory (and QEMU drops the
 * MSI-X write too, so poll the status). */
static void td_check_no_master(struct td *td)
{
    struct page a = page_alloc();
    int64_t start = now_ms();
    uint32_t status;

    memset((void *)a.p, 0x11, PAGE);
    td_enable(td, false);
    td_dma_start(td, DMA_FILL, 0, a.phys, PAGE, 0x22222222, 0xffffffffu);
    while ((status = rd(td, REG_DMA_STATUS)) & DMA_STATUS_BUSY) {
        if (now_ms() - start > WAIT_MS) {
            fail("DMA without Bus Master never ended");
        }
        usleep(1000);
    }
    td_enable(td, true);
    if (!(status & DMA_STATUS_ERROR) || (status >> 16) != EPERM) {
        fail("DMA without Bus Master: DMA_STATUS 0x%08x, expected error EPERM", status);
    }
    for (unsigned i = 0; i < PAGE; i++) {
        if (a.p[i] != 0x11) {
            fail("DMA without Bus Master changed memory at byte %u", i);
        }
    }
    say("DMA without Bus Master refused: DMA_STATUS 0x%08x (EPERM), memory untouched",
        status);
    munmap((void *)a.p, PAGE);
}

static void td_check_reset(struct td *td)
{
    char path[PATH_MAX + 16], method[128];
    uint32_t resets = rd(td, REG_RESETS), last;
    uint16_t cmd;

    snprintf(path, sizeof(path), "%s/reset_method", td->dir);
    if (!read_text(path, method, sizeof(method))) {
        snprintf(method, sizeof(method), "(unreadable: %s)", strerror(errno));
    }
    wr(td, REG_SCRATCH, 0x5c7a7c11);
    if (rd(td, REG_SCRATCH) != 0x5c7a7c11) {
        fail("SCRATCH reads 0x%08x after writing 0x5c7a7c11", rd(td, REG_SCRATCH));
    }
    td->bar2[0x200 / 4] = 0xdeadbeef;
    say("reset: reset_method \"%s\", RESETS %u, SCRATCH 0x%08x; writing 1 to %s/reset",
        method, resets, rd(td, REG_SCRATCH), td->dir);

    snprintf(path, sizeof(path), "%s/reset", td->dir);
    write_text(path, "1");

    cmd = (uint16_t)cfg_read(td, PCI_COMMAND, 2);
    last = rd(td, REG_LAST_RESET);
    say("reset: done; command 0x%04x, MSI-X control 0x%04x, SCRATCH 0x%08x, "
        "RESETS %u, LAST_RESET %u (%s), DMA_VECTOR 0x%08x, DMA_COUNT %u", cmd,
        cfg_read(td, td->msix_cap + 2, 2), rd(td, REG_SCRATCH), rd(td, REG_RESETS),
        last, last == LAST_RESET_FLR ? "FLR" : last == LAST_RESET_DEVICE
        ? "DEVICE_RESET" : "?", rd(td, REG_DMA_VECTOR), rd(td, REG_DMA_COUNT));
    if ((cmd & (PCI_COMMAND_MEMORY | PCI_COMMAND_MASTER)) !=
        (PCI_COMMAND_MEMORY | PCI_COMMAND_MASTER)) {
        fail("the kernel did not restore the command register");
    }
    if (rd(td, REG_ID) != TESTDEV_ID) {
        fail("ID reads 0x%08x after the reset", rd(td, REG_ID));
    }
    if (rd(td, REG_SCRATCH) != 0) {
        fail("SCRATCH survived the reset");
    }
    if (rd(td, REG_RESETS) != resets + 1) {
        fail("RESETS went from %u to %u", resets, rd(td, REG_RESETS));
    }
    if (last != LAST_RESET_FLR && last != LAST_RESET_DEVICE) {
        fail("LAST_RESET %u is neither FLR nor DEVICE_RESET", last);
    }
    if (rd(td, REG_DMA_VECTOR) != 0xffffffffu || rd(td, REG_DMA_COUNT) != 0 ||
        rd(td, REG_DMA_STATUS) != 0) {
        fail("the DMA engine was not reset");
    }
    if (td->bar2[0x200 / 4] != bar2_word(0x200) || td->bar2[0x100 / 4] != bar2_word(0x100)) {
        fail("BAR2 not refilled by the reset: 0x200 reads 0x%08x", td->bar2[0x200 / 4]);
    }
    td->dmas = 0;
    say("reset: registers, DMA engine and BAR2 back to their reset values");
}

int main(int argc, char **argv)
{
    struct td td = { .cfg = -1 };
    bool check_magic = false;
    uint64_t magic = 0;
    const char *cmd;

    setvbuf(stdout, NULL, _IOLBF, 0);
    if (argc >= 3 && strcmp(argv[1], "--device") == 0) {
        want_device = argv[2];
        argc -= 2;
        argv += 2;
    }
    if (argc >= 3 && strcmp(argv[1], "--magic") == 0) {
        magic = strtoull(argv[2], NULL, 0);
        check_magic = true;
        argc -= 2;
        argv += 2;
    }
    if (argc != 2 || (strcmp(argv[1], "dma") != 0 && strcmp(argv[1], "reset") != 0)) {
        fprintf(stderr, "usage: vfu-testdev [--device ID] [--magic N] dma|reset\n");
        return 2;
    }
    cmd = argv[1];

    td_open(&td);
    td_check_identity(&td, check_magic, magic);
    td_check_bar2(&td);
    td_msix_setup(&td);
    td_check_dma(&td, 0);
    td_check_no_master(&td);
    if (strcmp(cmd, "reset") == 0) {
        td_check_reset(&td);
        td_check_bar2(&td);
        td_msix_setup(&td);
        td_check_dma(&td, 1);
    }
    say("PASS");
    return 0;
}
