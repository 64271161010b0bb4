# The daemon.  Its sources are listed once in DAEMON_CORE_SOURCES so unit
# tests and fuzz targets can build the engine without main.c.
DAEMON_CORE_SOURCES = \
	daemon/vfio-user.h daemon/vfio-user.c \
	daemon/pci_config.h daemon/pci_config.c daemon/pci_caps.c

DAEMON_CFLAGS = $(AM_CFLAGS) $(GLIB_CFLAGS) $(JSONC_CFLAGS) $(INIH_CFLAGS)
DAEMON_LIBS = $(GLIB_LIBS) $(JSONC_LIBS) $(INIH_LIBS) $(LIBS)

sbin_PROGRAMS += daemon/vfiouserd
daemon_vfiouserd_SOURCES = daemon/main.c $(DAEMON_CORE_SOURCES)
daemon_vfiouserd_CFLAGS = $(DAEMON_CFLAGS)
daemon_vfiouserd_LDADD = $(DAEMON_LIBS)
# Export the plugin API (and nothing else) to dlopen()ed plugins.
daemon_vfiouserd_LDFLAGS = $(AM_LDFLAGS) -Wl,--dynamic-list=$(srcdir)/daemon/plugin-api.dynlist
EXTRA_DIST += daemon/plugin-api.dynlist
