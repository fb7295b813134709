import NIOCore

/// Which server a session dials. A seam because the answer is not always the configured
/// endpoint: the configured host (`StaticUpstreamResolver`), or the current writer (or a
/// reader) from an Aurora cluster's topology (`AuroraRouter`). TLS checks and tokens follow
/// the host chosen.
protocol UpstreamResolver: Sendable {
    /// The endpoint as configured, for messages before (or without) a resolution.
    var endpoint: HostAndPort { get }
    /// The host and port to dial for the next attempt.
    func target(on eventLoop: any EventLoop) -> EventLoopFuture<HostAndPort>
    /// A session's connect to `target` failed (a topology resolver may doubt its writer).
    func connectFailed(to target: HostAndPort)
    /// Client session `session` dials `target` (replacing its earlier choice, if any).
    func sessionChose(_ session: any Channel, _ target: HostAndPort)
    /// Client session `session` closed.
    func sessionEnded(_ session: any Channel)
    /// A failed connect is dialed again (up to `UpstreamLink.connectRetries` times) with a new
    /// answer: the resolver has others to give (another reader, a writer confirmed meanwhile).
    var retriesFailedConnects: Bool { get }
}

extension UpstreamResolver {
    func connectFailed(to target: HostAndPort) {}
    func sessionChose(_ session: any Channel, _ target: HostAndPort) {}
    func sessionEnded(_ session: any Channel) {}
    var retriesFailedConnects: Bool { false }
}

/// The configured host, always.
struct StaticUpstreamResolver: UpstreamResolver {
    let endpoint: HostAndPort

    func target(on eventLoop: any EventLoop) -> EventLoopFuture<HostAndPort> {
        eventLoop.makeSucceededFuture(endpoint)
    }
}
