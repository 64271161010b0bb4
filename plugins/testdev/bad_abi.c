/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * bad_abi: a plugin built for an API version this daemon does not know.
 * The loader must refuse it and say why.  The registration macro is used as
 * a real plugin would; a wrapper then overwrites the version it set.
 */
#include <vfiouserd/plugin.h>

static int bad_abi_realize(vfud_dev *dev)
{
    return 0;
}

static struct vfud_plugin bad_abi_plugin = {
    .name = "bad_abi",
    .description = "test plugin with _api_version 999",
    .realize = bad_abi_realize,
};

#define vfud_plugin_init bad_abi_real_init
VFUD_REGISTER_PLUGIN(bad_abi_plugin)
#undef vfud_plugin_init

VFUD_EXPORT struct vfud_plugin *vfud_plugin_init(void);
VFUD_EXPORT struct vfud_plugin *vfud_plugin_init(void)
{
    struct vfud_plugin *p = bad_abi_real_init();

    p->_api_version = 999;
    return p;
}
