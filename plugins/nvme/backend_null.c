/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * null back-end: reads return zeroes, writes are discarded, everything
 * completes inline on the I/O thread without a system call.  For
 * benchmarking the controller and transport.
 */
#include "config.h"

#include <string.h>

#include "nvme_int.h"

void nvme_null_rw(struct nvme_ctrl *c, struct nvme_req *req)
{
    if (!req->is_write) {
        if (req->bounced) {
            memset(req->bounce, 0, req->len);
        } else {
            for (unsigned i = 0; i < req->niov; i++) {
                memset(req->iov[i].iov_base, 0, req->iov[i].iov_len);
            }
        }
    }
    req->pending = 1;
    nvme_io_backend_done(c, req, 0);
}
