/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * gpio: the host side of the card.  input-file (a FIFO watched on the
 * device thread, or a regular file polled every input-poll-ms) changes the
 * inputs a line at a time; output-file is replaced atomically with the
 * outputs after every change.  See vfiouserd-gpio(8) for the formats.
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

#include "gpio_int.h"

/* Replace output-file with the outputs: write a temporary file beside it and
 * rename it, so a reader never sees a partial file.  The temporary name is
 * the process's own: during an upgrade the new daemon's instance writes the
 * file while the old one still does, and with one shared name either
 * could rename the other's file away (ENOENT).  0 or -errno. */
int gpio_write_output_file(const struct gpio *g)
{
    char tmp[PATH_MAX];
    int fd, r = 0;

    if (g->output_file == NULL) {
        return 0;
    }
    if (snprintf(tmp, sizeof(tmp), "%s.tmp%d", g->output_file, (int)getpid()) >=
        (int)sizeof(tmp)) {
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

/* config_complete: input-file, if given, is a FIFO or a regular file. */
int gpio_input_check(vfud_dev *dev, struct gpio *g)
{
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

/* start: follow input-file, with a watch on the FIFO or a timer that
 * polls the regular file. */
int gpio_input_start(vfud_dev *dev, struct gpio *g)
{
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

void gpio_input_stop(struct gpio *g)
{
    if (g->watch != NULL) {
        vfud_watch_remove(g->watch);
        g->watch = NULL;
    }
    if (g->fifo_fd >= 0) {
        close(g->fifo_fd);
        g->fifo_fd = -1;
    }
    if (g->fifo_wfd >= 0) {
        close(g->fifo_wfd);
        g->fifo_wfd = -1;
    }
}
