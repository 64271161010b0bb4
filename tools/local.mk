# vfiouserctl: the command-line client of the daemon's control socket
# (vfiouserctl(8)).  ctl.c is its connection and answer handling, shared by
# subcommands that live in files of their own.
sbin_PROGRAMS += tools/vfiouserctl
tools_vfiouserctl_SOURCES = tools/vfiouserctl.c tools/ctl.c tools/ctl.h
tools_vfiouserctl_CFLAGS = $(AM_CFLAGS) $(GLIB_CFLAGS) $(JSONC_CFLAGS)
tools_vfiouserctl_LDADD = $(GLIB_LIBS) $(JSONC_LIBS)
