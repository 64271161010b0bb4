/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Logging for the daemon and, through vfud_log(), its plugins.
 *
 * One line per message: "vfiouserd: [device] text" on stderr, the same with
 * a "<N>" priority prefix when journald reads our stderr, or syslog(3).
 */
#ifndef VFIOUSERD_LOG_H
#define VFIOUSERD_LOG_H

#include <stdarg.h>
#include <stdbool.h>
#include <syslog.h>

#include <glib.h>

enum log_target {
    LOG_TARGET_STDERR,
    LOG_TARGET_JOURNAL,
    LOG_TARGET_SYSLOG,
};

void log_init(enum log_target target);
/* The target as --log names it. */
const char *log_target_name(void);
void log_set_level(int level);
int log_get_level(void);
bool log_enabled(int level);

/* dev may be NULL for daemon-wide messages. */
void log_msg(int level, const char *dev, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
void log_vmsg(int level, const char *dev, const char *fmt, va_list ap)
    __attribute__((format(printf, 3, 0)));
/* The same without the daemon-wide level check, for a device whose own
 * level is more verbose (the caller has checked that level). */
void log_vmsg_always(int level, const char *dev, const char *fmt, va_list ap)
    __attribute__((format(printf, 3, 0)));

/* Operations (control socket): collect the errors this thread logs between
 * begin and end, so that a request's answer can carry them.  end returns
 * the lines ("[dev] text", or "text") in a GPtrArray of char * (unref it),
 * or NULL when nothing was logged. */
void log_capture_begin(void);
GPtrArray *log_capture_end(void);

/* "error", "warning", "notice", "info", "debug" <-> LOG_* */
int log_level_parse(const char *s, int *level);
const char *log_level_name(int level);
int log_target_parse(const char *s, enum log_target *target);

#define log_error(dev, ...) log_msg(LOG_ERR, dev, __VA_ARGS__)
#define log_warn(dev, ...) log_msg(LOG_WARNING, dev, __VA_ARGS__)
#define log_notice(dev, ...) log_msg(LOG_NOTICE, dev, __VA_ARGS__)
#define log_info(dev, ...) log_msg(LOG_INFO, dev, __VA_ARGS__)
#define log_debug(dev, ...)                                                   \
    do {                                                                      \
        if (log_enabled(LOG_DEBUG)) {                                         \
            log_msg(LOG_DEBUG, dev, __VA_ARGS__);                             \
        }                                                                     \
    } while (0)

#endif
