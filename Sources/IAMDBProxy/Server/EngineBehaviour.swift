import Logging
import NIOCore
import PostgresWire

/// Every choice the running proxy makes by engine, behind one exhaustive switch: adding an
/// engine is the list of cases the compiler asks for here (and the configuration's own switch
/// for default ports and socket names in `ListenerConfiguration.Engine`). Engine state lives
/// in the closures: what one listener keeps, and what `EngineState` shares between listeners.
struct EngineBehaviour: Sendable {
    /// ALPN protocols offered on client TLS (PostgreSQL 17 direct TLS requires `postgresql`).
    let clientALPN: [String]
    /// The handler that runs one client session through its login.
    let makeSessionHandler: @Sendable (ListenerRuntime) -> any ChannelHandler
    /// Done once when a listener starts, before it accepts.
    let prepare: @Sendable (ListenerRuntime, any EventLoopGroup, Logger) async -> Void
}

/// Engine state shared by all listeners of the proxy: cancel keys and KILL ids are looked up
/// from any connection, and survive a reload that rebinds the listener.
struct EngineState: Sendable {
    let cancels = CancelRegistry()
    let mysqlSessions = MySQLSessionRegistry()
}

extension ListenerConfiguration.Engine {
    /// The behaviour of one listener of this engine (its per-listener state made fresh).
    func behaviour(sharing shared: EngineState) -> EngineBehaviour {
        switch self {
        case .postgres:
            let cancels = shared.cancels
            return EngineBehaviour(
                clientALPN: [PostgresProxyHandshake.alpnProtocol],
                makeSessionHandler: { PostgresSessionHandler(runtime: $0, cancels: cancels) },
                prepare: { runtime, group, _ in
                    runtime.watchUpstreamForParkedSessions(on: group.next())
                    runtime.startTopologyMonitor(probe: PostgresTopologyProbe(), on: group.next())
                    runtime.sessionPool.configureWarming(loops: Array(group.makeIterator()).count) { [weak runtime] recipe, loop in
                        if let runtime { PostgresWarmLogin.start(recipe, runtime: runtime, on: loop) }
                    }
                })
        case .mysql:
            let state = MySQLListenerState(sessions: shared.mysqlSessions)
            return EngineBehaviour(
                clientALPN: [],
                makeSessionHandler: { MySQLSessionHandler(runtime: $0, state: state) },
                prepare: { runtime, group, logger in
                    runtime.watchUpstreamForParkedSessions(on: group.next())
                    runtime.startTopologyMonitor(probe: MySQLTopologyProbe(), on: group.next())
                    await MySQLServerProbe.learnGreeting(into: state.greeting, for: runtime, on: group.next(), logger: logger)
                })
        }
    }

    /// The client side of `check --connect`: logs in as `user` and reports the outcome.
    func makeCheckLogin(user: String, database: String?) -> CheckLogin {
        switch self {
        case .postgres: PostgresCheckLogin(user: user, database: database)
        case .mysql: MySQLCheckLogin(user: user, database: database)
        }
    }
}
