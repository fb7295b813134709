/*
 * The floor for the data-path benchmark: the least a plaintext-to-TLS PostgreSQL relay can do.
 * One thread, epoll, OpenSSL; per client it dials the upstream, sends SSLRequest, expects 'S',
 * runs a verify-full TLS handshake (CA file, host name), then relays bytes both ways — the
 * client's startup message included, so only a user the server lets in without a password
 * (`trust` over TLS) can log in. No IAM, no parsing, no metrics: what the hop itself costs.
 *
 *     relay LISTEN_PORT UPSTREAM_HOST UPSTREAM_PORT CA_FILE
 *
 * The upstream setup is blocking (it runs once per client; the benchmark measures the relayed
 * round trips of established sessions), the relay is non-blocking with back-pressure: a
 * direction whose destination cannot take more stops reading its source.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#define BUFFER_SIZE 16384

/* One direction: bytes read from the source waiting to be written to the destination. */
struct pending {
    unsigned char data[BUFFER_SIZE];
    size_t start, end;
};

struct session {
    int client, upstream;
    SSL *tls;
    struct pending up;   /* client -> server */
    struct pending down; /* server -> client */
    /* The interest each descriptor is registered with: epoll_ctl only when it changes. */
    unsigned client_events, upstream_events;
    int closed;
    struct session *next_closed;
    /* epoll user data points at one of these two, so an event names its side. */
    struct side { struct session *session; int is_upstream; } client_side, upstream_side;
};

static SSL_CTX *context;
static const char *upstream_host, *upstream_port;
static int epoll_fd;

static void fail(const char *what) {
    perror(what);
    exit(1);
}

static void set_nonblocking(int fd) { fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK); }

static void no_delay(int fd) {
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
}

static int dial(void) {
    struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM}, *found;
    if (getaddrinfo(upstream_host, upstream_port, &hints, &found) != 0) return -1;
    int fd = -1;
    for (struct addrinfo *entry = found; entry && fd < 0; entry = entry->ai_next) {
        fd = socket(entry->ai_family, entry->ai_socktype, 0);
        if (fd >= 0 && connect(fd, entry->ai_addr, entry->ai_addrlen) != 0) {
            close(fd);
            fd = -1;
        }
    }
    freeaddrinfo(found);
    return fd;
}

/* SSLRequest, 'S', verify-full handshake; blocking. */
static SSL *open_tls(int fd) {
    static const unsigned char ssl_request[8] = {0, 0, 0, 8, 0x04, 0xd2, 0x16, 0x2f};
    unsigned char answer;
    if (write(fd, ssl_request, sizeof ssl_request) != sizeof ssl_request || read(fd, &answer, 1) != 1 || answer != 'S') return NULL;
    SSL *tls = SSL_new(context);
    SSL_set_fd(tls, fd);
    SSL_set_tlsext_host_name(tls, upstream_host);
    SSL_set1_host(tls, upstream_host);
    if (SSL_connect(tls) != 1) {
        ERR_print_errors_fp(stderr);
        SSL_free(tls);
        return NULL;
    }
    return tls;
}

static struct session *closed_sessions;

static void watch(struct session *session) {
    /* Read a source only while its direction has nothing pending; wait to write otherwise. */
    unsigned client = (session->up.end == session->up.start ? EPOLLIN : 0) | (session->down.end > session->down.start ? EPOLLOUT : 0);
    unsigned upstream = (session->down.end == session->down.start ? EPOLLIN : 0) | (session->up.end > session->up.start ? EPOLLOUT : 0);
    if (client != session->client_events) {
        struct epoll_event event = {.events = client, .data.ptr = &session->client_side};
        epoll_ctl(epoll_fd, EPOLL_CTL_MOD, session->client, &event);
        session->client_events = client;
    }
    if (upstream != session->upstream_events) {
        struct epoll_event event = {.events = upstream, .data.ptr = &session->upstream_side};
        epoll_ctl(epoll_fd, EPOLL_CTL_MOD, session->upstream, &event);
        session->upstream_events = upstream;
    }
}

/* Closed now, freed after the current batch of events (a later event may still name it). */
static void end(struct session *session) {
    epoll_ctl(epoll_fd, EPOLL_CTL_DEL, session->client, NULL);
    epoll_ctl(epoll_fd, EPOLL_CTL_DEL, session->upstream, NULL);
    SSL_free(session->tls);
    close(session->client);
    close(session->upstream);
    session->closed = 1;
    session->next_closed = closed_sessions;
    closed_sessions = session;
}

static void accept_client(int listener) {
    int client = accept(listener, NULL, NULL);
    if (client < 0) return;
    int upstream = dial();
    SSL *tls = upstream >= 0 ? open_tls(upstream) : NULL;
    if (!tls) {
        fprintf(stderr, "relay: cannot reach the upstream over TLS\n");
        close(client);
        if (upstream >= 0) close(upstream);
        return;
    }
    no_delay(client);
    no_delay(upstream);
    set_nonblocking(client);
    set_nonblocking(upstream);
    struct session *session = calloc(1, sizeof *session);
    session->client = client;
    session->upstream = upstream;
    session->tls = tls;
    session->client_side = (struct side){session, 0};
    session->upstream_side = (struct side){session, 1};
    session->client_events = session->upstream_events = EPOLLIN;
    struct epoll_event client_event = {.events = EPOLLIN, .data.ptr = &session->client_side};
    struct epoll_event upstream_event = {.events = EPOLLIN, .data.ptr = &session->upstream_side};
    epoll_ctl(epoll_fd, EPOLL_CTL_ADD, client, &client_event);
    epoll_ctl(epoll_fd, EPOLL_CTL_ADD, upstream, &upstream_event);
}

/* Writes what is pending to the upstream (TLS) or the client; 0 done, 1 would block, -1 gone. */
static int flush_up(struct session *session) {
    struct pending *p = &session->up;
    while (p->start < p->end) {
        int written = SSL_write(session->tls, p->data + p->start, (int)(p->end - p->start));
        if (written <= 0) {
            int error = SSL_get_error(session->tls, written);
            return error == SSL_ERROR_WANT_WRITE || error == SSL_ERROR_WANT_READ ? 1 : -1;
        }
        p->start += (size_t)written;
    }
    p->start = p->end = 0;
    return 0;
}

static int flush_down(struct session *session) {
    struct pending *p = &session->down;
    while (p->start < p->end) {
        ssize_t written = write(session->client, p->data + p->start, p->end - p->start);
        if (written < 0) return errno == EAGAIN ? 1 : -1;
        p->start += (size_t)written;
    }
    p->start = p->end = 0;
    return 0;
}

/* Client bytes: read, write through TLS. */
static int from_client(struct session *session) {
    for (;;) {
        if (session->up.end > session->up.start) return flush_up(session) < 0 ? -1 : 0;
        ssize_t count = read(session->client, session->up.data, BUFFER_SIZE);
        if (count == 0) return -1;
        if (count < 0) return errno == EAGAIN ? 0 : -1;
        session->up.start = 0;
        session->up.end = (size_t)count;
        int flushed = flush_up(session);
        if (flushed != 0) return flushed < 0 ? -1 : 0;
    }
}

/* Server bytes: read through TLS (including what OpenSSL already holds), write to the client. */
static int from_upstream(struct session *session) {
    for (;;) {
        if (session->down.end > session->down.start) return flush_down(session) < 0 ? -1 : 0;
        int count = SSL_read(session->tls, session->down.data, BUFFER_SIZE);
        if (count <= 0) {
            int error = SSL_get_error(session->tls, count);
            return error == SSL_ERROR_WANT_READ || error == SSL_ERROR_WANT_WRITE ? 0 : -1;
        }
        session->down.start = 0;
        session->down.end = (size_t)count;
        int flushed = flush_down(session);
        if (flushed != 0) return flushed < 0 ? -1 : 0;
    }
}

int main(int argc, char **argv) {
    if (argc != 5) {
        fprintf(stderr, "usage: relay LISTEN_PORT UPSTREAM_HOST UPSTREAM_PORT CA_FILE\n");
        return 2;
    }
    signal(SIGPIPE, SIG_IGN);
    upstream_host = argv[2];
    upstream_port = argv[3];
    context = SSL_CTX_new(TLS_client_method());
    SSL_CTX_set_min_proto_version(context, TLS1_2_VERSION);
    SSL_CTX_set_verify(context, SSL_VERIFY_PEER, NULL);
    if (SSL_CTX_load_verify_locations(context, argv[4], NULL) != 1) fail("CA file");

    int listener = socket(AF_INET, SOCK_STREAM, 0), one = 1;
    setsockopt(listener, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    struct sockaddr_in address = {.sin_family = AF_INET, .sin_port = htons((uint16_t)atoi(argv[1])), .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    if (bind(listener, (struct sockaddr *)&address, sizeof address) != 0 || listen(listener, 1024) != 0) fail("listen");
    epoll_fd = epoll_create1(0);
    struct epoll_event listening = {.events = EPOLLIN, .data.ptr = NULL};
    epoll_ctl(epoll_fd, EPOLL_CTL_ADD, listener, &listening);
    fprintf(stderr, "relay: listening on 127.0.0.1:%s\n", argv[1]);

    struct epoll_event events[256];
    for (;;) {
        int ready = epoll_wait(epoll_fd, events, 256, -1);
        for (int index = 0; index < ready; index++) {
            struct side *side = events[index].data.ptr;
            if (!side) {
                accept_client(listener);
                continue;
            }
            struct session *session = side->session;
            if (session->closed) continue;
            /* Either event on either side may let either direction move. */
            int result = side->is_upstream ? from_upstream(session) : from_client(session);
            if (result == 0) result = side->is_upstream ? from_client(session) : from_upstream(session);
            if (result < 0) {
                end(session);
                continue;
            }
            watch(session);
        }
        while (closed_sessions) {
            struct session *next = closed_sessions->next_closed;
            free(closed_sessions);
            closed_sessions = next;
        }
    }
}
