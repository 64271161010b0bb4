/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Helpers of the hostile-client tests.  Each test starts a daemon with two
 * testdevs: "t0" takes the attack, "t1" is a bystander whose latency a probe
 * thread measures (BAR0 reads, one per millisecond) before and during the
 * attack.  hs_finish() checks what every case must show: the bystander
 * never failed, its p99 round trip during the attack stayed under 50 ms
 * (x10 under $VFIOUSERD_WRAPPER), and the daemon is back to the fds it had
 * before the attacker came.  The figures are printed.
 */
#ifndef VFUD_HOSTILE_H
#define VFUD_HOSTILE_H

#include "proto.h"

struct hs {
    struct harness *h;
    struct probe *probe;
    int base_fds; /* the daemon's, with the bystander connected */
    long base_rss_kb;
    const char *name;
};

/* Start the daemon and the probe; measure 300 ms of normal latency and
 * the baseline; then the attack may begin. */
void hs_start(struct hs *s, const char *name);
/* The attack is over: close nothing of the caller's, but wait until the
 * daemon is back to base_fds, stop the probe, check and print; stop the
 * daemon. */
void hs_finish(struct hs *s);

/* Run attack (which connects, attacks, hangs up and waits for the daemon
 * to let it go) again and again for a second, at least once, so the
 * bystander is measured while it goes on. */
void hs_repeat(struct hs *s, void (*attack)(struct hs *s));


/* The daemon's fd count and RSS now. */
int hs_fds(const struct hs *s);
long hs_rss_kb(const struct hs *s);
/* Wait until the daemon's fd count is want (asserts within 10 s). */
void hs_wait_fds(const struct hs *s, int want);

/* fds of kinds that are not what a command wants. */
int hs_pipe_fd(void);      /* read end of a pipe */
int hs_socket_fd(void);    /* one end of a socketpair */
int hs_directory_fd(void); /* "/" */

#endif
