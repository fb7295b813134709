import Logging
import NIOCore
import PostgresWire

/// Every choice the running proxy makes by engine, behind one exhaustive switch: adding an
/// engine is the list of cases the compiler asks for here (and the configuration's own switch
/// for default ports and socket names in `ListenerConfiguration.Engine`).
struct EngineBehaviour: Sendable {
    /// ALPN protocols offered on client TLS (PostgreSQL 17 direct TLS requires `postgresql`).
    let clientALPN: [String]
    /// The handler that runs one client session through its login.
    let makeSessionHandler: @Sendable (ListenerRuntime) -> any ChannelHandler
    /// Done once when a listener starts, before it accepts.
    let prepare: @Sendable (ListenerRuntime, any EventLoopGroup, Logger) async -> Void
    /// The client side of `check --connect`: logs in as `user` and reports the outcome.
    let makeCheckLogin: @Sendable (_ user: String, _ database: String?) -> CheckLogin
}

extension ListenerConfiguration.Engine {
    var behaviour: EngineBehaviour {
        switch self {
        case .postgres:
            EngineBehaviour(
                clientALPN: [PostgresProxyHandshake.alpnProtocol], makeSessionHandler: { PostgresSessionHandler(runtime: $0) }, prepare: { _, _, _ in },
                makeCheckLogin: { PostgresCheckLogin(user: $0, database: $1) })
        case .mysql:
            EngineBehaviour(
                clientALPN: [], makeSessionHandler: { MySQLSessionHandler(runtime: $0) },
                prepare: { runtime, group, logger in await MySQLServerProbe.learnGreeting(for: runtime, on: group.next(), logger: logger) },
                makeCheckLogin: { MySQLCheckLogin(user: $0, database: $1) })
        }
    }
}
