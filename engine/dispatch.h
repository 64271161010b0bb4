/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The command table: for each vfio-user command its payload bounds, how
 * many fds it may carry, and its handler.  Handlers return 0 or -errno; the
 * dispatcher turns that into the reply (or none, for NO_REPLY).
 */
#ifndef VFIOUSERD_DISPATCH_H
#define VFIOUSERD_DISPATCH_H

struct conn;
struct msg;

/* Validate m against the table and run its handler: 0 or -errno. */
int dispatch_command(struct conn *c, struct msg *m);

/* The handlers, each in the file of its concern. */
/* handshake.c */
int handle_version(struct conn *c, struct msg *m);
/* device_cmds.c */
int handle_device_info(struct conn *c, struct msg *m);
int handle_device_reset(struct conn *c, struct msg *m);
/* dma.c */
int handle_dma_map(struct conn *c, struct msg *m);
int handle_dma_unmap(struct conn *c, struct msg *m);
/* irq.c */
int handle_irq_info(struct conn *c, struct msg *m);
int handle_set_irqs(struct conn *c, struct msg *m);
/* region.c */
int handle_region_info(struct conn *c, struct msg *m);
int handle_region_io_fds(struct conn *c, struct msg *m);
int handle_region_read(struct conn *c, struct msg *m);
int handle_region_write(struct conn *c, struct msg *m);
int handle_region_write_multi(struct conn *c, struct msg *m);
/* migration.c */
int handle_device_feature(struct conn *c, struct msg *m);
int handle_mig_data_read(struct conn *c, struct msg *m);
int handle_mig_data_write(struct conn *c, struct msg *m);
int handle_dirty_pages(struct conn *c, struct msg *m);

#endif
