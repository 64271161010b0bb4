# SPDX-License-Identifier: BSD-3-Clause
# vfiouserctl: the command-line client of the daemon's control socket
# (vfiouserctl(8)).  ctl.c is its connection and answer handling, shared by
# subcommands that live in files of their own; "migrate" (ctl_migrate.c)
# is a vfio-user client of two device sockets, through the client library.
sbin_PROGRAMS += tools/vfiouserctl
tools_vfiouserctl_SOURCES = tools/vfiouserctl.c tools/ctl.c tools/ctl.h \
	tools/ctl_migrate.c tools/ctl_migrate.h
tools_vfiouserctl_CPPFLAGS = $(AM_CPPFLAGS) -I$(top_srcdir)/common/client
tools_vfiouserctl_CFLAGS = $(AM_CFLAGS) $(GLIB_CFLAGS) $(JSONC_CFLAGS)
tools_vfiouserctl_LDADD = common/client/libvfuclient.la $(GLIB_LIBS) $(JSONC_LIBS)
