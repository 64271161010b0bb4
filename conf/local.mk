# SPDX-License-Identifier: BSD-3-Clause
# Example configurations.  They install as *.example so that "make install"
# never replaces the administrator's real vfiouserd.conf or NAME.conf.
sysconf_vfiouserddir = $(sysconfdir)/vfiouserd
dist_sysconf_vfiouserd_DATA = \
	conf/vfiouserd.conf.example \
	conf/nvme0.conf.example

# Run from the build tree (see the comment at its top); not installed.
EXTRA_DIST += conf/demo.conf
