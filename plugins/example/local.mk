# SPDX-License-Identifier: BSD-3-Clause
# example: the plugin of vfiouserd-plugin(3)'s EXAMPLE (man/local.mk puts
# this source in the page).  Built for the tests only (tests/plugins),
# never installed.
check_LTLIBRARIES += plugins/example.la
plugins_example_la_SOURCES = plugins/example/example.c
plugins_example_la_LDFLAGS = -rpath /nowhere $(PLUGIN_LINK_FLAGS)
