import MySQLWire
import NIOCore

/// The client's stream after login, cut into reads of sizes the first input byte chooses:
/// commands, 16 MiB continuations, LOAD DATA file packets and KILL statements must be framed
/// the same way however the bytes arrive.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzMySQLCommandFramer(_ start: UnsafePointer<UInt8>, _ count: Int) -> CInt {
    let input = UnsafeBufferPointer(start: start, count: count)
    guard let control = input.first else { return 0 }
    let stream = Array(input.dropFirst())
    let chunk = max(1, Int(control))
    var whole = CommandFramer(isProxyConnectionID: { $0 > 2_000_000_000 })
    var pieces = CommandFramer(isProxyConnectionID: { $0 > 2_000_000_000 })
    let together = whole.feed(ByteBuffer(bytes: stream))
    var apart: [CommandFramer.Output] = []
    var index = 0
    while index < stream.count {
        apart += pieces.feed(ByteBuffer(bytes: stream[index..<min(stream.count, index + chunk)]))
        index += chunk
    }
    // Forwarded bytes may be split differently; what is intercepted must not depend on it.
    let intercepted = { (outputs: [CommandFramer.Output]) in outputs.filter { if case .forward = $0 { false } else { true } } }
    precondition(intercepted(together) == intercepted(apart), "framing depends on how the bytes arrive")
    // Followed for session reuse: the commands reported and COM_QUIT held back must not either.
    var followedWhole = CommandFramer(followsCommands: true, isProxyConnectionID: { $0 > 2_000_000_000 })
    var followedPieces = CommandFramer(followsCommands: true, isProxyConnectionID: { $0 > 2_000_000_000 })
    let followedTogether = followedWhole.feed(ByteBuffer(bytes: stream))
    var followedApart: [CommandFramer.Output] = []
    index = 0
    while index < stream.count {
        followedApart += followedPieces.feed(ByteBuffer(bytes: stream[index..<min(stream.count, index + chunk)]))
        index += chunk
    }
    precondition(intercepted(followedTogether) == intercepted(followedApart), "followed framing depends on how the bytes arrive")
    return 0
}
