/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Unit test of the python module (plugins/.libs/python.so) in the fake
 * daemon (tests/harness): the two shipped examples (idio16.py the way
 * Linux's gpio-pci-idio-16 drives it, dmaengine.py with fd-backed and
 * message-only guest memory), then what a broken script does: exceptions,
 * a call that never returns, bad results, and that two devices running the
 * same script do not share its state.
 */
#include <config.h>

#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "fake_vfud.h"

static vfud_dev *new_dev(const char *name)
{
    vfud_dev *dev = fake_dev_new_loaded(name, BUILD_PLUGINDIR "/python.so");

    ck_assert_ptr_nonnull(dev);
    return dev;
}

/* A script in the scratch directory; returns its path (static). */
static const char *script(const char *name, const char *text)
{
    static char path[128];
    FILE *f;

    snprintf(path, sizeof(path), "%s/%s", fake_tmpdir(), name);
    f = fopen(path, "w");
    ck_assert_ptr_nonnull(f);
    ck_assert_int_ge(fputs(text, f), 0);
    ck_assert_int_eq(fclose(f), 0);
    return path;
}

static uint8_t rd8(vfud_dev *dev, unsigned off)
{
    uint8_t v = 0xee;

    ck_assert_int_eq(fake_region_read(dev, VFUD_REGION_BAR2, off, &v, 1), 0);
    return v;
}

static void wr8(vfud_dev *dev, unsigned off, uint8_t v)
{
    ck_assert_int_eq(fake_region_write(dev, VFUD_REGION_BAR2, off, &v, 1), 0);
}

/* Plugin log lines of LOG_WARNING and worse go to the fake's stderr: catch
 * them in a file while fn runs. */
static int grab_fd = -1, saved_fd = -1;
static char grab_path[128];

static void grab_start(void)
{
    snprintf(grab_path, sizeof(grab_path), "%s/stderr", fake_tmpdir());
    fflush(stderr);
    saved_fd = dup(2);
    grab_fd = open(grab_path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    ck_assert_int_ge(grab_fd, 0);
    dup2(grab_fd, 2);
}

static char *grab_stop(void)
{
    static char text[16384];

    fflush(stderr);
    dup2(saved_fd, 2);
    close(saved_fd);
    close(grab_fd);
    fake_read_text(grab_path, text, sizeof(text));
    fputs(text, stderr); /* still shown */
    return text;
}

/* Does text have a line starting with head and ending with tail? */
static bool dt_match(const char *text, const char *head, const char *tail)
{
    for (const char *l = strstr(text, head); l != NULL; l = strstr(l + 1, head)) {
        const char *end = strchr(l, '\n');

        if (end != NULL && (size_t)(end - l) + 1 >= strlen(tail) &&
            strncmp(end + 1 - strlen(tail), tail, strlen(tail)) == 0) {
            return true;
        }
    }
    return false;
}

/* ------------------------------------------------------------------------
 * idio16.py
 */
START_TEST(test_idio16)
{
    char in[128], out[128], text[64];
    vfud_dev *dev = new_dev("pygpio0");
    const struct vfud_pci_id *id;
    uint8_t two[2];
    void *state;
    size_t len;

    snprintf(in, sizeof(in), "%s/in", fake_tmpdir());
    snprintf(out, sizeof(out), "%s/out", fake_tmpdir());
    ck_assert_int_eq(mkfifo(in, 0600), 0);
    ck_assert_msg(fake_dev_configure(dev, "script", PY_EXAMPLES "/idio16.py",
                                     "inputs", "0x8001", "input-file", in,
                                     "output-file", out, NULL) == 0,
                  "%s", fake_dev_last_error(dev));
    ck_assert_msg(fake_dev_realize(dev) == 0, "%s", fake_dev_last_error(dev));
    id = fake_pci_id(dev);
    ck_assert_ptr_nonnull(id);
    ck_assert_int_eq(fake_pci_type(dev), VFUD_PCI_CONVENTIONAL);
    ck_assert_uint_eq(id->vendor_id, 0x494f);
    ck_assert_uint_eq(id->device_id, 0x0dc8);
    ck_assert_uint_eq(id->subsys_vendor_id, 0x494f);
    ck_assert_uint_eq(id->subsys_id, 0x0dc8);
    ck_assert_uint_eq(id->class_code, 0x118000);
    ck_assert_uint_eq(fake_region_size(dev, VFUD_REGION_BAR2), 8);
    ck_assert_uint_eq(fake_region_flags(dev, VFUD_REGION_BAR2),
                      VFUD_REGION_RW | VFUD_REGION_IO);
    ck_assert_uint_eq(fake_irq_count_setup(dev, VFUD_IRQ_INTX), 1);
    ck_assert_uint_eq(fake_watch_count(dev), 1);
    fake_read_text(out, text, sizeof(text));
    ck_assert_str_eq(text, "0x0000\n");

    ck_assert_uint_eq(rd8(dev, 1), 0x01);
    ck_assert_uint_eq(rd8(dev, 5), 0x80);

    /* outputs */
    wr8(dev, 0, 0x81);
    wr8(dev, 4, 0x02);
    ck_assert_uint_eq(rd8(dev, 0), 0x81);
    ck_assert_uint_eq(rd8(dev, 4), 0x02);
    fake_read_text(out, text, sizeof(text));
    ck_assert_str_eq(text, "0x0281\n");

    /* the driver's probe, then the first unmask */
    wr8(dev, 2, 0);
    wr8(dev, 3, 0);
    wr8(dev, 1, 0);
    rd8(dev, 2);
    ck_assert(!fake_intx_level(dev));

    /* input 3 rises: pending | inputs 0-7, INTx */
    fake_write_text(in, "0x8000 3=1\n");
    ck_assert_int_eq(fake_dev_run_watches(dev, 0), 1);
    ck_assert(fake_intx_level(dev));
    ck_assert_uint_eq(fake_irq_count(dev, 0), 1);
    ck_assert_uint_eq(rd8(dev, 6), 0x05);
    ck_assert_uint_eq(rd8(dev, 1), 0x08);

    /* the handler acks through +1; a 2-byte read reads two registers */
    wr8(dev, 1, 0x05);
    ck_assert(!fake_intx_level(dev));
    ck_assert_int_eq(fake_region_read(dev, VFUD_REGION_BAR2, 4, two, 2), 0);
    ck_assert_uint_eq(two[0], 0x02);
    ck_assert_uint_eq(two[1], 0x80);

    /* a bad line is logged and ignored; the watch survives it */
    grab_start();
    fake_write_text(in, "16=1\n12=1\n");
    ck_assert_int_eq(fake_dev_run_watches(dev, 0), 1);
    ck_assert_ptr_nonnull(strstr(grab_stop(), "ignoring bad line b'16=1'"));
    ck_assert_uint_eq(fake_watch_count(dev), 1);
    ck_assert_uint_eq(rd8(dev, 5), 0x90);
    ck_assert_uint_eq(rd8(dev, 6), 0x06);

    /* migration state round trip: STATE_VERSION is 1 by default */
    ck_assert_int_eq(fake_dev_save_state(dev, &state, &len), 0);
    ck_assert_uint_eq(len, 4 + 8);
    ck_assert_uint_eq(((uint8_t *)state)[0], 1);
    ck_assert_int_eq(fake_dev_reset(dev, VFUD_RESET_FLR), 0);
    ck_assert_uint_eq(rd8(dev, 0), 0);
    ck_assert_uint_eq(rd8(dev, 6), 0);
    ck_assert_int_eq(fake_dev_load_state(dev, 1, state, len), 0);
    ck_assert_uint_eq(rd8(dev, 0), 0x81);
    ck_assert_uint_eq(rd8(dev, 6), 0x06);
    fake_read_text(out, text, sizeof(text));
    ck_assert_str_eq(text, "0x0281\n");
    /* a newer script state version is refused before the script sees it */
    ((uint8_t *)state)[0] = 2;
    ck_assert_int_eq(fake_dev_load_state(dev, 1, state, len), -EINVAL);
    free(state);
    fake_dev_free(dev);
}
END_TEST

/* ------------------------------------------------------------------------
 * dmaengine.py
 */
#define REG_ID 0x000
#define REG_SCRATCH 0x010
#define REG_BAR2_TRAPS 0x014
#define REG_IRQ_RESULT 0x01c
#define REG_RESETS 0x024
#define REG_LAST_RESET 0x028
#define REG_DMA_SRC_LO 0x100
#define REG_DMA_DST_LO 0x108
#define REG_DMA_LEN 0x110
#define REG_DMA_OP 0x114
#define REG_DMA_FILL 0x118
#define REG_DMA_VECTOR 0x11c
#define REG_DMA_GO 0x120
#define REG_DMA_STATUS 0x124
#define REG_DMA_COUNT 0x128

static uint32_t r32(vfud_dev *dev, unsigned reg)
{
    return fake_read32(dev, VFUD_REGION_BAR0, reg);
}

/* Run one DMA, wait for its vector, return DMA_STATUS. */
static uint32_t dma(vfud_dev *dev, uint32_t op, uint64_t src, uint64_t dst,
                    uint32_t len, uint32_t fill, unsigned vector)
{
    unsigned before = fake_irq_count(dev, vector);

    fake_write64(dev, VFUD_REGION_BAR0, REG_DMA_SRC_LO, src);
    fake_write64(dev, VFUD_REGION_BAR0, REG_DMA_DST_LO, dst);
    fake_write32(dev, VFUD_REGION_BAR0, REG_DMA_LEN, len);
    fake_write32(dev, VFUD_REGION_BAR0, REG_DMA_OP, op);
    fake_write32(dev, VFUD_REGION_BAR0, REG_DMA_FILL, fill);
    fake_write32(dev, VFUD_REGION_BAR0, REG_DMA_VECTOR, vector);
    fake_write32(dev, VFUD_REGION_BAR0, REG_DMA_GO, 1);
    ck_assert_msg(fake_irq_wait(dev, vector, before, 10000), "no vector %u", vector);
    ck_assert_uint_eq(r32(dev, REG_IRQ_RESULT), 0);
    return r32(dev, REG_DMA_STATUS);
}

START_TEST(test_dmaengine)
{
    vfud_dev *dev = new_dev("pydma0");
    const struct vfud_pci_id *id;
    struct vfud_mmap_area areas[4];
    uint8_t *shared, *msg, *bar2, src[4096];
    unsigned caps[8];

    ck_assert_msg(fake_dev_configure(dev, "script", PY_EXAMPLES "/dmaengine.py",
                                     "magic", "0x1122334455667788", NULL) == 0,
                  "%s", fake_dev_last_error(dev));
    ck_assert_msg(fake_dev_realize(dev) == 0, "%s", fake_dev_last_error(dev));
    id = fake_pci_id(dev);
    ck_assert_uint_eq(id->vendor_id, 0xfffd);
    ck_assert_uint_eq(id->device_id, 0x0002);
    ck_assert_int_eq(fake_pci_type(dev), VFUD_PCI_EXPRESS);
    ck_assert_uint_eq(fake_caps(dev, caps, 8), 3);
    ck_assert_uint_eq(caps[0], 0x01);
    ck_assert_uint_eq(caps[1], 0x11);
    ck_assert_uint_eq(caps[2], 0x10);
    ck_assert_uint_eq(fake_msix_vectors(dev), 4);
    ck_assert_uint_eq(fake_region_flags(dev, VFUD_REGION_BAR2),
                      VFUD_REGION_RW | VFUD_REGION_64BIT | VFUD_REGION_PREFETCH);
    ck_assert_uint_eq(fake_region_areas(dev, VFUD_REGION_BAR2, areas, 4), 2);
    ck_assert_uint_eq(areas[1].offset, 0xc000);
    bar2 = fake_region_mem(dev, VFUD_REGION_BAR2);
    ck_assert_ptr_nonnull(bar2);
    /* the script filled the daemon's memory through its memoryview */
    ck_assert_uint_eq(*(uint32_t *)(bar2 + 0x100), 0xb2000100u);
    ck_assert_uint_eq(fake_read32(dev, VFUD_REGION_BAR2, 0x4004), 0xb2004004u);
    fake_write32(dev, VFUD_REGION_BAR2, 0x8000, 0xabcdef01);
    ck_assert_uint_eq(*(uint32_t *)(bar2 + 0x8000), 0xabcdef01u);
    ck_assert_uint_eq(r32(dev, REG_BAR2_TRAPS), 2);

    ck_assert_uint_eq(r32(dev, REG_ID), 0x7e57de01u);
    ck_assert_uint_eq(fake_read64(dev, VFUD_REGION_BAR0, 0x008), 0x1122334455667788ull);
    fake_write32(dev, VFUD_REGION_BAR0, REG_SCRATCH, 0x5a5a1234);
    ck_assert_uint_eq(r32(dev, REG_SCRATCH), 0x5a5a1234u);
    /* an unaligned write is refused with the script's errno */
    ck_assert_int_eq(fake_region_write(dev, VFUD_REGION_BAR0, 2, src, 2), -EINVAL);
    ck_assert_ptr_nonnull(strstr(fake_dev_last_error(dev), "aligned dwords"));

    fake_set_bus_master(dev, true);
    shared = fake_dma_map(dev, 0x100000, 0x4000, false);
    msg = fake_dma_map(dev, 0x200000, 0x4000, true);
    for (unsigned i = 0; i < sizeof(src); i++) {
        src[i] = (uint8_t)(i * 7 + 3);
    }

    /* FILL through dma_map views (fd-backed), then by messages */
    ck_assert_uint_eq(dma(dev, 0, 0, 0x100ffd, 4096, 0xa1b2c3d4, 0), 2);
    ck_assert_uint_eq(shared[0xffd], 0xd4);
    ck_assert_uint_eq(shared[0x1000 + 0xffc], 0xa1);
    ck_assert_int_eq(fake_sg_refs(dev), 0);
    ck_assert_uint_eq(dma(dev, 0, 0, 0x200003, 100, 0x01020304, 1), 2);
    ck_assert_uint_eq(msg[3], 0x04);
    ck_assert_uint_eq(msg[3 + 99], 0x01);
    ck_assert_uint_ge(fake_dma_messages(dev), 1);

    /* COPY between the two kinds, TO_DEV + FROM_DEV */
    memcpy(shared + 0x2000, src, sizeof(src));
    ck_assert_uint_eq(dma(dev, 1, 0x102000, 0x201000, 4096, 0, 2), 2);
    ck_assert_mem_eq(msg + 0x1000, src, sizeof(src));
    ck_assert_uint_eq(dma(dev, 2, 0x201000, 0x40, 4096, 0, 3), 2);
    ck_assert_uint_eq(dma(dev, 3, 0x40, 0x103000, 4096, 0, 0), 2);
    ck_assert_mem_eq(shared + 0x3000, src, sizeof(src));
    ck_assert_uint_eq(r32(dev, REG_DMA_COUNT), 5);

    /* unmapped memory: EFAULT; no bus master: EPERM */
    ck_assert_uint_eq(dma(dev, 0, 0, 0x7f00000000ull, 64, 0, 1), 4u | EFAULT << 16);
    fake_set_bus_master(dev, false);
    ck_assert_uint_eq(dma(dev, 1, 0x102000, 0x201000, 64, 0, 1), 4u | EPERM << 16);
    ck_assert_uint_eq(r32(dev, REG_DMA_COUNT), 5);

    /* reset: registers, counters, BAR2 */
    ck_assert_int_eq(fake_dev_reset(dev, VFUD_RESET_FLR), 0);
    ck_assert_uint_eq(r32(dev, REG_SCRATCH), 0);
    ck_assert_uint_eq(r32(dev, REG_RESETS), 1);
    ck_assert_uint_eq(r32(dev, REG_LAST_RESET), 2);
    ck_assert_uint_eq(r32(dev, REG_DMA_VECTOR), 0xffffffffu);
    ck_assert_uint_eq(r32(dev, REG_DMA_COUNT), 0);
    ck_assert_uint_eq(*(uint32_t *)(bar2 + 0x8000), 0xb2008000u);
    ck_assert_int_eq(fake_dma_unmap(dev, 0x100000), 0);
    fake_dev_free(dev);
}
END_TEST

/* ------------------------------------------------------------------------
 * Broken scripts
 */
static const char broken_py[] =
    "import vfiouserd as vfu, time\n"
    "PCI_ID = dict(vendor_id=0x1234, device_id=0x5678)\n"
    "REGIONS = {vfu.BAR0: (4096, vfu.RW)}\n"
    "count = 0\n"
    "def helper(n):\n"
    "    return 1 // n\n"
    "def read(region, offset, size):\n"
    "    global count\n"
    "    count += 1\n"
    "    if offset == 0: return helper(0)\n"
    "    if offset == 4: return b'abc'\n"
    "    if offset == 8: return 'text'\n"
    "    if offset == 12: raise OSError(13, 'no access here')\n"
    "    if offset == 16: return count\n"
    "    if offset == 20:\n"
    "        while True: pass\n"
    "    if offset == 24:\n"
    "        while True:\n"
    "            try:\n"
    "                while True: pass\n"
    "            except Exception: pass\n"
    "    return 0x11223344\n"
    "def write(region, offset, data):\n"
    "    raise KeyError('nope')\n";

START_TEST(test_exceptions)
{
    vfud_dev *dev = new_dev("bad0");
    uint32_t v = 0;
    char *log;

    ck_assert_int_eq(fake_dev_configure(dev, "script", script("broken.py", broken_py),
                                        "callback-timeout-ms", "300", NULL), 0);
    ck_assert_int_eq(fake_dev_realize(dev), 0);

    /* an exception: -EIO, the reason, the traceback in the log */
    grab_start();
    ck_assert_int_eq(fake_region_read(dev, VFUD_REGION_BAR0, 0, &v, 4), -EIO);
    log = grab_stop();
    ck_assert_str_eq(fake_dev_last_error(dev),
                     "read raised ZeroDivisionError: integer division or modulo by zero");
    ck_assert_ptr_nonnull(strstr(log, "python: read raised ZeroDivisionError"));
    ck_assert_ptr_nonnull(strstr(log, "Traceback (most recent call last):"));
    ck_assert_ptr_nonnull(strstr(log, "broken.py\", line 6, in helper"));

    /* wrong results */
    ck_assert_int_eq(fake_region_read(dev, VFUD_REGION_BAR0, 4, &v, 4), -EIO);
    ck_assert_str_eq(fake_dev_last_error(dev), "read() returned 3 bytes, not 4");
    ck_assert_int_eq(fake_region_read(dev, VFUD_REGION_BAR0, 8, &v, 4), -EIO);
    ck_assert_str_eq(fake_dev_last_error(dev), "read() returned str");
    /* an OSError is the script's answer: its errno, no traceback */
    ck_assert_int_eq(fake_region_read(dev, VFUD_REGION_BAR0, 12, &v, 4), -EACCES);
    ck_assert_str_eq(fake_dev_last_error(dev), "read: [Errno 13] no access here");
    ck_assert_int_eq(fake_region_write(dev, VFUD_REGION_BAR0, 0, &v, 4), -EIO);
    ck_assert_str_eq(fake_dev_last_error(dev), "write raised KeyError: 'nope'");

    /* a call that never returns is interrupted, and the device goes on */
    grab_start();
    ck_assert_int_eq(fake_region_read(dev, VFUD_REGION_BAR0, 20, &v, 4), -ETIMEDOUT);
    log = grab_stop();
    ck_assert_ptr_nonnull(strstr(log, "python: read has run for 300 ms"));
    ck_assert_ptr_nonnull(strstr(log, "python: read raised vfiouserd.CallbackTimeout"));
    ck_assert_ptr_nonnull(strstr(log, "in read"));
    /* "except Exception" does not catch it */
    ck_assert_int_eq(fake_region_read(dev, VFUD_REGION_BAR0, 24, &v, 4), -ETIMEDOUT);
    ck_assert_int_eq(fake_region_read(dev, VFUD_REGION_BAR0, 16, &v, 4), 0);
    ck_assert_uint_eq(v, 7); /* every call ran, interrupted ones too */
    ck_assert_int_eq(fake_region_read(dev, VFUD_REGION_BAR0, 28, &v, 4), 0);
    ck_assert_uint_eq(v, 0x11223344u);
    /* no save_state: migration is refused */
    void *state;
    size_t len;
    ck_assert_int_eq(fake_dev_save_state(dev, &state, &len), -ENOTSUP);
    fake_dev_free(dev);
}
END_TEST

START_TEST(test_load_failures)
{
    vfud_dev *dev;
    char *log;

    /* no script key */
    dev = new_dev("bad1");
    ck_assert_int_eq(fake_dev_configure(dev, NULL), -EINVAL);
    ck_assert_str_eq(fake_dev_last_error(dev),
                     "script: the key is required (the device's Python script)");
    fake_dev_free(dev);

    /* a missing file */
    dev = new_dev("bad2");
    ck_assert_int_eq(fake_dev_configure(dev, "script", "/nonexistent/x.py", NULL), -EINVAL);
    ck_assert_str_eq(fake_dev_last_error(dev),
                     "script /nonexistent/x.py: No such file or directory");
    fake_dev_free(dev);

    /* a syntax error: where it is */
    dev = new_dev("bad3");
    grab_start();
    ck_assert_int_eq(fake_dev_configure(dev, "script", script("syntax.py", "x = (\n"),
                                        NULL), -EIO);
    log = grab_stop();
    ck_assert_ptr_nonnull(strstr(fake_dev_last_error(dev), "raised SyntaxError"));
    ck_assert_ptr_nonnull(strstr(log, "syntax.py\", line 1"));
    fake_dev_free(dev);

    /* a key the script does not know, and one without config() at all */
    dev = new_dev("bad4");
    ck_assert_int_eq(fake_dev_configure(dev, "script", PY_EXAMPLES "/idio16.py",
                                        "colour", "red", NULL), -EINVAL);
    ck_assert_str_eq(fake_dev_last_error(dev), "config: [Errno 22] unknown key colour");
    fake_dev_free(dev);
    dev = new_dev("bad5");
    ck_assert_int_eq(fake_dev_configure(dev, "script", script("empty.py", ""),
                                        "colour", "red", NULL), -EINVAL);
    ck_assert_str_eq(fake_dev_last_error(dev),
                     "unknown key colour (the script has no config())");
    fake_dev_free(dev);

    /* a bad declaration fails realize with the reason */
    dev = new_dev("bad6");
    ck_assert_int_eq(fake_dev_configure(dev, "script", script("decl.py",
                     "CAPABILITIES = [('warp', 9)]\n"
                     "PCI_ID = dict(vendor_id=1, device_id=2)\n"), NULL), 0);
    grab_start();
    ck_assert_int_eq(fake_dev_realize(dev), -EIO);
    grab_stop();
    ck_assert_ptr_nonnull(strstr(fake_dev_last_error(dev), "add_cap_warp"));
    fake_dev_free(dev);
}
END_TEST

/* Each device has its own module: the same script twice, two states. */
static const char counter_py[] =
    "import vfiouserd as vfu\n"
    "PCI_ID = dict(vendor_id=0x1234, device_id=0x5678)\n"
    "REGIONS = {vfu.BAR0: (4096, vfu.RW)}\n"
    "STATE_VERSION = 3\n"
    "value = 0\n"
    "ticks = 0\n"
    "def config(key, value_):\n"
    "    global value\n"
    "    value = int(value_)\n"
    "def start():\n"
    "    device.timer(1, tick)\n"
    "def tick():\n"
    "    global ticks\n"
    "    ticks += 1\n"
    "    return ticks < 3\n"
    "def read(region, offset, size):\n"
    "    return ticks if offset else value\n"
    "def write(region, offset, data):\n"
    "    global value\n"
    "    value = int.from_bytes(data, 'little')\n"
    "def save_state():\n"
    "    return value.to_bytes(4, 'little')\n"
    "def load_state(version, data):\n"
    "    global value\n"
    "    value = int.from_bytes(data, 'little') + 1000 * version\n";

START_TEST(test_two_devices)
{
    vfud_dev *a = new_dev("one"), *b = new_dev("two");
    const char *path = script("counter.py", counter_py);
    void *state;
    size_t len;

    ck_assert_int_eq(fake_dev_configure(a, "script", path, "value", "11", NULL), 0);
    ck_assert_int_eq(fake_dev_configure(b, "script", path, "value", "22", NULL), 0);
    ck_assert_int_eq(fake_dev_realize(a), 0);
    ck_assert_int_eq(fake_dev_realize(b), 0);
    ck_assert_uint_eq(fake_read32(a, VFUD_REGION_BAR0, 0), 11);
    ck_assert_uint_eq(fake_read32(b, VFUD_REGION_BAR0, 0), 22);
    fake_write32(a, VFUD_REGION_BAR0, 0, 33);
    ck_assert_uint_eq(fake_read32(a, VFUD_REGION_BAR0, 0), 33);
    ck_assert_uint_eq(fake_read32(b, VFUD_REGION_BAR0, 0), 22);

    /* the timer runs until its function returns False */
    ck_assert_uint_eq(fake_watch_count(a), 1);
    for (int i = 0; i < 10 && fake_watch_count(a) > 0; i++) {
        fake_dev_run_watches(a, 50);
    }
    ck_assert_uint_eq(fake_watch_count(a), 0);
    ck_assert_uint_eq(fake_read32(a, VFUD_REGION_BAR0, 4), 3);
    ck_assert_uint_eq(fake_read32(b, VFUD_REGION_BAR0, 4), 0);

    /* the script's state version travels; an older one still loads */
    ck_assert_int_eq(fake_dev_save_state(a, &state, &len), 0);
    ck_assert_uint_eq(len, 8);
    ck_assert_uint_eq(((uint8_t *)state)[0], 3);
    ((uint8_t *)state)[0] = 2;
    ck_assert_int_eq(fake_dev_load_state(b, 1, state, len), 0);
    ck_assert_uint_eq(fake_read32(b, VFUD_REGION_BAR0, 0), 2033);
    free(state);
    fake_dev_free(a);
    /* b's module is still there after a's went */
    ck_assert_uint_eq(fake_read32(b, VFUD_REGION_BAR0, 0), 2033);
    fake_dev_free(b);
}
END_TEST

/* dma_map(): views of guest memory, released at the end of the with; a
 * slice kept beyond it holds the window until it goes, never less. */
static const char sg_py[] =
    "import vfiouserd as vfu\n"
    "PCI_ID = dict(vendor_id=0x1234, device_id=0x5678)\n"
    "REGIONS = {vfu.BAR0: (4096, vfu.RW)}\n"
    "kept = old = None\n"
    "def write(region, offset, data):\n"
    "    global kept, old\n"
    "    if offset == 0:\n"
    "        with device.dma_map(0x100ffe, 4, vfu.DMA_READ | vfu.DMA_WRITE) as views:\n"
    "            assert [v.nbytes for v in views] == [2, 2]\n"
    "            views[0][:] = b'ab'\n"
    "            views[1][:] = bytes(views[0])\n"
    "            old = views[1]\n"
    "    elif offset == 4:\n"
    "        with device.dma_map(0x100000, 16, vfu.DMA_WRITE) as views:\n"
    "            kept = views[0][4:8]\n"
    "    elif offset == 8:\n"
    "        kept[:] = b'wxyz'\n"
    "        kept = None\n"
    "    elif offset == 12:\n"
    "        old[0]\n"
    "    elif offset == 16:\n"
    "        with device.dma_map(0x100000, 16, vfu.DMA_READ) as views:\n"
    "            views[0][0] = 1\n"
    "def read(region, offset, size):\n"
    "    return bytes(size)\n";

START_TEST(test_dma_views)
{
    vfud_dev *dev = new_dev("sg0");
    uint8_t *a, *b;

    ck_assert_int_eq(fake_dev_configure(dev, "script", script("sg.py", sg_py), NULL), 0);
    ck_assert_int_eq(fake_dev_realize(dev), 0);
    fake_set_bus_master(dev, true);
    a = fake_dma_map(dev, 0x100000, 0x1000, false);
    b = fake_dma_map(dev, 0x101000, 0x1000, false);

    /* across two windows, one view each */
    fake_write32(dev, VFUD_REGION_BAR0, 0, 0);
    ck_assert_mem_eq(a + 0xffe, "ab", 2);
    ck_assert_mem_eq(b, "ab", 2);
    ck_assert_int_eq(fake_sg_refs(dev), 0);
    /* a view used after its with: an error, not a stale pointer */
    ck_assert_int_eq(fake_region_write(dev, VFUD_REGION_BAR0, 12, a, 4), -EIO);
    ck_assert_str_eq(fake_dev_last_error(dev), "write raised ValueError: operation "
                     "forbidden on released memoryview object");

    /* a slice kept past the with keeps the window, and works, until freed */
    grab_start();
    fake_write32(dev, VFUD_REGION_BAR0, 4, 0);
    ck_assert_ptr_nonnull(strstr(grab_stop(), "outlives its dma_map()"));
    ck_assert_int_eq(fake_sg_refs(dev), 1);
    fake_write32(dev, VFUD_REGION_BAR0, 8, 0);
    ck_assert_mem_eq(a + 4, "wxyz", 4);
    ck_assert_int_eq(fake_sg_refs(dev), 0);

    /* without DMA_WRITE the views are read-only */
    ck_assert_int_eq(fake_region_write(dev, VFUD_REGION_BAR0, 16, a, 4), -EIO);
    ck_assert_msg(strstr(fake_dev_last_error(dev), "TypeError") != NULL, "%s",
                  fake_dev_last_error(dev));
    ck_assert_int_eq(fake_sg_refs(dev), 0);
    ck_assert_int_eq(fake_dma_unmap(dev, 0x100000), 0);
    fake_dev_free(dev);
}
END_TEST

/* The other callbacks reach the script, and work it schedules runs. */
static const char calls_py[] =
    "import os, sys, threading, vfiouserd as vfu\n"
    "PCI_ID = dict(vendor_id=0x1234, device_id=0x5678)\n"
    "REGIONS = {vfu.BAR0: (4096, vfu.RW)}\n"
    "log = []\n"
    "def attach(): log.append('attach')\n"
    "def detach(): log.append('detach')\n"
    "def dma_unmap(iova, length): log.append('unmap %x+%x' % (iova, length))\n"
    "def quiesce(stop): log.append('stop' if stop else 'run')\n"
    "def reset(why): log.append('reset %d' % why)\n"
    "def on_fd(fd, ev):\n"
    "    log.append('fd %d' % len(os.read(fd, 100)))\n"
    "    print('fd', fd, 'ready', end='', file=sys.stderr)\n"
    "    print('!', file=sys.stderr)\n"
    "    raise RuntimeError('once')\n"
    "def job(what):\n"
    "    log.append('%s %s' % (what, threading.current_thread() is threading.main_thread()))\n"
    "    if what == 'submit':\n"
    "        log.append('dma %s' % device.dma_read(0x200000, 4).hex())\n"
    "def start():\n"
    "    global r\n"
    "    r, w = os.pipe()\n"
    "    os.write(w, b'hello')\n"
    "    device.watch_fd(r, vfu.EV_IN, on_fd)\n"
    "def write(region, offset, data):\n"
    "    device.defer(job, 'defer')\n"
    "    device.submit(job, 'submit')\n"
    "def read(region, offset, size):\n"
    "    return ','.join(log).encode().ljust(size, b'\\0')[:size]\n";

START_TEST(test_callbacks)
{
    vfud_dev *dev = new_dev("calls0");
    char text[257] = "", *log;
    uint8_t *msg;

    ck_assert_int_eq(fake_dev_configure(dev, "script", script("calls.py", calls_py),
                                        NULL), 0);
    ck_assert_int_eq(fake_dev_realize(dev), 0);
    fake_set_bus_master(dev, true);
    msg = fake_dma_map(dev, 0x200000, 0x1000, true);
    memcpy(msg, "\x01\x02\x03\x04", 4);
    fake_dev_attach(dev);
    /* the fd watch runs once and is removed when its function raises */
    grab_start();
    ck_assert_int_eq(fake_dev_run_watches(dev, 1000), 1);
    log = grab_stop();
    ck_assert_ptr_nonnull(strstr(log, "python: a watch_fd() function raised "
                                 "RuntimeError: once"));
    /* what the script printed to sys.stderr: a warning of its device */
    ck_assert_msg(dt_match(log, "[calls0] <4> python: fd ", " ready!\n"), "%s", log);
    ck_assert_uint_eq(fake_watch_count(dev), 0);
    /* defer: after the access, on the device thread; submit: on the worker,
     * where DMA by messages works */
    fake_write32(dev, VFUD_REGION_BAR0, 0, 0);
    for (int i = 0; i < 500 && strstr(text, "dma") == NULL; i++) {
        usleep(10000);
        ck_assert_int_eq(fake_region_read(dev, VFUD_REGION_BAR0, 0, text, 256), 0);
    }
    ck_assert_int_eq(fake_dev_quiesce(dev, true), 0);
    ck_assert_int_eq(fake_dev_quiesce(dev, false), 0);
    ck_assert_int_eq(fake_dev_reset(dev, VFUD_RESET_DEVICE), 0);
    fake_dev_detach(dev);
    ck_assert_int_eq(fake_region_read(dev, VFUD_REGION_BAR0, 0, text, 256), 0);
    ck_assert_str_eq(text, "attach,fd 5,defer True,submit False,dma 01020304,stop,run,"
                     "reset 0,unmap 200000+1000,detach");
    fake_dev_free(dev);
}
END_TEST

static Suite *python_suite(void)
{
    Suite *s = suite_create("python");
    TCase *tc = tcase_create("python");

    tcase_add_checked_fixture(tc, fake_tmpdir_setup, fake_tmpdir_teardown);
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_idio16);
    tcase_add_test(tc, test_dmaengine);
    tcase_add_test(tc, test_exceptions);
    tcase_add_test(tc, test_load_failures);
    tcase_add_test(tc, test_two_devices);
    tcase_add_test(tc, test_dma_views);
    tcase_add_test(tc, test_callbacks);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(python_suite());
    int failed;

    srunner_run_all(sr, CK_NORMAL);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? 0 : 1;
}
