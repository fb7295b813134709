import MySQLWire
import FuzzSupport
import NIOCore

/// The MySQL connection phase from both sides: the first input byte picks the listener's
/// settings and where the client's bytes end and the server's begin. The client's bytes are
/// its handshake response (or SSLRequest); once the machine dials, the server's bytes are its
/// greeting and the login packets that follow (auth switch, more data, OK, ERR).
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzMySQLHandshake(_ start: UnsafePointer<UInt8>, _ count: Int) -> CInt {
    guard let input = TwoSidedInput(start, count) else { return 0 }
    let (clientBytes, serverBytes) = (input.clientBytes, input.serverBytes)

    var frames = serverBytes
    while let frame = PacketFrame.decode(from: &frames) {
        _ = try? ServerGreeting(payload: frame.payload)
        _ = try? ErrorPacket(payload: frame.payload)
        _ = try? HandshakeResponse(payload: frame.payload)
    }

    var machine = MySQLProxyHandshake(configuration: .init(
        greeting: .conservativeDefault, clientTLSAvailable: input.flag(0), allowedUsers: input.flag(1) ? ["app"] : nil,
        tooManyConnections: input.flag(2)))
    _ = machine.start(connectionID: 2_000_000_001, scramble: Array(repeating: 0x41, count: 20))
    var client = clientBytes
    var actions = machine.clientBytes(&client)
    if actions.contains(.acceptClientTLS) {
        _ = machine.clientTLSEstablished()
        actions = machine.clientBytes(&client)
    }
    guard actions.contains(where: { if case .connectUpstream = $0 { true } else { false } }) else { return 0 }
    var server = serverBytes
    var first = server.readSlice(length: server.readableBytes / 3)!
    _ = machine.upstreamBytes(&first)
    _ = machine.upstreamTLSEstablished()
    _ = machine.tokenReady("fuzz-token", wasCached: input.flag(3))
    server.writeBuffer(&first)
    _ = machine.upstreamBytes(&server)
    return 0
}
