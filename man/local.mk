# Manual pages of the daemon, its configuration and the plugin API.  Each
# plugin's own page lives next to its source (plugins/<name>/).
dist_man_MANS += \
	man/vfiouserd.8 \
	man/vfiouserd.conf.5 \
	man/vfiouserd-plugin.3 \
	man/vfiouserctl.8 \
	man/vfiouserd-libvirt.7
