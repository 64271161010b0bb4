/* SPDX-License-Identifier: BSD-3-Clause */
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
    if (dc->allowed_uids != NULL) {
        g_array_unref(dc->allowed_uids);
    }
    if (dc->allowed_gids != NULL) {
        g_array_unref(dc->allowed_gids);
    }
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
    cfg->handshake_timeout_ms = 10000;
    cfg->control_mode = 0600;
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
    g_free(cfg->control_socket);
    sandbox_config_clear(&cfg->sandbox);
    if (cfg->allowed_uids != NULL) {
        g_array_unref(cfg->allowed_uids);
    }
    if (cfg->allowed_gids != NULL) {
        g_array_unref(cfg->allowed_gids);
    }
    g_free(cfg);
}

struct device_config *config_device_new(const char *name)
{
    struct device_config *dc = g_new0(struct device_config, 1);

    dc->name = g_strdup(name);
    dc->keys = g_ptr_array_new_with_free_func(config_entry_free);
    dc->log_level = -1;
    return dc;
}

void config_device_free(struct device_config *dc)
{
    if (dc != NULL) {
        device_config_free(dc);
    }
}

struct device_config *config_add_device(struct daemon_config *cfg,
                                        const char *name, unsigned line)
{
    struct device_config *dc = config_device_new(name);

    dc->line = line;
    g_ptr_array_add(cfg->devices, dc);
    return dc;
}

struct device_config *config_find_device(const struct daemon_config *cfg,
                                         const char *name)
{
    for (guint i = 0; i < cfg->devices->len; i++) {
        struct device_config *dc = g_ptr_array_index(cfg->devices, i);

        if (strcmp(dc->name, name) == 0) {
            return dc;
        }
    }
    return NULL;
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

/* ------------------------------------------------------------------------
 * Operations keys: control socket and access control
 */

/* "qemu, 64055 libvirt-qemu" (names or numbers, separated by commas or
 * blanks), or "*" for anyone (an empty list). */
static int parse_id_list(const char *key, const char *value, bool groups,
                         GArray **out, char **why)
{
    g_auto(GStrv) words = g_strsplit_set(value, ", \t", -1);
    g_autoptr(GArray) ids = g_array_new(FALSE, FALSE, sizeof(guint32));
    unsigned n = 0;

    if (g_strv_length(words) == 1 && strcmp(words[0], "*") == 0) {
        *out = g_steal_pointer(&ids);
        return 0;
    }
    for (char **w = words; *w != NULL; w++) {
        guint32 id;
        int r;

        if ((*w)[0] == '\0') {
            continue;
        }
        if (groups) {
            gid_t g;

            r = util_parse_gid(*w, &g);
            id = g;
        } else {
            uid_t u;

            r = util_parse_uid(*w, &u);
            id = u;
        }
        if (r < 0) {
            *why = g_strdup_printf("%s: '%s': %s", key, *w,
                                   r == -ENOENT ? (groups ? "no such group"
                                                          : "no such user")
                                                : (groups ? "invalid group id"
                                                          : "invalid user id"));
            return -EINVAL;
        }
        g_array_append_val(ids, id);
        n++;
    }
    if (n == 0) {
        *why = g_strdup_printf("%s: empty list (use * to allow anyone)", key);
        return -EINVAL;
    }
    *out = g_steal_pointer(&ids);
    return 0;
}

static void set_id_list(GArray **slot, GArray *ids)
{
    if (*slot != NULL) {
        g_array_unref(*slot);
    }
    *slot = ids;
}

/* Keys of [daemon] for operations: 1 if handled (errors reported), 0 if
 * unknown. */
static int daemon_ops_key(struct parse_state *ps, const char *key,
                          const char *value)
{
    struct daemon_config *cfg = ps->cfg;
    g_autofree char *why = NULL;
    GArray *ids = NULL;

    if (strcmp(key, "control-socket") == 0) {
        if (strcmp(value, "none") != 0 && value[0] != '/') {
            parse_error(ps, "daemon", "control-socket '%s' must be an absolute "
                        "path or none", value);
            return 1;
        }
        g_free(cfg->control_socket);
        cfg->control_socket = g_strdup(strcmp(value, "none") == 0 ? "" : value);
    } else if (strcmp(key, "control-socket-mode") == 0) {
        if (util_parse_mode(value, &cfg->control_mode) < 0) {
            parse_error(ps, "daemon", "invalid control-socket-mode '%s' (octal, "
                        "e.g. 0600)", value);
        }
    } else if (strcmp(key, "control-socket-group") == 0) {
        int r = util_parse_gid(value, &cfg->control_gid);

        if (r < 0) {
            parse_error(ps, "daemon", "control-socket-group '%s': %s", value,
                        r == -ENOENT ? "no such group" : "invalid group id");
            return 1;
        }
        cfg->has_control_gid = true;
    } else if (strcmp(key, "allowed-uids") == 0 || strcmp(key, "allowed-gids") == 0) {
        bool groups = key[8] == 'g';

        if (parse_id_list(key, value, groups, &ids, &why) < 0) {
            parse_error(ps, "daemon", "%s", why);
            return 1;
        }
        set_id_list(groups ? &cfg->allowed_gids : &cfg->allowed_uids, ids);
    } else {
        return 0;
    }
    return 1;
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
    } else if (strcmp(key, "handshake-timeout-ms") == 0) {
        uint64_t v;

        if (util_parse_u64(value, &v) < 0 || v > 600000) {
            parse_error(ps, "daemon",
                        "invalid handshake-timeout-ms '%s' (0..600000, 0: none)",
                        value);
            return 0;
        }
        cfg->handshake_timeout_ms = (unsigned)v;
    } else if (daemon_ops_key(ps, key, value) == 0) {
        g_autofree char *why = NULL;

        if (sandbox_config_key(&cfg->sandbox, key, value, &why) == 0) {
            parse_error(ps, "daemon", "unknown key '%s'", key);
            return 0;
        }
        if (why != NULL) {
            parse_error(ps, "daemon", "%s", why);
            return 0;
        }
    }
    return 1;
}

int config_device_daemon_key(struct device_config *dc, const char *key,
                             const char *value, char **why)
{
    GArray *ids = NULL;
    int r;

    *why = NULL;
    if (strcmp(key, "write-multiple") == 0) {
        if (util_parse_bool(value, &dc->write_multiple) < 0) {
            *why = g_strdup_printf("write-multiple = %s: expected yes or no", value);
        }
        return 1;
    }
    if (strcmp(key, "isolate") == 0) {
        if (strcmp(value, "process") == 0) {
            dc->isolate = true;
            dc->isolate_set = true;
        } else if (strcmp(value, "thread") == 0) {
            dc->isolate = false;
            dc->isolate_set = true;
        } else {
            *why = g_strdup_printf("isolate = %s: expected thread or process", value);
        }
        return 1;
    }
    /* Resources of an isolated device's process (the sandbox). */
    if (strcmp(key, "limit-fds") == 0) {
        if (util_parse_u64(value, &dc->limit_fds) < 0 || dc->limit_fds < 16 ||
            dc->limit_fds > (1u << 20)) {
            *why = g_strdup_printf("limit-fds = %s: expected 16..1048576", value);
        }
        return 1;
    }
    if (strcmp(key, "limit-memory") == 0) {
        if (util_parse_size(value, &dc->limit_memory) < 0 ||
            dc->limit_memory < (64u << 20)) {
            *why = g_strdup_printf("limit-memory = %s: expected a size of 64M or more",
                                   value);
        }
        return 1;
    }
    /* Operations: applied at run time by a reload. */
    if (strcmp(key, "log-level") == 0) {
        if (log_level_parse(value, &dc->log_level) < 0) {
            *why = g_strdup_printf("invalid log-level '%s' (error, warning, notice, "
                                   "info, debug)", value);
        }
    } else if (strcmp(key, "allowed-uids") == 0 || strcmp(key, "allowed-gids") == 0) {
        bool groups = key[8] == 'g';

        if (parse_id_list(key, value, groups, &ids, why) == 0) {
            set_id_list(groups ? &dc->allowed_gids : &dc->allowed_uids, ids);
        }
    } else if (strcmp(key, "socket-mode") == 0) {
        if (util_parse_mode(value, &dc->perms.mode) < 0) {
            *why = g_strdup_printf("invalid socket-mode '%s' (octal, e.g. 0660)", value);
        } else {
            dc->perms.has_mode = true;
        }
    } else if (strcmp(key, "socket-owner") == 0) {
        r = util_parse_uid(value, &dc->perms.uid);
        if (r < 0) {
            *why = g_strdup_printf("socket-owner '%s': %s", value,
                                   r == -ENOENT ? "no such user" : "invalid user id");
        } else {
            dc->perms.has_uid = true;
        }
    } else if (strcmp(key, "socket-group") == 0) {
        r = util_parse_gid(value, &dc->perms.gid);
        if (r < 0) {
            *why = g_strdup_printf("socket-group '%s': %s", value,
                                   r == -ENOENT ? "no such group" : "invalid group id");
        } else {
            dc->perms.has_gid = true;
        }
    } else {
        return 0;
    }
    return 1;
}

/* "duplicate key 'k' (first at line N)", without the line for keys that
 * came from the control socket. */
static char *duplicate(const char *key, unsigned first_line)
{
    if (first_line == 0) {
        return g_strdup_printf("duplicate key '%s'", key);
    }
    return g_strdup_printf("duplicate key '%s' (first at line %u)", key, first_line);
}

int config_device_set(struct device_config *dc, const char *key,
                      const char *value, unsigned line, char **why)
{
    *why = NULL;
    if (strcmp(key, "plugin") == 0) {
        if (dc->plugin != NULL) {
            *why = duplicate(key, dc->plugin_line);
            return -EINVAL;
        }
        if (value[0] == '\0') {
            *why = g_strdup("empty plugin name");
            return -EINVAL;
        }
        dc->plugin = g_strdup(value);
        dc->plugin_line = line;
    } else if (strcmp(key, "socket") == 0) {
        if (dc->socket != NULL) {
            *why = duplicate(key, dc->socket_line);
            return -EINVAL;
        }
        if (value[0] != '/') {
            *why = g_strdup_printf("socket '%s' must be an absolute path", value);
            return -EINVAL;
        }
        dc->socket = g_strdup(value);
        dc->socket_line = line;
    } else if (config_device_daemon_key(dc, key, value, why) == 1) {
        if (*why != NULL) {
            return -EINVAL;
        }
    } else {
        for (guint i = 0; i < dc->keys->len; i++) {
            const struct config_entry *e = g_ptr_array_index(dc->keys, i);

            if (strcmp(e->key, key) == 0) {
                *why = duplicate(key, e->line);
                return -EINVAL;
            }
        }
        config_device_add_key(dc, key, value, line);
    }
    return 0;
}

static int device_key(struct parse_state *ps, struct device_config *dc,
                      const char *key, const char *value)
{
    g_autofree char *why = NULL;

    if (config_device_set(dc, key, value, ps->line, &why) < 0) {
        parse_error(ps, dc->name, "%s", why);
        return 0;
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

/* ------------------------------------------------------------------------
 * Operations: comparing and copying device sections (reload)
 */
static GArray *ids_dup(const GArray *a)
{
    GArray *b;

    if (a == NULL) {
        return NULL;
    }
    b = g_array_sized_new(FALSE, FALSE, sizeof(guint32), a->len);
    g_array_append_vals(b, a->data, a->len);
    return b;
}

static bool ids_equal(const GArray *a, const GArray *b)
{
    if (a == NULL || b == NULL) {
        return a == b;
    }
    return a->len == b->len && memcmp(a->data, b->data, a->len * sizeof(guint32)) == 0;
}

struct device_config *config_device_dup(const struct device_config *dc)
{
    struct device_config *n = config_device_new(dc->name);

    n->line = dc->line;
    n->plugin = g_strdup(dc->plugin);
    n->plugin_line = dc->plugin_line;
    n->socket = g_strdup(dc->socket);
    n->socket_line = dc->socket_line;
    n->write_multiple = dc->write_multiple;
    n->isolate = dc->isolate;
    n->isolate_set = dc->isolate_set;
    n->limit_fds = dc->limit_fds;
    n->limit_memory = dc->limit_memory;
    for (guint i = 0; i < dc->keys->len; i++) {
        const struct config_entry *e = g_ptr_array_index(dc->keys, i);

        config_device_add_key(n, e->key, e->value, e->line);
    }
    n->log_level = dc->log_level;
    n->allowed_uids = ids_dup(dc->allowed_uids);
    n->allowed_gids = ids_dup(dc->allowed_gids);
    n->perms = dc->perms;
    return n;
}

bool config_device_same_instance(const struct device_config *a,
                                 const struct device_config *b)
{
    if (g_strcmp0(a->plugin, b->plugin) != 0 || a->keys->len != b->keys->len ||
        a->isolate_set != b->isolate_set ||
        (a->isolate_set && a->isolate != b->isolate) || a->limit_fds != b->limit_fds ||
        a->limit_memory != b->limit_memory) {
        return false;
    }
    for (guint i = 0; i < a->keys->len; i++) {
        const struct config_entry *x = g_ptr_array_index(a->keys, i);
        const struct config_entry *y = g_ptr_array_index(b->keys, i);

        if (strcmp(x->key, y->key) != 0 || strcmp(x->value, y->value) != 0) {
            return false;
        }
    }
    return true;
}

static bool perms_equal(const struct socket_perms *a, const struct socket_perms *b)
{
    return a->has_mode == b->has_mode && a->has_uid == b->has_uid &&
           a->has_gid == b->has_gid && (!a->has_mode || a->mode == b->mode) &&
           (!a->has_uid || a->uid == b->uid) && (!a->has_gid || a->gid == b->gid);
}

bool config_device_same_settings(const struct device_config *a,
                                 const struct device_config *b)
{
    return a->write_multiple == b->write_multiple && a->log_level == b->log_level &&
           ids_equal(a->allowed_uids, b->allowed_uids) &&
           ids_equal(a->allowed_gids, b->allowed_gids) &&
           perms_equal(&a->perms, &b->perms);
}

void config_device_perms(const struct daemon_config *cfg,
                         const struct device_config *dc, struct socket_perms *out)
{
    out->has_mode = true;
    out->mode = dc->perms.has_mode ? dc->perms.mode : cfg->socket_mode;
    out->has_uid = dc->perms.has_uid || cfg->has_socket_uid;
    out->uid = dc->perms.has_uid ? dc->perms.uid : cfg->socket_uid;
    out->has_gid = dc->perms.has_gid || cfg->has_socket_gid;
    out->gid = dc->perms.has_gid ? dc->perms.gid : cfg->socket_gid;
}

const GArray *config_device_allowed_uids(const struct daemon_config *cfg,
                                         const struct device_config *dc)
{
    return dc->allowed_uids != NULL ? dc->allowed_uids : cfg->allowed_uids;
}

const GArray *config_device_allowed_gids(const struct daemon_config *cfg,
                                         const struct device_config *dc)
{
    return dc->allowed_gids != NULL ? dc->allowed_gids : cfg->allowed_gids;
}

char *config_control_socket(const struct daemon_config *cfg)
{
    if (cfg->control_socket == NULL) {
        return g_strdup_printf("%s/control", cfg->socket_dir);
    }
    if (cfg->control_socket[0] == '\0') {
        return NULL;
    }
    return g_strdup(cfg->control_socket);
}

static void append_ids(GString *out, const char *key, const GArray *ids)
{
    if (ids == NULL) {
        return;
    }
    g_string_append_printf(out, "%s =", key);
    if (ids->len == 0) {
        g_string_append(out, " *");
    }
    for (guint i = 0; i < ids->len; i++) {
        g_string_append_printf(out, " %u", g_array_index(ids, guint32, i));
    }
    g_string_append_c(out, '\n');
}

char *config_isolated_text(const struct daemon_config *cfg,
                           const struct device_config *dc, const char *plugin_dir,
                           const char *socket_path)
{
    GString *out = g_string_new("# written by vfiouserd for an isolated device\n");

    /* The socket is passed as an fd, so nothing about sockets matters but
     * who may connect; and the child has no control socket of its own. */
    g_string_append(out, "[daemon]\n");
    g_string_append_printf(out, "plugin-dir = %s\n", plugin_dir);
    if (cfg->log_level >= 0) {
        g_string_append_printf(out, "log-level = %s\n", log_level_name(cfg->log_level));
    }
    g_string_append_printf(out, "callback-warn-ms = %u\n", cfg->callback_warn_ms);
    g_string_append_printf(out, "handshake-timeout-ms = %u\n", cfg->handshake_timeout_ms);
    g_string_append(out, "control-socket = none\n");
    sandbox_config_write(&cfg->sandbox, out);

    g_string_append_printf(out, "[%s]\n", dc->name);
    g_string_append_printf(out, "plugin = %s\n", dc->plugin);
    if (socket_path != NULL) {
        /* For its messages: the socket itself comes as an fd. */
        g_string_append_printf(out, "socket = %s\n", socket_path);
    }
    g_string_append_printf(out, "write-multiple = %s\n", dc->write_multiple ? "yes" : "no");
    if (dc->limit_fds != 0) {
        g_string_append_printf(out, "limit-fds = %llu\n", (unsigned long long)dc->limit_fds);
    }
    if (dc->limit_memory != 0) {
        g_string_append_printf(out, "limit-memory = %llu\n",
                               (unsigned long long)dc->limit_memory);
    }
    if (dc->log_level >= 0) {
        g_string_append_printf(out, "log-level = %s\n", log_level_name(dc->log_level));
    }
    append_ids(out, "allowed-uids", config_device_allowed_uids(cfg, dc));
    append_ids(out, "allowed-gids", config_device_allowed_gids(cfg, dc));
    for (guint i = 0; i < dc->keys->len; i++) {
        const struct config_entry *e = g_ptr_array_index(dc->keys, i);

        g_string_append_printf(out, "%s = %s\n", e->key, e->value);
    }
    return g_string_free(out, FALSE);
}
