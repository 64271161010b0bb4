# SPDX-License-Identifier: BSD-3-Clause
# gpio: ACCES PCI-IDIO-16 compatible card (installed plugin + man page).
plugin_LTLIBRARIES += plugins/gpio.la
plugins_gpio_la_SOURCES = plugins/gpio/gpio.c plugins/gpio/gpio_host.c \
	plugins/gpio/gpio_int.h
plugins_gpio_la_LDFLAGS = $(PLUGIN_LINK_FLAGS)
dist_man_MANS += plugins/gpio/vfiouserd-gpio.8
