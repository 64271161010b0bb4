/* SPDX-License-Identifier: BSD-3-Clause */
#include "config.h"

#include "ops_test.h"

#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/eventfd.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <glib.h>
#include <linux/vfio.h>
#include <vfiouserd/plugin.h>

struct harness *ot_start(const char *config, const char *const *extra,
                         const char *const *devices)
{
    struct harness *h = harness_new(config);
    g_autofree char *log = NULL;

    if (harness_start(h, extra, devices) == 0 && dt_wait_listening(h, devices) &&
        dt_wait_log(h, "control socket ")) {
        return h;
    }
    log = harness_log(h);
    ck_abort_msg("the daemon did not start; its log:\n%s", log);
    return NULL;
}

void ot_stop_ok(struct harness *h)
{
    int rc = harness_stop(h);
    g_autofree char *log = harness_log(h);

    ck_assert_msg(rc == 0, "exit status %d; log:\n%s", rc, log);
}

char *ot_control_path(const struct harness *h)
{
    return g_build_filename(h->sock_dir, "control", NULL);
}

int ot_connect(const char *path)
{
    struct sockaddr_un sa = { .sun_family = AF_UNIX };
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);

    ck_assert_int_ge(fd, 0);
    ck_assert_uint_lt(strlen(path), sizeof(sa.sun_path));
    strcpy(sa.sun_path, path);
    ck_assert_msg(connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0,
                  "connect %s: %s", path, g_strerror(errno));
    return fd;
}

void ot_send(int fd, const void *buf, size_t len)
{
    const char *p = buf;

    while (len > 0) {
        ssize_t n = send(fd, p, len, MSG_NOSIGNAL);

        ck_assert_msg(n > 0, "send to the control socket: %s", g_strerror(errno));
        p += n;
        len -= (size_t)n;
    }
}

/* Bytes read past the last answer, per fd (tests use a few at a time). */
static GHashTable *leftovers;

static GString *leftover(int fd)
{
    GString *s;

    if (leftovers == NULL) {
        leftovers = g_hash_table_new(g_direct_hash, g_direct_equal);
    }
    s = g_hash_table_lookup(leftovers, GINT_TO_POINTER(fd));
    if (s == NULL) {
        s = g_string_new(NULL);
        g_hash_table_insert(leftovers, GINT_TO_POINTER(fd), s);
    }
    return s;
}

json_object *ot_answer(int fd)
{
    GString *buf = leftover(fd);
    gint64 deadline = g_get_monotonic_time() + DT_WAIT_MS * 1000;
    json_object *a;
    char *nl;

    while ((nl = memchr(buf->str, '\n', buf->len)) == NULL) {
        struct pollfd p = { .fd = fd, .events = POLLIN };
        char chunk[65536];
        gint64 left = (deadline - g_get_monotonic_time()) / 1000;
        ssize_t n;

        ck_assert_msg(left > 0, "no answer on the control socket");
        if (poll(&p, 1, (int)left) <= 0) {
            continue;
        }
        n = recv(fd, chunk, sizeof(chunk), 0);
        ck_assert_msg(n > 0, "the control connection closed (%s) before an answer",
                      n < 0 ? g_strerror(errno) : "EOF");
        g_string_append_len(buf, chunk, n);
    }
    *nl = '\0';
    a = json_tokener_parse(buf->str);
    ck_assert_msg(a != NULL && json_object_is_type(a, json_type_object),
                  "answer is not a JSON object: %s", buf->str);
    g_string_erase(buf, 0, nl - buf->str + 1);
    return a;
}

void ot_close(int fd)
{
    if (leftovers != NULL) {
        GString *s = g_hash_table_lookup(leftovers, GINT_TO_POINTER(fd));

        if (s != NULL) {
            g_string_free(s, TRUE);
            g_hash_table_remove(leftovers, GINT_TO_POINTER(fd));
        }
    }
    close(fd);
}

json_object *ot_call(int fd, const char *request)
{
    ot_send(fd, request, strlen(request));
    ot_send(fd, "\n", 1);
    return ot_answer(fd);
}

json_object *ot_request(const char *path, const char *fmt, ...)
{
    g_autofree char *text = NULL;
    json_object *a;
    va_list ap;
    int fd;

    va_start(ap, fmt);
    text = g_strdup_vprintf(fmt, ap);
    va_end(ap);
    fd = ot_connect(path);
    a = ot_call(fd, text);
    ot_close(fd);
    return a;
}

bool ot_ok(json_object *a)
{
    json_object *v;

    return json_object_object_get_ex(a, "ok", &v) && json_object_get_boolean(v);
}

json_object *ot_get(json_object *a, const char *path)
{
    g_auto(GStrv) parts = g_strsplit(path, ".", -1);
    json_object *cur = a;

    for (char **p = parts; *p != NULL && cur != NULL; p++) {
        if (json_object_is_type(cur, json_type_array)) {
            cur = json_object_array_get_idx(cur, (size_t)atoi(*p));
        } else if (!json_object_object_get_ex(cur, *p, &cur)) {
            return NULL;
        }
    }
    return cur;
}

const char *ot_str(json_object *a, const char *key)
{
    json_object *v = ot_get(a, key);

    return v != NULL && json_object_is_type(v, json_type_string)
               ? json_object_get_string(v) : NULL;
}

bool ot_list_has(json_object *a, const char *key, const char *name)
{
    json_object *l = ot_get(a, key);

    for (size_t i = 0; l != NULL && i < json_object_array_length(l); i++) {
        if (strcmp(json_object_get_string(json_object_array_get_idx(l, i)), name) == 0) {
            return true;
        }
    }
    return false;
}

void ot_assert_ok(json_object *a)
{
    ck_assert_msg(ot_ok(a), "expected ok, got %s", json_object_to_json_string(a));
}

void ot_assert_error(json_object *a, const char *code)
{
    ck_assert_msg(!ot_ok(a) && g_strcmp0(ot_str(a, "code"), code) == 0 &&
                      ot_str(a, "error") != NULL,
                  "expected error %s, got %s", code, json_object_to_json_string(a));
}

void ot_wait_state(const char *ctl, const char *device, const char *state)
{
    for (int i = 0;; i++) {
        json_object *a = ot_request(ctl, "{\"command\":\"status\",\"device\":\"%s\"}",
                                    device);
        bool done = g_strcmp0(ot_str(a, "devices.0.state"), state) == 0;

        json_object_put(a);
        if (done) {
            return;
        }
        ck_assert_msg(i < DT_WAIT_MS / 5, "%s never became %s", device, state);
        g_usleep(5000);
    }
}

int ot_ctl(const char *const *args, char **output)
{
    g_autoptr(GPtrArray) argv = g_ptr_array_new();
    g_autofree char *out = NULL;
    g_autofree char *err = NULL;
    g_autoptr(GError) e = NULL;
    int status = -1;

    g_ptr_array_add(argv, (gpointer)BUILDDIR "/tools/vfiouserctl");
    for (const char *const *a = args; *a != NULL; a++) {
        g_ptr_array_add(argv, (gpointer)*a);
    }
    g_ptr_array_add(argv, NULL);
    ck_assert_msg(g_spawn_sync(NULL, (char **)argv->pdata, NULL, 0, NULL, NULL, &out,
                               &err, &status, &e),
                  "cannot run vfiouserctl: %s", e != NULL ? e->message : "?");
    *output = g_strconcat(out, err, NULL);
    return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

pid_t ot_spawn(const char *const *args, const char *log_path, const int *fds,
               unsigned nr_fds, const char *const *env, uid_t as_uid, gid_t as_gid)
{
    const struct harness_spawn how = {
        .log_path = log_path, .fds = fds, .nr_fds = nr_fds, .env = env,
        .uid = as_uid, .gid = as_gid,
    };

    return harness_spawn(args, &how);
}

long ot_rss_kb(pid_t pid)
{
    g_autofree char *path = g_strdup_printf("/proc/%d/status", (int)pid);
    g_autofree char *text = NULL;
    const char *p;

    if (!g_file_get_contents(path, &text, NULL, NULL)) {
        return -1;
    }
    p = strstr(text, "\nVmRSS:");
    return p != NULL ? atol(p + 7) : -1;
}

double ot_now_ms(void)
{
    return (double)g_get_monotonic_time() / 1000.0;
}

int ot_settled_fd_count(pid_t pid, int want)
{
    const int step_ms = want >= 0 ? 10 : 200;
    int n = harness_fd_count(pid);

    for (int i = 0; i < DT_WAIT_MS / step_ms; i++) {
        int m;

        if (want >= 0 && n == want) {
            break;
        }
        g_usleep(step_ms * 1000);
        m = harness_fd_count(pid);
        if (want < 0 && m == n) {
            break;
        }
        n = m;
    }
    return n;
}

void ot_gpio_wire(struct vfu_client *c)
{
    int efd = eventfd(0, EFD_CLOEXEC);

    ck_assert_ptr_nonnull(vfu_client_add_memory(c, 0, OT_GUEST_RAM, true));
    ck_assert_int_ge(efd, 0);
    ck_assert_int_eq(vfu_client_set_irqs(c, VFIO_PCI_INTX_IRQ_INDEX,
                                         VFIO_IRQ_SET_DATA_EVENTFD |
                                             VFIO_IRQ_SET_ACTION_TRIGGER,
                                         0, 1, &efd, 1, NULL), 0);
    /* The daemon holds its own copy. */
    close(efd);
}

struct vfu_client *ot_gpio_attach(const char *sock, uint8_t value)
{
    struct vfu_client *c = dt_client(sock);

    ot_gpio_wire(c);
    ot_gpio_write(c, value);
    return c;
}

uint8_t ot_gpio_read(struct vfu_client *c)
{
    uint8_t v = 0;

    ck_assert_int_eq(vfu_client_region_read(c, VFUD_REGION_BAR2, OT_GPIO_OUT, &v, 1), 0);
    return v;
}

void ot_gpio_write(struct vfu_client *c, uint8_t v)
{
    ck_assert_int_eq(vfu_client_region_write(c, VFUD_REGION_BAR2, OT_GPIO_OUT, &v, 1,
                                             false), 0);
}

void ot_gpio_check_client(const char *ctl)
{
    json_object *a = ot_request(ctl, "{\"command\":\"status\",\"device\":\"g0\"}");

    ck_assert_str_eq(ot_str(a, "devices.0.state"), "connected");
    ck_assert_int_eq(json_object_get_int(ot_get(a, "devices.0.client.pid")), getpid());
    ck_assert_int_eq(json_object_get_int(ot_get(a, "devices.0.dma.windows")), 1);
    ck_assert_int_eq(json_object_get_int(ot_get(a, "devices.0.irqs.intx.attached")), 1);
    json_object_put(a);
}

void ot_gpio_write_msg(uint8_t m[OT_GPIO_MSG_SIZE], uint8_t value)
{
    const struct vfio_user_header hdr = {
        .msg_id = OT_GPIO_MSG_ID, .cmd = VFIO_USER_REGION_WRITE,
        .msg_size = OT_GPIO_MSG_SIZE, .flags = VFIO_USER_F_TYPE_COMMAND,
    };
    const struct vfio_user_region_access ra = {
        .offset = OT_GPIO_OUT, .region = VFUD_REGION_BAR2, .count = 1,
    };

    memcpy(m, &hdr, sizeof(hdr));
    memcpy(m + sizeof(hdr), &ra, sizeof(ra));
    m[sizeof(hdr) + sizeof(ra)] = value;
}
