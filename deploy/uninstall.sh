#!/usr/bin/env bash
# Removes what install.sh installed: stops contid, removes contid, conti-cli and contid's
# systemd units (contid.service, contid.socket). The group `conti` stays (groupdel conti).
# Containers, images and volumes stay (and so do running containers) unless
# --purge, which first deletes every container through contid, then removes the state folder,
# Conti's bridges, its nftables tables and its (empty) cgroup folders.
#
#   sudo deploy/uninstall.sh [--purge]
#
# Environment:
#   DESTDIR   staging root installed into (default: empty, the real system); with it, only
#             files under DESTDIR are removed (the binaries, the unit, and with --purge the
#             state folder): no process, bridge, table or cgroup is touched
#   PREFIX    default /usr/local
#   ROOT      contid's --root (default /var/lib/conti)
#   SOCKET    contid's --socket (default /var/run/conti.sock)
#   BRIDGE    contid's --bridge (default conti0)
#   TABLE     contid's --firewall-table (default conti)
#   CGROUP_PARENT  contid's --cgroup-parent (default conti)
set -euo pipefail

purge=false
case "${1:-}" in
    --purge) purge=true ;;
    "") ;;
    *)
        echo "usage: uninstall.sh [--purge]" >&2
        exit 2
        ;;
esac
destdir="${DESTDIR:-}"
prefix="${PREFIX:-/usr/local}"
root="${ROOT:-/var/lib/conti}"
socket="${SOCKET:-/var/run/conti.sock}"
bridge="${BRIDGE:-conti0}"
table="${TABLE:-conti}"
cgroup_parent="${CGROUP_PARENT:-conti}"
cli="$destdir$prefix/bin/conti-cli"

if [[ -z "$destdir" ]]; then
    if $purge; then
        if [[ -x "$cli" ]] && "$cli" --socket "$socket" version >/dev/null 2>&1; then
            echo "==> deleting every container"
            ids="$("$cli" --socket "$socket" ps -aq)"
            if [[ -n "$ids" ]]; then
                # shellcheck disable=SC2086 # one id per word
                "$cli" --socket "$socket" rm -f $ids
            fi
        else
            echo "uninstall.sh: contid does not answer on $socket: containers it left running are not deleted" >&2
        fi
    fi

    echo "==> stopping contid"
    # The socket first, or a connection would start contid again.
    for unit in contid.socket contid.service; do
        if [[ -d /run/systemd/system ]] && systemctl cat "$unit" >/dev/null 2>&1; then
            systemctl disable --now "$unit" || true
        fi
    done
    # Started by hand (or by quickstart.sh without systemd): the pid in the lock file, only while
    # a process holds the lock.
    lock="$root/contid.lock"
    if [[ -f "$lock" ]] && ! flock -n "$lock" true; then
        pid="$(tr -dc 0-9 <"$lock")"
        if [[ -n "$pid" ]]; then
            kill -TERM "$pid" 2>/dev/null || true
            for _ in $(seq 50); do
                flock -n "$lock" true && break
                sleep 0.1
            done
        fi
    fi
fi

echo "==> removing the binaries and the units"
rm -f "$destdir$prefix/bin/contid" "$destdir$prefix/bin/conti-cli" \
    "$destdir/etc/systemd/system/contid.service" "$destdir/etc/systemd/system/contid.socket"
if [[ -z "$destdir" && -d /run/systemd/system ]]; then
    systemctl daemon-reload || true
fi

if $purge; then
    if [[ -z "$destdir" ]]; then
        echo "==> removing Conti's bridges, nftables tables and cgroup folders"
        bridges=("$bridge")
        for network in "$root"/networks/*.json; do
            [[ -f "$network" ]] || continue
            name="$(sed -n 's/^ *"bridge": *"\([^"]*\)".*/\1/p' "$network")"
            [[ -n "$name" ]] && bridges+=("$name")
        done
        for name in "${bridges[@]}"; do
            ip link del "$name" 2>/dev/null || true
        done
        nft delete table ip "$table" 2>/dev/null || true
        nft delete table bridge "$table" 2>/dev/null || true
        for dir in /sys/fs/cgroup/"$cgroup_parent" /sys/fs/cgroup/*/"$cgroup_parent"; do
            [[ -d "$dir" ]] && rmdir "$dir" 2>/dev/null || true
        done
    fi
    if [[ -z "$root" || "$root" == / ]]; then
        echo "uninstall.sh: refusing to remove ROOT='$root'" >&2
        exit 1
    fi
    echo "==> removing the state folder $destdir$root"
    rm -rf "$destdir$root"
fi
echo "uninstalled"
