/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The upgrade launcher (upgrade_launcher.h).
 *
 * The sandboxed daemon may not fork (seccomp) nor run a binary (Landlock
 * confines the main thread from sandbox_prepare on), yet `vfiouserctl
 * upgrade` must start a fresh execve() of it.  So, before the sandbox, the
 * daemon forks this small process, as it forks the maps helper
 * (sandbox_maps.c).  It is given the whole command line at fork time and
 * can do one thing: on request, start that command line -- the daemon's
 * own installed path, the arguments it was started with -- handing the new
 * process the hand-over socket it was sent.  The daemon chooses nothing
 * else: a compromised daemon can make it start another vfiouserd exactly
 * as the service manager did, which then confines itself as any fresh
 * start does (it is outside our Landlock domain and seccomp filter, since
 * the launcher was forked before them; the new process's parent dies with
 * us and it is reparented to the service manager).
 *
 * No seccomp filter or Landlock domain here: both would be inherited by
 * the new daemon across execve, and it needs its full start-up.  The
 * launcher keeps no fd but its socket and stdin/stdout/stderr (which the
 * new process shares, as the log), and sets no_new_privs (the daemon sets
 * it anyway).
 *
 * It was forked from a process that may have threads (plugins realized
 * before the sandbox): it makes system calls only, no allocation.
 */
#include "config.h"

#include "upgrade_launcher.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <glib.h>

/* The fd the new process finds its hand-over socket at (argv says so). */
#define CHILD_FD 4
/* How long a failed new process has to end once its socket is shut. */
#define END_WAIT_MS 2000

enum { OP_SPAWN = 1, OP_END = 2 };

struct req {
    int op;
    int pid; /* OP_END */
};

struct reply {
    int r;      /* pid (OP_SPAWN) or 0, or -errno */
    int status; /* OP_END: the wait status */
};

static int launcher_fd = -1;
static pid_t launcher_pid = -1;
static GMutex launcher_lock;

extern char **environ;

/* One request and at most one fd. */
static int recv_req(int sock, struct req *rq, int *fd)
{
    char cbuf[CMSG_SPACE(sizeof(int))] = { 0 };
    struct iovec iov = { .iov_base = rq, .iov_len = sizeof(*rq) };
    struct msghdr m = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = cbuf,
                        .msg_controllen = sizeof(cbuf) };
    struct cmsghdr *cm;
    ssize_t n = recvmsg(sock, &m, MSG_CMSG_CLOEXEC);

    *fd = -1;
    if (n <= 0) {
        return -1;
    }
    cm = CMSG_FIRSTHDR(&m);
    if (cm != NULL && cm->cmsg_level == SOL_SOCKET && cm->cmsg_type == SCM_RIGHTS &&
        cm->cmsg_len == CMSG_LEN(sizeof(int))) {
        memcpy(fd, CMSG_DATA(cm), sizeof(int));
    }
    return n == (ssize_t)sizeof(*rq) ? 0 : -1;
}

static pid_t start_new(int fd, char *const *argv)
{
    pid_t pid = fork();

    if (pid == 0) {
        /* dup2 clears close-on-exec; every other fd of ours has it or is
         * closed below. */
        if (fd == CHILD_FD) {
            fcntl(fd, F_SETFD, 0);
        } else if (dup2(fd, CHILD_FD) < 0) {
            _exit(127);
        }
        syscall(SYS_close_range, CHILD_FD + 1, ~0U, 0);
        prctl(PR_SET_NAME, "vfiouserd", 0, 0, 0);
        execve(argv[0], argv, environ);
        _exit(127);
    }
    return pid < 0 ? -errno : pid;
}

/* The new process failed: it stops by itself once the daemon's end of the
 * hand-over socket is shut; one that does not is killed. */
static int end_new(pid_t pid, int *status)
{
    struct timespec tick = { 0, 10 * 1000 * 1000 };

    for (int waited = 0; waited < END_WAIT_MS; waited += 10) {
        pid_t r = waitpid(pid, status, WNOHANG);

        if (r == pid) {
            return 0;
        }
        if (r < 0) {
            return -errno;
        }
        nanosleep(&tick, NULL);
    }
    kill(pid, SIGKILL);
    return waitpid(pid, status, 0) == pid ? 0 : -errno;
}

static G_NORETURN void launcher_main(int sock, char *const *argv)
{
    for (;;) {
        struct req rq;
        struct reply rp = { 0 };
        int fd;

        if (recv_req(sock, &rq, &fd) < 0) {
            _exit(0); /* the daemon is gone */
        }
        if (rq.op == OP_SPAWN && fd >= 0) {
            rp.r = start_new(fd, argv);
        } else if (rq.op == OP_END && rq.pid > 0) {
            rp.r = end_new(rq.pid, &rp.status);
        } else {
            rp.r = -EINVAL;
        }
        if (fd >= 0) {
            close(fd);
        }
        if (send(sock, &rp, sizeof(rp), MSG_NOSIGNAL) != (ssize_t)sizeof(rp)) {
            _exit(0);
        }
    }
}

int upgrade_launcher_start(char *const *argv)
{
    int sv[2];
    pid_t pid;

    if (launcher_fd >= 0) {
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
        /* Dies with the daemon (not the new process it started: a child's
         * parent-death signal is cleared at fork). */
        prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0);
        prctl(PR_SET_NAME, "vfiouserd-upg", 0, 0, 0);
        prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0);
        if (dup2(sv[1], 3) < 0 || syscall(SYS_close_range, 4, ~0U, 0) < 0) {
            _exit(1);
        }
        fcntl(3, F_SETFD, FD_CLOEXEC);
        launcher_main(3, argv);
    }
    close(sv[1]);
    launcher_fd = sv[0];
    launcher_pid = pid;
    return 0;
}

bool upgrade_launcher_running(void)
{
    return launcher_fd >= 0;
}

static int ask(const struct req *rq, int fd, struct reply *rp)
{
    char cbuf[CMSG_SPACE(sizeof(int))] = { 0 };
    struct iovec iov = { .iov_base = (void *)rq, .iov_len = sizeof(*rq) };
    struct msghdr m = { .msg_iov = &iov, .msg_iovlen = 1 };
    ssize_t n;

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
    g_mutex_lock(&launcher_lock);
    n = sendmsg(launcher_fd, &m, MSG_NOSIGNAL);
    if (n == (ssize_t)sizeof(*rq)) {
        do {
            n = recv(launcher_fd, rp, sizeof(*rp), 0);
        } while (n < 0 && errno == EINTR);
    }
    g_mutex_unlock(&launcher_lock);
    if (n < 0) {
        return -errno;
    }
    return n == (ssize_t)sizeof(*rp) ? 0 : -EPIPE;
}

pid_t upgrade_launcher_spawn(int child_sock)
{
    struct req rq = { .op = OP_SPAWN };
    struct reply rp;
    int r;

    if (launcher_fd < 0) {
        return -ENOSYS;
    }
    r = ask(&rq, child_sock, &rp);
    return r < 0 ? r : rp.r;
}

int upgrade_launcher_end(pid_t pid, int *status)
{
    struct req rq = { .op = OP_END, .pid = pid };
    struct reply rp;
    int r;

    if (launcher_fd < 0) {
        return -ENOSYS;
    }
    r = ask(&rq, -1, &rp);
    if (r == 0 && rp.r == 0) {
        *status = rp.status;
    }
    return r < 0 ? r : rp.r;
}
