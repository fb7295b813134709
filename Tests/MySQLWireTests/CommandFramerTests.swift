import NIOCore
import Testing

@testable import MySQLWire

@Suite struct CommandFramerTests {
    static func makeFramer() -> CommandFramer { CommandFramer(isProxyConnectionID: { $0 >= 2_000_000_001 }) }

    static func query(_ sql: String, sequenceID: UInt8 = 0) -> [UInt8] {
        Array(Fixtures.packet([CommandFramer.commandQuery] + Array(sql.utf8), sequenceID: sequenceID).readableBytesView)
    }

    /// Feeds `bytes` in pieces and returns what passed through plus what was intercepted.
    static func run(_ bytes: [UInt8], pieces: [Int], framer: inout CommandFramer) -> (forwarded: [UInt8], intercepted: [CommandFramer.Command]) {
        let result = runFollowing(bytes, pieces: pieces, framer: &framer)
        return (result.forwarded, result.intercepted)
    }

    /// As `run`, with the commands reported as started (and where in the forwarded bytes).
    static func runFollowing(_ bytes: [UInt8], pieces: [Int], framer: inout CommandFramer)
        -> (forwarded: [UInt8], intercepted: [CommandFramer.Command], started: [(command: UInt8, at: Int)])
    {
        var forwarded: [UInt8] = []
        var intercepted: [CommandFramer.Command] = []
        var started: [(UInt8, Int)] = []
        var start = 0
        for end in pieces + [bytes.count] where end >= start {
            for output in framer.feed(ByteBuffer(bytes: bytes[start..<end])) {
                switch output {
                case .forward(let slice): forwarded += slice.readableBytesView
                case .intercept(let command): intercepted.append(command)
                case .started(let command): started.append((command, forwarded.count))
                }
            }
            start = end
        }
        return (forwarded, intercepted, started)
    }

    @Test func followingReportsEachCommandAtItsStartAndHoldsQuitWhereverTheReadsSplit() {
        let ping = Array(Fixtures.packet([0x0E], sequenceID: 0).readableBytesView)
        let quit = Array(Fixtures.packet([CommandFramer.commandQuit], sequenceID: 0).readableBytesView)
        let long = Self.query(String(repeating: "x", count: 500))
        let stream = Self.query("SELECT 1") + long + Self.query("KILL QUERY 2000000002") + ping + quit
        for split in 0...stream.count {
            var framer = CommandFramer(followsCommands: true, isProxyConnectionID: { $0 >= 2_000_000_001 })
            let result = Self.runFollowing(stream, pieces: [split], framer: &framer)
            #expect(result.forwarded == Self.query("SELECT 1") + long + ping, "split at \(split)")
            #expect(result.intercepted == [.kill(KillStatement("KILL QUERY 2000000002")!), .quit], "split at \(split)")
            #expect(result.started.map(\.command) == [CommandFramer.commandQuery, CommandFramer.commandQuery, 0x0E], "a proxy-answered KILL is no server command")
            #expect(result.started.map(\.at) == [0, Self.query("SELECT 1").count, Self.query("SELECT 1").count + long.count], "split at \(split)")
        }
        // Without following, COM_QUIT passes like any command.
        var plain = Self.makeFramer()
        #expect(Self.run(quit, pieces: [], framer: &plain).forwarded == quit)
    }

    @Test func passesOrdinaryTrafficUntouchedWhereverTheReadsSplit() {
        let stream = Self.query("SELECT 1") + Self.query(String(repeating: "x", count: 500)) + Self.query("KILL QUERY 5")
            + Array(Fixtures.packet([0x0E], sequenceID: 0).readableBytesView)
        for split in 0...stream.count {
            var framer = Self.makeFramer()
            let result = Self.run(stream, pieces: [split], framer: &framer)
            #expect(result.forwarded == stream, "split at \(split)")
            #expect(result.intercepted.isEmpty)
        }
    }

    @Test func interceptsKillOfAProxyIDAndChangeUserWithoutForwardingThem() {
        let before = Self.query("SELECT 1")
        let kill = Self.query("KILL QUERY 2000000007")
        let changeUser = Array(Fixtures.packet([CommandFramer.commandChangeUser] + Array("other\0".utf8), sequenceID: 0).readableBytesView)
        let after = Self.query("SELECT 2")
        let stream = before + kill + changeUser + after
        for split in 0...stream.count {
            var framer = Self.makeFramer()
            let result = Self.run(stream, pieces: [split], framer: &framer)
            #expect(result.forwarded == before + after, "split at \(split)")
            #expect(result.intercepted == [.kill(.init(target: .query, connectionID: 2_000_000_007)), .changeUser])
        }
    }

    @Test func loadDataFilePacketsAreNeverCommandsEvenWhenTheirSequenceWrapsToZero() {
        // LOAD DATA LOCAL: the command, then (after the server's request) file packets from
        // sequence id 2 on, wrapping through 0, each starting with COM_CHANGE_USER's byte.
        var stream = Self.query("LOAD DATA LOCAL INFILE 'f' INTO TABLE t")
        for index in 0..<300 {
            stream += Fixtures.packet([CommandFramer.commandChangeUser, 1, 2, 3], sequenceID: UInt8(truncatingIfNeeded: index + 2)).readableBytesView
        }
        stream += Fixtures.packet([], sequenceID: UInt8(truncatingIfNeeded: 302)).readableBytesView
        let next = Self.query("KILL 2000000001")
        var framer = Self.makeFramer()
        let result = Self.run(stream + next, pieces: [7, 100, 1_000], framer: &framer)
        #expect(result.forwarded == stream)
        #expect(result.intercepted == [.kill(.init(target: .connection, connectionID: 2_000_000_001))])
    }

    @Test func continuationOfA16MiBPacketIsNotACommand() {
        var framer = Self.makeFramer()
        let bigHeader: [UInt8] = [0xFF, 0xFF, 0xFF, 0]
        var outputs = framer.feed(ByteBuffer(bytes: bigHeader + [CommandFramer.commandQuery]))
        // Stream the rest of the 16 MiB payload in chunks without holding any of it back.
        var forwarded = outputs.reduce(0) { $0 + Self.length($1) }
        for index in 0..<16 {
            let chunk = ByteBuffer(repeating: 0x20, count: index < 15 ? 1 << 20 : (1 << 20) - 2)
            outputs = framer.feed(chunk)
            forwarded += outputs.reduce(0) { $0 + Self.length($1) }
        }
        #expect(forwarded == 4 + 0xFF_FFFF)
        // Continuation with sequence id 1 looks like COM_CHANGE_USER but must pass.
        let continuation = Fixtures.packet([CommandFramer.commandChangeUser], sequenceID: 1)
        #expect(framer.feed(continuation) == [.forward(continuation)])
    }

    static func length(_ output: CommandFramer.Output) -> Int {
        if case .forward(let bytes) = output { return bytes.readableBytes }
        return 0
    }
}
