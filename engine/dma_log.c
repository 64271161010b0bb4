/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * DMA logging: which guest pages the device wrote since they were last
 * reported.
 *
 * One bit per tracking page, grouped in chunks of CHUNK_PAGES bits found by
 * a hash table keyed by chunk number (absolute page number / CHUNK_PAGES).
 * A chunk exists only once a page in it was written, and goes away when a
 * report leaves it empty.  Everything is under one mutex: a mark costs a
 * lock and a few word operations per DMA, which the copy it follows
 * dwarfs; the fast path when logging is off is one atomic read.
 *
 * Marks happen after the write they record, so a report that runs between
 * the two only delays the page to the next report, never loses it.
 */
#include "config.h"

#include "dma_log.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <glib.h>

#define CHUNK_PAGES 32768u /* 4 KiB of bits: 128 MiB of 4 KiB pages */
#define CHUNK_WORDS (CHUNK_PAGES / 64u)

struct chunk {
    gint64 key; /* chunk number; the hash table's key points here */
    uint64_t bits[CHUNK_WORDS];
};

struct dma_log {
    GMutex lock;
    gint active;         /* read without the lock by dma_log_mark */
    unsigned shift;      /* log2 of the tracking page size */
    struct dma_log_range *ranges; /* sorted, disjoint; NULL: everything */
    unsigned nr_ranges;
    GHashTable *chunks;  /* &chunk->key -> struct chunk */
};

struct dma_log *dma_log_new(void)
{
    struct dma_log *log = g_new0(struct dma_log, 1);

    g_mutex_init(&log->lock);
    log->chunks = g_hash_table_new_full(g_int64_hash, g_int64_equal, NULL, g_free);
    return log;
}

void dma_log_free(struct dma_log *log)
{
    if (log == NULL) {
        return;
    }
    g_hash_table_unref(log->chunks);
    g_free(log->ranges);
    g_mutex_clear(&log->lock);
    g_free(log);
}

static bool is_pow2(uint64_t x)
{
    return x != 0 && (x & (x - 1)) == 0;
}

/* Last byte of a range (ranges were checked not to wrap). */
static uint64_t range_last(const struct dma_log_range *r)
{
    return r->iova + r->length - 1;
}

static int range_cmp(const void *a, const void *b)
{
    const struct dma_log_range *x = a, *y = b;

    return x->iova < y->iova ? -1 : x->iova > y->iova;
}

int dma_log_start(struct dma_log *log, uint64_t *page_size,
                  const struct dma_log_range *ranges, unsigned n,
                  const char **why)
{
    struct dma_log_range *copy = NULL;
    uint64_t ps = *page_size;

    if (!is_pow2(ps) || ps > DMA_LOG_MAX_PAGE) {
        *why = "the page size must be a power of two up to 4 GiB";
        return -EINVAL;
    }
    if (ps < DMA_LOG_MIN_PAGE) {
        ps = DMA_LOG_MIN_PAGE;
    }
    if (n > DMA_LOG_MAX_RANGES) {
        *why = "too many ranges";
        return -EINVAL;
    }
    if (n > 0) {
        copy = g_memdup2(ranges, sizeof(*ranges) * n);
        qsort(copy, n, sizeof(*copy), range_cmp);
        for (unsigned i = 0; i < n; i++) {
            if (copy[i].length == 0 || range_last(&copy[i]) < copy[i].iova) {
                *why = "a range is empty or wraps the address space";
                g_free(copy);
                return -EINVAL;
            }
            if (i > 0 && range_last(&copy[i - 1]) >= copy[i].iova) {
                *why = "ranges overlap";
                g_free(copy);
                return -EINVAL;
            }
        }
    }
    g_mutex_lock(&log->lock);
    if (log->active) {
        g_mutex_unlock(&log->lock);
        g_free(copy);
        *why = "logging runs already (STOP it first)";
        return -EBUSY;
    }
    log->shift = (unsigned)__builtin_ctzll(ps);
    log->ranges = copy;
    log->nr_ranges = n;
    g_atomic_int_set(&log->active, 1);
    g_mutex_unlock(&log->lock);
    *page_size = ps;
    return 0;
}

void dma_log_stop(struct dma_log *log)
{
    g_mutex_lock(&log->lock);
    g_atomic_int_set(&log->active, 0);
    g_free(log->ranges);
    log->ranges = NULL;
    log->nr_ranges = 0;
    g_hash_table_remove_all(log->chunks);
    g_mutex_unlock(&log->lock);
}

bool dma_log_active(struct dma_log *log)
{
    return g_atomic_int_get(&log->active) != 0;
}

/* Set (or clear) bits from..to (inclusive) of a word array. */
static void bits_apply(uint64_t *words, uint64_t from, uint64_t to, bool set)
{
    while (from <= to) {
        uint64_t w = from / 64;
        unsigned lo = (unsigned)(from % 64);
        unsigned hi = to / 64 == w ? (unsigned)(to % 64) : 63;
        uint64_t mask = (hi == 63 ? ~0ull : (1ull << (hi + 1)) - 1) & ~((1ull << lo) - 1);

        if (set) {
            words[w] |= mask;
        } else {
            words[w] &= ~mask;
        }
        from = (w + 1) * 64;
    }
}

/* Mark tracking pages first..last (lock held). */
static void mark_pages(struct dma_log *log, uint64_t first, uint64_t last)
{
    while (first <= last) {
        gint64 key = (gint64)(first / CHUNK_PAGES);
        uint64_t base = (uint64_t)key * CHUNK_PAGES;
        uint64_t end = MIN(last, base + CHUNK_PAGES - 1);
        struct chunk *c = g_hash_table_lookup(log->chunks, &key);

        if (c == NULL) {
            c = g_new0(struct chunk, 1);
            c->key = key;
            g_hash_table_insert(log->chunks, &c->key, c);
        }
        bits_apply(c->bits, first - base, end - base, true);
        if (end == UINT64_MAX) {
            break;
        }
        first = end + 1;
    }
}

/* Index of the first range whose last byte is >= addr (lock held). */
static unsigned range_search(const struct dma_log *log, uint64_t addr)
{
    unsigned lo = 0, hi = log->nr_ranges;

    while (lo < hi) {
        unsigned mid = lo + (hi - lo) / 2;

        if (range_last(&log->ranges[mid]) < addr) {
            lo = mid + 1;
        } else {
            hi = mid;
        }
    }
    return lo;
}

void dma_log_mark(struct dma_log *log, uint64_t iova, uint64_t len)
{
    uint64_t last;

    if (len == 0 || !g_atomic_int_get(&log->active)) {
        return;
    }
    last = iova + len - 1 < iova ? UINT64_MAX : iova + len - 1;
    g_mutex_lock(&log->lock);
    if (!log->active) {
        g_mutex_unlock(&log->lock);
        return;
    }
    if (log->nr_ranges == 0) {
        mark_pages(log, iova >> log->shift, last >> log->shift);
    }
    for (unsigned i = range_search(log, iova);
         i < log->nr_ranges && log->ranges[i].iova <= last; i++) {
        uint64_t a = MAX(iova, log->ranges[i].iova);
        uint64_t b = MIN(last, range_last(&log->ranges[i]));

        mark_pages(log, a >> log->shift, b >> log->shift);
    }
    g_mutex_unlock(&log->lock);
}

uint64_t dma_log_bitmap_size(uint64_t length, uint64_t page_size)
{
    uint64_t pages;

    if (length == 0 || !is_pow2(page_size)) {
        return 0;
    }
    pages = (length - 1) / page_size + 1;
    return (pages + 63) / 64 * 8;
}

/* Is every byte of [iova, last] inside a logged range? (lock held) */
static bool covered(const struct dma_log *log, uint64_t iova, uint64_t last)
{
    uint64_t pos = iova;

    if (log->nr_ranges == 0) {
        return true;
    }
    for (unsigned i = range_search(log, iova); i < log->nr_ranges; i++) {
        const struct dma_log_range *r = &log->ranges[i];

        if (r->iova > pos) {
            return false; /* a gap before this range */
        }
        if (range_last(r) >= last) {
            return true;
        }
        pos = range_last(r) + 1;
    }
    return false;
}

struct report {
    uint64_t iova, last, page_size;
    uint64_t *bitmap;
};

/* Report and clear the dirty pages of one chunk inside the range; returns
 * true if the chunk is empty afterwards (lock held). */
static bool report_chunk(const struct dma_log *log, struct chunk *c,
                         const struct report *rp)
{
    uint64_t base = (uint64_t)c->key * CHUNK_PAGES;
    uint64_t first_tp = rp->iova >> log->shift;
    uint64_t last_tp = rp->last >> log->shift;
    uint64_t lo = first_tp > base ? first_tp - base : 0;
    uint64_t hi = MIN(last_tp - base, (uint64_t)CHUNK_PAGES - 1);
    bool empty = true;

    for (uint64_t wi = lo / 64; wi <= hi / 64; wi++) {
        uint64_t w = c->bits[wi];
        uint64_t clear = 0;

        while (w != 0) {
            unsigned b = (unsigned)__builtin_ctzll(w);
            uint64_t bit = wi * 64 + b;
            uint64_t tp = base + bit;
            uint64_t start = tp << log->shift;
            uint64_t end = start | ((1ull << log->shift) - 1);

            w &= w - 1;
            if (bit < lo || bit > hi) {
                continue;
            }
            bits_apply(rp->bitmap, (MAX(start, rp->iova) - rp->iova) / rp->page_size,
                       (MIN(end, rp->last) - rp->iova) / rp->page_size, true);
            /* A page the range only partly covers stays dirty: reporting
             * it again later costs a copy, forgetting it would lose data. */
            if (start >= rp->iova && end <= rp->last) {
                clear |= 1ull << b;
            }
        }
        c->bits[wi] &= ~clear;
    }
    for (unsigned i = 0; i < CHUNK_WORDS && empty; i++) {
        empty = c->bits[i] == 0;
    }
    return empty;
}

int dma_log_report(struct dma_log *log, uint64_t iova, uint64_t length,
                   uint64_t page_size, uint64_t *bitmap, const char **why)
{
    struct report rp = { .iova = iova, .page_size = page_size, .bitmap = bitmap };
    uint64_t first_key, last_key;

    if (length == 0 || !is_pow2(page_size) || iova + length - 1 < iova) {
        *why = "the range is empty or wraps, or the page size is not a power of two";
        return -EINVAL;
    }
    rp.last = iova + length - 1;
    g_mutex_lock(&log->lock);
    if (!log->active) {
        g_mutex_unlock(&log->lock);
        *why = "logging is not running";
        return -EINVAL;
    }
    if (!covered(log, iova, rp.last)) {
        g_mutex_unlock(&log->lock);
        *why = "the range is not inside the logged ranges";
        return -EINVAL;
    }
    first_key = (iova >> log->shift) / CHUNK_PAGES;
    last_key = (rp.last >> log->shift) / CHUNK_PAGES;
    if (last_key - first_key >= g_hash_table_size(log->chunks)) {
        /* Fewer chunks exist than the range could hold: visit those. */
        GHashTableIter it;
        gpointer k, v;

        g_hash_table_iter_init(&it, log->chunks);
        while (g_hash_table_iter_next(&it, &k, &v)) {
            struct chunk *c = v;

            if ((uint64_t)c->key >= first_key && (uint64_t)c->key <= last_key &&
                report_chunk(log, c, &rp)) {
                g_hash_table_iter_remove(&it);
            }
        }
    } else {
        for (uint64_t k = first_key; k <= last_key; k++) {
            gint64 key = (gint64)k;
            struct chunk *c = g_hash_table_lookup(log->chunks, &key);

            if (c != NULL && report_chunk(log, c, &rp)) {
                g_hash_table_remove(log->chunks, &key);
            }
        }
    }
    g_mutex_unlock(&log->lock);
    return 0;
}
