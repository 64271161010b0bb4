/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Ceph RBD back-end (librbd): the namespace is an RBD image, named
 * namespace.N.uri = rbd:POOL/[NAMESPACE/]IMAGE[@SNAPSHOT]; the cluster is
 * found through namespace.N.rbd-conf (a ceph.conf; default: librados'
 * own search, $CEPH_CONF then /etc/ceph/ceph.conf) as client
 * namespace.N.rbd-id (default admin).  A snapshot is read-only.
 *
 * Event loop: commands go out with librbd's asynchronous calls
 * (rbd_aio_readv/writev/flush/discard/write_zeroes) on the I/O thread,
 * which librbd lets run down to the Objecter (rbd_non_blocking_aio off:
 * no hop through librbd's own thread on the way out).
 * Each completion has a callback, run on a librbd thread: it takes the
 * result, releases the completion and pushes the operation onto the
 * controller's list of remote completions (remote.c, lock-free),
 * which the I/O thread collects in each pass (nvme_rbd_collect) and
 * completes the NVMe commands from, with no hop through another thread of
 * ours.  The push writes the kick eventfd only when the I/O thread waits,
 * so completions that land while it works (a burst, or commands being
 * fetched) cost no system call; librbd's own notification eventfd
 * (rbd_set_image_notification) cost one write per completion, and a ring
 * read re-armed each time.  backend_inflight counts RBD commands, so
 * draining the controller waits for them as for io_uring reads and writes.
 *
 * Commands: Read/Write become rbd_aio_readv/writev on the command's iovec
 * (one librbd call per command).  librbd has no FUA: a FUA write is
 * followed by rbd_aio_flush once written.  Flush is rbd_aio_flush.  Write
 * Zeroes is rbd_aio_write_zeroes, or rbd_aio_discard with DEAC set.
 * Deallocate is rbd_aio_discard; the handle is opened with
 * rbd_skip_partial_discard = false, so a discard that does not cover whole
 * objects zeroes the rest instead of skipping it: deallocated blocks read
 * back as zeroes, as the namespace tells the host (DLFEAT).
 *
 * Cluster away: librados waits for an OSD or monitor to come back, for
 * ever by default.  The handle is opened with rados_osd_op_timeout,
 * rados_mon_op_timeout and client_mount_timeout set to
 * namespace.N.reconnect-timeout (default 10 s, below the 30 s after which
 * Linux resets the controller), so a command the cluster does not answer
 * in that time fails, with Namespace Not Ready (retryable), and the
 * controller stays up; librados reconnects by itself and the next commands
 * succeed once the cluster is back.
 *
 * One cluster connection per process and client: the namespaces of every
 * device of the daemon whose connection settings are the same (ceph.conf,
 * client id, keyring, reconnect-timeout, cache) share one librados handle,
 * counted, shut down with the last of them.  Each handle brings its own
 * threads (three messenger workers, the asio pool, timers, a finisher) and
 * its own sessions to the monitor and to every OSD; a daemon serving ten
 * RBD disks kept ten of each, all woken by the cluster's ticks and pings.
 * The sandbox does not tell them apart: it is one
 * Landlock domain and one seccomp filter for the whole process, applied to
 * every thread, librados' included, so a handle started by one device's
 * thread has no more rights than one started by another's.  A device with
 * isolate = process runs in a process of its own (spawned, not forked), so
 * it never shares with a device outside it: its handle is its own, as the
 * isolation asks.  The cost: a client blocklisted by the cluster (its lock
 * broken by another client that thought it dead) loses every namespace on
 * that handle at once, where it lost one device's before.
 *
 * Moves between hosts: both daemons open the image.  Images have the
 * exclusive-lock feature by default: librbd takes the lock for the first
 * write and hands it over when another client asks for it, so the
 * destination's first write takes it from the source, whose writes were
 * flushed when it stopped (nvme_flush_all_sync).  librbd's default cache
 * policy in Pacific (writearound) never serves reads from a cache, so the
 * destination reads what the source wrote.
 */
#include "config.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <rbd/librbd.h>

#include "nvme_int.h"
#include "op_pool.h"

#define RBD_ERASE_CHUNK (1ull << 30) /* rbd_discard returns an int */

enum rbd_op_kind { OPK_READ, OPK_WRITE, OPK_FLUSH, OPK_ZERO, OPK_DISCARD };

struct rbd_op {
    struct nvme_remote_done done;   /* on the controller's list once done */
    struct nvme_rbd *rb;
    struct nvme_req *req;
    enum rbd_op_kind kind;
    bool flush_after;       /* FUA: a flush once written */
    int res;                /* librbd's result, set by the callback */
    uint64_t off, len;
};

/* A librados handle shared by the namespaces with the same key. */
struct rbd_cluster {
    struct rbd_cluster *next;
    /* the settings it was made with (cluster_fits) */
    char *conf, *id, *keyring;
    unsigned timeout_s;
    enum nvme_cache_mode cache;
    unsigned refs;          /* namespaces using it */
    bool connected;         /* false: its first user is connecting it */
    rados_t handle;
};

struct nvme_rbd {
    struct nvme_ctrl *c;
    struct nvme_ns *ns;
    char *pool, *nspace, *image_name, *snap;
    struct rbd_cluster *cl;
    rados_ioctx_t io;
    rbd_image_t image;
    struct nvme_op_pool ops;
    uint64_t watch;         /* rbd_update_watch's handle */
    bool watching;
};

/* ---- configuration ---- */

/* "rbd:POOL/[NAMESPACE/]IMAGE[@SNAP]" into its parts (none empty). */
static int parse_uri(struct nvme_rbd *rb, const char *uri)
{
    const char *p = uri + 4, *s1, *s2, *img, *at;

    if (strncmp(uri, "rbd:", 4) != 0 || !(s1 = strchr(p, '/'))) {
        return -EINVAL;
    }
    s2 = strchr(s1 + 1, '/');
    img = s2 ? s2 + 1 : s1 + 1;
    at = strchr(img, '@');
    if (s1 == p || (s2 && (s2 == s1 + 1 || strchr(img, '/'))) || !*img ||
        at == img || (at && (!at[1] || strchr(at + 1, '@')))) {
        return -EINVAL;
    }
    rb->pool = strndup(p, (size_t)(s1 - p));
    rb->nspace = s2 ? strndup(s1 + 1, (size_t)(s2 - s1 - 1)) : NULL;
    rb->image_name = at ? strndup(img, (size_t)(at - img)) : strdup(img);
    rb->snap = at ? strdup(at + 1) : NULL;
    if (!rb->pool || (s2 && !rb->nspace) || !rb->image_name || (at && !rb->snap)) {
        return -ENOMEM;
    }
    return 0;
}

/* ---- completions (I/O thread) ---- */

static struct rbd_op *op_new(struct nvme_rbd *rb, struct nvme_req *req,
                             enum rbd_op_kind kind, uint64_t off, uint64_t len)
{
    struct rbd_op *op = nvme_op_get(&rb->ops, sizeof(*op));

    if (!op) {
        return NULL;
    }
    op->rb = rb;
    op->req = req;
    op->kind = kind;
    op->off = off;
    op->len = len;
    req->pending++;
    rb->c->backend_inflight++;
    return op;
}

static void op_free(struct nvme_rbd *rb, struct rbd_op *op)
{
    nvme_op_put(&rb->ops, op);
    rb->c->backend_inflight--;
}

/* A cluster that did not answer in time: not a media error, and worth
 * retrying (io.c turns -ENOTCONN into Namespace Not Ready). */
static int map_err(int r)
{
    switch (r) {
    case -ETIMEDOUT:
    case -ENOTCONN:
    case -ESHUTDOWN: /* blocklisted */
    case -ECONNREFUSED:
        return -ENOTCONN;
    default:
        return r;
    }
}

static void op_complete(struct nvme_rbd *rb, struct rbd_op *op, int res);

/* A librbd thread: the result, then the operation to the I/O thread.
 * Releasing the completion here is allowed (librbd holds its own
 * reference while it runs the callback). */
static void on_done(rbd_completion_t comp, void *arg)
{
    struct rbd_op *op = arg;
    ssize_t res = rbd_aio_get_return_value(comp);

    op->res = res < 0 ? (int)res : (int)(res > INT32_MAX ? INT32_MAX : res);
    rbd_aio_release(comp);
    nvme_ctrl_remote_done(op->rb->c, &op->done);
}

/* Hand op to librbd; on a refusal, complete it with the error. */
static void op_submit(struct nvme_rbd *rb, struct rbd_op *op)
{
    struct nvme_req *req = op->req;
    rbd_completion_t comp;
    int r;

    r = rbd_aio_create_completion(op, on_done, &comp);
    if (r < 0) {
        op_complete(rb, op, r);
        return;
    }
    switch (op->kind) {
    case OPK_READ:
        r = rbd_aio_readv(rb->image, req->iov, (int)req->niov, op->off, comp);
        break;
    case OPK_WRITE:
        r = rbd_aio_writev(rb->image, req->iov, (int)req->niov, op->off, comp);
        break;
    case OPK_FLUSH:
        r = rbd_aio_flush(rb->image, comp);
        break;
    case OPK_ZERO:
        r = rbd_aio_write_zeroes(rb->image, op->off, op->len, comp, 0, 0);
        break;
    case OPK_DISCARD:
        r = rbd_aio_discard(rb->image, op->off, op->len, comp);
        break;
    default:
        r = -EINVAL;
    }
    if (r < 0) {
        rbd_aio_release(comp);
        vfud_log(rb->c->dev, LOG_ERR, "nvme: namespace %u: RBD: cannot "
                 "issue a command: %s", rb->ns->nsid, strerror(-r));
        op_complete(rb, op, r);
    }
    /* Success: op may already be on the list (librbd completes some
     * requests in the call), so it is not touched here. */
}

static void op_complete(struct nvme_rbd *rb, struct rbd_op *op, int res)
{
    struct nvme_req *req = op->req;

    if (res >= 0 && op->flush_after) {
        op->flush_after = false;
        op->kind = OPK_FLUSH;
        op_submit(rb, op);
        return;
    }
    if (res >= 0 && op->kind == OPK_READ && (uint64_t)res != op->len) {
        res = -EIO; /* short read: the image shrank under us */
    }
    op_free(rb, op);
    nvme_io_backend_done(rb->c, req, res < 0 ? map_err(res) : 0);
}

/* I/O thread: complete what librbd's callbacks handed over; returns how
 * many. */
int nvme_rbd_collect(struct nvme_ctrl *c)
{
    struct nvme_remote_done *d = nvme_remote_take(&c->remote);
    int n = 0;

    while (d) {
        struct rbd_op *op = (struct rbd_op *)(void *)d; /* done is first */

        d = d->next; /* op may be reused by op_complete */
        op_complete(op->rb, op, op->res);
        n++;
    }
    return n;
}

/* ---- commands (I/O thread) ---- */

int nvme_rbd_rw(struct nvme_ctrl *c, struct nvme_req *req)
{
    struct nvme_rbd *rb = req->ns->rbd;
    struct rbd_op *op;

    (void)c;
    op = op_new(rb, req, req->is_write ? OPK_WRITE : OPK_READ, req->offset,
                req->len);
    if (!op) {
        return -ENOMEM;
    }
    op->flush_after = req->is_write && req->fua;
    op_submit(rb, op);
    return 0;
}

int nvme_rbd_flush(struct nvme_ctrl *c, struct nvme_req *req,
                   struct nvme_ns *ns)
{
    struct rbd_op *op = op_new(ns->rbd, req, OPK_FLUSH, 0, 0);

    (void)c;
    if (!op) {
        return -ENOMEM;
    }
    op_submit(ns->rbd, op);
    return 0;
}

int nvme_rbd_zero(struct nvme_ctrl *c, struct nvme_req *req, uint64_t off,
                  uint64_t len, bool deallocate)
{
    struct nvme_rbd *rb = req->ns->rbd;
    struct rbd_op *op;

    (void)c;
    op = op_new(rb, req, deallocate ? OPK_DISCARD : OPK_ZERO, off, len);
    if (!op) {
        return -ENOMEM;
    }
    op->flush_after = req->fua;
    op_submit(rb, op);
    return 0;
}

/* ---- synchronous paths (quiesce, shutdown, destroy; format) ---- */

int nvme_rbd_flush_sync(struct nvme_ctrl *c, struct nvme_ns *ns)
{
    int r;

    if (!ns->rbd || !ns->rbd->image) {
        return 0;
    }
    r = rbd_flush(ns->rbd->image);
    if (r < 0) {
        vfud_log(c->dev, LOG_ERR, "nvme: namespace %u: cannot flush the RBD "
                 "image %s: %s", ns->nsid, ns->uri, strerror(-r));
    }
    return r;
}

int nvme_rbd_erase_sync(struct nvme_ctrl *c, struct nvme_ns *ns)
{
    struct nvme_rbd *rb = ns->rbd;

    for (uint64_t off = 0; off < ns->size_bytes; off += RBD_ERASE_CHUNK) {
        uint64_t l = ns->size_bytes - off;
        int r = rbd_discard(rb->image, off, l < RBD_ERASE_CHUNK ? l : RBD_ERASE_CHUNK);

        if (r < 0) {
            vfud_log(c->dev, LOG_ERR, "nvme: namespace %u: erase failed: %s",
                     ns->nsid, strerror(-r));
            return -EIO;
        }
    }
    /* librbd's default cache (writearound) acknowledges a discard once it
     * is sent, not done: without the flush another client (the
     * destination of a move, the test's own view) could still read the old
     * data after Format NVM has completed. */
    if (rbd_flush(rb->image) < 0) {
        vfud_log(c->dev, LOG_ERR, "nvme: namespace %u: erase: the flush "
                 "failed", ns->nsid);
        return -EIO;
    }
    return 0;
}

/* ---- the image resized (a librbd thread) ---- */

/* librbd calls this when the image's header changes (a resize, a
 * snapshot, a lock taken): a namespace that follows the image's size
 * (no size= of its own) takes the new one, which the host finds in
 * Identify Namespace (NSZE) from then on and I/O is checked against; the
 * I/O thread lists it in the Changed Namespace List and raises a Namespace
 * Attribute Changed event if the host enabled them (Linux then rescans). */
static void on_image_update(void *arg)
{
    struct nvme_rbd *rb = arg;
    struct nvme_ns *ns = rb->ns;
    uint64_t size;

    if (ns->cfg_size || rbd_get_size(rb->image, &size) < 0 || size == 0 ||
        size == __atomic_load_n(&ns->size_bytes, __ATOMIC_RELAXED)) {
        return;
    }
    __atomic_store_n(&ns->size_bytes, size, __ATOMIC_RELAXED);
    __atomic_store_n(&ns->nsze, size >> ns->lba_shift, __ATOMIC_RELEASE);
    vfud_log(rb->c->dev, LOG_INFO, "nvme: namespace %u: the RBD image %s is "
             "now %llu bytes", ns->nsid, ns->uri, (unsigned long long)size);
    nvme_ns_attr_changed(rb->c, ns);
}

/* ---- set-up (device thread, before the I/O thread runs) ---- */

static int conf_set(struct nvme_ctrl *c, struct nvme_ns *ns, rados_t cl,
                    const char *opt, const char *val)
{
    int r = rados_conf_set(cl, opt, val);

    if (r < 0) {
        vfud_error(c->dev, "namespace %u: RBD: cannot set %s: %s", ns->nsid,
                   opt, strerror(-r));
    }
    return r;
}

/* realize(): the configuration only.  librados starts its threads when
 * the cluster handle is made, and they must be started by a thread the
 * sandbox already confines (nvme_rbd_connect, from the plugin's running()):
 * threads cannot be confined from outside once they run. */
int nvme_rbd_open(struct nvme_ctrl *c, struct nvme_ns *ns)
{
    struct nvme_rbd *rb;
    int r;

    if (ns->path) {
        vfud_error(c->dev, "namespace %u: path and uri are exclusive",
                   ns->nsid);
        return -EINVAL;
    }
    rb = calloc(1, sizeof(*rb));
    if (!rb) {
        return -ENOMEM;
    }
    rb->c = c;
    rb->ns = ns;
    ns->rbd = rb;
    r = parse_uri(rb, ns->uri);
    if (r < 0) {
        if (r == -ENOMEM) {
            return r;
        }
        vfud_error(c->dev, "namespace %u: uri: '%s' is not "
                   "rbd:POOL/[NAMESPACE/]IMAGE[@SNAPSHOT]", ns->nsid, ns->uri);
        return -EINVAL;
    }
    if (rb->snap) {
        ns->read_only = true;
    }
    return 0;
}

/* ---- the cluster connections of the process ---- */

static pthread_mutex_t clusters_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t clusters_cond = PTHREAD_COND_INITIALIZER;
static struct rbd_cluster *clusters;  /* under clusters_lock */

static bool str_same(const char *a, const char *b)
{
    return a == b || (a && b && strcmp(a, b) == 0);
}

/* Everything cluster_connect() sets from the namespace. */
static bool cluster_fits(const struct rbd_cluster *cl, const struct nvme_ns *ns)
{
    return str_same(cl->conf, ns->rbd_conf) && str_same(cl->id, ns->rbd_id) &&
           str_same(cl->keyring, ns->rbd_keyring) &&
           cl->timeout_s == ns->nbd_timeout_s && cl->cache == ns->cache;
}

/* A new librados handle for ns, connected; it logs what went wrong. */
static int cluster_connect(struct nvme_ctrl *c, struct nvme_ns *ns,
                           rados_t *out)
{
    rados_t cl;
    char timeout[16];
    int r;

    r = rados_create(&cl, ns->rbd_id ? ns->rbd_id : NULL);
    if (r < 0) {
        vfud_error(c->dev, "namespace %u: RBD: rados_create: %s", ns->nsid,
                   strerror(-r));
        return r;
    }
    /* librbd hands every request to one of its own threads
     * (io_context_pool) before it reaches the Objecter, so that the
     * caller never waits.  Ours is an I/O thread that only submits, and
     * librbd's waits (the exclusive lock, a header refresh, QoS) queue the
     * request and return since Pacific; the hop is a context switch per
     * command (host, QD32 reads, three runs interleaved: 3.2-3.3 switches
     * and 83-91 us of CPU per I/O with it, 2.1-2.7 and 75-84 us without).
     * Set before the configuration is read: ceph.conf or $CEPH_ARGS may
     * still turn it back on. */
    if (conf_set(c, ns, cl, "rbd_non_blocking_aio", "false") < 0) {
        r = -EINVAL;
        goto fail;
    }
    /* An explicit file must be there; without one, librados looks where
     * it always does and a missing file is not an error yet (the monitors
     * may come from $CEPH_ARGS). */
    r = rados_conf_read_file(cl, ns->rbd_conf);
    if (r < 0 && ns->rbd_conf) {
        vfud_error(c->dev, "namespace %u: RBD: cannot read %s: %s", ns->nsid,
                   ns->rbd_conf, strerror(-r));
        goto fail;
    }
    (void)rados_conf_parse_env(cl, NULL);
    if (ns->rbd_keyring && conf_set(c, ns, cl, "keyring", ns->rbd_keyring) < 0) {
        r = -EINVAL;
        goto fail;
    }
    snprintf(timeout, sizeof(timeout), "%u", ns->nbd_timeout_s ? ns->nbd_timeout_s : 1);
    if (conf_set(c, ns, cl, "rados_osd_op_timeout", timeout) < 0 ||
        conf_set(c, ns, cl, "rados_mon_op_timeout", timeout) < 0 ||
        conf_set(c, ns, cl, "client_mount_timeout", timeout) < 0 ||
        conf_set(c, ns, cl, "rbd_skip_partial_discard", "false") < 0 ||
        conf_set(c, ns, cl, "rbd_cache",
                 ns->cache == NVME_CACHE_NONE ? "false" : "true") < 0) {
        r = -EINVAL;
        goto fail;
    }
    r = rados_connect(cl);
    if (r < 0) {
        vfud_error(c->dev, "namespace %u: RBD: cannot connect to the Ceph "
                   "cluster%s%s: %s", ns->nsid, ns->rbd_conf ? " of " : "",
                   ns->rbd_conf ? ns->rbd_conf : "", strerror(-r));
        goto fail;
    }
    *out = cl;
    return 0;
fail:
    rados_shutdown(cl);
    return r;
}

static void cluster_free(struct rbd_cluster *cl)
{
    free(cl->conf);
    free(cl->id);
    free(cl->keyring);
    free(cl);
}

static void cluster_unlink(struct rbd_cluster *cl)
{
    struct rbd_cluster **pp = &clusters;

    while (*pp != cl) {
        pp = &(*pp)->next;
    }
    *pp = cl->next;
}

/* The process's handle for ns's settings, made if there is none.  Device
 * threads start their devices side by side: one that finds the handle it
 * needs being connected by another waits for it, and one whose settings
 * are new connects without the lock, so a cluster that does not answer
 * holds up only the devices that use it. */
static int cluster_get(struct nvme_ctrl *c, struct nvme_ns *ns,
                       struct rbd_cluster **out)
{
    struct rbd_cluster *cl;
    rados_t h;
    int r;

    pthread_mutex_lock(&clusters_lock);
    for (;;) {
        for (cl = clusters; cl && !cluster_fits(cl, ns); cl = cl->next) {
        }
        if (!cl || cl->connected) {
            break;
        }
        pthread_cond_wait(&clusters_cond, &clusters_lock);
    }
    if (cl) {
        cl->refs++;
        pthread_mutex_unlock(&clusters_lock);
        vfud_log(c->dev, LOG_INFO, "nvme: namespace %u: RBD: shares the "
                 "process's connection to the cluster as client.%s",
                 ns->nsid, ns->rbd_id ? ns->rbd_id : "admin");
        *out = cl;
        return 0;
    }
    cl = calloc(1, sizeof(*cl));
    if (!cl || (ns->rbd_conf && !(cl->conf = strdup(ns->rbd_conf))) ||
        (ns->rbd_id && !(cl->id = strdup(ns->rbd_id))) ||
        (ns->rbd_keyring && !(cl->keyring = strdup(ns->rbd_keyring)))) {
        pthread_mutex_unlock(&clusters_lock);
        if (cl) {
            cluster_free(cl);
        }
        return -ENOMEM;
    }
    cl->timeout_s = ns->nbd_timeout_s;
    cl->cache = ns->cache;
    cl->refs = 1;
    cl->next = clusters;
    clusters = cl;
    pthread_mutex_unlock(&clusters_lock);

    r = cluster_connect(c, ns, &h);

    pthread_mutex_lock(&clusters_lock);
    if (r < 0) {
        /* those waiting try on their own, and say why they fail */
        cluster_unlink(cl);
        cluster_free(cl);
        cl = NULL;
    } else {
        cl->handle = h;
        cl->connected = true;
    }
    pthread_cond_broadcast(&clusters_cond);
    pthread_mutex_unlock(&clusters_lock);
    *out = cl;
    return r;
}

static void cluster_put(struct rbd_cluster *cl)
{
    pthread_mutex_lock(&clusters_lock);
    if (--cl->refs > 0) {
        pthread_mutex_unlock(&clusters_lock);
        return;
    }
    cluster_unlink(cl);
    pthread_mutex_unlock(&clusters_lock);
    rados_shutdown(cl->handle);
    cluster_free(cl);
}

/* running(), on the device thread of the confined daemon: the cluster, the
 * image, its size.  Everything the configuration gets wrong that only the
 * cluster can tell (a pool, an image, a key) is said here, at start. */
int nvme_rbd_connect(struct nvme_ctrl *c, struct nvme_ns *ns)
{
    struct nvme_rbd *rb = ns->rbd;
    uint64_t size;
    int r;

    r = cluster_get(c, ns, &rb->cl);
    if (r < 0) {
        return r;
    }
    r = rados_ioctx_create(rb->cl->handle, rb->pool, &rb->io);
    if (r < 0) {
        vfud_error(c->dev, "namespace %u: RBD: pool %s: %s", ns->nsid,
                   rb->pool, strerror(-r));
        rb->io = NULL;
        return r;
    }
    if (rb->nspace) {
        rados_ioctx_set_namespace(rb->io, rb->nspace);
    }
    r = ns->read_only
            ? rbd_open_read_only(rb->io, rb->image_name, &rb->image, rb->snap)
            : rbd_open(rb->io, rb->image_name, &rb->image, NULL);
    if (r < 0) {
        vfud_error(c->dev, "namespace %u: RBD: image %s%s%s in pool %s: %s",
                   ns->nsid, rb->image_name, rb->snap ? "@" : "",
                   rb->snap ? rb->snap : "", rb->pool, strerror(-r));
        rb->image = NULL;
        return r;
    }
    r = rbd_get_size(rb->image, &size);
    if (r < 0 || size == 0) {
        vfud_error(c->dev, "namespace %u: RBD: image %s: no size", ns->nsid,
                   ns->uri);
        return r < 0 ? r : -EINVAL;
    }
    if (ns->cfg_size > size) {
        vfud_error(c->dev, "namespace %u: size is larger than the RBD image "
                   "(%llu bytes)", ns->nsid, (unsigned long long)size);
        return -EINVAL;
    }
    ns->size_bytes = ns->cfg_size ? ns->cfg_size : size;
    ns->dio_align = 1;
    if (!rb->snap) {
        r = rbd_update_watch(rb->image, &rb->watch, on_image_update, rb);
        if (r < 0) {
            vfud_error(c->dev, "namespace %u: RBD: rbd_update_watch: %s",
                       ns->nsid, strerror(-r));
            return r;
        }
        rb->watching = true;
    }
    vfud_log(c->dev, LOG_INFO, "nvme: namespace %u: RBD %s: %llu bytes%s",
             ns->nsid, ns->uri, (unsigned long long)size,
             ns->read_only ? ", read-only" : "");
    return 0;
}

void nvme_rbd_close(struct nvme_ns *ns)
{
    struct nvme_rbd *rb = ns->rbd;

    if (!rb) {
        return;
    }
    if (rb->watching) {
        (void)rbd_update_unwatch(rb->image, rb->watch);
    }
    if (rb->image) {
        /* rbd_close waits for what is still out; their callbacks push
         * them onto the controller's list, which nothing collects any
         * more: the controller is being destroyed. */
        (void)rbd_close(rb->image);
    }
    if (rb->io) {
        rados_ioctx_destroy(rb->io);
    }
    if (rb->cl) {
        cluster_put(rb->cl);
    }
    nvme_op_pool_clear(&rb->ops);
    free(rb->pool);
    free(rb->nspace);
    free(rb->image_name);
    free(rb->snap);
    free(rb);
    ns->rbd = NULL;
}
