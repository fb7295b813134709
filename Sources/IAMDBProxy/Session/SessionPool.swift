import Logging
import NIOCore
import Synchronization

/// The upstream sessions of one listener that outlived their clients (`session_reuse`), parked
/// by session key until a client with the same key comes. Engine-agnostic: an engine parks a
/// logged-in channel with what it needs to greet the next client (`state`) and takes it back by
/// key. A channel never changes event loops, so a session goes only to a client on its own loop.
/// Every session that leaves without serving again is counted and logged once with its reason.
final class SessionPool: Sendable {
    struct Parked: Sendable {
        let id: Int
        let key: String
        let keyDescription: String
        let channel: any Channel
        /// The engine's: how to greet the next client.
        let state: any Sendable
        let bornAt: NIODeadline
        /// Clients served so far.
        let uses: Int
        /// Sent before a parked session is closed (the engine's Terminate), so the server logs a clean end.
        let farewell: ByteBuffer
    }

    /// The reasons a session is not reused, as counted (label values of the discards metric).
    enum Discard: String, CaseIterable, Sendable {
        case notIdle = "not_idle", noTerminate = "no_terminate", resetFailed = "reset_failed", maxUses = "max_uses"
        case maxLifetime = "max_lifetime", idleTimeout = "idle_timeout", poolFull = "pool_full", serverClosed = "server_closed"
        case shutdown
    }

    private struct Slot: Sendable {
        var parked: Parked
        var timer: Scheduled<Void>?
    }

    private struct State: Sendable {
        var byKey: [String: [Slot]] = [:]
        var count = 0
        var closed = false
    }

    let settings: SessionReuseSettings
    private let listener: String
    private let metrics: ProxyMetrics
    private let logger: Logger
    private let state = Mutex(State())
    private let nextID = Atomic<Int>(1)

    init(settings: SessionReuseSettings, listener: String, metrics: ProxyMetrics, logger: Logger) {
        self.settings = settings
        self.listener = listener
        self.metrics = metrics
        self.logger = logger
    }

    var isOn: Bool { settings.mode == .reuse }
    var parkedCount: Int { state.withLock { $0.count } }
    func makeID() -> Int { nextID.wrappingAdd(1, ordering: .relaxed).oldValue }

    /// Why a session born at `bornAt` that has served `uses` clients may not serve another.
    func refusal(uses: Int, bornAt: NIODeadline) -> Discard? {
        if state.withLock({ $0.closed }) { return .shutdown }
        if uses >= settings.maxUses { return .maxUses }
        if NIODeadline.now() >= bornAt + Self.amount(settings.maxLifetimeSeconds) { return .maxLifetime }
        return nil
    }

    /// Parks a reset session; nil when parked, else why not (the session is then closed here).
    @discardableResult
    func park(_ parked: Parked) -> Discard? {
        if let refusal = refusal(uses: parked.uses, bornAt: parked.bornAt) {
            close(parked, reason: refusal, detail: nil)
            return refusal
        }
        let full = state.withLock { state -> Bool in
            guard state.count < settings.maxTotal, state.byKey[parked.key, default: []].count < settings.maxIdle else { return true }
            state.byKey[parked.key, default: []].append(Slot(parked: parked))
            state.count += 1
            return false
        }
        if full {
            close(parked, reason: .poolFull, detail: "max_idle \(settings.maxIdle) per key, max_total \(settings.maxTotal)")
            return .poolFull
        }
        let timer = parked.channel.eventLoop.scheduleTask(in: Self.amount(settings.idleTimeoutSeconds)) { [self] in
            discard(id: parked.id, key: parked.key, reason: .idleTimeout, detail: nil)
        }
        state.withLock { state in
            if let index = state.byKey[parked.key]?.firstIndex(where: { $0.parked.id == parked.id }) {
                state.byKey[parked.key]?[index].timer = timer
            } else {
                timer.cancel()
            }
        }
        logger.debug("upstream session parked", metadata: ["key": "\(parked.keyDescription)", "uses": "\(parked.uses)"])
        return nil
    }

    /// A parked session for `key` on `eventLoop`, out of the pool; expired (at `now`) or closed
    /// ones met on the way are closed and counted.
    func take(key: String, on eventLoop: any EventLoop, now: NIODeadline = .now()) -> Parked? {
        while true {
            let slot = state.withLock { state -> Slot? in
                guard let index = state.byKey[key]?.lastIndex(where: { $0.parked.channel.eventLoop === eventLoop }) else { return nil }
                state.count -= 1
                let slot = state.byKey[key]?.remove(at: index)
                if state.byKey[key]?.isEmpty == true { state.byKey[key] = nil }
                return slot
            }
            guard let slot else { return nil }
            slot.timer?.cancel()
            if now >= slot.parked.bornAt + Self.amount(settings.maxLifetimeSeconds) {
                close(slot.parked, reason: .maxLifetime, detail: nil)
                continue
            }
            guard slot.parked.channel.isActive else {
                close(slot.parked, reason: .serverClosed, detail: nil)
                continue
            }
            return slot.parked
        }
    }

    /// A parked session is unusable (the server closed it or spoke while it waited, or it
    /// waited too long): out of the pool and closed. Nothing when it was taken already.
    func discard(id: Int, key: String, reason: Discard, detail: String?) {
        let slot = state.withLock { state -> Slot? in
            guard let index = state.byKey[key]?.firstIndex(where: { $0.parked.id == id }) else { return nil }
            state.count -= 1
            let slot = state.byKey[key]?.remove(at: index)
            if state.byKey[key]?.isEmpty == true { state.byKey[key] = nil }
            return slot
        }
        guard let slot else { return }
        slot.timer?.cancel()
        close(slot.parked, reason: reason, detail: detail)
    }

    /// Closes every parked session and parks no more (shutdown, or the listener was replaced).
    func closeAll() {
        let slots = state.withLock { state -> [Slot] in
            state.closed = true
            defer { state.byKey = [:]; state.count = 0 }
            return state.byKey.values.flatMap { $0 }
        }
        for slot in slots {
            slot.timer?.cancel()
            close(slot.parked, reason: .shutdown, detail: nil)
        }
    }

    /// Counts and logs a session that will not serve again (the caller closes it when it is not parked).
    func counted(_ reason: Discard, key: String, detail: String?) {
        metrics.increment(ProxyMetrics.reuseDiscards, [("listener", listener), ("reason", reason.rawValue)])
        var metadata: Logger.Metadata = ["reason": "\(reason.rawValue)", "key": "\(key)"]
        if let detail { metadata["detail"] = "\(detail)" }
        logger.info("upstream session not reused", metadata: metadata)
    }

    private func close(_ parked: Parked, reason: Discard, detail: String?) {
        counted(reason, key: parked.keyDescription, detail: detail)
        let channel = parked.channel
        channel.writeAndFlush(parked.farewell).whenComplete { _ in channel.close(promise: nil) }
    }

    static func amount(_ seconds: Double) -> TimeAmount { .milliseconds(Int64(seconds * 1000)) }
}
