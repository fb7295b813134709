/// `session_reuse` of a listener: whether logged-in upstream sessions outlive their client and
/// serve the next one with the same session key, and the bounds on them. Off by default: then
/// every client gets a login of its own, exactly as without the key.
public struct SessionReuseSettings: Sendable, Equatable {
    public enum Mode: String, Sendable, Equatable, CaseIterable {
        /// Every client logs in afresh (the default).
        case off
        /// Sessions are logged in ahead of time (`min_idle` per key seen), each serves one client.
        case warm
        /// A client that ends cleanly leaves its session reset (`DISCARD ALL`) and parked for the next.
        case reuse
    }

    public var mode = Mode.off
    /// Sessions kept logged in ahead of time per key seen (both modes; warm needs at least 1),
    /// spread over the event loops.
    public var minIdle = 0
    /// Parked sessions per key at most.
    public var maxIdle = 32
    /// Parked sessions of the listener at most, over all keys.
    public var maxTotal = 100
    /// Seconds an upstream session may live, parked or not (checked when it is parked and handed out).
    public var maxLifetimeSeconds: Double = 3600
    /// Clients one upstream session may serve.
    public var maxUses = 1000
    /// Seconds a parked session may wait for a client.
    public var idleTimeoutSeconds: Double = 300
    /// `/readiness` is false until this many warm sessions exist.
    public var readyMinIdle = 0

    public init() {}

    public var isOn: Bool { mode != .off }

    /// For `check`: the mode and every bound, as they will apply.
    public var summary: String {
        "session_reuse \(mode.rawValue) (min_idle \(minIdle), max_idle \(maxIdle), max_total \(maxTotal), max_uses \(maxUses), "
            + "max_lifetime \(Int(maxLifetimeSeconds)) s, idle_timeout \(Int(idleTimeoutSeconds)) s, ready_min_idle \(readyMinIdle))"
    }
}
