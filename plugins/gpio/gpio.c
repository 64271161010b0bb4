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
 */
#include <config.h>

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <vfiouserd/plugin.h>

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

#define GPIO_LINE_MAX 256       /* longest input-file line */
#define GPIO_FILE_MAX (64 << 10) /* largest regular input-file read */

struct gpio {
    uint16_t outputs;
    uint16_t inputs;
    uint16_t filters;
    bool irq_enabled;
    uint8_t irq_status;

    bool stopped;         /* quiesced for migration */
    bool held;            /* host inputs changed while stopped: */
    uint16_t held_inputs; /* to these */

    char *input_file;
    char *output_file;
    unsigned poll_ms;
    bool input_is_fifo;

    int fifo_fd;  /* FIFO read end, watched */
    int fifo_wfd; /* and a write end we keep open */
    vfud_watch *watch;
    char line[GPIO_LINE_MAX];
    size_t line_len;
    bool line_too_long;
    struct stat last_st; /* regular input-file as last read */
};

static const struct vfud_pci_id gpio_pci_id = {
    .vendor_id = 0x494f,
    .device_id = 0x0dc8,
    .subsys_vendor_id = 0x494f,
    .subsys_id = 0x0dc8,
    /* Data acquisition controller, "other": the real card's value is not
     * documented and no driver looks at it. */
    .class_code = 0x118000,
};

static void gpio_raise(vfud_dev *dev)
{
    int r = vfud_irq_trigger(dev, 0);

    if (r < 0) {
        vfud_log(dev, LOG_DEBUG, "INTx not delivered: %s", strerror(-r));
    }
}

/* Replace output-file with the outputs: write a temporary file beside it and
 * rename it, so a reader never sees a partial file.  0 or -errno. */
static int gpio_write_output_file(const struct gpio *g)
{
    char tmp[PATH_MAX];
    int fd, r = 0;

    if (g->output_file == NULL) {
        return 0;
    }
    if (snprintf(tmp, sizeof(tmp), "%s.tmp", g->output_file) >= (int)sizeof(tmp)) {
        return -ENAMETOOLONG;
    }
    fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0) {
        return -errno;
    }
    if (dprintf(fd, "0x%04x\n", g->outputs) < 0) {
        r = -errno;
    }
    if (close(fd) < 0 && r == 0) {
        r = -errno;
    }
    if (r == 0 && rename(tmp, g->output_file) < 0) {
        r = -errno;
    }
    if (r < 0) {
        unlink(tmp);
    }
    return r;
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

static void gpio_set_inputs(vfud_dev *dev, struct gpio *g, uint16_t inputs)
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

/* One line of input-file: tokens separated by blanks or commas, either a
 * number for all 16 inputs or N=0/N=1 for input N; '#' starts a comment.
 * The tokens are applied to *levels only if all of them are valid. */
static int gpio_parse_line(const char *text, uint16_t *levels)
{
    char buf[GPIO_LINE_MAX];
    char *tok, *save, *eq;
    uint16_t v = *levels;
    uint64_t n, bit;

    snprintf(buf, sizeof(buf), "%s", text);
    buf[strcspn(buf, "#")] = '\0';
    for (tok = strtok_r(buf, " \t\r\n,", &save); tok != NULL;
         tok = strtok_r(NULL, " \t\r\n,", &save)) {
        eq = strchr(tok, '=');
        if (eq == NULL) {
            if (vfud_parse_u64(tok, &n) < 0 || n > 0xffff) {
                return -EINVAL;
            }
            v = (uint16_t)n;
            continue;
        }
        *eq = '\0';
        if (vfud_parse_u64(tok, &bit) < 0 || bit > 15 ||
            vfud_parse_u64(eq + 1, &n) < 0 || n > 1) {
            return -EINVAL;
        }
        v = (uint16_t)((v & ~(1u << bit)) | (n << bit));
    }
    *levels = v;
    return 0;
}

static void gpio_apply_line(vfud_dev *dev, struct gpio *g, const char *line)
{
    uint16_t levels = g->inputs;

    if (gpio_parse_line(line, &levels) < 0) {
        vfud_log(dev, LOG_WARNING, "input-file %s: ignoring bad line \"%s\"",
                 g->input_file, line);
        return;
    }
    gpio_set_inputs(dev, g, levels);
}

/* Feed bytes read from the FIFO; every complete line is one event. */
static void gpio_feed(vfud_dev *dev, struct gpio *g, const char *p, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        if (p[i] != '\n') {
            if (g->line_len + 1 < sizeof(g->line)) {
                g->line[g->line_len++] = p[i];
            } else {
                g->line_too_long = true;
            }
            continue;
        }
        g->line[g->line_len] = '\0';
        if (g->line_too_long) {
            vfud_log(dev, LOG_WARNING, "input-file %s: ignoring a line longer "
                     "than %d bytes", g->input_file, GPIO_LINE_MAX - 1);
        } else {
            gpio_apply_line(dev, g, g->line);
        }
        g->line_len = 0;
        g->line_too_long = false;
    }
}

/* The FIFO has data.  We hold a write end ourselves, so the reader never
 * sees end-of-file or a hang-up when a writer goes away: no reopening, and
 * the watch stays as it is.  The price: a last line without its newline waits
 * for the next one. */
static bool gpio_fifo_ready(vfud_dev *dev, int fd, unsigned revents, void *opaque)
{
    struct gpio *g = opaque;
    char buf[512];
    ssize_t n;

    while ((n = read(fd, buf, sizeof(buf))) > 0) {
        gpio_feed(dev, g, buf, (size_t)n);
    }
    if (n < 0 && errno != EAGAIN && errno != EINTR) {
        vfud_log(dev, LOG_WARNING, "input-file %s: %s", g->input_file,
                 strerror(errno));
    }
    return true;
}

static int gpio_fifo_open(vfud_dev *dev, struct gpio *g)
{
    int r;

    g->fifo_fd = open(g->input_file, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
    if (g->fifo_fd >= 0) {
        g->fifo_wfd = open(g->input_file, O_WRONLY | O_NONBLOCK | O_CLOEXEC);
    }
    if (g->fifo_fd < 0 || g->fifo_wfd < 0) {
        r = -errno;
        vfud_error(dev, "input-file %s: %s", g->input_file, strerror(-r));
        return r;
    }
    g->watch = vfud_watch_fd(dev, g->fifo_fd, VFUD_EV_IN, gpio_fifo_ready, g);
    if (g->watch == NULL) {
        vfud_error(dev, "input-file %s: cannot watch it", g->input_file);
        return -ENOMEM;
    }
    return 0;
}

/* Regular input-file: apply all its lines to the current levels and commit
 * the result as one event. */
static void gpio_read_file(vfud_dev *dev, struct gpio *g)
{
    char *text, *line, *save;
    uint16_t levels = g->inputs;
    ssize_t n;
    int fd;

    fd = open(g->input_file, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        vfud_log(dev, LOG_DEBUG, "input-file %s: %s", g->input_file, strerror(errno));
        return;
    }
    text = malloc(GPIO_FILE_MAX + 1);
    n = text ? read(fd, text, GPIO_FILE_MAX) : -1;
    close(fd);
    if (n < 0) {
        vfud_log(dev, LOG_WARNING, "input-file %s: cannot read it", g->input_file);
        free(text);
        return;
    }
    text[n] = '\0';
    for (line = strtok_r(text, "\n", &save); line != NULL;
         line = strtok_r(NULL, "\n", &save)) {
        if (strlen(line) >= GPIO_LINE_MAX || gpio_parse_line(line, &levels) < 0) {
            vfud_log(dev, LOG_WARNING, "input-file %s: ignoring bad line",
                     g->input_file);
        }
    }
    free(text);
    gpio_set_inputs(dev, g, levels);
}

static bool gpio_file_poll(vfud_dev *dev, void *opaque)
{
    struct gpio *g = opaque;
    struct stat st;

    if (stat(g->input_file, &st) < 0) {
        return true;
    }
    if (st.st_ino != g->last_st.st_ino || st.st_size != g->last_st.st_size ||
        st.st_mtim.tv_sec != g->last_st.st_mtim.tv_sec ||
        st.st_mtim.tv_nsec != g->last_st.st_mtim.tv_nsec) {
        g->last_st = st;
        gpio_read_file(dev, g);
    }
    return true;
}

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

static void gpio_destroy(vfud_dev *dev)
{
    struct gpio *g = vfud_get_private(dev);

    if (g == NULL) {
        return;
    }
    if (g->watch != NULL) {
        vfud_watch_remove(g->watch);
    }
    if (g->fifo_fd >= 0) {
        close(g->fifo_fd);
    }
    if (g->fifo_wfd >= 0) {
        close(g->fifo_wfd);
    }
    free(g->input_file);
    free(g->output_file);
    free(g);
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
    struct gpio *g = vfud_get_private(dev);
    struct stat st;

    if (g->input_file == NULL) {
        return 0;
    }
    if (stat(g->input_file, &st) < 0) {
        int r = -errno;

        vfud_error(dev, "input-file %s: %s", g->input_file, strerror(-r));
        return r;
    }
    if (!S_ISFIFO(st.st_mode) && !S_ISREG(st.st_mode)) {
        vfud_error(dev, "input-file %s: not a FIFO or a regular file", g->input_file);
        return -EINVAL;
    }
    g->input_is_fifo = S_ISFIFO(st.st_mode);
    return 0;
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
    struct gpio *g = vfud_get_private(dev);

    if (g->input_file == NULL) {
        return 0;
    }
    if (g->input_is_fifo) {
        return gpio_fifo_open(dev, g);
    }
    gpio_file_poll(dev, g);
    g->watch = vfud_watch_timer(dev, g->poll_ms, gpio_file_poll, g);
    if (g->watch == NULL) {
        vfud_error(dev, "input-file %s: cannot start polling it", g->input_file);
        return -ENOMEM;
    }
    return 0;
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
