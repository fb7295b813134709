import NIOCore

/// Frames the client-to-server byte stream of a logged-in session by packet headers so the
/// proxy can see the commands it must handle itself (COM_CHANGE_USER, KILL of a proxy
/// connection id) while every other byte passes through unchanged and without copying.
///
/// A command is a packet with sequence id 0 that does not continue a 16 MiB packet. Once the
/// client sends a packet with another sequence id outside a command, it is streaming a
/// `LOAD DATA LOCAL INFILE` file, whose sequence ids wrap through 0; that lasts until its
/// terminating empty packet. Compression is never negotiated, so headers are in plain sight.
public struct CommandFramer: Sendable {
    public enum Output: Sendable, Equatable {
        case forward(ByteBuffer)
        case intercept(Command)
        /// With `followsCommands`: a command with this byte goes to the server (its bytes follow).
        case started(UInt8)
    }

    public enum Command: Sendable, Equatable {
        case kill(KillStatement)
        case changeUser
        /// With `followsCommands`: COM_QUIT, held back for the session's owner to decide.
        case quit
    }

    public static let commandQuery: UInt8 = 0x03
    public static let commandChangeUser: UInt8 = 0x11
    public static let commandQuit: UInt8 = 0x01
    /// COM_QUERY packets longer than this are never a KILL and pass without being held.
    static let longestInspectedQuery = 128
    static let headerLength = 4

    /// Bytes held back at a packet boundary: a partial header, or a whole candidate packet
    /// still arriving.
    private var held = ByteBuffer()
    /// Payload bytes of the current packet still to pass through.
    private var remainingPayload = 0
    private var continuesLargePacket = false
    private var streamingFile = false
    /// Which ids are the proxy's (so a KILL of them is handled by the proxy).
    private let isProxyConnectionID: @Sendable (UInt64) -> Bool
    /// Reports every command that goes to the server (`.started`) and holds COM_QUIT back
    /// (`.intercept(.quit)`), for session reuse.
    private let followsCommands: Bool

    public init(followsCommands: Bool = false, isProxyConnectionID: @escaping @Sendable (UInt64) -> Bool) {
        self.followsCommands = followsCommands
        self.isProxyConnectionID = isProxyConnectionID
    }

    public mutating func feed(_ input: ByteBuffer) -> [Output] {
        var work: ByteBuffer
        if held.readableBytes > 0 {
            var input = input
            held.writeBuffer(&input)
            work = held
            held = ByteBuffer()
        } else {
            work = input
        }
        var outputs: [Output] = []
        // `get` reads only at or past a buffer's reader index; this copy keeps the start.
        let whole = work
        var passStart = work.readerIndex
        func flushPass(upTo end: Int) {
            if end > passStart { outputs.append(.forward(whole.getSlice(at: passStart, length: end - passStart)!)) }
            passStart = end
        }
        while work.readableBytes > 0 {
            if remainingPayload > 0 {
                let step = min(remainingPayload, work.readableBytes)
                work.moveReaderIndex(forwardBy: step)
                remainingPayload -= step
                continue
            }
            guard let (length, sequenceID) = PacketFrame.header(in: work, at: work.readerIndex) else { break }
            let isCommand = sequenceID == 0 && !continuesLargePacket && !streamingFile
            if isCommand, length > 0 {
                guard let command = work.getInteger(at: work.readerIndex + Self.headerLength, as: UInt8.self) else { break }
                let packetStart = work.readerIndex
                if command == Self.commandChangeUser || (command == Self.commandQuery && length <= Self.longestInspectedQuery)
                    || (followsCommands && command == Self.commandQuit)
                {
                    guard work.readableBytes >= Self.headerLength + length else { break }
                    work.moveReaderIndex(forwardBy: Self.headerLength)
                    let payload = work.readSlice(length: length)!
                    if let intercepted = intercepted(command: command, payload: payload) {
                        flushPass(upTo: packetStart)
                        outputs.append(.intercept(intercepted))
                        passStart = work.readerIndex
                    } else if followsCommands {
                        flushPass(upTo: packetStart)
                        outputs.append(.started(command))
                    }
                    continue
                }
                if followsCommands {
                    flushPass(upTo: packetStart)
                    outputs.append(.started(command))
                }
            }
            if !isCommand, !continuesLargePacket {
                // A packet of a LOAD DATA LOCAL file; the empty one ends the file.
                streamingFile = length > 0
            }
            continuesLargePacket = length == PacketFrame.maximumPayloadLength
            work.moveReaderIndex(forwardBy: Self.headerLength)
            remainingPayload = length
        }
        flushPass(upTo: work.readerIndex)
        if work.readableBytes > 0 { held = work.readSlice(length: work.readableBytes)! }
        return outputs
    }

    private func intercepted(command: UInt8, payload: ByteBuffer) -> Command? {
        if command == Self.commandChangeUser { return .changeUser }
        if command == Self.commandQuit { return .quit }
        var text = payload
        text.moveReaderIndex(forwardBy: 1)
        // Most short queries are not KILL: decide on the first word before making a String.
        guard Self.startsWithKill(text.readableBytesView),
            let sql = text.readString(length: text.readableBytes), let kill = KillStatement(sql),
            isProxyConnectionID(kill.connectionID)
        else { return nil }
        return .kill(kill)
    }

    static func startsWithKill(_ bytes: ByteBufferView) -> Bool {
        guard let start = bytes.firstIndex(where: { $0 != 0x20 && $0 != 0x09 && $0 != 0x0A && $0 != 0x0D }) else { return false }
        let word = bytes[start...].prefix(4)
        return word.count == 4 && zip(word, "KILL".utf8).allSatisfy { $0 | 0x20 == $1 | 0x20 }
    }
}
