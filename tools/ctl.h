/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * vfiouserctl's connection to the daemon's control socket, shared by its
 * subcommands (tools/vfiouserctl.c, and others such as migration that live
 * in files of their own).
 *
 * A subcommand builds a request object, ctl_call()s it and prints the
 * answer: as it is with --json, for people otherwise.
 */
#ifndef VFIOUSERCTL_CTL_H
#define VFIOUSERCTL_CTL_H

#include <stdbool.h>

#include <json-c/json.h>

/* Exit statuses (vfiouserctl(8)). */
#define CTL_EXIT_OK 0
#define CTL_EXIT_REFUSED 1  /* the daemon answered with an error */
#define CTL_EXIT_USAGE 2    /* bad command line */
#define CTL_EXIT_NODAEMON 3 /* cannot reach the daemon, or no sane answer */

struct ctl {
    const char *socket; /* control socket path */
    bool json;          /* --json: print answers as they come */
    int timeout_ms;     /* per answer; <= 0: wait forever */
    int fd;             /* -1 until the first request */
};

/* A subcommand: argv[0] is its name.  Returns an exit status. */
typedef int (*ctl_cmd_fn)(struct ctl *ctl, int argc, char **argv);

/* {"command": name} to add arguments to. */
json_object *ctl_request_new(const char *name);
/* Send request (taken) and wait for its answer.  CTL_EXIT_OK and *answer
 * (json_object_put it), whatever "ok" says; or CTL_EXIT_NODAEMON with the
 * reason printed on stderr. */
int ctl_call(struct ctl *ctl, json_object *request, json_object **answer);
/* Did the daemon say ok? */
bool ctl_ok(json_object *answer);
/* --json: print the answer on stdout.  Otherwise print an error answer
 * ("vfiouserctl: error", then each logged error) on stderr.  Returns
 * CTL_EXIT_OK or CTL_EXIT_REFUSED.  Takes answer. */
int ctl_finish(struct ctl *ctl, json_object *answer);
/* Usage error: message on stderr, CTL_EXIT_USAGE. */
int ctl_usage(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void ctl_close(struct ctl *ctl);

#endif
