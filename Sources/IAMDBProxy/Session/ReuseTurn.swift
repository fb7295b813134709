import NIOCore

/// One client's turn with an upstream session of a `session_reuse` listener, for either engine:
/// whether it was handed a parked session or logged in, how many clients the session has
/// served, and how the turn ends — the session reset and parked, or counted once with the reason
/// it was not. The engine supplies its key, its reset and its verdict at the client's end.
final class ReuseTurn {
    let pool: SessionPool
    let key: String
    let keyDescription: String
    private(set) var bornAt = NIODeadline.now()
    private(set) var uses = 1
    /// Where the session came from, for the hand-outs metric: login, warm or parked.
    private(set) var source = "login"
    private var relayed: RelayedSession?
    private var clientChannel: (any Channel)?
    private var settled = false

    init(pool: SessionPool, key: String, keyDescription: String) {
        self.pool = pool
        self.key = key
        self.keyDescription = keyDescription
    }

    /// A parked session for the key on `eventLoop`, its watcher (`Reset`'s handler) removed; the
    /// loop's warm sessions for the key are topped up either way (`min_idle`).
    func takeParked<Reset: SessionReset>(on eventLoop: any EventLoop, details: any Sendable, watcher: Reset.Type) -> SessionPool.Parked? {
        let parked = pool.take(key: key, on: eventLoop)
        pool.replenish(SessionPool.Recipe(key: key, keyDescription: keyDescription, details: details), on: eventLoop)
        guard let parked else { return nil }
        let pipeline = parked.channel.pipeline.syncOperations
        if let handler = try? pipeline.handler(type: ParkedSessionHandler<Reset>.self) { pipeline.removeHandler(handler).whenFailure { _ in } }
        bornAt = parked.bornAt
        uses = parked.uses + 1
        source = parked.uses == 0 ? "warm" : "parked"
        return parked
    }

    /// The session relays (`relayed`, on the client's channel): counted by where it came from.
    func relaying(_ relayed: RelayedSession?, client: any Channel, runtime: ListenerRuntime) {
        self.relayed = relayed
        clientChannel = client
        runtime.metrics.increment(ProxyMetrics.reuseHandouts, [("listener", runtime.configuration.name), ("source", source)])
    }

    /// The client ended cleanly at a point the engine vouches for: unless the session has served
    /// enough, takes it out of the relay, closes the client, and resets and parks it. True when
    /// it took the session (the client's goodbye is then not sent on). `release` runs before the
    /// client closes: the engine lets go of the upstream and what pointed at the client's turn.
    func park<Reset: SessionReset>(state: any Sendable, reset: Reset, farewell: ByteBuffer, runtime: ListenerRuntime, release: () -> Void) -> Bool {
        guard let relayed, let clientChannel, !settled else { return false }
        settled = true
        if let refusal = pool.refusal(uses: uses, bornAt: bornAt) {
            pool.counted(refusal, key: keyDescription, detail: nil)
            return false
        }
        let upstream = relayed.detachUpstream()
        pool.resetAndPark(upstream, key: key, keyDescription: keyDescription, state: state, bornAt: bornAt, uses: uses, farewell: farewell,
                          reset: reset, runtime: runtime)
        release()
        clientChannel.close(promise: nil)
        return true
    }

    /// A session that will not be parked is counted once: at the client's goodbye, with why the
    /// engine would not vouch for that end (`unsafeEnd`), or at its close without one (nil; nothing
    /// when the turn was already settled).
    func settle(unsafeEnd: String?) {
        guard !settled, relayed != nil else { return }
        settled = true
        if let unsafeEnd {
            pool.counted(.notIdle, key: keyDescription, detail: unsafeEnd)
        } else {
            pool.counted(.noTerminate, key: keyDescription, detail: "the session ended without the client's goodbye (Terminate, COM_QUIT)")
        }
    }
}
