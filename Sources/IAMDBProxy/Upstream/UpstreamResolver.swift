import NIOCore

/// Which server a session dials. A seam because the answer is not always the configured
/// endpoint: a static host today; the current writer from an Aurora cluster's topology next.
protocol UpstreamResolver: Sendable {
    /// The endpoint as configured, for messages before (or without) a resolution.
    var endpoint: HostAndPort { get }
    /// The host and port to dial for the next attempt.
    func target(on eventLoop: any EventLoop) -> EventLoopFuture<HostAndPort>
}

/// The configured host, always.
struct StaticUpstreamResolver: UpstreamResolver {
    let endpoint: HostAndPort

    func target(on eventLoop: any EventLoop) -> EventLoopFuture<HostAndPort> {
        eventLoop.makeSucceededFuture(endpoint)
    }
}
