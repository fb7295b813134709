import NIOCore
import PostgresWire

/// PostgreSQL's reset of a parked session: `DISCARD ALL` (`SessionResetExchange`), and the
/// ParameterStatus values it reports folded into the greeting for the next client.
struct PostgresSessionReset: SessionReset {
    static let terminate: ByteBuffer = {
        var buffer = ByteBuffer()
        buffer.writeInteger(UInt8(ascii: "X"))
        buffer.writeInteger(Int32(4))
        return buffer
    }()

    private var exchange = SessionResetExchange()
    private var session: PostgresLoggedInSession

    init(session: PostgresLoggedInSession) { self.session = session }

    var request: ByteBuffer { exchange.request }
    var parkedState: any Sendable { session }

    mutating func serverBytes(_ buffer: inout ByteBuffer) -> SessionResetStep {
        switch exchange.serverBytes(&buffer) {
        case .pending: return .pending
        case .failed(let reason): return .failed(reason)
        case .reset(let parameters):
            for (name, value) in parameters { session.report(name, value) }
            return .reset
        }
    }
}
