/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Running the real daemon from tests: write a config into a private
 * temporary directory, start the built vfiouserd on it, wait for its
 * sockets, stop it with SIGTERM and collect its log.
 *
 * $VFIOUSERD_WRAPPER (e.g. "valgrind --error-exitcode=99 -q") is put in
 * front of the daemon's command line, so the whole suite can run the daemon
 * under valgrind; harness_stop() reports the wrapper's exit code.
 */
#ifndef VFUD_TEST_HARNESS_H
#define VFUD_TEST_HARNESS_H

#include <stdbool.h>
#include <sys/types.h>

struct harness {
    pid_t pid;
    char *dir;         /* private temporary directory */
    char *sock_dir;    /* <dir>/sock: the config's socket-dir */
    char *config_path; /* <dir>/vfiouserd.conf */
    char *log_path;    /* the daemon's stderr */
};

/* Paths of the build tree (set by the Makefile); $VFIOUSERD and
 * $VFIOUSERD_PLUGIN_DIR name others (a benchmark's baseline build). */
const char *harness_daemon_path(void);
const char *harness_plugin_dir(void);

/* A temporary directory; config_fmt is written to <dir>/vfiouserd.conf
 * after "@SOCKDIR@" and "@DIR@" are replaced.  Not started yet. */
struct harness *harness_new(const char *config_text);
/* Start the daemon with -c <config> --plugin-dir=<build plugins> and the
 * extra arguments (NULL-terminated), and wait up to 10 s until every
 * socket named in wait_for (device names, NULL-terminated) exists.
 * Returns 0, or -1 if the daemon exited or timed out (log kept). */
int harness_start(struct harness *h, const char *const *extra_args,
                  const char *const *wait_for);
/* Path of a device's default socket. */
char *harness_socket(const struct harness *h, const char *device);
/* SIGTERM, wait; returns the exit status (128+signal if killed). */
int harness_stop(struct harness *h);
/* The daemon's stderr so far (g_free it). */
char *harness_log(const struct harness *h);
/* Does the log contain text? */
bool harness_log_contains(const struct harness *h, const char *text);
/* Remove the directory and free. */
void harness_free(struct harness *h);

/* The one place that spawns the daemon for tests that manage it
 * themselves: $VFIOUSERD_WRAPPER, the built daemon, then args
 * (NULL-terminated, no config added); stdin /dev/null, stdout and stderr
 * appended to log_path; fds[i] becomes fd 3 + i and no other fd is
 * inherited; env entries NAME=value are set in the child ("self": its own
 * pid, for LISTEN_PID); uid/gid other than -1: drop to them (and
 * TMPDIR=/tmp). */
struct harness_spawn {
    const char *log_path;
    const int *fds;   /* up to 16 */
    unsigned nr_fds;
    const char *const *env;
    uid_t uid;        /* (uid_t)-1: unchanged */
    gid_t gid;
};
pid_t harness_spawn(const char *const *args, const struct harness_spawn *how);

/* Is the daemon run under $VFIOUSERD_WRAPPER (valgrind: an order of
 * magnitude slower)?  Tests ask this, not the environment. */
bool harness_wrapped(void);

/* Run the daemon to completion with argv (after the binary; no config
 * added), capturing stdout+stderr; returns the exit status. */
int harness_run(const char *const *args, char **output);

/* Is the daemon's RSS a fair measure of its memory use?  Not under
 * $VFIOUSERD_WRAPPER (valgrind) nor in a sanitizer build, whose allocators
 * keep freed memory on purpose. */
bool harness_rss_meaningful(void);

/* Number of open fds of a process (for leak checks), or -1. */
int harness_fd_count(pid_t pid);
/* io_uring instances among pid's fds; -1 if they cannot be read. */
int harness_io_uring_count(pid_t pid);

#endif
