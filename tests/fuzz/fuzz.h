/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The fuzz targets, of the message engine (fuzz_engine.c) and of the NVMe
 * plugin (fuzz_nvme.c), and what they link in: the plugins, compiled into
 * the program with their registration symbol renamed (plugin_*.c), so the
 * fuzzer instruments and sanitizes them too and no dlopen() is involved.
 */
#ifndef VFUD_FUZZ_H
#define VFUD_FUZZ_H

#include <stddef.h>
#include <stdint.h>

struct vfud_plugin;

struct vfud_plugin *fuzz_testdev_plugin_init(void);
struct vfud_plugin *fuzz_gpio_plugin_init(void);
struct vfud_plugin *fuzz_nvme_plugin_init(void);

/* libFuzzer's entry point; fuzz_main.c calls it for each file when the
 * target is built without libFuzzer (the regression replay). */
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#endif
