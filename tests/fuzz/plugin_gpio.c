/* SPDX-License-Identifier: BSD-3-Clause */
/* gpio, linked into the fuzz target under its own init symbol. */
#define vfud_plugin_init fuzz_gpio_plugin_init
#include "../../plugins/gpio/gpio.c"
#include "../../plugins/gpio/gpio_host.c"
