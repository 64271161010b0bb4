# systemd units
