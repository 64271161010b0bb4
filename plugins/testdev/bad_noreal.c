/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * bad_noreal: a plugin without the required realize callback.  The loader
 * must refuse it and say why.
 */
#include <vfiouserd/plugin.h>

static struct vfud_plugin bad_noreal_plugin = {
    .name = "bad_noreal",
    .description = "test plugin without realize",
};

VFUD_REGISTER_PLUGIN(bad_noreal_plugin)
