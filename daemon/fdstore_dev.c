/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Following each device in the fd store (fdstore.h): the client's socket,
 * DMA window fds and interrupt eventfds are pushed as they come and
 * removed as they go, on the device thread, from the engine's hooks.
 *
 * The meta memfd (vfud/D/meta) says what those fds mean, so that a
 * daemon restarted after a crash can rebuild the engine's view.  It is
 * stored once; we rewrite it in place (the store holds the same file).
 *   page 0: header (struct meta_hdr); rx_boundary is written by the
 *           engine after every read of the client's socket (conn.h)
 *   4 KiB + slot * META_SLOT: JSON of the device's client state; the
 *           header names the slot last written completely, so a crash
 *           while writing leaves the previous one readable.
 */
#include "config.h"

#include "fdstore.h"
#include "conn.h"
#include "control.h"
#include "dev_handoff.h"
#include "device.h"
#include "device_proc.h"
#include "devset.h"
#include "log.h"
#include "util.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <json-c/json.h>
#include <linux/vfio.h>

#define META_MAGIC "vfud-fsm"
#define META_VERSION 1u
#define META_HDR 4096u
#define META_SLOT (1u << 20)

struct meta_hdr {
    char magic[8];
    uint32_t version;
    volatile uint32_t rx_boundary; /* conn.h */
    volatile uint32_t slot;        /* last written completely */
    volatile uint32_t len[2];
    /* Added later: a meta of an older binary has 0 in both. */
    uint32_t twin_tracked;
    volatile uint32_t twin_rx_boundary; /* conn.h */
};

struct fsd {
    vfud_dev *dev;
    int meta_fd;
    struct meta_hdr *hdr;
    struct conn *conn;     /* whose socket is stored */
    bool twin;
    int pending;           /* DMA_MAP's fd, between the hooks */
    GHashTable *names;     /* win/ irq/ intx-unmask names stored */
    /* Crash re-attaches of this client in a row (fdstore.h). */
    gint64 reattach_at;    /* g_get_monotonic_time(): one clock for all processes */
    unsigned quick;
    bool reattach_pending; /* set for the client being re-attached */
};

static GMutex lock;
static GHashTable *devs; /* vfud_dev * -> struct fsd * */

static char *dname(vfud_dev *dev, const char *fmt, ...) G_GNUC_PRINTF(2, 3);
static char *dname(vfud_dev *dev, const char *fmt, ...)
{
    g_autofree char *tail = NULL;
    va_list ap;

    va_start(ap, fmt);
    tail = g_strdup_vprintf(fmt, ap);
    va_end(ap);
    return g_strdup_printf(FDSTORE_PREFIX "%s/%s", dev->name, tail);
}

static void fsd_free(gpointer p)
{
    struct fsd *f = p;

    if (f->hdr != NULL) {
        munmap(f->hdr, META_HDR);
    }
    util_close(&f->meta_fd);
    util_close(&f->pending);
    g_hash_table_destroy(f->names);
    g_free(f);
}

/* The device's record; created (with its meta memfd, pushed) the first
 * time.  NULL if the store is off or the memfd cannot be made. */
static struct fsd *fsd_get(vfud_dev *dev)
{
    struct fsd *f;

    if (!fdstore_enabled()) {
        return NULL;
    }
    g_mutex_lock(&lock);
    if (devs == NULL) {
        devs = g_hash_table_new_full(NULL, NULL, NULL, fsd_free);
    }
    f = g_hash_table_lookup(devs, dev);
    if (f == NULL) {
        f = g_new0(struct fsd, 1);
        f->dev = dev;
        f->pending = -1;
        f->names = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);
        f->meta_fd = memfd_create("vfiouserd-fdstore-meta", MFD_CLOEXEC);
        if (f->meta_fd >= 0 && ftruncate(f->meta_fd, META_HDR + 2 * META_SLOT) == 0) {
            void *p = mmap(NULL, META_HDR, PROT_READ | PROT_WRITE, MAP_SHARED,
                           f->meta_fd, 0);

            f->hdr = p != MAP_FAILED ? p : NULL;
        }
        if (f->hdr == NULL) {
            dev_err(dev, "fd store: no memory for the device's meta: %s; a "
                    "crash will lose its client", g_strerror(errno));
        } else {
            g_autofree char *n = dname(dev, "meta");

            memcpy(f->hdr->magic, META_MAGIC, 8);
            f->hdr->version = META_VERSION;
            f->hdr->twin_tracked = 1;
            /* Replaces the one a previous process stored (taken back). */
            fdstore_remove(n);
            fdstore_push(n, f->meta_fd);
        }
        g_hash_table_insert(devs, dev, f);
    }
    g_mutex_unlock(&lock);
    return f->hdr != NULL ? f : NULL;
}

/* ------------------------------------------------------------------------
 * The meta JSON
 */
static json_object *u64(uint64_t v)
{
    return json_object_new_uint64(v);
}

static void write_meta(struct fsd *f)
{
    vfud_dev *dev = f->dev;
    struct conn *c = dev->conn;
    json_object *o = json_object_new_object();
    json_object *a;
    const char *text;
    size_t len;
    uint32_t slot;
    g_autofree char *hex = NULL;

    /* A client still to send VERSION is kept too: the new process
     * negotiates with it (fdstore_restart.c). */
    json_object_object_add(o, "conn", json_object_new_boolean(c != NULL));
    if (c != NULL) {
        json_object_object_add(o, "versioned", json_object_new_boolean(c->versioned));
        json_object_object_add(o, "twin", json_object_new_boolean(f->twin));
        json_object_object_add(o, "write_multiple",
                               json_object_new_boolean(c->write_multiple));
        json_object_object_add(o, "max_fds", u64(c->client_max_fds));
        json_object_object_add(o, "max_xfer", u64(c->client_max_xfer));
        json_object_object_add(o, "pgsize", u64(c->client_pgsize));
        json_object_object_add(o, "pid", json_object_new_int(c->pid));
        json_object_object_add(o, "uid", json_object_new_int((int32_t)c->uid));
        json_object_object_add(o, "gid", json_object_new_int((int32_t)c->gid));
        json_object_object_add(o, "since", json_object_new_int64(dev->client_since));
        if (f->reattach_at != 0) {
            json_object *r = json_object_new_object();

            json_object_object_add(r, "at", json_object_new_int64(f->reattach_at));
            json_object_object_add(r, "quick", json_object_new_int((int)f->quick));
            json_object_object_add(o, "reattached", r);
        }
    }
    a = json_object_new_array();
    g_rw_lock_reader_lock(&dev->dma.lock);
    for (guint i = 0; c != NULL && i < dev->dma.windows->len; i++) {
        const struct dma_window *w = g_ptr_array_index(dev->dma.windows, i);
        json_object *e = json_object_new_array();

        json_object_array_add(e, u64(w->iova));
        json_object_array_add(e, u64(w->size));
        json_object_array_add(e, u64(w->fd_offset));
        json_object_array_add(e, u64(w->prot));
        json_object_array_add(e, json_object_new_boolean(w->has_file));
        json_object_array_add(e, u64((uint64_t)w->st_dev));
        json_object_array_add(e, u64((uint64_t)w->st_ino));
        json_object_array_add(a, e);
    }
    g_rw_lock_reader_unlock(&dev->dma.lock);
    json_object_object_add(o, "windows", a);
    a = json_object_new_array();
    g_mutex_lock(&dev->irq.lock);
    for (unsigned t = 0; c != NULL && t < VFUD_NR_IRQ_TYPES; t++) {
        for (unsigned v = 0; v < dev->irq.count[t]; v++) {
            const struct irq_vector *iv = &dev->irq.vec[t][v];
            json_object *e;

            if (iv->efd < 0 && !iv->masked) {
                continue;
            }
            e = json_object_new_array();
            json_object_array_add(e, u64(t));
            json_object_array_add(e, u64(v));
            json_object_array_add(e, json_object_new_boolean(iv->masked));
            json_object_array_add(e, json_object_new_boolean(iv->efd >= 0));
            json_object_array_add(a, e);
        }
    }
    json_object_object_add(o, "intx_unmask",
                           json_object_new_boolean(dev->irq.intx_unmask_fd >= 0));
    g_mutex_unlock(&dev->irq.lock);
    json_object_object_add(o, "irqs", a);
    /* Config space as the guest left it (command register, MSI-X enable):
     * QEMU does not write it again after a crash. */
    hex = g_malloc(dev->pci.size * 2 + 1);
    for (unsigned i = 0; i < dev->pci.size; i++) {
        snprintf(hex + i * 2, 3, "%02x", dev->pci.cfg[i]);
    }
    json_object_object_add(o, "config", json_object_new_string(hex));

    text = json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN);
    len = strlen(text);
    slot = f->hdr->slot ^ 1u;
    if (len <= META_SLOT &&
        pwrite(f->meta_fd, text, len, (off_t)(META_HDR + slot * META_SLOT)) ==
            (ssize_t)len) {
        f->hdr->len[slot] = (uint32_t)len;
        __atomic_store_n(&f->hdr->slot, slot, __ATOMIC_RELEASE);
    } else {
        dev_warn(dev, "fd store: cannot write the device's meta (%zu bytes)", len);
    }
    json_object_put(o);
}

/* ------------------------------------------------------------------------
 * Following the client
 */
static void put(struct fsd *f, const char *name, int fd)
{
    /* Remove first: one name, one fd (systemd keeps several otherwise). */
    fdstore_remove(name);
    if (fd >= 0 && fdstore_push(name, fd) == 0) {
        g_hash_table_add(f->names, g_strdup(name));
    } else {
        g_hash_table_remove(f->names, name);
    }
}

static void drop_names(struct fsd *f, const char *prefix, GHashTable *keep)
{
    GHashTableIter it;
    gpointer k;

    g_hash_table_iter_init(&it, f->names);
    while (g_hash_table_iter_next(&it, &k, NULL)) {
        if (g_str_has_prefix(k, prefix) && (keep == NULL || !g_hash_table_contains(keep, k))) {
            fdstore_remove(k);
            g_hash_table_iter_remove(&it);
        }
    }
}

/* Interrupts: every vector with an eventfd stored, the others removed. */
static void sync_irqs(struct fsd *f, bool repush)
{
    vfud_dev *dev = f->dev;
    g_autoptr(GHashTable) keep = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);
    g_autofree char *prefix = dname(dev, "irq/");
    g_autofree char *un = dname(dev, "intx-unmask");

    g_mutex_lock(&dev->irq.lock);
    for (unsigned t = 0; dev->conn != NULL && t < VFUD_NR_IRQ_TYPES; t++) {
        for (unsigned v = 0; v < dev->irq.count[t]; v++) {
            int efd = dev->irq.vec[t][v].efd;
            char *n;

            if (efd < 0) {
                continue;
            }
            n = dname(dev, "irq/%u/%u", t, v);
            if (repush || !g_hash_table_contains(f->names, n)) {
                put(f, n, efd);
            }
            g_hash_table_add(keep, n);
        }
    }
    if (dev->conn != NULL && dev->irq.intx_unmask_fd >= 0) {
        if (repush || !g_hash_table_contains(f->names, un)) {
            put(f, un, dev->irq.intx_unmask_fd);
        }
        g_hash_table_add(keep, g_strdup(un));
    }
    g_mutex_unlock(&dev->irq.lock);
    drop_names(f, prefix, keep);
    if (!g_hash_table_contains(keep, un) && g_hash_table_contains(f->names, un)) {
        fdstore_remove(un);
        g_hash_table_remove(f->names, un);
    }
}

/* By file, not by window: QEMU maps many windows of one RAM block with
 * the same open file, and systemd stores an open file only once. */
char *fdstore_win_name(const char *dev, uint64_t st_dev, uint64_t st_ino)
{
    return g_strdup_printf(FDSTORE_PREFIX "%s/win/%" PRIx64 "-%" PRIx64, dev, st_dev,
                           st_ino);
}

static char *win_name(vfud_dev *dev, uint64_t st_dev, uint64_t st_ino)
{
    return fdstore_win_name(dev->name, st_dev, st_ino);
}

static void sync_windows(struct fsd *f)
{
    vfud_dev *dev = f->dev;
    g_autoptr(GHashTable) keep = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);
    g_autofree char *prefix = dname(dev, "win/");

    g_rw_lock_reader_lock(&dev->dma.lock);
    for (guint i = 0; dev->conn != NULL && i < dev->dma.windows->len; i++) {
        const struct dma_window *w = g_ptr_array_index(dev->dma.windows, i);

        if (w->has_file) {
            g_hash_table_add(keep, win_name(dev, w->st_dev, w->st_ino));
        }
    }
    g_rw_lock_reader_unlock(&dev->dma.lock);
    drop_names(f, prefix, keep);
}

void fdstore_dev_client_changed(vfud_dev *dev)
{
    struct fsd *f = fsd_get(dev);
    g_autofree char *cn = NULL;
    g_autofree char *tn = NULL;

    if (f == NULL) {
        return;
    }
    cn = dname(dev, "conn");
    tn = dname(dev, "twin");
    if (dev->conn != NULL && dev->conn == f->conn) {
        return;
    }
    if (f->conn != NULL || dev->conn == NULL) {
        /* Also when we never followed it: a client handed over by the
         * previous process that left before we did. */
        fdstore_remove(cn);
        fdstore_remove(tn);
        f->twin = false;
        f->conn = NULL;
    }
    if (dev->conn != NULL) {
        if (!f->reattach_pending) {
            /* A new client: a count of its own. */
            f->reattach_at = 0;
            f->quick = 0;
        }
        f->reattach_pending = false;
        f->conn = dev->conn;
        f->twin = conn_socket_fd(dev->conn, true) >= 0;
        f->hdr->rx_boundary = 1;
        f->hdr->twin_rx_boundary = 1;
        dev->conn->rx_boundary = &f->hdr->rx_boundary;
        dev->conn->twin_rx_boundary = &f->hdr->twin_rx_boundary;
        /* The meta names the client before its socket is stored: a crash
         * in between finds a meta without the socket and says so, where
         * the other order left a stored socket that no meta claimed, and
         * the client was closed without a word (test_fdstore's crash_loop
         * killed the daemon in that window once in about 60 runs under
         * load, as soon as the socket showed in the store). */
        write_meta(f);
        fdstore_push(cn, conn_socket_fd(dev->conn, false));
        if (f->twin) {
            fdstore_push(tn, conn_socket_fd(dev->conn, true));
        }
    }
    sync_windows(f);
    sync_irqs(f, false);
    write_meta(f);
}

void fdstore_dev_reattached(vfud_dev *dev, unsigned quick)
{
    struct fsd *f = fsd_get(dev);

    if (f == NULL) {
        return;
    }
    f->reattach_at = g_get_monotonic_time();
    f->quick = quick;
    f->reattach_pending = true;
    fdstore_dev_client_changed(dev);
}

void fdstore_dev_rewrite(vfud_dev *dev)
{
    struct fsd *f = fsd_get(dev);

    if (f != NULL && f->hdr != NULL) {
        sync_windows(f);
        sync_irqs(f, false);
        write_meta(f);
    }
}

void fdstore_dev_command(vfud_dev *dev, const struct msg *m, int r)
{
    unsigned cmd = m->hdr.cmd;
    struct fsd *f;

    switch (cmd) {
    case VFIO_USER_VERSION:
    case VFIO_USER_DMA_MAP:
    case VFIO_USER_DMA_UNMAP:
    case VFIO_USER_DEVICE_SET_IRQS:
    case VFIO_USER_DEVICE_RESET:
        break;
    case VFIO_USER_REGION_WRITE: {
        struct vfio_user_region_access ra;

        /* Only config space matters here; the rest is the hot path. */
        if (r > 0 || m->len < sizeof(ra)) {
            return;
        }
        memcpy(&ra, m->payload, sizeof(ra));
        if (ra.region != VFIO_PCI_CONFIG_REGION_INDEX) {
            return;
        }
        break;
    }
    default:
        return;
    }
    f = fsd_get(dev);
    if (f == NULL) {
        return;
    }
    if (r > 0) {
        /* Before the handler: DMA_MAP's fd is closed once mapped. */
        if (cmd == VFIO_USER_DMA_MAP && m->nr_fds > 0 && m->fds[0] >= 0) {
            util_close(&f->pending);
            f->pending = fcntl(m->fds[0], F_DUPFD_CLOEXEC, 3);
        }
        return;
    }
    if (cmd == VFIO_USER_DMA_MAP && r == 0 && f->pending >= 0) {
        struct stat st;

        if (fstat(f->pending, &st) == 0) {
            g_autofree char *n = win_name(dev, (uint64_t)st.st_dev, (uint64_t)st.st_ino);

            if (!g_hash_table_contains(f->names, n)) {
                put(f, n, f->pending);
            }
        }
    }
    util_close(&f->pending);
    if (cmd == VFIO_USER_VERSION && dev->conn != NULL && !f->twin &&
        conn_socket_fd(dev->conn, true) >= 0) {
        g_autofree char *tn = dname(dev, "twin");

        f->twin = true;
        fdstore_push(tn, conn_socket_fd(dev->conn, true));
    }
    if (cmd == VFIO_USER_DMA_UNMAP || cmd == VFIO_USER_DEVICE_RESET) {
        sync_windows(f);
    }
    if (cmd == VFIO_USER_DEVICE_SET_IRQS || cmd == VFIO_USER_DEVICE_RESET) {
        /* A vector's eventfd may have been replaced by another. */
        sync_irqs(f, cmd == VFIO_USER_DEVICE_SET_IRQS);
    }
    write_meta(f);
}

static void push_static(vfud_dev *dev)
{
    g_autofree char *ln = dname(dev, "listen");
    struct fsd *f = fsd_get(dev);

    if (f == NULL) {
        return;
    }
    if (dev->proc->listen_fd >= 0) {
        /* Replaces a previous process's (after a stop, one no longer
         * bound to the file). */
        fdstore_remove(ln);
        fdstore_push(ln, dev->proc->listen_fd);
    }
    for (unsigned i = 0; i < VFUD_NR_REGIONS; i++) {
        if (dev->regions[i].fd >= 0 && dev->regions[i].own_mem) {
            g_autofree char *rn = dname(dev, "region/%u", i);

            put(f, rn, dev->regions[i].fd);
        }
    }
}

/* Device thread: a client handed over (upgrade, clean restart) is ours to
 * follow from now on. */
static gboolean follow_client(gpointer data)
{
    push_static(data);
    fdstore_dev_client_changed(data);
    return G_SOURCE_REMOVE;
}

void fdstore_publish(struct devset *ds, struct control *ctl)
{
    GPtrArray *entries = devset_entries(ds);

    if (!fdstore_enabled()) {
        return;
    }
    if (ctl != NULL) {
        fdstore_remove(FDSTORE_PREFIX "control");
        fdstore_push(FDSTORE_PREFIX "control", control_fd(ctl));
    }
    for (guint i = 0; i < entries->len; i++) {
        const struct devset_entry *e = g_ptr_array_index(entries, i);

        if (!e->dev->proc->isolate) {
            GSource *s = g_idle_source_new();

            /* On the device thread, which owns its record; before it
             * serves anything else. */
            g_source_set_priority(s, G_PRIORITY_HIGH);
            g_source_set_callback(s, follow_client, e->dev, NULL);
            g_source_attach(s, e->dev->ctx);
            g_source_unref(s);
        }
    }
}

void fdstore_dev_forget(vfud_dev *dev)
{
    struct fsd *f;
    const char *kinds[] = { "listen", "meta", "conn", "twin" };

    if (!fdstore_enabled()) {
        return;
    }
    g_mutex_lock(&lock);
    f = devs != NULL ? g_hash_table_lookup(devs, dev) : NULL;
    if (f != NULL) {
        GHashTableIter it;
        gpointer k;

        g_hash_table_iter_init(&it, f->names);
        while (g_hash_table_iter_next(&it, &k, NULL)) {
            fdstore_remove(k);
        }
        for (unsigned i = 0; i < G_N_ELEMENTS(kinds); i++) {
            g_autofree char *n = dname(dev, "%s", kinds[i]);

            fdstore_remove(n);
        }
        g_hash_table_remove(devs, dev);
    }
    g_mutex_unlock(&lock);
}

/* ------------------------------------------------------------------------
 * After a crash: the client's state from the store
 */
static json_object *member(json_object *o, const char *k)
{
    json_object *v = NULL;

    json_object_object_get_ex(o, k, &v);
    return v;
}

static uint64_t idx_u64(json_object *a, size_t i)
{
    return json_object_get_uint64(json_object_array_get_idx(a, i));
}

static int read_meta(int mfd, json_object **out, uint32_t *boundary,
                     uint32_t *twin_boundary, char **why)
{
    struct meta_hdr h;
    g_autofree char *text = NULL;
    uint32_t slot, len;

    if (pread(mfd, &h, sizeof(h), 0) != (ssize_t)sizeof(h) ||
        memcmp(h.magic, META_MAGIC, 8) != 0 || h.version != META_VERSION) {
        *why = g_strdup("its meta is not one this binary reads");
        return -EPROTO;
    }
    slot = h.slot & 1u;
    len = h.len[slot];
    if (len == 0 || len > META_SLOT) {
        *out = NULL;
        return 0; /* never written: no client */
    }
    text = g_malloc0(len + 1);
    if (pread(mfd, text, len, (off_t)(META_HDR + slot * META_SLOT)) != (ssize_t)len) {
        *why = g_strdup("its meta is truncated");
        return -EPROTO;
    }
    *out = json_tokener_parse(text);
    if (*out == NULL) {
        *why = g_strdup("its meta is malformed");
        return -EPROTO;
    }
    *boundary = h.rx_boundary;
    /* An older binary did not follow the twin: as before, unchecked. */
    *twin_boundary = h.twin_tracked == 1 ? h.twin_rx_boundary : 1;
    return 0;
}

int fdstore_dev_rebuild(vfud_dev *dev, struct dev_state **out, GByteArray **config,
                        unsigned *quick, char **why)
{
    g_autofree char *mn = dname(dev, "meta");
    int mfd = fdstore_take_fd(mn);
    json_object *o = NULL, *a;
    struct dev_state *st = NULL;
    struct dh_conn *dc;
    uint32_t boundary = 0, twin_boundary = 0;
    const char *hex;
    int r;

    *out = NULL;
    *config = NULL;
    *quick = 0;
    if (mfd < 0) {
        return 0;
    }
    r = read_meta(mfd, &o, &boundary, &twin_boundary, why);
    util_close(&mfd);
    if (r < 0 || o == NULL || !json_object_get_boolean(member(o, "conn"))) {
        json_object_put(o);
        return r;
    }
    st = dev_state_new(dev->name);
    dc = dh_conn_new();
    st->conn = dc;
    {
        g_autofree char *cn = dname(dev, "conn");
        g_autofree char *tn = dname(dev, "twin");

        dc->fd = fdstore_take_fd(cn);
        dc->twin_fd = fdstore_take_fd(tn);
    }
    if (dc->fd < 0) {
        *why = g_strdup("the client's socket is not in the store");
        r = -ENOENT;
        goto fail;
    }
    if (!boundary) {
        /* The dead process had read part of a message: the rest is in the
         * socket, and where the next one starts is unknown. */
        *why = g_strdup("the dead process stopped in the middle of a message: "
                        "the stream cannot be resynchronised");
        r = -EPROTO;
        goto fail;
    }
    if (dc->twin_fd >= 0 && !twin_boundary) {
        /* Half a reply of the client's on the twin socket: the same. */
        *why = g_strdup("the dead process stopped in the middle of a message on "
                        "the twin socket: the stream cannot be resynchronised");
        r = -EPROTO;
        goto fail;
    }
    a = member(o, "reattached");
    if (a != NULL) {
        gint64 at = json_object_get_int64(member(a, "at"));
        gint64 now = g_get_monotonic_time();

        /* The process that re-attached this client ran less than
         * FDSTORE_CRASH_QUICK_MS (with the restart delay) before it died. */
        if (at > 0 && now >= at && now - at < (gint64)FDSTORE_CRASH_QUICK_MS * 1000) {
            *quick = (unsigned)json_object_get_int(member(a, "quick")) + 1;
        }
        if (*quick >= FDSTORE_CRASH_DROP) {
            *why = g_strdup_printf("the device's process died %u times in a row, each "
                                   "within %u s of re-attaching this client: it would "
                                   "only die again", *quick, FDSTORE_CRASH_QUICK_MS / 1000);
            r = -ELOOP;
            goto fail;
        }
    }
    /* A meta of an older binary has "conn" only for a negotiated client. */
    dc->versioned = member(o, "versioned") == NULL ||
                    json_object_get_boolean(member(o, "versioned"));
    dc->write_multiple = json_object_get_boolean(member(o, "write_multiple"));
    dc->client_max_fds = (uint32_t)json_object_get_uint64(member(o, "max_fds"));
    dc->client_max_xfer = json_object_get_uint64(member(o, "max_xfer"));
    dc->client_pgsize = json_object_get_uint64(member(o, "pgsize"));
    dc->pid = json_object_get_int(member(o, "pid"));
    dc->uid = json_object_get_int(member(o, "uid"));
    dc->gid = json_object_get_int(member(o, "gid"));
    dc->since = json_object_get_int64(member(o, "since"));
    a = member(o, "windows");
    for (size_t i = 0; i < json_object_array_length(a); i++) {
        json_object *e = json_object_array_get_idx(a, i);
        struct dh_window w = {
            .iova = idx_u64(e, 0),
            .size = idx_u64(e, 1),
            .offset = idx_u64(e, 2),
            .prot = (uint32_t)idx_u64(e, 3),
            .fd = -1,
        };

        if (json_object_get_boolean(json_object_array_get_idx(e, 4))) {
            g_autofree char *wn = win_name(dev, idx_u64(e, 5), idx_u64(e, 6));

            w.fd = fdstore_dup_fd(wn);
            if (w.fd < 0) {
                *why = g_strdup_printf("DMA window %#" PRIx64 ": its memory is not "
                                       "in the store (FileDescriptorStoreMax= too "
                                       "small?)", w.iova);
                r = -ENOENT;
                goto fail;
            }
        }
        g_array_append_val(st->windows, w);
    }
    a = member(o, "irqs");
    for (size_t i = 0; i < json_object_array_length(a); i++) {
        json_object *e = json_object_array_get_idx(a, i);
        struct dh_irq di = {
            .type = (uint32_t)idx_u64(e, 0),
            .vec = (uint32_t)idx_u64(e, 1),
            .masked = json_object_get_boolean(json_object_array_get_idx(e, 2)),
            .fd = -1,
        };

        if (json_object_get_boolean(json_object_array_get_idx(e, 3))) {
            g_autofree char *in = dname(dev, "irq/%u/%u", di.type, di.vec);

            di.fd = fdstore_take_fd(in);
        }
        g_array_append_val(st->irqs, di);
    }
    if (json_object_get_boolean(member(o, "intx_unmask"))) {
        g_autofree char *un = dname(dev, "intx-unmask");

        st->intx_unmask_fd = fdstore_take_fd(un);
    }
    for (unsigned i = 0; i < VFUD_NR_REGIONS; i++) {
        g_autofree char *rn = dname(dev, "region/%u", i);

        st->region_fd[i] = fdstore_take_fd(rn);
    }
    hex = json_object_get_string(member(o, "config"));
    if (hex != NULL && strlen(hex) == (size_t)dev->pci.size * 2) {
        *config = g_byte_array_sized_new(dev->pci.size);
        for (unsigned i = 0; i < dev->pci.size; i++) {
            uint8_t b = (uint8_t)((g_ascii_xdigit_value(hex[2 * i]) << 4) |
                                  g_ascii_xdigit_value(hex[2 * i + 1]));

            g_byte_array_append(*config, &b, 1);
        }
    }
    json_object_put(o);
    *out = st;
    return 0;

fail:
    json_object_put(o);
    dev_state_free(st);
    return r;
}
