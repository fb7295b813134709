import NIOCore
import NIOEmbedded
import Testing

@testable import IAMDBProxy

/// The relay's message observer, byte by byte: whatever the reads look like, the bytes passed
/// on are the stream minus dropped messages, and the observer sees every message once, in order.
@Suite struct MessageBoundaryTrackerTests {
    /// Records what it is shown; drops the types in `drop`; wants the bodies of `want`.
    final class Recorder: RelayMessageObserver {
        typealias Framing = PostgresMessageFraming
        var seen: [(type: Character, body: [UInt8]?)] = []
        let drop: Set<UInt8>
        let want: Set<UInt8>
        init(drop: Set<UInt8> = [], want: Set<UInt8> = []) {
            self.drop = drop
            self.want = want
        }
        func wantsBody(_ header: Framing.Header) -> Bool { want.contains(header.type) }
        func observe(_ header: Framing.Header, body: ByteBuffer?) -> RelayVerdict {
            seen.append((Character(UnicodeScalar(header.type)), body.map { Array($0.readableBytesView) }))
            return drop.contains(header.type) ? .drop : .forward
        }
    }

    static func message(_ type: Character, _ body: [UInt8]) -> [UInt8] {
        var buffer = ByteBuffer()
        buffer.writeInteger(UInt8(ascii: type.unicodeScalars.first!))
        buffer.writeInteger(UInt32(body.count + 4))
        buffer.writeBytes(body)
        return Array(buffer.readableBytesView)
    }

    /// RowDescription-ish, a DataRow, CommandComplete, ReadyForQuery (in a transaction), Terminate.
    static let messages: [(Character, [UInt8])] = [
        ("T", Array(repeating: 7, count: 30)), ("D", Array(0..<200)), ("C", Array("SELECT 1\0".utf8)), ("Z", [UInt8(ascii: "T")]), ("X", []),
    ]
    static let stream = messages.flatMap { message($0.0, $0.1) }

    /// Feeds `stream` cut at `cuts` and returns the bytes passed on.
    static func run(_ recorder: Recorder, cuts: [Int]) -> [UInt8] {
        var tracker = MessageBoundaryTracker<Recorder>()
        var output: [UInt8] = []
        var start = 0
        for end in cuts + [stream.count] where end >= start {
            tracker.scan(ByteBuffer(bytes: stream[start..<end]), observer: recorder) { piece in output += piece.readableBytesView }
            start = end
        }
        #expect(tracker.isAtBoundary)
        return output
    }

    @Test func everyCutOfTheStreamPassesEveryByteAndShowsEveryMessageOnce() {
        for first in 0...Self.stream.count {
            for second in stride(from: first, through: Self.stream.count, by: 7) {
                let recorder = Recorder()
                #expect(Self.run(recorder, cuts: [first, second]) == Self.stream, "cuts \(first), \(second)")
                #expect(recorder.seen.map(\.type) == ["T", "D", "C", "Z", "X"])
            }
        }
    }

    @Test func aDroppedMessageLeavesNoByteAndTheRestIsUntouched() {
        let expected = Self.messages.filter { $0.0 != "D" && $0.0 != "X" }.flatMap { Self.message($0.0, $0.1) }
        for first in 0...Self.stream.count {
            for second in stride(from: first, through: Self.stream.count, by: 5) {
                let recorder = Recorder(drop: [UInt8(ascii: "D"), UInt8(ascii: "X")])
                #expect(Self.run(recorder, cuts: [first, second]) == expected, "cuts \(first), \(second)")
            }
        }
    }

    @Test func aWantedBodyArrivesWholeHoweverTheReadsAreCut() {
        for cut in 0...Self.stream.count {
            let recorder = Recorder(drop: [UInt8(ascii: "C")], want: [UInt8(ascii: "Z"), UInt8(ascii: "C")])
            let output = Self.run(recorder, cuts: [cut])
            #expect(output == Self.messages.filter { $0.0 != "C" }.flatMap { Self.message($0.0, $0.1) }, "cut \(cut)")
            #expect(recorder.seen.first { $0.type == "Z" }?.body == [UInt8(ascii: "T")])
            #expect(recorder.seen.first { $0.type == "C" }?.body == Array("SELECT 1\0".utf8))
            #expect(recorder.seen.first { $0.type == "D" }?.body == nil, "a body nobody asked for is not held")
        }
    }

    @Test func aReadOfWholeMessagesComesBackAsTheSameBuffer() {
        var tracker = MessageBoundaryTracker<Recorder>()
        let buffer = ByteBuffer(bytes: Self.stream)
        var output: [ByteBuffer] = []
        tracker.scan(buffer, observer: Recorder()) { output.append($0) }
        #expect(output.count == 1 && output[0] == buffer)
    }

    @Test func aBodyLongerThanTheLimitIsNeverHeld() {
        let long = Self.message("Z", Array(repeating: 1, count: MessageBoundaryTracker<Recorder>.maximumHeldBody + 1))
        var tracker = MessageBoundaryTracker<Recorder>()
        let recorder = Recorder(want: [UInt8(ascii: "Z")])
        var output: [ByteBuffer] = []
        tracker.scan(ByteBuffer(bytes: long.prefix(10)), observer: recorder) { output.append($0) }
        #expect(output.flatMap { Array($0.readableBytesView) } == Array(long.prefix(10)), "passed on at once, not held")
        #expect(recorder.seen.count == 1 && recorder.seen[0].body == nil)
    }

    @Test func mySQLPacketHeadersAreReadLittleEndianWithTheSequenceID() {
        let header = MySQLPacketFraming.header(in: ByteBuffer(bytes: [0xFF, 0xFF, 0xFF, 3]), at: 0)
        #expect(header.payloadLength == 0xFF_FFFF && header.sequenceID == 3)
        let small = MySQLPacketFraming.header(in: ByteBuffer(bytes: [0xEE, 9, 1, 0, 2]), at: 1)
        #expect(small.payloadLength == 0x109 && small.sequenceID == 2)
    }

    @Test func anInjectionWaitsForTheEndOfTheMessageInFlight() throws {
        let handler = MessageObserverHandler(observer: Recorder())
        let channel = EmbeddedChannel(handler: handler)
        let dataRow = Self.message("D", Array(0..<50))
        try channel.writeInbound(ByteBuffer(bytes: dataRow.prefix(20)))
        #expect(try channel.readInbound(as: ByteBuffer.self) == ByteBuffer(bytes: dataRow.prefix(20)))
        let error = ByteBuffer(bytes: Self.message("E", Array("SFATAL\0".utf8)))
        handler.inject(error)
        #expect(try channel.readInbound(as: ByteBuffer.self) == nil, "not in the middle of a DataRow")
        try channel.writeInbound(ByteBuffer(bytes: dataRow.dropFirst(20)))
        #expect(try channel.readInbound(as: ByteBuffer.self) == ByteBuffer(bytes: dataRow.dropFirst(20)))
        #expect(try channel.readInbound(as: ByteBuffer.self) == error, "right after the DataRow's last byte")
        handler.inject(error)
        #expect(try channel.readInbound(as: ByteBuffer.self) == error, "at a boundary: at once")
    }

    @Test func theWireSummaryCountsTypesAndKeepsTheLastTransactionStatus() {
        let summary = PostgresWireSummary()
        var tracker = MessageBoundaryTracker<PostgresWireSummary>()
        for byte in Self.stream { tracker.scan(ByteBuffer(bytes: [byte]), observer: summary) { _ in } }
        #expect(summary.summary == "C=1,D=1,T=1,X=1,Z=1,status=T")
    }
}
