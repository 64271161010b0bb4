# SPDX-License-Identifier: BSD-3-Clause
# daemon: the process.  Options, configuration files, the plugin loader,
# isolation, systemd, the listener, the control socket and run-time
# operations; it serves devices with the engine (engine/).
DAEMON_PROC_SOURCES = \
	daemon/config_file.c daemon/config_file.h \
	daemon/device_ops.c \
	daemon/device_proc.c daemon/device_proc.h \
	daemon/isolate.c daemon/isolate.h \
	daemon/isolate_store.c daemon/isolate_store.h \
	daemon/listener.c daemon/listener.h \
	daemon/plugin_loader.c daemon/plugin_loader.h \
	daemon/privdrop.c \
	daemon/sandbox.c daemon/sandbox.h \
	daemon/sandbox_landlock.c daemon/sandbox_maps.c daemon/sandbox_seccomp.c \
	daemon/sd_notify.c daemon/sd_notify.h \
	daemon/watchdog.c daemon/watchdog.h

DAEMON_CFLAGS = $(AM_CFLAGS) $(GLIB_CFLAGS) $(JSONC_CFLAGS) $(INIH_CFLAGS) $(SECCOMP_CFLAGS)
DAEMON_LIBS = $(ENGINE_LIBS) $(GLIB_LIBS) $(JSONC_LIBS) $(INIH_LIBS) $(SECCOMP_LIBS) $(LIBS)

sbin_PROGRAMS += daemon/vfiouserd
daemon_vfiouserd_SOURCES = daemon/main.c \
	daemon/control.c daemon/control.h \
	daemon/devset.c daemon/devset.h \
	daemon/upgrade.c daemon/upgrade.h \
	daemon/upgrade_launcher.c daemon/upgrade_launcher.h \
	daemon/handoff.c daemon/handoff.h \
	daemon/dev_handoff.c daemon/dev_handoff.h \
	daemon/fdstore.c daemon/fdstore.h daemon/fdstore_dev.c \
	daemon/fdstore_restart.c \
	$(DAEMON_PROC_SOURCES)
daemon_vfiouserd_CFLAGS = $(DAEMON_CFLAGS)
daemon_vfiouserd_LDADD = $(DAEMON_LIBS)
# Export the plugin API (and nothing else) to dlopen()ed plugins.  Nothing
# in the program calls most of it, so the whole engine archive goes in.
daemon_vfiouserd_LDFLAGS = $(AM_LDFLAGS) \
	-Wl,--whole-archive,engine/.libs/libengine.a,--no-whole-archive \
	-Wl,--dynamic-list=$(srcdir)/daemon/plugin-api.dynlist
EXTRA_DIST += daemon/plugin-api.dynlist
