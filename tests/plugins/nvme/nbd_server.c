/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * NBD servers for tests: see nbd_server.h.
 */
#include "config.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <netinet/in.h>
#include <arpa/inet.h>
#include <time.h>
#include <unistd.h>

#include "nbd_server.h"

bool ns_have(const char *prog)
{
    const char *path = getenv("PATH");
    char buf[512];

    if (!path) {
        path = "/usr/bin:/bin";
    }
    while (*path) {
        size_t n = strcspn(path, ":");

        if (snprintf(buf, sizeof(buf), "%.*s/%s", (int)n, path, prog) <
                (int)sizeof(buf) && access(buf, X_OK) == 0) {
            return true;
        }
        path += n;
        if (*path == ':') {
            path++;
        }
    }
    return false;
}

int ns_init(struct nbd_server *s)
{
    memset(s, 0, sizeof(*s));
    snprintf(s->dir, sizeof(s->dir), "/tmp/nvme-nbd-XXXXXX");
    if (!mkdtemp(s->dir)) {
        return -errno;
    }
    snprintf(s->sock, sizeof(s->sock), "%s/sock", s->dir);
    snprintf(s->uri, sizeof(s->uri), "nbd+unix:///?socket=%s", s->sock);
    return 0;
}

int ns_init_tcp(struct nbd_server *s)
{
    struct sockaddr_in a = { .sin_family = AF_INET,
                             .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
    socklen_t alen = sizeof(a);
    int fd, r = ns_init(s);

    if (r < 0) {
        return r;
    }
    fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0 || bind(fd, (struct sockaddr *)&a, sizeof(a)) < 0 ||
        getsockname(fd, (struct sockaddr *)&a, &alen) < 0) {
        r = -errno;
        if (fd >= 0) {
            close(fd);
        }
        return r;
    }
    close(fd);
    s->port = ntohs(a.sin_port);
    snprintf(s->port_arg, sizeof(s->port_arg), "%u", s->port);
    snprintf(s->uri, sizeof(s->uri), "nbd://127.0.0.1:%u/", s->port);
    return 0;
}

static bool tcp_accepts(unsigned port)
{
    struct sockaddr_in a = { .sin_family = AF_INET,
                             .sin_port = htons((uint16_t)port),
                             .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    bool ok = fd >= 0 && connect(fd, (struct sockaddr *)&a, sizeof(a)) == 0;

    if (fd >= 0) {
        close(fd);
    }
    return ok;
}

static bool sock_accepts(const char *path)
{
    struct sockaddr_un a = { .sun_family = AF_UNIX };
    int fd;
    bool ok;

    if (strlen(path) >= sizeof(a.sun_path)) {
        return false;
    }
    memcpy(a.sun_path, path, strlen(path) + 1);
    fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    ok = fd >= 0 && connect(fd, (struct sockaddr *)&a, sizeof(a)) == 0;
    if (fd >= 0) {
        close(fd);
    }
    return ok;
}

int ns_restart(struct nbd_server *s)
{
    pid_t parent = getpid();
    int status;

    unlink(s->sock); /* a killed server leaves it behind */
    s->pid = fork();
    if (s->pid < 0) {
        return -errno;
    }
    if (s->pid == 0) {
        int null = open("/dev/null", O_RDWR);

        /* the server goes when the test does, however it ends */
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        if (getppid() != parent) {
            _exit(1);
        }
        if (!getenv("NBD_SERVER_VERBOSE")) {
            dup2(null, 1);
        }
        execvp(s->argv[0], (char *const *)s->argv);
        _exit(127);
    }
    for (int i = 0; i < 1000; i++) {
        if (s->port ? tcp_accepts(s->port) : sock_accepts(s->sock)) {
            return 0;
        }
        if (waitpid(s->pid, &status, WNOHANG) == s->pid) {
            fprintf(stderr, "%s exited (status 0x%x) before listening\n",
                    s->argv[0], status);
            s->pid = 0;
            return -EIO;
        }
        usleep(10000);
    }
    fprintf(stderr, "%s: not listening on %s after 10 s\n", s->argv[0], s->uri);
    ns_kill(s);
    return -ETIMEDOUT;
}

int ns_start(struct nbd_server *s, const char *prog, const char *const *args)
{
    unsigned n = 0;

    s->argv[n++] = prog;
    if (strcmp(prog, "nbdkit") == 0) {
        s->argv[n++] = "-f";        /* foreground: we own the process */
        if (s->port) {
            s->argv[n++] = "-i";
            s->argv[n++] = "127.0.0.1";
            s->argv[n++] = "-p";
            s->argv[n++] = s->port_arg;
        } else {
            s->argv[n++] = "-U";
            s->argv[n++] = s->sock;
        }
    } else {
        s->argv[n++] = "-k";        /* qemu-nbd */
        s->argv[n++] = s->sock;
        s->argv[n++] = "-t";        /* serve client after client */
        s->argv[n++] = "-e";        /* up to 8 at once (multi-conn) */
        s->argv[n++] = "8";
    }
    for (unsigned i = 0; args && args[i]; i++) {
        if (i >= NS_MAX_ARGS) {
            return -E2BIG;
        }
        s->argv[n++] = args[i];
    }
    s->argv[n] = NULL;
    return ns_restart(s);
}

void ns_kill(struct nbd_server *s)
{
    if (s->pid > 0) {
        kill(s->pid, SIGKILL);
        waitpid(s->pid, NULL, 0);
        s->pid = 0;
    }
}

void ns_cleanup(struct nbd_server *s)
{
    DIR *d;
    struct dirent *e;

    ns_kill(s);
    if (!s->dir[0]) {
        return;
    }
    d = opendir(s->dir);
    while (d && (e = readdir(d))) {
        char p[384];

        if (e->d_name[0] == '.') {
            continue;
        }
        snprintf(p, sizeof(p), "%s/%s", s->dir, e->d_name);
        unlink(p);
    }
    if (d) {
        closedir(d);
    }
    rmdir(s->dir);
    s->dir[0] = 0;
}
