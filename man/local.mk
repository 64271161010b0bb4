# SPDX-License-Identifier: BSD-3-Clause
# Manual pages of the daemon, its configuration and the plugin API.  Each
# plugin's own page lives next to its source (plugins/<name>/).
dist_man_MANS += \
	man/vfiouserd.8 \
	man/vfiouserd.conf.5 \
	man/vfiouserctl.8 \
	man/vfiouserd-libvirt.7

# vfiouserd-plugin(3) shows plugins/example/example.c, the plugin the tests
# build: the page is made from its .in with the source escaped for roff
# (backslashes, hyphens, lines starting with a control character).
man_MANS += man/vfiouserd-plugin.3
CLEANFILES += man/vfiouserd-plugin.3
EXTRA_DIST += man/vfiouserd-plugin.3.in
man/vfiouserd-plugin.3: man/vfiouserd-plugin.3.in plugins/example/example.c
	$(AM_V_GEN)$(MKDIR_P) man && \
	sed -e 's/\\/\\e/g' -e 's/-/\\-/g' -e "s/^\([.']\)/\\\\\&\1/" \
		$(srcdir)/plugins/example/example.c > $@.example && \
	sed -e '/^@EXAMPLE_C@$$/{' -e 'r $@.example' -e 'd' -e '}' \
		$(srcdir)/man/vfiouserd-plugin.3.in > $@.tmp && \
	rm -f $@.example && mv $@.tmp $@
