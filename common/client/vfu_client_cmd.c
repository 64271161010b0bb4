/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * VERSION negotiation and one helper per client command.  The helpers check
 * replies about as strictly as QEMU 11.1.3 does (exact sizes, no stray fds),
 * so a daemon that passes these tests does not trip QEMU; tests that want
 * to send something odd use vfu_client_call() or vfu_client_send_raw().
 */
#include "config.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <json-c/json.h>

#include "vfu_client_priv.h"

/* QEMU's own bounds on a server's capabilities (hw/vfio-user/proxy.c). */
#define QEMU_MAX_MSG_FDS 16
#define QEMU_MAX_XFER    (64u << 20)

static int proto_error(const char *what)
{
    fprintf(stderr, "vfu-client: %s\n", what);
    return -EPROTO;
}

static void close_fds(int *fds, unsigned n)
{
    for (unsigned i = 0; i < n; i++) {
        close(fds[i]);
    }
}

/*
 * Sends one command and insists on a reply payload of exactly reply_size
 * bytes and no fds, which is what every fixed-size command gets.
 */
static int call_fixed(struct vfu_client *c, uint16_t cmd, const void *req,
                      size_t req_len, const int *fds, unsigned nr_fds,
                      void *reply, size_t reply_size)
{
    int rfds[VFU_CLIENT_MAX_RECV_FDS];
    unsigned nr_rfds = VFU_CLIENT_MAX_RECV_FDS;
    size_t len = reply_size;
    int r;

    r = vfu_client_call(c, cmd, req, req_len, fds, nr_fds, reply, &len, rfds,
                        &nr_rfds);
    if (r < 0) {
        return r;
    }
    if (nr_rfds > 0) {
        close_fds(rfds, nr_rfds);
        fprintf(stderr, "vfu-client: %s reply carried %u fds\n",
                vfio_user_command_name(cmd), nr_rfds);
        return -EPROTO;
    }
    if (len != reply_size) {
        fprintf(stderr, "vfu-client: %s reply payload is %zu bytes, "
                "expected %zu\n", vfio_user_command_name(cmd), len,
                reply_size);
        return -EPROTO;
    }
    return 0;
}

/* ---- VERSION ---- */

static bool json_get(struct json_object *obj, const char *key,
                     enum json_type type, struct json_object **val, int *r)
{
    if (!json_object_object_get_ex(obj, key, val)) {
        return false;
    }
    if (!json_object_is_type(*val, type)) {
        fprintf(stderr, "vfu-client: VERSION capability %s has the wrong "
                "type\n", key);
        *r = -EPROTO;
        return false;
    }
    return true;
}

/* A page-size mask must not claim pages smaller than 4 KiB (QEMU). */
static int check_pgsize(struct json_object *obj, const char *key)
{
    struct json_object *v;
    int r = 0;

    if (json_get(obj, key, json_type_int, &v, &r) &&
        (json_object_get_int64(v) & 4095) != 0) {
        fprintf(stderr, "vfu-client: VERSION %s %" PRId64 " is below 4096\n",
                key, json_object_get_int64(v));
        return -EPROTO;
    }
    return r;
}

static int parse_server_caps(struct vfu_client *c, const char *text)
{
    struct json_object *root, *caps, *v;
    uint64_t max_xfer = VFU_CLIENT_DEFAULT_MAX_XFER;
    unsigned max_fds = VFU_CLIENT_DEFAULT_MAX_FDS;
    int r = 0;

    root = json_tokener_parse(text);
    if (root == NULL || !json_object_is_type(root, json_type_object)) {
        json_object_put(root);
        return proto_error("VERSION reply JSON is not an object");
    }
    if (json_get(root, "capabilities", json_type_object, &caps, &r)) {
        if (json_get(caps, "max_msg_fds", json_type_int, &v, &r)) {
            int64_t n = json_object_get_int64(v);

            if (n < 0 || n > QEMU_MAX_MSG_FDS) {
                r = proto_error("VERSION max_msg_fds out of QEMU's range");
            }
            max_fds = (unsigned)n;
        }
        if (json_get(caps, "max_data_xfer_size", json_type_int, &v, &r)) {
            int64_t n = json_object_get_int64(v);

            if (n <= 0 || n > QEMU_MAX_XFER) {
                r = proto_error("VERSION max_data_xfer_size out of QEMU's "
                                "range");
            }
            max_xfer = (uint64_t)n;
        }
        if (json_get(caps, "max_dma_maps", json_type_int, &v, &r) &&
            (json_object_get_int64(v) < 0 ||
             json_object_get_int64(v) > 65535)) {
            r = proto_error("VERSION max_dma_maps out of range");
        }
        if (r == 0) {
            r = check_pgsize(caps, "pgsizes");
        }
        if (r == 0 && json_get(caps, "migration", json_type_object, &v, &r)) {
            r = check_pgsize(v, "pgsize");
        }
        json_get(caps, "write_multiple", json_type_boolean, &v, &r);
    }
    json_object_put(root);
    if (r == 0) {
        c->server_max_xfer = max_xfer;
        c->server_max_fds = max_fds;
    }
    return r;
}

/* Our own receive limit, from the JSON we send; lenient, since tests send
 * broken JSON on purpose. */
static void parse_own_caps(struct vfu_client *c, const char *json)
{
    struct json_object *root, *caps, *v;

    c->own_max_xfer = VFU_CLIENT_DEFAULT_MAX_XFER;
    root = json_tokener_parse(json);
    if (root != NULL &&
        json_object_object_get_ex(root, "capabilities", &caps) &&
        json_object_object_get_ex(caps, "max_data_xfer_size", &v) &&
        json_object_is_type(v, json_type_int) &&
        json_object_get_int64(v) > 0) {
        c->own_max_xfer = (uint64_t)json_object_get_int64(v);
    }
    json_object_put(root);
}

int vfu_client_negotiate_version(struct vfu_client *c, uint16_t major,
                                 uint16_t minor, const char *json,
                                 char **reply_json)
{
    struct vfio_user_version *req, *rep;
    struct vfio_user_header hdr;
    size_t jlen, req_len, len;
    void *body;
    uint16_t id;
    int r;

    if (reply_json != NULL) {
        *reply_json = NULL;
    }
    if (json == NULL) {
        json = VFU_CLIENT_QEMU_CAPS;
    }
    jlen = strlen(json);
    /* The NUL is part of the message; an empty string means no JSON. */
    req_len = sizeof(*req) + (jlen > 0 ? jlen + 1 : 0);
    req = malloc(req_len);
    if (req == NULL) {
        return -ENOMEM;
    }
    req->major = major;
    req->minor = minor;
    if (jlen > 0) {
        memcpy(req->data, json, jlen + 1);
    }
    parse_own_caps(c, json);

    r = vfu_client_send(c, VFIO_USER_VERSION, 0, req, req_len, NULL, 0, &id);
    free(req);
    if (r < 0) {
        return r;
    }
    r = vfu_client_recv_reply(c, id, &hdr, &body, &len, NULL, NULL);
    if (r < 0) {
        return r;
    }
    rep = body;
    if (hdr.cmd != VFIO_USER_VERSION) {
        r = proto_error("VERSION reply has the wrong command");
    } else if (len < sizeof(*rep)) {
        r = proto_error("VERSION reply shorter than 4 bytes");
    } else if (rep->major != major) {
        fprintf(stderr, "vfu-client: VERSION reply major %u, asked %u\n",
                rep->major, major);
        r = -EPROTO;
    } else if (rep->minor > minor) {
        fprintf(stderr, "vfu-client: VERSION reply minor %u above %u\n",
                rep->minor, minor);
        r = -EPROTO;
    } else if (len > sizeof(*rep)) {
        size_t tlen = len - sizeof(*rep);

        if (rep->data[tlen - 1] != '\0') {
            r = proto_error("VERSION reply JSON is not NUL-terminated");
        } else {
            r = parse_server_caps(c, rep->data);
        }
        if (r == 0 && reply_json != NULL) {
            *reply_json = strdup(rep->data);
            if (*reply_json == NULL) {
                r = -ENOMEM;
            }
        }
    } else {
        c->server_max_xfer = VFU_CLIENT_DEFAULT_MAX_XFER;
        c->server_max_fds = VFU_CLIENT_DEFAULT_MAX_FDS;
    }
    free(body);
    return r;
}

int vfu_client_negotiate(struct vfu_client *c, const char *json,
                         char **reply_json)
{
    return vfu_client_negotiate_version(c, VFIO_USER_MAJOR, VFIO_USER_MINOR,
                                        json, reply_json);
}

/* ---- DMA ---- */

int vfu_client_dma_map(struct vfu_client *c, uint64_t iova, uint64_t size,
                       int fd, uint64_t offset, uint32_t prot_flags)
{
    struct vfio_user_dma_map req = {
        .argsz = sizeof(req),
        .flags = prot_flags,
        .offset = fd >= 0 ? offset : 0,
        .addr = iova,
        .size = size,
    };

    return call_fixed(c, VFIO_USER_DMA_MAP, &req, sizeof(req), &fd,
                      fd >= 0 ? 1 : 0, NULL, 0);
}

int vfu_client_dma_unmap(struct vfu_client *c, uint64_t iova, uint64_t size,
                         uint32_t flags)
{
    struct vfio_user_dma_unmap req = {
        .argsz = sizeof(req),
        .flags = flags,
        .addr = iova,
        .size = size,
    };
    struct vfio_user_dma_unmap rep;

    /* The reply echoes the request (no dirty bitmap asked for here). */
    return call_fixed(c, VFIO_USER_DMA_UNMAP, &req, sizeof(req), NULL, 0,
                      &rep, sizeof(rep));
}

/* ---- device, regions, irqs ---- */

int vfu_client_device_info(struct vfu_client *c,
                           struct vfio_user_device_info *info)
{
    struct vfio_user_device_info req = {.argsz = sizeof(req)};

    return call_fixed(c, VFIO_USER_DEVICE_GET_INFO, &req, sizeof(req), NULL,
                      0, info, sizeof(*info));
}

/* The capability chain must stay inside what was sent and move forward. */
static int check_caps_chain(const struct vfio_user_region_info *ri,
                            const uint8_t *payload, size_t len)
{
    uint32_t off = ri->cap_offset;

    if (!(ri->flags & VFIO_REGION_INFO_FLAG_CAPS)) {
        return 0;
    }
    while (off != 0) {
        struct vfio_user_cap_header ch;

        if (off < sizeof(*ri) || off > len || len - off < sizeof(ch)) {
            fprintf(stderr, "vfu-client: region %u capability at %u outside "
                    "the %zu-byte reply\n", ri->index, off, len);
            return -EPROTO;
        }
        memcpy(&ch, payload + off, sizeof(ch));
        if (ch.next != 0 && ch.next <= off) {
            return proto_error("region info capability chain loops back");
        }
        off = ch.next;
    }
    return 0;
}

/* One GET_REGION_INFO round trip; the whole reply payload lands in *body. */
static int region_info_once(struct vfu_client *c, unsigned index,
                            uint32_t argsz, uint8_t **body, size_t *len,
                            int *rfds, unsigned *nr_rfds)
{
    struct vfio_user_region_info req = {.argsz = argsz, .index = index};
    struct vfio_user_header hdr;
    void *payload;
    uint16_t id;
    int r;

    r = vfu_client_send(c, VFIO_USER_DEVICE_GET_REGION_INFO, 0, &req,
                        sizeof(req), NULL, 0, &id);
    if (r < 0) {
        return r;
    }
    *nr_rfds = VFU_CLIENT_MAX_RECV_FDS;
    r = vfu_client_recv_reply(c, id, &hdr, &payload, len, rfds, nr_rfds);
    if (r < 0) {
        return r;
    }
    *body = payload;
    if (hdr.cmd != VFIO_USER_DEVICE_GET_REGION_INFO) {
        r = proto_error("region info reply has the wrong command");
    } else if (*len < sizeof(req)) {
        r = proto_error("region info reply shorter than 32 bytes");
    } else if (*len > argsz) {
        /* QEMU receives into an argsz-sized buffer: this breaks it. */
        fprintf(stderr, "vfu-client: region %u info reply is %zu bytes, "
                "argsz was %u\n", index, *len, argsz);
        r = -EPROTO;
    }
    if (r < 0) {
        close_fds(rfds, *nr_rfds);
        *nr_rfds = 0;
        free(payload);
        *body = NULL;
    }
    return r;
}

int vfu_client_region_info(struct vfu_client *c, unsigned index,
                           struct vfio_user_region_info *info, void *caps,
                           size_t caps_len, int *fd)
{
    uint32_t argsz = sizeof(struct vfio_user_region_info);
    struct vfio_user_region_info ri;
    int rfds[VFU_CLIENT_MAX_RECV_FDS];
    unsigned nr_rfds;
    uint8_t *body;
    size_t len, have;
    int r;

    if (fd != NULL) {
        *fd = -1;
    }
    /* Like QEMU: ask with the bare struct, then with what the server says
     * it needs.  A third round means the server keeps moving the goal. */
    for (int attempt = 0;; attempt++) {
        r = region_info_once(c, index, argsz, &body, &len, rfds, &nr_rfds);
        if (r < 0) {
            return r;
        }
        memcpy(&ri, body, sizeof(ri));
        if (ri.argsz <= argsz) {
            break;
        }
        /* The short answer's fd (if any) is not the one to keep. */
        close_fds(rfds, nr_rfds);
        free(body);
        if (attempt == 1 || ri.argsz > VFU_CLIENT_MAX_MSG) {
            fprintf(stderr, "vfu-client: region %u info wants argsz %u "
                    "after %u\n", index, ri.argsz, argsz);
            return -EPROTO;
        }
        argsz = ri.argsz;
    }

    if (nr_rfds > 1) {
        fprintf(stderr, "vfu-client: region %u info came with %u fds\n",
                index, nr_rfds);
        r = -EPROTO;
    } else {
        r = check_caps_chain(&ri, body, len);
    }
    if (r < 0) {
        close_fds(rfds, nr_rfds);
        free(body);
        return r;
    }
    have = len - sizeof(ri);
    if (caps != NULL && have > 0) {
        memcpy(caps, body + sizeof(ri), have < caps_len ? have : caps_len);
    }
    free(body);
    if (info != NULL) {
        *info = ri;
    }
    if (nr_rfds == 1) {
        if (fd != NULL) {
            *fd = rfds[0];
        } else {
            close(rfds[0]);
        }
    }
    return (int)have;
}

int vfu_client_irq_info(struct vfu_client *c, unsigned index,
                        struct vfio_user_irq_info *info)
{
    struct vfio_user_irq_info req = {.argsz = sizeof(req), .index = index};

    return call_fixed(c, VFIO_USER_DEVICE_GET_IRQ_INFO, &req, sizeof(req),
                      NULL, 0, info, sizeof(*info));
}

static int set_irqs_one(struct vfu_client *c, unsigned index, uint32_t flags,
                        unsigned start, unsigned count, const int *fds,
                        unsigned nr_fds, const uint8_t *bools)
{
    size_t data = (flags & VFIO_IRQ_SET_DATA_BOOL) ? count : 0;
    struct vfio_user_irq_set *req;
    int r;

    req = calloc(1, sizeof(*req) + data);
    if (req == NULL) {
        return -ENOMEM;
    }
    /* For SET_IRQS argsz is the size of the request itself. */
    req->argsz = (uint32_t)(sizeof(*req) + data);
    req->flags = flags;
    req->index = index;
    req->start = start;
    req->count = count;
    if (data > 0) {
        memcpy(req->data, bools, data);
    }
    r = call_fixed(c, VFIO_USER_DEVICE_SET_IRQS, req, sizeof(*req) + data,
                   fds, nr_fds, NULL, 0);
    free(req);
    return r;
}

int vfu_client_set_irqs(struct vfu_client *c, unsigned index, uint32_t flags,
                        unsigned start, unsigned count, const int *fds,
                        unsigned nr_fds, const uint8_t *bools)
{
    unsigned max = c->server_max_fds;

    if ((flags & VFIO_IRQ_SET_DATA_BOOL) && count > 0 && bools == NULL) {
        return -EINVAL;
    }
    if (count > UINT32_MAX - sizeof(struct vfio_user_irq_set)) {
        return -EINVAL;
    }
    /* Like QEMU, split an eventfd array into what the server takes per
     * message; any other shape goes out as given. */
    if ((flags & VFIO_IRQ_SET_DATA_EVENTFD) && nr_fds == count && max > 0 &&
        nr_fds > max) {
        for (unsigned done = 0; done < count; done += max) {
            unsigned n = count - done < max ? count - done : max;
            int r = set_irqs_one(c, index, flags, start + done, n,
                                 fds + done, n, NULL);

            if (r < 0) {
                return r;
            }
        }
        return 0;
    }
    return set_irqs_one(c, index, flags, start, count, fds, nr_fds, bools);
}

/* ---- region access ---- */

int vfu_client_region_read(struct vfu_client *c, unsigned region,
                           uint64_t offset, void *buf, uint32_t count)
{
    struct vfio_user_region_access req = {
        .offset = offset,
        .region = region,
        .count = count,
    };
    struct vfio_user_region_access rep;
    struct vfio_user_header hdr;
    uint8_t *body;
    size_t len;
    uint16_t id;
    int r;

    if (count > c->server_max_xfer) {
        return -E2BIG;
    }
    r = vfu_client_send(c, VFIO_USER_REGION_READ, 0, &req, sizeof(req), NULL,
                        0, &id);
    if (r < 0) {
        return r;
    }
    r = vfu_client_recv_reply(c, id, &hdr, (void **)&body, &len, NULL, NULL);
    if (r < 0) {
        return r;
    }
    if (hdr.cmd != VFIO_USER_REGION_READ || len < sizeof(rep)) {
        r = proto_error("malformed REGION_READ reply");
    } else {
        memcpy(&rep, body, sizeof(rep));
        if (rep.count != count || len != sizeof(rep) + (size_t)count) {
            fprintf(stderr, "vfu-client: REGION_READ of %u bytes at "
                    "%u:0x%" PRIx64 " answered with count %u in %zu bytes\n",
                    count, region, offset, rep.count, len);
            r = -EPROTO;
        } else {
            memcpy(buf, body + sizeof(rep), count);
        }
    }
    free(body);
    return r;
}

int vfu_client_region_write(struct vfu_client *c, unsigned region,
                            uint64_t offset, const void *buf, uint32_t count,
                            bool posted)
{
    struct vfio_user_region_access req = {
        .offset = offset,
        .region = region,
        .count = count,
    };
    struct iovec parts[2] = {
        {&req, sizeof(req)},
        {(void *)buf, count},
    };
    struct vfio_user_header hdr = {
        .cmd = VFIO_USER_REGION_WRITE,
        .msg_size = (uint32_t)(sizeof(hdr) + sizeof(req) + count),
        .flags = posted ? VFIO_USER_F_NO_REPLY : 0,
    };
    struct vfio_user_region_access rep;
    struct vfio_user_header rhdr;
    uint8_t *body;
    size_t len;
    int r;

    if (count > c->server_max_xfer) {
        return -E2BIG;
    }
    hdr.msg_id = c->next_id++;
    r = vfu_io_sendv(c, &hdr, parts, 2, NULL, 0);
    if (r < 0) {
        return r;
    }
    if (posted) {
        /* Requests read while the send was blocked may have a server
         * waiting on them; answer now rather than at our next call. */
        return vfu_client_serve_queued(c);
    }
    r = vfu_client_recv_reply(c, hdr.msg_id, &rhdr, (void **)&body, &len,
                              NULL, NULL);
    if (r < 0) {
        return r;
    }
    if (rhdr.cmd != VFIO_USER_REGION_WRITE || len != sizeof(rep)) {
        r = proto_error("malformed REGION_WRITE reply");
    } else {
        memcpy(&rep, body, sizeof(rep));
        if (rep.count != count) {
            fprintf(stderr, "vfu-client: REGION_WRITE of %u bytes at "
                    "%u:0x%" PRIx64 " answered with count %u\n", count,
                    region, offset, rep.count);
            r = -EPROTO;
        }
    }
    free(body);
    return r;
}

int vfu_client_reset(struct vfu_client *c)
{
    return call_fixed(c, VFIO_USER_DEVICE_RESET, NULL, 0, NULL, 0, NULL, 0);
}

/* ---- config space (region 7) ---- */

int vfu_client_cfg_read32(struct vfu_client *c, unsigned off, uint32_t *v)
{
    return vfu_client_region_read(c, VFIO_PCI_CONFIG_REGION_INDEX, off, v,
                                  sizeof(*v));
}

int vfu_client_cfg_write32(struct vfu_client *c, unsigned off, uint32_t v)
{
    return vfu_client_region_write(c, VFIO_PCI_CONFIG_REGION_INDEX, off, &v,
                                   sizeof(v), false);
}

int vfu_client_cfg_read16(struct vfu_client *c, unsigned off, uint16_t *v)
{
    return vfu_client_region_read(c, VFIO_PCI_CONFIG_REGION_INDEX, off, v,
                                  sizeof(*v));
}

int vfu_client_cfg_write16(struct vfu_client *c, unsigned off, uint16_t v)
{
    return vfu_client_region_write(c, VFIO_PCI_CONFIG_REGION_INDEX, off, &v,
                                   sizeof(v), false);
}

int vfu_client_cfg_read8(struct vfu_client *c, unsigned off, uint8_t *v)
{
    return vfu_client_region_read(c, VFIO_PCI_CONFIG_REGION_INDEX, off, v,
                                  sizeof(*v));
}

int vfu_client_cfg_write8(struct vfu_client *c, unsigned off, uint8_t v)
{
    return vfu_client_region_write(c, VFIO_PCI_CONFIG_REGION_INDEX, off, &v,
                                   sizeof(v), false);
}
