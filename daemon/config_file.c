#include "config.h"

#include "config_file.h"
#include "log.h"
#include "util.h"

#include <ctype.h>
#include <errno.h>
#include <ini.h>
#include <stdio.h>
#include <string.h>

/* Parser state.  libinih does not tell the handler the line number, so our
 * reader counts lines itself and also spots section headers (inih calls
 * nothing for an empty section, and merges repeated ones silently). */
struct parse_state {
    FILE *f;
    struct daemon_config *cfg;
    unsigned line;        /* line of the text last handed to inih */
    unsigned next_line;   /* line the next read starts on */
    unsigned errors;
    struct device_config *cur; /* device of the current section */
    bool in_daemon;
    bool skip_section; /* after a broken header: ignore its keys */
    GHashTable *seen_sections; /* name -> line of its first header */
};

static void parse_error(struct parse_state *ps, const char *dev,
                        const char *fmt, ...) __attribute__((format(printf, 3, 4)));

static void parse_error(struct parse_state *ps, const char *dev,
                        const char *fmt, ...)
{
    char text[1024];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(text, sizeof(text), fmt, ap);
    va_end(ap);
    if (dev != NULL) {
        log_error(NULL, "%s:%u: [%s] %s", ps->cfg->path, ps->line, dev, text);
    } else {
        log_error(NULL, "%s:%u: %s", ps->cfg->path, ps->line, text);
    }
    ps->errors++;
}

static void config_entry_free(gpointer p)
{
    struct config_entry *e = p;

    g_free(e->key);
    g_free(e->value);
    g_free(e);
}

static void device_config_free(gpointer p)
{
    struct device_config *dc = p;

    g_free(dc->name);
    g_free(dc->plugin);
    g_free(dc->socket);
    g_ptr_array_unref(dc->keys);
    g_free(dc);
}

struct daemon_config *config_new(const char *path)
{
    struct daemon_config *cfg = g_new0(struct daemon_config, 1);

    cfg->path = g_strdup(path);
    cfg->socket_dir = g_strdup(SOCKETDIR);
    cfg->socket_mode = 0660;
    cfg->log_level = -1;
    cfg->callback_warn_ms = 1000;
    cfg->devices = g_ptr_array_new_with_free_func(device_config_free);
    return cfg;
}

void config_free(struct daemon_config *cfg)
{
    if (cfg == NULL) {
        return;
    }
    g_free(cfg->path);
    g_free(cfg->plugin_dir);
    g_free(cfg->socket_dir);
    g_ptr_array_unref(cfg->devices);
    g_free(cfg);
}

struct device_config *config_add_device(struct daemon_config *cfg,
                                        const char *name, unsigned line)
{
    struct device_config *dc = g_new0(struct device_config, 1);

    dc->name = g_strdup(name);
    dc->line = line;
    dc->keys = g_ptr_array_new_with_free_func(config_entry_free);
    g_ptr_array_add(cfg->devices, dc);
    return dc;
}

void config_device_add_key(struct device_config *dc, const char *key,
                           const char *value, unsigned line)
{
    struct config_entry *e = g_new0(struct config_entry, 1);

    e->key = g_strdup(key);
    e->value = g_strdup(value);
    e->line = line;
    g_ptr_array_add(dc->keys, e);
}

char *config_device_socket(const struct daemon_config *cfg,
                           const struct device_config *dc)
{
    if (dc->socket != NULL) {
        return g_strdup(dc->socket);
    }
    return g_strdup_printf("%s/%s.sock", cfg->socket_dir, dc->name);
}

/* A "[name]" line: returns the name (newly allocated) or NULL. */
static char *section_header_name(const char *line)
{
    const char *p = line, *end;

    while (*p == ' ' || *p == '\t') {
        p++;
    }
    if (*p != '[') {
        return NULL;
    }
    end = strchr(p, ']');
    if (end == NULL) {
        return NULL;
    }
    return g_strstrip(g_strndup(p + 1, (gsize)(end - p - 1)));
}

static void section_start(struct parse_state *ps, const char *name)
{
    gpointer first;

    ps->cur = NULL;
    ps->in_daemon = false;
    ps->skip_section = false;
    if (g_hash_table_lookup_extended(ps->seen_sections, name, NULL, &first)) {
        if (strcmp(name, "daemon") == 0) {
            parse_error(ps, NULL, "duplicate section [daemon] (first at line %u)",
                        GPOINTER_TO_UINT(first));
        } else {
            parse_error(ps, name, "duplicate device name (first defined at line %u)",
                        GPOINTER_TO_UINT(first));
        }
        /* Keys of the duplicate are ignored (cur stays NULL). */
        return;
    }
    g_hash_table_insert(ps->seen_sections, g_strdup(name),
                        GUINT_TO_POINTER(ps->line));
    if (strcmp(name, "daemon") == 0) {
        ps->in_daemon = true;
        return;
    }
    if (!util_valid_device_name(name)) {
        parse_error(ps, name,
                    "invalid device name (use 1-64 of A-Z a-z 0-9 _ . -)");
        return;
    }
    ps->cur = config_add_device(ps->cfg, name, ps->line);
}

/* Look at a line before inih does: section headers start a section here,
 * and syntax errors are reported here, where we know the line (inih only
 * reports its first one).  A bad line is blanked so inih skips it. */
static void classify_line(struct parse_state *ps, char *str)
{
    const char *p = str;
    g_autofree char *name = NULL;

    while (*p == ' ' || *p == '\t') {
        p++;
    }
    if (*p == '\0' || *p == '\n' || *p == '\r' || *p == ';' || *p == '#') {
        return;
    }
    name = section_header_name(str);
    if (name != NULL) {
        section_start(ps, name);
        return;
    }
    if (*p == '[') {
        parse_error(ps, NULL, "syntax error: section header without ']'");
        ps->cur = NULL;
        ps->in_daemon = false;
        ps->skip_section = true;
    } else if (strpbrk(p, "=:") == NULL) {
        parse_error(ps, NULL, "syntax error (expected 'key = value' or '[section]')");
    } else {
        return;
    }
    str[0] = '\n';
    str[1] = '\0';
}

/* inih reader: fgets() that counts lines, notices section headers, and
 * refuses lines longer than inih's buffer instead of splitting them. */
static char *counting_reader(char *str, int num, void *stream)
{
    struct parse_state *ps = stream;
    size_t len;

    for (;;) {
        if (fgets(str, num, ps->f) == NULL) {
            return NULL;
        }
        ps->line = ps->next_line;
        len = strlen(str);
        if (len > 0 && str[len - 1] == '\n') {
            ps->next_line++;
            break;
        }
        if (feof(ps->f)) {
            break;
        }
        /* Longer than inih accepts: skip the rest and report it. */
        {
            int c;

            while ((c = fgetc(ps->f)) != EOF && c != '\n') {
            }
            ps->next_line++;
        }
        parse_error(ps, NULL, "line too long (more than %d characters)",
                    num - 2);
    }
    classify_line(ps, str);
    return str;
}

static int daemon_key(struct parse_state *ps, const char *key, const char *value)
{
    struct daemon_config *cfg = ps->cfg;
    int r;

    if (strcmp(key, "plugin-dir") == 0) {
        g_free(cfg->plugin_dir);
        cfg->plugin_dir = g_strdup(value);
    } else if (strcmp(key, "socket-dir") == 0) {
        if (value[0] != '/') {
            parse_error(ps, "daemon", "socket-dir '%s' must be an absolute path",
                        value);
            return 0;
        }
        g_free(cfg->socket_dir);
        cfg->socket_dir = g_strdup(value);
    } else if (strcmp(key, "socket-mode") == 0) {
        if (util_parse_mode(value, &cfg->socket_mode) < 0) {
            parse_error(ps, "daemon", "invalid socket-mode '%s' (octal, e.g. 0660)",
                        value);
            return 0;
        }
    } else if (strcmp(key, "socket-owner") == 0) {
        r = util_parse_uid(value, &cfg->socket_uid);
        if (r < 0) {
            parse_error(ps, "daemon", "socket-owner '%s': %s", value,
                        r == -ENOENT ? "no such user" : "invalid user id");
            return 0;
        }
        cfg->has_socket_uid = true;
    } else if (strcmp(key, "socket-group") == 0) {
        r = util_parse_gid(value, &cfg->socket_gid);
        if (r < 0) {
            parse_error(ps, "daemon", "socket-group '%s': %s", value,
                        r == -ENOENT ? "no such group" : "invalid group id");
            return 0;
        }
        cfg->has_socket_gid = true;
    } else if (strcmp(key, "log-level") == 0) {
        if (log_level_parse(value, &cfg->log_level) < 0) {
            parse_error(ps, "daemon",
                        "invalid log-level '%s' (error, warning, notice, info, debug)",
                        value);
            return 0;
        }
    } else if (strcmp(key, "callback-warn-ms") == 0) {
        uint64_t v;

        if (util_parse_u64(value, &v) < 0 || v > 600000) {
            parse_error(ps, "daemon",
                        "invalid callback-warn-ms '%s' (0..600000, 0: off)", value);
            return 0;
        }
        cfg->callback_warn_ms = (unsigned)v;
    } else {
        parse_error(ps, "daemon", "unknown key '%s'", key);
        return 0;
    }
    return 1;
}

int config_device_daemon_key(struct device_config *dc, const char *key,
                             const char *value, char **why)
{
    *why = NULL;
    if (strcmp(key, "write-multiple") == 0) {
        if (util_parse_bool(value, &dc->write_multiple) < 0) {
            *why = g_strdup_printf("write-multiple = %s: expected yes or no", value);
        }
        return 1;
    }
    return 0;
}

static int device_key(struct parse_state *ps, struct device_config *dc,
                      const char *key, const char *value)
{
    g_autofree char *why = NULL;

    if (strcmp(key, "plugin") == 0) {
        if (dc->plugin != NULL) {
            parse_error(ps, dc->name, "duplicate key 'plugin' (first at line %u)",
                        dc->plugin_line);
            return 0;
        }
        if (value[0] == '\0') {
            parse_error(ps, dc->name, "empty plugin name");
            return 0;
        }
        dc->plugin = g_strdup(value);
        dc->plugin_line = ps->line;
    } else if (strcmp(key, "socket") == 0) {
        if (dc->socket != NULL) {
            parse_error(ps, dc->name, "duplicate key 'socket' (first at line %u)",
                        dc->socket_line);
            return 0;
        }
        if (value[0] != '/') {
            parse_error(ps, dc->name, "socket '%s' must be an absolute path",
                        value);
            return 0;
        }
        dc->socket = g_strdup(value);
        dc->socket_line = ps->line;
    } else if (config_device_daemon_key(dc, key, value, &why) == 1) {
        if (why != NULL) {
            parse_error(ps, dc->name, "%s", why);
            return 0;
        }
    } else {
        for (guint i = 0; i < dc->keys->len; i++) {
            const struct config_entry *e = g_ptr_array_index(dc->keys, i);

            if (strcmp(e->key, key) == 0) {
                parse_error(ps, dc->name, "duplicate key '%s' (first at line %u)",
                            key, e->line);
                return 0;
            }
        }
        config_device_add_key(dc, key, value, ps->line);
    }
    return 1;
}

static int on_ini_entry(void *user, const char *section, const char *key,
                       const char *value)
{
    struct parse_state *ps = user;

    if (ps->skip_section) {
        return 1;
    }
    if (section[0] == '\0') {
        parse_error(ps, NULL, "key '%s' outside any section", key);
        return 0;
    }
    if (ps->in_daemon) {
        return daemon_key(ps, key, value);
    }
    if (ps->cur == NULL) {
        return 0; /* the section's own error was reported already */
    }
    return device_key(ps, ps->cur, key, value);
}

int config_load(const char *path, struct daemon_config **out)
{
    struct parse_state ps = { 0 };
    int r;

    *out = NULL;
    ps.f = fopen(path, "re");
    if (ps.f == NULL) {
        r = -errno;
        log_error(NULL, "%s: %s", path, g_strerror(-r));
        return r;
    }
    ps.cfg = config_new(path);
    ps.next_line = 1;
    /* An indented line is a key of its own, not a continuation of the
     * previous value: continuations would hide mistakes behind a second
     * value for the same key. */
    ini_allow_multiline = false;
    ps.seen_sections = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);

    r = ini_parse_stream(counting_reader, &ps, on_ini_entry, &ps);
    if (r > 0 && ps.errors == 0) {
        /* A syntax error inih found on its own (e.g. a line without '='). */
        ps.line = (unsigned)r;
        parse_error(&ps, NULL, "syntax error (expected 'key = value' or '[section]')");
    } else if (r < 0) {
        parse_error(&ps, NULL, "cannot parse the file");
    }
    fclose(ps.f);
    g_hash_table_unref(ps.seen_sections);

    for (guint i = 0; i < ps.cfg->devices->len; i++) {
        struct device_config *dc = g_ptr_array_index(ps.cfg->devices, i);

        if (dc->plugin == NULL) {
            ps.line = dc->line;
            parse_error(&ps, dc->name, "no 'plugin' key in this section");
        }
    }
    if (ps.errors > 0) {
        config_free(ps.cfg);
        return -EINVAL;
    }
    *out = ps.cfg;
    return 0;
}
