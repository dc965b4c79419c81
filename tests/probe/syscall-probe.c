/* syscall-probe NAME [ARG...]: makes one system call (or a short sequence of them) that busybox
 * cannot make, and prints "NAME: ok" or "NAME: <strerror>"; exits with the errno (0 when it
 * succeeded). Most are calls a default container must not be allowed; "icmp_echo" pings
 * 127.0.0.1 through an ICMP datagram socket (what `ping` uses without CAP_NET_RAW, allowed by
 * ping_group_range); "append PATH" opens PATH for writing and appends a byte, "reopen_append
 * PATH" does the same through an O_PATH fd reopened as /proc/self/fd/N (the CVE-2019-5736 way).
 * The network attacks a container with CAP_NET_RAW can make on its bridge are in
 * raw-network.c, included below.
 * Built static by the test harness (tests/src/probe.rs). */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <netinet/in.h>
#include <netinet/ip_icmp.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/time.h>
#include <unistd.h>

#define KEYCTL_GET_KEYRING_ID 0
#define KEY_SPEC_SESSION_KEYRING -3
#define LINUX_REBOOT_MAGIC1 0xfee1dead
#define LINUX_REBOOT_MAGIC2 672274793
#define LINUX_REBOOT_CMD_CAD_OFF 0

/* One echo request to 127.0.0.1 and its reply, through socket(AF_INET, SOCK_DGRAM, IPPROTO_ICMP). */
static long icmp_echo(void) {
    int sock = socket(AF_INET, SOCK_DGRAM, IPPROTO_ICMP);
    if (sock < 0)
        return -1;
    struct timeval timeout = { 5, 0 };
    if (setsockopt(sock, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof timeout) < 0)
        return -1;
    struct sockaddr_in to = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
    struct icmphdr request = { .type = ICMP_ECHO, .un.echo.sequence = htons(1) };
    if (sendto(sock, &request, sizeof request, 0, (struct sockaddr *)&to, sizeof to) < 0)
        return -1;
    struct icmphdr reply;
    if (recv(sock, &reply, sizeof reply, 0) < 0)
        return -1;
    if (reply.type != ICMP_ECHOREPLY) {
        errno = EPROTO;
        return -1;
    }
    return 0;
}

/* Opens `path` for appending and writes one byte. */
static long append(const char *path) {
    int fd = open(path, O_WRONLY | O_APPEND | O_CLOEXEC);
    if (fd < 0)
        return -1;
    return write(fd, "x", 1) == 1 ? 0 : -1;
}

/* Opens `path` O_PATH, then appends through /proc/self/fd/N. */
static long reopen_append(const char *path) {
    int fd = open(path, O_PATH | O_CLOEXEC);
    if (fd < 0)
        return -1;
    char through_fd[64];
    snprintf(through_fd, sizeof through_fd, "/proc/self/fd/%d", fd);
    return append(through_fd);
}

#include "raw-network.c"

static long probe(const char *name, const char *path, char **more) {
    if (!strcmp(name, "icmp_echo"))
        return icmp_echo();
    if (!strcmp(name, "append") && path)
        return append(path);
    if (!strcmp(name, "reopen_append") && path)
        return reopen_append(path);
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
    if (!strcmp(name, "loopback_tcp") && path)
        return loopback_tcp(atoi(path));
    if (!strcmp(name, "arp_claim") && path)
        return arp_claim(path, more[0]);
    if (!strcmp(name, "udp_from") && path && more[0] && more[1])
        return udp_from(path, more[0], atoi(more[1]));
    if (!strcmp(name, "udp_receive") && path && more[0])
        return udp_receive(atoi(path), atoi(more[0]));
    errno = EINVAL;
    return -1;
}

int main(int argc, char **argv) {
    if (argc < 2 || argc > 5) {
        fprintf(stderr, "usage: syscall-probe NAME [ARG...]\n");
        return 2;
    }
    char *more[3] = { NULL, NULL, NULL };
    for (int i = 3; i < argc; i++)
        more[i - 3] = argv[i];
    long result = probe(argv[1], argc >= 3 ? argv[2] : NULL, more);
    int error = result == -1 ? errno : 0;
    printf("%s: %s\n", argv[1], error ? strerror(error) : "ok");
    return error;
}
