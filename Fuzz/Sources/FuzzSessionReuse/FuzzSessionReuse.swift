import MySQLWire
import NIOCore
import PostgresWire

/// What a server may answer a session the proxy follows for reuse, and the resets and the
/// stale-DNS guard's check: no input may crash a tracker or an exchange, and a MySQL session is
/// never reusable while a command sent is unanswered. The first byte picks the subject.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzSessionReuse(_ start: UnsafePointer<UInt8>, _ count: Int) -> CInt {
    let input = Array(UnsafeBufferPointer(start: start, count: count))
    guard let selector = input.first else { return 0 }
    let data = Array(input.dropFirst())
    switch selector % 4 {
    case 0:
        // Items: a byte with the high bit set is a client command (its low six bits); any other
        // byte is a server packet of that many (mod 64) following bytes.
        var tracker = MySQLSessionReuseTracker()
        var index = 0
        var commands = 0
        while index < data.count {
            let item = data[index]
            index += 1
            if item & 0x80 != 0 {
                tracker.clientCommand(item & 0x3F)
                commands += 1
                continue
            }
            let body = Array(data[index..<min(data.count, index + Int(item) % 64)])
            index += body.count
            tracker.serverPacket(length: body.count, body: tracker.wantsBody(length: body.count) ? ByteBuffer(bytes: body) : nil)
        }
        if commands > 0, index == data.count, tracker.verdict == .reusable {
            precondition(tracker.poisoned == nil, "reusable though poisoned")
        }
    case 1:
        var exchange = SessionResetExchange()
        var buffer = ByteBuffer(bytes: data)
        _ = exchange.serverBytes(&buffer)
    case 2:
        var exchange = MySQLSessionResetExchange(database: "appdb")
        var buffer = ByteBuffer(bytes: data)
        for _ in 0..<3 {
            guard case .send = exchange.serverBytes(&buffer) else { break }
        }
        var check = MySQLWritableCheck()
        var packets = ByteBuffer(bytes: data)
        while let frame = PacketFrame.decode(from: &packets), check.packet(frame) == .pending {}
    default:
        var tracker = SessionReuseTracker()
        for (index, byte) in data.enumerated() {
            if index % 2 == 0 { tracker.clientMessage(type: byte) } else { tracker.serverMessage(type: byte, readyStatus: byte) }
        }
        _ = tracker.verdict
    }
    return 0
}
