#!/bin/busybox sh
# /init of the test VM (see vm.rs): lays out the cgroups named by `conti.layout=` on the kernel
# command line, runs every test executable in /conti/tests one after another against the contid
# in /conti/bin, prints one marker line per executable and one for the cgroups left, powers off.
/bin/busybox --install -s /bin
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev

# The initramfs is the kernel's rootfs, which pivot_root cannot leave (a container's init does
# pivot_root): first move everything onto a tmpfs and make that the root.
if [ -z "$CONTI_VM_STAGE2" ]; then
    mkdir /newroot
    mount -t tmpfs -o mode=755 tmpfs /newroot
    for entry in /*; do
        case $entry in /proc | /sys | /dev | /newroot) ;; *) cp -a "$entry" /newroot/ ;; esac
    done
    mkdir /newroot/proc /newroot/sys /newroot/dev
    umount /proc /sys /dev
    export CONTI_VM_STAGE2=1
    exec switch_root /newroot /init
fi

layout=v2
test_timeout=600
bfq=0
swap_mib=0
for arg in $(cat /proc/cmdline); do
    case $arg in
    conti.layout=*) layout=${arg#*=} ;;
    conti.test_timeout=*) test_timeout=${arg#*=} ;;
    conti.bfq=*) bfq=${arg#*=} ;;
    conti.swap_mib=*) swap_mib=${arg#*=} ;;
    esac
done

case $layout in
v2)
    # A cgroup2-only host as systemd sets it up: the controllers enabled for the children of the
    # root.
    mount -t cgroup2 cgroup2 /sys/fs/cgroup
    echo "+cpuset +cpu +io +memory +pids" >/sys/fs/cgroup/cgroup.subtree_control
    ;;
hybrid)
    # The project machines' layout: every controller on a v1 hierarchy, an empty cgroup2 tree.
    mount -t tmpfs -o mode=755 tmpfs /sys/fs/cgroup
    for c in cpu cpuacct cpuset memory devices freezer blkio pids hugetlb; do
        mkdir /sys/fs/cgroup/$c
        mount -t cgroup -o $c cgroup /sys/fs/cgroup/$c
    done
    mkdir /sys/fs/cgroup/systemd /sys/fs/cgroup/unified
    mount -t cgroup -o none,name=systemd cgroup /sys/fs/cgroup/systemd
    mount -t cgroup2 cgroup2 /sys/fs/cgroup/unified
    ;;
*)
    echo "CONTI-VM-ERROR unknown layout $layout"
    poweroff -f
    ;;
esac
# What differs between hosts of the project's kind (see vm.rs, kernel_args): BFQ, swap.
insmod /conti/modules/overlay.ko
if [ "$bfq" = 1 ]; then insmod /conti/modules/bfq.ko; fi
if [ "$swap_mib" -gt 0 ]; then
    for module in zsmalloc lzo-rle zram; do insmod /conti/modules/$module.ko; done
    echo "${swap_mib}M" >/sys/block/zram0/disksize
    mkswap /dev/zram0 >/dev/null && swapon /dev/zram0
fi
ip link set lo up
echo "CONTI-VM-LAYOUT $layout: kernel $(uname -r), $(nproc) CPUs, $(free -m | awk '/Mem:/ {print $2}') MiB, swap $(free -m | awk '/Swap:/ {print $2}') MiB, bfq=$bfq"
grep cgroup /proc/self/mountinfo | cut -d' ' -f5,9-

cgroups() { find /sys/fs/cgroup -mindepth 1 -type d | sort; }
cgroups >/tmp/cgroups-before
export CONTI_BIN_DIR=/conti/bin CI=true RUST_BACKTRACE=1
for test in /conti/tests/*; do
    started=$(date +%s)
    timeout "$test_timeout" "$test" --test-threads=1 --nocapture
    code=$?
    echo "CONTI-VM-RESULT $(basename "$test") rc=$code secs=$(($(date +%s) - started))"
done
cgroups >/tmp/cgroups-after
echo "CONTI-VM-LEFT [$(grep -vxF -f /tmp/cgroups-before /tmp/cgroups-after | tr '\n' ' ')]"
poweroff -f
