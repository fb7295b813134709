import NIOCore
import Testing

@testable import MySQLWire

/// MySQL session reuse, pure: the key, the verdict at COM_QUIT (every response followed to its
/// end, packet by packet) and the reset exchange.
@Suite struct MySQLSessionReuseTests {
    static let ok: [UInt8] = [0x00, 0x00, 0x00, 0x02, 0x00, 0x00, 0x00]
    static let okInTransaction: [UInt8] = [0x00, 0x00, 0x00, 0x03, 0x00, 0x00, 0x00]
    static func eof(status: UInt16 = 0x0002) -> [UInt8] { [0xFE, 0x00, 0x00, UInt8(status & 0xFF), UInt8(status >> 8)] }
    static let error: [UInt8] = [0xFF, 0x28, 0x04] + Array("#42S02no such table".utf8)
    static let column: [UInt8] = [3] + Array("def".utf8) + [0, 0, 0, 1, 0x61, 0, 0x0C, 0x21, 0, 0x0B, 0, 0, 0, 0xFD, 0, 0, 0x1F, 0, 0]

    static func resultSet(rows: Int, status: UInt16 = 0x0002) -> [[UInt8]] {
        [[0x01], column, eof()] + Array(repeating: [0x01, 0x31], count: rows) + [eof(status: status)]
    }

    /// Feeds each server packet as the relay would: the body only when the tracker asks for it.
    static func feed(_ tracker: inout MySQLSessionReuseTracker, _ packets: [[UInt8]]) {
        for packet in packets {
            let body = tracker.wantsBody(length: packet.count) ? ByteBuffer(bytes: packet) : nil
            tracker.serverPacket(length: packet.count, body: body)
        }
    }

    @Test func reusableAfterEveryKindOfAnswerEndedOutsideATransaction() {
        var tracker = MySQLSessionReuseTracker()
        tracker.clientCommand(0x03)
        Self.feed(&tracker, Self.resultSet(rows: 3))
        tracker.clientCommand(0x03)
        Self.feed(&tracker, [Self.error])
        // A multi-statement query: an OK, then a result set, chained by SERVER_MORE_RESULTS_EXISTS.
        tracker.clientCommand(0x03)
        Self.feed(&tracker, [[0x00, 0x00, 0x00, 0x0A, 0x00, 0x00, 0x00]] + Self.resultSet(rows: 1))
        // COM_STMT_PREPARE with 1 parameter and 1 column, then EXECUTE (binary rows start with 0x00).
        tracker.clientCommand(0x16)
        Self.feed(&tracker, [[0x00, 1, 0, 0, 0, 1, 0, 1, 0, 0, 0, 0], Self.column, Self.eof(), Self.column, Self.eof()])
        tracker.clientCommand(0x17)
        Self.feed(&tracker, [[0x01], Self.column, Self.eof(), [0x00, 0x00, 0x31], Self.eof()])
        tracker.clientCommand(0x19)  // COM_STMT_CLOSE: no answer
        tracker.clientCommand(0x0E)
        Self.feed(&tracker, [Self.ok])
        #expect(tracker.verdict == .reusable)
    }

    @Test func pipelinedCommandsAreAnsweredInOrder() {
        var tracker = MySQLSessionReuseTracker()
        tracker.clientCommand(0x03)
        tracker.clientCommand(0x0E)
        Self.feed(&tracker, Self.resultSet(rows: 2))
        #expect(tracker.verdict == .notReusable("a command was still running"))
        Self.feed(&tracker, [Self.ok])
        #expect(tracker.verdict == .reusable)
    }

    @Test(arguments: [
        ([[UInt8]]([okInTransaction]), "a transaction was open"),
        (Array(resultSet(rows: 5).dropLast()), "a command was still running"),
        ([[0xFB] + Array("/etc/passwd".utf8)], "the server asked for a LOAD DATA LOCAL file"),
        ([[0x01], column, eof(status: 0x0042)], "the client opened a cursor"),
        ([[0x01], column, [0x01, 0x31]], "a result set without the EOF after its definitions"),
    ])
    func neverReusedAfter(_ packets: [[UInt8]], reason: String) {
        var tracker = MySQLSessionReuseTracker()
        tracker.clientCommand(0x03)
        Self.feed(&tracker, packets)
        #expect(tracker.verdict == .notReusable(reason))
    }

    @Test func commandsTheTrackerCannotFollowPoisonTheSession() {
        for (command, reason) in [(UInt8(0x1C), "the client fetched from a cursor"), (0x04, "the client sent command 0x4"), (0x12, "the client sent command 0x12")] {
            var tracker = MySQLSessionReuseTracker()
            tracker.clientCommand(command)
            #expect(tracker.verdict == .notReusable(reason))
        }
        var unasked = MySQLSessionReuseTracker()
        Self.feed(&unasked, [Self.ok])
        #expect(unasked.verdict == .notReusable("the server sent a packet no command asked for"))
    }

    @Test func onlyShortPacketsOfARowStreamAreHeldAndASixteenMebibytePacketContinues() {
        var tracker = MySQLSessionReuseTracker()
        tracker.clientCommand(0x03)
        #expect(tracker.wantsBody(length: 100), "the first packet of an answer")
        Self.feed(&tracker, [[0x01], Self.column, Self.eof()])
        #expect(!tracker.wantsBody(length: 100) && tracker.wantsBody(length: 5), "rows pass unheld; an EOF is short")
        tracker.serverPacket(length: 0xFF_FFFF, body: nil)
        #expect(!tracker.wantsBody(length: 5), "the rest of a 16 MiB row")
        tracker.serverPacket(length: 5, body: nil)
        Self.feed(&tracker, [Self.eof()])
        #expect(tracker.verdict == .reusable)
    }

    @Test func theResetIsResetConnectionThenInitDBEachAnsweredWithOK() {
        var exchange = MySQLSessionResetExchange(database: "appdb")
        #expect(Array(exchange.request.readableBytesView) == [1, 0, 0, 0, 0x1F])
        var answer = Fixtures.packet(Self.ok, sequenceID: 1)
        #expect(exchange.serverBytes(&answer) == .send(Fixtures.packet([0x02] + Array("appdb".utf8), sequenceID: 0)))
        var partial = ByteBuffer(bytes: [7, 0])
        #expect(exchange.serverBytes(&partial) == .pending)
        var second = Fixtures.packet(Self.ok, sequenceID: 1)
        #expect(exchange.serverBytes(&second) == .reset)

        var refused = MySQLSessionResetExchange(database: "appdb")
        var error = Fixtures.packet(Self.error, sequenceID: 1)
        guard case .failed(let reason) = refused.serverBytes(&error) else {
            Issue.record("an ERR must fail the reset")
            return
        }
        #expect(reason.hasPrefix("COM_RESET_CONNECTION was not answered with OK"))
        #expect(Array(MySQLSessionResetExchange.quit.readableBytesView) == [1, 0, 0, 0, 0x01])
    }

    @Test func theKeyIsTheWholeHandshakeResponseButThePasswordAndNeedsADatabase() {
        let base = HandshakeResponse(capabilities: [.protocol41, .connectWithDB], characterSet: 45, user: "app", authResponse: [1, 2],
                                     database: "appdb", attributes: ByteBuffer(bytes: [4, 0x5F, 0x70, 0x69, 0x64, 1, 0x37]))
        var otherPassword = base
        otherPassword.authResponse = [9]
        #expect(MySQLSessionKey(base) == MySQLSessionKey(otherPassword), "the password answer is the proxy's business")
        for change in [{ (r: inout HandshakeResponse) in r.characterSet = 33 }, { $0.database = "other" }, { $0.user = "bob" },
                       { $0.capabilities.insert(.multiStatements) }, { $0.attributes = ByteBuffer(bytes: [4, 0x5F, 0x70, 0x69, 0x64, 1, 0x38]) }] {
            var changed = base
            change(&changed)
            #expect(MySQLSessionKey(changed) != MySQLSessionKey(base))
        }
        var noDatabase = base
        noDatabase.database = nil
        #expect(MySQLSessionKey(noDatabase) == nil)
        #expect(MySQLSessionKey(base)?.description == "app@appdb (charset 45, 7 attribute bytes)")
    }
}
