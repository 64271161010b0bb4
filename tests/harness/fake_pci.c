/*
 * The fake daemon (fake_vfud.h): PCI identity, capabilities and regions as
 * realize() declares them, config-space reads, and the guest's region
 * accesses.  The checks are the daemon's (daemon/pci_config.c, region.c),
 * so a declaration the daemon refuses fails here too.
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

static bool is_pow2(uint64_t x)
{
    return x != 0 && (x & (x - 1)) == 0;
}

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

/* Record a capability; returns a config-space offset, as the daemon does
 * (the offsets mean nothing here). */
static int add_cap(vfud_dev *dev, unsigned id, const char *what)
{
    int r = fk_declaring(dev, what);

    if (r < 0) {
        return r;
    }
    for (unsigned i = 0; i < dev->nr_caps; i++) {
        if (dev->caps[i] == id && id != CAP_VENDOR) {
            fk_set_error(dev, "%s: capability added twice", what);
            return -EEXIST;
        }
    }
    if (dev->nr_caps == FAKE_MAX_CAPS) {
        fk_set_error(dev, "%s: no room for another capability", what);
        return -ENOSPC;
    }
    dev->caps[dev->nr_caps++] = id;
    return (id & FAKE_EXT_CAP(0) ? 0x100 : 0x40) + 0x10 * (int)dev->nr_caps;
}

/* ------------------------------------------------------------------------
 * Functions the daemon provides to plugins
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
    dev->pci_inited = true;
    return 0;
}

int vfud_pci_add_cap_pm(vfud_dev *dev)
{
    return add_cap(dev, CAP_PM, "PM");
}

int vfud_pci_add_cap_msi(vfud_dev *dev, unsigned nr_vectors, unsigned flags)
{
    int r;

    (void)flags;
    if (nr_vectors == 0 || nr_vectors > 32 || !is_pow2(nr_vectors)) {
        fk_set_error(dev, "MSI: %u vectors is not a power of two up to 32",
                     nr_vectors);
        return -EINVAL;
    }
    r = add_cap(dev, CAP_MSI, "MSI");
    if (r >= 0) {
        dev->msi_vectors = nr_vectors;
    }
    return r;
}

int vfud_pci_add_cap_msix(vfud_dev *dev, unsigned nr_vectors,
                          unsigned table_bar, uint32_t table_offset,
                          unsigned pba_bar, uint32_t pba_offset)
{
    int r;

    if (nr_vectors == 0 || nr_vectors > FAKE_MAX_VECTORS ||
        table_bar > VFUD_REGION_BAR5 || pba_bar > VFUD_REGION_BAR5 ||
        ((table_offset | pba_offset) & 7)) {
        fk_set_error(dev, "MSI-X: bad vector count, BAR or offset");
        return -EINVAL;
    }
    r = add_cap(dev, CAP_MSIX, "MSI-X");
    if (r >= 0) {
        /* whether the table fits is checked after realize, as the daemon
         * does: the BARs may be declared later */
        dev->msix_vectors = nr_vectors;
        dev->msix_table_bar = table_bar;
        dev->msix_table_offset = table_offset;
        dev->msix_pba_bar = pba_bar;
        dev->msix_pba_offset = pba_offset;
    }
    return r;
}

int vfud_pci_add_cap_express(vfud_dev *dev, unsigned flags)
{
    (void)flags;
    if (dev->pci_inited && dev->type != VFUD_PCI_EXPRESS) {
        fk_set_error(dev, "PCI Express capability on a conventional device");
        return -EINVAL;
    }
    return add_cap(dev, CAP_EXPRESS, "PCI Express");
}

int vfud_pci_add_cap_vendor(vfud_dev *dev, const void *data, size_t len)
{
    if (data == NULL && len > 0) {
        return -EINVAL;
    }
    if (len > 250) {
        fk_set_error(dev, "vendor capability: %zu bytes is too long", len);
        return -EINVAL;
    }
    return add_cap(dev, CAP_VENDOR, "vendor capability");
}

int vfud_pci_add_ext_cap_dsn(vfud_dev *dev, uint64_t serial)
{
    (void)serial;
    if (dev->pci_inited && dev->type != VFUD_PCI_EXPRESS) {
        fk_set_error(dev, "extended capabilities need PCI Express");
        return -EINVAL;
    }
    return add_cap(dev, FAKE_EXT_CAP(EXT_CAP_DSN), "DSN");
}

/* The daemon's BAR rules (pci_config_set_bar). */
static int check_bar(vfud_dev *dev, unsigned index, uint64_t size,
                     unsigned flags)
{
    bool io = flags & VFUD_REGION_IO;
    bool is64 = flags & VFUD_REGION_64BIT;
    uint64_t min = io ? 4 : 16;
    uint64_t max = io ? 256 : is64 ? UINT64_C(1) << 63 : UINT64_C(1) << 31;

    if (index == VFUD_REGION_ROM) {
        if ((flags & (VFUD_REGION_IO | VFUD_REGION_64BIT)) || !is_pow2(size) ||
            size < 2048 || size > (UINT64_C(1) << 31)) {
            fk_set_error(dev, "ROM: 32-bit memory, a power of two from 2 KiB");
            return -EINVAL;
        }
        return 0;
    }
    if (index > 0 && (dev->regions[index - 1].flags & VFUD_REGION_64BIT)) {
        fk_set_error(dev, "BAR %u is the upper half of a 64-bit BAR", index);
        return -EINVAL;
    }
    if (io && (flags & (VFUD_REGION_64BIT | VFUD_REGION_PREFETCH))) {
        fk_set_error(dev, "I/O BAR %u cannot be 64-bit or prefetchable", index);
        return -EINVAL;
    }
    if (!is_pow2(size) || size < min || size > max) {
        fk_set_error(dev, "BAR %u: size %#llx is not a power of two between "
                     "%#llx and %#llx", index, (unsigned long long)size,
                     (unsigned long long)min, (unsigned long long)max);
        return -EINVAL;
    }
    if (is64 && (index == VFUD_REGION_BAR5 || dev->regions[index + 1].size)) {
        fk_set_error(dev, "64-bit BAR %u needs slot %u free", index, index + 1);
        return -EINVAL;
    }
    return 0;
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
    if (index <= VFUD_REGION_ROM && (r = check_bar(dev, index, size, flags)) < 0) {
        return r;
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

/* The identity part of config space; the rest reads as zeros. */
int vfud_pci_config_read(vfud_dev *dev, unsigned offset, void *buf, size_t len)
{
    uint8_t cfg[4096] = { 0 };
    size_t size = dev->type == VFUD_PCI_EXPRESS ? 4096 : 256;

    if (offset > size || len > size - offset) {
        return -EINVAL;
    }
    memcpy(cfg + 0x00, &dev->id.vendor_id, 2);
    memcpy(cfg + 0x02, &dev->id.device_id, 2);
    cfg[0x08] = dev->id.revision;
    cfg[0x09] = (uint8_t)dev->id.class_code;
    cfg[0x0a] = (uint8_t)(dev->id.class_code >> 8);
    cfg[0x0b] = (uint8_t)(dev->id.class_code >> 16);
    memcpy(cfg + 0x2c, &dev->id.subsys_vendor_id, 2);
    memcpy(cfg + 0x2e, &dev->id.subsys_id, 2);
    memcpy(buf, cfg + offset, len);
    return 0;
}

/* ------------------------------------------------------------------------
 * Inside the fake
 */

static bool msix_in_bar(vfud_dev *dev, const char *what, unsigned bar,
                        uint64_t offset, uint64_t size)
{
    const struct fake_region *r = &dev->regions[bar];

    if (r->size == 0 || (r->flags & VFUD_REGION_IO) || offset + size > r->size) {
        fk_set_error(dev, "MSI-X %s does not fit in memory BAR %u", what, bar);
        return false;
    }
    return true;
}

int fk_pci_finalize(vfud_dev *dev)
{
    uint64_t table_size = 16ull * dev->msix_vectors;
    uint64_t pba_size = 8ull * ((dev->msix_vectors + 63) / 64);

    if (!dev->pci_inited) {
        fk_set_error(dev, "plugin '%s' did not call vfud_pci_init() in realize",
                     dev->plugin.name);
        return -EINVAL;
    }
    if (dev->msix_vectors == 0) {
        return 0;
    }
    if (!msix_in_bar(dev, "table", dev->msix_table_bar,
                     dev->msix_table_offset, table_size) ||
        !msix_in_bar(dev, "PBA", dev->msix_pba_bar, dev->msix_pba_offset,
                     pba_size)) {
        return -EINVAL;
    }
    if (dev->msix_table_bar == dev->msix_pba_bar &&
        dev->msix_table_offset < dev->msix_pba_offset + pba_size &&
        dev->msix_pba_offset < dev->msix_table_offset + table_size) {
        fk_set_error(dev, "MSI-X table and PBA overlap");
        return -EINVAL;
    }
    return 0;
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
