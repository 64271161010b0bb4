/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * gpio: a card compatible with the ACCES PCI-IDIO-16 (16 FET outputs,
 * 16 isolated inputs, one change-of-state interrupt), so that Linux's
 * gpio-pci-idio-16 driver binds to it and the guest gets a 32-line gpiochip
 * (OUT0-OUT15, IIN0-IIN15).
 *
 * PCI: 494f:0dc8, conventional, INTx pin A.  The driver uses BAR2 only; the
 * real card has it in I/O space and ioread8/iowrite8 work for either kind.
 * BAR2 holds eight byte registers:
 *
 *   off  read                            write
 *   +0   outputs 0-7                     outputs 0-7
 *   +1   inputs 0-7                      clear interrupt (any value)
 *   +2   enable COS interrupt (reads 0)  disable COS interrupt (any value)
 *   +3   activate filters 0-15 (reads 0) deactivate filters 0-15
 *   +4   outputs 8-15                    outputs 8-15
 *   +5   inputs 8-15                     ignored
 *   +6   interrupt status                ignored
 *   +7   filter status 0-7               set filters 0-7
 *
 * Interrupt status: bit 0 an input of 0-7 changed, bit 1 an input of 8-15
 * changed, bit 2 interrupt pending.  The driver only claims an interrupt
 * whose status has bit 2 and (in kernels before 6.4) bit 0 or 1 set.  A
 * change of any input is latched only while the interrupt is enabled; INTx
 * is asserted while the latch is set and the interrupt enabled.  Filters are
 * remembered but have no effect: host-side inputs do not bounce.
 *
 * Host side: inputs start at the "inputs" key and follow "input-file" (a
 * FIFO or a regular file, see vfiouserd-gpio(8)); "output-file" is replaced
 * atomically with the outputs after every change.
 *
 * Migration (state version 1): outputs, inputs, filters, interrupt enable
 * and status; the INTx level is the daemon's and travels with it.  While
 * the device is stopped, input changes from the host wait and are applied
 * (latching an interrupt as usual) when it runs again; a loaded state
 * rewrites output-file.
 *
 * This file reads top-down: the card's registers, the region callbacks,
 * the life cycle, migration.  The host side (input-file, output-file) is in
 * gpio_host.c; the state both share is struct gpio in gpio_int.h.
 */
#include <config.h>

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "gpio_int.h"

#define GPIO_BAR2_SIZE 8

#define GPIO_REG_OUT_LO  0
#define GPIO_REG_IN_LO   1 /* write: clear interrupt */
#define GPIO_REG_IRQ     2 /* read: enable, write: disable */
#define GPIO_REG_FILTERS 3 /* read: activate all, write: deactivate all */
#define GPIO_REG_OUT_HI  4
#define GPIO_REG_IN_HI   5
#define GPIO_REG_STATUS  6
#define GPIO_REG_FILTER8 7

#define GPIO_STATUS_LO      (1u << 0)
#define GPIO_STATUS_HI      (1u << 1)
#define GPIO_STATUS_PENDING (1u << 2)

#define GPIO_STATE_VERSION 1
#define GPIO_STATE_SIZE 8

static const struct vfud_pci_id gpio_pci_id = {
    .vendor_id = 0x494f,
    .device_id = 0x0dc8,
    .subsys_vendor_id = 0x494f,
    .subsys_id = 0x0dc8,
    /* Data acquisition controller, "other": the real card's value is not
     * documented and no driver looks at it. */
    .class_code = 0x118000,
};

/* ---- Registers ---- */

static void gpio_raise(vfud_dev *dev)
{
    int r = vfud_irq_trigger(dev, 0);

    if (r < 0) {
        vfud_log(dev, LOG_DEBUG, "INTx not delivered: %s", strerror(-r));
    }
}

static void gpio_set_outputs(vfud_dev *dev, struct gpio *g, uint16_t outputs)
{
    int r;

    if (outputs == g->outputs) {
        return;
    }
    g->outputs = outputs;
    vfud_log(dev, LOG_INFO, "outputs 0x%04x", outputs);
    r = gpio_write_output_file(g);
    if (r < 0) {
        vfud_log(dev, LOG_WARNING, "output-file %s: %s", g->output_file, strerror(-r));
    }
}

void gpio_set_inputs(vfud_dev *dev, struct gpio *g, uint16_t inputs)
{
    uint16_t changed = g->inputs ^ inputs;
    bool was_pending = g->irq_status != 0;

    if (g->stopped) {
        /* A stopped device changes nothing the guest can see. */
        g->held = true;
        g->held_inputs = inputs;
        return;
    }
    if (changed == 0) {
        return;
    }
    g->inputs = inputs;
    vfud_log(dev, LOG_INFO, "inputs 0x%04x", inputs);
    if (!g->irq_enabled) {
        return;
    }
    g->irq_status |= GPIO_STATUS_PENDING;
    g->irq_status |= (changed & 0x00ff) ? GPIO_STATUS_LO : 0;
    g->irq_status |= (changed & 0xff00) ? GPIO_STATUS_HI : 0;
    if (!was_pending) {
        gpio_raise(dev);
    }
}

static uint8_t gpio_read_reg(vfud_dev *dev, struct gpio *g, uint64_t reg)
{
    switch (reg) {
    case GPIO_REG_OUT_LO:
        return g->outputs & 0xff;
    case GPIO_REG_IN_LO:
        return g->inputs & 0xff;
    case GPIO_REG_IRQ:
        if (!g->irq_enabled) {
            g->irq_enabled = true;
            if (g->irq_status != 0) {
                gpio_raise(dev);
            }
        }
        return 0;
    case GPIO_REG_FILTERS:
        g->filters = 0xffff;
        return 0;
    case GPIO_REG_OUT_HI:
        return g->outputs >> 8;
    case GPIO_REG_IN_HI:
        return g->inputs >> 8;
    case GPIO_REG_STATUS:
        return g->irq_status;
    default:
        return g->filters & 0xff;
    }
}

static void gpio_write_reg(vfud_dev *dev, struct gpio *g, uint64_t reg, uint8_t v)
{
    switch (reg) {
    case GPIO_REG_OUT_LO:
        gpio_set_outputs(dev, g, (g->outputs & 0xff00) | v);
        break;
    case GPIO_REG_IN_LO:
        if (g->irq_status != 0) {
            g->irq_status = 0;
            vfud_intx_deassert(dev);
        }
        break;
    case GPIO_REG_IRQ:
        /* The latch survives: only the line drops. */
        g->irq_enabled = false;
        if (g->irq_status != 0) {
            vfud_intx_deassert(dev);
        }
        break;
    case GPIO_REG_FILTERS:
        g->filters = 0;
        break;
    case GPIO_REG_OUT_HI:
        gpio_set_outputs(dev, g, (uint16_t)((g->outputs & 0x00ff) | (v << 8)));
        break;
    case GPIO_REG_FILTER8:
        g->filters = (g->filters & 0xff00) | v;
        break;
    default:
        break; /* +5, +6: unused */
    }
}

/* ---- Region callbacks ---- */

/* Registers are bytes; wider accesses touch consecutive registers. */
static int gpio_region_read(vfud_dev *dev, unsigned region, uint64_t offset,
                            void *buf, size_t len)
{
    struct gpio *g = vfud_get_private(dev);
    uint8_t *p = buf;

    for (size_t i = 0; i < len; i++) {
        p[i] = gpio_read_reg(dev, g, offset + i);
    }
    return 0;
}

static int gpio_region_write(vfud_dev *dev, unsigned region, uint64_t offset,
                             const void *buf, size_t len)
{
    struct gpio *g = vfud_get_private(dev);
    const uint8_t *p = buf;

    for (size_t i = 0; i < len; i++) {
        gpio_write_reg(dev, g, offset + i, p[i]);
    }
    return 0;
}

/* ---- Life cycle ---- */

static int gpio_create(vfud_dev *dev)
{
    struct gpio *g = calloc(1, sizeof(*g));

    if (g == NULL) {
        return -ENOMEM;
    }
    g->poll_ms = 100;
    g->fifo_fd = -1;
    g->fifo_wfd = -1;
    vfud_set_private(dev, g);
    return 0;
}

static int gpio_config(vfud_dev *dev, const char *key, const char *value)
{
    struct gpio *g = vfud_get_private(dev);
    uint64_t n;

    if (strcmp(key, "inputs") == 0) {
        if (vfud_parse_u64(value, &n) < 0 || n > 0xffff) {
            vfud_error(dev, "inputs: expected a 16-bit number, not \"%s\"", value);
            return -EINVAL;
        }
        g->inputs = (uint16_t)n;
    } else if (strcmp(key, "input-file") == 0) {
        free(g->input_file);
        g->input_file = strdup(value);
        if (g->input_file == NULL) {
            return -ENOMEM;
        }
    } else if (strcmp(key, "output-file") == 0) {
        free(g->output_file);
        g->output_file = strdup(value);
        if (g->output_file == NULL) {
            return -ENOMEM;
        }
    } else if (strcmp(key, "input-poll-ms") == 0) {
        if (vfud_parse_u64(value, &n) < 0 || n < 10 || n > 60000) {
            vfud_error(dev, "input-poll-ms: expected 10..60000, not \"%s\"", value);
            return -EINVAL;
        }
        g->poll_ms = (unsigned)n;
    } else {
        vfud_error(dev, "unknown key %s", key);
        return -EINVAL;
    }
    return 0;
}

static int gpio_config_complete(vfud_dev *dev)
{
    return gpio_input_check(dev, vfud_get_private(dev));
}

static int gpio_realize(vfud_dev *dev)
{
    struct gpio *g = vfud_get_private(dev);
    int r;

    r = vfud_pci_init(dev, VFUD_PCI_CONVENTIONAL, &gpio_pci_id);
    if (r < 0) {
        return r;
    }
    r = vfud_region_add(dev, VFUD_REGION_BAR2, GPIO_BAR2_SIZE,
                        VFUD_REGION_RW | VFUD_REGION_IO);
    if (r < 0) {
        return r;
    }
    r = vfud_irq_setup(dev, VFUD_IRQ_INTX, 1);
    if (r < 0) {
        return r;
    }
    r = gpio_write_output_file(g);
    if (r < 0) {
        vfud_error(dev, "output-file %s: %s", g->output_file, strerror(-r));
    }
    return r;
}

static int gpio_start(vfud_dev *dev)
{
    return gpio_input_start(dev, vfud_get_private(dev));
}

/* Power-on state; the inputs are the host's and keep their levels. */
static int gpio_reset(vfud_dev *dev, enum vfud_reset_reason why)
{
    struct gpio *g = vfud_get_private(dev);

    gpio_set_outputs(dev, g, 0);
    g->filters = 0;
    g->irq_enabled = false;
    g->irq_status = 0;
    vfud_intx_deassert(dev);
    return 0;
}

static void gpio_destroy(vfud_dev *dev)
{
    struct gpio *g = vfud_get_private(dev);

    if (g == NULL) {
        return;
    }
    gpio_input_stop(g);
    free(g->input_file);
    free(g->output_file);
    free(g);
}

/* ---- Migration ---- */

static int gpio_quiesce(vfud_dev *dev, bool stop)
{
    struct gpio *g = vfud_get_private(dev);

    g->stopped = stop;
    if (!stop && g->held) {
        g->held = false;
        gpio_set_inputs(dev, g, g->held_inputs);
    }
    return 0;
}

static int gpio_save_state(vfud_dev *dev, vfud_mig_stream *out)
{
    struct gpio *g = vfud_get_private(dev);
    const uint8_t st[GPIO_STATE_SIZE] = {
        g->outputs & 0xff, g->outputs >> 8,
        g->inputs & 0xff, g->inputs >> 8,
        g->filters & 0xff, g->filters >> 8,
        g->irq_enabled, g->irq_status,
    };

    return vfud_mig_write(out, st, sizeof(st));
}

static int gpio_load_state(vfud_dev *dev, uint32_t version, const void *data,
                           size_t len)
{
    struct gpio *g = vfud_get_private(dev);
    const uint8_t *st = data;

    if (version != 1 || len != GPIO_STATE_SIZE) {
        vfud_error(dev, "state version %u of %zu bytes; version 1 has %d", version,
                   len, GPIO_STATE_SIZE);
        return -EINVAL;
    }
    if (st[6] > 1 || (st[7] & ~(GPIO_STATUS_LO | GPIO_STATUS_HI | GPIO_STATUS_PENDING))) {
        vfud_error(dev, "bad interrupt state (enable %u, status %#x)", st[6], st[7]);
        return -EINVAL;
    }
    g->inputs = (uint16_t)(st[2] | st[3] << 8);
    g->filters = (uint16_t)(st[4] | st[5] << 8);
    g->irq_enabled = st[6];
    g->irq_status = st[7];
    /* Through the setter: output-file shows the loaded outputs. */
    gpio_set_outputs(dev, g, (uint16_t)(st[0] | st[1] << 8));
    return 0;
}

static const struct vfud_config_key gpio_config_keys[] = {
    { "inputs", "levels of the 16 inputs at start (e.g. 0x00ff; default 0)" },
    { "input-file", "FIFO or regular file whose lines change the inputs "
                    "(\"0x00ff\", \"5=1\")" },
    { "input-poll-ms", "how often a regular input-file is checked (default 100)" },
    { "output-file", "file replaced with the outputs (\"0x00ff\") on every change" },
    { NULL, NULL },
};

static struct vfud_plugin gpio_plugin = {
    .name = "gpio",
    .version = PACKAGE_VERSION,
    .description = "ACCES PCI-IDIO-16 compatible 16-in/16-out GPIO card",
    .config_keys = gpio_config_keys,
    .create = gpio_create,
    .config = gpio_config,
    .config_complete = gpio_config_complete,
    .realize = gpio_realize,
    .start = gpio_start,
    .destroy = gpio_destroy,
    .reset = gpio_reset,
    .region_read = gpio_region_read,
    .region_write = gpio_region_write,
    .state_version = GPIO_STATE_VERSION,
    .quiesce = gpio_quiesce,
    .save_state = gpio_save_state,
    .load_state = gpio_load_state,
};

VFUD_REGISTER_PLUGIN(gpio_plugin)
