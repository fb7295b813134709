import NIOCore

/// Which server a session dials. A seam because the answer is not always the configured
/// endpoint: a static host today; the current writer from an Aurora cluster's topology next.
/// (A resolver that dials instance endpoints will also need the TLS name check per target:
/// `UpstreamTLSContext` is built once per listener from the configured host.)
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
