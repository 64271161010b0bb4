/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * bad_undef: a plugin that needs a symbol neither the daemon nor any library
 * provides.  dlopen() with RTLD_NOW must fail, and the daemon must say so
 * (with dlerror()'s reason) instead of crashing later.
 */
#include <vfiouserd/plugin.h>

/* Defined nowhere, on purpose. */
int vfud_test_no_such_symbol(vfud_dev *dev);

static int bad_undef_realize(vfud_dev *dev)
{
    return vfud_test_no_such_symbol(dev);
}

static struct vfud_plugin bad_undef_plugin = {
    .name = "bad_undef",
    .description = "test plugin with an unresolved symbol",
    .realize = bad_undef_realize,
};

VFUD_REGISTER_PLUGIN(bad_undef_plugin)
