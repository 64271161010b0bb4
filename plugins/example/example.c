/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * example: a PCI device with one 4 KiB memory BAR of scratch
 * registers and an INTx line.  Register 0x000 reads a fixed
 * identifier; writing 1 to register 0x004 raises INTx and writing 0
 * lowers it; the other registers keep what the guest writes, and
 * reset fills them with the value of the "fill" key.
 *
 * (The EXAMPLE of vfiouserd-plugin(3).  tests/plugins/test_example.c
 * runs it in the fake daemon; tests/plugins/out-of-tree.test builds it
 * from the installed header.)
 */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <vfiouserd/plugin.h>

#define EXAMPLE_BAR_SIZE 4096
#define EXAMPLE_REG_ID   0x000 /* read-only */
#define EXAMPLE_REG_IRQ  0x004 /* bit 0: INTx level */
#define EXAMPLE_ID       0x5c7a7c40u

struct example {
    uint32_t fill;                 /* config key, applied at reset */
    uint8_t bar[EXAMPLE_BAR_SIZE]; /* the registers, little endian */
};

/* PCI registers are little endian whatever the host is. */
static uint32_t le32_get(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
           (uint32_t)p[3] << 24;
}

static void le32_put(uint8_t *p, uint32_t v)
{
    p[0] = v & 0xff;
    p[1] = (v >> 8) & 0xff;
    p[2] = (v >> 16) & 0xff;
    p[3] = v >> 24;
}

static void example_power_on(struct example *s)
{
    for (unsigned off = 0; off < EXAMPLE_BAR_SIZE; off += 4) {
        le32_put(&s->bar[off], s->fill);
    }
    le32_put(&s->bar[EXAMPLE_REG_ID], EXAMPLE_ID);
    le32_put(&s->bar[EXAMPLE_REG_IRQ], 0);
}

static int example_create(vfud_dev *dev)
{
    struct example *s = calloc(1, sizeof(*s));

    if (s == NULL) {
        return -ENOMEM;
    }
    vfud_set_private(dev, s);
    return 0;
}

static int example_config(vfud_dev *dev, const char *key,
                          const char *value)
{
    struct example *s = vfud_get_private(dev);
    uint64_t v;

    /* The daemon rejected keys missing from example_keys already. */
    if (strcmp(key, "fill") == 0) {
        if (vfud_parse_u64(value, &v) < 0 || v > UINT32_MAX) {
            vfud_error(dev, "fill: '%s' is not a 32-bit number", value);
            return -EINVAL;
        }
        s->fill = (uint32_t)v;
    }
    return 0;
}

static int example_realize(vfud_dev *dev)
{
    static const struct vfud_pci_id id = {
        .vendor_id = 0x1234,   /* an example ID: use your own */
        .device_id = 0x5c7a,
        .class_code = 0xff0000, /* unclassified device */
        .revision = 1,
    };
    int r;

    r = vfud_pci_init(dev, VFUD_PCI_CONVENTIONAL, &id);
    if (r < 0) {
        return r;
    }
    r = vfud_region_add(dev, VFUD_REGION_BAR0, EXAMPLE_BAR_SIZE,
                        VFUD_REGION_RW);
    if (r < 0) {
        return r;
    }
    r = vfud_irq_setup(dev, VFUD_IRQ_INTX, 1);
    if (r < 0) {
        return r;
    }
    example_power_on(vfud_get_private(dev));
    return 0;
}

static int example_reset(vfud_dev *dev, enum vfud_reset_reason why)
{
    (void)why; /* every kind of reset means power-on state here */
    vfud_intx_deassert(dev);
    example_power_on(vfud_get_private(dev));
    return 0;
}

static int example_region_read(vfud_dev *dev, unsigned region,
                               uint64_t offset, void *buf, size_t len)
{
    struct example *s = vfud_get_private(dev);

    (void)region; /* only BAR0; the daemon checked offset + len */
    memcpy(buf, &s->bar[offset], len);
    return 0;
}

static int example_region_write(vfud_dev *dev, unsigned region,
                                uint64_t offset, const void *buf,
                                size_t len)
{
    struct example *s = vfud_get_private(dev);
    const uint8_t *src = buf;

    (void)region;
    for (size_t i = 0; i < len; i++) {
        /* The identifier is read-only: drop writes to it. */
        if (offset + i >= EXAMPLE_REG_ID + 4) {
            s->bar[offset + i] = src[i];
        }
    }
    if (offset < EXAMPLE_REG_IRQ + 4 &&
        offset + len > EXAMPLE_REG_IRQ) {
        if (le32_get(&s->bar[EXAMPLE_REG_IRQ]) & 1) {
            /* Fails if the guest enabled no interrupt: then it is
             * lost, as on hardware. */
            if (vfud_irq_trigger(dev, 0) < 0) {
                vfud_log(dev, LOG_DEBUG, "INTx raised while disabled");
            }
        } else {
            vfud_intx_deassert(dev);
        }
    }
    return 0;
}

static void example_destroy(vfud_dev *dev)
{
    free(vfud_get_private(dev));
}

static const struct vfud_config_key example_keys[] = {
    { "fill", "scratch register value after reset (default 0)" },
    { NULL, NULL },
};

static struct vfud_plugin example_plugin = {
    .name = "example",
    .version = "1.0",
    .description = "4 KiB of scratch registers and an INTx line",
    .config_keys = example_keys,
    .create = example_create,
    .config = example_config,
    .realize = example_realize,
    .reset = example_reset,
    .region_read = example_region_read,
    .region_write = example_region_write,
    .destroy = example_destroy,
};

VFUD_REGISTER_PLUGIN(example_plugin)
