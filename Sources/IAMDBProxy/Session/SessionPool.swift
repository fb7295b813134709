import Logging
import NIOCore
import NIOPosix
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
        case upstreamMoved = "upstream_moved", shutdown
    }

    private struct Slot: Sendable {
        var parked: Parked
        var timer: Scheduled<Void>?
    }

    private struct State: Sendable {
        var byKey: [String: [Slot]] = [:]
        var count = 0
        var closed = false
        /// Warm logins under way, and the recipe of every key seen (to replace a warm session that left).
        var warming: [LoopKey: Int] = [:]
        var recipes: [String: Recipe] = [:]
        /// A warm login that failed holds further ones for that key and loop back until then.
        var warmBackoff: [LoopKey: NIODeadline] = [:]

        /// Takes the first (or last) slot of `key` that `matches` out of the pool.
        mutating func remove(key: String, last: Bool = false, where matches: (Slot) -> Bool) -> Slot? {
            guard let slots = byKey[key], let index = last ? slots.lastIndex(where: matches) : slots.firstIndex(where: matches) else { return nil }
            count -= 1
            let slot = byKey[key]?.remove(at: index)
            if byKey[key]?.isEmpty == true { byKey[key] = nil }
            return slot
        }
    }

    /// A key on one event loop: warm sessions are kept per loop, since a session serves only clients on its own.
    private struct LoopKey: Hashable, Sendable {
        let key: String
        let loop: ObjectIdentifier
    }

    /// What an engine needs to log in a warm session for a key ahead of a client (the key itself, for PostgreSQL).
    struct Recipe: Sendable {
        let key: String
        let keyDescription: String
        let details: any Sendable
    }

    /// Logs in one warm session for `recipe` on the loop and reports with `warmLoginEnded`.
    typealias Warmer = @Sendable (Recipe, any EventLoop) -> Void
    private struct Warming: Sendable {
        var warmer: Warmer?
        var loopCount = 1
    }
    private let warming = Mutex(Warming())
    private let upstreamWatch = Mutex<RepeatedTask?>(nil)
    /// How often parked sessions are checked against the upstream's DNS answer.
    static let upstreamCheckInterval: TimeAmount = .seconds(10)
    static let warmFailureBackoff: TimeAmount = .seconds(5)

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

    var isOn: Bool { settings.isOn }
    /// Sessions whose client ended cleanly are reset and parked (`mode: reuse`); in `warm` each serves one client.
    var parksAfterUse: Bool { settings.mode == .reuse }
    var parkedCount: Int { state.withLock { $0.count } }
    /// Parked sessions that have served no client yet (logged in ahead of time).
    var warmCount: Int { state.withLock { $0.byKey.values.reduce(0) { $0 + $1.filter { $0.parked.uses == 0 }.count } } }
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
            let slot = state.withLock { $0.remove(key: key, last: true) { $0.parked.channel.eventLoop === eventLoop } }
            guard let slot else { return nil }
            slot.timer?.cancel()
            if now >= slot.parked.bornAt + Self.amount(settings.maxLifetimeSeconds) {
                close(slot.parked, reason: .maxLifetime, detail: nil)
                replace(slot.parked, after: .maxLifetime)
                continue
            }
            guard slot.parked.channel.isActive else {
                close(slot.parked, reason: .serverClosed, detail: nil)
                replace(slot.parked, after: .serverClosed)
                continue
            }
            return slot.parked
        }
    }

    /// A parked session is unusable (the server closed it or spoke while it waited, or it
    /// waited too long): out of the pool and closed. Nothing when it was taken already.
    func discard(id: Int, key: String, reason: Discard, detail: String?) {
        let slot = state.withLock { $0.remove(key: key) { $0.parked.id == id } }
        guard let slot else { return }
        slot.timer?.cancel()
        close(slot.parked, reason: reason, detail: detail)
        replace(slot.parked, after: reason)
    }

    // MARK: Warm sessions

    /// Set once before the listener accepts: how the engine logs in a warm session, and over how
    /// many event loops `min_idle` is spread (each loop keeps its share, rounded up).
    func configureWarming(loops: Int, warmer: @escaping Warmer) {
        warming.withLock { $0 = Warming(warmer: warmer, loopCount: max(1, loops)) }
    }

    /// A client of `recipe`'s key arrived on `eventLoop` (or a warm session left): starts warm
    /// logins until the loop's share of `min_idle` is parked or on its way.
    func replenish(_ recipe: Recipe, on eventLoop: any EventLoop) {
        let (warmer, loops) = warming.withLock { ($0.warmer, $0.loopCount) }
        guard settings.minIdle > 0, let warmer else { return }
        let share = (settings.minIdle + loops - 1) / loops
        let place = LoopKey(key: recipe.key, loop: ObjectIdentifier(eventLoop))
        let now = NIODeadline.now()
        let deficit = state.withLock { state -> Int in
            state.recipes[recipe.key] = recipe
            guard !state.closed, (state.warmBackoff[place] ?? now) <= now else { return 0 }
            let parkedHere = state.byKey[recipe.key]?.filter { $0.parked.channel.eventLoop === eventLoop }.count ?? 0
            let room = min(settings.maxTotal - state.count - state.warming.values.reduce(0, +), settings.maxIdle - (state.byKey[recipe.key]?.count ?? 0))
            let wanted = max(0, min(share - parkedHere - state.warming[place, default: 0], room))
            state.warming[place, default: 0] += wanted
            return wanted
        }
        for _ in 0..<deficit { warmer(recipe, eventLoop) }
    }

    /// A warm login ended: `failure` holds the next ones for this key and loop back a while (the
    /// session itself, on success, is parked by the engine's watcher).
    func warmLoginEnded(_ recipe: Recipe, on eventLoop: any EventLoop, failure: String?) {
        let place = LoopKey(key: recipe.key, loop: ObjectIdentifier(eventLoop))
        state.withLock { state in
            state.warming[place, default: 1] -= 1
            if state.warming[place] == 0 { state.warming[place] = nil }
            if failure != nil { state.warmBackoff[place] = .now() + Self.warmFailureBackoff }
        }
        if let failure {
            metrics.increment(ProxyMetrics.reuseWarmFailures, [("listener", listener)])
            logger.warning("could not log in a warm session", metadata: ["key": "\(recipe.keyDescription)", "reason": "\(failure)"])
        }
    }

    /// A parked session left the pool without serving: a warm listener logs in its replacement.
    private func replace(_ parked: Parked, after reason: Discard) {
        guard settings.minIdle > 0, reason != .shutdown, let recipe = state.withLock({ $0.recipes[parked.key] }) else { return }
        let loop = parked.channel.eventLoop
        loop.execute { [self] in replenish(recipe, on: loop) }
    }

    // MARK: The upstream's address

    /// Every `upstreamCheckInterval` while sessions are parked: the upstream host is looked up
    /// again (off the event loop) and parked sessions connected to an address it no longer
    /// gives are closed — after a failover or a blue/green switchover moves the name, the next
    /// client must not get the old server.
    func watchUpstream(host: String, port: Int, on eventLoop: any EventLoop, lookup: @escaping @Sendable (String, Int) -> [SocketAddress]) {
        let task = eventLoop.scheduleRepeatedAsyncTask(initialDelay: Self.upstreamCheckInterval, delay: Self.upstreamCheckInterval) { [self] task in
            guard parkedCount > 0 else { return eventLoop.makeSucceededVoidFuture() }
            return NIOThreadPool.singleton.runIfActive(eventLoop: eventLoop) { lookup(host, port) }.map { [self] addresses in
                dropParked(notAt: addresses, host: host)
            }.recover { _ in }
        }
        upstreamWatch.withLock { $0 = task }
    }

    /// Closes the parked sessions whose server address is not among `addresses` (nothing when
    /// the lookup found none: a resolver outage is not a move).
    func dropParked(notAt addresses: [SocketAddress], host: String) {
        guard !addresses.isEmpty else { return }
        let moved = state.withLock { state in
            state.byKey.values.flatMap { $0 }.filter { slot in
                guard let remote = slot.parked.channel.remoteAddress else { return false }
                return !addresses.contains { $0.ipAddress == remote.ipAddress && $0.port == remote.port }
            }
        }
        for slot in moved {
            discard(id: slot.parked.id, key: slot.parked.key, reason: .upstreamMoved,
                    detail: "\(host) no longer resolves to \(slot.parked.channel.remoteAddress?.ipAddress ?? "?")")
        }
    }

    /// Closes every parked session (the cluster's writer changed: they are on the old one).
    func dropAllParked(detail: String) {
        let parked = state.withLock { $0.byKey.values.flatMap { $0 } }
        for slot in parked {
            discard(id: slot.parked.id, key: slot.parked.key, reason: .upstreamMoved, detail: detail)
        }
    }

    /// Closes every parked session and parks no more (shutdown, or the listener was replaced).
    func closeAll() {
        upstreamWatch.withLock { $0?.cancel(); $0 = nil }
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
