/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The upgrade launcher: a process forked before the sandbox, which starts
 * the new daemon of `vfiouserctl upgrade` for a daemon that may no longer
 * fork or execute (upgrade_launcher.c says what it can and cannot do).
 */
#ifndef VFIOUSERD_UPGRADE_LAUNCHER_H
#define VFIOUSERD_UPGRADE_LAUNCHER_H

#include <stdbool.h>
#include <sys/types.h>

/* Main thread, before sandbox_prepare: fork the launcher, which will run
 * argv (argv[0] an absolute path; it must contain "--upgrade-fd=4", where
 * the new process finds its socket).  0 or -errno. */
int upgrade_launcher_start(char *const *argv);
bool upgrade_launcher_running(void);
/* Start the new process with child_sock (dup'd by the kernel; the caller
 * keeps its own).  Its pid, or -errno. */
pid_t upgrade_launcher_spawn(int child_sock);
/* The new process failed: the launcher waits for it to end (killing it
 * after 2 s) and gives its wait status.  0 or -errno. */
int upgrade_launcher_end(pid_t pid, int *status);

#endif
