# SPDX-License-Identifier: BSD-3-Clause
# Device-model plugins: each keeps its rules in plugins/<name>/local.mk.
include $(srcdir)/plugins/gpio/local.mk
include $(srcdir)/plugins/testdev/local.mk
include $(srcdir)/plugins/nvme/local.mk
include $(srcdir)/plugins/example/local.mk
include $(srcdir)/plugins/python/local.mk

# libtool's .la files mean nothing to dlopen(): keep the plugin directory
# to .so files only.
# (plugindir holds no "exec" in its name, so plugins install with the data.)
install-data-hook:
	rm -f $(DESTDIR)$(plugindir)/*.la
uninstall-hook:
	for p in $(plugin_LTLIBRARIES); do \
	    rm -f "$(DESTDIR)$(plugindir)/`basename $$p .la`.so"; \
	done
