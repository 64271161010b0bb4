/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * bad_nopci: a plugin whose realize succeeds without declaring a PCI
 * function (no vfud_pci_init).  The daemon must refuse the device at
 * start-up rather than serve a device without config space.
 */
#include <vfiouserd/plugin.h>

static int bad_nopci_realize(vfud_dev *dev)
{
    (void)dev;
    return 0;
}

static struct vfud_plugin bad_nopci_plugin = {
    .name = "bad_nopci",
    .description = "test plugin whose realize declares nothing",
    .realize = bad_nopci_realize,
};

VFUD_REGISTER_PLUGIN(bad_nopci_plugin)
