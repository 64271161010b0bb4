/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * gpio plugin internals: the card's state, shared by the card (gpio.c) and
 * its host side, input-file and output-file (gpio_host.c).
 */
#ifndef VFUD_GPIO_INT_H
#define VFUD_GPIO_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/stat.h>

#include <vfiouserd/plugin.h>

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

/* gpio.c: the host changed the inputs (latches the change interrupt). */
void gpio_set_inputs(vfud_dev *dev, struct gpio *g, uint16_t inputs);

/* gpio_host.c: 0 or a negative errno (said with vfud_error where the
 * callback fails). */
int gpio_write_output_file(const struct gpio *g);
int gpio_input_check(vfud_dev *dev, struct gpio *g);
int gpio_input_start(vfud_dev *dev, struct gpio *g);
void gpio_input_stop(struct gpio *g);

#endif
