/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Helpers of the operations tests (tests/ops/test_*.c): a control socket
 * client, running vfiouserctl, spawning the daemon with inherited sockets
 * and environment variables, reading a process's fd count and RSS, and a
 * gpio device's client attached as QEMU attaches it.
 * Built on tests/daemon/daemon_test.h (dt_*), which every program links.
 */
#ifndef VFUD_OPS_TEST_H
#define VFUD_OPS_TEST_H

#include <stdbool.h>
#include <sys/types.h>

#include <json-c/json.h>

#include "daemon_test.h"

/* Start a harness daemon on config with extra arguments (or NULL) and wait
 * until the devices listen and the control socket is up; fails the test,
 * showing the daemon's log, otherwise. */
struct harness *ot_start(const char *config, const char *const *extra,
                         const char *const *devices);
/* Stop it with SIGTERM; fails the test, showing the log, unless it exits 0. */
void ot_stop_ok(struct harness *h);

/* The control socket of a harness daemon (<socket-dir>/control). */
char *ot_control_path(const struct harness *h);

/* Connect to a control socket; fails the test on error. */
int ot_connect(const char *path);
/* Close a connection made with ot_connect. */
void ot_close(int fd);
/* Send raw bytes (no newline added). */
void ot_send(int fd, const void *buf, size_t len);
/* The next answer line parsed (fails the test if none comes within
 * DT_WAIT_MS or it is not a JSON object). */
json_object *ot_answer(int fd);
/* One request line (a newline is added) and its answer. */
json_object *ot_call(int fd, const char *request);
/* printf-style request on a fresh connection, closed afterwards. */
json_object *ot_request(const char *path, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

bool ot_ok(json_object *a);
const char *ot_str(json_object *a, const char *key);     /* NULL if absent */
json_object *ot_get(json_object *a, const char *path);   /* "devices.0.client.pid" */
/* Is name among the strings of the array at key? */
bool ot_list_has(json_object *a, const char *key, const char *name);
/* Assert ok / not ok with code, showing the answer on failure. */
void ot_assert_ok(json_object *a);
void ot_assert_error(json_object *a, const char *code);

/* Wait until status shows device in state ("listening", ...). */
void ot_wait_state(const char *ctl, const char *device, const char *state);

/* Run the built vfiouserctl with args (NULL-terminated), stdout+stderr in
 * *output; returns its exit status. */
int ot_ctl(const char *const *args, char **output);

/* Start the daemon (with $VFIOUSERD_WRAPPER) with args, logging to
 * log_path.  fds[i] becomes fd 3 + i; env: "NAME=VALUE" strings, where
 * "LISTEN_PID=self" is replaced by the daemon's pid (set in the child).
 * If as_uid != (uid_t)-1 the child drops to that uid/gid first (root
 * only). */
pid_t ot_spawn(const char *const *args, const char *log_path, const int *fds,
               unsigned nr_fds, const char *const *env, uid_t as_uid, gid_t as_gid);

/* A process's fd count once it has settled: until it equals want, for
 * DT_WAIT_MS at most; with want < 0, until it stays the same for 200 ms
 * (DT_WAIT_MS at most: then the last count). */
int ot_settled_fd_count(pid_t pid, int want);

/* A gpio device's client (its output register reads back what it writes)
 * attached as QEMU attaches one: after VERSION, guest memory mapped at 0
 * (OT_GUEST_RAM, shared) and an eventfd as INTx. */
#define OT_GUEST_RAM (2u << 20)
#define OT_GPIO_OUT 0 /* the output register: its offset in BAR2 */
/* Memory and INTx on a client that has negotiated; fails the test on
 * error. */
void ot_gpio_wire(struct vfu_client *c);
/* Connect, negotiate, wire, and write value to the output register. */
struct vfu_client *ot_gpio_attach(const char *sock, uint8_t value);
uint8_t ot_gpio_read(struct vfu_client *c);
void ot_gpio_write(struct vfu_client *c, uint8_t v);
/* Status of device g0 shows this process's client with what
 * ot_gpio_attach wired: connected, one DMA window, INTx attached. */
void ot_gpio_check_client(const char *ctl);
/* A REGION_WRITE of value to the output register as on the wire (header,
 * region access, one data byte: the access struct ends in a flexible
 * array, so no struct holds the three), msg_id OT_GPIO_MSG_ID. */
#define OT_GPIO_MSG_ID 0x7777
#define OT_GPIO_MSG_SIZE \
    (sizeof(struct vfio_user_header) + sizeof(struct vfio_user_region_access) + 1)
void ot_gpio_write_msg(uint8_t m[OT_GPIO_MSG_SIZE], uint8_t value);

/* Resident set size of a process in KiB, or -1. */
long ot_rss_kb(pid_t pid);
/* Milliseconds since some fixed point (monotonic). */
double ot_now_ms(void);

#endif
