import Foundation
import Logging
import NIOCore

/// One logged-in session that reads an Aurora cluster's topology, for `TopologyMonitor`; the
/// engine makes it (`TopologyProbe`).
protocol TopologySession: AnyObject {
    /// The host this session is logged in to.
    var host: HostAndPort { get }
    /// One reading: whether the answering server is a standby, and the cluster's rows.
    func read() -> EventLoopFuture<(inRecovery: Bool, topology: AuroraTopology)>
    var closeFuture: EventLoopFuture<Void> { get }
    func close()
}

/// Why a login with no client (warm, monitoring) or its topology read did not finish, in words for a log line.
struct HeadlessLoginFailed: Error, CustomStringConvertible {
    let reason: String
    var description: String { reason }
}

/// How an engine logs in a monitoring session to one host (no client behind it).
protocol TopologyProbe: Sendable {
    func open(host: HostAndPort, user: String, database: String, runtime: ListenerRuntime, on eventLoop: any EventLoop) -> EventLoopFuture<any TopologySession>
}

/// Keeps one monitoring session per listener that follows an Aurora topology and tells the
/// `AuroraRouter` which instance is the writer, as the AWS wrappers' failover plugins do: a
/// reading every `topology_refresh` seconds while steady; when in doubt (the monitoring session
/// dropped or failed, a session could not reach the writer, a reading names another writer) a
/// reading every `fastPollInterval` from whichever instance answers, until the instance a
/// reading names as the writer is reached, answers as writable and names itself. A writer change
/// ends the client sessions not on the new writer (57P01 / 1053 at the next message boundary)
/// and drops parked ones. Lives on one event loop.
final class TopologyMonitor: Sendable {
    static let fastPollInterval: TimeAmount = .milliseconds(200)

    private let router: AuroraRouter
    private let probe: any TopologyProbe
    private let eventLoop: any EventLoop
    private let state: NIOLoopBoundBox<State>
    private let runtimeReference: NIOLoopBoundBox<ListenerRuntime?>

    private struct State {
        var login: (user: String, database: String)?
        var session: (any TopologySession)?
        var timer: Scheduled<Void>?
        var busy = false
        var stopped = false
        /// The listener's runtime was replaced: stop once it has no session left.
        var retiring = false
        /// When doubt began, for the detection time of a failover.
        var doubtSince: NIODeadline?
        var candidateIndex = 0
        /// The session was moved to a named writer and nothing was confirmed since.
        var movedSinceConfirm = false
        var lastProblem: String?
        var lastTopology: AuroraTopology?
    }

    init(router: AuroraRouter, probe: any TopologyProbe, runtime: ListenerRuntime, on eventLoop: any EventLoop) {
        self.router = router
        self.probe = probe
        self.eventLoop = eventLoop
        state = NIOLoopBoundBox.makeBoxSendingValue(State(), eventLoop: eventLoop)
        runtimeReference = NIOLoopBoundBox.makeBoxSendingValue(runtime, eventLoop: eventLoop)
        router.setDoubtListener { [self] in eventLoop.execute { self.becameDoubtful("a session could not connect to the writer") } }
    }

    private var runtime: ListenerRuntime? { runtimeReference.value }
    private var logger: Logger { runtime?.logger ?? Logger(label: "iam-db-proxy") }

    /// Starts monitoring as `user` (the configured monitor_user, or the first user that logged
    /// in); later calls change nothing.
    func start(user: String, database: String) {
        eventLoop.execute { [self] in
            guard state.value.login == nil, !state.value.stopped else { return }
            state.value.login = (user, database)
            logger.info("topology monitor starting", metadata: ["monitor_user": "\(user)", "db": "\(database)", "instances": "\(router.pattern)"])
            tick()
        }
    }

    /// Keeps monitoring while the runtime's sessions last (a failover must still end them), then stops.
    func retire() {
        eventLoop.execute { [self] in
            state.value.retiring = true
            if state.value.login == nil || (runtime?.openSessionCount ?? 0) == 0 { stop() }
        }
    }

    func stop() {
        eventLoop.execute { [self] in
            state.value.stopped = true
            state.value.timer?.cancel()
            state.value.session?.close()
            state.value.session = nil
            runtimeReference.value = nil
        }
    }

    private func schedule(in delay: TimeAmount) {
        state.value.timer?.cancel()
        state.value.timer = eventLoop.scheduleTask(in: delay) { [self] in tick() }
    }

    /// After a failure: fast while a known writer is in doubt, else every few seconds (at most
    /// `topology_refresh`), so a cluster that never answers is not asked five times a second.
    private var retryDelay: TimeAmount {
        state.value.doubtSince != nil ? Self.fastPollInterval : min(refreshInterval, Self.firstReadingRetry)
    }

    static let firstReadingRetry: TimeAmount = .seconds(5)

    private var refreshInterval: TimeAmount {
        .milliseconds(Int64((runtime?.configuration.topology.refreshSeconds ?? 30) * 1000))
    }

    /// One step: a reading on the session held, else a login to the next candidate host.
    private func tick() {
        guard !state.value.stopped, !state.value.busy, let login = state.value.login, let runtime else { return }
        if state.value.retiring, runtime.openSessionCount == 0 { return stop() }
        state.value.busy = true
        if let session = state.value.session {
            let held = NIOLoopBound(session, eventLoop: eventLoop)
            session.read().whenComplete { [self] result in
                state.value.busy = false
                switch result {
                case .success(let reading): handle(reading, from: held.value)
                case .failure(let error): sessionFailed(held.value, "the topology read on \(held.value.host) failed: \(error)")
                }
            }
            return
        }
        let host = nextCandidate()
        probe.open(host: host, user: login.user, database: login.database, runtime: runtime, on: eventLoop).whenComplete { [self] result in
            state.value.busy = false
            switch result {
            case .success(let session):
                guard !state.value.stopped else { return session.close() }
                state.value.session = session
                let held = NIOLoopBound(session, eventLoop: eventLoop)
                session.closeFuture.whenComplete { [self] _ in
                    guard state.value.session === held.value else { return }
                    sessionFailed(held.value, "the monitoring session on \(held.value.host) closed")
                }
                tick()
            case .failure(let error):
                noteProblem("cannot log in the monitoring session to \(host): \(error)")
                schedule(in: retryDelay)
            }
        }
    }

    /// Where to log in next: the writer believed, then each reader, then the cluster endpoint, in turn.
    private func nextCandidate() -> HostAndPort {
        var candidates: [HostAndPort] = []
        if let writer = state.value.lastTopology?.writer ?? router.writer { candidates.append(router.host(of: writer)) }
        for reader in state.value.lastTopology?.readers ?? router.readers where !candidates.contains(router.host(of: reader)) {
            candidates.append(router.host(of: reader))
        }
        candidates.append(router.endpoint)
        defer { state.value.candidateIndex += 1 }
        return candidates[state.value.candidateIndex % candidates.count]
    }

    private func handle(_ reading: (inRecovery: Bool, topology: AuroraTopology), from session: any TopologySession) {
        let topology = reading.topology
        state.value.lastTopology = topology
        guard let writer = topology.writer else {
            return sessionFailed(session, "the topology read on \(session.host) names no writer")
        }
        guard session.host == router.host(of: writer), !reading.inRecovery else {
            // Not on the writer the cluster names: go there, and confirm it from there.
            if router.writer != nil, router.writer != writer { becameDoubtful("the topology names \(writer) as the writer") }
            state.value.candidateIndex = 0
            let onNamedWriter = session.host == router.host(of: writer)
            session.close()
            state.value.session = nil
            // At once to the named writer, once; on the named writer still a standby (a promotion
            // under way), or sent back and forth by instances that disagree: again after a pause.
            guard onNamedWriter || state.value.movedSinceConfirm else {
                state.value.movedSinceConfirm = true
                return tick()
            }
            return schedule(in: retryDelay)
        }
        confirm(writer: writer, readers: topology.readers)
        schedule(in: refreshInterval)
    }

    private func confirm(writer: String, readers: [String]) {
        let wasKnown = router.writer
        let readersBefore = router.readers
        let change = router.confirm(writer: writer, readers: readers)
        state.value.movedSinceConfirm = false
        let since = state.value.doubtSince
        state.value.doubtSince = nil
        state.value.candidateIndex = 0
        guard let runtime else { return }
        let listener = runtime.configuration.name
        if let change {
            let detection = since.map { Double((NIODeadline.now() - $0).nanoseconds) / 1e9 }
            runtime.metrics.increment(ProxyMetrics.topologyChanges, [("listener", listener), ("kind", "writer")])
            if let detection { runtime.metrics.observe(ProxyMetrics.failoverDetection, [("listener", listener)], seconds: detection) }
            runtime.metrics.increment(ProxyMetrics.failoverSessionsClosed, [("listener", listener)], by: Double(change.sessions.count))
            logger.warning("writer changed: failover", metadata: [
                "previous_writer": "\(change.previous)", "writer": "\(writer)", "readers": "\(readers.joined(separator: ","))",
                "detection_ms": "\(detection.map { "\(Int($0 * 1000))" } ?? "?")", "sessions_ended": "\(change.sessions.count)",
            ])
            let reason = SessionEndReason.failover(instance: change.previous, writer: writer)
            for channel in change.sessions { SessionEndRequest.send(to: channel, reason: reason) }
            runtime.sessionPool.dropAllParked(detail: "\(change.previous) is no longer the writer (\(writer) is)")
        } else if wasKnown == nil {
            logger.info("topology read", metadata: ["writer": "\(writer)", "readers": "\(readers.joined(separator: ","))"])
        } else if readersBefore != readers {
            runtime.metrics.increment(ProxyMetrics.topologyChanges, [("listener", listener), ("kind", "readers")])
            logger.info("topology changed", metadata: ["writer": "\(writer)", "readers": "\(readers.joined(separator: ","))"])
        } else if since != nil {
            logger.info("writer confirmed again", metadata: ["writer": "\(writer)"])
        }
    }

    private func sessionFailed(_ session: any TopologySession, _ problem: String) {
        if state.value.session === session { state.value.session = nil }
        session.close()
        becameDoubtful(problem)
    }

    /// Doubt: fast polling, and new writer sessions wait for a confirmed writer.
    private func becameDoubtful(_ problem: String) {
        guard !state.value.stopped else { return }
        noteProblem(problem)
        guard router.writer != nil else {
            // No writer was ever confirmed (not an Aurora cluster? no such function?): sessions
            // dial the cluster endpoint meanwhile, and the monitor tries again at a modest pace.
            return schedule(in: retryDelay)
        }
        if state.value.doubtSince == nil {
            state.value.doubtSince = .now()
            router.doubt(problem)
            logger.warning("writer in doubt; reading the topology every \(Self.fastPollInterval.nanoseconds / 1_000_000) ms", metadata: ["reason": "\(problem)"])
        }
        schedule(in: state.value.session == nil ? .zero : Self.fastPollInterval)
    }

    /// The server has no Aurora topology to read: PostgreSQL's `aurora_replica_status()` or
    /// MySQL's `information_schema.replica_host_status` (upper case in MySQL's own errors) is unknown to it.
    static func topologySourceMissing(_ problem: String) -> Bool {
        let text = problem.lowercased()
        return text.contains("aurora_replica_status") || text.contains("replica_host_status")
    }

    private func noteProblem(_ problem: String) {
        if state.value.lastProblem != problem {
            var metadata: Logger.Metadata = [:]
            if router.writer == nil, Self.topologySourceMissing(problem) {
                metadata["hint"] = "Is the upstream an Aurora cluster? Until a topology is read, sessions go to \(router.endpoint.host) as configured; set topology: none if it is not Aurora."
            }
            logger.warning("topology monitor: \(problem)", metadata: metadata)
        }
        state.value.lastProblem = problem
    }
}
