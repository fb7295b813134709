import FuzzSupport
import NIOCore
import PostgresWire

/// The PostgreSQL startup phase from both sides: the first input byte picks the listener's
/// settings and where the client's bytes end and the server's begin. The client's bytes go to
/// the startup decoder and the handshake machine; once the machine dials, the server's bytes
/// are its answers (authentication requests, SCRAM, errors, parameter status, ReadyForQuery).
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzPostgresHandshake(_ start: UnsafePointer<UInt8>, _ count: Int) -> CInt {
    guard let input = TwoSidedInput(start, count) else { return 0 }
    let (clientBytes, serverBytes) = (input.clientBytes, input.serverBytes)

    var decoderInput = clientBytes
    while let request = try? StartupRequest.decode(from: &decoderInput) { _ = request.parameter("user") }
    var messages = serverBytes
    while let message = try? BackendMessage.decode(from: &messages) {
        _ = try? AuthenticationRequest(body: message.body)
        _ = try? ErrorResponse(body: message.body)
        _ = try? BackendKey(body: message.body)
    }

    var machine = PostgresProxyHandshake(configuration: .init(
        clientTLSAvailable: input.flag(0), allowedUsers: input.flag(1) ? ["app"] : nil, allowReplication: input.flag(2)))
    var client = clientBytes
    let actions = machine.clientBytes(&client)
    guard actions.contains(where: { if case .connectUpstream = $0 { true } else { false } }) else { return 0 }
    _ = machine.upstreamConnected()
    var accepted = ByteBuffer(string: "S")
    _ = machine.upstreamBytes(&accepted)
    _ = machine.upstreamTLSEstablished()
    _ = machine.tokenReady("fuzz-token", wasCached: input.flag(3))
    // The server's bytes in two reads, as a socket might deliver them.
    var server = serverBytes
    var first = server.readSlice(length: server.readableBytes / 2)!
    _ = machine.upstreamBytes(&first)
    server.writeBuffer(&first)
    _ = machine.upstreamBytes(&server)
    return 0
}
