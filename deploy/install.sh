#!/usr/bin/env bash
# Installs contid and conti-cli (release builds) and contid's systemd units: contid.service
# (Type=notify) and contid.socket (socket activation of /var/run/conti.sock). On the real
# system it also creates the group `conti` (empty) when it is missing: contid.socket gives the
# socket to that group (SocketGroup=conti) and fails to start without it.
#
#   cargo build --release --workspace --bins && sudo deploy/install.sh
#
# Environment:
#   BIN_DIR   where the built binaries are (default: $CARGO_TARGET_DIR/release, else
#             <repo>/target/release)
#   DESTDIR   staging root to install into (default: empty, the real system)
#   PREFIX    default /usr/local
set -euo pipefail

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
bin_dir="${BIN_DIR:-${CARGO_TARGET_DIR:-$repo/target}/release}"
destdir="${DESTDIR:-}"
prefix="${PREFIX:-/usr/local}"
unit_dir="$destdir/etc/systemd/system"

for bin in contid conti-cli; do
    if [[ ! -x "$bin_dir/$bin" ]]; then
        echo "install.sh: $bin_dir/$bin is missing: run \`cargo build --release --workspace --bins\` first" >&2
        exit 1
    fi
done

install -d -m 0755 "$destdir$prefix/bin" "$unit_dir"
install -m 0755 "$bin_dir/contid" "$bin_dir/conti-cli" "$destdir$prefix/bin/"
# The unit names /usr/local/bin/contid; follow another prefix.
sed "s#/usr/local/bin/contid#$prefix/bin/contid#" "$repo/deploy/contid.service" > "$unit_dir/contid.service.tmp"
chmod 0644 "$unit_dir/contid.service.tmp"
mv "$unit_dir/contid.service.tmp" "$unit_dir/contid.service"
install -m 0644 "$repo/deploy/contid.socket" "$unit_dir/contid.socket.tmp"
mv "$unit_dir/contid.socket.tmp" "$unit_dir/contid.socket"
echo "installed $destdir$prefix/bin/contid, $destdir$prefix/bin/conti-cli, $unit_dir/contid.service, $unit_dir/contid.socket"

# Membership is root-equivalent: the group is made empty, and only on the real system.
if [[ -z "$destdir" ]] && ! getent group conti >/dev/null; then
    groupadd --system conti
    echo "created the group conti (empty): its members may use contid's socket, as root could"
fi

# Only a running systemd (not a container or chroot without it, nor a staging install) reloads.
if [[ -z "$destdir" && -d /run/systemd/system ]]; then
    systemctl daemon-reload
    echo "systemd reloaded: start contid with \`systemctl enable --now contid.socket contid.service\`"
fi
