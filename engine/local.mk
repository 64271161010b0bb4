# SPDX-License-Identifier: BSD-3-Clause
# engine: the vfio-user protocol engine of a device (framing, dispatch,
# handshake, DMA, IRQs, regions, PCI config space, migration, the plugin
# API), a convenience library the daemon and the fuzzer link.
ENGINE_SOURCES = \
	engine/conn.c engine/conn.h \
	engine/conn_uring.c engine/conn_uring.h \
	engine/device.c engine/device.h \
	engine/device_call.c \
	engine/device_cmds.c \
	engine/dispatch.c engine/dispatch.h \
	engine/dma.c engine/dma.h \
	engine/dma_log.c engine/dma_log.h \
	engine/dma_verify.c engine/dma_verify.h \
	engine/handshake.c \
	engine/irq.c engine/irq.h \
	engine/mig_stream.c engine/mig_stream.h \
	engine/migration.c engine/migration.h \
	engine/pci_config.c engine/pci_caps.c engine/pci_config.h \
	engine/plugin_api.c engine/plugin_api_v1.c \
	engine/region.c engine/region.h \
	engine/worker.c engine/worker.h

noinst_LTLIBRARIES += engine/libengine.la
engine_libengine_la_SOURCES = $(ENGINE_SOURCES)
engine_libengine_la_CPPFLAGS = $(ENGINE_CPPFLAGS)
engine_libengine_la_CFLAGS = $(AM_CFLAGS) $(GLIB_CFLAGS) $(JSONC_CFLAGS) \
	$(LIBURING_CFLAGS)
# What a program linking the engine links too.
ENGINE_LIBS = engine/libengine.la common/protocol/libprotocol.la \
	common/utils/libutils.la $(GLIB_LIBS) $(JSONC_LIBS) $(LIBURING_LIBS) $(LIBS)
