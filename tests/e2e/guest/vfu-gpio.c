/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * vfu-gpio: guest side of the gpio end-to-end test (runs inside the lab
 * guest, linked statically).
 *
 *   vfu-gpio INITIAL READY IN...
 *   vfu-gpio --toggle INITIAL STOPFILE
 *
 * Finds the PCI-IDIO-16 card (494f:0dc8), checks that gpio-pci-idio-16
 * drove it, and talks to its gpiochip through the GPIO character device
 * (uapi v2):
 *
 *   1. requests IIN0-IIN15 (lines 16-31) with both-edge detection and checks
 *      that they read INITIAL;
 *   2. requests OUT0-OUT15 (lines 0-15) and sets them to READY, which tells
 *      the host that edge detection is armed;
 *   3. for each IN: waits for edge events until the inputs read IN and every
 *      input that changed has reported an event with its new level, then
 *      echoes IN on the outputs so that the host sees what the guest read.
 *
 * The card's change-of-state interrupt has one status bit for all 16
 * inputs, so the driver reports any change on every requested input: lines
 * that did not change get events too, which is why only the changed lines
 * are checked.  Prints what it saw; exits 0 when all went as expected.
 *
 * --toggle (nvme-upgrade.test: the device is handed from daemon to daemon
 * meanwhile) sets the outputs to a new value every few milliseconds until
 * STOPFILE exists; after each set it reads the inputs (a read of the
 * card), which must read INITIAL.  The driver cannot read outputs back
 * (EIO): the host sees them in the plugin's output-file.  Any failed
 * ioctl or wrong value fails it.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <linux/gpio.h>
#include <poll.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <time.h>
#include <unistd.h>

#define GPIO_DRIVER   "pci-idio-16"
#define GPIO_LINES    32
#define GPIO_IN_FIRST 16
#define GPIO_WAIT_MS  (180 * 1000) /* per step: TCG on a loaded machine */
#define GPIO_QUIET_MS 300          /* no event for this long: the burst is over */

static void fail(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));

static void fail(const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    fputs("vfu-gpio: FAIL: ", stdout);
    vprintf(fmt, ap);
    putchar('\n');
    va_end(ap);
    exit(1);
}

static int64_t now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static uint16_t parse_u16(const char *s)
{
    char *end;
    unsigned long v;

    errno = 0;
    v = strtoul(s, &end, 0);
    if (errno != 0 || *s == '\0' || *end != '\0' || v > 0xffff) {
        fail("bad 16-bit value \"%s\"", s);
    }
    return (uint16_t)v;
}

static bool read_line(const char *path, char *buf, size_t size)
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

/* The PCI address of the first 494f:0dc8 function, into bdf. */
static void gpio_find_card(char *bdf, size_t size)
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
        if (!read_line(path, vendor, sizeof(vendor))) {
            continue;
        }
        snprintf(path, sizeof(path), "/sys/bus/pci/devices/%s/device", e->d_name);
        if (!read_line(path, device, sizeof(device))) {
            continue;
        }
        if (strcmp(vendor, "0x494f") == 0 && strcmp(device, "0x0dc8") == 0) {
            snprintf(bdf, size, "%s", e->d_name);
            closedir(d);
            return;
        }
    }
    closedir(d);
    fail("no PCI device 494f:0dc8");
}

static void gpio_check_driver(const char *bdf)
{
    char path[PATH_MAX], target[PATH_MAX];
    const char *name;
    ssize_t n;

    snprintf(path, sizeof(path), "/sys/bus/pci/devices/%s/driver", bdf);
    n = readlink(path, target, sizeof(target) - 1);
    if (n < 0) {
        fail("%s: no driver bound (%s)", bdf, strerror(errno));
    }
    target[n] = '\0';
    name = strrchr(target, '/') ? strrchr(target, '/') + 1 : target;
    if (strcmp(name, GPIO_DRIVER) != 0) {
        fail("%s: bound to %s, not %s", bdf, name, GPIO_DRIVER);
    }
    printf("vfu-gpio: %s bound to driver %s\n", bdf, name);
}

/* Open the gpiochip that the card's driver registered: its sysfs node is
 * a child of the PCI device. */
static int gpio_open_chip(const char *bdf)
{
    char path[PATH_MAX], dev[PATH_MAX];
    struct gpiochip_info info;
    DIR *d;
    struct dirent *e;
    int fd = -1;

    snprintf(path, sizeof(path), "/sys/bus/pci/devices/%s", bdf);
    d = opendir(path);
    if (d == NULL) {
        fail("%s: %s", path, strerror(errno));
    }
    while ((e = readdir(d)) != NULL) {
        if (strncmp(e->d_name, "gpiochip", 8) == 0) {
            snprintf(dev, sizeof(dev), "/dev/%s", e->d_name);
            fd = open(dev, O_RDWR | O_CLOEXEC);
            if (fd < 0) {
                fail("%s: %s", dev, strerror(errno));
            }
            break;
        }
    }
    closedir(d);
    if (fd < 0) {
        fail("%s has no gpiochip", bdf);
    }
    memset(&info, 0, sizeof(info));
    if (ioctl(fd, GPIO_GET_CHIPINFO_IOCTL, &info) < 0) {
        fail("%s: chip info: %s", dev, strerror(errno));
    }
    printf("vfu-gpio: %s: name %s, label \"%s\", %u lines\n", dev, info.name,
           info.label, info.lines);
    if (info.lines != GPIO_LINES) {
        fail("expected %d lines", GPIO_LINES);
    }
    return fd;
}

/* Line names as the driver gives them: OUT0-OUT15 then IIN0-IIN15. */
static void gpio_check_names(int chip)
{
    for (unsigned i = 0; i < GPIO_LINES; i++) {
        struct gpio_v2_line_info li;
        char want[16];

        memset(&li, 0, sizeof(li));
        li.offset = i;
        if (ioctl(chip, GPIO_V2_GET_LINEINFO_IOCTL, &li) < 0) {
            fail("line %u info: %s", i, strerror(errno));
        }
        snprintf(want, sizeof(want), i < GPIO_IN_FIRST ? "OUT%u" : "IIN%u",
                 i % GPIO_IN_FIRST);
        if (strcmp(li.name, want) != 0) {
            fail("line %u is named \"%s\", expected \"%s\"", i, li.name, want);
        }
    }
    printf("vfu-gpio: lines 0-15 OUT0-OUT15, lines 16-31 IIN0-IIN15\n");
}

/* Request 16 consecutive lines from first; returns the request fd. */
static int gpio_request(int chip, unsigned first, uint64_t flags)
{
    struct gpio_v2_line_request req;

    memset(&req, 0, sizeof(req));
    for (unsigned i = 0; i < 16; i++) {
        req.offsets[i] = first + i;
    }
    req.num_lines = 16;
    req.config.flags = flags;
    snprintf(req.consumer, sizeof(req.consumer), "vfu-e2e");
    if (ioctl(chip, GPIO_V2_GET_LINE_IOCTL, &req) < 0) {
        fail("request lines %u-%u: %s", first, first + 15, strerror(errno));
    }
    return req.fd;
}

static uint16_t gpio_get(int req)
{
    struct gpio_v2_line_values v = { .mask = 0xffff };

    if (ioctl(req, GPIO_V2_LINE_GET_VALUES_IOCTL, &v) < 0) {
        fail("get values: %s", strerror(errno));
    }
    return (uint16_t)v.bits;
}

static void gpio_set(int req, uint16_t bits)
{
    struct gpio_v2_line_values v = { .bits = bits, .mask = 0xffff };

    if (ioctl(req, GPIO_V2_LINE_SET_VALUES_IOCTL, &v) < 0) {
        fail("set values: %s", strerror(errno));
    }
    printf("vfu-gpio: outputs set to 0x%04x\n", bits);
    fflush(stdout);
}

/* Read the events pending after waiting up to timeout_ms; returns how
 * many, and add to rising and falling the bit of every input line that
 * reported that edge. */
static int gpio_read_events(int req, int timeout_ms, uint16_t *rising, uint16_t *falling)
{
    struct gpio_v2_line_event ev[64];
    struct pollfd p = { .fd = req, .events = POLLIN };
    ssize_t n;
    int r, count = 0;

    r = poll(&p, 1, timeout_ms);
    if (r < 0 && errno != EINTR) {
        fail("poll: %s", strerror(errno));
    }
    if (r <= 0) {
        return 0;
    }
    n = read(req, ev, sizeof(ev));
    if (n < 0) {
        fail("read events: %s", strerror(errno));
    }
    for (size_t i = 0; i < (size_t)n / sizeof(ev[0]); i++) {
        unsigned line = ev[i].offset - GPIO_IN_FIRST;

        if (ev[i].offset < GPIO_IN_FIRST || line >= 16) {
            fail("event for line %u, which was not requested", ev[i].offset);
        }
        if (ev[i].id == GPIO_V2_LINE_EVENT_RISING_EDGE) {
            *rising |= (uint16_t)(1u << line);
        } else {
            *falling |= (uint16_t)(1u << line);
        }
        count++;
    }
    return count;
}

/* Swallow what is left of the previous burst of events. */
static void gpio_drain(int req)
{
    uint16_t r = 0, f = 0;

    while (gpio_read_events(req, GPIO_QUIET_MS, &r, &f) > 0) {
        /* nothing to look at */
    }
}

/* Wait until the inputs read want and every changed input reported its
 * new level as an edge event. */
static void gpio_wait_inputs(int req, uint16_t old, uint16_t want)
{
    uint16_t changed = old ^ want, rising = 0, falling = 0, seen = 0, now = old;
    int64_t deadline = now_ms() + GPIO_WAIT_MS;
    int events = 0;

    for (;;) {
        int left = (int)(deadline - now_ms());

        if (left <= 0) {
            fail("waiting for inputs 0x%04x: they read 0x%04x after %d events "
                 "(rising 0x%04x, falling 0x%04x)", want, now, events, rising, falling);
        }
        events += gpio_read_events(req, left, &rising, &falling);
        if (events == 0) {
            continue;
        }
        now = gpio_get(req);
        seen = (rising & want) | (falling & (uint16_t)~want);
        if (now == want && (seen & changed) == changed) {
            break;
        }
    }
    printf("vfu-gpio: inputs 0x%04x -> 0x%04x: %d edge events, changed lines "
           "0x%04x all reported (rising 0x%04x, falling 0x%04x)\n",
           old, want, events, changed, rising, falling);
}

static int gpio_toggle(uint16_t initial, const char *stop)
{
    char bdf[NAME_MAX + 1];
    int chip, in_req, out_req;
    unsigned long n = 0;

    gpio_find_card(bdf, sizeof(bdf));
    gpio_check_driver(bdf);
    chip = gpio_open_chip(bdf);
    in_req = gpio_request(chip, GPIO_IN_FIRST, GPIO_V2_LINE_FLAG_INPUT);
    out_req = gpio_request(chip, 0, GPIO_V2_LINE_FLAG_OUTPUT);
    printf("vfu-gpio: toggling\n");
    while (access(stop, F_OK) != 0) {
        uint16_t bits = (uint16_t)(n * 0x9e37u + 1), in;
        struct gpio_v2_line_values v = { .bits = bits, .mask = 0xffff };
        struct timespec pause = { 0, 5 * 1000 * 1000 };

        if (ioctl(out_req, GPIO_V2_LINE_SET_VALUES_IOCTL, &v) < 0) {
            fail("toggle %lu: set values: %s", n, strerror(errno));
        }
        in = gpio_get(in_req);
        if (in != initial) {
            fail("toggle %lu: inputs read 0x%04x, expected 0x%04x", n, in, initial);
        }
        n++;
        nanosleep(&pause, NULL);
    }
    close(out_req);
    close(in_req);
    close(chip);
    printf("vfu-gpio: toggled the outputs %lu times, inputs read right each time\n", n);
    printf("vfu-gpio: PASS\n");
    return 0;
}

int main(int argc, char **argv)
{
    char bdf[NAME_MAX + 1];
    uint16_t initial, ready, inputs;
    int chip, in_req, out_req;

    setvbuf(stdout, NULL, _IOLBF, 0);
    if (argc == 4 && strcmp(argv[1], "--toggle") == 0) {
        return gpio_toggle(parse_u16(argv[2]), argv[3]);
    }

    if (argc < 3) {
        fprintf(stderr, "usage: vfu-gpio INITIAL READY IN...\n");
        return 2;
    }
    setvbuf(stdout, NULL, _IOLBF, 0);
    initial = parse_u16(argv[1]);
    ready = parse_u16(argv[2]);

    gpio_find_card(bdf, sizeof(bdf));
    gpio_check_driver(bdf);
    chip = gpio_open_chip(bdf);
    gpio_check_names(chip);

    in_req = gpio_request(chip, GPIO_IN_FIRST, GPIO_V2_LINE_FLAG_INPUT |
                          GPIO_V2_LINE_FLAG_EDGE_RISING | GPIO_V2_LINE_FLAG_EDGE_FALLING);
    out_req = gpio_request(chip, 0, GPIO_V2_LINE_FLAG_OUTPUT);
    inputs = gpio_get(in_req);
    printf("vfu-gpio: inputs read 0x%04x\n", inputs);
    if (inputs != initial) {
        fail("inputs read 0x%04x, expected 0x%04x", inputs, initial);
    }

    gpio_set(out_req, ready);
    for (int i = 3; i < argc; i++) {
        uint16_t want = parse_u16(argv[i]);

        gpio_wait_inputs(in_req, inputs, want);
        inputs = want;
        gpio_drain(in_req);
        gpio_set(out_req, want);
    }
    close(out_req);
    close(in_req);
    close(chip);
    printf("vfu-gpio: PASS\n");
    return 0;
}
