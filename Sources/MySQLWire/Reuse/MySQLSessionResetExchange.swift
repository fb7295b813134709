import NIOCore

/// Resets a MySQL session whose client ended cleanly, before it may serve another:
/// `COM_RESET_CONNECTION` (rolls back, drops temporary tables and prepared statements, releases
/// table and GET_LOCK locks, resets session variables and user variables; MySQL 5.7.3+,
/// MariaDB 10.2.4+), then `COM_INIT_DB` with the key's database, which the reset keeps as the
/// last `USE` left it. Only an OK to each counts; anything else fails the reset. Pure.
public struct MySQLSessionResetExchange: Sendable {
    public enum Step: Sendable, Equatable {
        case pending
        /// Send this next.
        case send(ByteBuffer)
        case reset
        case failed(String)
    }

    static let resetConnection: UInt8 = 0x1F
    static let initDatabase: UInt8 = 0x02

    private let database: String
    private var answered = 0

    public init(database: String) { self.database = database }

    public var request: ByteBuffer { Self.command(Self.resetConnection, ByteBuffer()) }

    public mutating func serverBytes(_ buffer: inout ByteBuffer) -> Step {
        guard let frame = PacketFrame.decode(from: &buffer) else { return .pending }
        let name = answered == 0 ? "COM_RESET_CONNECTION" : "COM_INIT_DB"
        guard frame.payload.getInteger(at: frame.payload.readerIndex, as: UInt8.self) == 0x00, frame.sequenceID == 1 else {
            let error = try? ErrorPacket(payload: frame.payload)
            return .failed("\(name) was not answered with OK\(error.map { ": \($0)" } ?? "")")
        }
        guard buffer.readableBytes == 0 else { return .failed("the server sent more than the answer to \(name)") }
        answered += 1
        return answered == 1 ? .send(Self.command(Self.initDatabase, ByteBuffer(string: database))) : .reset
    }

    static func command(_ command: UInt8, _ argument: ByteBuffer) -> ByteBuffer {
        var payload = ByteBuffer()
        payload.writeInteger(command)
        payload.writeImmutableBuffer(argument)
        var packet = ByteBuffer()
        PacketFrame(sequenceID: 0, payload: payload).encode(into: &packet)
        return packet
    }

    /// COM_QUIT, sent before a parked session is closed so the server logs a clean end.
    public static var quit: ByteBuffer { command(0x01, ByteBuffer()) }
}
