import AWSAuth
import Foundation
import NIOCore
import Synchronization

/// Where the sessions of a listener that follows an Aurora topology go: the writer's (or a
/// reader's) instance endpoint as the topology monitor last confirmed it, not the cluster
/// endpoint, whose DNS lags a failover. While the writer is in doubt (a failed connect or
/// monitoring session, a topology that names another writer), new writer sessions wait for
/// the monitor to confirm one, up to `connect_timeout`. Before the first reading, and for a
/// cluster that never gave one, the cluster endpoint is dialed as configured. Also keeps which
/// client session is on which host: readers are picked by fewest sessions, and when the writer
/// changes the sessions not on it are the ones to end.
final class AuroraRouter: UpstreamResolver {
    enum Role: Sendable { case writer, reader(fallbackToWriter: Bool) }

    let endpoint: HostAndPort
    let pattern: String
    let role: Role
    private let waitLimit: TimeAmount
    /// How long a reader that failed a connect is skipped.
    static let failedReaderPause: TimeAmount = .seconds(5)

    private struct Waiter {
        let promise: EventLoopPromise<HostAndPort>
        let timer: Scheduled<Void>
    }

    private struct State {
        var writer: String?
        var readers: [String] = []
        var inDoubt = false
        var doubtReason: String?
        var waiters: [UUID: Waiter] = [:]
        var hostOfSession: [ObjectIdentifier: (channel: any Channel, host: String)] = [:]
        var sessionsOnHost: [String: Int] = [:]
        var readerPausedUntil: [String: NIODeadline] = [:]
        var onDoubt: (@Sendable () -> Void)?

        /// Takes `session` off the host it had chosen, if any.
        mutating func forget(_ session: any Channel) {
            guard let previous = hostOfSession.removeValue(forKey: ObjectIdentifier(session)) else { return }
            sessionsOnHost[previous.host, default: 1] -= 1
            if sessionsOnHost[previous.host] == 0 { sessionsOnHost.removeValue(forKey: previous.host) }
        }
    }

    private let state = Mutex(State())

    init(endpoint: HostAndPort, pattern: String, role: Role, waitLimit: TimeAmount) {
        self.endpoint = endpoint
        self.pattern = pattern
        self.role = role
        self.waitLimit = waitLimit
    }

    /// The endpoint of instance `id`.
    func host(of id: String) -> HostAndPort { HostAndPort(host: AuroraInstanceHosts.host(instance: id, pattern: pattern), port: endpoint.port) }

    /// The writer's instance id, once confirmed.
    var writer: String? { state.withLock { $0.writer } }
    var readers: [String] { state.withLock { $0.readers } }
    var isInDoubt: Bool { state.withLock { $0.inDoubt } }

    /// The monitor asks to hear of every doubt (a session's failed connect to the writer).
    func setDoubtListener(_ listener: @escaping @Sendable () -> Void) { state.withLock { $0.onDoubt = listener } }

    // MARK: UpstreamResolver

    func target(on eventLoop: any EventLoop) -> EventLoopFuture<HostAndPort> {
        let now = NIODeadline.now()
        let pick = state.withLock { state -> Result<HostAndPort, any Error>? in
            switch role {
            case .writer:
                guard let writer = state.writer else { return .success(endpoint) }
                return state.inDoubt ? nil : .success(host(of: writer))
            case .reader(let fallbackToWriter):
                guard let writer = state.writer else { return .success(endpoint) }
                let up = state.readers.filter { (state.readerPausedUntil[$0] ?? now) <= now }
                if let reader = up.min(by: { state.sessionsOnHost[host(of: $0).host, default: 0] < state.sessionsOnHost[host(of: $1).host, default: 0] }) {
                    return .success(host(of: reader))
                }
                if fallbackToWriter { return state.inDoubt ? nil : .success(host(of: writer)) }
                return .failure(NoInstance(description: "no reader instance of \(endpoint.host) is up (\(state.readers.isEmpty ? "the topology lists none" : "each failed a connect just now")), and reader_fallback is fail"))
            }
        }
        if let pick { return eventLoop.makeCompletedFuture(pick) }
        return wait(on: eventLoop)
    }

    private func wait(on eventLoop: any EventLoop) -> EventLoopFuture<HostAndPort> {
        let id = UUID()
        let promise = eventLoop.makePromise(of: HostAndPort.self)
        let limit = waitLimit
        let timer = eventLoop.scheduleTask(in: limit) { [self] in
            guard let waiter = state.withLock({ $0.waiters.removeValue(forKey: id) }) else { return }
            let reason = state.withLock { $0.doubtReason } ?? "?"
            waiter.promise.fail(NoInstance(description: "no writer of \(endpoint.host) was confirmed within connect_timeout (\(Double(limit.nanoseconds) / 1e9) s) after: \(reason)"))
        }
        let answer = state.withLock { state -> HostAndPort? in
            guard state.inDoubt, state.writer != nil else { return state.writer.map(host(of:)) ?? endpoint }
            state.waiters[id] = Waiter(promise: promise, timer: timer)
            return nil
        }
        if let answer {
            timer.cancel()
            promise.succeed(answer)
        }
        return promise.futureResult
    }

    var retriesFailedConnects: Bool { true }

    func connectFailed(to target: HostAndPort) {
        let listener = state.withLock { state -> (@Sendable () -> Void)? in
            guard let writer = state.writer else { return nil }
            if target == host(of: writer) {
                if !state.inDoubt {
                    state.inDoubt = true
                    state.doubtReason = "a session could not connect to the writer \(writer)"
                }
                return state.onDoubt
            }
            if let reader = state.readers.first(where: { host(of: $0) == target }) {
                state.readerPausedUntil[reader] = .now() + Self.failedReaderPause
            }
            return nil
        }
        listener?()
    }

    func sessionChose(_ session: any Channel, _ target: HostAndPort) {
        state.withLock { state in
            state.forget(session)
            state.hostOfSession[ObjectIdentifier(session)] = (session, target.host)
            state.sessionsOnHost[target.host, default: 0] += 1
        }
    }

    func sessionEnded(_ session: any Channel) {
        state.withLock { $0.forget(session) }
    }

    // MARK: From the topology monitor

    /// The writer is in doubt: new writer sessions wait for `confirm`.
    func doubt(_ reason: String) {
        state.withLock { state in
            guard state.writer != nil else { return }
            state.inDoubt = true
            state.doubtReason = reason
        }
    }

    /// A reading confirmed `writer` (the monitor is logged in to it and it is not a standby)
    /// with `readers`. Waiting sessions go on; when the writer changed, returns the previous one
    /// and the client sessions not on the new writer's host (to be ended).
    func confirm(writer: String, readers: [String]) -> (previous: String, sessions: [any Channel])? {
        let writerHost = host(of: writer).host
        let (waiters, change) = state.withLock { state -> ([Waiter], (String, [any Channel])?) in
            let previous = state.writer
            state.writer = writer
            state.readers = readers
            state.inDoubt = false
            state.doubtReason = nil
            defer { state.waiters = [:] }
            var change: (String, [any Channel])?
            if let previous, previous != writer {
                change = (previous, state.hostOfSession.values.filter { $0.host != writerHost }.map(\.channel))
            }
            return (Array(state.waiters.values), change)
        }
        let target = host(of: writer)
        for waiter in waiters {
            waiter.timer.cancel()
            waiter.promise.succeed(target)
        }
        return change
    }

    /// Client sessions per host, for the admin status and tests.
    var sessionsPerHost: [String: Int] { state.withLock { $0.sessionsOnHost } }

    struct NoInstance: Error, CustomStringConvertible {
        let description: String
    }
}
