/* SPDX-License-Identifier: BSD-3-Clause */
#include "config.h"

#include "log.h"

#include <stdatomic.h>
#include <stdio.h>
#include <string.h>

static enum log_target log_target = LOG_TARGET_STDERR;
static atomic_int log_level = LOG_INFO;
/* Errors logged by this thread while a control request runs. */
static __thread GPtrArray *log_captured;

static const char *const level_names[] = {
    [LOG_EMERG] = "emerg", [LOG_ALERT] = "alert", [LOG_CRIT] = "crit",
    [LOG_ERR] = "error",   [LOG_WARNING] = "warning", [LOG_NOTICE] = "notice",
    [LOG_INFO] = "info",   [LOG_DEBUG] = "debug",
};

void log_init(enum log_target target)
{
    log_target = target;
    if (target == LOG_TARGET_SYSLOG) {
        openlog("vfiouserd", LOG_PID | LOG_NDELAY, LOG_DAEMON);
    }
}

const char *log_target_name(void)
{
    switch (log_target) {
    case LOG_TARGET_SYSLOG:
        return "syslog";
    case LOG_TARGET_JOURNAL:
        return "journal";
    default:
        return "stderr";
    }
}

void log_set_level(int level)
{
    atomic_store(&log_level, level);
}

int log_get_level(void)
{
    return atomic_load(&log_level);
}

bool log_enabled(int level)
{
    return level <= atomic_load(&log_level);
}

void log_vmsg(int level, const char *dev, const char *fmt, va_list ap)
{
    if (!log_enabled(level)) {
        return;
    }
    log_vmsg_always(level, dev, fmt, ap);
}

void log_vmsg_always(int level, const char *dev, const char *fmt, va_list ap)
{
    char text[2048];
    char line[2200];

    vsnprintf(text, sizeof(text), fmt, ap);
    if (level <= LOG_ERR && log_captured != NULL) {
        g_ptr_array_add(log_captured,
                        dev != NULL ? g_strdup_printf("[%s] %s", dev, text)
                                    : g_strdup(text));
    }
    if (log_target == LOG_TARGET_SYSLOG) {
        if (dev != NULL) {
            syslog(level, "[%s] %s", dev, text);
        } else {
            syslog(level, "%s", text);
        }
        return;
    }
    /* Build the whole line first: one write per message keeps lines from
     * different device threads intact. */
    snprintf(line, sizeof(line), "%s%s%s%s%s\n",
             log_target == LOG_TARGET_JOURNAL ? "" : "vfiouserd: ",
             dev != NULL ? "[" : "", dev != NULL ? dev : "",
             dev != NULL ? "] " : "", text);
    if (log_target == LOG_TARGET_JOURNAL) {
        fprintf(stderr, "<%d>%s", level, line);
    } else {
        fputs(line, stderr);
    }
}

void log_msg(int level, const char *dev, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    log_vmsg(level, dev, fmt, ap);
    va_end(ap);
}

int log_level_parse(const char *s, int *level)
{
    for (int i = LOG_ERR; i <= LOG_DEBUG; i++) {
        if (strcmp(s, level_names[i]) == 0) {
            *level = i;
            return 0;
        }
    }
    if (strcmp(s, "err") == 0) {
        *level = LOG_ERR;
        return 0;
    }
    if (strcmp(s, "warn") == 0) {
        *level = LOG_WARNING;
        return 0;
    }
    return -1;
}

const char *log_level_name(int level)
{
    if (level < LOG_EMERG || level > LOG_DEBUG) {
        return "?";
    }
    return level_names[level];
}

int log_target_parse(const char *s, enum log_target *target)
{
    if (strcmp(s, "stderr") == 0) {
        *target = LOG_TARGET_STDERR;
    } else if (strcmp(s, "syslog") == 0) {
        *target = LOG_TARGET_SYSLOG;
    } else if (strcmp(s, "journal") == 0) {
        *target = LOG_TARGET_JOURNAL;
    } else {
        return -1;
    }
    return 0;
}

void log_capture_begin(void)
{
    if (log_captured == NULL) {
        log_captured = g_ptr_array_new_with_free_func(g_free);
    }
}

GPtrArray *log_capture_end(void)
{
    GPtrArray *a = log_captured;

    log_captured = NULL;
    if (a != NULL && a->len == 0) {
        g_ptr_array_unref(a);
        a = NULL;
    }
    return a;
}
