/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * bad_nosym: a shared object that is not a plugin: it has no
 * vfud_plugin_init, only a look-alike.  The loader must refuse it and say
 * why.
 */
int vfud_plugin_register(void);

int vfud_plugin_register(void)
{
    return 0;
}
