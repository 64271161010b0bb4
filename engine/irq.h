/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Interrupts: the eventfds a client attaches with SET_IRQS, masking, pending
 * bits, and routing of a plugin's "raise vector n" to whatever the guest
 * enabled in config space (MSI-X, else MSI, else INTx).  Thread-safe: plugins
 * raise interrupts from their own threads.
 */
#ifndef VFIOUSERD_IRQ_H
#define VFIOUSERD_IRQ_H

#include <stdbool.h>
#include <stdint.h>

#include <glib.h>

#include <vfiouserd/plugin.h>

struct conn;
struct msg;

#define IRQ_MAX_MSIX 2048u
#define IRQ_MAX_MSI 32u

struct irq_vector {
    int efd;       /* eventfd attached by the client, or -1 */
    bool masked;   /* by SET_IRQS MASK */
    bool pending;  /* raised while masked or unconnected */
};

struct irq_state {
    GMutex lock;
    unsigned count[VFUD_NR_IRQ_TYPES];
    struct irq_vector *vec[VFUD_NR_IRQ_TYPES];
    /* INTx is level-triggered and auto-masked (trap 17). */
    bool intx_asserted;  /* the device's line */
    bool intx_signalled; /* signalled, waiting for UNMASK */
    int intx_unmask_fd;  /* UNMASK+EVENTFD (KVM resample fd), or -1 */
    GSource *intx_unmask_src;
    /* MSI-X table and PBA as the guest programs them (QEMU keeps its own
     * copy of the table and forwards only PBA reads). */
    uint8_t *msix_table; /* 16 bytes per vector */
    uint64_t stats_raised, stats_delivered;
    /* Migration: the device is stopped, so nothing is delivered; what is
     * raised stays pending (and INTx asserted) until irq_hold(false). */
    bool held;
};

void irq_init(struct irq_state *irq);
void irq_cleanup(struct irq_state *irq);
/* Allocate per-type vector tables after realize (counts known). */
void irq_realize(vfud_dev *dev);
/* Client gone: close every eventfd; pending bits and levels are device
 * state and stay. */
void irq_detach(vfud_dev *dev);
/* Device reset: level and pending bits cleared, eventfds kept. */
void irq_reset(vfud_dev *dev);
/* Config space changed MSI/MSI-X/INTx enables or masks: deliver what is
 * pending and now deliverable. */
void irq_config_changed(vfud_dev *dev, unsigned changed);
/* Migration: hold every interrupt the device raises (stopped states), or
 * deliver what became pending meanwhile and resume normal delivery. */
void irq_hold(vfud_dev *dev, bool hold);

/* Copy device-side state the guest reads in config space (MSI pending
 * bits, INTx status) in before a config read (device thread). */
void irq_sync_config(vfud_dev *dev);

int irq_trigger(vfud_dev *dev, unsigned n);
void irq_intx_deassert(vfud_dev *dev);
int irq_signal(vfud_dev *dev, enum vfud_irq_type type);

/* MSI-X table / PBA accesses arriving as REGION_READ/WRITE.  Returns true
 * when [offset, offset+len) of region index is table or PBA (and served). */
bool irq_msix_access(vfud_dev *dev, unsigned index, uint64_t offset,
                     void *buf, size_t len, bool is_write, int *result);

#endif
