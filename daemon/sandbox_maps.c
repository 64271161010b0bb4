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
 * An isolated device's process is in the domain too, and it has no
 * capabilities to lend its own helper: so this helper, given a socket pair
 * by the daemon for each such process (sandbox_maps_child_channel), serves
 * it as well.  Such a channel is scoped to its device: it answers only for
 * sockets accepted on that device's listening socket (they carry its
 * name), so a compromised device learns the layout of its own clients and
 * of nobody else, whatever socket it sends.  A process started before an
 * upgrade's pause gets its channel before the new daemon has the listening
 * socket (it comes in the pause): that channel answers for nobody until
 * the daemon scopes it (MAPS_SCOPE), before the process gets its clients.
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
#include "util.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdlib.h>
#include <linux/capability.h>
#include <signal.h>
#include <string.h>
#include <poll.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <unistd.h>

#ifdef HAVE_SECCOMP
#include <seccomp.h>
#endif

/* Requests: struct maps_req and fds.  The answer: an int, 0 or -errno
 * (MAPS_CHILD without a listening socket: the channel's id, > 0), and for
 * MAPS_OPEN the maps' fd. */
enum {
    MAPS_OPEN = 0,  /* + a client socket: the maps of its peer */
    MAPS_CHILD = 1, /* + a channel [+ a listening socket] (daemon only) */
    MAPS_SCOPE = 2, /* id + a listening socket: scope a channel made without
                     * one (daemon only) */
};

struct maps_req {
    int op;
    int id; /* MAPS_SCOPE; the other requests may be the op alone */
};

/* Channels the helper serves: the daemon's (unscoped, slot 0) and one per
 * isolated device's process, scoped to its device's listening socket. */
#define CHANNELS_MAX 1024

struct channel {
    int fd;                 /* -1: free */
    bool scoped;
    int id;                 /* > 0: made without a name, MAPS_SCOPE names it */
    socklen_t len;          /* of name; 0: none yet, it answers for nobody */
    struct sockaddr_un name; /* the device's listening socket's */
};

/* The daemon's end of the helper's socket (or, in an isolated device's
 * process, of its channel), or -1. */
static int helper_fd = -1;
static GMutex helper_lock;

static int send_fd(int sock, int err, int fd, int flags)
{
    char cbuf[CMSG_SPACE(2 * sizeof(int))] = { 0 };
    struct iovec iov = { .iov_base = &err, .iov_len = sizeof(err) };
    struct msghdr m = { .msg_iov = &iov, .msg_iovlen = 1 };

    if (fd >= 0) {
        struct cmsghdr *cm;

        m.msg_control = cbuf;
        m.msg_controllen = CMSG_SPACE(sizeof(int));
        cm = CMSG_FIRSTHDR(&m);
        cm->cmsg_level = SOL_SOCKET;
        cm->cmsg_type = SCM_RIGHTS;
        cm->cmsg_len = CMSG_LEN(sizeof(int));
        memcpy(CMSG_DATA(cm), &fd, sizeof(int));
    }
    return sendmsg(sock, &m, MSG_NOSIGNAL | flags) == (ssize_t)sizeof(err) ? 0 : -errno;
}

/* An int, or up to len bytes, and up to two fds (fds[i] is -1 when none
 * came).  More fds: the kernel truncated the control data; what came is
 * closed, -EMSGSIZE. */
static int recv_fds(int sock, void *val, size_t len, int fds[2], int flags)
{
    union {
        char buf[CMSG_SPACE(2 * sizeof(int))];
        struct cmsghdr align;
    } u = { { 0 } };
    struct iovec iov = { .iov_base = val, .iov_len = len };
    struct msghdr m = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = u.buf,
                        .msg_controllen = sizeof(u.buf) };
    size_t got = 0;
    ssize_t n = recvmsg(sock, &m, MSG_CMSG_CLOEXEC | flags);
    int r;

    fds[0] = fds[1] = -1;
    if (n <= 0) {
        return n == 0 ? -EPIPE : -errno;
    }
    r = util_cmsg_fds_to(&m, fds, 2, &got);
    if (r < 0) {
        return r;
    }
    return n >= (ssize_t)sizeof(int) && n <= (ssize_t)len ? 0 : -EPROTO;
}

static void close_fds(int fds[2])
{
    for (int i = 0; i < 2; i++) {
        if (fds[i] >= 0) {
            close(fds[i]);
            fds[i] = -1;
        }
    }
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
            SCMP_SYS(getsockname), SCMP_SYS(poll), SCMP_SYS(ppoll),
            SCMP_SYS(openat), SCMP_SYS(close), SCMP_SYS(exit), SCMP_SYS(exit_group),
#ifdef VFUD_SANITIZED
            /* The sanitizers' runtime (sigaltstack killed the helper of
             * a sanitized daemon) and its reports. */
            SCMP_SYS(sigaltstack), SCMP_SYS(mmap), SCMP_SYS(munmap),
            SCMP_SYS(madvise), SCMP_SYS(write), SCMP_SYS(rt_sigprocmask),
            SCMP_SYS(rt_sigaction), SCMP_SYS(getpid), SCMP_SYS(gettid),
            SCMP_SYS(futex), SCMP_SYS(sched_yield),
#endif
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

/* The pid of client's peer, if this channel may ask about it.  A device's
 * process may only ask about its own clients: sockets accepted on its
 * listening socket (they carry its name).  Not the listening socket itself
 * (its "peer" is whoever called listen(), the daemon), not a socket pair,
 * not a connection it made to somebody else's socket. */
static int peer_of(const struct channel *ch, int client, pid_t *pid)
{
    struct ucred cred = { .pid = -1 };
    socklen_t len = sizeof(cred);

    if (client < 0) {
        return -EBADF;
    }
    if (ch->scoped) {
        struct sockaddr_un sa;
        socklen_t slen = sizeof(sa), llen;
        int listening = 1;

        if (ch->len == 0) {
            return -EPERM; /* not scoped yet */
        }

        llen = sizeof(listening);
        if (getsockopt(client, SOL_SOCKET, SO_ACCEPTCONN, &listening, &llen) < 0 ||
            listening != 0) {
            return -EPERM;
        }
        memset(&sa, 0, sizeof(sa));
        if (getsockname(client, (struct sockaddr *)&sa, &slen) < 0 || slen != ch->len ||
            memcmp(&sa, &ch->name, slen) != 0) {
            return -EPERM;
        }
    }
    if (getsockopt(client, SOL_SOCKET, SO_PEERCRED, &cred, &len) < 0 || cred.pid <= 0) {
        return -ESRCH;
    }
    *pid = cred.pid;
    return 0;
}

/* ch scoped to the name of the listening socket lfd. */
static int name_channel(struct channel *ch, int lfd)
{
    memset(&ch->name, 0, sizeof(ch->name));
    ch->len = sizeof(ch->name);
    if (getsockname(lfd, (struct sockaddr *)&ch->name, &ch->len) < 0) {
        ch->len = 0;
        return -errno;
    }
    /* Unnamed, it would match any socket pair. */
    if (ch->name.sun_family != AF_UNIX || ch->len <= sizeof(sa_family_t)) {
        ch->len = 0;
        return -EADDRNOTAVAIL;
    }
    return 0;
}

/* A new channel fds[0], scoped to the name of the listening socket fds[1];
 * without one, unnamed until MAPS_SCOPE: its id (> 0). */
static int add_channel(struct channel *chans, int fds[2])
{
    static int next_id;
    struct channel *ch = NULL;
    int r = 0;

    if (fds[0] < 0) {
        return -EBADF;
    }
    for (int i = 1; i < CHANNELS_MAX && ch == NULL; i++) {
        if (chans[i].fd < 0) {
            ch = &chans[i];
        }
    }
    if (ch == NULL) {
        return -ENOSPC;
    }
    ch->id = 0;
    ch->len = 0;
    if (fds[1] >= 0) {
        r = name_channel(ch, fds[1]);
        if (r < 0) {
            return r;
        }
    } else {
        /* Never reused while the daemon may still name it. */
        next_id = next_id < INT_MAX ? next_id + 1 : 1;
        ch->id = next_id;
        r = ch->id;
    }
    ch->scoped = true;
    ch->fd = fds[0];
    fds[0] = -1;
    return r;
}

/* The channel made without a name under id gets the name of the listening
 * socket lfd, once. */
static int scope_channel(struct channel *chans, int id, int lfd)
{
    for (int i = 1; i < CHANNELS_MAX; i++) {
        if (chans[i].fd >= 0 && chans[i].id > 0 && chans[i].id == id) {
            chans[i].id = 0;
            return lfd >= 0 ? name_channel(&chans[i], lfd) : -EBADF;
        }
    }
    return -ENOENT;
}

/* One request on chans[i]; false when the channel is to be closed. */
static bool serve(struct channel *chans, int i)
{
    struct channel *ch = &chans[i];
    /* A device's process must not make us wait: a full socket drops it. */
    int flags = ch->scoped ? MSG_DONTWAIT : 0;
    struct maps_req req = { .op = -1 };
    int fds[2], fd = -1, err, r;
    pid_t pid = -1;

    r = recv_fds(ch->fd, &req, sizeof(req), fds, flags);
    if (r == -EAGAIN || r == -EINTR) {
        return true;
    }
    if (r == -EPIPE || r == -ECONNRESET) {
        close_fds(fds);
        return false;
    }
    if (r < 0) {
        err = r;
    } else if (req.op == MAPS_OPEN) {
        err = peer_of(ch, fds[0], &pid);
        if (err == 0) {
            char path[32];

            maps_path(path, pid);
            fd = openat(AT_FDCWD, path, O_RDONLY | O_CLOEXEC);
            err = fd < 0 ? -errno : 0;
        }
    } else if (req.op == MAPS_CHILD && !ch->scoped) {
        err = add_channel(chans, fds);
    } else if (req.op == MAPS_SCOPE && !ch->scoped) {
        err = scope_channel(chans, req.id, fds[0]);
    } else {
        err = -EPERM;
    }
    close_fds(fds);
    r = send_fd(ch->fd, err, fd, flags);
    if (fd >= 0) {
        close(fd);
    }
    return r == 0;
}

static G_NORETURN void helper_main(int sock)
{
    static struct channel chans[CHANNELS_MAX];
    static struct pollfd pfd[CHANNELS_MAX];
    static int slot[CHANNELS_MAX];

    if (helper_confine() < 0) {
        _exit(1);
    }
    for (int i = 0; i < CHANNELS_MAX; i++) {
        chans[i].fd = -1;
    }
    chans[0].fd = sock;
    for (;;) {
        nfds_t n = 0;

        for (int i = 0; i < CHANNELS_MAX; i++) {
            if (chans[i].fd >= 0) {
                pfd[n].fd = chans[i].fd;
                pfd[n].events = POLLIN;
                pfd[n].revents = 0;
                slot[n++] = i;
            }
        }
        if (poll(pfd, n, -1) < 0) {
            if (errno == EINTR) {
                continue;
            }
            _exit(1);
        }
        for (nfds_t k = 0; k < n; k++) {
            int i = slot[k];

            if (pfd[k].revents == 0) {
                continue;
            }
            if (!serve(chans, i)) {
                if (i == 0) {
                    _exit(0); /* the daemon is gone */
                }
                close(chans[i].fd); /* that device's process is */
                chans[i].fd = -1;
            }
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

void sandbox_maps_adopt(int fd)
{
    if (fd < 0 || fcntl(fd, F_SETFD, FD_CLOEXEC) < 0) {
        return;
    }
    helper_fd = fd;
}

/* A request on the daemon's channel with fds; the answer's fd, if any, in
 * *out.  0 or the answer's positive value, or -errno. */
static int request(int op, int id, int fd0, int fd1, int *out)
{
    char cbuf[CMSG_SPACE(2 * sizeof(int))] = { 0 };
    struct maps_req req = { .op = op, .id = id };
    struct iovec iov = { .iov_base = &req, .iov_len = sizeof(req) };
    struct msghdr m = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = cbuf };
    int fds[2] = { fd0, fd1 }, got[2], err = 0, r;
    size_t nfd = fd1 >= 0 ? 2 : 1;
    struct cmsghdr *cm;

    m.msg_controllen = CMSG_SPACE(nfd * sizeof(int));
    cm = CMSG_FIRSTHDR(&m);
    cm->cmsg_level = SOL_SOCKET;
    cm->cmsg_type = SCM_RIGHTS;
    cm->cmsg_len = CMSG_LEN(nfd * sizeof(int));
    memcpy(CMSG_DATA(cm), fds, nfd * sizeof(int));
    g_mutex_lock(&helper_lock);
    r = sendmsg(helper_fd, &m, MSG_NOSIGNAL) == (ssize_t)sizeof(req) ? 0 : -errno;
    if (r == 0) {
        r = recv_fds(helper_fd, &err, sizeof(err), got, 0);
    }
    g_mutex_unlock(&helper_lock);
    if (r == 0) {
        r = err;
    }
    if (r < 0 || out == NULL) {
        close_fds(got);
        return r;
    }
    if (got[1] >= 0) {
        close(got[1]);
    }
    *out = got[0];
    return *out >= 0 ? 0 : -EPROTO;
}

int sandbox_maps_child_channel(int listen_fd, int *id)
{
    int sv[2], r;

    if (helper_fd < 0) {
        return -ENOSYS;
    }
    if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) < 0) {
        return -errno;
    }
    r = request(MAPS_CHILD, 0, sv[1], listen_fd, NULL);
    close(sv[1]);
    if (r < 0) {
        close(sv[0]);
        return r;
    }
    if (id != NULL) {
        *id = r;
    }
    return sv[0];
}

int sandbox_maps_scope(int id, int listen_fd)
{
    if (helper_fd < 0) {
        return -ENOSYS;
    }
    return request(MAPS_SCOPE, id, listen_fd, -1, NULL);
}

int sandbox_maps_open(int client_sock)
{
    int fd = -1, r;

    if (helper_fd < 0) {
        return -ENOSYS;
    }
    r = request(MAPS_OPEN, 0, client_sock, -1, &fd);
    return r < 0 ? r : fd;
}
