/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Unit test of the fake daemon itself, with a plugin linked into the test:
 * it behaves as fake_vfud.h says where plugin tests rely on it (ordering of
 * deferred work and jobs, the device thread, unmapping, watches, migration,
 * the daemon's checks).  api-complete.test checks that this program
 * exports the whole plugin API.
 */
#include <config.h>

#include <check.h>
#include <errno.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fake_vfud.h"

#define WIN_IOVA 0x10000ull

/* The plugin under test records what happened, in order. */
static char trail[256];
static unsigned msix_table_offset;
static int dma_in_callback, dma_in_unmap;
static uint8_t state[3] = { 1, 2, 3 };
static atomic_bool jobs_may_run;

static void note(const char *what)
{
    strncat(trail, what, sizeof(trail) - strlen(trail) - 1);
}

static void deferred(vfud_dev *dev, void *opaque)
{
    (void)dev;
    note(opaque);
}

static void job(vfud_dev *dev, void *opaque)
{
    uint8_t b;

    while (!atomic_load(&jobs_may_run)) {
        usleep(1000);
    }
    note(opaque);
    /* off the device thread, DMA by message works */
    ck_assert_int_eq(vfud_dma_read(dev, WIN_IOVA, &b, 1), 0);
}

static int st_config(vfud_dev *dev, const char *key, const char *value)
{
    (void)dev;
    (void)value;
    note(key);
    return 0;
}

static int st_realize(vfud_dev *dev)
{
    static const struct vfud_pci_id id = { .vendor_id = 0x1234 };

    /* (an Express device without the Express capability: the daemon's
     * config space code, which the fake runs, refuses it) */
    if (vfud_pci_init(dev, VFUD_PCI_EXPRESS, &id) < 0 ||
        vfud_pci_add_cap_express(dev, 0) < 0 ||
        vfud_pci_add_cap_msix(dev, 4, 0, msix_table_offset, 0, 0x800) < 0 ||
        vfud_region_add(dev, 0, 4096, VFUD_REGION_RW) < 0) {
        return -EINVAL;
    }
    return 0;
}

static int st_region_write(vfud_dev *dev, unsigned region, uint64_t offset,
                           const void *buf, size_t len)
{
    uint8_t b;

    (void)region;
    (void)buf;
    (void)len;
    if (offset == 0) {
        vfud_defer(dev, deferred, "defer;");
        note("write;");
    } else if (offset == 4) {
        vfud_submit(dev, job, "job1;");
        vfud_submit(dev, job, "job2;");
    } else {
        dma_in_callback = vfud_dma_read(dev, WIN_IOVA, &b, 1);
    }
    return 0;
}

static int st_region_read(vfud_dev *dev, unsigned region, uint64_t offset,
                          void *buf, size_t len)
{
    (void)dev;
    (void)region;
    (void)offset;
    memset(buf, 0, len);
    return 0;
}

static void st_dma_unmap(vfud_dev *dev, uint64_t iova, uint64_t len)
{
    uint8_t b;

    (void)len;
    dma_in_unmap = vfud_dma_read(dev, iova, &b, 1);
    note("unmap;");
}

static void st_detach(vfud_dev *dev)
{
    (void)dev;
    note("detach;");
}

static int st_save(vfud_dev *dev, vfud_mig_stream *out)
{
    (void)dev;
    return vfud_mig_write(out, state, sizeof(state));
}

static int st_load(vfud_dev *dev, uint32_t version, const void *data,
                   size_t len)
{
    (void)dev;
    (void)version;
    if (len != sizeof(state)) {
        return -EINVAL;
    }
    memcpy(state, data, len);
    return 0;
}

static const struct vfud_config_key st_keys[] = {
    { "ns.*.path", "" },
    { NULL, NULL },
};

static struct vfud_plugin st_plugin = {
    .name = "selftest",
    .config_keys = st_keys,
    .config = st_config,
    .realize = st_realize,
    .region_read = st_region_read,
    .region_write = st_region_write,
    .dma_unmap = st_dma_unmap,
    .detach = st_detach,
    .state_version = 2,
    .save_state = st_save,
    .load_state = st_load,
};

VFUD_REGISTER_PLUGIN(st_plugin)

static vfud_dev *new_dev(void)
{
    vfud_dev *dev = fake_dev_new("self");

    trail[0] = '\0';
    msix_table_offset = 0;
    ck_assert_ptr_nonnull(dev);
    fake_dev_set_plugin(dev, vfud_plugin_init());
    return dev;
}

START_TEST(test_daemon_checks)
{
    vfud_dev *dev = new_dev();

    /* keys by the plugin's table, wildcards and all */
    ck_assert_int_eq(fake_dev_config(dev, "ns.1.path", "x"), 0);
    ck_assert_int_eq(fake_dev_config(dev, "ns.path", "x"), -EINVAL);
    ck_assert_str_eq(trail, "ns.1.path");
    /* declarations only from realize; the MSI-X table must fit its BAR */
    ck_assert_int_eq(vfud_region_add(dev, 1, 4096, VFUD_REGION_RW), -EBUSY);
    msix_table_offset = 0x1000;
    ck_assert_int_eq(fake_dev_realize(dev), -EINVAL);
    ck_assert_ptr_nonnull(strstr(fake_dev_last_error(dev), "MSI-X"));
    fake_dev_free(dev);

    dev = new_dev();
    ck_assert_int_eq(fake_dev_realize(dev), 0);
    ck_assert_uint_eq(fake_msix_vectors(dev), 4);
    fake_dev_free(dev);
}
END_TEST

/* Config space is the daemon's: the identity and a capability list a
 * guest would walk, at the offsets the daemon places them. */
START_TEST(test_config_space)
{
    vfud_dev *dev = new_dev();
    uint8_t ptr = 0, id = 0, next = 0;
    uint16_t vendor = 0;
    unsigned ids[4], n = 0;

    ck_assert_int_eq(fake_dev_realize(dev), 0);
    ck_assert_int_eq(vfud_pci_config_read(dev, 0x00, &vendor, 2), 0);
    ck_assert_uint_eq(vendor, 0x1234);
    ck_assert_int_eq(vfud_pci_config_read(dev, 0x34, &ptr, 1), 0);
    while (ptr != 0 && n < 4) {
        ck_assert_int_eq(vfud_pci_config_read(dev, ptr, &id, 1), 0);
        ck_assert_int_eq(vfud_pci_config_read(dev, ptr + 1u, &next, 1), 0);
        ids[n++] = id;
        ptr = next;
    }
    ck_assert_uint_eq(n, 2);
    ck_assert_uint_eq(ids[0], 0x10); /* PCI Express */
    ck_assert_uint_eq(ids[1], 0x11); /* MSI-X */
    ck_assert_int_eq(vfud_pci_config_read(dev, 4090, &vendor, 8), -EINVAL);
    fake_dev_free(dev);
}
END_TEST

START_TEST(test_ordering)
{
    vfud_dev *dev = new_dev();

    ck_assert_int_eq(fake_dev_realize(dev), 0);
    ck_assert_ptr_nonnull(fake_dma_map(dev, WIN_IOVA, 4096, true));
    /* deferred work runs after the access that queued it */
    fake_write32(dev, 0, 0, 0);
    ck_assert_str_eq(trail, "write;defer;");
    /* jobs run later, in order, on another thread; drain waits for both */
    atomic_store(&jobs_may_run, false);
    fake_write32(dev, 0, 4, 0);
    ck_assert_str_eq(trail, "write;defer;");
    atomic_store(&jobs_may_run, true);
    vfud_submit_drain(dev);
    ck_assert_str_eq(trail, "write;defer;job1;job2;");
    /* the device thread cannot wait for a DMA message */
    fake_write32(dev, 0, 8, 0);
    ck_assert_int_eq(dma_in_callback, -EDEADLK);
    ck_assert_uint_eq(fake_dma_deadlocks(dev), 1);
    /* detach: windows leave the table, dma_unmap for each, then detach */
    fake_dev_attach(dev);
    fake_dev_detach(dev);
    ck_assert_str_eq(trail, "write;defer;job1;job2;unmap;detach;");
    ck_assert_int_eq(dma_in_unmap, -EFAULT);
    ck_assert_ptr_null(fake_gpa(dev, WIN_IOVA, 1));
    fake_dev_free(dev);
}
END_TEST

static unsigned ticks;

static bool tick(vfud_dev *dev, void *opaque)
{
    (void)dev;
    (void)opaque;
    return ++ticks < 2;
}

static bool fd_ready(vfud_dev *dev, int fd, unsigned revents, void *opaque)
{
    char c;

    (void)dev;
    (void)opaque;
    ck_assert(revents & VFUD_EV_IN);
    ck_assert_int_eq(read(fd, &c, 1), 1);
    return true;
}

START_TEST(test_watches)
{
    vfud_dev *dev = new_dev();
    vfud_watch *w;
    int p[2];

    ck_assert_int_eq(pipe(p), 0);
    ticks = 0;
    /* 100 ms: under valgrind 10 ms can pass before the first look */
    ck_assert_ptr_nonnull(vfud_watch_timer(dev, 100, tick, NULL));
    w = vfud_watch_fd(dev, p[0], VFUD_EV_IN, fd_ready, NULL);
    ck_assert_ptr_nonnull(w);
    ck_assert_uint_eq(fake_watch_count(dev), 2);
    /* nothing due, nothing readable */
    ck_assert_int_eq(fake_dev_run_watches(dev, 0), 0);
    /* the loop waits for the timer; a timer that says false goes */
    ck_assert_int_eq(fake_dev_run_watches(dev, 1000), 1);
    ck_assert_int_eq(fake_dev_run_watches(dev, 1000), 1);
    ck_assert_uint_eq(ticks, 2);
    ck_assert_uint_eq(fake_watch_count(dev), 1);
    ck_assert_int_eq(write(p[1], "x", 1), 1);
    ck_assert_int_eq(fake_dev_run_watches(dev, 1000), 1);
    vfud_watch_remove(w);
    ck_assert_uint_eq(fake_watch_count(dev), 0);
    close(p[0]);
    close(p[1]);
    fake_dev_free(dev);
}
END_TEST

START_TEST(test_migration)
{
    vfud_dev *dev = new_dev();
    void *data;
    size_t len;

    ck_assert_int_eq(fake_dev_realize(dev), 0);
    ck_assert_int_eq(fake_dev_quiesce(dev, true), 0);
    ck_assert_int_eq(fake_dev_save_state(dev, &data, &len), 0);
    ck_assert_uint_eq(len, 3);
    ck_assert_mem_eq(data, "\1\2\3", 3);
    memset(state, 0, sizeof(state));
    ck_assert_int_eq(fake_dev_load_state(dev, 3, data, len), -EINVAL);
    ck_assert_int_eq(fake_dev_load_state(dev, 0, data, len), -EINVAL);
    ck_assert_int_eq(state[2], 0);
    ck_assert_int_eq(fake_dev_load_state(dev, 1, data, len), 0);
    ck_assert_int_eq(state[2], 3);
    ck_assert_int_eq(fake_dev_quiesce(dev, false), 0);
    free(data);
    fake_dev_free(dev);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("fake_vfud");
    TCase *tc = tcase_create("fake_vfud");
    SRunner *sr;
    int failed;

    tcase_add_test(tc, test_daemon_checks);
    tcase_add_test(tc, test_config_space);
    tcase_add_test(tc, test_ordering);
    tcase_add_test(tc, test_watches);
    tcase_add_test(tc, test_migration);
    suite_add_tcase(s, tc);
    sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? 0 : 1;
}
