import MySQLWire
import NIOCore
import Testing

/// The MySQL topology reading, packet by packet: a five-column text result set with EOF
/// packets, NULLs, an ERR, and answers that are not what was asked.
@Suite struct AuroraMySQLTopologyQueryTests {
    static func frame(_ bytes: [UInt8]) -> PacketFrame { PacketFrame(sequenceID: 1, payload: ByteBuffer(bytes: bytes)) }

    static func lenenc(_ text: String?) -> [UInt8] {
        guard let text else { return [0xFB] }
        return [UInt8(text.utf8.count)] + Array(text.utf8)
    }

    static let definition = frame(lenenc("def") + [0, 0, 0] + lenenc("C") + [0, 0x0C, 33, 0, 0, 1, 0, 0, 0xFD, 0, 0, 0, 0, 0])
    static let eof = frame([0xFE, 0, 0, 2, 0])

    static func row(_ columns: [String?]) -> PacketFrame { frame(columns.flatMap(lenenc)) }

    static func run(_ frames: [PacketFrame]) -> AuroraMySQLTopologyQuery.Outcome {
        var query = AuroraMySQLTopologyQuery()
        var outcome = AuroraMySQLTopologyQuery.Outcome.pending
        for frame in frames {
            outcome = query.packet(frame)
            if outcome != .pending { return outcome }
        }
        return outcome
    }

    static let header = [frame([5])] + Array(repeating: definition, count: 5) + [eof]

    @Test func theRequestIsOneQueryCommand() {
        var request = AuroraMySQLTopologyQuery().request
        let frame = PacketFrame.decode(from: &request)
        #expect(frame?.sequenceID == 0)
        #expect(frame.map { Array($0.payload.readableBytesView.prefix(1)) } == [0x03])
        #expect(AuroraMySQLTopologyQuery.statement.contains("FROM information_schema.replica_host_status"))
    }

    @Test func readsEveryRowTheServersReadOnlyFlagAndClock() {
        let outcome = Self.run(Self.header + [
            Self.row(["writer-1", "MASTER_SESSION_ID", "1800000000.000000", "1", "1800000001.500000"]),
            Self.row(["reader-2", "b7f0", nil, "1", "1800000001.500000"]),
            Self.eof,
        ])
        #expect(outcome == .read(.init(readOnly: true, serverNow: 1_800_000_001.5, rows: [
            .init(serverID: "writer-1", sessionID: "MASTER_SESSION_ID", lastUpdate: 1_800_000_000),
            .init(serverID: "reader-2", sessionID: "b7f0", lastUpdate: nil),
        ])))
    }

    @Test func anErrorSaysWhatTheServerSaid() {
        let error = Self.frame([0xFF, 0x7A, 0x04, UInt8(ascii: "#")] + Array("42S02Unknown table 'replica_host_status'".utf8))
        guard case .failed(let reason) = Self.run([error]) else {
            Issue.record("an ERR was not a failure")
            return
        }
        #expect(reason.contains("Unknown table 'replica_host_status'"), "\(reason)")
    }

    @Test(arguments: [
        [frame([1])],                                                   // one column, not five
        header + [eof],                                                  // no rows
        header + [row([nil, "x", nil, "0", "1"]), eof],                  // NULL SERVER_ID
        header + [frame([0x40, 1, 2]), eof],                             // a truncated row
        [frame([5])] + Array(repeating: definition, count: 5) + [row(["a", "b", "c", "d", "e"])],  // no EOF after the definitions
    ])
    func answersThatAreNotATopologyFail(frames: [PacketFrame]) {
        guard case .failed = Self.run(frames) else {
            Issue.record("accepted \(frames.count) packets that are not a topology")
            return
        }
    }
}
