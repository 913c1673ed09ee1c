#!/bin/sh
# Runs as the first process of one simulated hypervisor, inside its own mount
# and UTS namespace (see hosts.sh).  Everything libvirt keeps on disk is bound
# from the host's private folder, so hosts share nothing but the kernel, the
# network namespace and the QEMU binaries.
#   host-init.sh DIR NAME
set -eu
dir=$1 name=$2
hostname "$name"
mount --make-rprivate /
for d in run lib log cache etc; do mkdir -p "$dir/$d"; done
mount --bind "$dir/run" /run/libvirt 2>/dev/null || { mkdir -p /run/libvirt; mount --bind "$dir/run" /run/libvirt; }
mount --bind "$dir/lib" /var/lib/libvirt
mount --bind "$dir/log" /var/log/libvirt
mount --bind "$dir/cache" /var/cache/libvirt
mount --bind "$dir/etc" /etc/libvirt
virtlogd --daemon --pid-file "$dir/virtlogd.pid"
exec libvirtd --pid-file "$dir/libvirtd.pid" --config "$dir/etc/libvirtd.conf"
