/* SPDX-License-Identifier: BSD-3-Clause */
#include "config.h"

#include "util.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

int util_parse_bool(const char *s, bool *out)
{
    static const char *const yes[] = { "1", "yes", "true", "on" };
    static const char *const no[] = { "0", "no", "false", "off" };

    for (size_t i = 0; i < ARRAY_SIZE(yes); i++) {
        if (strcasecmp(s, yes[i]) == 0) {
            *out = true;
            return 0;
        }
        if (strcasecmp(s, no[i]) == 0) {
            *out = false;
            return 0;
        }
    }
    return -EINVAL;
}

/* strtoull accepts leading '-' and whitespace; we do not. */
static int parse_u64_prefix(const char *s, uint64_t *out, char **end)
{
    unsigned long long v;

    if (s == NULL || !isdigit((unsigned char)s[0])) {
        return -EINVAL;
    }
    errno = 0;
    v = strtoull(s, end, 0);
    if (errno == ERANGE) {
        return -ERANGE;
    }
    if (*end == s) {
        return -EINVAL;
    }
    *out = v;
    return 0;
}

int util_parse_u64(const char *s, uint64_t *out)
{
    char *end;
    int r = parse_u64_prefix(s, out, &end);

    if (r < 0) {
        return r;
    }
    return *end == '\0' ? 0 : -EINVAL;
}

int util_parse_size(const char *s, uint64_t *out)
{
    static const char units[] = "kmgtpe";
    uint64_t v;
    char *end;
    int r = parse_u64_prefix(s, &v, &end);
    const char *u;

    if (r < 0) {
        return r;
    }
    if (*end == '\0') {
        *out = v;
        return 0;
    }
    u = strchr(units, tolower((unsigned char)*end));
    if (u == NULL || *end == '\0') {
        return -EINVAL;
    }
    end++;
    /* Accept "4k", "4K", "4KiB", "4KB". */
    if (*end == 'i' || *end == 'I') {
        end++;
    }
    if (*end == 'b' || *end == 'B') {
        end++;
    }
    if (*end != '\0') {
        return -EINVAL;
    }
    for (long shift = (u - units + 1) * 10; shift > 0; shift -= 10) {
        if (v > UINT64_MAX >> 10) {
            return -ERANGE;
        }
        v <<= 10;
    }
    *out = v;
    return 0;
}

int util_parse_mode(const char *s, mode_t *out)
{
    char *end;
    unsigned long v;

    if (s == NULL || !isdigit((unsigned char)s[0])) {
        return -EINVAL;
    }
    errno = 0;
    v = strtoul(s, &end, 8);
    if (errno != 0 || *end != '\0' || v > 07777) {
        return -EINVAL;
    }
    *out = (mode_t)v;
    return 0;
}

int util_parse_uid(const char *s, uid_t *out)
{
    uint64_t v;
    struct passwd pw, *res = NULL;
    char buf[4096];

    if (util_parse_u64(s, &v) == 0) {
        if (v >= (uid_t)-1) {
            return -ERANGE;
        }
        *out = (uid_t)v;
        return 0;
    }
    if (getpwnam_r(s, &pw, buf, sizeof(buf), &res) != 0 || res == NULL) {
        return -ENOENT;
    }
    *out = pw.pw_uid;
    return 0;
}

int util_parse_gid(const char *s, gid_t *out)
{
    uint64_t v;
    struct group gr, *res = NULL;
    char buf[8192];

    if (util_parse_u64(s, &v) == 0) {
        if (v >= (gid_t)-1) {
            return -ERANGE;
        }
        *out = (gid_t)v;
        return 0;
    }
    if (getgrnam_r(s, &gr, buf, sizeof(buf), &res) != 0 || res == NULL) {
        return -ENOENT;
    }
    *out = gr.gr_gid;
    return 0;
}

void util_close(int *fd)
{
    if (*fd >= 0) {
        int saved = errno;

        close(*fd);
        errno = saved;
        *fd = -1;
    }
}

int util_set_nonblock(int fd, bool on)
{
    int fl = fcntl(fd, F_GETFL);

    if (fl < 0) {
        return -errno;
    }
    fl = on ? (fl | O_NONBLOCK) : (fl & ~O_NONBLOCK);
    if (fcntl(fd, F_SETFL, fl) < 0) {
        return -errno;
    }
    return 0;
}

const char *util_pid_text(pid_t pid, char buf[UTIL_PID_TEXT_SIZE])
{
    if (pid > 0) {
        snprintf(buf, UTIL_PID_TEXT_SIZE, "pid %d", (int)pid);
        return buf;
    }
    return pid == 0 ? "(in a pid namespace this one cannot see)" : "(pid unknown)";
}

bool util_valid_device_name(const char *name)
{
    size_t n = strlen(name);

    if (n == 0 || n > 64 || strcmp(name, "daemon") == 0) {
        return false;
    }
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)name[i];

        if (!isalnum(c) && c != '_' && c != '.' && c != '-') {
            return false;
        }
    }
    return true;
}
