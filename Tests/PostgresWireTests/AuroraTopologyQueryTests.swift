import NIOCore
import PostgresWire
import Testing

/// The topology reading's exchange, byte by byte: two results (the answering server's own state,
/// then `aurora_replica_status()` rows), any split, errors and malformed answers.
@Suite struct AuroraTopologyQueryTests {
    static func message(_ type: Character, _ body: [UInt8]) -> ByteBuffer {
        BackendMessage(type: UInt8(ascii: type.unicodeScalars.first!), body: ByteBuffer(bytes: body)).wireBytes
    }

    static func row(_ columns: [String?]) -> ByteBuffer {
        var body = ByteBuffer()
        body.writeInteger(Int16(columns.count))
        for column in columns {
            if let column {
                body.writeInteger(Int32(column.utf8.count))
                body.writeString(column)
            } else {
                body.writeInteger(Int32(-1))
            }
        }
        return message("D", Array(body.readableBytesView))
    }

    static let description = message("T", [0, 0])
    static func complete(_ tag: String) -> ByteBuffer { message("C", Array("\(tag)\0".utf8)) }
    static let idle = message("Z", [UInt8(ascii: "I")])

    static let answer: [ByteBuffer] = [
        description, row(["f", "1800000000.5"]), complete("SELECT 1"),
        description, row(["instance-a", "MASTER_SESSION_ID", "1799999999.25"]), row(["instance-b", "c0ffee", nil]), complete("SELECT 2"),
        idle,
    ]

    static func run(_ parts: [ByteBuffer], splitAt split: Int? = nil) -> AuroraTopologyQuery.Outcome {
        var query = AuroraTopologyQuery()
        var all = ByteBuffer()
        for part in parts { all.writeImmutableBuffer(part) }
        guard let split, split < all.readableBytes else { return query.serverBytes(&all) }
        var first = all.getSlice(at: 0, length: split)!
        var rest = all.getSlice(at: split, length: all.readableBytes - split)!
        #expect(query.serverBytes(&first) == .pending)
        first.writeBuffer(&rest)
        return query.serverBytes(&first)
    }

    @Test func theRequestIsOneSimpleQueryOfTwoStatements() {
        var request = AuroraTopologyQuery().request
        #expect(request.readInteger(as: UInt8.self) == UInt8(ascii: "Q"))
        let text = request.getString(at: request.readerIndex + 4, length: request.readableBytes - 5) ?? ""
        #expect(text == AuroraTopologyQuery.statement && text.contains("pg_is_in_recovery()") && text.contains("FROM aurora_replica_status()"))
    }

    @Test(arguments: [nil, 1, 7, 30, 61, 120])
    func readsTheServersStateAndEveryRowWhereverTheBytesSplit(split: Int?) {
        let expected = AuroraTopologyQuery.Reading(inRecovery: false, serverNow: 1_800_000_000.5, rows: [
            ("instance-a", "MASTER_SESSION_ID", 1_799_999_999.25), ("instance-b", "c0ffee", nil),
        ])
        #expect(Self.run(Self.answer, splitAt: split) == .read(expected))
    }

    @Test func aMissingFunctionIsAFailureThatSaysSo() {
        let error = ErrorResponse(fatal: .protocolViolation, "function aurora_replica_status() does not exist")
        let outcome = Self.run([Self.description, Self.row(["f", "1"]), Self.complete("SELECT 1"), error.encoded(), Self.idle])
        guard case .failed(let reason) = outcome else {
            Issue.record("\(outcome)")
            return
        }
        #expect(reason.contains("aurora_replica_status() does not exist"), "\(reason)")
    }

    @Test(arguments: [
        [description, row(["f", "1"]), complete("SELECT 1"), idle],                                        // one result only
        [description, row(["f", "1"]), complete("SELECT 1"), description, row([nil, "x", nil]), complete("SELECT 1"), idle],  // NULL server_id
        [description, message("D", [0, 1, 0, 0, 0, 9, 1]), complete("SELECT 1"), idle],                 // a truncated row
    ])
    func malformedAnswersFail(parts: [ByteBuffer]) {
        guard case .failed = Self.run(parts) else {
            Issue.record("accepted a malformed answer")
            return
        }
    }
}
