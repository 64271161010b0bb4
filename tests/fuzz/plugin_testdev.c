/* SPDX-License-Identifier: BSD-3-Clause */
/* testdev, linked into the fuzz target under its own init symbol. */
#define vfud_plugin_init fuzz_testdev_plugin_init
#include "../../plugins/testdev/testdev.c"
