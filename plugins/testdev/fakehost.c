/* fakehost: see fakehost.h. */
#include <config.h>

#include <dlfcn.h>
#include <errno.h>
#include <inttypes.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/mman.h>

#include "fakehost.h"

const struct vfud_plugin *fake_load(const char *path, void **handle)
{
    struct vfud_plugin *(*init)(void);

    *handle = dlopen(path, RTLD_NOW | RTLD_LOCAL);
    if (*handle == NULL) {
        fprintf(stderr, "fakehost: %s\n", dlerror());
        return NULL;
    }
    *(void **)&init = dlsym(*handle, "vfud_plugin_init");
    if (init == NULL) {
        fprintf(stderr, "fakehost: %s: no vfud_plugin_init\n", path);
        return NULL;
    }
    return init();
}

static void *fake_worker(void *arg)
{
    vfud_dev *dev = arg;

    pthread_mutex_lock(&dev->lock);
    for (;;) {
        while (!dev->stopping && dev->job_head == dev->job_tail) {
            pthread_cond_wait(&dev->cond, &dev->lock);
        }
        if (dev->job_head == dev->job_tail) {
            break;
        }
        unsigned i = dev->job_head % FAKE_MAX_JOBS;
        dev->job_running = true;
        pthread_mutex_unlock(&dev->lock);
        dev->jobs[i].fn(dev, dev->jobs[i].opaque);
        pthread_mutex_lock(&dev->lock);
        dev->job_running = false;
        dev->job_head++;
        pthread_cond_broadcast(&dev->cond);
    }
    pthread_mutex_unlock(&dev->lock);
    return NULL;
}

vfud_dev *fake_dev_new(const struct vfud_plugin *p, const char *name)
{
    vfud_dev *dev = calloc(1, sizeof(*dev));

    if (dev == NULL) {
        return NULL;
    }
    dev->plugin = p;
    snprintf(dev->name, sizeof(dev->name), "%s", name);
    pthread_mutex_init(&dev->lock, NULL);
    pthread_cond_init(&dev->cond, NULL);
    if (p->create != NULL && p->create(dev) < 0) {
        free(dev);
        return NULL;
    }
    return dev;
}

void fake_dev_free(vfud_dev *dev)
{
    if (dev->plugin->destroy != NULL) {
        dev->plugin->destroy(dev);
    }
    if (dev->worker_started) {
        pthread_mutex_lock(&dev->lock);
        dev->stopping = true;
        pthread_cond_broadcast(&dev->cond);
        pthread_mutex_unlock(&dev->lock);
        pthread_join(dev->worker, NULL);
    }
    for (unsigned i = 0; i < VFUD_NR_REGIONS; i++) {
        if (dev->region_mem[i] != NULL) {
            munmap(dev->region_mem[i], dev->region_size[i]);
        }
    }
    free(dev);
}

int fake_configure(vfud_dev *dev, ...)
{
    va_list ap;
    const char *k, *v;
    int r = 0;

    va_start(ap, dev);
    while (r == 0 && (k = va_arg(ap, const char *)) != NULL) {
        v = va_arg(ap, const char *);
        r = dev->plugin->config(dev, k, v);
    }
    va_end(ap);
    if (r == 0 && dev->plugin->config_complete != NULL) {
        r = dev->plugin->config_complete(dev);
    }
    return r;
}

void fake_poll(vfud_dev *dev)
{
    for (unsigned i = 0; i < FAKE_MAX_WATCHES; i++) {
        struct vfud_watch *w = &dev->watches[i];
        struct pollfd pfd;
        bool keep;

        if (!w->used) {
            continue;
        }
        if (w->fd < 0) {
            keep = w->timer_fn(dev, w->opaque);
        } else {
            pfd = (struct pollfd){ .fd = w->fd, .events = POLLIN };
            if (poll(&pfd, 1, 0) != 1) {
                continue;
            }
            keep = w->fd_fn(dev, w->fd,
                            ((pfd.revents & POLLIN) ? VFUD_EV_IN : 0) |
                            ((pfd.revents & (POLLERR | POLLHUP)) ? VFUD_EV_ERR : 0),
                            w->opaque);
        }
        if (!keep) {
            w->used = false;
        }
    }
}

unsigned fake_nr_watches(vfud_dev *dev)
{
    unsigned n = 0;

    for (unsigned i = 0; i < FAKE_MAX_WATCHES; i++) {
        n += dev->watches[i].used;
    }
    return n;
}

int fake_save(vfud_dev *dev, uint8_t **data, size_t *len)
{
    struct vfud_mig_stream s = { 0 };
    int r = dev->plugin->save_state(dev, &s);

    if (r < 0) {
        free(s.data);
        return r;
    }
    *data = s.data;
    *len = s.len;
    return 0;
}

/* ---- The plugin API ---- */

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

    dev->nr_logs++;
    if (getenv("FAKEHOST_VERBOSE") == NULL) {
        return;
    }
    fprintf(stderr, "[%s] <%d> ", dev->name, level);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
}

void vfud_error(vfud_dev *dev, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(dev->error, sizeof(dev->error), fmt, ap);
    va_end(ap);
}

bool vfud_debug_enabled(const vfud_dev *dev)
{
    return false;
}

int vfud_parse_bool(const char *s, bool *out)
{
    if (!strcasecmp(s, "true") || !strcasecmp(s, "yes") || !strcmp(s, "1") ||
        !strcasecmp(s, "on")) {
        *out = true;
    } else if (!strcasecmp(s, "false") || !strcasecmp(s, "no") ||
               !strcmp(s, "0") || !strcasecmp(s, "off")) {
        *out = false;
    } else {
        return -EINVAL;
    }
    return 0;
}

int vfud_parse_u64(const char *s, uint64_t *out)
{
    char *end;

    if (*s == '\0' || *s == '-') {
        return -EINVAL;
    }
    errno = 0;
    *out = strtoull(s, &end, 0);
    if (errno != 0) {
        return -ERANGE;
    }
    return *end == '\0' ? 0 : -EINVAL;
}

int vfud_parse_size(const char *s, uint64_t *out)
{
    return vfud_parse_u64(s, out);
}

int vfud_pci_init(vfud_dev *dev, enum vfud_pci_type type, const struct vfud_pci_id *id)
{
    dev->pci_done = true;
    dev->pci_type = type;
    dev->id = *id;
    return 0;
}

static int fake_add_cap(vfud_dev *dev, int id)
{
    if (dev->nr_caps == FAKE_MAX_CAPS) {
        return -ENOSPC;
    }
    dev->caps[dev->nr_caps++] = id;
    return 0x40 + 0x10 * (int)dev->nr_caps;
}

int vfud_pci_add_cap_pm(vfud_dev *dev)
{
    return fake_add_cap(dev, 0x01);
}

int vfud_pci_add_cap_msi(vfud_dev *dev, unsigned nr_vectors, unsigned flags)
{
    return fake_add_cap(dev, 0x05);
}

int vfud_pci_add_cap_msix(vfud_dev *dev, unsigned nr_vectors, unsigned table_bar,
                          uint32_t table_offset, unsigned pba_bar, uint32_t pba_offset)
{
    dev->msix_vectors = nr_vectors;
    return fake_add_cap(dev, 0x11);
}

int vfud_pci_add_cap_express(vfud_dev *dev, unsigned flags)
{
    return fake_add_cap(dev, 0x10);
}

int vfud_pci_add_cap_vendor(vfud_dev *dev, const void *data, size_t len)
{
    return fake_add_cap(dev, 0x09);
}

int vfud_pci_add_ext_cap_dsn(vfud_dev *dev, uint64_t serial)
{
    return fake_add_cap(dev, 0x1000 | 0x03);
}

int vfud_region_add(vfud_dev *dev, unsigned index, uint64_t size, unsigned flags)
{
    if (index >= VFUD_NR_REGIONS || dev->region_size[index] != 0) {
        return -EINVAL;
    }
    dev->region_size[index] = size;
    dev->region_flags[index] = flags;
    return 0;
}

void *vfud_region_alloc_mmap(vfud_dev *dev, unsigned index,
                             const struct vfud_mmap_area *areas, unsigned nr_areas)
{
    void *p;

    if (index >= VFUD_NR_REGIONS || dev->region_size[index] == 0 || nr_areas > 4) {
        errno = EINVAL;
        return NULL;
    }
    p = mmap(NULL, dev->region_size[index], PROT_READ | PROT_WRITE,
             MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED) {
        return NULL;
    }
    dev->region_mem[index] = p;
    memcpy(dev->areas[index], areas, nr_areas * sizeof(*areas));
    dev->nr_areas[index] = nr_areas;
    return p;
}

int vfud_region_set_mmap_fd(vfud_dev *dev, unsigned index, int fd, uint64_t fd_offset,
                            void *addr, const struct vfud_mmap_area *areas,
                            unsigned nr_areas)
{
    return -ENOTSUP;
}

int vfud_irq_setup(vfud_dev *dev, enum vfud_irq_type type, unsigned count)
{
    if (type >= VFUD_NR_IRQ_TYPES) {
        return -EINVAL;
    }
    dev->irq_count[type] = count;
    return 0;
}

int vfud_irq_trigger(vfud_dev *dev, unsigned n)
{
    unsigned max = dev->msix_vectors ? dev->msix_vectors : dev->irq_count[VFUD_IRQ_INTX];

    if (n >= max || n >= 8) {
        return -EINVAL;
    }
    pthread_mutex_lock(&dev->lock);
    dev->triggers[n]++;
    if (dev->msix_vectors == 0) {
        dev->intx = true;
    }
    pthread_mutex_unlock(&dev->lock);
    return dev->irq_result;
}

void vfud_intx_deassert(vfud_dev *dev)
{
    pthread_mutex_lock(&dev->lock);
    dev->intx = false;
    pthread_mutex_unlock(&dev->lock);
}

int vfud_irq_signal(vfud_dev *dev, enum vfud_irq_type type)
{
    if ((type != VFUD_IRQ_ERR && type != VFUD_IRQ_REQ) || dev->irq_count[type] == 0) {
        return -EINVAL;
    }
    dev->signals[type]++;
    return 0;
}

static int fake_guest_range(uint64_t iova, size_t len)
{
    if (iova < FAKE_GUEST_BASE || iova - FAKE_GUEST_BASE > FAKE_GUEST_SIZE ||
        len > FAKE_GUEST_SIZE - (iova - FAKE_GUEST_BASE)) {
        return -EFAULT;
    }
    return 0;
}

int vfud_dma_read(vfud_dev *dev, uint64_t iova, void *buf, size_t len)
{
    int r = fake_guest_range(iova, len);

    if (r == 0) {
        memcpy(buf, dev->guest + (iova - FAKE_GUEST_BASE), len);
    }
    return r;
}

int vfud_dma_write(vfud_dev *dev, uint64_t iova, const void *buf, size_t len)
{
    int r = fake_guest_range(iova, len);

    if (r == 0) {
        memcpy(dev->guest + (iova - FAKE_GUEST_BASE), buf, len);
    }
    return r;
}

int vfud_dma_sg_get(vfud_dev *dev, uint64_t iova, size_t len, unsigned prot,
                    struct vfud_sg *sg, unsigned max_sg)
{
    return -EREMOTE;
}

void vfud_dma_sg_put(vfud_dev *dev, struct vfud_sg *sg, unsigned nr_sg)
{
}

void vfud_dma_mark_dirty(vfud_dev *dev, uint64_t iova, uint64_t len)
{
}

bool vfud_pci_bus_master(vfud_dev *dev)
{
    return true;
}

int vfud_pci_config_read(vfud_dev *dev, unsigned offset, void *buf, size_t len)
{
    memset(buf, 0, len);
    return 0;
}

int vfud_defer(vfud_dev *dev, vfud_work_fn fn, void *opaque)
{
    fn(dev, opaque);
    return 0;
}

int vfud_submit(vfud_dev *dev, vfud_work_fn fn, void *opaque)
{
    int r = 0;

    pthread_mutex_lock(&dev->lock);
    if (!dev->worker_started) {
        if (pthread_create(&dev->worker, NULL, fake_worker, dev) != 0) {
            r = -EAGAIN;
        }
        dev->worker_started = r == 0;
    }
    if (r == 0 && dev->job_tail - dev->job_head == FAKE_MAX_JOBS) {
        r = -EAGAIN;
    }
    if (r == 0) {
        dev->jobs[dev->job_tail % FAKE_MAX_JOBS].fn = fn;
        dev->jobs[dev->job_tail % FAKE_MAX_JOBS].opaque = opaque;
        dev->job_tail++;
        pthread_cond_broadcast(&dev->cond);
    }
    pthread_mutex_unlock(&dev->lock);
    return r;
}

void vfud_submit_drain(vfud_dev *dev)
{
    pthread_mutex_lock(&dev->lock);
    unsigned target = dev->job_tail;
    while ((int)(target - dev->job_head) > 0) {
        pthread_cond_wait(&dev->cond, &dev->lock);
    }
    pthread_mutex_unlock(&dev->lock);
}

static vfud_watch *fake_watch_new(vfud_dev *dev)
{
    for (unsigned i = 0; i < FAKE_MAX_WATCHES; i++) {
        if (!dev->watches[i].used) {
            dev->watches[i] = (struct vfud_watch){ .dev = dev, .fd = -1, .used = true };
            return &dev->watches[i];
        }
    }
    return NULL;
}

vfud_watch *vfud_watch_fd(vfud_dev *dev, int fd, unsigned events, vfud_fd_fn fn,
                          void *opaque)
{
    vfud_watch *w = fake_watch_new(dev);

    if (w != NULL) {
        w->fd = fd;
        w->fd_fn = fn;
        w->opaque = opaque;
    }
    return w;
}

vfud_watch *vfud_watch_timer(vfud_dev *dev, unsigned interval_ms, vfud_timer_fn fn,
                             void *opaque)
{
    vfud_watch *w = fake_watch_new(dev);

    if (w != NULL) {
        w->interval_ms = interval_ms;
        w->timer_fn = fn;
        w->opaque = opaque;
    }
    return w;
}

void vfud_watch_remove(vfud_watch *w)
{
    if (w != NULL) {
        w->used = false;
    }
}

int vfud_mig_write(vfud_mig_stream *out, const void *data, size_t len)
{
    if (out->len + len > out->cap) {
        size_t cap = out->cap * 2 > out->len + len ? out->cap * 2 : out->len + len;
        uint8_t *p = realloc(out->data, cap);

        if (p == NULL) {
            return -ENOMEM;
        }
        out->data = p;
        out->cap = cap;
    }
    memcpy(out->data + out->len, data, len);
    out->len += len;
    return 0;
}
