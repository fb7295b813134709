import NIOCore

/// What an `UpstreamLink` needs to reach one listener's server: where (a resolver), how long
/// to wait, which TLS, and whom to tell about a failure. A value, so the upstream side knows
/// nothing of listeners, servers or metrics.
struct UpstreamDial: Sendable {
    let resolver: any UpstreamResolver
    let connectTimeout: TimeAmount
    let tls: UpstreamTLSContext
    /// The listener's TLS settings, for failure hints (which key to set).
    let tlsSettings: ListenerConfiguration.UpstreamTLS
    let writeBufferWaterMark: ChannelOptions.Types.WriteBufferWaterMark
    /// Called with the metrics reason for each problem reaching the server during login:
    /// connect, tls, timeout or closed.
    let reportFailure: @Sendable (_ reason: String) -> Void
    /// The `resolve:` map: hosts dialed at a fixed address.
    var hostOverrides = HostOverrides()
}
