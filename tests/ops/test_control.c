/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The control socket and vfiouserctl: where the socket is and who may use
 * it (mode 0600, control-socket keys, --control-socket, none), the line
 * protocol (bad JSON, unknown commands, oversized lines, pipelining, ids,
 * half-closed connections, the connection limit: each gets an answer and
 * the connection goes on), list/status/version answers, log levels (per
 * device and daemon-wide, journald priority prefixes), and vfiouserctl's
 * output and exit statuses.
 */
#include "config.h"

#include "ops_test.h"

#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <glib.h>
#include <vfiouserd/plugin.h>

static const char *const g0_t0[] = { "g0", "t0", NULL };

static const char two_devices[] =
    "[daemon]\n"
    "socket-dir = @SOCKDIR@\n"
    "[g0]\n"
    "plugin = gpio\n"
    "[t0]\n"
    "plugin = testdev\n";

START_TEST(socket_and_answers)
{
    struct harness *h = ot_start(two_devices, NULL, g0_t0);
    g_autofree char *ctl = ot_control_path(h);
    json_object *a;
    struct stat st;

    /* Only its owner may change devices. */
    ck_assert_int_eq(lstat(ctl, &st), 0);
    ck_assert(S_ISSOCK(st.st_mode));
    ck_assert_uint_eq(st.st_mode & 07777, 0600);
    ck_assert_uint_eq(st.st_uid, geteuid());

    a = ot_request(ctl, "{\"command\":\"version\"}");
    ot_assert_ok(a);
    ck_assert_str_eq(ot_str(a, "daemon"), "vfiouserd");
    ck_assert_int_eq(json_object_get_int(ot_get(a, "protocol")), 1);
    ck_assert_int_eq(json_object_get_int(ot_get(a, "pid")), h->pid);
    json_object_put(a);

    a = ot_request(ctl, "{\"command\":\"list\"}");
    ot_assert_ok(a);
    ck_assert_uint_eq(json_object_array_length(ot_get(a, "devices")), 2);
    ck_assert_str_eq(ot_str(a, "devices.0.name"), "g0");
    ck_assert_str_eq(ot_str(a, "devices.0.plugin"), "gpio");
    ck_assert_str_eq(ot_str(a, "devices.0.state"), "listening");
    ck_assert_str_eq(ot_str(a, "devices.1.name"), "t0");
    ck_assert(json_object_is_type(ot_get(a, "devices.1.client_pid"), json_type_null));
    ck_assert(json_object_is_type(ot_get(a, "devices.1.client_who"), json_type_null));
    json_object_put(a);

    a = ot_request(ctl, "{\"command\":\"status\"}");
    ot_assert_ok(a);
    ck_assert_str_eq(ot_str(a, "daemon.config"), h->config_path);
    ck_assert_str_eq(ot_str(a, "daemon.control_socket"), ctl);
    ck_assert_str_eq(ot_str(a, "daemon.log_level"), "info");
    ck_assert_str_eq(ot_str(a, "devices.1.socket.mode"), "0660");
    ck_assert_str_eq(ot_str(a, "devices.1.origin"), "config");
    ck_assert_int_eq(json_object_get_int(ot_get(a, "devices.1.totals.clients")), 0);
    ck_assert_int_eq(json_object_get_int(ot_get(a, "devices.1.irqs.msix.vectors")), 4);
    json_object_put(a);

    a = ot_request(ctl, "{\"command\":\"status\",\"device\":\"nosuch\"}");
    ot_assert_error(a, "ENOENT");
    json_object_put(a);

    ot_stop_ok(h);
    ck_assert_int_ne(access(ctl, F_OK), 0); /* removed at exit */
    harness_free(h);
}
END_TEST

/* Each malformed request gets its error answer, and the same connection
 * then serves a good one. */
START_TEST(malformed_requests)
{
    static const char *const extra[] = { "--log=journal", NULL };
    struct harness *h = ot_start(two_devices, extra, g0_t0);
    g_autofree char *ctl = ot_control_path(h);
    g_autofree char *log = NULL;
    static const struct {
        const char *line;
        const char *code;
    } bad[] = {
        { "nonsense", "EINVAL" },
        { "[1, 2]", "EINVAL" },
        { "42", "EINVAL" },
        { "{}", "EINVAL" },
        { "{\"command\": 5}", "EINVAL" },
        { "{\"command\": \"nope\"}", "ENOSYS" },
        { "{\"command\": \"list\"} trailing", "EINVAL" },
        { "{\"command\": \"list\"", "EINVAL" },
        { "{\"command\": \"status\", \"device\": 7}", "EINVAL" },
        { "{\"command\": \"add\", \"device\": \"x\"}", "EINVAL" },
        { "{\"command\": \"add\", \"device\": \"bad/name\", \"keys\": []}", "EINVAL" },
        { "{\"command\": \"add\", \"device\": \"x\", \"keys\": [\"noequals\"]}", "EINVAL" },
        { "{\"command\": \"add\", \"device\": \"x\", \"keys\": [\"plugin=a\", \"plugin=b\"]}",
          "EINVAL" },
        { "{\"command\": \"remove\"}", "EINVAL" },
        { "{\"command\": \"log-level\", \"level\": \"loud\"}", "EINVAL" },
        { "{\"command\": \"log-level\", \"level\": \"default\"}", "EINVAL" },
    };
    int fd = ot_connect(ctl);
    g_autofree char *big = g_malloc(70000);
    json_object *a;

    for (size_t i = 0; i < G_N_ELEMENTS(bad); i++) {
        a = ot_call(fd, bad[i].line);
        ck_assert_msg(!ot_ok(a) && g_strcmp0(ot_str(a, "code"), bad[i].code) == 0,
                      "%s -> %s", bad[i].line, json_object_to_json_string(a));
        json_object_put(a);
        a = ot_call(fd, "{\"command\": \"version\"}");
        ot_assert_ok(a);
        json_object_put(a);
    }

    /* Longer than CONTROL_MAX_LINE, with its newline. */
    memset(big, 'x', 70000);
    ot_send(fd, big, 70000);
    a = ot_call(fd, "");
    ot_assert_error(a, "E2BIG");
    json_object_put(a);
    a = ot_call(fd, "{\"command\": \"version\"}");
    ot_assert_ok(a);
    json_object_put(a);

    /* 2 MiB without a newline: one answer, as soon as it is too long, and
     * the rest of the line is dropped. */
    for (int i = 0; i < 30; i++) {
        ot_send(fd, big, 70000);
    }
    a = ot_answer(fd);
    ot_assert_error(a, "E2BIG");
    json_object_put(a);
    /* The line ends at its newline, like any other. */
    ot_send(fd, big, 1000);
    a = ot_call(fd, "\n {\"command\": \"version\", \"id\": \"after\"}");
    ck_assert_msg(ot_ok(a) && g_strcmp0(ot_str(a, "id"), "after") == 0, "%s",
                  json_object_to_json_string(a));
    json_object_put(a);

    /* Blank lines are not requests; CRLF is accepted. */
    ot_send(fd, "\n\r\n  \n", 6);
    a = ot_call(fd, "{\"command\": \"version\", \"id\": 1}\r");
    ck_assert_int_eq(json_object_get_int(ot_get(a, "id")), 1);
    json_object_put(a);
    ot_close(fd);

    /* Nothing of this is the daemon's error (journald levels 0-3). */
    ot_stop_ok(h);
    log = harness_log(h);
    ck_assert_msg(!dt_has_match(log, "^<[0-3]>"), "errors logged:\n%s", log);
    harness_free(h);
}
END_TEST

/* Requests sent together are answered in order, also when one of them
 * (remove) is answered only once a device thread has stopped. */
START_TEST(pipelined_requests)
{
    struct harness *h = ot_start(two_devices, NULL, g0_t0);
    g_autofree char *ctl = ot_control_path(h);
    static const char batch[] =
        "{\"command\":\"list\",\"id\":1}\n"
        "{\"command\":\"remove\",\"device\":\"g0\",\"id\":2}\n"
        "{\"command\":\"list\",\"id\":\"three\"}\n"
        "{\"command\":\"nope\",\"id\":{\"n\":4}}\n";
    int fd = ot_connect(ctl);
    json_object *a;

    ot_send(fd, batch, sizeof(batch) - 1);
    a = ot_answer(fd);
    ck_assert_int_eq(json_object_get_int(ot_get(a, "id")), 1);
    ck_assert_uint_eq(json_object_array_length(ot_get(a, "devices")), 2);
    json_object_put(a);
    a = ot_answer(fd);
    ck_assert_int_eq(json_object_get_int(ot_get(a, "id")), 2);
    ot_assert_ok(a);
    json_object_put(a);
    a = ot_answer(fd);
    ck_assert_str_eq(ot_str(a, "id"), "three");
    ck_assert_uint_eq(json_object_array_length(ot_get(a, "devices")), 1);
    json_object_put(a);
    a = ot_answer(fd);
    ck_assert_int_eq(json_object_get_int(ot_get(a, "id.n")), 4);
    ot_assert_error(a, "ENOSYS");
    json_object_put(a);

    /* A peer that stops writing still gets its answer, then EOF. */
    ot_send(fd, "{\"command\":\"version\"}\n", 22);
    ck_assert_int_eq(shutdown(fd, SHUT_WR), 0);
    a = ot_answer(fd);
    ot_assert_ok(a);
    json_object_put(a);
    {
        char c;
        ck_assert_int_eq(recv(fd, &c, 1, 0), 0);
    }
    ot_close(fd);
    ot_stop_ok(h);
    harness_free(h);
}
END_TEST

START_TEST(connection_limit)
{
    struct harness *h = ot_start(two_devices, NULL, g0_t0);
    g_autofree char *ctl = ot_control_path(h);
    int fds[16], extra;
    json_object *a;
    char c;

    for (int i = 0; i < 16; i++) {
        fds[i] = ot_connect(ctl);
        a = ot_call(fds[i], "{\"command\":\"version\"}");
        ot_assert_ok(a);
        json_object_put(a);
    }
    extra = ot_connect(ctl);
    a = ot_answer(extra);
    ot_assert_error(a, "EBUSY");
    json_object_put(a);
    ck_assert_int_eq(recv(extra, &c, 1, 0), 0);
    ot_close(extra);
    ot_close(fds[0]);
    /* The slot is free again once the daemon has seen the close. Until then
     * a new connection gets the unprompted EBUSY and is closed, possibly
     * before our request arrives: then the send fails with EPIPE, which is
     * the refusal too, and the EBUSY line is still there to read. */
    for (int tries = 0;; tries++) {
        static const char req[] = "{\"command\":\"version\"}\n";
        ssize_t n;

        extra = ot_connect(ctl);
        n = send(extra, req, sizeof(req) - 1, MSG_NOSIGNAL);
        ck_assert_msg(n == (ssize_t)sizeof(req) - 1 || (n < 0 && errno == EPIPE),
                      "send to the control socket: %s", g_strerror(errno));
        a = ot_answer(extra);
        ot_close(extra);
        if (ot_ok(a)) {
            json_object_put(a);
            break;
        }
        ot_assert_error(a, "EBUSY");
        json_object_put(a);
        ck_assert_int_lt(tries, 500);
        g_usleep(10000);
    }
    for (int i = 1; i < 16; i++) {
        ot_close(fds[i]);
    }
    ot_stop_ok(h);
    harness_free(h);
}
END_TEST

START_TEST(control_socket_settings)
{
    struct harness *h = harness_new("[daemon]\n"
                                    "socket-dir = @SOCKDIR@\n"
                                    "control-socket = @DIR@/ctl/daemon.ctl\n"
                                    "control-socket-mode = 0660\n"
                                    "[g0]\n"
                                    "plugin = gpio\n"
                                    "[t0]\n"
                                    "plugin = testdev\n");
    g_autofree char *path = g_build_filename(h->dir, "ctl/daemon.ctl", NULL);
    g_autofree char *dflt = ot_control_path(h);
    g_autofree char *other = g_build_filename(h->dir, "other.ctl", NULL);
    g_autofree char *opt = g_strdup_printf("--control-socket=%s", other);
    const char *none[] = { "--control-socket=none", NULL };
    const char *override[] = { opt, NULL };
    json_object *a;
    struct stat st;

    ck_assert_int_eq(harness_start(h, NULL, g0_t0), 0);
    ck_assert(dt_wait_log(h, "control socket "));
    ck_assert_int_eq(lstat(path, &st), 0);
    ck_assert_uint_eq(st.st_mode & 07777, 0660);
    ck_assert_int_ne(access(dflt, F_OK), 0);
    a = ot_request(path, "{\"command\":\"version\"}");
    ot_assert_ok(a);
    json_object_put(a);

    /* A second daemon on the same control socket: refused as a whole. */
    {
        struct harness *h2 = harness_new(NULL);
        g_autofree char *out = NULL;
        g_autofree char *g9 = harness_socket(h2, "g9");
        g_autofree char *text = g_strdup_printf("[daemon]\nsocket-dir = %s\n"
                                                "control-socket = %s\n"
                                                "[g9]\nplugin = gpio\n",
                                                h2->sock_dir, path);

        ck_assert(g_file_set_contents(h2->config_path, text, -1, NULL));
        ck_assert_int_eq(dt_run_config(h2, &out), 1);
        ck_assert_msg(strstr(out, "control socket: ") != NULL &&
                          strstr(out, "is in use by another process") != NULL,
                      "%s", out);
        ck_assert_int_ne(access(g9, F_OK), 0);
        harness_free(h2);
    }
    ot_stop_ok(h);
    ck_assert_int_ne(access(path, F_OK), 0);

    /* --control-socket=none: no socket at all. */
    ck_assert_int_eq(harness_start(h, none, g0_t0), 0);
    ck_assert(dt_wait_listening(h, g0_t0));
    ck_assert_int_ne(access(path, F_OK), 0);
    ck_assert_int_ne(access(dflt, F_OK), 0);
    ot_stop_ok(h);

    /* --control-socket=PATH beats the file. */
    ck_assert_int_eq(harness_start(h, override, g0_t0), 0);
    ck_assert(dt_wait_file(other));
    ck_assert_int_ne(access(path, F_OK), 0);
    ot_stop_ok(h);
    harness_free(h);
}
END_TEST

START_TEST(bad_control_keys)
{
    struct harness *h = harness_new("[daemon]\n"
                                    "control-socket = relative\n"
                                    "control-socket-mode = 999\n"
                                    "control-socket-group = no-such-group-x\n"
                                    "allowed-uids =\n"
                                    "[g0]\n"
                                    "plugin = gpio\n"
                                    "allowed-gids = no-such-group-x\n"
                                    "socket-mode = rw\n"
                                    "log-level = chatty\n");
    g_autofree char *out = NULL;

    ck_assert_int_eq(dt_check_config(h, true, NULL, &out), 1);
    ck_assert_msg(strstr(out, ":2: [daemon] control-socket 'relative' must be an "
                              "absolute path or none") != NULL, "%s", out);
    ck_assert(strstr(out, ":3: [daemon] invalid control-socket-mode '999'") != NULL);
    ck_assert(strstr(out, ":4: [daemon] control-socket-group 'no-such-group-x': no "
                          "such group") != NULL);
    ck_assert(strstr(out, ":5: [daemon] allowed-uids: empty list (use * to allow "
                          "anyone)") != NULL);
    ck_assert(strstr(out, ":8: [g0] allowed-gids: 'no-such-group-x': no such group") != NULL);
    ck_assert(strstr(out, ":9: [g0] invalid socket-mode 'rw'") != NULL);
    ck_assert(strstr(out, ":10: [g0] invalid log-level 'chatty'") != NULL);
    harness_free(h);
}
END_TEST

/* Debug lines of t0 only while t0's level says so. */
START_TEST(log_levels)
{
    struct harness *h = ot_start("[daemon]\n"
                                 "socket-dir = @SOCKDIR@\n"
                                 "log-level = info\n"
                                 "[g0]\n"
                                 "plugin = gpio\n"
                                 "[t0]\n"
                                 "plugin = testdev\n"
                                 "log-level = debug\n", NULL, g0_t0);
    g_autofree char *ctl = ot_control_path(h);
    g_autofree char *t0 = harness_socket(h, "t0");
    g_autofree char *g0 = harness_socket(h, "g0");
    g_autofree char *log = NULL;
    json_object *a;
    struct vfu_client *c;

    /* From the file: t0 debug, g0 info. */
    a = ot_request(ctl, "{\"command\":\"status\",\"device\":\"t0\"}");
    ck_assert_str_eq(ot_str(a, "devices.0.log_level"), "debug");
    json_object_put(a);
    c = dt_client(t0);
    vfu_client_close(c);
    c = dt_client(g0);
    vfu_client_close(c);
    ck_assert(dt_wait_log(h, "[t0] VERSION reply"));
    ck_assert(dt_wait_log(h, "[g0] client disconnected"));
    ck_assert(!harness_log_contains(h, "[g0] VERSION reply"));

    /* Back to the daemon's level for t0, debug for g0. */
    a = ot_request(ctl, "{\"command\":\"log-level\",\"device\":\"t0\",\"level\":\"default\"}");
    ot_assert_ok(a);
    json_object_put(a);
    a = ot_request(ctl, "{\"command\":\"log-level\",\"device\":\"g0\",\"level\":\"debug\"}");
    ot_assert_ok(a);
    json_object_put(a);
    c = dt_client(t0);
    vfu_client_close(c);
    c = dt_client(g0);
    vfu_client_close(c);
    ck_assert(dt_wait_log(h, "[g0] VERSION reply"));
    ck_assert(dt_wait_log(h, "[t0] client disconnected"));
    log = harness_log(h);
    ck_assert_uint_eq(dt_count_lines(log, "vfiouserd: [t0] VERSION reply"), 1);

    /* Daemon-wide. */
    a = ot_request(ctl, "{\"command\":\"log-level\",\"level\":\"warning\"}");
    ot_assert_ok(a);
    json_object_put(a);
    a = ot_request(ctl, "{\"command\":\"status\"}");
    ck_assert_str_eq(ot_str(a, "daemon.log_level"), "warning");
    json_object_put(a);
    c = dt_client(t0);
    vfu_client_close(c);
    a = ot_request(ctl, "{\"command\":\"log-level\",\"device\":\"nosuch\",\"level\":\"debug\"}");
    ot_assert_error(a, "ENOENT");
    json_object_put(a);
    ot_stop_ok(h);
    g_free(log);
    log = harness_log(h);
    /* At warning, t0's next client went unlogged. */
    ck_assert_uint_eq(dt_count_lines(log, "vfiouserd: [t0] client connected"), 2);
    harness_free(h);
}
END_TEST

/* "<N>" priority prefixes when stderr is the stream JOURNAL_STREAM names,
 * plain lines when it names another. */
START_TEST(journal_stream)
{
    struct harness *h = harness_new(two_devices);
    g_autofree char *pd = g_strdup_printf("--plugin-dir=%s", harness_plugin_dir());
    const char *args[] = { "-c", h->config_path, pd, NULL };
    g_autofree char *js = NULL;
    g_autofree char *log = NULL;
    const char *env[2] = { NULL, NULL };
    struct stat st;
    pid_t pid;

    ck_assert(g_file_set_contents(h->log_path, "", 0, NULL));
    ck_assert_int_eq(stat(h->log_path, &st), 0);
    js = g_strdup_printf("JOURNAL_STREAM=%llu:%llu", (unsigned long long)st.st_dev,
                         (unsigned long long)st.st_ino);
    env[0] = js;
    pid = ot_spawn(args, h->log_path, NULL, 0, env, (uid_t)-1, (gid_t)-1);
    ck_assert(dt_wait_log(h, "control socket"));
    ck_assert_int_eq(dt_stop(pid), 0);
    log = harness_log(h);
    ck_assert_msg(dt_has_line(log, "<5>[g0] plugin gpio, listening on ") ||
                      dt_has_match(log, "^<5>\\[g0\\] plugin gpio, listening on "),
                  "%s", log);
    ck_assert(dt_has_match(log, "^<6>control socket "));
    ck_assert(!dt_has_match(log, "^vfiouserd: "));

    /* Another stream: the variable is inherited but not ours. */
    ck_assert(g_file_set_contents(h->log_path, "", 0, NULL));
    g_free(js);
    js = g_strdup_printf("JOURNAL_STREAM=%llu:%llu", (unsigned long long)st.st_dev + 1000,
                         (unsigned long long)st.st_ino);
    env[0] = js;
    pid = ot_spawn(args, h->log_path, NULL, 0, env, (uid_t)-1, (gid_t)-1);
    ck_assert(dt_wait_log(h, "control socket"));
    ck_assert_int_eq(dt_stop(pid), 0);
    g_free(log);
    log = harness_log(h);
    ck_assert(dt_has_match(log, "^vfiouserd: \\[g0\\] plugin gpio"));
    ck_assert(!dt_has_match(log, "^<[0-7]>"));
    harness_free(h);
}
END_TEST

START_TEST(vfiouserctl_tool)
{
    struct harness *h = ot_start(two_devices, NULL, g0_t0);
    g_autofree char *ctl = ot_control_path(h);
    g_autofree char *t0 = harness_socket(h, "t0");
    g_autofree char *out = NULL;
    struct vfu_client *c = dt_client(t0);
    json_object *a;

    {
        const char *args[] = { "-s", ctl, "list", NULL };

        ck_assert_int_eq(ot_ctl(args, &out), 0);
        ck_assert_msg(dt_has_match(out, "^DEVICE +PLUGIN +STATE +CLIENT +SOCKET$"), "%s", out);
        ck_assert(dt_has_match(out, "^g0 +gpio +listening +- +/"));
        ck_assert_msg(dt_has_match(out, "^t0 +testdev +connected +pid [0-9]+ +/"), "%s", out);
    }
    {
        /* A pid the daemon sees: client_who says it as status does. */
        g_autofree char *who = g_strdup_printf("pid %d", (int)getpid());

        a = ot_request(ctl, "{\"command\":\"list\"}");
        ck_assert_int_eq(json_object_get_int(ot_get(a, "devices.1.client_pid")), getpid());
        ck_assert_str_eq(ot_str(a, "devices.1.client_who"), who);
        json_object_put(a);
    }
    {
        const char *args[] = { "-s", ctl, "status", "t0", NULL };

        g_free(out);
        ck_assert_int_eq(ot_ctl(args, &out), 0);
        ck_assert_msg(dt_has_line(out, "t0 (testdev): connected"), "%s", out);
        ck_assert(dt_has_match(out, "^  client +pid [0-9]+, uid [0-9]+, gid [0-9]+, since "));
        ck_assert(dt_has_match(out, "^  DMA +0 windows, 0 bytes mapped$"));
        ck_assert(dt_has_match(out, "^  access +anyone who can open the socket$"));
    }
    {
        const char *args[] = { "-s", ctl, "status", "--json", NULL };

        g_free(out);
        ck_assert_int_eq(ot_ctl(args, &out), 0);
        a = json_tokener_parse(out);
        ck_assert_msg(a != NULL && ot_ok(a), "%s", out);
        ck_assert_int_eq(json_object_get_int(ot_get(a, "devices.1.client.pid")), getpid());
        ck_assert_int_eq(json_object_get_int(ot_get(a, "devices.1.client.uid")), getuid());
        ck_assert(json_object_get_boolean(ot_get(a, "devices.1.client.negotiated")));
        json_object_put(a);
    }
    {
        /* The environment names the socket too. */
        const char *args[] = { "version", NULL };

        g_setenv("VFIOUSERCTL_SOCKET", ctl, TRUE);
        g_free(out);
        ck_assert_int_eq(ot_ctl(args, &out), 0);
        g_unsetenv("VFIOUSERCTL_SOCKET");
        ck_assert_msg(strstr(out, "daemon: vfiouserd ") != NULL, "%s", out);
    }
    {
        const char *args[] = { "-s", ctl, "status", "nosuch", NULL };

        g_free(out);
        ck_assert_int_eq(ot_ctl(args, &out), 1);
        ck_assert_str_eq(out, "vfiouserctl: no device nosuch\n");
    }
    {
        const char *args[] = { "-s", ctl, "frobnicate", NULL };

        g_free(out);
        ck_assert_int_eq(ot_ctl(args, &out), 2);
    }
    {
        const char *args[] = { "-s", ctl, "add", "x", "inputs=1", NULL };

        g_free(out);
        ck_assert_int_eq(ot_ctl(args, &out), 2); /* no plugin= */
    }
    {
        g_autofree char *none = g_build_filename(h->dir, "none.ctl", NULL);
        const char *args[] = { "-s", none, "list", NULL };

        g_free(out);
        ck_assert_int_eq(ot_ctl(args, &out), 3);
        ck_assert(strstr(out, "cannot connect to ") != NULL);
    }
    vfu_client_close(c);
    ot_stop_ok(h);
    harness_free(h);
}
END_TEST

static Suite *control_suite(void)
{
    Suite *s = suite_create("control");
    TCase *tc = tcase_create("protocol");

    tcase_add_test(tc, socket_and_answers);
    tcase_add_test(tc, malformed_requests);
    tcase_add_test(tc, pipelined_requests);
    tcase_add_test(tc, connection_limit);
    tcase_add_test(tc, control_socket_settings);
    tcase_add_test(tc, bad_control_keys);
    tcase_add_test(tc, log_levels);
    tcase_add_test(tc, journal_stream);
    tcase_add_test(tc, vfiouserctl_tool);
    tcase_set_timeout(tc, 300);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(control_suite());
    int failed;

    dt_init();
    srunner_run_all(sr, CK_ENV);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    dt_finish();
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
