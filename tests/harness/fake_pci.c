/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The fake daemon (fake_vfud.h): PCI identity, capabilities and regions as
 * realize() declares them, config-space reads, and the guest's region
 * accesses.  Config space, capability placement and the BAR and capability
 * checks are the daemon's own code (daemon/pci_config.c, pci_caps.c), and
 * the region checks follow region.c, so a declaration the daemon refuses
 * fails here too, and offsets are the ones a guest would see.
 */
#include "config.h"

#include <errno.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "fake_priv.h"

#define CAP_PM      0x01
#define CAP_MSI     0x05
#define CAP_VENDOR  0x09
#define CAP_EXPRESS 0x10
#define CAP_MSIX    0x11
#define EXT_CAP_DSN 0x03

int fk_declaring(vfud_dev *dev, const char *what)
{
    if (!dev->realizing) {
        fk_set_error(dev, "%s: only allowed from realize()", what);
        return -EBUSY;
    }
    if (!dev->pci_inited) {
        fk_set_error(dev, "%s: call vfud_pci_init() first", what);
        return -EINVAL;
    }
    return 0;
}

/* After one of the daemon's pci_cap_add_*() calls: record the capability
 * (fake_caps) or say why the daemon's code refused it. */
static int cap_done(vfud_dev *dev, unsigned id, int r)
{
    if (r < 0) {
        fk_set_error(dev, "%s", dev->pci.error[0] != '\0' ? dev->pci.error
                                                          : strerror(-r));
        return r;
    }
    if (dev->nr_caps < FAKE_MAX_CAPS) {
        dev->caps[dev->nr_caps++] = id;
    }
    return r;
}

/* ------------------------------------------------------------------------
 * Functions the daemon provides to plugins: config space is the daemon's
 * own code (daemon/pci_config.c, pci_caps.c), offsets and checks included.
 */

int vfud_pci_init(vfud_dev *dev, enum vfud_pci_type type,
                  const struct vfud_pci_id *id)
{
    if (!dev->realizing) {
        fk_set_error(dev, "vfud_pci_init: only allowed from realize()");
        return -EBUSY;
    }
    if (dev->pci_inited) {
        fk_set_error(dev, "vfud_pci_init() called twice");
        return -EEXIST;
    }
    if (id == NULL || (type != VFUD_PCI_CONVENTIONAL && type != VFUD_PCI_EXPRESS)) {
        fk_set_error(dev, "invalid PCI type or identity");
        return -EINVAL;
    }
    dev->type = type;
    dev->id = *id;
    pci_config_init(&dev->pci, type, id);
    dev->pci_inited = true;
    return 0;
}

int vfud_pci_add_cap_pm(vfud_dev *dev)
{
    int r = fk_declaring(dev, "PM");

    return r < 0 ? r : cap_done(dev, CAP_PM, pci_cap_add_pm(&dev->pci));
}

int vfud_pci_add_cap_msi(vfud_dev *dev, unsigned nr_vectors, unsigned flags)
{
    int r = fk_declaring(dev, "MSI");

    if (r < 0) {
        return r;
    }
    r = cap_done(dev, CAP_MSI, pci_cap_add_msi(&dev->pci, nr_vectors, flags));
    if (r >= 0) {
        dev->msi_vectors = nr_vectors;
    }
    return r;
}

int vfud_pci_add_cap_msix(vfud_dev *dev, unsigned nr_vectors,
                          unsigned table_bar, uint32_t table_offset,
                          unsigned pba_bar, uint32_t pba_offset)
{
    int r = fk_declaring(dev, "MSI-X");

    if (r < 0) {
        return r;
    }
    if (nr_vectors > FAKE_MAX_VECTORS) {
        fk_set_error(dev, "MSI-X: the fake counts %d vectors at most",
                     FAKE_MAX_VECTORS);
        return -EINVAL;
    }
    /* whether the table fits is checked at finalize, as the daemon does:
     * the BARs may be declared later */
    r = cap_done(dev, CAP_MSIX,
                 pci_cap_add_msix(&dev->pci, nr_vectors, table_bar,
                                  table_offset, pba_bar, pba_offset));
    if (r >= 0) {
        dev->msix_vectors = nr_vectors;
    }
    return r;
}

int vfud_pci_add_cap_express(vfud_dev *dev, unsigned flags)
{
    int r = fk_declaring(dev, "PCI Express");

    return r < 0 ? r
                 : cap_done(dev, CAP_EXPRESS,
                            pci_cap_add_express(&dev->pci, flags));
}

int vfud_pci_add_cap_vendor(vfud_dev *dev, const void *data, size_t len)
{
    int r = fk_declaring(dev, "vendor capability");

    if (r < 0) {
        return r;
    }
    if (data == NULL && len > 0) {
        return -EINVAL;
    }
    return cap_done(dev, CAP_VENDOR, pci_cap_add_vendor(&dev->pci, data, len));
}

int vfud_pci_add_ext_cap_dsn(vfud_dev *dev, uint64_t serial)
{
    int r = fk_declaring(dev, "DSN");

    return r < 0 ? r
                 : cap_done(dev, FAKE_EXT_CAP(EXT_CAP_DSN),
                            pci_ext_cap_add_dsn(&dev->pci, serial));
}

int vfud_region_add(vfud_dev *dev, unsigned index, uint64_t size,
                    unsigned flags)
{
    int r = fk_declaring(dev, "vfud_region_add");

    if (r < 0) {
        return r;
    }
    if (index >= VFUD_NR_REGIONS || index == VFUD_REGION_CONFIG) {
        fk_set_error(dev, "no region %u for a plugin", index);
        return -EINVAL;
    }
    if (dev->regions[index].size) {
        fk_set_error(dev, "region %u declared twice", index);
        return -EEXIST;
    }
    if (size == 0 || (flags & VFUD_REGION_RW) == 0) {
        fk_set_error(dev, "a region needs a size and read or write access");
        return -EINVAL;
    }
    /* as engine/region.c does, then the daemon's BAR rules */
    if (index < VFUD_REGION_ROM && index > 0 &&
        (dev->regions[index - 1].flags & VFUD_REGION_64BIT)) {
        fk_set_error(dev, "BAR %u is the upper half of a 64-bit BAR", index);
        return -EINVAL;
    }
    if (index <= VFUD_REGION_ROM) {
        r = pci_config_set_bar(&dev->pci, index, size, flags);
        if (r < 0) {
            fk_set_error(dev, "%s", dev->pci.error);
            return r;
        }
    }
    if (index == VFUD_REGION_ROM) {
        flags &= ~VFUD_REGION_WRITE;
    }
    dev->regions[index].size = size;
    dev->regions[index].flags = flags;
    return 0;
}

static int set_areas(struct fake_region *r, const struct vfud_mmap_area *areas,
                     unsigned nr_areas)
{
    uint64_t page = (uint64_t)sysconf(_SC_PAGESIZE);

    if (nr_areas > FAKE_MAX_AREAS) {
        return -EINVAL;
    }
    for (unsigned i = 0; i < nr_areas; i++) {
        if ((areas[i].offset | areas[i].size) & (page - 1) ||
            areas[i].size == 0 || areas[i].offset + areas[i].size > r->size) {
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

static struct fake_region *mmap_region(vfud_dev *dev, unsigned index)
{
    if (fk_declaring(dev, "mmap region") < 0) {
        return NULL;
    }
    if (index >= VFUD_NR_REGIONS || !dev->regions[index].size) {
        fk_set_error(dev, "mmap of undeclared region %u", index);
        return NULL;
    }
    if (dev->regions[index].mem != NULL) {
        fk_set_error(dev, "region %u has its memory already", index);
        return NULL;
    }
    return &dev->regions[index];
}

void *vfud_region_alloc_mmap(vfud_dev *dev, unsigned index,
                             const struct vfud_mmap_area *areas,
                             unsigned nr_areas)
{
    struct fake_region *r = mmap_region(dev, index);
    size_t page = (size_t)sysconf(_SC_PAGESIZE);
    size_t sz;
    void *mem;

    if (r == NULL) {
        errno = EINVAL;
        return NULL;
    }
    if (set_areas(r, areas, nr_areas) < 0) {
        fk_set_error(dev, "region %u: bad mmap areas", index);
        errno = EINVAL;
        return NULL;
    }
    sz = (r->size + page - 1) & ~(page - 1);
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
    struct fake_region *r = mmap_region(dev, index);

    (void)fd_offset;
    if (r == NULL) {
        return -EINVAL;
    }
    if (fd < 0 || addr == NULL || set_areas(r, areas, nr_areas) < 0) {
        fk_set_error(dev, "region %u: bad fd, address or mmap areas", index);
        return -EINVAL;
    }
    r->mem = addr; /* the plugin owns it: never unmapped here */
    r->mem_size = 0;
    return 0;
}

bool vfud_pci_bus_master(vfud_dev *dev)
{
    return atomic_load(&dev->bus_master);
}

/* The daemon's config space (zeros before vfud_pci_init()). */
int vfud_pci_config_read(vfud_dev *dev, unsigned offset, void *buf, size_t len)
{
    size_t size = dev->pci_inited ? dev->pci.size : PCI_CFG_SIZE_CONVENTIONAL;

    if (offset > size || len > size - offset) {
        return -EINVAL;
    }
    if (!dev->pci_inited) {
        memset(buf, 0, len);
        return 0;
    }
    pci_config_read(&dev->pci, offset, buf, len);
    return 0;
}

/* ------------------------------------------------------------------------
 * Inside the fake
 */

int fk_pci_finalize(vfud_dev *dev)
{
    int r;

    if (!dev->pci_inited) {
        fk_set_error(dev, "plugin '%s' did not call vfud_pci_init() in realize",
                     dev->plugin.name);
        return -EINVAL;
    }
    /* as engine/device.c does after realize */
    pci_config_set_intx(&dev->pci, dev->irq_setup[VFUD_IRQ_INTX] > 0);
    r = pci_config_finalize(&dev->pci);
    if (r < 0) {
        fk_set_error(dev, "invalid PCI configuration: %s",
                     dev->pci.error[0] != '\0' ? dev->pci.error : strerror(-r));
    }
    return r;
}

void fk_regions_free(vfud_dev *dev)
{
    for (int i = 0; i < VFUD_NR_REGIONS; i++) {
        if (dev->regions[i].mem != NULL && dev->regions[i].mem_size) {
            munmap(dev->regions[i].mem, dev->regions[i].mem_size);
        }
        dev->regions[i].mem = NULL;
    }
}

/* ------------------------------------------------------------------------
 * Test side
 */

/* Is [off, off+len) inside one of the region's mmap areas? */
static bool in_area(const struct fake_region *r, uint64_t off, size_t len)
{
    if (r->mem == NULL) {
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

/* Region access as the daemon serves REGION_READ/WRITE. */
static int region_access(vfud_dev *dev, unsigned region, uint64_t off,
                         void *buf, size_t len, bool is_write)
{
    struct fake_region *r;
    vfud_dev *prev;
    int ret;

    if (region >= VFUD_NR_REGIONS || !dev->regions[region].size) {
        return -EINVAL;
    }
    r = &dev->regions[region];
    if (len == 0 || len > (1u << 20) || off > r->size || len > r->size - off ||
        !(r->flags & (is_write ? VFUD_REGION_WRITE : VFUD_REGION_READ))) {
        return -EINVAL;
    }
    if (in_area(r, off, len)) {
        if (is_write) {
            memcpy(r->mem + off, buf, len);
        } else {
            memcpy(buf, r->mem + off, len);
        }
        return 0;
    }
    if (is_write ? dev->plugin.region_write == NULL
                 : dev->plugin.region_read == NULL) {
        return -EINVAL;
    }
    prev = fk_enter(dev);
    ret = is_write ? dev->plugin.region_write(dev, region, off, buf, len)
                   : dev->plugin.region_read(dev, region, off, buf, len);
    fk_run_deferred(dev);
    fk_leave(prev);
    return ret;
}

int fake_region_read(vfud_dev *dev, unsigned region, uint64_t off, void *buf,
                     size_t len)
{
    return region_access(dev, region, off, buf, len, false);
}

int fake_region_write(vfud_dev *dev, unsigned region, uint64_t off,
                      const void *buf, size_t len)
{
    return region_access(dev, region, off, (void *)buf, len, true);
}

uint8_t fake_read8(vfud_dev *dev, unsigned region, uint64_t off)
{
    uint8_t v = 0xff;

    (void)fake_region_read(dev, region, off, &v, 1);
    return v;
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

void fake_write8(vfud_dev *dev, unsigned region, uint64_t off, uint8_t v)
{
    (void)fake_region_write(dev, region, off, &v, 1);
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

    if (region >= VFUD_NR_REGIONS || dev->regions[region].mem == NULL) {
        return 0;
    }
    r = &dev->regions[region];
    n = r->nr_areas < max ? r->nr_areas : max;
    memcpy(areas, r->areas, n * sizeof(*areas));
    return r->nr_areas;
}

const struct vfud_pci_id *fake_pci_id(vfud_dev *dev)
{
    return dev->pci_inited ? &dev->id : NULL;
}

enum vfud_pci_type fake_pci_type(vfud_dev *dev)
{
    return dev->type;
}

unsigned fake_msix_vectors(vfud_dev *dev)
{
    return dev->msix_vectors;
}

unsigned fake_caps(vfud_dev *dev, unsigned *ids, unsigned max)
{
    unsigned n = dev->nr_caps < max ? dev->nr_caps : max;

    memcpy(ids, dev->caps, n * sizeof(*ids));
    return dev->nr_caps;
}

bool fake_has_cap(vfud_dev *dev, const char *which)
{
    static const struct {
        const char *name;
        unsigned id;
    } names[] = {
        { "pm", CAP_PM }, { "msi", CAP_MSI }, { "msix", CAP_MSIX },
        { "express", CAP_EXPRESS }, { "vendor", CAP_VENDOR },
        { "dsn", FAKE_EXT_CAP(EXT_CAP_DSN) },
    };

    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
        if (strcmp(which, names[i].name) != 0) {
            continue;
        }
        for (unsigned c = 0; c < dev->nr_caps; c++) {
            if (dev->caps[c] == names[i].id) {
                return true;
            }
        }
    }
    return false;
}
