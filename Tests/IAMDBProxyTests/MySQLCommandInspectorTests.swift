import AWSAuth
import Logging
import MySQLWire
import NIOCore
import NIOEmbedded
import Testing

@testable import IAMDBProxy

/// The MySQL inspector on an EmbeddedChannel, with the KILL's side connection replaced by a
/// closure the test answers when it chooses.
@Suite struct MySQLCommandInspectorTests {
    static func command(_ payload: [UInt8]) -> ByteBuffer {
        var frame = ByteBuffer()
        PacketFrame(sequenceID: 0, payload: ByteBuffer(bytes: payload)).encode(into: &frame)
        return frame
    }

    @Test func theClientIsNotReadWhileAKillRunsAndWhatWaitedIsPassedOnAfter() throws {
        // Regression: while a KILL ran, reads went on and client bytes queued without limit.
        let runtime = try TestRuntime.make(engine: .mysql)
        let sessions = MySQLSessionRegistry()
        let victim = sessions.makeConnectionID()
        sessions.register(victim, .init(runtime: runtime, address: try SocketAddress(ipAddress: "127.0.0.1", port: 3306), host: HostAndPort(host: "db", port: 3306), upstreamConnectionID: 9))
        var answerKill: ((ByteBuffer) -> Void)?
        let inspector = MySQLCommandInspector(runtime: runtime, sessions: sessions, user: "app", logger: Logger(label: "test")) { statement, target, _, _, _, done in
            #expect(statement.connectionID == UInt64(victim) && target.upstreamConnectionID == 9)
            answerKill = done
        }
        let counter = ReadCounter()
        let channel = EmbeddedChannel()
        try channel.pipeline.syncOperations.addHandlers(counter, inspector)

        try channel.writeInbound(Self.command([0x03] + Array("KILL QUERY \(victim)".utf8)))
        let behind = Self.command([0x03] + Array("SELECT 1".utf8))
        try channel.writeInbound(behind)
        #expect(try channel.readInbound(as: ByteBuffer.self) == nil, "nothing passes while the KILL runs")
        channel.read()
        channel.read()
        #expect(counter.reads == 0, "no read may reach the socket while the KILL runs")

        let ok = ByteBuffer(bytes: [0, 0, 0, 2, 0, 0, 0])
        let answer = try #require(answerKill)
        answer(ok)
        var reply = try #require(try channel.readOutbound(as: ByteBuffer.self))
        #expect(PacketFrame.decode(from: &reply) == PacketFrame(sequenceID: 1, payload: ok))
        #expect(try channel.readInbound(as: ByteBuffer.self) == behind)
        #expect(counter.reads == 1, "the held read is passed on once the KILL is answered")
        channel.read()
        #expect(counter.reads == 2)
        _ = try channel.finish()
    }

    @Test func aKillOfAnotherListenersSessionIsAnUnknownThread() throws {
        // Regression: the registry was process-wide; a client could end another listener's sessions.
        let runtime = try TestRuntime.make(engine: .mysql)
        let sessions = MySQLSessionRegistry()
        let other = try TestRuntime.make(name: "other", engine: .mysql)
        let victim = sessions.makeConnectionID()
        sessions.register(victim, .init(runtime: other, address: try SocketAddress(ipAddress: "127.0.0.1", port: 3306), host: HostAndPort(host: "db", port: 3306), upstreamConnectionID: 9))
        var carried = false
        let channel = EmbeddedChannel(handler: MySQLCommandInspector(runtime: runtime, sessions: sessions, user: "app", logger: Logger(label: "test")) { _, _, _, _, _, _ in
            carried = true
        })
        try channel.writeInbound(Self.command([0x03] + Array("KILL \(victim)".utf8)))
        var reply = try #require(try channel.readOutbound(as: ByteBuffer.self))
        let frame = try #require(PacketFrame.decode(from: &reply))
        #expect(try ErrorPacket(payload: frame.payload).code == 1094)
        #expect(!carried)
        _ = try channel.finish()
    }
}
