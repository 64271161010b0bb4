/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The test driver's fake-daemon transport: see nvme_tdrv_fake.h.
 */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "nvme_tdrv_fake.h"

const char *td_plugin_path(void)
{
    const char *p = getenv("NVME_PLUGIN");

    return p ? p : NVME_PLUGIN_SO;
}

static uint32_t fake_rd32(struct tdrv *d, uint64_t off)
{
    return fake_read32(d->dev, VFUD_REGION_BAR0, off);
}

static void fake_wr32(struct tdrv *d, uint64_t off, uint32_t v)
{
    fake_write32(d->dev, VFUD_REGION_BAR0, off, v);
}

static void fake_wr64(struct tdrv *d, uint64_t off, uint64_t v)
{
    fake_write64(d->dev, VFUD_REGION_BAR0, off, v);
}

/* The plugin's I/O thread posts completions by itself: just give it time. */
static void fake_idle(struct tdrv *d, uint16_t vector, int ms)
{
    struct timespec ts = { 0, 50 * 1000 };

    (void)d;
    (void)vector;
    (void)ms;
    nanosleep(&ts, NULL);
}

static const struct td_transport fake_transport = {
    .rd32 = fake_rd32,
    .wr32 = fake_wr32,
    .wr64 = fake_wr64,
    .doorbell = fake_wr32,
    .idle = fake_idle,
};

int td_open(struct tdrv *d, uint64_t size, bool message_only,
            const char *const *extra)
{
    char sz[32];
    int fd, r;
    bool have_ns_key = false;

    td_init(d, &fake_transport, NULL);
    for (const char *const *kv = extra; kv && *kv; kv += 2) {
        if (strstr(kv[0], "path") || strcmp(kv[0], "backend") == 0 ||
            strstr(kv[0], "namespace.1.")) {
            have_ns_key = true;
        }
    }
    d->dev = fake_dev_new("nvme-test");
    if (!d->dev) {
        return -ENOMEM;
    }
    r = fake_dev_load(d->dev, td_plugin_path());
    if (r < 0) {
        fprintf(stderr, "%s\n", fake_dev_last_error(d->dev));
        return r;
    }
    if (size) {
        snprintf(d->path, sizeof(d->path), "/tmp/nvme-test-XXXXXX");
        fd = mkstemp(d->path);
        if (fd < 0) {
            return -errno;
        }
        close(fd);
        unlink(d->path); /* recreated sparse by the plugin (size=) */
        snprintf(sz, sizeof(sz), "%llu", (unsigned long long)size);
        if (fake_dev_config(d->dev, "namespace.1.path", d->path) < 0 ||
            fake_dev_config(d->dev, "namespace.1.size", sz) < 0) {
            return -EINVAL;
        }
    } else if (!have_ns_key) {
        return -EINVAL;
    }
    for (const char *const *kv = extra; kv && *kv; kv += 2) {
        r = fake_dev_config(d->dev, kv[0], kv[1]);
        if (r < 0) {
            fprintf(stderr, "config %s=%s: %s\n", kv[0], kv[1],
                    fake_dev_last_error(d->dev));
            return r;
        }
        if (strcmp(kv[0], "doorbells") == 0 && strcmp(kv[1], "poll") == 0) {
            d->poll_mode = true;
        }
    }
    d->mem = fake_dma_map(d->dev, TD_MEM_IOVA, TD_MEM_SIZE, message_only);
    if (!d->mem) {
        return -ENOMEM;
    }
    r = fake_dev_realize(d->dev);
    if (r < 0) {
        fprintf(stderr, "realize: %s\n", fake_dev_last_error(d->dev));
        return r;
    }
    if (d->poll_mode) {
        d->db_page = (volatile uint32_t *)(void *)(
            (uint8_t *)fake_region_mem(d->dev, VFUD_REGION_BAR0) + NVME_REG_DBS);
    }
    fake_dev_attach(d->dev);
    return 0;
}

void td_close(struct tdrv *d)
{
    if (d->dev) {
        fake_dev_free(d->dev);
        d->dev = NULL;
    }
    if (d->path[0]) {
        unlink(d->path);
        d->path[0] = 0;
    }
}
