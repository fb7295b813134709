import MySQLWire
import Synchronization

/// What the proxy tells its MySQL clients about the server, as last seen from it: one look
/// when the listener starts, then every upstream login refreshes it.
final class MySQLGreetingCache: Sendable {
    private let greeting = Mutex(ServerGreeting.conservativeDefault)

    var current: ServerGreeting { greeting.withLock { $0 } }

    func learn(_ greeting: ServerGreeting) {
        self.greeting.withLock { $0 = greeting }
    }
}
