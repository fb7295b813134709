/// What a MySQL listener keeps beside its `ListenerRuntime`: the greeting its clients get
/// (its own, per listener) and the KILL ids of every MySQL session of the proxy (shared, so
/// a KILL can name a session of another connection).
struct MySQLListenerState: Sendable {
    let greeting = MySQLGreetingCache()
    let sessions: MySQLSessionRegistry
}
