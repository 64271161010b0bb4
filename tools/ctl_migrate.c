/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * vfiouserctl migrate: see ctl_migrate.h.  Speaks the client side of
 * migration v2 (PROTOCOL.md §2.13-2.15) with the test client library.
 */
#include "config.h"

#include "ctl_migrate.h"
#include "vfu_client.h"

#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* We accept as much as a daemon sends (1 MiB) and speak migration. */
#define CTL_CAPS                                                              \
    "{\"capabilities\": {\"max_msg_fds\": 1, \"max_data_xfer_size\": 1048576, " \
    "\"migration\": {\"pgsize\": 4096}}}"
#define CTL_MAX_CHUNK (1u << 20)
/* Refused connections retried, 20 ms apart. */
#define CTL_CONNECT_TRIES 50

struct side {
    const char *name; /* "source" / "destination" */
    const char *path;
    struct vfu_client *c;
    uint64_t flags;   /* VFIO_USER_MIGRATION_* */
    uint32_t state0;  /* state found */
};

static double now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1000.0 + (double)ts.tv_nsec / 1e6;
}

static int fail(int r, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static int fail(int r, const char *fmt, ...)
{
    va_list ap;

    fputs("migrate: ", stderr);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fprintf(stderr, ": %s\n", strerror(r < 0 ? -r : EIO));
    return r < 0 ? r : -EIO;
}

static const char *state_name(uint32_t s)
{
    static const char *const names[] = {
        "ERROR", "STOP", "RUNNING", "STOP_COPY", "RESUMING", "RUNNING_P2P",
        "PRE_COPY", "PRE_COPY_P2P",
    };

    return s < sizeof(names) / sizeof(names[0]) ? names[s] : "?";
}

/* DEVICE_FEATURE GET of index into out (len bytes of data). */
static int feature_get(struct vfu_client *c, unsigned index, void *out, size_t len)
{
    struct vfio_user_device_feature req = {
        .argsz = (uint32_t)(sizeof(req) + len),
        .flags = VFIO_USER_DEVICE_FEATURE_GET | index,
    };
    uint8_t rep[64];
    size_t got = sizeof(rep);
    int r;

    r = vfu_client_call(c, VFIO_USER_DEVICE_FEATURE, &req, sizeof(req), NULL, 0, rep,
                        &got, NULL, NULL);
    if (r < 0) {
        return r;
    }
    if (got != sizeof(req) + len) {
        return -EPROTO;
    }
    memcpy(out, rep + sizeof(req), len);
    return 0;
}

static int set_state(struct side *s, uint32_t state)
{
    /* header and payload side by side in bytes: a struct holding the
     * header, which ends in a flexible array, is a GNU extension */
    uint8_t req[sizeof(struct vfio_user_device_feature) +
                sizeof(struct vfio_user_device_feature_mig_state)];
    struct vfio_user_device_feature h = {
        .argsz = sizeof(req),
        .flags = VFIO_USER_DEVICE_FEATURE_SET |
                 VFIO_USER_DEVICE_FEATURE_MIG_DEVICE_STATE,
    };
    struct vfio_user_device_feature_mig_state st = { .device_state = state };
    int r;

    memcpy(req, &h, sizeof(h));
    memcpy(req + sizeof(h), &st, sizeof(st));
    r = vfu_client_call(s->c, VFIO_USER_DEVICE_FEATURE, req, sizeof(req), NULL, 0,
                        NULL, NULL, NULL, NULL);

    if (r < 0) {
        return fail(r, "%s %s: cannot go to %s (see that daemon's log)", s->name,
                    s->path, state_name(state));
    }
    return 0;
}

static int open_side(struct side *s, int timeout_ms)
{
    struct vfio_user_device_feature_migration mf;
    struct vfio_user_device_feature_mig_state st;
    int r;

    /* A daemon serves one client and hangs up on others; one that just
     * left (this tool's previous run, QEMU going away) may not be noticed
     * yet, so a refusal is retried for a little while. */
    for (unsigned tries = 0;; tries++) {
        r = vfu_client_connect(s->path, &s->c);
        if (r < 0) {
            return fail(r, "%s %s: cannot connect", s->name, s->path);
        }
        vfu_client_set_timeout(s->c, timeout_ms);
        r = vfu_client_negotiate(s->c, CTL_CAPS, NULL);
        if ((r != -ECONNRESET && r != -EPIPE) || tries >= CTL_CONNECT_TRIES) {
            break;
        }
        vfu_client_close(s->c);
        s->c = NULL;
        nanosleep(&(struct timespec){ .tv_nsec = 20 * 1000 * 1000 }, NULL);
    }
    if (r == -ECONNRESET || r == -EPIPE) {
        return fail(r, "%s %s: the daemon closed the connection (is another "
                    "client, QEMU perhaps, attached to the device?)", s->name, s->path);
    }
    if (r < 0) {
        return fail(r, "%s %s: VERSION failed", s->name, s->path);
    }
    r = feature_get(s->c, VFIO_USER_DEVICE_FEATURE_MIGRATION, &mf, sizeof(mf));
    if (r < 0) {
        return fail(r, "%s %s: the device does not migrate", s->name, s->path);
    }
    s->flags = mf.flags;
    r = feature_get(s->c, VFIO_USER_DEVICE_FEATURE_MIG_DEVICE_STATE, &st, sizeof(st));
    if (r < 0) {
        return fail(r, "%s %s: cannot read the migration state", s->name, s->path);
    }
    s->state0 = st.device_state;
    if (s->state0 == VFIO_USER_DEVICE_STATE_ERROR) {
        return fail(-EIO, "%s %s: the device is in ERROR (reset it first)", s->name,
                    s->path);
    }
    return 0;
}

/* One chunk from the source: *got bytes into buf. */
static int read_chunk(struct side *s, uint32_t size, uint8_t *buf, uint32_t *got)
{
    struct vfio_user_mig_data req = { .argsz = sizeof(req) + size, .size = size };
    size_t len = sizeof(req) + size;
    int r;

    r = vfu_client_call(s->c, VFIO_USER_MIG_DATA_READ, &req, sizeof(req), NULL, 0, buf,
                        &len, NULL, NULL);
    if (r < 0) {
        return fail(r, "%s %s: MIG_DATA_READ failed", s->name, s->path);
    }
    memcpy(&req, buf, sizeof(req));
    if (len < sizeof(req) || req.size > size || len != sizeof(req) + req.size) {
        return fail(-EPROTO, "%s %s: malformed MIG_DATA_READ reply", s->name, s->path);
    }
    *got = req.size;
    return 0;
}

static int write_chunk(struct side *s, uint8_t *buf, uint32_t n)
{
    struct vfio_user_mig_data hdr = { .argsz = sizeof(hdr), .size = n };
    int r;

    /* buf has room for the header before the data (read_chunk's reply). */
    memcpy(buf, &hdr, sizeof(hdr));
    r = vfu_client_call(s->c, VFIO_USER_MIG_DATA_WRITE, buf, sizeof(hdr) + n, NULL, 0,
                        NULL, NULL, NULL, NULL);
    if (r < 0) {
        return fail(r, "%s %s: MIG_DATA_WRITE refused (see that daemon's log)",
                    s->name, s->path);
    }
    return 0;
}

/* Copy the stream; returns 0 or -errno. */
static int transfer(struct side *src, struct side *dst, uint32_t chunk,
                    struct ctl_migrate_stats *st)
{
    uint8_t *buf = malloc(sizeof(struct vfio_user_mig_data) + chunk);
    uint32_t got = 0;
    int r;

    if (buf == NULL) {
        return -ENOMEM;
    }
    do {
        r = read_chunk(src, chunk, buf, &got);
        if (r == 0 && got > 0) {
            r = write_chunk(dst, buf, got);
            st->bytes += got;
            st->chunks++;
        }
    } while (r == 0 && got == chunk);
    free(buf);
    return r;
}

/* Pre-copy data comes until a read returns less than asked. */
static int drain_pre_copy(struct side *src, struct side *dst, uint32_t chunk,
                          struct ctl_migrate_stats *st)
{
    return transfer(src, dst, chunk, st);
}

static void print_report(FILE *f, const struct side *src, const struct side *dst,
                         const struct ctl_migrate_opts *o,
                         const struct ctl_migrate_stats *st)
{
    if (f == NULL) {
        return;
    }
    fprintf(f, "migrated %s -> %s\n", src->path, dst->path);
    fprintf(f, "  stream:           %llu bytes in %u chunk%s\n",
            (unsigned long long)st->bytes, st->chunks, st->chunks == 1 ? "" : "s");
    fprintf(f, "  source save:      %.3f ms (SET STOP_COPY)\n", st->save_ms);
    fprintf(f, "  transfer:         %.3f ms\n", st->transfer_ms);
    fprintf(f, "  destination load: %.3f ms (SET STOP)\n", st->load_ms);
    fprintf(f, "  destination run:  %.3f ms (SET RUNNING)\n", st->resume_ms);
    fprintf(f, "  device stopped:   %.3f ms (source stops .. destination runs)\n",
            st->stopped_ms);
    fprintf(f, "  total:            %.3f ms\n", st->total_ms);
    fprintf(f, "  source:           %s\n",
            o->after == CTL_MIGRATE_SRC_RESET ? "reset (running from power-on state)"
                                              : "stopped (STOP)");
}

/* The destination refused: put both back as they were, as far as can be. */
static void roll_back(struct side *src, struct side *dst)
{
    /* Leaving RESUMING without data keeps the destination's own state. */
    if (set_state(dst, VFIO_USER_DEVICE_STATE_STOP) == 0) {
        set_state(dst, dst->state0);
    }
    set_state(src, src->state0);
    fprintf(stderr, "migrate: aborted; the source is back in %s\n",
            state_name(src->state0));
}

int ctl_migrate(const char *src_socket, const char *dst_socket,
                const struct ctl_migrate_opts *o, FILE *report)
{
    static const struct ctl_migrate_opts defaults = { 0 };
    struct side src = { .name = "source", .path = src_socket };
    struct side dst = { .name = "destination", .path = dst_socket };
    struct ctl_migrate_stats st = { 0 };
    double t0 = now_ms(), t_stop, t;
    uint64_t max_xfer;
    uint32_t chunk;
    int r;

    if (o == NULL) {
        o = &defaults;
    }
    if ((r = open_side(&src, o->timeout_ms > 0 ? o->timeout_ms : 10000)) < 0 ||
        (r = open_side(&dst, o->timeout_ms > 0 ? o->timeout_ms : 10000)) < 0) {
        goto out;
    }
    max_xfer = vfu_client_server_max_xfer(src.c);
    if (vfu_client_server_max_xfer(dst.c) < max_xfer) {
        max_xfer = vfu_client_server_max_xfer(dst.c);
    }
    chunk = (uint32_t)(max_xfer < CTL_MAX_CHUNK ? max_xfer : CTL_MAX_CHUNK);
    if (o->chunk > 0 && o->chunk < chunk) {
        chunk = o->chunk;
    }

    /* The destination first: if it cannot take a stream, the source has
     * not stopped for nothing. */
    r = set_state(&dst, VFIO_USER_DEVICE_STATE_RESUMING);
    if (r < 0) {
        goto out;
    }
    if (o->pre_copy && (src.flags & VFIO_USER_MIGRATION_PRE_COPY)) {
        r = set_state(&src, VFIO_USER_DEVICE_STATE_PRE_COPY);
        if (r == 0) {
            r = drain_pre_copy(&src, &dst, chunk, &st);
        }
        if (r < 0) {
            roll_back(&src, &dst);
            goto out;
        }
    }
    t_stop = now_ms();
    r = set_state(&src, VFIO_USER_DEVICE_STATE_STOP_COPY);
    st.save_ms = now_ms() - t_stop;
    if (r < 0) {
        roll_back(&src, &dst);
        goto out;
    }
    t = now_ms();
    r = transfer(&src, &dst, chunk, &st);
    st.transfer_ms = now_ms() - t;
    if (r < 0) {
        roll_back(&src, &dst);
        goto out;
    }
    t = now_ms();
    r = set_state(&dst, VFIO_USER_DEVICE_STATE_STOP);
    st.load_ms = now_ms() - t;
    if (r < 0) {
        roll_back(&src, &dst);
        goto out;
    }
    t = now_ms();
    r = set_state(&dst, VFIO_USER_DEVICE_STATE_RUNNING);
    st.resume_ms = now_ms() - t;
    st.stopped_ms = now_ms() - t_stop;
    if (r < 0) {
        /* The state is in the destination but it cannot run: keep the
         * source stopped too, the operator decides. */
        goto out;
    }
    /* The device lives on at the destination: end the source's session. */
    r = set_state(&src, VFIO_USER_DEVICE_STATE_STOP);
    if (r == 0 && o->after == CTL_MIGRATE_SRC_RESET) {
        r = vfu_client_reset(src.c);
        if (r < 0) {
            fail(r, "source %s: DEVICE_RESET failed", src.path);
        }
    }
    st.total_ms = now_ms() - t0;
    if (r == 0) {
        print_report(report, &src, &dst, o, &st);
        if (o->stats != NULL) {
            *o->stats = st;
        }
    }
out:
    vfu_client_close(src.c);
    vfu_client_close(dst.c);
    return r;
}
