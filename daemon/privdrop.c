/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Privileges: started as root, the daemon has bound its sockets (and given
 * them their owners) by the time it gets here; it then becomes [daemon]
 * user/group, by default the vfiouserd user when it exists.  Without such
 * a user it stays uid 0 but keeps no capability, so root's files stay
 * reachable (Landlock narrows which) while nothing else root can do is.
 * No thread keeps a capability, and no_new_privs makes sure no execve
 * gives one back.
 */
#include "config.h"

#include "log.h"
#include "sandbox.h"
#include "util.h"

#include <errno.h>
#include <grp.h>
#include <linux/capability.h>
#include <linux/securebits.h>
#include <pwd.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#define DEFAULT_USER "vfiouserd"

static int find_user(const struct sandbox_config *cfg, uid_t *uid, gid_t *gid,
                     bool *found)
{
    struct passwd *pw;
    int r;

    *found = false;
    if (cfg->user != NULL) {
        r = util_parse_uid(cfg->user, uid);
        if (r < 0) {
            log_error(NULL, "sandbox: user '%s': %s", cfg->user,
                      r == -ENOENT ? "no such user" : "invalid user id");
            return -EINVAL;
        }
        pw = getpwuid(*uid);
        *gid = pw != NULL ? pw->pw_gid : (gid_t)*uid;
        *found = true;
    } else {
        pw = getpwnam(DEFAULT_USER);
        if (pw != NULL) {
            *uid = pw->pw_uid;
            *gid = pw->pw_gid;
            *found = true;
        }
    }
    if (cfg->group != NULL) {
        r = util_parse_gid(cfg->group, gid);
        if (r < 0) {
            log_error(NULL, "sandbox: group '%s': %s", cfg->group,
                      r == -ENOENT ? "no such group" : "invalid group id");
            return -EINVAL;
        }
        if (!*found) {
            /* A group alone: root without capabilities, in that group. */
            *uid = 0;
            *found = true;
        }
    }
    return 0;
}

bool privdrop_will_switch(const struct sandbox_config *cfg)
{
    uid_t uid = 0;
    gid_t gid = 0;
    bool found = false;

    return geteuid() == 0 && find_user(cfg, &uid, &gid, &found) == 0 && found &&
           uid != 0;
}

int privdrop_apply(const struct sandbox_config *cfg)
{
    uid_t uid = 0, ruid, euid, suid;
    gid_t gid = 0;
    bool found;
    int r;

    if (geteuid() != 0) {
        return 0; /* no_new_privs comes with the rest of the sandbox */
    }
    r = find_user(cfg, &uid, &gid, &found);
    if (r < 0) {
        return r;
    }
    if (!found) {
        log_notice(NULL, "sandbox: no [daemon] user and no '%s' user: staying "
                   "uid 0 without capabilities", DEFAULT_USER);
        return 0;
    }
    /* glibc applies these to every thread of the process; leaving uid 0
     * clears each thread's capabilities (no PR_SET_KEEPCAPS). */
    if (setgroups(1, &gid) < 0 || setresgid(gid, gid, gid) < 0 ||
        setresuid(uid, uid, uid) < 0) {
        r = -errno;
        log_error(NULL, "sandbox: cannot switch to uid %u gid %u: %s", (unsigned)uid,
                  (unsigned)gid, g_strerror(-r));
        return r;
    }
    if (getresuid(&ruid, &euid, &suid) < 0 || ruid != uid || euid != uid ||
        suid != uid) {
        log_error(NULL, "sandbox: the switch to uid %u did not take", (unsigned)uid);
        return -EPERM;
    }
    log_info(NULL, "sandbox: running as uid %u gid %u", (unsigned)uid, (unsigned)gid);
    return 0;
}

/* Capabilities belong to threads, not to the process: this runs on each
 * (sandbox_on_all_threads).  Async-signal-safe: system calls only. */
int privdrop_thread_caps(void)
{
    struct __user_cap_header_struct hdr = { _LINUX_CAPABILITY_VERSION_3, 0 };
    struct __user_cap_data_struct data[_LINUX_CAPABILITY_U32S_3];

    if (prctl(PR_CAPBSET_READ, CAP_SETPCAP, 0, 0, 0) == 1 &&
        syscall(SYS_capget, &hdr, data) == 0 &&
        (data[0].effective & (1u << CAP_SETPCAP)) != 0) {
        /* uid 0 stays uid 0: never again does it get root's powers back,
         * even through an execve the filter allows. */
        prctl(PR_SET_SECUREBITS, SECBIT_NOROOT | SECBIT_NOROOT_LOCKED |
              SECBIT_NO_SETUID_FIXUP | SECBIT_NO_SETUID_FIXUP_LOCKED |
              SECBIT_KEEP_CAPS_LOCKED, 0, 0, 0);
        for (int cap = 0; cap <= CAP_LAST_CAP; cap++) {
            prctl(PR_CAPBSET_DROP, cap, 0, 0, 0);
        }
    }
    memset(data, 0, sizeof(data));
    hdr.pid = 0;
    if (syscall(SYS_capset, &hdr, data) < 0) {
        return -errno;
    }
    return 0;
}
