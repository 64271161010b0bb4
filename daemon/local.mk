# SPDX-License-Identifier: BSD-3-Clause
# The daemon.  Its sources are listed once in DAEMON_CORE_SOURCES so unit
# tests and fuzz targets can build the engine without main.c.
DAEMON_CORE_SOURCES = \
	daemon/config_file.c daemon/config_file.h \
	daemon/conn.c daemon/conn.h \
	daemon/device.c daemon/device.h \
	daemon/device_cmds.c \
	daemon/dispatch.c daemon/dispatch.h \
	daemon/dma.c daemon/dma.h \
	daemon/dma_log.c daemon/dma_log.h \
	daemon/dma_verify.c daemon/dma_verify.h \
	daemon/irq.c daemon/irq.h \
	daemon/isolate.c daemon/isolate.h \
	daemon/listener.c daemon/listener.h \
	daemon/log.c daemon/log.h \
	daemon/mig_stream.c daemon/mig_stream.h \
	daemon/migration.c daemon/migration.h \
	daemon/pci_config.c daemon/pci_caps.c daemon/pci_config.h \
	daemon/plugin_api.c daemon/plugin_api_v1.c \
	daemon/plugin_loader.c daemon/plugin_loader.h \
	daemon/region.c daemon/region.h \
	daemon/sd_notify.c daemon/sd_notify.h \
	daemon/util.c daemon/util.h \
	daemon/version.c \
	daemon/vfio-user.c daemon/vfio-user.h \
	daemon/worker.c daemon/worker.h

DAEMON_CFLAGS = $(AM_CFLAGS) $(GLIB_CFLAGS) $(JSONC_CFLAGS) $(INIH_CFLAGS)
DAEMON_LIBS = $(GLIB_LIBS) $(JSONC_LIBS) $(INIH_LIBS) $(LIBS)

sbin_PROGRAMS += daemon/vfiouserd
# Operations (control socket, run-time changes): the process only.
daemon_vfiouserd_SOURCES = daemon/main.c \
	daemon/control.c daemon/control.h \
	daemon/devset.c daemon/devset.h \
	daemon/upgrade.c daemon/upgrade.h \
	daemon/handoff.c daemon/handoff.h \
	daemon/dev_handoff.c daemon/dev_handoff.h \
	$(DAEMON_CORE_SOURCES)
daemon_vfiouserd_CFLAGS = $(DAEMON_CFLAGS)
daemon_vfiouserd_LDADD = $(DAEMON_LIBS)
# Export the plugin API (and nothing else) to dlopen()ed plugins.
daemon_vfiouserd_LDFLAGS = $(AM_LDFLAGS) -Wl,--dynamic-list=$(srcdir)/daemon/plugin-api.dynlist
EXTRA_DIST += daemon/plugin-api.dynlist
