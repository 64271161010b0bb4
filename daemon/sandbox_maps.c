/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The client's /proc/PID/maps for a confined daemon (dma_verify.c).
 *
 * Landlock confines ptrace, and the kernel checks ptrace rights when
 * /proc/PID/maps is opened: a daemon in a Landlock domain can no longer
 * open the maps of its client (QEMU is in no domain of ours).  So, before
 * the domain exists, sandbox_prepare forks a small helper that opens them
 * for us.  It is handed a connected client socket, asks the kernel who the
 * peer is (SO_PEERCRED), and sends back an fd of that peer's maps: nothing
 * else, so a compromised daemon learns at most the memory layout of a
 * process it can connect to, never its memory.
 *
 * The helper keeps the rights the daemon had for this read and no other:
 * started as root, uid 0 with CAP_SYS_PTRACE alone (QEMU as root has every
 * capability, which a reader without CAP_SYS_PTRACE must also have);
 * otherwise its user, unchanged.  no_new_privs, and a seccomp filter that
 * kills it on any call but the few below.
 */
#include "config.h"

#include "log.h"
#include "sandbox.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <linux/capability.h>
#include <signal.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>

#ifdef HAVE_SECCOMP
#include <seccomp.h>
#endif

/* The daemon's end of the helper's socket, or -1. */
static int helper_fd = -1;
static GMutex helper_lock;

static int send_fd(int sock, int err, int fd)
{
    char cbuf[CMSG_SPACE(sizeof(int))] = { 0 };
    struct iovec iov = { .iov_base = &err, .iov_len = sizeof(err) };
    struct msghdr m = { .msg_iov = &iov, .msg_iovlen = 1 };

    if (fd >= 0) {
        struct cmsghdr *cm;

        m.msg_control = cbuf;
        m.msg_controllen = sizeof(cbuf);
        cm = CMSG_FIRSTHDR(&m);
        cm->cmsg_level = SOL_SOCKET;
        cm->cmsg_type = SCM_RIGHTS;
        cm->cmsg_len = CMSG_LEN(sizeof(int));
        memcpy(CMSG_DATA(cm), &fd, sizeof(int));
    }
    return sendmsg(sock, &m, MSG_NOSIGNAL) == (ssize_t)sizeof(err) ? 0 : -errno;
}

/* One int and at most one fd; *fd is -1 when none came. */
static int recv_fd(int sock, int *val, int *fd)
{
    char cbuf[CMSG_SPACE(sizeof(int))] = { 0 };
    struct iovec iov = { .iov_base = val, .iov_len = sizeof(*val) };
    struct msghdr m = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = cbuf,
                        .msg_controllen = sizeof(cbuf) };
    struct cmsghdr *cm;
    ssize_t n = recvmsg(sock, &m, MSG_CMSG_CLOEXEC);

    *fd = -1;
    if (n <= 0) {
        return n == 0 ? -EPIPE : -errno;
    }
    cm = CMSG_FIRSTHDR(&m);
    if (cm != NULL && cm->cmsg_level == SOL_SOCKET && cm->cmsg_type == SCM_RIGHTS &&
        cm->cmsg_len == CMSG_LEN(sizeof(int))) {
        memcpy(fd, CMSG_DATA(cm), sizeof(int));
    }
    return n == (ssize_t)sizeof(*val) ? 0 : -EPROTO;
}

/* "/proc/<pid>/maps" without stdio (we are a fork of a threaded process). */
static void maps_path(char *buf, pid_t pid)
{
    char digits[16];
    int n = 0;

    do {
        digits[n++] = (char)('0' + pid % 10);
        pid /= 10;
    } while (pid > 0);
    memcpy(buf, "/proc/", 6);
    buf += 6;
    while (n > 0) {
        *buf++ = digits[--n];
    }
    memcpy(buf, "/maps", 6);
}

static int helper_confine(void)
{
    struct __user_cap_header_struct hdr = { _LINUX_CAPABILITY_VERSION_3, 0 };
    struct __user_cap_data_struct data[_LINUX_CAPABILITY_U32S_3] = { { 0 } };

    if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0) {
        return -1;
    }
    if (geteuid() == 0) {
        for (int cap = 0; cap <= CAP_LAST_CAP; cap++) {
            if (cap != CAP_SYS_PTRACE) {
                prctl(PR_CAPBSET_DROP, cap, 0, 0, 0);
            }
        }
        data[0].effective = data[0].permitted = 1u << CAP_SYS_PTRACE;
    }
    /* Unprivileged, this clears whatever ambient or file capabilities
     * the daemon came with. */
    if (syscall(SYS_capset, &hdr, data) < 0) {
        return -1;
    }
#ifdef HAVE_SECCOMP
    /* (valgrind's own system calls would be killed: as the daemon, it goes
     * without a filter there) */
    if (g_strrstr(getenv("LD_PRELOAD") != NULL ? getenv("LD_PRELOAD") : "",
                  "vgpreload") == NULL) {
        static const int calls[] = {
            SCMP_SYS(recvmsg), SCMP_SYS(sendmsg), SCMP_SYS(getsockopt),
            SCMP_SYS(openat), SCMP_SYS(close), SCMP_SYS(exit), SCMP_SYS(exit_group),
        };
        scmp_filter_ctx ctx = seccomp_init(SCMP_ACT_KILL_PROCESS);
        int r = ctx != NULL ? 0 : -1;

        for (size_t i = 0; r == 0 && i < G_N_ELEMENTS(calls); i++) {
            r = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, calls[i], 0);
        }
        if (r == 0) {
            r = seccomp_load(ctx);
        }
        seccomp_release(ctx);
        if (r < 0) {
            return -1;
        }
    }
#endif
    return 0;
}

static G_NORETURN void helper_main(int sock)
{
    if (helper_confine() < 0) {
        _exit(1);
    }
    for (;;) {
        struct ucred cred = { .pid = -1 };
        socklen_t len = sizeof(cred);
        char path[32];
        int dummy, client, fd = -1, err = 0;

        if (recv_fd(sock, &dummy, &client) < 0) {
            _exit(0); /* the daemon is gone */
        }
        if (client < 0 ||
            getsockopt(client, SOL_SOCKET, SO_PEERCRED, &cred, &len) < 0 || cred.pid <= 0) {
            err = -ESRCH;
        } else {
            maps_path(path, cred.pid);
            fd = openat(AT_FDCWD, path, O_RDONLY | O_CLOEXEC);
            err = fd < 0 ? -errno : 0;
        }
        if (client >= 0) {
            close(client);
        }
        if (send_fd(sock, err, fd) < 0) {
            _exit(0);
        }
        if (fd >= 0) {
            close(fd);
        }
    }
}

int sandbox_maps_start(void)
{
    int sv[2];
    pid_t pid;

    if (helper_fd >= 0) {
        return 0;
    }
    if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) < 0) {
        return -errno;
    }
    pid = fork();
    if (pid < 0) {
        int r = -errno;

        close(sv[0]);
        close(sv[1]);
        return r;
    }
    if (pid == 0) {
        /* Dies with the daemon; keeps only its socket and stderr. */
        prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0);
        prctl(PR_SET_NAME, "vfiouserd-maps", 0, 0, 0);
        if (dup2(sv[1], 3) < 0 || syscall(SYS_close_range, 4, ~0U, 0) < 0) {
            _exit(1);
        }
        if (sv[0] != 3) {
            close(sv[0]);
        }
        helper_main(3);
    }
    close(sv[1]);
    helper_fd = sv[0];
    return 0;
}

int sandbox_maps_open(int client_sock)
{
    int zero = 0, err = 0, fd = -1, r;

    if (helper_fd < 0) {
        return -ENOSYS;
    }
    g_mutex_lock(&helper_lock);
    r = send_fd(helper_fd, zero, client_sock);
    if (r == 0) {
        r = recv_fd(helper_fd, &err, &fd);
    }
    g_mutex_unlock(&helper_lock);
    if (r == 0 && err < 0) {
        r = err;
    }
    if (r == 0 && fd < 0) {
        r = -EPROTO;
    }
    if (r < 0 && fd >= 0) {
        close(fd);
    }
    return r < 0 ? r : fd;
}
