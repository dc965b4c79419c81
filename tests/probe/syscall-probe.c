/* syscall-probe NAME: makes one system call that a default container must not be allowed, and
 * prints "NAME: ok" or "NAME: <strerror>"; exits with the errno (0 when the call succeeded).
 * Built static by the test harness (tests/src/probe.rs): busybox cannot reach these calls. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <stdio.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/time.h>
#include <unistd.h>

#define KEYCTL_GET_KEYRING_ID 0
#define KEY_SPEC_SESSION_KEYRING -3
#define LINUX_REBOOT_MAGIC1 0xfee1dead
#define LINUX_REBOOT_MAGIC2 672274793
#define LINUX_REBOOT_CMD_CAD_OFF 0

static long probe(const char *name) {
    if (!strcmp(name, "keyctl"))
        return syscall(SYS_keyctl, KEYCTL_GET_KEYRING_ID, KEY_SPEC_SESSION_KEYRING, 0);
    if (!strcmp(name, "settimeofday")) {
        struct timeval now;
        gettimeofday(&now, NULL);
        return syscall(SYS_settimeofday, &now, NULL);
    }
    if (!strcmp(name, "open_by_handle_at")) {
        struct { unsigned int bytes; int type; unsigned char data[128]; } handle = { 128, 0, {0} };
        return syscall(SYS_open_by_handle_at, AT_FDCWD, &handle, O_RDONLY);
    }
    if (!strcmp(name, "mount"))
        return syscall(SYS_mount, "none", "/tmp", "tmpfs", 0, NULL);
    if (!strcmp(name, "unshare"))
        return syscall(SYS_unshare, CLONE_NEWNS);
    if (!strcmp(name, "reboot"))
        return syscall(SYS_reboot, LINUX_REBOOT_MAGIC1, LINUX_REBOOT_MAGIC2, LINUX_REBOOT_CMD_CAD_OFF, NULL);
    if (!strcmp(name, "init_module"))
        return syscall(SYS_init_module, NULL, 0, "");
    if (!strcmp(name, "userfaultfd"))
        return syscall(SYS_userfaultfd, 0);
    errno = EINVAL;
    return -1;
}

int main(int argc, char **argv) {
    if (argc != 2) {
        fprintf(stderr, "usage: syscall-probe NAME\n");
        return 2;
    }
    long result = probe(argv[1]);
    int error = result == -1 ? errno : 0;
    printf("%s: %s\n", argv[1], error ? strerror(error) : "ok");
    return error;
}
