/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The fake daemon (fake_vfud.h): interrupts.  There is no guest and no
 * eventfd: a trigger is counted per vector, INTx is a level the test can
 * read, and what the guest enabled is fake_irq_set_mode()'s to say.
 */
#include "config.h"

#include <errno.h>
#include <time.h>

#include "fake_priv.h"

int vfud_irq_setup(vfud_dev *dev, enum vfud_irq_type type, unsigned count)
{
    int r = fk_declaring(dev, "vfud_irq_setup");

    if (r < 0) {
        return r;
    }
    if (type >= VFUD_NR_IRQ_TYPES || type == VFUD_IRQ_MSI ||
        type == VFUD_IRQ_MSIX || count > 1) {
        fk_set_error(dev, "vfud_irq_setup: INTx, ERR or REQ, count 0 or 1");
        return -EINVAL;
    }
    dev->irq_setup[type] = count;
    return 0;
}

/* What the guest enabled (see fake_irq_set_mode). */
static int irq_mode(vfud_dev *dev)
{
    int mode = atomic_load(&dev->irq_mode);

    if (mode >= 0) {
        return mode;
    }
    if (dev->msix_vectors > 0) {
        return VFUD_IRQ_MSIX;
    }
    if (dev->msi_vectors > 0) {
        return VFUD_IRQ_MSI;
    }
    if (dev->irq_setup[VFUD_IRQ_INTX] > 0) {
        return VFUD_IRQ_INTX;
    }
    return VFUD_NR_IRQ_TYPES;
}

int vfud_irq_trigger(vfud_dev *dev, unsigned n)
{
    int mode = irq_mode(dev);
    unsigned max;

    switch (mode) {
    case VFUD_IRQ_MSIX:
        max = dev->msix_vectors;
        break;
    case VFUD_IRQ_MSI:
        max = dev->msi_vectors;
        break;
    case VFUD_IRQ_INTX:
        max = dev->irq_setup[VFUD_IRQ_INTX];
        break;
    default:
        return -ENOTCONN;
    }
    if (max == 0) {
        return -ENOTCONN; /* enabled something the device does not have */
    }
    if (n >= max) {
        return -EINVAL;
    }
    if (mode == VFUD_IRQ_INTX) {
        atomic_store(&dev->intx_level, true);
    }
    pthread_mutex_lock(&dev->irq_lock);
    atomic_fetch_add(&dev->irq_count[n], 1);
    pthread_cond_broadcast(&dev->irq_cond);
    pthread_mutex_unlock(&dev->irq_lock);
    return 0;
}

void vfud_intx_deassert(vfud_dev *dev)
{
    atomic_store(&dev->intx_level, false);
    atomic_fetch_add(&dev->intx_deasserts, 1);
}

int vfud_irq_signal(vfud_dev *dev, enum vfud_irq_type type)
{
    if (type != VFUD_IRQ_ERR && type != VFUD_IRQ_REQ) {
        return -EINVAL;
    }
    if (dev->irq_setup[type] == 0) {
        return -ENOTCONN; /* no eventfd can have been attached */
    }
    atomic_fetch_add(&dev->irq_signals[type], 1);
    return 0;
}

/* ------------------------------------------------------------------------
 * Inside the fake
 */

void fk_irq_init(vfud_dev *dev)
{
    atomic_store(&dev->irq_mode, -1);
    pthread_mutex_init(&dev->irq_lock, NULL);
    pthread_cond_init(&dev->irq_cond, NULL);
}

void fk_irq_reset(vfud_dev *dev)
{
    atomic_store(&dev->intx_level, false);
}

void fk_irq_free(vfud_dev *dev)
{
    pthread_mutex_destroy(&dev->irq_lock);
    pthread_cond_destroy(&dev->irq_cond);
}

/* ------------------------------------------------------------------------
 * Test side
 */

void fake_irq_set_mode(vfud_dev *dev, enum vfud_irq_type mode)
{
    atomic_store(&dev->irq_mode, (int)mode);
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

bool fake_intx_level(vfud_dev *dev)
{
    return atomic_load(&dev->intx_level);
}

unsigned fake_intx_deasserts(vfud_dev *dev)
{
    return atomic_load(&dev->intx_deasserts);
}

unsigned fake_irq_signals(vfud_dev *dev, enum vfud_irq_type type)
{
    return type < VFUD_NR_IRQ_TYPES ? atomic_load(&dev->irq_signals[type]) : 0;
}
