import Foundation
import NIOCore
import NIOEmbedded
import Testing

@testable import IAMDBProxy

/// The monitor's decisions on an EmbeddedEventLoop, with a scripted probe standing for the
/// cluster: it moves its session to the writer the topology names and confirms it only from
/// there, doubts and re-confirms at a switchover (ending the sessions on the old writer), and
/// does not poll fast for a cluster that never gave a topology.
@Suite struct TopologyMonitorTests {
    static let endpoint = HostAndPort(host: "app.cluster-abc.us-east-1.rds.amazonaws.com", port: 5432)

    /// A cluster of instances `a` and `b`: every session reads the same topology, and reports
    /// itself writable only on the writer's host.
    final class ScriptedCluster: TopologyProbe, @unchecked Sendable {
        let router: AuroraRouter
        var writer = "a"
        var reachable = true
        var opened: [String] = []
        var sessions: [Session] = []
        /// The writer answers as writable (false: the topology names it, its promotion is not done).
        var promoted = true
        /// Each instance names the other as the writer (a split brain).
        var disagreeing = false

        /// The writer's server dies: its sessions close, nothing answers until `reachable` again.
        func crash() {
            reachable = false
            sessions.forEach { $0.close() }
        }

        init(router: AuroraRouter) { self.router = router }

        func open(host: HostAndPort, user: String, database: String, runtime: ListenerRuntime, on eventLoop: any EventLoop) -> EventLoopFuture<any TopologySession> {
            opened.append(host.host)
            let promise = eventLoop.makePromise(of: (any TopologySession).self)
            guard reachable else {
                promise.fail(HeadlessLoginFailed(reason: "connection refused"))
                return promise.futureResult
            }
            let session = Session(host: host, cluster: self, eventLoop: eventLoop)
            sessions.append(session)
            promise.assumeIsolated().succeed(session)
            return promise.futureResult
        }

        final class Session: TopologySession {
            let host: HostAndPort
            let cluster: ScriptedCluster
            let closed: EventLoopPromise<Void>

            init(host: HostAndPort, cluster: ScriptedCluster, eventLoop: any EventLoop) {
                self.host = host
                self.cluster = cluster
                closed = eventLoop.makePromise()
            }

            var closeFuture: EventLoopFuture<Void> { closed.futureResult }
            var isClosed = false
            func close() {
                guard !isClosed else { return }
                isClosed = true
                closed.succeed(())
            }

            func read() -> EventLoopFuture<(inRecovery: Bool, topology: AuroraTopology)> {
                let now = Date()
                let named = cluster.disagreeing ? (host == cluster.router.host(of: "a") ? "b" : "a") : cluster.writer
                let rows = ["a", "b"].map { AuroraTopology.Row(serverID: $0, sessionID: $0 == named ? AuroraTopology.writerSessionID : "r", lastUpdate: now) }
                let onWriter = host == cluster.router.host(of: cluster.writer) && cluster.promoted
                return closed.futureResult.eventLoop.makeSucceededFuture((!onWriter, AuroraTopology(rows: rows, now: now)))
            }
        }
    }

    /// Records the session-end requests a client channel gets.
    final class EndRequests: ChannelInboundHandler {
        typealias InboundIn = ByteBuffer
        var reasons: [SessionEndReason] = []
        func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
            if let request = event as? SessionEndRequest { reasons.append(request.reason) }
        }
    }

    func setUp() throws -> (EmbeddedEventLoop, AuroraRouter, ScriptedCluster, TopologyMonitor) {
        let loop = EmbeddedEventLoop()
        let router = AuroraRouter(endpoint: Self.endpoint, pattern: "?.abc.us-east-1.rds.amazonaws.com", role: .writer, waitLimit: .seconds(5))
        let cluster = ScriptedCluster(router: router)
        let runtime = try TestRuntime.make(engine: .postgres, resolver: router)
        let monitor = TopologyMonitor(router: router, probe: cluster, runtime: runtime, on: loop)
        return (loop, router, cluster, monitor)
    }

    @Test func theWriterIsConfirmedFromItsOwnInstanceNotFromTheClusterEndpoint() throws {
        let (loop, router, cluster, monitor) = try setUp()
        monitor.start(user: "monitor", database: "postgres")
        loop.run()
        #expect(cluster.opened == [Self.endpoint.host, router.host(of: "a").host])
        #expect(router.writer == "a" && router.readers == ["b"] && !router.isInDoubt)
        monitor.stop()
        loop.run()
    }

    @Test func aSwitchoverIsDoubtedThenConfirmedOnTheNewWriterAndEndsTheOldWritersSessions() throws {
        let (loop, router, cluster, monitor) = try setUp()
        monitor.start(user: "monitor", database: "postgres")
        loop.run()
        let client = EmbeddedChannel(loop: loop)
        let ends = EndRequests()
        try client.pipeline.syncOperations.addHandler(ends)
        router.sessionChose(client, router.host(of: "a"))

        cluster.writer = "b"
        loop.advanceTime(by: .seconds(30))  // the next steady read names b
        #expect(router.writer == "b" && !router.isInDoubt)
        #expect(cluster.opened.last == router.host(of: "b").host)
        #expect(ends.reasons == [.failover(instance: "a", writer: "b")])
        monitor.stop()
        loop.run()
    }

    /// The hint used to name only PostgreSQL's function, so a MySQL listener on a server
    /// without Aurora's table got the bare error.
    @Test(arguments: [
        "the topology read on app failed: ERROR 42883: function aurora_replica_status() does not exist",
        "the topology read on app failed: the topology query failed: ERROR 1109 (42S02): Unknown table 'REPLICA_HOST_STATUS' in information_schema",
    ])
    func aServerWithoutAnAuroraTopologyGetsTheHint(problem: String) {
        #expect(TopologyMonitor.topologySourceMissing(problem))
        #expect(!TopologyMonitor.topologySourceMissing("the topology read on app failed: connection reset"))
    }

    @Test func aClusterThatNeverAnswersIsNotPolledFast() throws {
        let (loop, router, cluster, monitor) = try setUp()
        cluster.reachable = false
        monitor.start(user: "monitor", database: "postgres")
        loop.run()
        #expect(cluster.opened.count == 1)
        loop.advanceTime(by: .seconds(1))
        #expect(cluster.opened.count == 1, "no writer was ever known: no fast polling")
        loop.advanceTime(by: .seconds(4))
        #expect(cluster.opened.count == 2)
        #expect(router.writer == nil && !router.isInDoubt)
        monitor.stop()
        loop.run()
    }

    @Test func aSessionsFailedConnectWhileTheMonitorStillReachesTheWriterIsConfirmedAgain() throws {
        let (loop, router, _, monitor) = try setUp()
        monitor.start(user: "monitor", database: "postgres")
        loop.run()
        router.connectFailed(to: router.host(of: "a"))
        #expect(router.isInDoubt)
        loop.advanceTime(by: .milliseconds(200))
        #expect(router.writer == "a" && !router.isInDoubt, "a passing failure: the writer answers the monitor")
        monitor.stop()
        loop.run()
    }

    @Test func aLostWriterIsPolledFastUntilOneIsConfirmed() throws {
        let (loop, router, cluster, monitor) = try setUp()
        monitor.start(user: "monitor", database: "postgres")
        loop.run()
        cluster.crash()
        loop.run()
        #expect(router.isInDoubt)
        let before = cluster.opened.count
        loop.advanceTime(by: .milliseconds(1_000))
        #expect(cluster.opened.count >= before + 4, "every 200 ms while in doubt: \(cluster.opened)")
        cluster.reachable = true
        cluster.writer = "b"
        loop.advanceTime(by: .milliseconds(1_000))
        #expect(router.writer == "b" && !router.isInDoubt)
        monitor.stop()
        loop.run()
    }

    @Test func aRetiredMonitorWatchesUntilItsListenersLastSessionEnds() throws {
        let loop = EmbeddedEventLoop()
        let router = AuroraRouter(endpoint: Self.endpoint, pattern: "?.abc.us-east-1.rds.amazonaws.com", role: .writer, waitLimit: .seconds(5))
        let cluster = ScriptedCluster(router: router)
        let runtime = try TestRuntime.make(engine: .postgres, resolver: router)
        let monitor = TopologyMonitor(router: router, probe: cluster, runtime: runtime, on: loop)
        monitor.start(user: "monitor", database: "postgres")
        loop.run()
        let session = EmbeddedChannel(loop: loop)
        _ = runtime.sessionOpened(session)
        monitor.retire()
        cluster.writer = "b"
        loop.advanceTime(by: .seconds(30))
        #expect(router.writer == "b", "a session is still open: a failover still ends it")
        runtime.sessionClosed(session)
        let opened = cluster.opened.count
        cluster.writer = "a"
        loop.advanceTime(by: .seconds(60))
        #expect(cluster.opened.count == opened && router.writer == "b", "no session left: the monitor stopped")
        #expect(cluster.sessions.allSatisfy { $0.isClosed })
    }

    @Test func aNamedWriterThatIsStillAStandbyIsAskedAgainAfterAPauseNotInALoop() throws {
        let (loop, router, cluster, monitor) = try setUp()
        monitor.start(user: "monitor", database: "postgres")
        loop.run()
        cluster.crash()
        loop.run()
        cluster.reachable = true
        cluster.writer = "b"
        cluster.promoted = false  // the topology names b, b still answers as a standby
        loop.advanceTime(by: .milliseconds(200))
        let opens = cluster.opened.count
        loop.advanceTime(by: .milliseconds(100))
        #expect(cluster.opened.count == opens, "no login loop while b finishes its promotion: \(cluster.opened)")
        cluster.promoted = true
        loop.advanceTime(by: .milliseconds(400))
        #expect(router.writer == "b" && !router.isInDoubt)
        monitor.stop()
        loop.run()
    }

    @Test func instancesThatNameEachOtherDoNotMakeALoginLoop() throws {
        let (loop, _, cluster, monitor) = try setUp()
        monitor.start(user: "monitor", database: "postgres")
        loop.run()
        cluster.disagreeing = true
        loop.advanceTime(by: .seconds(30))
        let opens = cluster.opened.count
        loop.advanceTime(by: .milliseconds(150))
        #expect(cluster.opened.count == opens, "paced, not a loop: \(cluster.opened.count)")
        monitor.stop()
        loop.run()
    }
}
