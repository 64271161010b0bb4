/* SPDX-License-Identifier: BSD-3-Clause */
#include "config.h"

#include "ctl.h"

#include <errno.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <glib.h>

/* Longest answer we accept (a status of thousands of devices fits). */
#define CTL_MAX_ANSWER (64u << 20)

static GString *pending_in; /* bytes read after the last answer line */

json_object *ctl_request_new(const char *name)
{
    json_object *r = json_object_new_object();

    json_object_object_add(r, "command", json_object_new_string(name));
    return r;
}

static int ctl_connect(struct ctl *ctl)
{
    struct sockaddr_un sa = { .sun_family = AF_UNIX };
    int fd;

    if (strlen(ctl->socket) >= sizeof(sa.sun_path)) {
        fprintf(stderr, "vfiouserctl: %s: path too long\n", ctl->socket);
        return -ENAMETOOLONG;
    }
    strcpy(sa.sun_path, ctl->socket);
    fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
        int e = errno;

        fprintf(stderr, "vfiouserctl: cannot connect to %s: %s%s\n", ctl->socket,
                g_strerror(e),
                e == ENOENT || e == ECONNREFUSED
                    ? " (is the daemon running? -s PATH or -i INSTANCE names "
                      "another control socket)"
                    : e == EACCES ? " (the control socket is for its owner: "
                                    "run as root or as the daemon's user)"
                                  : "");
        if (fd >= 0) {
            close(fd);
        }
        return -e;
    }
    ctl->fd = fd;
    return 0;
}

static bool send_all(int fd, const char *buf, size_t len)
{
    while (len > 0) {
        ssize_t n = send(fd, buf, len, MSG_NOSIGNAL);

        if (n < 0) {
            if (errno == EINTR) {
                continue;
            }
            return false;
        }
        buf += n;
        len -= (size_t)n;
    }
    return true;
}

/* One line from the daemon (without '\n'), or NULL with a message. */
static char *read_line(struct ctl *ctl)
{
    gint64 deadline = g_get_monotonic_time() + (gint64)ctl->timeout_ms * 1000;
    char buf[65536];

    if (pending_in == NULL) {
        pending_in = g_string_new(NULL);
    }
    for (;;) {
        char *nl = memchr(pending_in->str, '\n', pending_in->len);
        struct pollfd p = { .fd = ctl->fd, .events = POLLIN };
        int wait = -1;
        ssize_t n;

        if (nl != NULL) {
            char *line = g_strndup(pending_in->str, (gsize)(nl - pending_in->str));

            g_string_erase(pending_in, 0, nl - pending_in->str + 1);
            return line;
        }
        if (pending_in->len > CTL_MAX_ANSWER) {
            fprintf(stderr, "vfiouserctl: answer longer than %u bytes\n", CTL_MAX_ANSWER);
            return NULL;
        }
        if (ctl->timeout_ms > 0) {
            gint64 left = (deadline - g_get_monotonic_time()) / 1000;

            if (left <= 0) {
                fprintf(stderr, "vfiouserctl: no answer from %s within %d s "
                        "(-t SECONDS waits longer)\n", ctl->socket,
                        ctl->timeout_ms / 1000);
                return NULL;
            }
            wait = (int)MIN(left, G_MAXINT);
        }
        if (poll(&p, 1, wait) < 0) {
            if (errno == EINTR) {
                continue;
            }
            fprintf(stderr, "vfiouserctl: poll: %s\n", g_strerror(errno));
            return NULL;
        }
        if (p.revents == 0) {
            continue;
        }
        n = recv(ctl->fd, buf, sizeof(buf), 0);
        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n <= 0) {
            fprintf(stderr, "vfiouserctl: %s closed the connection without an "
                    "answer: %s\n", ctl->socket,
                    n < 0 ? g_strerror(errno) : "the daemon stopped?");
            return NULL;
        }
        g_string_append_len(pending_in, buf, n);
    }
}

int ctl_call(struct ctl *ctl, json_object *request, json_object **answer)
{
    g_autofree char *line = NULL;
    GString *out = g_string_new(json_object_to_json_string_ext(
        request, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE));
    json_object *a;
    bool sent;

    json_object_put(request);
    *answer = NULL;
    if (ctl->fd < 0 && ctl_connect(ctl) < 0) {
        g_string_free(out, TRUE);
        return CTL_EXIT_NODAEMON;
    }
    g_string_append_c(out, '\n');
    sent = send_all(ctl->fd, out->str, out->len);
    g_string_free(out, TRUE);
    if (!sent) {
        fprintf(stderr, "vfiouserctl: cannot send to %s: %s\n", ctl->socket,
                g_strerror(errno));
        return CTL_EXIT_NODAEMON;
    }
    line = read_line(ctl);
    if (line == NULL) {
        return CTL_EXIT_NODAEMON;
    }
    a = json_tokener_parse(line);
    if (a == NULL || !json_object_is_type(a, json_type_object)) {
        fprintf(stderr, "vfiouserctl: %s answered something that is not a JSON "
                "object: %.200s\n", ctl->socket, line);
        json_object_put(a);
        return CTL_EXIT_NODAEMON;
    }
    *answer = a;
    return CTL_EXIT_OK;
}

bool ctl_ok(json_object *answer)
{
    json_object *ok;

    return json_object_object_get_ex(answer, "ok", &ok) && json_object_get_boolean(ok);
}

int ctl_finish(struct ctl *ctl, json_object *answer)
{
    bool ok = ctl_ok(answer);
    json_object *v;

    if (ctl->json) {
        printf("%s\n", json_object_to_json_string_ext(
                           answer, JSON_C_TO_STRING_PRETTY | JSON_C_TO_STRING_SPACED |
                                       JSON_C_TO_STRING_NOSLASHESCAPE));
    } else if (!ok) {
        fprintf(stderr, "vfiouserctl: %s\n",
                json_object_object_get_ex(answer, "error", &v)
                    ? json_object_get_string(v) : "failed (no reason given)");
        if (json_object_object_get_ex(answer, "errors", &v) &&
            json_object_is_type(v, json_type_array)) {
            for (size_t i = 0; i < json_object_array_length(v); i++) {
                fprintf(stderr, "  %s\n",
                        json_object_get_string(json_object_array_get_idx(v, i)));
            }
        }
    }
    json_object_put(answer);
    return ok ? CTL_EXIT_OK : CTL_EXIT_REFUSED;
}

int ctl_usage(const char *fmt, ...)
{
    va_list ap;

    fputs("vfiouserctl: ", stderr);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputs(" (vfiouserctl --help)\n", stderr);
    return CTL_EXIT_USAGE;
}

void ctl_close(struct ctl *ctl)
{
    if (ctl->fd >= 0) {
        close(ctl->fd);
        ctl->fd = -1;
    }
    if (pending_in != NULL) {
        g_string_free(pending_in, TRUE);
        pending_in = NULL;
    }
}
