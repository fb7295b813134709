import NIOCore
import NIOHTTP1
import Testing

@testable import IAMDBProxy

/// Regression for the admin server taking shutdown requests from anyone: a cross-origin form
/// POST, a DNS-rebinding page or any peer when bound to a pod address.
@Suite struct AdminRequestGuardTests {
    static let loopback = try! SocketAddress(ipAddress: "127.0.0.1", port: 40_000)
    static let podPeer = try! SocketAddress(ipAddress: "10.1.2.3", port: 40_000)

    func request(_ path: String, _ headers: [(String, String)] = [], peer: SocketAddress = loopback) -> AdminRequestGuard.Request {
        .init(method: .GET, path: path, headers: HTTPHeaders(headers), peer: peer)
    }

    func post(_ path: String, _ headers: [(String, String)] = [], peer: SocketAddress = loopback) -> AdminRequestGuard.Request {
        .init(method: .POST, path: path, headers: HTTPHeaders(headers), peer: peer)
    }

    @Test func probesAndScrapersAreServedFromAnywhere() {
        let open = AdminRequestGuard(adminToken: nil)
        for host in ["10.0.3.7:9090", "127.0.0.1", "[::1]:9090", "localhost:9090", "LOCALHOST"] {
            #expect(open.refusal(for: request("/readiness", [("Host", host)], peer: Self.podPeer)) == nil, "Host \(host)")
        }
        #expect(open.refusal(for: request("/metrics", [], peer: Self.podPeer)) == nil, "HTTP/1.0 without Host")
    }

    @Test func browsersAndRebindingHostsAreRefused() {
        let open = AdminRequestGuard(adminToken: nil)
        #expect(open.refusal(for: post("/quitquitquit", [("Host", "127.0.0.1:9090"), ("Origin", "https://evil.example")]))?.status == .forbidden)
        #expect(open.refusal(for: request("/metrics", [("Host", "127.0.0.1:9090"), ("Sec-Fetch-Mode", "no-cors")]))?.status == .forbidden)
        for host in ["evil.example:9090", "127.0.0.1.nip.io", "localhost.evil.example", "1.2.3:9090", "[::1", "127.0.0.1:90x"] {
            #expect(open.refusal(for: request("/readiness", [("Host", host)]))?.status == .forbidden, "Host \(host)")
        }
    }

    @Test func quitquitquitNeedsALoopbackPeerOrTheToken() {
        let open = AdminRequestGuard(adminToken: nil)
        #expect(open.refusal(for: post("/quitquitquit", [("Host", "127.0.0.1:9090")])) == nil)
        #expect(open.refusal(for: post("/quitquitquit", [("Host", "10.1.2.9:9090")], peer: Self.podPeer))?.status == .forbidden)

        let token = "0123456789abcdef0123"
        let guarded = AdminRequestGuard(adminToken: token)
        #expect(guarded.refusal(for: post("/quitquitquit", [("Host", "127.0.0.1:9090")]))?.status == .unauthorized)
        #expect(guarded.refusal(for: post("/quitquitquit", [("Authorization", "Bearer wrong")], peer: Self.podPeer))?.status == .unauthorized)
        #expect(guarded.refusal(for: post("/quitquitquit", [("Authorization", "Bearer \(token)")], peer: Self.podPeer)) == nil)
    }

    @Test func tokenComparisonIsExact() {
        #expect(AdminRequestGuard.constantTimeEquals("Bearer abc", "Bearer abc"))
        #expect(!AdminRequestGuard.constantTimeEquals("Bearer ab", "Bearer abc"))
        #expect(!AdminRequestGuard.constantTimeEquals("Bearer abcd", "Bearer abc"))
        #expect(!AdminRequestGuard.constantTimeEquals(nil, "Bearer abc"))
    }
}
