import NIOCore
import Testing

@testable import IAMDBProxy

/// The cursor that tells whether a relayed stream is between two messages, byte by byte.
@Suite struct MessageCursorTests {
    /// A MySQL OK packet (payload 7) followed by an empty packet (payload 0) and a 1-byte one.
    static let packets: [UInt8] = [7, 0, 0, 1, 0, 0, 0, 2, 0, 0, 0] + [0, 0, 0, 2] + [1, 0, 0, 3, 0xFE]

    @Test func everySplitOfTheStreamFindsTheSameBoundaries() {
        let boundaries: Set<Int> = [0, 11, 15, 20]
        for cut in 0...Self.packets.count {
            var cursor = MessageCursor<MySQLPacketFraming>()
            var atBoundary: [Int: Bool] = [:]
            // Byte by byte after `cut`: a header split anywhere is held until whole.
            cursor.advance(over: ByteBuffer(bytes: Self.packets[0..<cut]))
            atBoundary[cut] = cursor.isAtBoundary
            for index in cut..<Self.packets.count {
                cursor.advance(over: ByteBuffer(bytes: [Self.packets[index]]))
                atBoundary[index + 1] = cursor.isAtBoundary
            }
            for (position, at) in atBoundary {
                #expect(at == boundaries.contains(position), "cut \(cut), position \(position)")
            }
        }
    }

    @Test func stoppingAtABoundaryMovesOnlyToTheEndOfTheCurrentMessage() {
        var cursor = MessageCursor<MySQLPacketFraming>()
        #expect(cursor.advance(over: ByteBuffer(bytes: Self.packets), stoppingAtBoundary: true) == 0, "already at one")
        cursor.advance(over: ByteBuffer(bytes: Self.packets[0..<5]))
        #expect(cursor.advance(over: ByteBuffer(bytes: Self.packets[5...]), stoppingAtBoundary: true) == 6)
        #expect(cursor.isAtBoundary)
        // A header split between reads: its first bytes alone reach no boundary.
        #expect(cursor.advance(over: ByteBuffer(bytes: Self.packets[11..<13]), stoppingAtBoundary: true) == 0)
        cursor.advance(over: ByteBuffer(bytes: Self.packets[11..<13]))
        #expect(!cursor.isAtBoundary)
        #expect(cursor.advance(over: ByteBuffer(bytes: Self.packets[13...]), stoppingAtBoundary: true) == 2, "an empty packet ends with its header")
    }
}
