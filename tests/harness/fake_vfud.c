/*
 * The fake daemon: see fake_vfud.h.
 */
#include "config.h"

#include <dlfcn.h>
#include <errno.h>
#include <inttypes.h>
#include <poll.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include "fake_vfud.h"

struct fake_window {
    bool used;
    bool message_only;
    uint64_t iova;
    size_t size;
    uint8_t *mem;
    _Atomic int refs;
};

struct fake_region {
    uint64_t size;
    unsigned flags;
    uint8_t *mem;
    size_t mem_size;
    struct vfud_mmap_area areas[16];
    unsigned nr_areas;
};

struct vfud_watch {
    vfud_dev *dev;
    int fd;
    unsigned events;
    vfud_fd_fn fd_fn;
    vfud_timer_fn timer_fn;
    unsigned interval_ms;
    uint64_t due_ms;
    void *opaque;
    struct vfud_watch *next;
};

struct vfud_dev {
    char *name;
    void *priv;
    void *dl;
    struct vfud_plugin plugin;
    bool have_plugin, created, realized, started;
    char last_error[1024];
    bool verbose;

    pthread_rwlock_t win_lock;
    struct fake_window win[FAKE_MAX_WINDOWS];
    _Atomic bool bus_master;
    _Atomic unsigned long dma_messages;

    struct fake_region regions[VFUD_NR_REGIONS];
    struct vfud_pci_id id;
    enum vfud_pci_type type;
    bool pci_inited;
    bool cap_pm, cap_msi, cap_msix, cap_express, cap_dsn;
    unsigned msi_vectors, msix_vectors;
    unsigned irq_setup[VFUD_NR_IRQ_TYPES];

    pthread_mutex_t irq_lock;
    pthread_cond_t irq_cond;
    _Atomic unsigned irq_count[FAKE_MAX_VECTORS];
    _Atomic unsigned intx_deasserts;

    struct vfud_watch *watches;
};

/* ------------------------------------------------------------------------
 * Functions the daemon provides to plugins
 */

const char *vfud_dev_name(const vfud_dev *dev)
{
    return dev->name;
}

void vfud_set_private(vfud_dev *dev, void *priv)
{
    dev->priv = priv;
}

void *vfud_get_private(const vfud_dev *dev)
{
    return dev->priv;
}

void vfud_log(vfud_dev *dev, int level, const char *fmt, ...)
{
    va_list ap;

    if (!dev->verbose && level > LOG_WARNING) {
        return;
    }
    va_start(ap, fmt);
    fprintf(stderr, "[%s] ", dev->name);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
}

void vfud_error(vfud_dev *dev, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(dev->last_error, sizeof(dev->last_error), fmt, ap);
    va_end(ap);
    if (dev->verbose) {
        fprintf(stderr, "[%s] error: %s\n", dev->name, dev->last_error);
    }
}

bool vfud_debug_enabled(const vfud_dev *dev)
{
    return dev->verbose;
}

int vfud_parse_bool(const char *s, bool *out)
{
    static const char *yes[] = { "1", "yes", "true", "on", NULL };
    static const char *no[] = { "0", "no", "false", "off", NULL };

    for (int i = 0; yes[i]; i++) {
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

int vfud_parse_u64(const char *s, uint64_t *out)
{
    char *end;
    unsigned long long v;

    if (!*s || *s == '-') {
        return -EINVAL;
    }
    errno = 0;
    v = strtoull(s, &end, 0);
    if (errno == ERANGE) {
        return -ERANGE;
    }
    if (end == s || *end) {
        return -EINVAL;
    }
    *out = v;
    return 0;
}

int vfud_parse_size(const char *s, uint64_t *out)
{
    char *end;
    unsigned long long v;
    unsigned shift = 0;

    if (!*s || *s == '-') {
        return -EINVAL;
    }
    errno = 0;
    v = strtoull(s, &end, 10);
    if (errno == ERANGE || end == s) {
        return -EINVAL;
    }
    switch (*end) {
    case '\0':
        break;
    case 'k': case 'K': shift = 10; end++; break;
    case 'm': case 'M': shift = 20; end++; break;
    case 'g': case 'G': shift = 30; end++; break;
    case 't': case 'T': shift = 40; end++; break;
    default:
        return -EINVAL;
    }
    if (*end == 'i' && end[1] == 'B') {
        end += 2;
    } else if (*end == 'B') {
        end++;
    }
    if (*end || (shift && v > (UINT64_MAX >> shift))) {
        return -EINVAL;
    }
    *out = (uint64_t)v << shift;
    return 0;
}

int vfud_pci_init(vfud_dev *dev, enum vfud_pci_type type,
                  const struct vfud_pci_id *id)
{
    if (dev->pci_inited) {
        return -EEXIST;
    }
    dev->type = type;
    dev->id = *id;
    dev->pci_inited = true;
    return 0;
}

int vfud_pci_add_cap_pm(vfud_dev *dev)
{
    dev->cap_pm = true;
    return 0x40;
}

int vfud_pci_add_cap_msi(vfud_dev *dev, unsigned nr_vectors, unsigned flags)
{
    (void)flags;
    if (nr_vectors == 0 || nr_vectors > 32 || (nr_vectors & (nr_vectors - 1))) {
        return -EINVAL;
    }
    dev->cap_msi = true;
    dev->msi_vectors = nr_vectors;
    return 0x50;
}

int vfud_pci_add_cap_msix(vfud_dev *dev, unsigned nr_vectors,
                          unsigned table_bar, uint32_t table_offset,
                          unsigned pba_bar, uint32_t pba_offset)
{
    if (nr_vectors == 0 || nr_vectors > FAKE_MAX_VECTORS ||
        table_bar > VFUD_REGION_BAR5 || pba_bar > VFUD_REGION_BAR5 ||
        (table_offset & 7) || (pba_offset & 7)) {
        return -EINVAL;
    }
    if (dev->regions[table_bar].size < table_offset + 16ull * nr_vectors ||
        dev->regions[pba_bar].size < pba_offset + 8ull * ((nr_vectors + 63) / 64)) {
        return -EINVAL; /* the daemon checks this at finalize */
    }
    dev->cap_msix = true;
    dev->msix_vectors = nr_vectors;
    return 0x60;
}

int vfud_pci_add_cap_express(vfud_dev *dev, unsigned flags)
{
    (void)flags;
    if (dev->type != VFUD_PCI_EXPRESS) {
        return -EINVAL;
    }
    dev->cap_express = true;
    return 0x70;
}

int vfud_pci_add_cap_vendor(vfud_dev *dev, const void *data, size_t len)
{
    (void)dev;
    (void)data;
    return len > 250 ? -EINVAL : 0x80;
}

int vfud_pci_add_ext_cap_dsn(vfud_dev *dev, uint64_t serial)
{
    (void)serial;
    dev->cap_dsn = true;
    return 0x100;
}

int vfud_region_add(vfud_dev *dev, unsigned index, uint64_t size,
                    unsigned flags)
{
    if (index >= VFUD_NR_REGIONS || index == VFUD_REGION_CONFIG || size == 0) {
        return -EINVAL;
    }
    if (dev->regions[index].size) {
        return -EEXIST;
    }
    dev->regions[index].size = size;
    dev->regions[index].flags = flags;
    return 0;
}

static int set_areas(struct fake_region *r, const struct vfud_mmap_area *areas,
                     unsigned nr_areas)
{
    if (nr_areas > 16) {
        return -EINVAL;
    }
    for (unsigned i = 0; i < nr_areas; i++) {
        if ((areas[i].offset | areas[i].size) & 4095 ||
            areas[i].offset + areas[i].size > r->size) {
            return -EINVAL;
        }
        r->areas[i] = areas[i];
    }
    r->nr_areas = nr_areas;
    if (nr_areas == 0) {
        r->areas[0].offset = 0;
        r->areas[0].size = r->size;
        r->nr_areas = 1;
    }
    return 0;
}

void *vfud_region_alloc_mmap(vfud_dev *dev, unsigned index,
                             const struct vfud_mmap_area *areas,
                             unsigned nr_areas)
{
    struct fake_region *r;
    size_t sz;
    void *mem;

    if (index >= VFUD_NR_REGIONS || !dev->regions[index].size) {
        errno = EINVAL;
        return NULL;
    }
    r = &dev->regions[index];
    if (r->mem) {
        errno = EEXIST;
        return NULL;
    }
    sz = (r->size + 4095) & ~(size_t)4095;
    if (set_areas(r, areas, nr_areas) < 0) {
        errno = EINVAL;
        return NULL;
    }
    mem = mmap(NULL, sz, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS,
               -1, 0);
    if (mem == MAP_FAILED) {
        return NULL;
    }
    r->mem = mem;
    r->mem_size = sz;
    return mem;
}

int vfud_region_set_mmap_fd(vfud_dev *dev, unsigned index, int fd,
                            uint64_t fd_offset, void *addr,
                            const struct vfud_mmap_area *areas,
                            unsigned nr_areas)
{
    struct fake_region *r;

    (void)fd;
    (void)fd_offset;
    if (index >= VFUD_NR_REGIONS || !dev->regions[index].size || !addr) {
        return -EINVAL;
    }
    r = &dev->regions[index];
    if (set_areas(r, areas, nr_areas) < 0) {
        return -EINVAL;
    }
    r->mem = addr; /* the plugin owns it: never unmapped here */
    r->mem_size = 0;
    return 0;
}

int vfud_irq_setup(vfud_dev *dev, enum vfud_irq_type type, unsigned count)
{
    if (type >= VFUD_NR_IRQ_TYPES || type == VFUD_IRQ_MSI ||
        type == VFUD_IRQ_MSIX || count > 1) {
        return -EINVAL;
    }
    dev->irq_setup[type] = count;
    return 0;
}

int vfud_irq_trigger(vfud_dev *dev, unsigned n)
{
    unsigned max = dev->msix_vectors ? dev->msix_vectors
                                     : (dev->msi_vectors ? dev->msi_vectors : 1);

    if (n >= max || n >= FAKE_MAX_VECTORS) {
        return -EINVAL;
    }
    atomic_fetch_add(&dev->irq_count[n], 1);
    pthread_mutex_lock(&dev->irq_lock);
    pthread_cond_broadcast(&dev->irq_cond);
    pthread_mutex_unlock(&dev->irq_lock);
    return 0;
}

void vfud_intx_deassert(vfud_dev *dev)
{
    atomic_fetch_add(&dev->intx_deasserts, 1);
}

int vfud_irq_signal(vfud_dev *dev, enum vfud_irq_type type)
{
    (void)dev;
    return type == VFUD_IRQ_ERR || type == VFUD_IRQ_REQ ? 0 : -EINVAL;
}

/* Window holding [iova, iova+len) entirely, or NULL (win_lock held). */
static struct fake_window *find_window(vfud_dev *dev, uint64_t iova)
{
    for (int i = 0; i < FAKE_MAX_WINDOWS; i++) {
        struct fake_window *w = &dev->win[i];

        if (w->used && iova >= w->iova && iova - w->iova < w->size) {
            return w;
        }
    }
    return NULL;
}

/* Copy between buf and guest memory, crossing windows as needed. */
static int dma_copy(vfud_dev *dev, uint64_t iova, void *buf, size_t len,
                    bool to_guest)
{
    uint8_t *p = buf;
    int r = 0;

    if (!atomic_load(&dev->bus_master)) {
        return -EPERM;
    }
    pthread_rwlock_rdlock(&dev->win_lock);
    while (len) {
        struct fake_window *w = find_window(dev, iova);
        size_t off, n;

        if (!w) {
            r = -EFAULT;
            break;
        }
        off = (size_t)(iova - w->iova);
        n = w->size - off < len ? w->size - off : len;
        if (w->message_only) {
            atomic_fetch_add(&dev->dma_messages, 1);
        }
        if (to_guest) {
            memcpy(w->mem + off, p, n);
        } else {
            memcpy(p, w->mem + off, n);
        }
        p += n;
        iova += n;
        len -= n;
    }
    pthread_rwlock_unlock(&dev->win_lock);
    return r;
}

int vfud_dma_read(vfud_dev *dev, uint64_t iova, void *buf, size_t len)
{
    return dma_copy(dev, iova, buf, len, false);
}

int vfud_dma_write(vfud_dev *dev, uint64_t iova, const void *buf, size_t len)
{
    return dma_copy(dev, iova, (void *)buf, len, true);
}

int vfud_dma_sg_get(vfud_dev *dev, uint64_t iova, size_t len, unsigned prot,
                    struct vfud_sg *sg, unsigned max_sg)
{
    unsigned n = 0;
    int r = 0;

    if (!atomic_load(&dev->bus_master)) {
        return -EPERM;
    }
    if (len == 0) {
        return 0;
    }
    pthread_rwlock_rdlock(&dev->win_lock);
    while (len) {
        struct fake_window *w = find_window(dev, iova);
        size_t off, l;

        if (!w) {
            r = -EFAULT;
            break;
        }
        if (w->message_only) {
            r = -EREMOTE;
            break;
        }
        if (n == max_sg) {
            r = -ENOSPC;
            break;
        }
        off = (size_t)(iova - w->iova);
        l = w->size - off < len ? w->size - off : len;
        sg[n].iova = iova;
        sg[n].base = w->mem + off;
        sg[n].len = l;
        sg[n]._map = w;
        sg[n]._prot = prot;
        atomic_fetch_add(&w->refs, 1);
        n++;
        iova += l;
        len -= l;
    }
    pthread_rwlock_unlock(&dev->win_lock);
    if (r < 0) {
        vfud_dma_sg_put(dev, sg, n);
        return r;
    }
    return (int)n;
}

void vfud_dma_sg_put(vfud_dev *dev, struct vfud_sg *sg, unsigned nr_sg)
{
    (void)dev;
    for (unsigned i = 0; i < nr_sg; i++) {
        struct fake_window *w = sg[i]._map;

        if (w) {
            atomic_fetch_sub(&w->refs, 1);
            sg[i]._map = NULL;
        }
    }
}

void vfud_dma_mark_dirty(vfud_dev *dev, uint64_t iova, uint64_t len)
{
    (void)dev;
    (void)iova;
    (void)len;
}

bool vfud_pci_bus_master(vfud_dev *dev)
{
    return atomic_load(&dev->bus_master);
}

int vfud_pci_config_read(vfud_dev *dev, unsigned offset, void *buf, size_t len)
{
    uint8_t cfg[4096] = { 0 };

    if (offset + len > sizeof(cfg)) {
        return -EINVAL;
    }
    memcpy(cfg + 0, &dev->id.vendor_id, 2);
    memcpy(cfg + 2, &dev->id.device_id, 2);
    cfg[8] = dev->id.revision;
    cfg[9] = (uint8_t)dev->id.class_code;
    cfg[10] = (uint8_t)(dev->id.class_code >> 8);
    cfg[11] = (uint8_t)(dev->id.class_code >> 16);
    memcpy(buf, cfg + offset, len);
    return 0;
}

int vfud_defer(vfud_dev *dev, vfud_work_fn fn, void *opaque)
{
    fn(dev, opaque);
    return 0;
}

int vfud_submit(vfud_dev *dev, vfud_work_fn fn, void *opaque)
{
    fn(dev, opaque);
    return 0;
}

void vfud_submit_drain(vfud_dev *dev)
{
    (void)dev;
}

static uint64_t now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* No client here: DMA never needs a reply, so waiting is just polling. */
int vfud_wait(vfud_dev *dev, bool (*done)(void *opaque), void *opaque,
              unsigned timeout_ms)
{
    uint64_t deadline = now_ms() + timeout_ms;

    (void)dev;
    while (!done(opaque)) {
        if (timeout_ms > 0 && now_ms() >= deadline) {
            return -ETIMEDOUT;
        }
        usleep(200);
    }
    return 0;
}

vfud_watch *vfud_watch_fd(vfud_dev *dev, int fd, unsigned events,
                          vfud_fd_fn fn, void *opaque)
{
    vfud_watch *w = calloc(1, sizeof(*w));

    if (!w) {
        return NULL;
    }
    w->dev = dev;
    w->fd = fd;
    w->events = events;
    w->fd_fn = fn;
    w->opaque = opaque;
    w->next = dev->watches;
    dev->watches = w;
    return w;
}

vfud_watch *vfud_watch_timer(vfud_dev *dev, unsigned interval_ms,
                             vfud_timer_fn fn, void *opaque)
{
    vfud_watch *w = calloc(1, sizeof(*w));

    if (!w) {
        return NULL;
    }
    w->dev = dev;
    w->fd = -1;
    w->timer_fn = fn;
    w->interval_ms = interval_ms;
    w->due_ms = now_ms() + interval_ms;
    w->opaque = opaque;
    w->next = dev->watches;
    dev->watches = w;
    return w;
}

void vfud_watch_remove(vfud_watch *w)
{
    vfud_watch **pp;

    if (!w) {
        return;
    }
    for (pp = &w->dev->watches; *pp; pp = &(*pp)->next) {
        if (*pp == w) {
            *pp = w->next;
            free(w);
            return;
        }
    }
}

/* ------------------------------------------------------------------------
 * Test-side helpers
 */

vfud_dev *fake_dev_new(const char *name)
{
    vfud_dev *dev = calloc(1, sizeof(*dev));

    if (!dev) {
        return NULL;
    }
    dev->name = strdup(name);
    dev->verbose = getenv("FAKE_VFUD_VERBOSE") != NULL;
    pthread_rwlock_init(&dev->win_lock, NULL);
    pthread_mutex_init(&dev->irq_lock, NULL);
    pthread_cond_init(&dev->irq_cond, NULL);
    atomic_store(&dev->bus_master, true);
    return dev;
}

void fake_dev_set_plugin(vfud_dev *dev, struct vfud_plugin *plugin)
{
    /* as the daemon does: copy what the plugin knows, zero the rest */
    size_t n = plugin->_struct_size < sizeof(dev->plugin)
                   ? (size_t)plugin->_struct_size : sizeof(dev->plugin);

    memset(&dev->plugin, 0, sizeof(dev->plugin));
    memcpy(&dev->plugin, plugin, n);
    dev->have_plugin = true;
}

int fake_dev_load(vfud_dev *dev, const char *so_path)
{
    struct vfud_plugin *(*init)(void);
    struct vfud_plugin *p;

    dev->dl = dlopen(so_path, RTLD_NOW | RTLD_LOCAL);
    if (!dev->dl) {
        snprintf(dev->last_error, sizeof(dev->last_error), "dlopen: %s",
                 dlerror());
        return -ENOENT;
    }
    *(void **)&init = dlsym(dev->dl, "vfud_plugin_init");
    if (!init) {
        snprintf(dev->last_error, sizeof(dev->last_error),
                 "no vfud_plugin_init in %s", so_path);
        return -ENOENT;
    }
    p = init();
    if (!p || p->_api_version != VFUD_API_VERSION || !p->name || !p->realize) {
        snprintf(dev->last_error, sizeof(dev->last_error),
                 "bad plugin struct in %s", so_path);
        return -EINVAL;
    }
    fake_dev_set_plugin(dev, p);
    if (dev->plugin.load && dev->plugin.load() < 0) {
        return -EIO;
    }
    return 0;
}

struct vfud_plugin *fake_dev_plugin(vfud_dev *dev)
{
    return &dev->plugin;
}

static int ensure_created(vfud_dev *dev)
{
    if (dev->created) {
        return 0;
    }
    dev->created = true;
    return dev->plugin.create ? dev->plugin.create(dev) : 0;
}

int fake_dev_config(vfud_dev *dev, const char *key, const char *value)
{
    int r = ensure_created(dev);

    if (r < 0) {
        return r;
    }
    return dev->plugin.config ? dev->plugin.config(dev, key, value) : -EINVAL;
}

int fake_dev_realize(vfud_dev *dev)
{
    int r = ensure_created(dev);

    if (r == 0 && dev->plugin.config_complete) {
        r = dev->plugin.config_complete(dev);
    }
    if (r == 0) {
        r = dev->plugin.realize(dev);
    }
    if (r == 0) {
        dev->realized = true;
        if (dev->plugin.start) {
            r = dev->plugin.start(dev);
        }
        dev->started = r == 0;
    }
    return r;
}

void fake_dev_attach(vfud_dev *dev)
{
    if (dev->plugin.attach) {
        dev->plugin.attach(dev);
    }
}

void fake_dev_detach(vfud_dev *dev)
{
    if (dev->plugin.detach) {
        dev->plugin.detach(dev);
    }
}

int fake_dev_reset(vfud_dev *dev, enum vfud_reset_reason why)
{
    return dev->plugin.reset ? dev->plugin.reset(dev, why) : 0;
}

void fake_dev_free(vfud_dev *dev)
{
    if (!dev) {
        return;
    }
    if (dev->created && dev->plugin.destroy) {
        dev->plugin.destroy(dev);
    }
    for (int i = 0; i < FAKE_MAX_WINDOWS; i++) {
        if (dev->win[i].used) {
            munmap(dev->win[i].mem, dev->win[i].size);
        }
    }
    for (int i = 0; i < VFUD_NR_REGIONS; i++) {
        if (dev->regions[i].mem && dev->regions[i].mem_size) {
            munmap(dev->regions[i].mem, dev->regions[i].mem_size);
        }
    }
    while (dev->watches) {
        vfud_watch_remove(dev->watches);
    }
    if (dev->plugin.unload) {
        dev->plugin.unload();
    }
    if (dev->dl) {
        dlclose(dev->dl);
    }
    pthread_rwlock_destroy(&dev->win_lock);
    pthread_mutex_destroy(&dev->irq_lock);
    pthread_cond_destroy(&dev->irq_cond);
    free(dev->name);
    free(dev);
}

const char *fake_dev_last_error(vfud_dev *dev)
{
    return dev->last_error;
}

void *fake_dma_map(vfud_dev *dev, uint64_t iova, size_t size, bool message_only)
{
    return fake_dma_map_copy(dev, iova, size, message_only, NULL);
}

void *fake_dma_map_copy(vfud_dev *dev, uint64_t iova, size_t size,
                        bool message_only, const void *init)
{
    void *mem;
    int slot = -1;

    pthread_rwlock_wrlock(&dev->win_lock);
    for (int i = 0; i < FAKE_MAX_WINDOWS; i++) {
        struct fake_window *w = &dev->win[i];

        if (w->used && iova < w->iova + w->size && w->iova < iova + size) {
            pthread_rwlock_unlock(&dev->win_lock);
            return NULL; /* overlapping map: the daemon refuses it too */
        }
        if (!w->used && slot < 0) {
            slot = i;
        }
    }
    if (slot < 0) {
        pthread_rwlock_unlock(&dev->win_lock);
        return NULL;
    }
    mem = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS,
               -1, 0);
    if (mem == MAP_FAILED) {
        pthread_rwlock_unlock(&dev->win_lock);
        return NULL;
    }
    if (init) {
        memcpy(mem, init, size);
    }
    dev->win[slot].used = true;
    dev->win[slot].message_only = message_only;
    dev->win[slot].iova = iova;
    dev->win[slot].size = size;
    dev->win[slot].mem = mem;
    atomic_store(&dev->win[slot].refs, 0);
    pthread_rwlock_unlock(&dev->win_lock);
    return mem;
}

int fake_dma_unmap(vfud_dev *dev, uint64_t iova)
{
    struct fake_window *w = NULL;
    int refs;

    pthread_rwlock_rdlock(&dev->win_lock);
    for (int i = 0; i < FAKE_MAX_WINDOWS; i++) {
        if (dev->win[i].used && dev->win[i].iova == iova) {
            w = &dev->win[i];
        }
    }
    pthread_rwlock_unlock(&dev->win_lock);
    if (!w) {
        return -ENOENT;
    }
    if (dev->plugin.dma_unmap) {
        dev->plugin.dma_unmap(dev, w->iova, w->size);
    }
    /* the daemon waits for outstanding references: give in-flight I/O a
     * moment, then report what is left */
    for (int i = 0; i < 500 && atomic_load(&w->refs); i++) {
        usleep(1000);
    }
    refs = atomic_load(&w->refs);
    pthread_rwlock_wrlock(&dev->win_lock);
    munmap(w->mem, w->size);
    w->used = false;
    pthread_rwlock_unlock(&dev->win_lock);
    return refs;
}

void *fake_gpa(vfud_dev *dev, uint64_t iova, size_t len)
{
    void *p = NULL;

    pthread_rwlock_rdlock(&dev->win_lock);
    struct fake_window *w = find_window(dev, iova);
    if (w && iova - w->iova + len <= w->size) {
        p = w->mem + (iova - w->iova);
    }
    pthread_rwlock_unlock(&dev->win_lock);
    return p;
}

void fake_set_bus_master(vfud_dev *dev, bool on)
{
    atomic_store(&dev->bus_master, on);
}

int fake_sg_refs(vfud_dev *dev)
{
    int n = 0;

    pthread_rwlock_rdlock(&dev->win_lock);
    for (int i = 0; i < FAKE_MAX_WINDOWS; i++) {
        if (dev->win[i].used) {
            n += atomic_load(&dev->win[i].refs);
        }
    }
    pthread_rwlock_unlock(&dev->win_lock);
    return n;
}

unsigned long fake_dma_messages(vfud_dev *dev)
{
    return atomic_load(&dev->dma_messages);
}

/* Is [off, off+len) inside one of the region's mmap areas? */
static bool in_area(const struct fake_region *r, uint64_t off, size_t len)
{
    if (!r->mem) {
        return false;
    }
    for (unsigned i = 0; i < r->nr_areas; i++) {
        if (off >= r->areas[i].offset &&
            off + len <= r->areas[i].offset + r->areas[i].size) {
            return true;
        }
    }
    return false;
}

int fake_region_read(vfud_dev *dev, unsigned region, uint64_t off, void *buf,
                     size_t len)
{
    struct fake_region *r;

    if (region >= VFUD_NR_REGIONS || !dev->regions[region].size) {
        return -EINVAL;
    }
    r = &dev->regions[region];
    if (len == 0 || off + len > r->size || off + len < off) {
        return -EINVAL;
    }
    if (in_area(r, off, len)) {
        memcpy(buf, r->mem + off, len);
        return 0;
    }
    if (!dev->plugin.region_read) {
        return -EINVAL;
    }
    return dev->plugin.region_read(dev, region, off, buf, len);
}

int fake_region_write(vfud_dev *dev, unsigned region, uint64_t off,
                      const void *buf, size_t len)
{
    struct fake_region *r;

    if (region >= VFUD_NR_REGIONS || !dev->regions[region].size) {
        return -EINVAL;
    }
    r = &dev->regions[region];
    if (len == 0 || off + len > r->size || off + len < off) {
        return -EINVAL;
    }
    if (in_area(r, off, len)) {
        memcpy(r->mem + off, buf, len);
        return 0;
    }
    if (!dev->plugin.region_write) {
        return -EINVAL;
    }
    return dev->plugin.region_write(dev, region, off, buf, len);
}

uint32_t fake_read32(vfud_dev *dev, unsigned region, uint64_t off)
{
    uint32_t v = 0xffffffffu;

    (void)fake_region_read(dev, region, off, &v, 4);
    return v;
}

uint64_t fake_read64(vfud_dev *dev, unsigned region, uint64_t off)
{
    /* as Linux does for NVMe registers: two 32-bit reads, low first */
    uint64_t lo = fake_read32(dev, region, off);
    uint64_t hi = fake_read32(dev, region, off + 4);

    return lo | hi << 32;
}

void fake_write32(vfud_dev *dev, unsigned region, uint64_t off, uint32_t v)
{
    (void)fake_region_write(dev, region, off, &v, 4);
}

void fake_write64(vfud_dev *dev, unsigned region, uint64_t off, uint64_t v)
{
    fake_write32(dev, region, off, (uint32_t)v);
    fake_write32(dev, region, off + 4, (uint32_t)(v >> 32));
}

uint64_t fake_region_size(vfud_dev *dev, unsigned region)
{
    return region < VFUD_NR_REGIONS ? dev->regions[region].size : 0;
}

unsigned fake_region_flags(vfud_dev *dev, unsigned region)
{
    return region < VFUD_NR_REGIONS ? dev->regions[region].flags : 0;
}

void *fake_region_mem(vfud_dev *dev, unsigned region)
{
    return region < VFUD_NR_REGIONS ? dev->regions[region].mem : NULL;
}

unsigned fake_region_areas(vfud_dev *dev, unsigned region,
                           struct vfud_mmap_area *areas, unsigned max)
{
    const struct fake_region *r;
    unsigned n;

    if (region >= VFUD_NR_REGIONS || !dev->regions[region].mem) {
        return 0;
    }
    r = &dev->regions[region];
    n = r->nr_areas < max ? r->nr_areas : max;
    memcpy(areas, r->areas, n * sizeof(*areas));
    return r->nr_areas;
}

const struct vfud_pci_id *fake_pci_id(vfud_dev *dev)
{
    return &dev->id;
}

enum vfud_pci_type fake_pci_type(vfud_dev *dev)
{
    return dev->type;
}

unsigned fake_msix_vectors(vfud_dev *dev)
{
    return dev->msix_vectors;
}

bool fake_has_cap(vfud_dev *dev, const char *which)
{
    if (strcmp(which, "pm") == 0) {
        return dev->cap_pm;
    }
    if (strcmp(which, "msi") == 0) {
        return dev->cap_msi;
    }
    if (strcmp(which, "msix") == 0) {
        return dev->cap_msix;
    }
    if (strcmp(which, "express") == 0) {
        return dev->cap_express;
    }
    if (strcmp(which, "dsn") == 0) {
        return dev->cap_dsn;
    }
    return false;
}

unsigned fake_irq_count_setup(vfud_dev *dev, enum vfud_irq_type type)
{
    return type < VFUD_NR_IRQ_TYPES ? dev->irq_setup[type] : 0;
}

unsigned fake_irq_count(vfud_dev *dev, unsigned vector)
{
    return vector < FAKE_MAX_VECTORS ? atomic_load(&dev->irq_count[vector]) : 0;
}

bool fake_irq_wait(vfud_dev *dev, unsigned vector, unsigned than,
                   unsigned timeout_ms)
{
    struct timespec ts;
    bool ok;

    clock_gettime(CLOCK_REALTIME, &ts);
    ts.tv_sec += timeout_ms / 1000;
    ts.tv_nsec += (long)(timeout_ms % 1000) * 1000000;
    if (ts.tv_nsec >= 1000000000) {
        ts.tv_sec++;
        ts.tv_nsec -= 1000000000;
    }
    pthread_mutex_lock(&dev->irq_lock);
    while (!(ok = fake_irq_count(dev, vector) > than)) {
        if (pthread_cond_timedwait(&dev->irq_cond, &dev->irq_lock, &ts) ==
            ETIMEDOUT) {
            ok = fake_irq_count(dev, vector) > than;
            break;
        }
    }
    pthread_mutex_unlock(&dev->irq_lock);
    return ok;
}

unsigned fake_intx_deasserts(vfud_dev *dev)
{
    return atomic_load(&dev->intx_deasserts);
}

int fake_dev_run_watches(vfud_dev *dev, int timeout_ms)
{
    struct pollfd pfd[64];
    vfud_watch *ws[64];
    nfds_t n = 0;
    int fired = 0, r;

    for (vfud_watch *w = dev->watches; w && n < 64; w = w->next) {
        if (w->fd >= 0) {
            pfd[n].fd = w->fd;
            pfd[n].events = (short)((w->events & VFUD_EV_IN ? POLLIN : 0) |
                                    (w->events & VFUD_EV_OUT ? POLLOUT : 0));
            ws[n++] = w;
        }
    }
    r = poll(pfd, n, timeout_ms);
    for (nfds_t i = 0; r > 0 && i < n; i++) {
        unsigned ev = (pfd[i].revents & POLLIN ? VFUD_EV_IN : 0) |
                      (pfd[i].revents & POLLOUT ? VFUD_EV_OUT : 0) |
                      (pfd[i].revents & (POLLERR | POLLHUP) ? VFUD_EV_ERR : 0);

        if (ev) {
            fired++;
            if (!ws[i]->fd_fn(dev, ws[i]->fd, ev, ws[i]->opaque)) {
                vfud_watch_remove(ws[i]);
            }
        }
    }
    for (vfud_watch *w = dev->watches, *next; w; w = next) {
        next = w->next;
        if (w->fd < 0 && now_ms() >= w->due_ms) {
            fired++;
            w->due_ms = now_ms() + w->interval_ms;
            if (!w->timer_fn(dev, w->opaque)) {
                vfud_watch_remove(w);
            }
        }
    }
    return fired;
}
