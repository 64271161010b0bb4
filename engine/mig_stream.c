/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Writing and reading the migration stream (format in mig_stream.h).
 *
 * Loading validates everything before it changes anything: the digest,
 * the header (ours, not newer, same plugin, a state version the plugin can
 * read, the same device layout), then every section's shape.  Only then is
 * the state applied: the daemon's parts first (the plugin's load_state may
 * want to look at config space), keeping a copy, then the plugin's; if the
 * plugin refuses, the copy goes back.
 */
#include "config.h"

#include "device.h"
#include "mig_stream.h"

#include <errno.h>
#include <stdarg.h>
#include <string.h>

static const uint8_t mig_magic[8] = { 'v', 'f', 'u', 'd', '-', 'm', 'i', 'g' };

#define NAME_SIZE 32u
#define HDR_TOTAL 16u /* offset of the total length in the header */

enum mig_section {
    SEC_CONFIG = 1,
    SEC_IRQ = 2,
    SEC_REGION = 3,
    SEC_PLUGIN = 4,
};

#define SEC_F_OPTIONAL (1u << 0)
#define SEC_HEADER_SIZE 16u

#define IRQ_F_INTX_ASSERTED  (1u << 0)
#define IRQ_F_INTX_SIGNALLED (1u << 1)
#define MSIX_ENTRY 16u

/* Where save_state() writes (plugin.h's opaque vfud_mig_stream). */
struct vfud_mig_stream {
    GByteArray *buf;
    size_t room; /* bytes the plugin may still write */
};

VFUD_EXPORT int vfud_mig_write(vfud_mig_stream *out, const void *data, size_t len)
{
    if (out == NULL || (data == NULL && len > 0)) {
        return -EINVAL;
    }
    if (len > out->room) {
        out->room = 0;
        return -EFBIG;
    }
    g_byte_array_append(out->buf, data, (guint)len);
    out->room -= len;
    return 0;
}

/* ------------------------------------------------------------------------
 * Little-endian writing and reading
 */
static void put_u16(GByteArray *b, uint16_t v)
{
    v = GUINT16_TO_LE(v);
    g_byte_array_append(b, (const guint8 *)&v, sizeof(v));
}

static void put_u32(GByteArray *b, uint32_t v)
{
    v = GUINT32_TO_LE(v);
    g_byte_array_append(b, (const guint8 *)&v, sizeof(v));
}

static void put_u64(GByteArray *b, uint64_t v)
{
    v = GUINT64_TO_LE(v);
    g_byte_array_append(b, (const guint8 *)&v, sizeof(v));
}

static void put_bytes(GByteArray *b, const void *p, size_t n)
{
    g_byte_array_append(b, p, (guint)n);
}

static uint16_t get_u16(const uint8_t *p)
{
    uint16_t v;

    memcpy(&v, p, sizeof(v));
    return GUINT16_FROM_LE(v);
}

static uint32_t get_u32(const uint8_t *p)
{
    uint32_t v;

    memcpy(&v, p, sizeof(v));
    return GUINT32_FROM_LE(v);
}

static uint64_t get_u64(const uint8_t *p)
{
    uint64_t v;

    memcpy(&v, p, sizeof(v));
    return GUINT64_FROM_LE(v);
}

/* A section's header; returns where its length goes (see end_section). */
static guint begin_section(GByteArray *b, uint32_t type)
{
    guint at = b->len;

    put_u32(b, type);
    put_u32(b, 0);
    put_u64(b, 0);
    return at;
}

static void end_section(GByteArray *b, guint at)
{
    uint64_t len = GUINT64_TO_LE((uint64_t)(b->len - at - SEC_HEADER_SIZE));

    memcpy(b->data + at + 8, &len, sizeof(len));
}

/* ------------------------------------------------------------------------
 * The device's identity and layout
 */
static void identity(const vfud_dev *dev, uint16_t ids[4], uint32_t *class_rev)
{
    const uint8_t *c = dev->pci.reset_cfg;

    ids[0] = (uint16_t)(c[0x00] | c[0x01] << 8);
    ids[1] = (uint16_t)(c[0x02] | c[0x03] << 8);
    ids[2] = (uint16_t)(c[0x2c] | c[0x2d] << 8);
    ids[3] = (uint16_t)(c[0x2e] | c[0x2f] << 8);
    *class_rev = (uint32_t)c[0x0b] << 24 | (uint32_t)c[0x0a] << 16 |
                 (uint32_t)c[0x09] << 8 | c[0x08];
}

static void ck_u64(GChecksum *ck, uint64_t v)
{
    v = GUINT64_TO_LE(v);
    g_checksum_update(ck, (const guchar *)&v, sizeof(v));
}

/* What must be equal on both sides for a stream to make sense: the
 * guest-visible shape of the device. */
static void fingerprint(const vfud_dev *dev, uint8_t out[32])
{
    const struct pci_config *pc = &dev->pci;
    GChecksum *ck = g_checksum_new(G_CHECKSUM_SHA256);
    gsize len = 32;

    g_checksum_update(ck, (const guchar *)"vfiouserd device layout 1", -1);
    ck_u64(ck, pc->type);
    ck_u64(ck, pc->size);
    g_checksum_update(ck, pc->reset_cfg, pc->size);
    g_checksum_update(ck, pc->wmask, pc->size);
    g_checksum_update(ck, pc->w1cmask, pc->size);
    for (unsigned i = 0; i < VFUD_NR_REGIONS; i++) {
        const struct region *r = &dev->regions[i];

        ck_u64(ck, r->size);
        ck_u64(ck, r->flags);
        ck_u64(ck, r->fd >= 0);
        ck_u64(ck, r->own_mem);
        ck_u64(ck, r->fd >= 0 ? r->nr_areas : 0);
        for (unsigned a = 0; r->fd >= 0 && a < r->nr_areas; a++) {
            ck_u64(ck, r->areas[a].offset);
            ck_u64(ck, r->areas[a].size);
        }
    }
    for (unsigned t = 0; t < VFUD_NR_IRQ_TYPES; t++) {
        ck_u64(ck, dev->irq.count[t]);
    }
    g_checksum_get_digest(ck, out, &len);
    g_checksum_free(ck);
}

static bool region_migrates(const struct region *r)
{
    return r->own_mem && r->mem != NULL;
}

static uint64_t irq_body_size(const vfud_dev *dev)
{
    uint64_t n = 4 * VFUD_NR_IRQ_TYPES + 4;

    for (unsigned t = 0; t < VFUD_NR_IRQ_TYPES; t++) {
        n += dev->irq.count[t];
    }
    return n + (uint64_t)MSIX_ENTRY * dev->irq.count[VFUD_IRQ_MSIX];
}

uint64_t mig_stream_overhead(vfud_dev *dev)
{
    uint64_t n = MIG_HEADER_SIZE + MIG_DIGEST_SIZE;

    n += SEC_HEADER_SIZE + dev->pci.size;
    n += SEC_HEADER_SIZE + irq_body_size(dev);
    for (unsigned i = 0; i < VFUD_NR_REGIONS; i++) {
        if (region_migrates(&dev->regions[i])) {
            n += SEC_HEADER_SIZE + 16 + dev->regions[i].size;
        }
    }
    return n + SEC_HEADER_SIZE;
}

/* ------------------------------------------------------------------------
 * Saving
 */
static void put_header(vfud_dev *dev, GByteArray *b)
{
    char name[NAME_SIZE] = { 0 };
    uint16_t ids[4];
    uint32_t class_rev;
    uint8_t fp[32];

    identity(dev, ids, &class_rev);
    fingerprint(dev, fp);
    g_strlcpy(name, dev->ops->name, sizeof(name));
    put_bytes(b, mig_magic, sizeof(mig_magic));
    put_u32(b, MIG_FORMAT_VERSION);
    put_u32(b, MIG_HEADER_SIZE);
    put_u64(b, 0); /* total, filled in at the end */
    put_bytes(b, name, sizeof(name));
    put_u32(b, dev->ops->state_version);
    put_u32(b, 0);
    for (unsigned i = 0; i < 4; i++) {
        put_u16(b, ids[i]);
    }
    put_u32(b, class_rev);
    put_u32(b, dev->pci.size);
    put_bytes(b, fp, sizeof(fp));
    put_u64(b, 0); /* plugin bytes, filled in later */
    put_u64(b, 0);
    g_assert(b->len == MIG_HEADER_SIZE);
}

static void put_irq(vfud_dev *dev, GByteArray *b)
{
    struct irq_state *irq = &dev->irq;
    uint32_t bits = 0;

    g_mutex_lock(&irq->lock);
    for (unsigned t = 0; t < VFUD_NR_IRQ_TYPES; t++) {
        put_u32(b, irq->count[t]);
    }
    bits |= irq->intx_asserted ? IRQ_F_INTX_ASSERTED : 0;
    bits |= irq->intx_signalled ? IRQ_F_INTX_SIGNALLED : 0;
    put_u32(b, bits);
    for (unsigned t = 0; t < VFUD_NR_IRQ_TYPES; t++) {
        for (unsigned i = 0; i < irq->count[t]; i++) {
            uint8_t p = irq->vec[t][i].pending ? 1 : 0;

            put_bytes(b, &p, 1);
        }
    }
    if (irq->count[VFUD_IRQ_MSIX] > 0) {
        put_bytes(b, irq->msix_table, (size_t)MSIX_ENTRY * irq->count[VFUD_IRQ_MSIX]);
    }
    g_mutex_unlock(&irq->lock);
}

int mig_stream_save(vfud_dev *dev, GByteArray **out, uint64_t *plugin_len)
{
    GByteArray *b = g_byte_array_sized_new((guint)mig_stream_overhead(dev) + 4096);
    struct vfud_mig_stream s = { .buf = b };
    uint8_t digest[32];
    gsize dlen = sizeof(digest);
    GChecksum *ck;
    guint at, plugin_at;
    uint64_t v;
    int r;

    put_header(dev, b);

    at = begin_section(b, SEC_CONFIG);
    irq_sync_config(dev); /* device-side status bits, as a read shows them */
    put_bytes(b, dev->pci.cfg, dev->pci.size);
    end_section(b, at);

    at = begin_section(b, SEC_IRQ);
    put_irq(dev, b);
    end_section(b, at);

    for (unsigned i = 0; i < VFUD_NR_REGIONS; i++) {
        const struct region *rg = &dev->regions[i];

        if (!region_migrates(rg)) {
            continue;
        }
        at = begin_section(b, SEC_REGION);
        put_u32(b, i);
        put_u32(b, 0);
        put_u64(b, rg->size);
        put_bytes(b, rg->mem, (size_t)rg->size);
        end_section(b, at);
    }

    plugin_at = begin_section(b, SEC_PLUGIN);
    s.room = MIG_MAX_STREAM - MIG_DIGEST_SIZE - MIN(b->len, MIG_MAX_STREAM - MIG_DIGEST_SIZE);
    r = dev->ops->save_state(dev, &s);
    if (r > 0) {
        r = 0;
    }
    if (r < 0) {
        g_autofree char *why = device_take_error();

        dev_err(dev, "migration: the plugin could not save its state: %s",
                why != NULL ? why
                : r == -EFBIG ? "larger than the 256 MiB a stream may hold"
                : g_strerror(-r));
        g_byte_array_unref(b);
        return r;
    }
    end_section(b, plugin_at);
    *plugin_len = b->len - plugin_at - SEC_HEADER_SIZE;

    v = GUINT64_TO_LE((uint64_t)b->len + MIG_DIGEST_SIZE);
    memcpy(b->data + HDR_TOTAL, &v, sizeof(v));
    v = GUINT64_TO_LE(*plugin_len);
    memcpy(b->data + 112, &v, sizeof(v));
    ck = g_checksum_new(G_CHECKSUM_SHA256);
    g_checksum_update(ck, b->data, b->len);
    g_checksum_get_digest(ck, digest, &dlen);
    g_checksum_free(ck);
    put_bytes(b, digest, sizeof(digest));
    *out = b;
    return 0;
}

/* ------------------------------------------------------------------------
 * Loading
 */
int mig_stream_peek(const uint8_t *data, size_t len, uint64_t *total,
                    const char **why)
{
    uint32_t version, hsize;

    if (len < MIG_HEADER_SIZE) {
        *why = "shorter than a stream header";
        return -EINVAL;
    }
    if (memcmp(data, mig_magic, sizeof(mig_magic)) != 0) {
        *why = "not a vfiouserd migration stream (bad magic)";
        return -EINVAL;
    }
    version = get_u32(data + 8);
    hsize = get_u32(data + 12);
    if (version == 0 || version > MIG_FORMAT_VERSION) {
        *why = "the stream format is newer than this daemon reads";
        return -EINVAL;
    }
    if (hsize < MIG_HEADER_SIZE || hsize > 4096) {
        *why = "bad header size";
        return -EINVAL;
    }
    *total = get_u64(data + HDR_TOTAL);
    if (*total < (uint64_t)hsize + MIG_DIGEST_SIZE || *total > MIG_MAX_STREAM) {
        *why = "the declared stream length is impossible (or above 256 MiB)";
        return -EINVAL;
    }
    return 0;
}

/* The parts of a validated stream. */
struct parsed {
    uint32_t plugin_version;
    const uint8_t *cfg;
    const uint8_t *irq;
    uint64_t irq_len;
    const uint8_t *region[VFUD_NR_REGIONS];
    const uint8_t *plugin;
    uint64_t plugin_len;
};

/* A copy of what loading overwrites, to put back if the plugin refuses. */
struct backup {
    uint8_t cfg[PCI_CFG_SIZE_EXPRESS];
    bool intx_asserted, intx_signalled;
    bool *pending[VFUD_NR_IRQ_TYPES];
    uint8_t *msix_table;
    uint8_t *region[VFUD_NR_REGIONS];
};

static int refuse(vfud_dev *dev, const char *fmt, ...) G_GNUC_PRINTF(2, 3);

static int refuse(vfud_dev *dev, const char *fmt, ...)
{
    g_autofree char *text = NULL;
    va_list ap;

    va_start(ap, fmt);
    text = g_strdup_vprintf(fmt, ap);
    va_end(ap);
    dev_warn(dev, "migration: stream refused: %s; the device keeps its state", text);
    return -EINVAL;
}

static int check_header(vfud_dev *dev, const uint8_t *data, size_t len,
                        struct parsed *p, uint32_t *hsize)
{
    char name[NAME_SIZE + 1] = { 0 };
    char ours[NAME_SIZE] = { 0 };
    uint8_t fp[32];
    uint16_t ids[4];
    uint32_t class_rev;
    const char *why;
    uint64_t total;

    if (mig_stream_peek(data, len, &total, &why) < 0) {
        return refuse(dev, "%s", why);
    }
    *hsize = get_u32(data + 12);
    if (total != len) {
        return refuse(dev, "%zu bytes received, the stream declares %llu (truncated "
                      "or padded)", len, (unsigned long long)total);
    }
    memcpy(name, data + 24, NAME_SIZE);
    g_strlcpy(ours, dev->ops->name, sizeof(ours));
    if (strncmp(name, ours, NAME_SIZE) != 0) {
        return refuse(dev, "it comes from a '%s' device, this is a '%s'", name,
                      dev->ops->name);
    }
    p->plugin_version = get_u32(data + 56);
    if (p->plugin_version == 0 || p->plugin_version > dev->ops->state_version) {
        return refuse(dev, "plugin state version %u, this %s plugin reads 1 to %u "
                      "(a newer plugin saved it)", p->plugin_version,
                      dev->ops->name, dev->ops->state_version);
    }
    identity(dev, ids, &class_rev);
    fingerprint(dev, fp);
    if (memcmp(fp, data + 80, sizeof(fp)) != 0) {
        return refuse(dev, "the device has another layout (stream: %04x:%04x "
                      "subsystem %04x:%04x class/rev %08x config %u bytes; here: "
                      "%04x:%04x subsystem %04x:%04x class/rev %08x config %u "
                      "bytes; or regions, capabilities or interrupts differ: check "
                      "both devices' configuration)",
                      get_u16(data + 64), get_u16(data + 66), get_u16(data + 68),
                      get_u16(data + 70), get_u32(data + 72), get_u32(data + 76),
                      ids[0], ids[1], ids[2], ids[3], class_rev, dev->pci.size);
    }
    return 0;
}

static int check_irq(vfud_dev *dev, const uint8_t *body, uint64_t len)
{
    const uint8_t *pend;

    if (len != irq_body_size(dev)) {
        return refuse(dev, "interrupt section of %llu bytes, expected %llu",
                      (unsigned long long)len,
                      (unsigned long long)irq_body_size(dev));
    }
    for (unsigned t = 0; t < VFUD_NR_IRQ_TYPES; t++) {
        if (get_u32(body + 4 * t) != dev->irq.count[t]) {
            return refuse(dev, "interrupt type %u has %u vectors in the stream, %u "
                          "here", t, get_u32(body + 4 * t), dev->irq.count[t]);
        }
    }
    if (get_u32(body + 4 * VFUD_NR_IRQ_TYPES) &
        ~(IRQ_F_INTX_ASSERTED | IRQ_F_INTX_SIGNALLED)) {
        return refuse(dev, "unknown interrupt state bits");
    }
    pend = body + 4 * VFUD_NR_IRQ_TYPES + 4;
    for (unsigned t = 0; t < VFUD_NR_IRQ_TYPES; t++) {
        for (unsigned i = 0; i < dev->irq.count[t]; i++, pend++) {
            if (*pend > 1) {
                return refuse(dev, "bad pending flag %u", *pend);
            }
        }
    }
    return 0;
}

static int parse(vfud_dev *dev, const uint8_t *data, size_t len, struct parsed *p)
{
    uint32_t hsize = MIG_HEADER_SIZE;
    size_t pos, end = len - MIG_DIGEST_SIZE;
    unsigned seen = 0;
    int r;

    r = check_header(dev, data, len, p, &hsize);
    if (r < 0) {
        return r;
    }
    for (pos = hsize; pos < end;) {
        uint32_t type, flags;
        uint64_t blen;
        const uint8_t *body;

        if (end - pos < SEC_HEADER_SIZE) {
            return refuse(dev, "a section header is cut off at byte %zu", pos);
        }
        type = get_u32(data + pos);
        flags = get_u32(data + pos + 4);
        blen = get_u64(data + pos + 8);
        body = data + pos + SEC_HEADER_SIZE;
        if (blen > end - pos - SEC_HEADER_SIZE) {
            return refuse(dev, "section %u at byte %zu runs past the end", type, pos);
        }
        pos += SEC_HEADER_SIZE + blen;
        switch (type) {
        case SEC_CONFIG:
            if (p->cfg != NULL || blen != dev->pci.size) {
                return refuse(dev, "config space section repeated or of %llu bytes "
                              "(expected %u)", (unsigned long long)blen,
                              dev->pci.size);
            }
            p->cfg = body;
            break;
        case SEC_IRQ:
            if (p->irq != NULL) {
                return refuse(dev, "interrupt section repeated");
            }
            r = check_irq(dev, body, blen);
            if (r < 0) {
                return r;
            }
            p->irq = body;
            p->irq_len = blen;
            break;
        case SEC_REGION: {
            uint32_t index;
            const struct region *rg;

            if (blen < 16) {
                return refuse(dev, "region section too short");
            }
            index = get_u32(body);
            if (index >= VFUD_NR_REGIONS || !region_migrates(&dev->regions[index]) ||
                p->region[index] != NULL) {
                return refuse(dev, "unexpected (or repeated) memory of region %u", index);
            }
            rg = &dev->regions[index];
            if (get_u64(body + 8) != rg->size || blen - 16 != rg->size) {
                return refuse(dev, "region %u memory of %llu bytes, expected %llu",
                              index, (unsigned long long)(blen - 16),
                              (unsigned long long)rg->size);
            }
            p->region[index] = body + 16;
            break;
        }
        case SEC_PLUGIN:
            if (p->plugin != NULL) {
                return refuse(dev, "plugin section repeated");
            }
            p->plugin = body;
            p->plugin_len = blen;
            break;
        default:
            if (!(flags & SEC_F_OPTIONAL)) {
                return refuse(dev, "unknown section type %u", type);
            }
            break;
        }
        seen++;
    }
    if (p->cfg == NULL || p->irq == NULL || p->plugin == NULL) {
        return refuse(dev, "a section is missing (config %s, interrupts %s, plugin %s)",
                      p->cfg ? "present" : "missing", p->irq ? "present" : "missing",
                      p->plugin ? "present" : "missing");
    }
    for (unsigned i = 0; i < VFUD_NR_REGIONS; i++) {
        if (region_migrates(&dev->regions[i]) && p->region[i] == NULL) {
            return refuse(dev, "the memory of region %u is missing", i);
        }
    }
    if (get_u64(data + 112) != p->plugin_len) {
        return refuse(dev, "the header and the plugin section disagree on its size");
    }
    (void)seen;
    return 0;
}

static void backup_take(vfud_dev *dev, struct backup *b)
{
    struct irq_state *irq = &dev->irq;

    memcpy(b->cfg, dev->pci.cfg, dev->pci.size);
    g_mutex_lock(&irq->lock);
    b->intx_asserted = irq->intx_asserted;
    b->intx_signalled = irq->intx_signalled;
    for (unsigned t = 0; t < VFUD_NR_IRQ_TYPES; t++) {
        b->pending[t] = g_new0(bool, MAX(irq->count[t], 1));
        for (unsigned i = 0; i < irq->count[t]; i++) {
            b->pending[t][i] = irq->vec[t][i].pending;
        }
    }
    if (irq->msix_table != NULL) {
        b->msix_table = g_memdup2(irq->msix_table,
                                  (gsize)MSIX_ENTRY * irq->count[VFUD_IRQ_MSIX]);
    }
    g_mutex_unlock(&irq->lock);
    for (unsigned i = 0; i < VFUD_NR_REGIONS; i++) {
        if (region_migrates(&dev->regions[i])) {
            b->region[i] = g_memdup2(dev->regions[i].mem, (gsize)dev->regions[i].size);
        }
    }
}

static void backup_free(struct backup *b)
{
    for (unsigned t = 0; t < VFUD_NR_IRQ_TYPES; t++) {
        g_free(b->pending[t]);
    }
    g_free(b->msix_table);
    for (unsigned i = 0; i < VFUD_NR_REGIONS; i++) {
        g_free(b->region[i]);
    }
}

static void backup_restore(vfud_dev *dev, const struct backup *b)
{
    struct irq_state *irq = &dev->irq;

    memcpy(dev->pci.cfg, b->cfg, dev->pci.size);
    g_mutex_lock(&irq->lock);
    irq->intx_asserted = b->intx_asserted;
    irq->intx_signalled = b->intx_signalled;
    for (unsigned t = 0; t < VFUD_NR_IRQ_TYPES; t++) {
        for (unsigned i = 0; i < irq->count[t]; i++) {
            irq->vec[t][i].pending = b->pending[t][i];
        }
    }
    if (b->msix_table != NULL) {
        memcpy(irq->msix_table, b->msix_table,
               (size_t)MSIX_ENTRY * irq->count[VFUD_IRQ_MSIX]);
    }
    g_mutex_unlock(&irq->lock);
    for (unsigned i = 0; i < VFUD_NR_REGIONS; i++) {
        if (b->region[i] != NULL) {
            memcpy(dev->regions[i].mem, b->region[i], (size_t)dev->regions[i].size);
        }
    }
}

/* The daemon's part of a validated stream. */
static void apply(vfud_dev *dev, const struct parsed *p)
{
    struct irq_state *irq = &dev->irq;
    const uint8_t *pend = p->irq + 4 * VFUD_NR_IRQ_TYPES + 4;
    uint32_t bits = get_u32(p->irq + 4 * VFUD_NR_IRQ_TYPES);

    /* Interrupts are held while the device is stopped: nothing is
     * delivered from the new state until it runs again. */
    memcpy(dev->pci.cfg, p->cfg, dev->pci.size);
    g_mutex_lock(&irq->lock);
    irq->intx_asserted = bits & IRQ_F_INTX_ASSERTED;
    irq->intx_signalled = bits & IRQ_F_INTX_SIGNALLED;
    for (unsigned t = 0; t < VFUD_NR_IRQ_TYPES; t++) {
        for (unsigned i = 0; i < irq->count[t]; i++) {
            irq->vec[t][i].pending = *pend++ != 0;
        }
    }
    if (irq->count[VFUD_IRQ_MSIX] > 0) {
        memcpy(irq->msix_table, pend, (size_t)MSIX_ENTRY * irq->count[VFUD_IRQ_MSIX]);
    }
    g_mutex_unlock(&irq->lock);
    for (unsigned i = 0; i < VFUD_NR_REGIONS; i++) {
        if (p->region[i] != NULL) {
            memcpy(dev->regions[i].mem, p->region[i], (size_t)dev->regions[i].size);
        }
    }
}

int mig_stream_load(vfud_dev *dev, const uint8_t *data, size_t len)
{
    struct parsed p = { 0 };
    struct backup b = { 0 };
    uint8_t digest[32];
    gsize dlen = sizeof(digest);
    GChecksum *ck;
    int r;

    if (len < MIG_HEADER_SIZE + MIG_DIGEST_SIZE) {
        return refuse(dev, "only %zu bytes were written", len);
    }
    ck = g_checksum_new(G_CHECKSUM_SHA256);
    g_checksum_update(ck, data, len - MIG_DIGEST_SIZE);
    g_checksum_get_digest(ck, digest, &dlen);
    g_checksum_free(ck);
    if (memcmp(digest, data + len - MIG_DIGEST_SIZE, sizeof(digest)) != 0) {
        const char *why;
        uint64_t total;

        /* Say "truncated" rather than "corrupted" when the header tells. */
        if (mig_stream_peek(data, len, &total, &why) < 0) {
            return refuse(dev, "%s", why);
        }
        if (total != len) {
            return refuse(dev, "%zu bytes received, the stream declares %llu "
                          "(truncated or padded)", len, (unsigned long long)total);
        }
        return refuse(dev, "the checksum does not match (corrupted in transfer)");
    }
    r = parse(dev, data, len, &p);
    if (r < 0) {
        return r;
    }
    backup_take(dev, &b);
    apply(dev, &p);
    r = dev->ops->load_state(dev, p.plugin_version, p.plugin, (size_t)p.plugin_len);
    if (r > 0) {
        r = 0;
    }
    if (r < 0) {
        g_autofree char *why = device_take_error();

        backup_restore(dev, &b);
        dev_warn(dev, "migration: stream refused by the %s plugin: %s; the device "
                 "keeps its state", dev->ops->name,
                 why != NULL ? why : g_strerror(-r));
    }
    backup_free(&b);
    return r;
}
