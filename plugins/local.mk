# Device-model plugins: each keeps its rules in plugins/<name>/local.mk.
include $(srcdir)/plugins/gpio/local.mk
include $(srcdir)/plugins/testdev/local.mk
include $(srcdir)/plugins/nvme/local.mk
