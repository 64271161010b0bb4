/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The control socket: vfiouserctl(8) and scripts ask the running daemon
 * for its devices' status and change them (add, remove, reload, log
 * levels).  Served on the main thread's GMainContext.
 *
 * Protocol: line-delimited JSON over a UNIX stream socket.  Each request is
 * one JSON object on one line, {"command": "status", "device": "gpio0"}; an
 * "id" member, if any, is copied into the answer.  Each answer is one line:
 * {"ok": true, ...} or {"ok": false, "error": "text", "code": "EBUSY"}.
 * Requests of one connection are answered in order; a malformed request
 * (bad JSON, unknown command, a line over CONTROL_MAX_LINE bytes) gets an
 * error answer and the connection goes on.  See vfiouserctl(8).
 */
#ifndef VFIOUSERD_CONTROL_H
#define VFIOUSERD_CONTROL_H

#include <sys/types.h>

#include <json-c/json.h>

#include "devset.h"

/* Longest request line; longer ones are answered E2BIG and skipped. */
#define CONTROL_MAX_LINE (64u * 1024)
/* Connections served at once; more are told so and closed. */
#define CONTROL_MAX_CLIENTS 16u
/* Version of the request/answer format, in the "version" answer. */
#define CONTROL_PROTOCOL 1

struct control;
struct control_request;

/* A command: answer with control_answer(), at once or later (main thread).
 * args is the whole request object (borrowed for the call only). */
typedef void (*control_fn)(struct control_request *req, json_object *args,
                           void *data);

/* Commands defined elsewhere (e.g. migration), before control_new(). */
void control_register(const char *name, control_fn fn, void *data);

/* Bind the control socket at path (created like a device socket, with mode
 * and group from cfg) and serve it.  NULL on error (logged). */
struct control *control_new(struct devset *ds, const char *path);
/* Serve fd, a socket already bound to path and listening (upgrade). */
struct control *control_adopt(struct devset *ds, const char *path, int fd);
/* The listening socket, and ceasing to accept on it (upgrade: the new
 * process accepts from now on). */
int control_fd(const struct control *ctl);
const char *control_socket_path(const struct control *ctl);
void control_stop_accepting(struct control *ctl);
/* Send the answers given so far, now (upgrade: before the process ends). */
void control_flush_answers(struct control *ctl);
/* Close the socket and every connection; requests still waiting for an
 * answer are answered into the void. */
void control_free(struct control *ctl);

/* Answer req (takes answer) and let its connection go on. */
void control_answer(struct control_request *req, json_object *answer);
/* Answer req with an error: {"ok": false, "error": TEXT, "code": "EXXX"}. */
void control_answer_error(struct control_request *req, int err, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* Who asked (SO_PEERCRED of the connection); -1 if it has gone. */
pid_t control_request_pid(const struct control_request *req);
uid_t control_request_uid(const struct control_request *req);
struct devset *control_request_devset(const struct control_request *req);

#endif
