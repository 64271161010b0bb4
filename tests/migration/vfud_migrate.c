/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * vfud-migrate SRC-SOCKET DST-SOCKET: ctl_migrate() as a program, for the
 * tests (vfiouserctl migrate is the same function for operators).
 *
 * Exit status: 0 migrated, 1 failed (the reason on stderr), 2 usage.
 */
#include "config.h"

#include "ctl_migrate.h"

#include <stdio.h>
#include <stdlib.h>

#include <glib.h>

int main(int argc, char **argv)
{
    gboolean pre_copy = FALSE, reset = FALSE, quiet = FALSE;
    gint chunk = 0, timeout = 0;
    GOptionEntry entries[] = {
        { "pre-copy", 0, 0, G_OPTION_ARG_NONE, &pre_copy,
          "go through PRE_COPY when the source offers it", NULL },
        { "reset-source", 0, 0, G_OPTION_ARG_NONE, &reset,
          "reset the source afterwards instead of leaving it stopped", NULL },
        { "chunk", 0, 0, G_OPTION_ARG_INT, &chunk,
          "bytes per MIG_DATA message (default: the most both accept)", "BYTES" },
        { "timeout", 0, 0, G_OPTION_ARG_INT, &timeout,
          "milliseconds to wait for each reply (default 10000)", "MS" },
        { "quiet", 'q', 0, G_OPTION_ARG_NONE, &quiet, "print nothing on success",
          NULL },
        { NULL, 0, 0, 0, NULL, NULL, NULL },
    };
    g_autoptr(GOptionContext) ctx =
        g_option_context_new("SRC-SOCKET DST-SOCKET - move a device's state");
    g_autoptr(GError) err = NULL;
    struct ctl_migrate_opts o = { 0 };

    g_option_context_add_main_entries(ctx, entries, NULL);
    if (!g_option_context_parse(ctx, &argc, &argv, &err) || argc != 3 ||
        chunk < 0 || timeout < 0) {
        fprintf(stderr, "vfud-migrate: %s\nusage: vfud-migrate [--pre-copy] "
                "[--reset-source] [--chunk=BYTES] [--timeout=MS] SRC DST\n",
                err != NULL ? err->message : "bad arguments");
        return 2;
    }
    o.pre_copy = pre_copy;
    o.after = reset ? CTL_MIGRATE_SRC_RESET : CTL_MIGRATE_SRC_STOP;
    o.chunk = (uint32_t)chunk;
    o.timeout_ms = timeout;
    return ctl_migrate(argv[1], argv[2], &o, quiet ? NULL : stdout) == 0 ? 0 : 1;
}
