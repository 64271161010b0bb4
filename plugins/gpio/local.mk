# gpio: ACCES PCI-IDIO-16 compatible card (installed plugin + man page).
plugin_LTLIBRARIES += plugins/gpio.la
plugins_gpio_la_SOURCES = plugins/gpio/gpio.c plugins/gpio/gpio_host.c \
	plugins/gpio/gpio_int.h
plugins_gpio_la_LDFLAGS = $(PLUGIN_LINK_FLAGS)
dist_man_MANS += plugins/gpio/vfiouserd-gpio.8

# Unit test of the built module in the fake daemon (tests/harness).
if HAVE_CHECK
check_PROGRAMS += plugins/gpio/test_gpio
TESTS += plugins/gpio/test_gpio
plugins_gpio_test_gpio_SOURCES = plugins/gpio/test_gpio.c
plugins_gpio_test_gpio_CFLAGS = $(AM_CFLAGS) $(CHECK_CFLAGS) $(FAKE_VFUD_CFLAGS)
plugins_gpio_test_gpio_LDFLAGS = $(AM_LDFLAGS) $(FAKE_VFUD_LINKFLAGS)
plugins_gpio_test_gpio_LDADD = $(FAKE_VFUD_LIBS) $(CHECK_LIBS)
EXTRA_plugins_gpio_test_gpio_DEPENDENCIES = plugins/gpio.la
endif
