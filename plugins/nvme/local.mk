# SPDX-License-Identifier: BSD-3-Clause
# The NVMe controller plugin (needs liburing; libnbd for the NBD back-end,
# librbd for the Ceph RBD back-end).
if ENABLE_NVME
plugin_LTLIBRARIES += plugins/nvme.la
plugins_nvme_la_SOURCES = \
	plugins/nvme/nvme.c \
	plugins/nvme/ctrl.c \
	plugins/nvme/queue.c \
	plugins/nvme/dptr.c \
	plugins/nvme/admin.c \
	plugins/nvme/io.c \
	plugins/nvme/ns.c \
	plugins/nvme/backend_uring.c \
	plugins/nvme/backend_null.c \
	plugins/nvme/remote.c \
	plugins/nvme/remote.h \
	plugins/nvme/mig_format.c \
	plugins/nvme/mig_state.c \
	plugins/nvme/nvme_spec.h \
	plugins/nvme/nvme_int.h \
	plugins/nvme/op_pool.h \
	plugins/nvme/nvme_mig.h
plugins_nvme_la_CFLAGS = $(AM_CFLAGS) $(LIBURING_CFLAGS) $(LIBNBD_CFLAGS)
plugins_nvme_la_LIBADD = $(LIBURING_LIBS) $(LIBNBD_LIBS) $(LIBRBD_LIBS)
if HAVE_LIBNBD
plugins_nvme_la_SOURCES += plugins/nvme/backend_nbd.c
endif
if HAVE_LIBRBD
plugins_nvme_la_SOURCES += plugins/nvme/backend_rbd.c
endif
plugins_nvme_la_LDFLAGS = $(PLUGIN_LINK_FLAGS)
dist_man_MANS += plugins/nvme/vfiouserd-nvme.8
endif
EXTRA_DIST += plugins/nvme/vfiouserd-nvme.8
