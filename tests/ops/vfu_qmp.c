/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * vfu-qmp: send one QMP command to a QEMU monitor socket and print its
 * result, for the hot-plug end-to-end test (no socat or python needed).
 *
 *   vfu-qmp [-t SECONDS] [-e EVENT] SOCKET 'COMMAND-JSON'
 *
 * Waits up to SECONDS (default 60) for the socket to accept, negotiates
 * capabilities, sends the command and prints the "return" value.  With -e,
 * then also waits for an event of that name (DEVICE_DELETED after
 * device_del), which may come before or after the return.  Exit status: 0,
 * 1 if QEMU answered an error (printed), 2 on usage, 3 on timeout or a
 * broken connection.
 */
#include "config.h"

#include <errno.h>
#include <poll.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <glib.h>
#include <json-c/json.h>

static gint64 deadline;
static GString *inbuf;

static int qmp_connect(const char *path)
{
    struct sockaddr_un sa = { .sun_family = AF_UNIX };

    if (strlen(path) >= sizeof(sa.sun_path)) {
        fprintf(stderr, "vfu-qmp: %s: path too long\n", path);
        exit(2);
    }
    strcpy(sa.sun_path, path);
    for (;;) {
        int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);

        if (fd >= 0 && connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0) {
            return fd;
        }
        if (fd >= 0) {
            close(fd);
        }
        if (g_get_monotonic_time() > deadline) {
            fprintf(stderr, "vfu-qmp: cannot connect to %s: %s\n", path,
                    g_strerror(errno));
            exit(3);
        }
        g_usleep(100000);
    }
}

/* The next JSON object QEMU sends. */
static json_object *qmp_read(int fd)
{
    for (;;) {
        char *nl = memchr(inbuf->str, '\n', inbuf->len);
        struct pollfd p = { .fd = fd, .events = POLLIN };
        char buf[4096];
        gint64 left;
        ssize_t n;

        if (nl != NULL) {
            g_autofree char *line = g_strndup(inbuf->str, (gsize)(nl - inbuf->str));
            json_object *o;

            g_string_erase(inbuf, 0, nl - inbuf->str + 1);
            o = json_tokener_parse(g_strstrip(line));
            if (o != NULL) {
                return o;
            }
            continue;
        }
        left = (deadline - g_get_monotonic_time()) / 1000;
        if (left <= 0) {
            fprintf(stderr, "vfu-qmp: timed out waiting for QEMU\n");
            exit(3);
        }
        if (poll(&p, 1, (int)left) <= 0) {
            continue;
        }
        n = recv(fd, buf, sizeof(buf), 0);
        if (n <= 0) {
            fprintf(stderr, "vfu-qmp: QEMU closed the monitor connection\n");
            exit(3);
        }
        g_string_append_len(inbuf, buf, n);
    }
}

static void qmp_send(int fd, const char *text)
{
    size_t len = strlen(text);

    if (send(fd, text, len, MSG_NOSIGNAL) != (ssize_t)len ||
        send(fd, "\n", 1, MSG_NOSIGNAL) != 1) {
        fprintf(stderr, "vfu-qmp: send: %s\n", g_strerror(errno));
        exit(3);
    }
}

/* Is o the event named name? */
static bool is_event(json_object *o, const char *name)
{
    json_object *ev;

    return name != NULL && json_object_object_get_ex(o, "event", &ev) &&
           strcmp(json_object_get_string(ev), name) == 0;
}

int main(int argc, char **argv)
{
    const char *event = NULL;
    int timeout = 60, opt, fd;
    bool seen = false, returned = false;
    json_object *o, *v;

    while ((opt = getopt(argc, argv, "t:e:")) != -1) {
        switch (opt) {
        case 't':
            timeout = atoi(optarg);
            break;
        case 'e':
            event = optarg;
            break;
        default:
            return 2;
        }
    }
    if (argc - optind != 2) {
        fprintf(stderr, "usage: vfu-qmp [-t SECONDS] [-e EVENT] SOCKET 'COMMAND-JSON'\n");
        return 2;
    }
    deadline = g_get_monotonic_time() + (gint64)timeout * G_USEC_PER_SEC;
    inbuf = g_string_new(NULL);
    fd = qmp_connect(argv[optind]);

    o = qmp_read(fd); /* the greeting */
    json_object_put(o);
    qmp_send(fd, "{\"execute\":\"qmp_capabilities\"}");
    for (;;) {
        o = qmp_read(fd);
        returned = json_object_object_get_ex(o, "return", NULL);
        json_object_put(o);
        if (returned) {
            break;
        }
    }

    returned = false;
    qmp_send(fd, argv[optind + 1]);
    while (!returned || (event != NULL && !seen)) {
        o = qmp_read(fd);
        if (is_event(o, event)) {
            seen = true;
            printf("%s\n", json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN));
        } else if (json_object_object_get_ex(o, "error", &v)) {
            json_object *d;

            fprintf(stderr, "vfu-qmp: QEMU: %s\n",
                    json_object_object_get_ex(v, "desc", &d) ? json_object_get_string(d)
                                                              : json_object_get_string(v));
            return 1;
        } else if (json_object_object_get_ex(o, "return", &v)) {
            returned = true;
            printf("%s\n", json_object_to_json_string_ext(v, JSON_C_TO_STRING_PLAIN));
        }
        json_object_put(o);
    }
    close(fd);
    return 0;
}
