/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Completions handed over from other threads (remote.h).
 *
 * The list is a lock-free stack: pushes are a compare-and-swap on its head,
 * the consumer takes it whole with one exchange and reverses it.
 *
 * Wake-ups follow the Dekker pattern.  The consumer stores waiting = true,
 * then a full fence, then looks at the head; a producer swaps the head,
 * then a full fence, then looks at waiting.  With both fences, at least
 * one of them sees the other's store: either the consumer finds the
 * completion and does not sleep, or the producer finds the flag and wakes
 * it.  Without the fences each side may read the old value of the other's
 * variable (a store may wait in a store buffer past a later load, even on
 * x86), and a completion would wait for the next unrelated wake-up.
 *
 * Only the push that makes the list non-empty looks at the flag: a push
 * onto a non-empty list finds a completion not yet taken, whose own push
 * either woke the consumer or was seen by it before it slept.  The flag is
 * cleared with an exchange, so of several producers racing only one writes
 * the eventfd.
 */
#include "config.h"

#include <stddef.h>

#include "remote.h"

bool nvme_remote_push(struct nvme_remote *r, struct nvme_remote_done *d)
{
    struct nvme_remote_done *head = atomic_load_explicit(&r->head,
                                                         memory_order_relaxed);

    do {
        d->next = head;
    } while (!atomic_compare_exchange_weak_explicit(&r->head, &head, d,
                                                    memory_order_release,
                                                    memory_order_relaxed));
    if (head != NULL) {
        return false;
    }
    atomic_thread_fence(memory_order_seq_cst);
    return atomic_load_explicit(&r->waiting, memory_order_relaxed) &&
           atomic_exchange_explicit(&r->waiting, false, memory_order_relaxed);
}

struct nvme_remote_done *nvme_remote_take(struct nvme_remote *r)
{
    struct nvme_remote_done *l, *fifo = NULL;

    if (atomic_load_explicit(&r->head, memory_order_relaxed) == NULL) {
        return NULL; /* the common case costs no locked instruction */
    }
    l = atomic_exchange_explicit(&r->head, NULL, memory_order_acquire);
    while (l != NULL) {
        struct nvme_remote_done *next = l->next;

        l->next = fifo;
        fifo = l;
        l = next;
    }
    return fifo;
}

bool nvme_remote_sleep_begin(struct nvme_remote *r)
{
    atomic_store_explicit(&r->waiting, true, memory_order_relaxed);
    atomic_thread_fence(memory_order_seq_cst);
    return atomic_load_explicit(&r->head, memory_order_relaxed) == NULL;
}

void nvme_remote_sleep_end(struct nvme_remote *r)
{
    atomic_store_explicit(&r->waiting, false, memory_order_relaxed);
}
