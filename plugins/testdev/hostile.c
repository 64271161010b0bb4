/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * hostile: a device model taken over by its guest, for the sandbox tests
 * (built, never installed).  A register write makes it try what an
 * attacker would, from the device's own callback:
 *
 * BAR0: 4 KiB, trapped, little-endian 32-bit registers.
 *
 *   0x000 ID      RO  0x405711e0
 *   0x004 ATTACK  WO  1 execve("/bin/sh")
 *                     2 open("/etc/shadow") and read it
 *                     3 a TCP socket connected to 127.0.0.1:9
 *                     4 ptrace(PTRACE_ATTACH) the VICTIM process
 *                     5 open /proc/VICTIM/mem and read from it
 *                     6 process_vm_readv() from the VICTIM process
 *                     7 nothing (a harmless write, for comparison)
 *                     8 ask the daemon's /proc/PID/maps helper (on its
 *                       channel, found among our fds) about the listening
 *                       socket, whose "peer" is the daemon
 *                     9 the same about one end of a socket pair
 *                    10 the same about its client's connection: allowed
 *                       (0), the helper serves the device's own clients
 *   0x008 RESULT  RO  of the last attack: 0 if it worked, else its errno
 *   0x00c VICTIM  RW  a pid: another device's process (isolate = process)
 *                     or any process the test names
 *
 * Every attack also logs its result, so the test can tell a call the
 * sandbox refused (EPERM from the filter, EACCES from Landlock) from one
 * the attack got wrong.  Its state (VICTIM) is saved and loaded, so that
 * an upgrade hands it over rather than re-attaching its client.
 */
#include <config.h>

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ptrace.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include <vfiouserd/plugin.h>

#define HOSTILE_ID 0x405711e0u

enum {
    REG_ID = 0x000,
    REG_ATTACK = 0x004,
    REG_RESULT = 0x008,
    REG_VICTIM = 0x00c,
};

struct hostile {
    uint32_t result;
    uint32_t victim;
};

static int attack_exec(void)
{
    char *const argv[] = { (char *)"/bin/sh", (char *)"-c", (char *)"true", NULL };
    char *const envp[] = { NULL };

    execve("/bin/sh", argv, envp);
    return errno;
}

static int attack_shadow(void)
{
    char buf[64];
    int fd = open("/etc/shadow", O_RDONLY | O_CLOEXEC);
    int r = 0;

    if (fd < 0) {
        return errno;
    }
    if (read(fd, buf, sizeof(buf)) < 0) {
        r = errno;
    }
    close(fd);
    return r;
}

static int attack_connect(void)
{
    struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons(9) };
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    int r = 0;

    if (fd < 0) {
        return errno;
    }
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
        /* Refused by the host means the call itself was allowed. */
        r = errno == ECONNREFUSED ? 0 : errno;
    }
    close(fd);
    return r;
}

static int attack_ptrace(pid_t victim)
{
    if (ptrace(PTRACE_ATTACH, victim, NULL, NULL) < 0) {
        return errno;
    }
    ptrace(PTRACE_DETACH, victim, NULL, NULL);
    return 0;
}

static int attack_proc_mem(pid_t victim)
{
    char path[64], buf[16];
    int fd, r = 0;

    snprintf(path, sizeof(path), "/proc/%d/mem", (int)victim);
    fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        return errno;
    }
    /* Somewhere mapped in every process: its own stack is not known, but
     * reading anything at all proves access. */
    if (pread(fd, buf, sizeof(buf), 0x400000) < 0 && errno != EIO) {
        r = errno;
    }
    close(fd);
    return r;
}

static int attack_vm_readv(pid_t victim)
{
    char buf[16];
    struct iovec local = { buf, sizeof(buf) };
    struct iovec remote = { (void *)0x400000, sizeof(buf) };

    if (process_vm_readv(victim, &local, 1, &remote, 1, 0) < 0 && errno != EFAULT) {
        return errno;
    }
    return 0;
}

/* The channel to the maps helper: a SOCK_SEQPACKET socket among our fds
 * (the device's own sockets are stream sockets); -1 if none. */
static int find_fd(int type, int listening)
{
    for (int fd = 3; fd < 1024; fd++) {
        int v = -1, acc = -1;
        socklen_t len = sizeof(v), alen = sizeof(acc);

        if (getsockopt(fd, SOL_SOCKET, SO_TYPE, &v, &len) == 0 && v == type &&
            (listening < 0 ||
             (getsockopt(fd, SOL_SOCKET, SO_ACCEPTCONN, &acc, &alen) == 0 &&
              acc == listening))) {
            return fd;
        }
    }
    return -1;
}

/* The helper's protocol (daemon/sandbox_maps.c): an int (0: open the maps
 * of this socket's peer) and the socket; back an int (0 or -errno) and the
 * maps' fd.  About the listening socket (listening 1), a connected one of
 * ours (0), or a socket pair of its own (-1). */
static int attack_maps_helper(int listening)
{
    int chan = find_fd(SOCK_SEQPACKET, -1);
    int sv[2] = { -1, -1 }, op = 0, err = 0, sock;
    char cbuf[CMSG_SPACE(sizeof(int))] = { 0 };
    struct iovec iov = { .iov_base = &op, .iov_len = sizeof(op) };
    struct msghdr m = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = cbuf,
                        .msg_controllen = sizeof(cbuf) };
    struct cmsghdr *cm = CMSG_FIRSTHDR(&m);
    int r;

    if (chan < 0) {
        return ENOENT;
    }
    if (listening >= 0) {
        sock = find_fd(SOCK_STREAM, listening);
    } else {
        sock = socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) == 0 ? sv[0] : -1;
    }
    if (sock < 0) {
        return listening >= 0 ? ENOENT : errno;
    }
    cm->cmsg_level = SOL_SOCKET;
    cm->cmsg_type = SCM_RIGHTS;
    cm->cmsg_len = CMSG_LEN(sizeof(int));
    memcpy(CMSG_DATA(cm), &sock, sizeof(int));
    r = sendmsg(chan, &m, MSG_NOSIGNAL) < 0 ? errno : 0;
    if (r == 0) {
        iov.iov_base = &err;
        m.msg_controllen = sizeof(cbuf);
        memset(cbuf, 0, sizeof(cbuf));
        if (recvmsg(chan, &m, MSG_CMSG_CLOEXEC) < 0) {
            r = errno;
        } else if (err < 0) {
            r = -err;
        } else {
            /* It answered: the maps of its peer (for 8 and 9, of a
             * process not our client). */
            cm = CMSG_FIRSTHDR(&m);
            if (cm != NULL && cm->cmsg_type == SCM_RIGHTS) {
                int fd;

                memcpy(&fd, CMSG_DATA(cm), sizeof(int));
                close(fd);
            }
        }
    }
    if (sv[0] >= 0) {
        close(sv[0]);
        close(sv[1]);
    }
    return r;
}

static int hostile_create(vfud_dev *dev)
{
    vfud_set_private(dev, calloc(1, sizeof(struct hostile)));
    return vfud_get_private(dev) != NULL ? 0 : -ENOMEM;
}

static void hostile_destroy(vfud_dev *dev)
{
    free(vfud_get_private(dev));
}

static int hostile_realize(vfud_dev *dev)
{
    static const struct vfud_pci_id id = {
        .vendor_id = 0xfffd, .device_id = 0x0bad,
        .subsys_vendor_id = 0xfffd, .subsys_id = 0x0bad,
        .class_code = 0xff0000, .revision = 1,
    };
    int r = vfud_pci_init(dev, VFUD_PCI_CONVENTIONAL, &id);

    if (r == 0) {
        r = vfud_region_add(dev, VFUD_REGION_BAR0, 4096, VFUD_REGION_RW);
    }
    return r;
}

static int hostile_region_read(vfud_dev *dev, unsigned region, uint64_t offset,
                               void *buf, size_t len)
{
    struct hostile *h = vfud_get_private(dev);
    uint32_t v = 0;

    if (len != 4 || (offset & 3) != 0) {
        memset(buf, 0, len);
        return 0;
    }
    switch (offset) {
    case REG_ID:
        v = HOSTILE_ID;
        break;
    case REG_RESULT:
        v = h->result;
        break;
    case REG_VICTIM:
        v = h->victim;
        break;
    }
    memcpy(buf, &v, 4);
    return 0;
}

static int hostile_region_write(vfud_dev *dev, unsigned region, uint64_t offset,
                                const void *buf, size_t len)
{
    struct hostile *h = vfud_get_private(dev);
    static const char *const names[] = {
        "", "execve", "open /etc/shadow", "tcp connect", "ptrace",
        "/proc/PID/mem", "process_vm_readv", "nothing",
        "maps helper: listening socket", "maps helper: socket pair",
        "maps helper: the client's connection",
    };
    uint32_t v;
    int r;

    if (len != 4 || (offset & 3) != 0) {
        return 0;
    }
    memcpy(&v, buf, 4);
    if (offset == REG_VICTIM) {
        h->victim = v;
        return 0;
    }
    if (offset != REG_ATTACK || v < 1 || v > 10) {
        return 0;
    }
    switch (v) {
    case 1: r = attack_exec(); break;
    case 2: r = attack_shadow(); break;
    case 3: r = attack_connect(); break;
    case 4: r = attack_ptrace((pid_t)h->victim); break;
    case 5: r = attack_proc_mem((pid_t)h->victim); break;
    case 6: r = attack_vm_readv((pid_t)h->victim); break;
    case 8: r = attack_maps_helper(1); break;
    case 9: r = attack_maps_helper(-1); break;
    case 10: r = attack_maps_helper(0); break;
    default: r = 0; break;
    }
    h->result = (uint32_t)r;
    vfud_log(dev, LOG_NOTICE, "attack %u (%s): %s", v, names[v],
             r == 0 ? "succeeded" : strerror(r));
    return 0;
}

static int hostile_save_state(vfud_dev *dev, vfud_mig_stream *out)
{
    struct hostile *h = vfud_get_private(dev);

    return vfud_mig_write(out, &h->victim, sizeof(h->victim));
}

static int hostile_load_state(vfud_dev *dev, uint32_t version, const void *data,
                              size_t len)
{
    struct hostile *h = vfud_get_private(dev);

    if (version != 1 || len != sizeof(h->victim)) {
        vfud_error(dev, "state version %u of %zu bytes; version 1 has %zu", version,
                   len, sizeof(h->victim));
        return -EINVAL;
    }
    memcpy(&h->victim, data, sizeof(h->victim));
    return 0;
}

static struct vfud_plugin hostile_plugin = {
    .name = "hostile",
    .version = "1",
    .description = "a device model under its guest's control (sandbox tests)",
    .create = hostile_create,
    .realize = hostile_realize,
    .destroy = hostile_destroy,
    .region_read = hostile_region_read,
    .region_write = hostile_region_write,
    .state_version = 1,
    .save_state = hostile_save_state,
    .load_state = hostile_load_state,
};

VFUD_REGISTER_PLUGIN(hostile_plugin)
