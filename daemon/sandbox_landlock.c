/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Landlock: after start-up the daemon reaches only
 *
 *   read-write  the socket directory and the control socket's (sockets
 *               come and go at run time), and the directory of every
 *               absolute path a device's configuration names (namespace
 *               images, gpio input and output files: plugins write some
 *               of them by rename, so the directory, not just the file)
 *   read-only   the daemon's libraries (/usr, /lib*), /proc, /dev/null
 *               and /dev/urandom, the user and group databases; in the
 *               daemon proper also the config file (reload) and the plugin
 *               directory (hot-added devices, isolated processes); an
 *               isolated device's process has its plugin loaded already
 *               and gets no plugin directory at all
 *   execute     our own binary and its ELF interpreter, and only in a
 *               daemon that starts isolated device processes
 *
 * and, as Landlock confines ptrace too, no other process's memory through
 * /proc/PID/mem.  Rights the kernel does not know (older ABI) are dropped
 * from the request; a kernel without Landlock (< 5.13, or disabled) leaves
 * files unconfined, with a log line saying so.
 */
#include "config.h"

#include "log.h"
#include "sandbox.h"

#include <elf.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/landlock.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#ifndef LANDLOCK_ACCESS_FS_REFER
#define LANDLOCK_ACCESS_FS_REFER (1ULL << 13)
#endif
#ifndef LANDLOCK_ACCESS_FS_TRUNCATE
#define LANDLOCK_ACCESS_FS_TRUNCATE (1ULL << 14)
#endif
#ifndef LANDLOCK_ACCESS_FS_IOCTL_DEV
#define LANDLOCK_ACCESS_FS_IOCTL_DEV (1ULL << 15)
#endif

#define FS_READ (LANDLOCK_ACCESS_FS_READ_FILE | LANDLOCK_ACCESS_FS_READ_DIR)
#define FS_WRITE (LANDLOCK_ACCESS_FS_WRITE_FILE | LANDLOCK_ACCESS_FS_REMOVE_DIR | \
                  LANDLOCK_ACCESS_FS_REMOVE_FILE | LANDLOCK_ACCESS_FS_MAKE_DIR |    \
                  LANDLOCK_ACCESS_FS_MAKE_REG | LANDLOCK_ACCESS_FS_MAKE_SOCK |      \
                  LANDLOCK_ACCESS_FS_MAKE_FIFO | LANDLOCK_ACCESS_FS_REFER |         \
                  LANDLOCK_ACCESS_FS_TRUNCATE | LANDLOCK_ACCESS_FS_IOCTL_DEV)
#define FS_ALL (FS_READ | FS_WRITE | LANDLOCK_ACCESS_FS_EXECUTE |                  \
                LANDLOCK_ACCESS_FS_MAKE_CHAR | LANDLOCK_ACCESS_FS_MAKE_BLOCK |      \
                LANDLOCK_ACCESS_FS_MAKE_SYM)

/* Rights of each ABI version (index = version). */
static const __u64 abi_fs[] = {
    0,
    (LANDLOCK_ACCESS_FS_MAKE_SYM << 1) - 1,          /* 1: 5.13 */
    (LANDLOCK_ACCESS_FS_REFER << 1) - 1,             /* 2: 5.19 */
    (LANDLOCK_ACCESS_FS_TRUNCATE << 1) - 1,          /* 3: 6.2 */
    (LANDLOCK_ACCESS_FS_TRUNCATE << 1) - 1,          /* 4: 6.7 (network) */
    (LANDLOCK_ACCESS_FS_IOCTL_DEV << 1) - 1,         /* 5: 6.10 */
};

static const char *const system_ro[] = {
    "/usr", "/lib", "/lib64", "/lib32", "/libx32", "/proc", "/dev/null",
    "/dev/zero", "/dev/urandom", "/etc/ld.so.cache", "/etc/ld.so.preload",
    "/etc/passwd", "/etc/group", "/etc/nsswitch.conf", "/etc/localtime",
    NULL
};

static __u64 handled;

static int add_rule(int ruleset, const char *path, __u64 access, bool quiet)
{
    struct landlock_path_beneath_attr attr = { 0 };
    struct stat st;
    int fd = open(path, O_PATH | O_CLOEXEC);
    int r = 0;

    if (fd < 0) {
        if (!quiet) {
            log_warn(NULL, "sandbox: landlock: %s: %s (not allowed)", path,
                     g_strerror(errno));
        }
        return 0;
    }
    if (fstat(fd, &st) == 0 && !S_ISDIR(st.st_mode)) {
        /* Rights a file can have. */
        access &= LANDLOCK_ACCESS_FS_READ_FILE | LANDLOCK_ACCESS_FS_WRITE_FILE |
                  LANDLOCK_ACCESS_FS_EXECUTE | LANDLOCK_ACCESS_FS_TRUNCATE |
                  LANDLOCK_ACCESS_FS_IOCTL_DEV;
    }
    attr.allowed_access = access & handled;
    attr.parent_fd = fd;
    if (attr.allowed_access != 0 &&
        syscall(SYS_landlock_add_rule, ruleset, LANDLOCK_RULE_PATH_BENEATH, &attr, 0) < 0) {
        r = -errno;
        log_error(NULL, "sandbox: landlock: cannot allow %s: %s", path, g_strerror(-r));
    }
    close(fd);
    return r;
}

/* The ELF interpreter of our binary: an execve of ourselves opens it. */
static char *interpreter(const char *exe)
{
    Elf64_Ehdr eh;
    Elf64_Phdr ph;
    char *out = NULL;
    int fd = open(exe, O_RDONLY | O_CLOEXEC);

    if (fd < 0) {
        return NULL;
    }
    if (pread(fd, &eh, sizeof(eh), 0) == sizeof(eh) &&
        memcmp(eh.e_ident, ELFMAG, SELFMAG) == 0 && eh.e_ident[EI_CLASS] == ELFCLASS64) {
        for (unsigned i = 0; i < eh.e_phnum && out == NULL; i++) {
            if (pread(fd, &ph, sizeof(ph), (off_t)(eh.e_phoff + i * eh.e_phentsize)) !=
                sizeof(ph)) {
                break;
            }
            if (ph.p_type == PT_INTERP && ph.p_filesz > 1 && ph.p_filesz < 4096) {
                out = g_malloc0(ph.p_filesz + 1);
                if (pread(fd, out, ph.p_filesz, (off_t)ph.p_offset) !=
                    (ssize_t)ph.p_filesz) {
                    g_clear_pointer(&out, g_free);
                }
            }
        }
    }
    close(fd);
    return out;
}

#ifdef VFUD_SANITIZED
/* The sanitizers read their suppression files lazily, at the exit's leak
 * check, long after the sandbox is in force: without a rule, a sanitized
 * daemon fails its exit ("failed to read suppressions file"). */
static int allow_suppressions(int ruleset)
{
    static const char *const vars[] = { "LSAN_OPTIONS", "ASAN_OPTIONS", "UBSAN_OPTIONS" };
    int r = 0;

    for (size_t v = 0; r == 0 && v < G_N_ELEMENTS(vars); v++) {
        const char *opts = getenv(vars[v]);
        g_auto(GStrv) parts = opts != NULL ? g_strsplit(opts, ":", -1) : NULL;

        for (guint i = 0; r == 0 && parts != NULL && parts[i] != NULL; i++) {
            if (g_str_has_prefix(parts[i], "suppressions=")) {
                r = add_rule(ruleset, parts[i] + strlen("suppressions="), FS_READ, true);
            }
        }
    }
    return r;
}
#endif

int landlock_prepare(const struct sandbox_plan *p, int *ruleset_fd)
{
    struct landlock_ruleset_attr attr = { 0 };
    long abi = syscall(SYS_landlock_create_ruleset, NULL, 0,
                       LANDLOCK_CREATE_RULESET_VERSION);
    int fd, r = 0;

    *ruleset_fd = -1;
    if (abi < 1) {
        log_warn(NULL, "sandbox: the kernel has no Landlock (%s; needs Linux 5.13 "
                 "with landlock in the lsm= list): file access is not confined",
                 g_strerror(errno));
        return -EOPNOTSUPP;
    }
    handled = abi_fs[MIN((size_t)abi, G_N_ELEMENTS(abi_fs) - 1)] & FS_ALL;
    attr.handled_access_fs = handled;
    fd = (int)syscall(SYS_landlock_create_ruleset, &attr, sizeof(attr), 0);
    if (fd < 0) {
        r = -errno;
        log_error(NULL, "sandbox: landlock_create_ruleset: %s", g_strerror(-r));
        return r;
    }
    for (const char *const *s = system_ro; r == 0 && *s != NULL; s++) {
        r = add_rule(fd, *s, FS_READ, true);
    }
#ifdef VFUD_SANITIZED
    if (r == 0) {
        r = allow_suppressions(fd);
    }
#endif
    for (guint i = 0; r == 0 && i < p->ro_paths->len; i++) {
        r = add_rule(fd, g_ptr_array_index(p->ro_paths, i), FS_READ, false);
    }
    for (guint i = 0; r == 0 && i < p->rw_paths->len; i++) {
        r = add_rule(fd, g_ptr_array_index(p->rw_paths, i), FS_READ | FS_WRITE, false);
    }
    /* The daemon makes them when it binds its first socket: Landlock needs
     * them now (same mode as listener.c). */
    if (p->socket_dir != NULL) {
        g_mkdir_with_parents(p->socket_dir, 0755);
    }
    if (p->control_dir != NULL) {
        g_mkdir_with_parents(p->control_dir, 0755);
    }
    if (r == 0 && p->socket_dir != NULL) {
        r = add_rule(fd, p->socket_dir, FS_READ | FS_WRITE, false);
    }
    if (r == 0 && p->control_dir != NULL) {
        r = add_rule(fd, p->control_dir, FS_READ | FS_WRITE, false);
    }
    if (r == 0 && p->spawns) {
        g_autofree char *exe = g_file_read_link("/proc/self/exe", NULL);
        g_autofree char *interp = exe != NULL ? interpreter(exe) : NULL;

        if (exe != NULL) {
            r = add_rule(fd, exe, FS_READ | LANDLOCK_ACCESS_FS_EXECUTE, false);
        }
        if (r == 0 && interp != NULL) {
            r = add_rule(fd, interp, FS_READ | LANDLOCK_ACCESS_FS_EXECUTE, false);
        }
    }
    if (r < 0) {
        close(fd);
        return r;
    }
    *ruleset_fd = fd;
    return 0;
}

int landlock_restrict_thread(int ruleset_fd)
{
    if (syscall(SYS_landlock_restrict_self, ruleset_fd, 0) < 0) {
        return -errno;
    }
    return 0;
}
