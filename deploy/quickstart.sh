#!/usr/bin/env bash
# From a fresh Debian 12 machine, as root: installs what Conti needs, builds it, installs and
# starts contid, imports a busybox image and runs a first container.
#
#   bash deploy/quickstart.sh
set -euo pipefail

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
socket=/var/run/conti.sock
min_rust=1.93

if [[ $(id -u) != 0 ]]; then
    echo "quickstart.sh: run me as root" >&2
    exit 1
fi

echo "==> installing packages"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq busybox-static util-linux iproute2 nftables curl ca-certificates gcc libc6-dev tar gzip >/dev/null

# Debian's own Rust is too old for this workspace: use rustup's when needed.
[[ -f $HOME/.cargo/env ]] && source "$HOME/.cargo/env"
rust_version="$(rustc --version 2>/dev/null | awk '{print $2}')"
if [[ -z $rust_version || $(printf '%s\n%s\n' "$min_rust" "$rust_version" | sort -V | head -1) != "$min_rust" ]]; then
    echo "==> installing Rust (rustup, minimal profile)"
    curl --proto '=https' --tlsv1.2 -sSf https://sh.rustup.rs | sh -s -- -y --profile minimal
    source "$HOME/.cargo/env"
fi

echo "==> building"
cd "$repo"
cargo build --release --workspace --bins
deploy/install.sh

echo "==> starting contid"
if /usr/local/bin/conti-cli --socket "$socket" version >/dev/null 2>&1; then
    echo "contid already answers on $socket"
elif [[ -d /run/systemd/system ]]; then
    # Type=notify: this returns once contid has adopted its containers and serves.
    systemctl enable --now contid.socket contid.service
else
    # No systemd (a container, a minimal VM): run it in the background, in its own session.
    setsid -f /usr/local/bin/contid --socket "$socket" --root /var/lib/conti \
        >>/var/log/contid.log 2>&1 </dev/null
fi
for _ in $(seq 100); do
    /usr/local/bin/conti-cli --socket "$socket" version >/dev/null 2>&1 && break
    sleep 0.1
done
/usr/local/bin/conti-cli --socket "$socket" version >/dev/null

if ! /usr/local/bin/conti-cli --socket "$socket" image inspect busybox >/dev/null 2>&1; then
    echo "==> importing a busybox root filesystem as image 'busybox'"
    tar="$(mktemp --suffix=.tar)"
    deploy/busybox-rootfs.sh "$tar"
    /usr/local/bin/conti-cli --socket "$socket" image import "$tar" busybox
    rm -f "$tar"
fi

echo "==> a first container"
/usr/local/bin/conti-cli --socket "$socket" run --rm busybox sh -c 'echo "Hello from Conti: I am PID $$ on $(hostname)"'
