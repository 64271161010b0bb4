/* SPDX-License-Identifier: BSD-3-Clause */
/* Small helpers shared by the daemon's modules. */
#ifndef VFIOUSERD_UTIL_H
#define VFIOUSERD_UTIL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/* Not <glib.h>: some users of this header build without GLib's flags. */
struct msghdr;
typedef struct _GArray GArray;

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

/* Values from config files and the command line: 0 or -EINVAL/-ERANGE. */
int util_parse_bool(const char *s, bool *out);
int util_parse_u64(const char *s, uint64_t *out);
int util_parse_size(const char *s, uint64_t *out);
int util_parse_mode(const char *s, mode_t *out);
int util_parse_uid(const char *s, uid_t *out); /* name or number */
int util_parse_gid(const char *s, gid_t *out);

/* Close *fd if open and set it to -1; keeps errno. */
void util_close(int *fd);
int util_set_nonblock(int fd, bool on);

/* a + b > limit, without overflow. */
static inline bool util_range_exceeds(uint64_t a, uint64_t b, uint64_t limit)
{
    return b > limit || a > limit - b;
}

/* The fds of mh's SCM_RIGHTS control messages (after recvmsg), appended
 * to fds (a GArray of int).  0; or -EMSGSIZE if the kernel truncated the
 * control data (MSG_CTRUNC: it dropped fds the sender sent, so what came
 * is not what was meant): then every fd that did come is closed and fds
 * is left as it was. */
int util_cmsg_fds(const struct msghdr *mh, GArray *fds);
/* The same into fds[max] (*nr of them), allocating nothing (for a fork of
 * a threaded process); more than max fails as a truncation does, with the
 * slots it had filled set to -1 again. */
int util_cmsg_fds_to(const struct msghdr *mh, int *fds, size_t max, size_t *nr);

/* A peer process as messages and status name it, from the pid the kernel
 * gave for it (SO_PEERCRED): "pid N".  The kernel gives 0 for a peer in a
 * pid namespace ours cannot see (QEMU on the host, the daemon in a
 * container), where "pid 0" would read as a bug; below 0 there were no
 * credentials.  Returns buf (holding "pid N") or a constant. */
#define UTIL_PID_TEXT_SIZE 32
const char *util_pid_text(pid_t pid, char buf[UTIL_PID_TEXT_SIZE]);

/* Device names: [A-Za-z0-9_.-]{1,64}, not "daemon". */
bool util_valid_device_name(const char *name);

#endif
