import NIOCore
import NIOHTTP1

/// Who may ask the admin server for what. Health and metrics are read-only and must stay
/// reachable on a pod address for kubelet probes and scrapers; `POST /quitquitquit` stops the
/// proxy, so it comes only from the same host, or with the configured `admin_token`. Browsers
/// are kept out entirely: a web page can make a browser send a form POST to loopback, and a
/// DNS-rebinding page can reach it under its own host name, but neither can hide the
/// `Origin` / `Sec-Fetch-*` headers or a non-IP `Host`.
struct AdminRequestGuard: Sendable {
    /// A bearer token that `/quitquitquit` must carry (nil: loopback peers only).
    var adminToken: String?

    struct Request {
        var method: HTTPMethod
        var path: String
        var headers: HTTPHeaders
        var peer: SocketAddress?
    }

    /// The refusal for `request`, or nil when it may be answered.
    func refusal(for request: Request) -> AdminHTTPServer.Response? {
        if request.headers.contains(name: "Origin") || request.headers.contains(where: { $0.name.lowercased().hasPrefix("sec-fetch-") }) {
            return .init(status: .forbidden, body: "browser requests are refused (Origin or Sec-Fetch-* header present)\n")
        }
        if let host = request.headers.first(name: "Host"), !Self.isAcceptedHost(host) {
            return .init(status: .forbidden, body: "Host must be an IP address or localhost\n")
        }
        guard request.path == "/quitquitquit", request.method == .POST else { return nil }
        if let adminToken {
            guard Self.constantTimeEquals(request.headers.first(name: "Authorization"), "Bearer " + adminToken) else {
                return .init(status: .unauthorized, body: "POST /quitquitquit needs Authorization: Bearer <admin_token>\n")
            }
            return nil
        }
        guard request.peer.map(Self.isLoopback) ?? false else {
            return .init(status: .forbidden, body: "POST /quitquitquit is accepted from this host only, unless http.admin_token is set\n")
        }
        return nil
    }

    /// `127.0.0.1`, `[::1]:9090`, `10.0.3.7:9090`, `localhost:9090`: an IP literal or localhost, any port.
    static func isAcceptedHost(_ value: String) -> Bool {
        guard let host = HostAndPort(value.lowercased(), defaultPort: 80)?.host else { return false }
        // inet_pton takes only whole dotted quads and real IPv6 literals, so a name never passes.
        return host == "localhost" || (try? SocketAddress(ipAddress: host, port: 0)) != nil
    }

    static func isLoopback(_ address: SocketAddress) -> Bool {
        switch address {
        case .v4: address.ipAddress?.hasPrefix("127.") ?? false
        case .v6: address.ipAddress == "::1" || address.ipAddress?.hasPrefix("::ffff:127.") == true
        case .unixDomainSocket: true
        }
    }

    /// Compares without stopping at the first difference, so timing tells nothing of the token.
    static func constantTimeEquals(_ given: String?, _ expected: String) -> Bool {
        let given = Array((given ?? "").utf8), expected = Array(expected.utf8)
        var difference = given.count ^ expected.count
        for index in 0..<expected.count { difference |= Int(expected[index] ^ (index < given.count ? given[index] : 0)) }
        return difference == 0
    }
}
