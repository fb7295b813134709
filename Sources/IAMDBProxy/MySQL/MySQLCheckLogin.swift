import MySQLWire
import NIOCore

/// `check --connect` as a MySQL client: the greeting, a handshake response, then OK or ERR.
final class MySQLCheckLogin: CheckLogin, @unchecked Sendable {
    private var greeted = false

    override func readReplies(context: ChannelHandlerContext) {
        while let frame = PacketFrame.decode(from: &buffer) {
            if frame.payload.getInteger(at: frame.payload.readerIndex, as: UInt8.self) == 0xFF {
                return verdict.succeed((try? ErrorPacket(payload: frame.payload)).map { "\($0)" } ?? "error")
            }
            guard greeted else {
                greeted = true
                var flags = CapabilityFlags.minimalClient
                if database != nil { flags.insert(.connectWithDB) }
                let response = HandshakeResponse(capabilities: flags, characterSet: 45, user: user, database: database,
                                                 authPluginName: "mysql_native_password")
                var packet = ByteBuffer()
                PacketFrame(sequenceID: 1, payload: response.encode()).encode(into: &packet)
                context.writeAndFlush(NIOAny(packet), promise: nil)
                continue
            }
            return verdict.succeed(nil)
        }
    }
}
