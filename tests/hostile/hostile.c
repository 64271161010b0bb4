/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Helpers of the hostile-client tests: see hostile.h.
 */
#include "config.h"

#include "hostile.h"

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define P99_LIMIT_US 50000

struct probe {
    struct harness *h;
    GThread *thread;
    gint phase; /* 0 before, 1 during, 2 stop */
    GArray *rtt[2]; /* gint64 microseconds */
    unsigned errors;
    char *first_error;
};

static gpointer probe_thread(gpointer data)
{
    struct probe *p = data;
    g_autofree char *path = harness_socket(p->h, "t1");
    struct vfu_client *c = NULL;
    int r = vfu_client_connect(path, &c);

    if (r == 0) {
        vfu_client_set_timeout(c, 10000);
        r = vfu_client_negotiate(c, NULL, NULL);
    }
    if (r < 0) {
        p->errors++;
        p->first_error = g_strdup_printf("connect/VERSION: %s", strerror(-r));
        vfu_client_close(c);
        return NULL;
    }
    for (;;) {
        gint phase = g_atomic_int_get(&p->phase);
        uint32_t v = 0;
        gint64 t0;

        if (phase >= 2) {
            break;
        }
        t0 = g_get_monotonic_time();
        r = vfu_client_region_read(c, PT_BAR0, TD_ID, &v, sizeof(v));
        if (r < 0 || v != TD_ID_VALUE) {
            if (p->errors++ == 0) {
                p->first_error = g_strdup_printf("BAR0 read: %s, value %#x",
                                                 strerror(-r), v);
            }
        } else {
            gint64 us = g_get_monotonic_time() - t0;

            g_array_append_val(p->rtt[phase], us);
        }
        g_usleep(1000);
    }
    vfu_client_close(c);
    return NULL;
}

static gint cmp_i64(gconstpointer a, gconstpointer b)
{
    gint64 x = *(const gint64 *)a, y = *(const gint64 *)b;

    return x < y ? -1 : x > y;
}

static gint64 percentile(GArray *a, unsigned pct)
{
    if (a->len == 0) {
        return -1;
    }
    return g_array_index(a, gint64, MIN(a->len - 1, (a->len * pct) / 100));
}

int hs_fds(const struct hs *s)
{
    return harness_fd_count(s->h->pid);
}

long hs_rss_kb(const struct hs *s)
{
    g_autofree char *path = g_strdup_printf("/proc/%d/status", (int)s->h->pid);
    g_autofree char *text = NULL;
    const char *p;

    if (!g_file_get_contents(path, &text, NULL, NULL)) {
        return -1;
    }
    p = strstr(text, "VmRSS:");
    return p != NULL ? strtol(p + 6, NULL, 10) : -1;
}

void hs_wait_fds(const struct hs *s, int want)
{
    int n = pt_fd_count_settle(s->h, want, 10000);

    ck_assert_msg(n == want, "%s: the daemon has %d fds, expected %d", s->name,
                  n, want);
}

void hs_start(struct hs *s, const char *name)
{
    static const char *const names[] = { "t0", "t1", NULL };
    struct probe *p = g_new0(struct probe, 1);
    int fds;

    s->name = name;
    s->h = pt_start("[t0]\nplugin = testdev\n[t1]\nplugin = testdev\n", names);
    fds = hs_fds(s);
    p->h = s->h;
    p->rtt[0] = g_array_new(FALSE, FALSE, sizeof(gint64));
    p->rtt[1] = g_array_new(FALSE, FALSE, sizeof(gint64));
    p->thread = g_thread_new("probe", probe_thread, p);
    s->probe = p;
    /* The bystander's connection is one more fd in the daemon. */
    hs_wait_fds(s, fds + 1);
    g_usleep(300 * 1000);
    s->base_fds = hs_fds(s);
    s->base_rss_kb = hs_rss_kb(s);
    g_atomic_int_set(&p->phase, 1);
}

void hs_repeat(struct hs *s, void (*attack)(struct hs *s))
{
    gint64 end = g_get_monotonic_time() + G_USEC_PER_SEC;
    unsigned rounds = 0;

    do {
        attack(s);
        rounds++;
    } while (g_get_monotonic_time() < end);
    printf("hostile: %-24s %u rounds of the attack\n", s->name, rounds);
}

void hs_finish(struct hs *s)
{
    struct probe *p = s->probe;
    gint64 limit = P99_LIMIT_US * (harness_wrapped() ? 10 : 1);
    gint64 med[2], p99[2], max[2];
    long rss;

    hs_wait_fds(s, s->base_fds);
    rss = hs_rss_kb(s);
    g_atomic_int_set(&p->phase, 2);
    g_thread_join(p->thread);
    for (int i = 0; i < 2; i++) {
        g_array_sort(p->rtt[i], cmp_i64);
        med[i] = percentile(p->rtt[i], 50);
        p99[i] = percentile(p->rtt[i], 99);
        max[i] = percentile(p->rtt[i], 100);
    }
    printf("hostile: %-24s bystander round trip before: median %lld us, p99 "
           "%lld us (%u); during: median %lld us, p99 %lld us, max %lld us (%u); "
           "errors %u; daemon fds %d, VmRSS %ld -> %ld kB\n",
           s->name, (long long)med[0], (long long)p99[0], p->rtt[0]->len,
           (long long)med[1], (long long)p99[1], (long long)max[1], p->rtt[1]->len,
           p->errors, s->base_fds, s->base_rss_kb, rss);
    fflush(stdout);
    ck_assert_msg(p->errors == 0, "%s: the bystander failed: %s", s->name,
                  p->first_error);
    ck_assert_msg(p->rtt[1]->len > 0, "%s: no bystander sample during the attack",
                  s->name);
    ck_assert_msg(p99[1] < limit, "%s: bystander p99 %lld us during the attack",
                  s->name, (long long)p99[1]);
    g_array_unref(p->rtt[0]);
    g_array_unref(p->rtt[1]);
    g_free(p->first_error);
    g_free(p);
    pt_finish(s->h);
}

int hs_pipe_fd(void)
{
    int p[2];

    ck_assert_int_eq(pipe2(p, O_CLOEXEC), 0);
    close(p[1]);
    return p[0];
}

int hs_socket_fd(void)
{
    int p[2];

    ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, p), 0);
    close(p[1]);
    return p[0];
}

int hs_directory_fd(void)
{
    int fd = open("/", O_RDONLY | O_DIRECTORY | O_CLOEXEC);

    ck_assert_int_ge(fd, 0);
    return fd;
}
