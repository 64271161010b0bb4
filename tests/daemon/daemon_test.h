/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Helpers shared by the daemon tests (tests/daemon/test_*.c): each test
 * program links this file and tests/common/harness.c, and runs alone.
 *
 * Every wait has a generous deadline because the whole suite may run the
 * daemon under valgrind ($VFIOUSERD_WRAPPER); the waits end as soon as what
 * they wait for happens.
 */
#ifndef VFUD_DAEMON_TEST_H
#define VFUD_DAEMON_TEST_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "harness.h"
#include "vfu_client.h"

/* How long any single wait may take, in milliseconds. */
#define DT_WAIT_MS 60000

/* Where check-only plugins of this directory are built. */
#define DT_TEST_PLUGIN_DIR BUILDDIR "/tests/daemon/.libs"

/* Call first in main(): a private TMPDIR, a predictable environment (no
 * systemd variables, which would change the log format) and a subreaper,
 * so daemons left behind by a failed test become our children. */
void dt_init(void);
/* Call last in main(): kill and reap any daemon a failed test left, and
 * remove the private TMPDIR (kept if $VFUD_TEST_KEEP is set). */
void dt_finish(void);

/* Does text contain exactly this line? */
bool dt_has_line(const char *text, const char *line);
/* Does some line of text match this regular expression (GRegex)? */
bool dt_has_match(const char *text, const char *regex);
/* Number of lines starting with prefix. */
unsigned dt_count_lines(const char *text, const char *prefix);

/* Run "vfiouserd --check-config -c <h's config> [--plugin-dir=<build>]
 * [extra...]": returns the exit status and the output (stdout + stderr). */
int dt_check_config(const struct harness *h, bool plugin_dir,
                    const char *const *extra, char **output);
/* Run the daemon on h's config (with --plugin-dir) until it exits, for
 * configurations that must fail to start.  A daemon that is still running
 * after DT_WAIT_MS is killed, and the result is -1. */
int dt_run_config(const struct harness *h, char **output);

/* Wait until the daemon log of h contains text.  Returns false on timeout. */
bool dt_wait_log(const struct harness *h, const char *text);
/* Wait until the log has the "listening on" line of every device (the
 * socket file appears at bind(), before its mode is set and before
 * listen()). */
bool dt_wait_listening(const struct harness *h, const char *const *devices);

/* Start the daemon with exactly these arguments (after the binary and any
 * $VFIOUSERD_WRAPPER), stdout and stderr to log_path.  If pass_fd >= 0 it
 * becomes fd as_fd (3) of the daemon; every other fd above 2 is closed.
 * (harness_spawn does it.) */
pid_t dt_spawn(const char *const *args, const char *log_path, int pass_fd,
               int as_fd);
/* Wait for pid to exit; its exit status (128+signal if killed), or -1 if
 * it did not exit within timeout_ms (it is then killed and reaped). */
int dt_wait_exit(pid_t pid, int timeout_ms);
/* SIGTERM, then dt_wait_exit. */
int dt_stop(pid_t pid);
/* Wait until a file exists at path. */
bool dt_wait_file(const char *path);

/* Connect to a device socket and negotiate the version; fails the test on
 * any error. */
struct vfu_client *dt_client(const char *path);
/* A 32-bit read of a region; fails the test on error. */
uint32_t dt_read32(struct vfu_client *c, unsigned region, uint64_t offset);
void dt_write32(struct vfu_client *c, unsigned region, uint64_t offset,
                uint32_t v);

/* A bound AF_UNIX stream socket at path, listening if listen is true. */
int dt_unix_socket(const char *path, bool listen_too);

#endif
