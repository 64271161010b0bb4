/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * abi_v1: a plugin compiled against the version 1 header kept in
 * tests/plugins/v1 (the one before the scatter-gather entry became
 * opaque), to prove that the daemon still loads such a plugin and serves
 * version 1's vfud_dma_sg_get/put on its own array of struct vfud_sg.
 *
 * BAR0, 4 KiB of 32-bit registers:
 *   0x00 ID       RO  0xab100001
 *   0x04 API      RO  VFUD_API_VERSION as compiled (1)
 *   0x08 IOVA_LO  RW  guest address to fill
 *   0x0c IOVA_HI  RW
 *   0x10 LEN      RW  bytes
 *   0x14 FILL     RW  byte written to every byte of the range
 *   0x18 GO       WO  any value: take host pointers for the range with
 *                     vfud_dma_sg_get(), fill through them, put them
 *   0x1c RESULT   RO  entries used by the last GO, or its negative errno
 */
#include <errno.h>
#include <string.h>

#include <vfiouserd/plugin.h>

#define ABI_V1_ID 0xab100001u
#define ABI_V1_MAX_SG 4

enum { R_ID = 0, R_API, R_IOVA_LO, R_IOVA_HI, R_LEN, R_FILL, R_GO, R_RESULT,
       R_NR };

static uint32_t regs[R_NR];

static void abi_v1_go(vfud_dev *dev)
{
    struct vfud_sg sg[ABI_V1_MAX_SG];
    uint64_t iova = (uint64_t)regs[R_IOVA_HI] << 32 | regs[R_IOVA_LO];
    int n = vfud_dma_sg_get(dev, iova, regs[R_LEN], VFUD_DMA_WRITE, sg,
                            ABI_V1_MAX_SG);

    for (int i = 0; i < n; i++) {
        memset(sg[i].base, (int)(regs[R_FILL] & 0xff), sg[i].len);
    }
    if (n > 0) {
        vfud_dma_sg_put(dev, sg, (unsigned)n);
    }
    regs[R_RESULT] = (uint32_t)n;
}

static int abi_v1_region_read(vfud_dev *dev, unsigned region, uint64_t offset,
                              void *buf, size_t len)
{
    (void)dev;
    (void)region;
    memset(buf, 0, len);
    if (len == 4 && offset % 4 == 0 && offset / 4 < R_NR) {
        memcpy(buf, &regs[offset / 4], 4);
    }
    return 0;
}

static int abi_v1_region_write(vfud_dev *dev, unsigned region,
                               uint64_t offset, const void *buf, size_t len)
{
    uint32_t v;

    (void)region;
    if (len != 4 || offset % 4 != 0 || offset / 4 >= R_NR) {
        return 0;
    }
    memcpy(&v, buf, 4);
    switch (offset / 4) {
    case R_IOVA_LO:
    case R_IOVA_HI:
    case R_LEN:
    case R_FILL:
        regs[offset / 4] = v;
        break;
    case R_GO:
        abi_v1_go(dev);
        break;
    default:
        break;
    }
    return 0;
}

static int abi_v1_realize(vfud_dev *dev)
{
    static const struct vfud_pci_id id = {
        .vendor_id = 0x1b36, .device_id = 0x0005, /* QEMU's test device */
        .class_code = 0xff0000,
    };
    int r = vfud_pci_init(dev, VFUD_PCI_CONVENTIONAL, &id);

    if (r < 0) {
        return r;
    }
    regs[R_ID] = ABI_V1_ID;
    regs[R_API] = VFUD_API_VERSION;
    return vfud_region_add(dev, VFUD_REGION_BAR0, 4096, VFUD_REGION_RW);
}

static struct vfud_plugin abi_v1_plugin = {
    .name = "abi_v1",
    .version = "1",
    .description = "test plugin built against plugin API version 1",
    .realize = abi_v1_realize,
    .region_read = abi_v1_region_read,
    .region_write = abi_v1_region_write,
};

VFUD_REGISTER_PLUGIN(abi_v1_plugin)
