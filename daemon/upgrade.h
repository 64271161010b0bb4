/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * vfiouserctl upgrade: hand every device, its client and the sockets over
 * to a fresh execve() of the daemon (the same binary or another), without
 * the clients noticing more than a pause.  See vfiouserd(8), UPGRADE.
 *
 * Old process (control command "upgrade", main thread): start the new
 * binary with --upgrade-fd; once it has realized its devices, quiesce
 * every device at a message boundary (each device thread stops in a
 * callback of its own loop, so it reads nothing more), capture the state
 * (dev_handoff.h) and send it (handoff.h).  On "OK" the old process exits
 * at once, without tearing anything down (a shutdown() or unlink() would
 * reach the sockets the new process now serves).  On anything else the
 * devices resume and the command reports why.
 */
#ifndef VFIOUSERD_UPGRADE_H
#define VFIOUSERD_UPGRADE_H

#include "control.h"
#include "devset.h"

/* main(): remember how we were started (before options are parsed). */
void upgrade_save_argv(int argc, char **argv);
/* Main thread, before sandbox_prepare, when the sandbox will be applied:
 * fork the launcher that will start the new process for a daemon that may
 * no longer do so itself (upgrade_launcher.h).  0, or -errno after a
 * warning (the daemon runs on; an upgrade is then refused). */
int upgrade_prepare(void);
/* Register the control command; tell it the control socket once it
 * exists (NULL: none). */
void upgrade_register(void);
void upgrade_set_control(struct control *ctl);
/* The new process: upgrade_adopt applies the sandbox by fn(arg) before it
 * says READY, so before any client is served (0 or -errno). */
void upgrade_set_confine(int (*fn)(void *arg), void *arg);

/* The new process (--upgrade-fd=sock), devices created and realized: take
 * the state, start the devices on the sockets handed over, restore each
 * and acknowledge.  0, or -1 after telling the old process why (it then
 * serves on; after the fds arrived this process must _exit, which it does
 * itself). */
int upgrade_adopt(struct devset *ds, int sock, struct control **ctl);

#endif
