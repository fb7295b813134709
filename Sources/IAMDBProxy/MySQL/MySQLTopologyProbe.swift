import Foundation
import Logging
import MySQLWire
import NIOCore

/// The MySQL side of the topology monitor: a side login with no client (`MySQLSideLogin`) and
/// `information_schema.replica_host_status` read on it whenever asked (`AuroraMySQLTopologyQuery`).
struct MySQLTopologyProbe: TopologyProbe {
    func open(host: HostAndPort, user: String, database: String, runtime: ListenerRuntime, on eventLoop: any EventLoop) -> EventLoopFuture<any TopologySession> {
        let promise = eventLoop.makePromise(of: (any TopologySession).self)
        eventLoop.execute {
            MySQLTopologyReader(host: host, user: user, runtime: runtime, eventLoop: eventLoop, opened: promise).start()
        }
        return promise.futureResult
    }
}

/// The monitoring session: one topology query at a time on a side login.
final class MySQLTopologyReader: TopologySession {
    let host: HostAndPort
    private let eventLoop: any EventLoop
    private var side: MySQLSideLogin?
    private var opened: EventLoopPromise<any TopologySession>?
    private var pending: (query: AuroraMySQLTopologyQuery, promise: EventLoopPromise<(inRecovery: Bool, topology: AuroraTopology)>)?
    private let closed: EventLoopPromise<Void>
    private var ended = false

    init(host: HostAndPort, user: String, runtime: ListenerRuntime, eventLoop: any EventLoop, opened: EventLoopPromise<any TopologySession>) {
        self.host = host
        self.eventLoop = eventLoop
        self.opened = opened
        closed = eventLoop.makePromise()
        let reader = NIOLoopBound(self, eventLoop: eventLoop)
        side = MySQLSideLogin(user: user, for: "the topology monitor", runtime: runtime, destination: .host(host), eventLoop: eventLoop, logger: runtime.logger) { event in
            reader.value.handle(event)
        }
    }

    /// Holds itself through the side login's callbacks until the session ends.
    func start() { side?.start() }

    var closeFuture: EventLoopFuture<Void> { closed.futureResult }

    func read() -> EventLoopFuture<(inRecovery: Bool, topology: AuroraTopology)> {
        let promise = eventLoop.makePromise(of: (inRecovery: Bool, topology: AuroraTopology).self)
        guard let side, side.isLoggedIn, pending == nil else {
            promise.fail(ChannelError.ioOnClosedChannel)
            return promise.futureResult
        }
        let query = AuroraMySQLTopologyQuery()
        pending = (query, promise)
        side.send(query.request)
        return promise.futureResult
    }

    func close() { end("closed by the monitor") }

    private func handle(_ event: MySQLSideLogin.Event) {
        switch event {
        case .loggedIn:
            let opened = self.opened
            self.opened = nil
            opened?.assumeIsolated().succeed(self)
        case .packet(let frame):
            guard var exchange = pending else { return }
            let outcome = exchange.query.packet(frame)
            pending = exchange
            switch outcome {
            case .pending:
                return
            case .read(let reading):
                pending = nil
                let rows = reading.rows.map { (serverID: $0.serverID, sessionID: $0.sessionID, lastUpdate: $0.lastUpdate) }
                exchange.promise.succeed((reading.readOnly, AuroraTopology(epochRows: rows, serverNow: reading.serverNow)))
            case .failed(let reason):
                pending = nil
                exchange.promise.fail(HeadlessLoginFailed(reason: reason))
            }
        case .refused(let error):
            end("the server refused the monitoring login: \(error)")
        case .failed(let reason):
            end(reason)
        }
    }

    private func end(_ reason: String) {
        guard !ended else { return }
        ended = true
        side?.close()
        side = nil
        opened?.fail(HeadlessLoginFailed(reason: reason))
        opened = nil
        pending?.promise.fail(HeadlessLoginFailed(reason: reason))
        pending = nil
        closed.succeed(())
    }
}
