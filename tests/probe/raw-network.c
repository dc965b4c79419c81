/* What a container holding CAP_NET_RAW can send on its bridge, for the tests that check that the
 * host and the neighbours do not take it (tests/tests/network_security.rs). Included by
 * syscall-probe.c; every probe works on eth0 and returns like the others (0, or -1 and errno).
 *
 *   loopback_tcp PORT       a TCP SYN for 127.0.0.1:PORT in a frame sent to the gateway's MAC:
 *                           on a SYN-ACK, the ACK and an HTTP request follow ("ok"); a RST is
 *                           ECONNREFUSED, no answer within 2 s ETIMEDOUT
 *   arp_claim IP [MAC]      gratuitous ARP (a request and a reply, three times) saying that IP
 *                           is at MAC (default: eth0's own), in frames from MAC
 *   udp_from SRC DST PORT   a UDP datagram to DST:PORT with the source address SRC, three times
 *   udp_receive PORT SECS   prints "from ADDRESS" for each datagram to PORT for SECS seconds; 0
 *                           when one came, else ETIMEDOUT */
#include <arpa/inet.h>
#include <net/ethernet.h>
#include <net/if.h>
#include <net/if_arp.h>
#include <netinet/ip.h>
#include <netinet/tcp.h>
#include <netinet/udp.h>
#include <linux/if_packet.h>
#include <stddef.h>
#include <sys/ioctl.h>

#define INTERFACE "eth0"

struct interface {
    int index;
    unsigned char mac[ETH_ALEN];
    struct in_addr address;
};

static int interface_of(struct interface *out) {
    int sock = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (sock < 0)
        return -1;
    struct ifreq request = { 0 };
    strncpy(request.ifr_name, INTERFACE, IFNAMSIZ - 1);
    int failed = ioctl(sock, SIOCGIFHWADDR, &request) < 0;
    if (!failed)
        memcpy(out->mac, request.ifr_hwaddr.sa_data, ETH_ALEN);
    failed = failed || ioctl(sock, SIOCGIFADDR, &request) < 0;
    if (!failed)
        out->address = ((struct sockaddr_in *)&request.ifr_addr)->sin_addr;
    close(sock);
    out->index = if_nametoindex(INTERFACE);
    return failed || !out->index ? -1 : 0;
}

static int parse_mac(const char *text, unsigned char *mac) {
    unsigned int bytes[ETH_ALEN];
    if (sscanf(text, "%x:%x:%x:%x:%x:%x", &bytes[0], &bytes[1], &bytes[2], &bytes[3], &bytes[4],
               &bytes[5]) != ETH_ALEN) {
        errno = EINVAL;
        return -1;
    }
    for (int i = 0; i < ETH_ALEN; i++)
        mac[i] = bytes[i];
    return 0;
}

/* The default route's gateway, from /proc/net/route. */
static int default_gateway(struct in_addr *gateway) {
    FILE *routes = fopen("/proc/net/route", "re");
    if (!routes)
        return -1;
    char line[256];
    int found = 0;
    while (!found && fgets(line, sizeof line, routes)) {
        char name[IFNAMSIZ + 1];
        unsigned int destination, via, flags, mask;
        if (sscanf(line, "%16s %x %x %x %*d %*d %*d %x", name, &destination, &via, &flags,
                   &mask) == 5 && destination == 0 && mask == 0) {
            gateway->s_addr = via;
            found = 1;
        }
    }
    fclose(routes);
    if (!found)
        errno = ENETUNREACH;
    return found ? 0 : -1;
}

/* The gateway's MAC: a datagram to it makes the kernel resolve it, then /proc/net/arp has it. */
static int gateway_mac(unsigned char *mac) {
    struct in_addr gateway;
    if (default_gateway(&gateway) < 0)
        return -1;
    int sock = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (sock < 0)
        return -1;
    struct sockaddr_in discard = { .sin_family = AF_INET, .sin_port = htons(9), .sin_addr = gateway };
    sendto(sock, "", 0, 0, (struct sockaddr *)&discard, sizeof discard);
    close(sock);
    char wanted[INET_ADDRSTRLEN];
    inet_ntop(AF_INET, &gateway, wanted, sizeof wanted);
    for (int tries = 0; tries < 40; tries++) {
        FILE *table = fopen("/proc/net/arp", "re");
        if (!table)
            return -1;
        char line[256], address[64], hardware[64];
        unsigned int flags;
        int found = 0;
        while (!found && fgets(line, sizeof line, table))
            found = sscanf(line, "%63s %*s %x %63s", address, &flags, hardware) == 3 &&
                    !strcmp(address, wanted) && (flags & 0x2) && !parse_mac(hardware, mac);
        fclose(table);
        if (found)
            return 0;
        usleep(50000);
    }
    errno = EHOSTUNREACH;
    return -1;
}

static unsigned short checksum(const void *data, size_t length, unsigned long sum) {
    const unsigned char *bytes = data;
    for (size_t i = 0; i + 1 < length; i += 2)
        sum += (bytes[i] << 8) | bytes[i + 1];
    if (length & 1)
        sum += bytes[length - 1] << 8;
    while (sum >> 16)
        sum = (sum & 0xffff) + (sum >> 16);
    return htons(~sum & 0xffff);
}

/* An IPv4 packet carrying `segment` (TCP or UDP, checksum field at `checksum_at`), checksums
 * filled in; returns its length. */
static size_t ipv4_packet(unsigned char *packet, struct in_addr from, struct in_addr to,
                          int protocol, unsigned char *segment, size_t length, size_t checksum_at) {
    struct {
        struct in_addr from, to;
        unsigned char zero, protocol;
        unsigned short length;
    } __attribute__((packed)) pseudo = { from, to, 0, protocol, htons(length) };
    unsigned long sum = 0;
    const unsigned char *p = (const unsigned char *)&pseudo;
    for (size_t i = 0; i < sizeof pseudo; i += 2)
        sum += (p[i] << 8) | p[i + 1];
    segment[checksum_at] = segment[checksum_at + 1] = 0;
    unsigned short segment_sum = checksum(segment, length, sum);
    memcpy(segment + checksum_at, &segment_sum, 2);
    struct iphdr ip = {
        .version = 4, .ihl = 5, .ttl = 64, .protocol = protocol,
        .tot_len = htons(sizeof ip + length), .id = htons(getpid() & 0xffff),
        .saddr = from.s_addr, .daddr = to.s_addr,
    };
    ip.check = checksum(&ip, sizeof ip, 0);
    memcpy(packet, &ip, sizeof ip);
    memcpy(packet + sizeof ip, segment, length);
    return sizeof ip + length;
}

static size_t tcp_packet(unsigned char *packet, struct in_addr from, struct in_addr to,
                         unsigned short source_port, unsigned short port, unsigned int seq,
                         unsigned int ack, unsigned char flags, const char *payload) {
    unsigned char segment[256] = { 0 };
    struct tcphdr *tcp = (struct tcphdr *)segment;
    tcp->source = htons(source_port);
    tcp->dest = htons(port);
    tcp->seq = htonl(seq);
    tcp->ack_seq = htonl(ack);
    tcp->doff = sizeof *tcp / 4;
    tcp->window = htons(65535);
    segment[13] = flags;
    size_t length = sizeof *tcp + strlen(payload);
    memcpy(segment + sizeof *tcp, payload, strlen(payload));
    return ipv4_packet(packet, from, to, IPPROTO_TCP, segment, length,
                       offsetof(struct tcphdr, check));
}

/* An IPv4 packet in a frame to `mac`, through a packet socket (the kernel adds eth0's MAC). */
static int send_to_mac(int sock, const struct interface *eth0, const unsigned char *mac,
                       const unsigned char *packet, size_t length) {
    struct sockaddr_ll to = {
        .sll_family = AF_PACKET, .sll_protocol = htons(ETH_P_IP),
        .sll_ifindex = eth0->index, .sll_halen = ETH_ALEN,
    };
    memcpy(to.sll_addr, mac, ETH_ALEN);
    return sendto(sock, packet, length, 0, (struct sockaddr *)&to, sizeof to) < 0 ? -1 : 0;
}

#define TCP_FIN 0x01
#define TCP_SYN 0x02
#define TCP_RST 0x04
#define TCP_PSH 0x08
#define TCP_ACK 0x10

static long loopback_tcp(int port) {
    struct interface eth0;
    unsigned char gateway[ETH_ALEN];
    if (port <= 0 || port > 65535) {
        errno = EINVAL;
        return -1;
    }
    if (interface_of(&eth0) < 0 || gateway_mac(gateway) < 0)
        return -1;
    int sock = socket(AF_PACKET, SOCK_DGRAM | SOCK_CLOEXEC, htons(ETH_P_IP));
    if (sock < 0)
        return -1;
    struct sockaddr_ll here = {
        .sll_family = AF_PACKET, .sll_protocol = htons(ETH_P_IP), .sll_ifindex = eth0.index,
    };
    struct timeval tick = { 0, 100000 };
    if (bind(sock, (struct sockaddr *)&here, sizeof here) < 0 ||
        setsockopt(sock, SOL_SOCKET, SO_RCVTIMEO, &tick, sizeof tick) < 0)
        return -1;
    struct in_addr loopback = { htonl(INADDR_LOOPBACK) };
    unsigned short source_port = 40000 + getpid() % 20000;
    unsigned int seq = 0x12345678;
    unsigned char packet[512];
    size_t length = tcp_packet(packet, eth0.address, loopback, source_port, port, seq, 0,
                               TCP_SYN, "");
    if (send_to_mac(sock, &eth0, gateway, packet, length) < 0)
        return -1;
    for (int ticks = 0; ticks < 20; ticks++) {
        unsigned char reply[2048];
        ssize_t got = recv(sock, reply, sizeof reply, 0);
        if (got < (ssize_t)(sizeof(struct iphdr) + sizeof(struct tcphdr)))
            continue;
        struct iphdr *ip = (struct iphdr *)reply;
        struct tcphdr *tcp = (struct tcphdr *)(reply + ip->ihl * 4);
        if (ip->protocol != IPPROTO_TCP || ip->saddr != loopback.s_addr ||
            ntohs(tcp->source) != port || ntohs(tcp->dest) != source_port)
            continue;
        unsigned char flags = reply[ip->ihl * 4 + 13];
        if (flags & TCP_RST) {
            errno = ECONNREFUSED;
            return -1;
        }
        if ((flags & (TCP_SYN | TCP_ACK)) == (TCP_SYN | TCP_ACK)) {
            length = tcp_packet(packet, eth0.address, loopback, source_port, port, seq + 1,
                                ntohl(tcp->seq) + 1, TCP_ACK | TCP_PSH,
                                "GET /from-a-container HTTP/1.0\r\n\r\n");
            return send_to_mac(sock, &eth0, gateway, packet, length);
        }
    }
    errno = ETIMEDOUT;
    return -1;
}

struct arp_frame {
    struct ether_header ether;
    unsigned short hardware, protocol;
    unsigned char hardware_length, protocol_length;
    unsigned short operation;
    unsigned char sender_mac[ETH_ALEN];
    struct in_addr sender_ip;
    unsigned char target_mac[ETH_ALEN];
    struct in_addr target_ip;
} __attribute__((packed));

static long arp_claim(const char *address, const char *mac_text) {
    struct interface eth0;
    struct arp_frame frame = { 0 };
    if (interface_of(&eth0) < 0)
        return -1;
    unsigned char mac[ETH_ALEN];
    memcpy(mac, eth0.mac, ETH_ALEN);
    if ((mac_text && parse_mac(mac_text, mac) < 0) ||
        !inet_pton(AF_INET, address, &frame.sender_ip)) {
        errno = EINVAL;
        return -1;
    }
    int sock = socket(AF_PACKET, SOCK_RAW | SOCK_CLOEXEC, htons(ETH_P_ARP));
    if (sock < 0)
        return -1;
    memset(frame.ether.ether_dhost, 0xff, ETH_ALEN);
    memcpy(frame.ether.ether_shost, mac, ETH_ALEN);
    frame.ether.ether_type = htons(ETHERTYPE_ARP);
    frame.hardware = htons(ARPHRD_ETHER);
    frame.protocol = htons(ETHERTYPE_IP);
    frame.hardware_length = ETH_ALEN;
    frame.protocol_length = 4;
    memcpy(frame.sender_mac, mac, ETH_ALEN);
    frame.target_ip = frame.sender_ip;
    struct sockaddr_ll to = {
        .sll_family = AF_PACKET, .sll_protocol = htons(ETH_P_ARP),
        .sll_ifindex = eth0.index, .sll_halen = ETH_ALEN,
    };
    memset(to.sll_addr, 0xff, ETH_ALEN);
    for (int round = 0; round < 3; round++) {
        for (int operation = 1; operation <= 2; operation++) {
            frame.operation = htons(operation);
            if (operation == 2)
                memset(frame.target_mac, 0xff, ETH_ALEN);
            else
                memset(frame.target_mac, 0, ETH_ALEN);
            if (sendto(sock, &frame, sizeof frame, 0, (struct sockaddr *)&to, sizeof to) < 0)
                return -1;
        }
        usleep(200000);
    }
    return 0;
}

static long udp_from(const char *source, const char *destination, int port) {
    struct in_addr from, to;
    if (!inet_pton(AF_INET, source, &from) || !inet_pton(AF_INET, destination, &to) ||
        port <= 0 || port > 65535) {
        errno = EINVAL;
        return -1;
    }
    /* IPPROTO_RAW: the header is ours (IP_HDRINCL), the kernel routes it and resolves the MAC. */
    int sock = socket(AF_INET, SOCK_RAW | SOCK_CLOEXEC, IPPROTO_RAW);
    if (sock < 0)
        return -1;
    unsigned char segment[64] = { 0 };
    struct udphdr *udp = (struct udphdr *)segment;
    const char *payload = "probe\n";
    udp->source = htons(port);
    udp->dest = htons(port);
    udp->len = htons(sizeof *udp + strlen(payload));
    memcpy(segment + sizeof *udp, payload, strlen(payload));
    unsigned char packet[128];
    size_t length = ipv4_packet(packet, from, to, IPPROTO_UDP, segment,
                                sizeof *udp + strlen(payload), offsetof(struct udphdr, check));
    struct sockaddr_in address = { .sin_family = AF_INET, .sin_addr = to };
    for (int round = 0; round < 3; round++) {
        if (sendto(sock, packet, length, 0, (struct sockaddr *)&address, sizeof address) < 0)
            return -1;
        usleep(100000);
    }
    return 0;
}

static long udp_receive(int port, int seconds) {
    int sock = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (sock < 0)
        return -1;
    struct sockaddr_in here = { .sin_family = AF_INET, .sin_port = htons(port) };
    struct timeval tick = { 0, 100000 };
    if (bind(sock, (struct sockaddr *)&here, sizeof here) < 0 ||
        setsockopt(sock, SOL_SOCKET, SO_RCVTIMEO, &tick, sizeof tick) < 0)
        return -1;
    int received = 0;
    for (int ticks = 0; ticks < seconds * 10; ticks++) {
        char data[64];
        struct sockaddr_in from;
        socklen_t length = sizeof from;
        if (recvfrom(sock, data, sizeof data, 0, (struct sockaddr *)&from, &length) < 0)
            continue;
        printf("from %s\n", inet_ntoa(from.sin_addr));
        fflush(stdout);
        received = 1;
    }
    if (!received)
        errno = ETIMEDOUT;
    return received ? 0 : -1;
}
