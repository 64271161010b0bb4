/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Namespaces: configuration keys, opening the backing file or block
 * device, sizes and formats, and the identifiers (EUI-64, NGUID, UUID)
 * that Linux uses to tell namespaces apart.
 */
#include "config.h"

#include <errno.h>
#include <limits.h>
#include <fcntl.h>
#include <linux/fs.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "nvme_int.h"

struct nvme_ns *nvme_ns_get_or_create(struct nvme_ctrl *c, uint32_t nsid)
{
    struct nvme_ns *ns;

    if (nsid == 0 || nsid > NVME_MAX_NS) {
        return NULL;
    }
    if (c->ns[nsid]) {
        return c->ns[nsid];
    }
    ns = calloc(1, sizeof(*ns));
    if (!ns) {
        return NULL;
    }
    ns->nsid = nsid;
    ns->cfg_block_size = 512;
    ns->write_cache = true;
    ns->cache = NVME_CACHE_WRITEBACK;
    ns->backend = NVME_BACKEND_URING;
    ns->fd = -1;
    ns->dio_align = 1;
    ns->nbd_timeout_s = 10;
    c->ns[nsid] = ns;
    if (nsid > c->nn) {
        c->nn = nsid;
    }
    return ns;
}

/* Hex digits into out[n], ignoring '-' and ':' separators. */
static int parse_hex_id(const char *s, uint8_t *out, size_t n)
{
    size_t got = 0;
    int hi = -1;

    for (; *s; s++) {
        int v;

        if (*s == '-' || *s == ':') {
            continue;
        }
        if (*s >= '0' && *s <= '9') {
            v = *s - '0';
        } else if (*s >= 'a' && *s <= 'f') {
            v = *s - 'a' + 10;
        } else if (*s >= 'A' && *s <= 'F') {
            v = *s - 'A' + 10;
        } else {
            return -EINVAL;
        }
        if (hi < 0) {
            hi = v;
        } else {
            if (got == n) {
                return -EINVAL;
            }
            out[got++] = (uint8_t)(hi << 4 | v);
            hi = -1;
        }
    }
    return got == n && hi < 0 ? 0 : -EINVAL;
}

int nvme_ns_config(struct nvme_ctrl *c, struct nvme_ns *ns, const char *key,
                   const char *value)
{
    vfud_dev *dev = c->dev;
    uint64_t u;
    bool b;

    if (strcmp(key, "path") == 0) {
        free(ns->path);
        ns->path = strdup(value);
        return ns->path ? 0 : -ENOMEM;
    }
    if (strcmp(key, "uri") == 0 && strncmp(value, "rbd:", 4) == 0) {
#ifdef HAVE_LIBRBD
        free(ns->uri);
        ns->uri = strdup(value);
        ns->backend = NVME_BACKEND_RBD;
        return ns->uri ? 0 : -ENOMEM;
#else
        vfud_error(dev, "namespace %u: uri: built without librbd (Ceph RBD)",
                   ns->nsid);
        return -ENOTSUP;
#endif
    }
    if (strcmp(key, "rbd-conf") == 0 || strcmp(key, "rbd-id") == 0 ||
        strcmp(key, "rbd-keyring") == 0 || strcmp(key, "tls-psk-file") == 0 ||
        strcmp(key, "tls-certificates") == 0) {
        char **where = key[0] == 't' ? (key[4] == 'p' ? &ns->tls_psk_file
                                                      : &ns->tls_certs)
                       : key[4] == 'c' ? &ns->rbd_conf
                       : key[4] == 'i' ? &ns->rbd_id : &ns->rbd_keyring;

        if (!*value) {
            vfud_error(dev, "namespace %u: %s is empty", ns->nsid, key);
            return -EINVAL;
        }
        free(*where);
        *where = strdup(value);
        return *where ? 0 : -ENOMEM;
    }
    if (strcmp(key, "uri") == 0) {
#ifdef HAVE_LIBNBD
        free(ns->uri);
        ns->uri = strdup(value);
        ns->backend = NVME_BACKEND_NBD;
        return ns->uri ? 0 : -ENOMEM;
#else
        vfud_error(dev, "namespace %u: uri: built without libnbd (NBD)",
                   ns->nsid);
        return -ENOTSUP;
#endif
    }
    if (strcmp(key, "connections") == 0 ||
        strcmp(key, "reconnect-timeout") == 0) {
        bool conns = key[0] == 'c';

        if (vfud_parse_u64(value, &u) < 0 || (conns ? u < 1 || u > 16 : u > 3600)) {
            vfud_error(dev, "namespace %u: %s must be %s", ns->nsid, key,
                       conns ? "1 to 16" : "0 to 3600 (seconds)");
            return -EINVAL;
        }
        if (conns) {
            ns->nbd_conns = (unsigned)u;
        } else {
            ns->nbd_timeout_s = (unsigned)u;
        }
        return 0;
    }
    if (strcmp(key, "size") == 0) {
        if (vfud_parse_size(value, &u) < 0 || u == 0) {
            vfud_error(dev, "namespace %u: size: not a size: '%s'", ns->nsid,
                       value);
            return -EINVAL;
        }
        ns->cfg_size = u;
        return 0;
    }
    if (strcmp(key, "block-size") == 0) {
        if (vfud_parse_size(value, &u) < 0 || (u != 512 && u != 4096)) {
            vfud_error(dev, "namespace %u: block-size must be 512 or 4096",
                       ns->nsid);
            return -EINVAL;
        }
        ns->cfg_block_size = (unsigned)u;
        return 0;
    }
    if (strcmp(key, "read-only") == 0 || strcmp(key, "write-cache") == 0) {
        if (vfud_parse_bool(value, &b) < 0) {
            vfud_error(dev, "namespace %u: %s: not a boolean: '%s'", ns->nsid,
                       key, value);
            return -EINVAL;
        }
        if (key[0] == 'r') {
            ns->read_only = b;
        } else {
            ns->write_cache = b;
        }
        return 0;
    }
    if (strcmp(key, "cache") == 0) {
        if (strcmp(value, "none") == 0) {
            ns->cache = NVME_CACHE_NONE;
        } else if (strcmp(value, "writeback") == 0) {
            ns->cache = NVME_CACHE_WRITEBACK;
        } else {
            vfud_error(dev, "namespace %u: cache must be none or writeback",
                       ns->nsid);
            return -EINVAL;
        }
        return 0;
    }
    if (strcmp(key, "backend") == 0) {
        if (strcmp(value, "uring") == 0 || strcmp(value, "io_uring") == 0) {
            ns->backend = NVME_BACKEND_URING;
        } else if (strcmp(value, "null") == 0) {
            ns->backend = NVME_BACKEND_NULL;
        } else {
            vfud_error(dev, "namespace %u: backend must be uring or null",
                       ns->nsid);
            return -EINVAL;
        }
        return 0;
    }
    if (strcmp(key, "uuid") == 0 || strcmp(key, "nguid") == 0) {
        uint8_t *dst = key[0] == 'u' ? ns->uuid : ns->nguid;

        if (parse_hex_id(value, dst, 16) < 0) {
            vfud_error(dev, "namespace %u: %s: need 32 hex digits", ns->nsid,
                       key);
            return -EINVAL;
        }
        if (key[0] == 'u') {
            ns->have_uuid = true;
        } else {
            ns->have_nguid = true;
        }
        return 0;
    }
    if (strcmp(key, "eui64") == 0) {
        if (parse_hex_id(value, ns->eui64, 8) < 0) {
            vfud_error(dev, "namespace %u: eui64: need 16 hex digits", ns->nsid);
            return -EINVAL;
        }
        ns->have_eui64 = true;
        return 0;
    }
    vfud_error(dev, "unknown namespace key '%s'", key);
    return -EINVAL;
}

/* splitmix64: spreads a seed into well-mixed bytes. */
static uint64_t mix64(uint64_t *state)
{
    uint64_t z = (*state += 0x9e3779b97f4a7c15ull);

    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

/* Stable identifiers derived from the controller serial and the NSID, so a
 * namespace keeps its /dev/disk/by-id names across restarts and two
 * namespaces (or two controllers with different serials) never share one. */
void nvme_ns_default_ids(struct nvme_ctrl *c, struct nvme_ns *ns)
{
    uint64_t h = 0xcbf29ce484222325ull; /* FNV-1a over serial and nsid */
    uint64_t v;

    for (const char *p = c->serial; *p; p++) {
        h = (h ^ (uint8_t)*p) * 0x100000001b3ull;
    }
    h = (h ^ ns->nsid) * 0x100000001b3ull;
    if (!ns->have_uuid) {
        v = mix64(&h);
        memcpy(ns->uuid, &v, 8);
        v = mix64(&h);
        memcpy(ns->uuid + 8, &v, 8);
        ns->uuid[6] = (uint8_t)((ns->uuid[6] & 0x0f) | 0x40); /* version 4 */
        ns->uuid[8] = (uint8_t)((ns->uuid[8] & 0x3f) | 0x80); /* variant */
    }
    if (!ns->have_nguid) {
        v = mix64(&h);
        memcpy(ns->nguid, &v, 8);
        v = mix64(&h);
        memcpy(ns->nguid + 8, &v, 8);
    }
    if (!ns->have_eui64) {
        v = mix64(&h);
        memcpy(ns->eui64, &v, 8);
        ns->eui64[0] = (uint8_t)((ns->eui64[0] & 0xfc) | 0x02); /* local */
    }
}

bool nvme_ns_format_ok(const struct nvme_ns *ns, unsigned lba_shift)
{
    if (lba_shift != 9 && lba_shift != 12) {
        return false;
    }
    if (ns->cache == NVME_CACHE_NONE && ns->backend == NVME_BACKEND_URING &&
        ns->is_blockdev && (1u << lba_shift) < ns->dio_align) {
        return false; /* O_DIRECT cannot write less than a device block */
    }
    return (ns->size_bytes >> lba_shift) > 0;
}

int nvme_ns_set_format(struct nvme_ns *ns, unsigned lba_shift)
{
    if (!nvme_ns_format_ok(ns, lba_shift)) {
        return -EINVAL;
    }
    ns->lba_shift = lba_shift;
    ns->nsze = ns->size_bytes >> lba_shift;
    return 0;
}

/*
 * The systemd units' StateDirectory=vfiouserd: systemd makes it, owned by
 * the daemon's user, just before the first start, so a namespace file in it
 * cannot be created before then, and "vfiouserd --check-config" run before
 * the first start finds neither file nor directory.  Fixed by systemd for
 * system services, whatever the configure prefix.
 */
#define NVME_UNIT_STATE_DIR "/var/lib/vfiouserd"

/* The directory a file at path would be created in. */
static void parent_dir(const char *path, char *dir, size_t size)
{
    char *slash;

    snprintf(dir, size, "%s", path);
    slash = strrchr(dir, '/');
    if (slash == NULL) {
        snprintf(dir, size, ".");
    } else if (slash == dir) {
        dir[1] = '\0'; /* the root directory */
    } else {
        *slash = '\0';
    }
}

/*
 * A missing file that start() will create: say so, since nothing else tells
 * the administrator that a 16 GiB namespace is about to appear.  0 when it
 * can be created (or will be, in the units' state directory), else a
 * negative errno after saying why.
 */
static int check_creatable(struct nvme_ctrl *c, struct nvme_ns *ns)
{
    char dir[PATH_MAX];

    if (strlen(ns->path) >= sizeof(dir)) {
        vfud_error(c->dev, "namespace %u: path too long", ns->nsid);
        return -ENAMETOOLONG;
    }
    parent_dir(ns->path, dir, sizeof(dir));
    if (access(dir, W_OK | X_OK) == 0) {
        vfud_log(c->dev, LOG_INFO, "nvme: namespace %u: %s does not exist: start "
                 "creates it (%llu bytes, sparse)", ns->nsid, ns->path,
                 (unsigned long long)ns->cfg_size);
        return 0;
    }
    if (errno == ENOENT && strcmp(dir, NVME_UNIT_STATE_DIR) == 0) {
        vfud_log(c->dev, LOG_NOTICE, "nvme: namespace %u: %s does not exist: "
                 "start creates it (%llu bytes, sparse) in %s, which the systemd "
                 "units create at their first start (StateDirectory=); "
                 "a daemon started otherwise needs it made first", ns->nsid, ns->path,
                 (unsigned long long)ns->cfg_size, dir);
        return 0;
    }
    {
        int e = errno;

        vfud_error(c->dev, "namespace %u: %s does not exist and cannot be "
                   "created: directory %s: %s", ns->nsid, ns->path, dir,
                   strerror(e));
        return -e;
    }
}

static int open_backing(struct nvme_ctrl *c, struct nvme_ns *ns)
{
    int flags = (ns->read_only ? O_RDONLY : O_RDWR) | O_CLOEXEC;
    struct stat st;

    if (ns->cache == NVME_CACHE_NONE) {
        flags |= O_DIRECT;
    }
    ns->fd = open(ns->path, flags);
    if (ns->fd < 0 && errno == ENOENT && ns->cfg_size && !ns->read_only) {
        /* Made in start(); here only check that it can be. */
        int r = check_creatable(c, ns);

        if (r < 0) {
            return r;
        }
        ns->create_at_start = true;
        ns->size_bytes = ns->cfg_size;
        ns->dio_align = ns->cache == NVME_CACHE_NONE ? NVME_PAGE_SIZE : 1;
        return 0;
    }
    if (ns->fd < 0) {
        int e = errno;

        vfud_error(c->dev, "namespace %u: %s: %s", ns->nsid, ns->path,
                   strerror(e));
        return -e;
    }
    if (fstat(ns->fd, &st) < 0) {
        return -errno;
    }
    if (S_ISBLK(st.st_mode)) {
        uint64_t bytes;
        int lbs = 512;

        if (ioctl(ns->fd, BLKGETSIZE64, &bytes) < 0) {
            int e = errno;

            vfud_error(c->dev, "namespace %u: %s: BLKGETSIZE64: %s", ns->nsid,
                       ns->path, strerror(e));
            return -e;
        }
        (void)ioctl(ns->fd, BLKSSZGET, &lbs);
        ns->is_blockdev = true;
        ns->dio_align = ns->cache == NVME_CACHE_NONE ? (unsigned)lbs : 1;
        if (ns->cfg_size > bytes) {
            vfud_error(c->dev, "namespace %u: size is larger than %s",
                       ns->nsid, ns->path);
            return -EINVAL;
        }
        ns->size_bytes = ns->cfg_size ? ns->cfg_size : bytes;
    } else if (S_ISREG(st.st_mode)) {
        if (ns->cfg_size > (uint64_t)st.st_size) {
            if (ns->read_only) {
                vfud_error(c->dev, "namespace %u: size is larger than the "
                           "read-only file %s", ns->nsid, ns->path);
                return -EINVAL;
            }
            /* grown sparse in start(): unwritten blocks read as zeroes */
            ns->grow_at_start = true;
        }
        ns->size_bytes = ns->cfg_size ? ns->cfg_size : (uint64_t)st.st_size;
        /* O_DIRECT on a file: the device block size is not known for sure,
         * so buffers that are not page aligned go through a bounce buffer */
        ns->dio_align = ns->cache == NVME_CACHE_NONE ? NVME_PAGE_SIZE : 1;
    } else {
        vfud_error(c->dev, "namespace %u: %s is neither a regular file nor a "
                   "block device", ns->nsid, ns->path);
        return -EINVAL;
    }
    return 0;
}

int nvme_ns_prepare(struct nvme_ctrl *c, struct nvme_ns *ns)
{
    int flags = O_RDWR | O_CLOEXEC | (ns->cache == NVME_CACHE_NONE ? O_DIRECT : 0);

    if (ns->backend == NVME_BACKEND_NBD) {
        return nvme_nbd_prepare(c, ns);
    }
    if (ns->backend == NVME_BACKEND_RBD) {
        return 0; /* nothing to create */
    }
    if (ns->create_at_start) {
        ns->fd = open(ns->path, flags | O_CREAT | O_EXCL, 0600);
        if (ns->fd < 0) {
            int e = errno;

            vfud_error(c->dev, "namespace %u: cannot create %s: %s", ns->nsid,
                       ns->path, strerror(e));
            return -e;
        }
        ns->create_at_start = false;
        ns->grow_at_start = true;
    }
    if (ns->grow_at_start) {
        if (ftruncate(ns->fd, (off_t)ns->cfg_size) < 0) {
            int e = errno;

            vfud_error(c->dev, "namespace %u: %s: cannot set size: %s",
                       ns->nsid, ns->path, strerror(e));
            return -e;
        }
        ns->grow_at_start = false;
    }
    return 0;
}

int nvme_ns_open(struct nvme_ctrl *c, struct nvme_ns *ns)
{
    unsigned shift = ns->cfg_block_size == 4096 ? 12 : 9;
    int r;

    if (ns->backend == NVME_BACKEND_NULL) {
        if (!ns->cfg_size) {
            vfud_error(c->dev, "namespace %u: the null backend needs a size",
                       ns->nsid);
            return -EINVAL;
        }
        ns->size_bytes = ns->cfg_size;
    } else if (ns->backend == NVME_BACKEND_NBD) {
        r = nvme_nbd_open(c, ns);
        if (r < 0) {
            nvme_ns_close(ns);
            return r;
        }
    } else if (ns->backend == NVME_BACKEND_RBD) {
        /* The configuration only: the cluster comes in nvme_ns_connect. */
        r = nvme_rbd_open(c, ns);
        if (r < 0) {
            nvme_ns_close(ns);
            return r;
        }
        nvme_ns_default_ids(c, ns);
        return 0;
    } else {
        if (!ns->path) {
            vfud_error(c->dev, "namespace %u: no path", ns->nsid);
            return -EINVAL;
        }
        r = open_backing(c, ns);
        if (r < 0) {
            nvme_ns_close(ns);
            return r;
        }
    }
    if (nvme_ns_set_format(ns, shift) < 0) {
        vfud_error(c->dev, "namespace %u: block size %u is not usable "
                   "(size %llu bytes, device block %u)", ns->nsid,
                   ns->cfg_block_size, (unsigned long long)ns->size_bytes,
                   ns->dio_align);
        nvme_ns_close(ns);
        return -EINVAL;
    }
    nvme_ns_default_ids(c, ns);
    return 0;
}

/* The namespaces whose storage is reached through a library that starts
 * threads (librados): once the daemon is confined (nvme_running). */
int nvme_ns_connect(struct nvme_ctrl *c, struct nvme_ns *ns)
{
    unsigned shift = ns->cfg_block_size == 4096 ? 12 : 9;
    int r;

    if (ns->backend != NVME_BACKEND_RBD) {
        return 0;
    }
    r = nvme_rbd_connect(c, ns);
    if (r == 0 && nvme_ns_set_format(ns, shift) < 0) {
        vfud_error(c->dev, "namespace %u: block size %u is not usable "
                   "(size %llu bytes)", ns->nsid, ns->cfg_block_size,
                   (unsigned long long)ns->size_bytes);
        r = -EINVAL;
    }
    return r;
}

void nvme_ns_close(struct nvme_ns *ns)
{
    nvme_nbd_close(ns);
    nvme_rbd_close(ns);
    if (ns->fd >= 0) {
        close(ns->fd);
        ns->fd = -1;
    }
}

void nvme_ns_free(struct nvme_ns *ns)
{
    if (!ns) {
        return;
    }
    nvme_ns_close(ns);
    free(ns->path);
    free(ns->uri);
    free(ns->rbd_conf);
    free(ns->rbd_id);
    free(ns->rbd_keyring);
    free(ns->tls_psk_file);
    free(ns->tls_certs);
    free(ns);
}
