/* SPDX-License-Identifier: BSD-3-Clause */
/* nvme (nvme.c: its registration), linked into the NVMe fuzz target under
 * its own init symbol; the plugin's other files are compiled as they are. */
#define vfud_plugin_init fuzz_nvme_plugin_init
#include "../../plugins/nvme/nvme.c"
