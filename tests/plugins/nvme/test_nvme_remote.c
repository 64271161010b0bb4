/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The hand-over of completions from other threads to the NVMe I/O thread
 * (plugins/nvme/remote.c), alone: producers push as fast as they can while
 * the consumer takes them and, whenever it finds none, goes to sleep on an
 * eventfd the way the I/O thread does.  A wake-up lost between the
 * consumer's last look and its sleep leaves a completion on the list with
 * no one to write the eventfd (a push onto a non-empty list never does),
 * so the consumer's sleep runs into its timeout: the test fails there.
 */
#include "config.h"

#include <check.h>
#include <limits.h>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "remote.h"

#define PRODUCERS 3
#define ROUNDS 10000
#define BURST_MAX 16
#define PER_PRODUCER (ROUNDS * BURST_MAX + 1)
#define SLEEP_TIMEOUT_MS 5000

struct item {
    struct nvme_remote_done done;   /* first: the list links these */
    unsigned producer, seq;
};

static struct nvme_remote R;
static int efd;
static struct item *items[PRODUCERS];
static _Atomic unsigned long pushed, taken, kicks;
static pthread_barrier_t round_start;

static void pause_randomly(unsigned *seed, unsigned max)
{
    for (unsigned spin = rand_r(seed) % max; spin > 0; spin--) {
        __asm__ volatile("" ::: "memory");
    }
}

/* Rounds: every producer pushes a burst of 1-16 items with pauses of
 * random length between them, then all wait until the consumer has taken
 * everything, so that it runs dry and goes to sleep once a round at least,
 * and the next round's pushes meet it awake, falling asleep and asleep. */
static void *producer(void *arg)
{
    unsigned p = (unsigned)(uintptr_t)arg;
    unsigned seed = p + 1, seq = 0;

    for (unsigned r = 0; r < ROUNDS; r++) {
        unsigned burst = 1 + rand_r(&seed) % BURST_MAX;
        unsigned long target;

        for (unsigned i = 0; i < burst; i++) {
            struct item *it = &items[p][seq];

            it->producer = p;
            it->seq = seq++;
            atomic_fetch_add(&pushed, 1);
            if (nvme_remote_push(&R, &it->done)) {
                uint64_t one = 1;

                ck_assert_int_eq(write(efd, &one, sizeof(one)), sizeof(one));
                atomic_fetch_add(&kicks, 1);
            }
            pause_randomly(&seed, 2048);
        }
        pthread_barrier_wait(&round_start);
        target = atomic_load(&pushed);
        while (atomic_load(&taken) < target) {
            sched_yield();
        }
    }
    /* the end: one item more, which says so */
    items[p][seq].producer = p;
    items[p][seq].seq = UINT_MAX;
    if (nvme_remote_push(&R, &items[p][seq].done)) {
        uint64_t one = 1;

        ck_assert_int_eq(write(efd, &one, sizeof(one)), sizeof(one));
    }
    return NULL;
}

START_TEST(test_fifo)
{
    struct item a, b, c;
    struct nvme_remote_done *l;

    ck_assert_ptr_null(nvme_remote_take(&R));
    ck_assert(!nvme_remote_push(&R, &a.done)); /* no one asleep */
    ck_assert(!nvme_remote_push(&R, &b.done));
    /* something is there: the consumer must not sleep */
    ck_assert(!nvme_remote_sleep_begin(&R));
    nvme_remote_sleep_end(&R);
    l = nvme_remote_take(&R);
    ck_assert_ptr_eq(l, &a.done);
    ck_assert_ptr_eq(l->next, &b.done);
    ck_assert_ptr_null(l->next->next);
    ck_assert_ptr_null(nvme_remote_take(&R));
    /* asleep: the first push wakes it, the next one does not again */
    ck_assert(nvme_remote_sleep_begin(&R));
    ck_assert(nvme_remote_push(&R, &c.done));
    ck_assert(!nvme_remote_push(&R, &a.done));
    nvme_remote_sleep_end(&R);
    l = nvme_remote_take(&R);
    ck_assert_ptr_eq(l, &c.done);
    ck_assert_ptr_eq(l->next, &a.done);
    ck_assert_ptr_null(l->next->next);
}
END_TEST

START_TEST(test_no_lost_wakeup)
{
    pthread_t t[PRODUCERS];
    unsigned next[PRODUCERS] = { 0 }, ended = 0;
    unsigned long sleeps = 0, refused = 0;
    unsigned seed = 42;

    efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    ck_assert_int_ge(efd, 0);
    ck_assert_int_eq(pthread_barrier_init(&round_start, NULL, PRODUCERS), 0);
    for (unsigned p = 0; p < PRODUCERS; p++) {
        items[p] = calloc(PER_PRODUCER, sizeof(struct item));
        ck_assert_ptr_nonnull(items[p]);
        ck_assert_int_eq(pthread_create(&t[p], NULL, producer,
                                        (void *)(uintptr_t)p), 0);
    }
    while (ended < PRODUCERS) {
        struct nvme_remote_done *l = nvme_remote_take(&R);

        if (l != NULL) {
            for (; l != NULL; l = l->next) {
                struct item *it = (struct item *)(void *)l;

                if (it->seq == UINT_MAX) {
                    ended++;
                    continue;
                }
                /* each producer's items arrive once, in order */
                ck_assert_uint_eq(it->seq, next[it->producer]);
                next[it->producer]++;
                atomic_fetch_add(&taken, 1);
            }
            continue;
        }
        /* the I/O thread's work between its last look and its sleep
         * (queues, interrupts, submissions), or its CPU taken away there:
         * pushes land in it, also with fewer CPUs than threads */
        pause_randomly(&seed, 1024);
        if (rand_r(&seed) % 4 == 0) {
            sched_yield();
        }
        if (nvme_remote_sleep_begin(&R)) {
            struct pollfd pfd = { .fd = efd, .events = POLLIN };
            int n = poll(&pfd, 1, SLEEP_TIMEOUT_MS);

            ck_assert_msg(n == 1, "asleep for %d ms with %lu of %lu taken: a wake-up "
                          "was lost", SLEEP_TIMEOUT_MS, atomic_load(&taken),
                          atomic_load(&pushed));
            {
                uint64_t v;

                ck_assert_int_eq(read(efd, &v, sizeof(v)), sizeof(v));
            }
            sleeps++;
        } else {
            refused++;
        }
        nvme_remote_sleep_end(&R);
    }
    for (unsigned p = 0; p < PRODUCERS; p++) {
        pthread_join(t[p], NULL);
        free(items[p]);
    }
    ck_assert_ptr_null(nvme_remote_take(&R));
    ck_assert_uint_eq(atomic_load(&taken), atomic_load(&pushed));
    fprintf(stderr, "test_no_lost_wakeup: %lu items, %lu sleeps, %lu sleeps "
            "refused (a push came first), %lu kicks\n", atomic_load(&taken),
            sleeps, refused, (unsigned long)atomic_load(&kicks));
    /* the race was run: the consumer went to sleep at least once a round */
    ck_assert_uint_ge(sleeps + refused, ROUNDS);
    /* at most one kick per sleep (a push racing a refused sleep kicks
     * too: the next sleep then ends at once) */
    ck_assert_uint_le(atomic_load(&kicks), sleeps + refused);
    pthread_barrier_destroy(&round_start);
    close(efd);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("nvme_remote");
    TCase *tc = tcase_create("remote");
    SRunner *sr;
    int failed;

    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, test_fifo);
    tcase_add_test(tc, test_no_lost_wakeup);
    suite_add_tcase(s, tc);
    sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
