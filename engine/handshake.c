/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * VERSION: the first message of every connection.  We read the client's
 * capabilities (json-c) and answer with ours.
 *
 * QEMU reads our reply into the buffer of its own request (trap 4), so the
 * reply is never longer than the request: capabilities are added in order
 * of value and the ones that do not fit are left out, which only means the
 * client assumes the protocol's defaults for them.
 */
#include "config.h"

#include "conn.h"
#include "device.h"
#include "dispatch.h"
#include "dma.h"
#include "migration.h"
#include "util.h"

#include <errno.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <json-c/json.h>

/* Client limits we accept. */
#define CLIENT_MAX_FDS_LIMIT 1024
#define CLIENT_MIN_XFER 512u

struct client_caps {
    int64_t max_msg_fds;
    int64_t max_xfer;
    int64_t pgsizes;
    bool twin_socket;
    bool write_multiple;
    int64_t mig_pgsize; /* 0: not offered */
};

static int get_int(vfud_dev *dev, json_object *o, const char *key, int64_t *out)
{
    json_object *v;

    if (!json_object_object_get_ex(o, key, &v)) {
        return 0;
    }
    if (!json_object_is_type(v, json_type_int)) {
        dev_warn(dev, "VERSION: capability '%s' is not an integer", key);
        return -EINVAL;
    }
    *out = json_object_get_int64(v);
    return 0;
}

static int get_bool(vfud_dev *dev, json_object *o, const char *key, bool *out)
{
    json_object *v;

    if (!json_object_object_get_ex(o, key, &v)) {
        return 0;
    }
    if (!json_object_is_type(v, json_type_boolean)) {
        dev_warn(dev, "VERSION: capability '%s' is not a boolean", key);
        return -EINVAL;
    }
    *out = json_object_get_boolean(v);
    return 0;
}

static int parse_caps(vfud_dev *dev, const char *text, size_t len,
                      struct client_caps *cc)
{
    json_tokener *tok = json_tokener_new();
    json_object *root, *caps, *o;
    int r = 0;

    root = json_tokener_parse_ex(tok, text, (int)len);
    if (root == NULL || json_tokener_get_error(tok) != json_tokener_success) {
        dev_warn(dev, "VERSION: capabilities are not valid JSON");
        r = -EINVAL;
        goto out;
    }
    if (!json_object_is_type(root, json_type_object)) {
        dev_warn(dev, "VERSION: capabilities are not a JSON object");
        r = -EINVAL;
        goto out;
    }
    if (!json_object_object_get_ex(root, "capabilities", &caps)) {
        goto out; /* all defaults */
    }
    if (!json_object_is_type(caps, json_type_object)) {
        dev_warn(dev, "VERSION: 'capabilities' is not an object");
        r = -EINVAL;
        goto out;
    }
    if ((r = get_int(dev, caps, "max_msg_fds", &cc->max_msg_fds)) < 0 ||
        (r = get_int(dev, caps, "max_data_xfer_size", &cc->max_xfer)) < 0 ||
        (r = get_int(dev, caps, "pgsizes", &cc->pgsizes)) < 0 ||
        (r = get_bool(dev, caps, "write_multiple", &cc->write_multiple)) < 0) {
        goto out;
    }
    if (json_object_object_get_ex(caps, "twin_socket", &o)) {
        if (!json_object_is_type(o, json_type_object) ||
            (r = get_bool(dev, o, "supported", &cc->twin_socket)) < 0) {
            dev_warn(dev, "VERSION: malformed 'twin_socket'");
            r = -EINVAL;
            goto out;
        }
    }
    if (json_object_object_get_ex(caps, "migration", &o)) {
        if (!json_object_is_type(o, json_type_object) ||
            (r = get_int(dev, o, "pgsize", &cc->mig_pgsize)) < 0) {
            dev_warn(dev, "VERSION: malformed 'migration'");
            r = -EINVAL;
            goto out;
        }
    }
    if (cc->max_msg_fds < 0 || cc->max_msg_fds > CLIENT_MAX_FDS_LIMIT) {
        dev_warn(dev, "VERSION: max_msg_fds %lld out of range 0..%d",
                 (long long)cc->max_msg_fds, CLIENT_MAX_FDS_LIMIT);
        r = -EINVAL;
    } else if (cc->max_xfer < CLIENT_MIN_XFER || cc->max_xfer > UINT32_MAX) {
        dev_warn(dev, "VERSION: max_data_xfer_size %lld out of range",
                 (long long)cc->max_xfer);
        r = -EINVAL;
    } else if (!(cc->pgsizes & 4096)) {
        dev_warn(dev, "VERSION: pgsizes %#llx lacks 4 KiB pages",
                 (unsigned long long)cc->pgsizes);
        r = -EINVAL;
    }
out:
    if (root != NULL) {
        json_object_put(root);
    }
    json_tokener_free(tok);
    return r;
}

/* Our capabilities, most valuable first; stop before exceeding limit
 * bytes of JSON (including the NUL).  Returns the JSON text (free it). */
static char *reply_caps(struct conn *c, const struct client_caps *cc,
                        size_t limit, bool *twin_included)
{
    json_object *root = json_object_new_object();
    json_object *caps = json_object_new_object();
    char *out;

    json_object_object_add(root, "capabilities", caps);
    *twin_included = false;

    /* Each step adds one key and keeps it only if it still fits. */
#define TRY_ADD(key, value)                                                    \
    do {                                                                       \
        json_object_object_add(caps, key, value);                              \
        if (strlen(json_object_to_json_string_ext(root,                        \
                                                  JSON_C_TO_STRING_PLAIN)) +   \
                1 > limit) {                                                   \
            json_object_object_del(caps, key);                                 \
        }                                                                      \
    } while (0)

    if (cc->twin_socket) {
        json_object *t = json_object_new_object();

        json_object_object_add(t, "supported", json_object_new_boolean(1));
        json_object_object_add(t, "fd_index", json_object_new_int(0));
        TRY_ADD("twin_socket", t);
        *twin_included = json_object_object_get_ex(caps, "twin_socket", NULL);
    }
    TRY_ADD("max_msg_fds", json_object_new_int(CONN_MAX_MSG_FDS));
    TRY_ADD("max_data_xfer_size", json_object_new_int64(CONN_MAX_XFER));
    TRY_ADD("max_dma_maps", json_object_new_int(DMA_MAX_WINDOWS));
    TRY_ADD("pgsizes", json_object_new_int(4096));
    if (migration_supported(c->dev)) {
        /* What QEMU reads to know the device migrates (and the dirty
         * page size it reports at by default). */
        json_object *mg = json_object_new_object();

        json_object_object_add(mg, "pgsize", json_object_new_int(4096));
        TRY_ADD("migration", mg);
    }
    if (c->write_multiple) {
        TRY_ADD("write_multiple", json_object_new_boolean(1));
    }
#undef TRY_ADD
    out = g_strdup(json_object_to_json_string_ext(root, JSON_C_TO_STRING_PLAIN));
    json_object_put(root);
    if (strlen(out) + 1 > limit) {
        /* Not even "{}" fits: send no JSON, i.e. all defaults. */
        g_free(out);
        return NULL;
    }
    return out;
}

int handle_version(struct conn *c, struct msg *m)
{
    vfud_dev *dev = c->dev;
    struct vfio_user_version v;
    struct client_caps cc = {
        .max_msg_fds = 1,
        .max_xfer = 1 << 20,
        .pgsizes = 4096,
    };
    const char *text = (const char *)m->payload + sizeof(v);
    size_t text_len = m->len - sizeof(v);
    g_autofree char *json = NULL;
    bool twin = false;
    size_t limit;
    struct vfio_user_version *rv;
    int r;

    memcpy(&v, m->payload, sizeof(v));
    if (v.major != VFIO_USER_MAJOR) {
        dev_warn(dev, "client speaks protocol %u.%u, we speak %u.x; "
                 "closing the connection", v.major, v.minor, VFIO_USER_MAJOR);
        c->hangup = true;
        c->hangup_why = "unsupported protocol version";
        return -ENOTSUP;
    }
    if (text_len > 0) {
        if (text[text_len - 1] != '\0') {
            dev_warn(dev, "VERSION: capabilities lack their terminating NUL");
            c->hangup = true;
            c->hangup_why = "malformed VERSION";
            return -EINVAL;
        }
        r = parse_caps(dev, text, text_len - 1, &cc);
        if (r < 0) {
            c->hangup = true;
            c->hangup_why = "unacceptable VERSION capabilities";
            return r;
        }
    }
    c->client_max_fds = (unsigned)cc.max_msg_fds;
    c->client_max_xfer = (uint64_t)cc.max_xfer;
    if (cc.mig_pgsize > 0) {
        c->client_pgsize = (uint64_t)cc.mig_pgsize;
    }
    /* Twin sockets need an fd in our reply. */
    if (cc.max_msg_fds < 1) {
        cc.twin_socket = false;
    }

    limit = m->hdr.msg_size - sizeof(struct vfio_user_header) - sizeof(v);
    json = reply_caps(c, &cc, limit, &twin);
    rv = msg_reply_alloc(m, sizeof(*rv));
    rv->major = VFIO_USER_MAJOR;
    rv->minor = MIN(v.minor, VFIO_USER_MINOR);
    if (json != NULL) {
        memcpy(msg_reply_alloc(m, strlen(json) + 1), json, strlen(json) + 1);
    }
    if (twin) {
        int sv[2];

        if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0) {
            return -errno;
        }
        m->reply_fds[0] = sv[1];
        m->nr_reply_fds = 1;
        conn_add_twin(c, sv[0]);
    }
    c->versioned = true;
    dev_info(dev, "client pid %d uid %u negotiated protocol %u.%u "
             "(max_msg_fds %u, max_data_xfer_size %llu%s)",
             (int)c->pid, (unsigned)c->uid, rv->major, rv->minor,
             c->client_max_fds, (unsigned long long)c->client_max_xfer,
             twin ? ", twin socket" : "");
    dev_debug(dev, "VERSION reply: %s", json != NULL ? json : "(none)");
    if (dev->ops->attach != NULL) {
        device_cb_enter(dev, "attach");
        dev->ops->attach(dev);
        device_cb_leave(dev);
    }
    return 0;
}
