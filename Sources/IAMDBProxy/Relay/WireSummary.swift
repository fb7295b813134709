import NIOCore

/// An observer that can say in one line what it saw, for the trace line at a session's end.
protocol WireSummary: AnyObject {
    var summary: String { get }
}

enum WireSummaryText {
    /// `Q=3,X=1` (no spaces, one log field), most frequent first (ties by name), with `name` for each key.
    static func counts<Key: Comparable>(_ counts: [Key: Int], name: (Key) -> String) -> String {
        counts.sorted { $0.value != $1.value ? $0.value > $1.value : $0.key < $1.key }
            .map { "\(name($0.key))=\($0.value)" }.joined(separator: ",")
    }
}

/// The summaries of both directions of one session, and the handlers that feed them.
struct WireSummaries {
    let client: any WireSummary
    let server: any WireSummary
    /// For the client channel (what the client sends) and the upstream channel (what the server sends).
    let handlers: (client: any ChannelHandler, upstream: any RemovableChannelHandler)

    init<Observer: RelayMessageObserver & WireSummary>(client: Observer, server: Observer) {
        self.client = client
        self.server = server
        handlers = (MessageObserverHandler(observer: client), MessageObserverHandler(observer: server))
    }
}
