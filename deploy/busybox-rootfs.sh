#!/usr/bin/env bash
# Packs a busybox root filesystem (Debian's busybox-static) into a tar that contid imports:
#
#   deploy/busybox-rootfs.sh busybox.tar && conti-cli image import busybox.tar busybox
set -euo pipefail

out="${1:?usage: busybox-rootfs.sh OUTPUT.tar}"
busybox=/bin/busybox
# ldd fails on a static binary: a container has no libc for a dynamic one.
if [[ ! -x $busybox ]] || ldd "$busybox" >/dev/null 2>&1; then
    echo "busybox-rootfs.sh: $busybox must be the static build: apt-get install -y busybox-static" >&2
    exit 1
fi

rootfs="$(mktemp -d)"
trap 'rm -rf "$rootfs"' EXIT
mkdir -p "$rootfs"/{bin,sbin,usr/bin,usr/sbin,etc,proc,sys,dev,tmp,root,mnt,var,run}
chmod 1777 "$rootfs/tmp"
cp "$busybox" "$rootfs/bin/busybox"
for applet in $("$busybox" --list); do
    [[ $applet == busybox ]] || ln -s busybox "$rootfs/bin/$applet"
done
printf 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n' > "$rootfs/etc/passwd"
printf 'root:x:0:\nnogroup:x:65534:\n' > "$rootfs/etc/group"
tar --numeric-owner --owner=0 --group=0 -C "$rootfs" -cf "$out" .
