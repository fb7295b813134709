import NIOCore
import PostgresWire

/// Logs in one PostgreSQL session ahead of any client (`session_reuse` `min_idle`), as a client
/// with the key's startup would have (`PostgresHeadlessLogin`), and parks the logged-in upstream
/// (watched by `ParkedSessionHandler`, without a reset) for the next client with the key.
enum PostgresWarmLogin {
    /// Starts a warm login for `recipe` (whose details are a `PostgresSessionKey`) on `eventLoop`.
    static func start(_ recipe: SessionPool.Recipe, runtime: ListenerRuntime, on eventLoop: any EventLoop) {
        guard let key = recipe.details as? PostgresSessionKey else { return }
        let bornAt = NIODeadline.now()
        eventLoop.execute {
            let startup = FrontendMessages.startup(version: key.protocolVersion, parameters: key.parameters.sorted { $0.key < $1.key })
            PostgresHeadlessLogin.start(startup: startup, checksWritable: runtime.configuration.effectiveRole == .writer, runtime: runtime, on: eventLoop) { result in
                switch result {
                case .success(let login):
                    runtime.sessionPool.warmLoginEnded(recipe, on: eventLoop, failure: nil)
                    runtime.sessionPool.resetAndPark(login.channel, key: recipe.key, keyDescription: recipe.keyDescription, state: login.session,
                                                     bornAt: bornAt, uses: 0, farewell: PostgresSessionReset.terminate,
                                                     reset: PostgresSessionReset?.none, runtime: runtime)
                case .failure(let failure):
                    runtime.sessionPool.warmLoginEnded(recipe, on: eventLoop, failure: failure.reason)
                }
            }
        }
    }
}
