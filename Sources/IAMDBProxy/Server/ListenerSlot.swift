import NIOCore
import Synchronization

/// What a listening socket gives the connections it accepts. A reload that changes a listener's
/// settings but not its address swaps the contents and keeps the socket, so there is no moment
/// when nothing listens (and no chance that the address is taken in between).
final class ListenerSlot: Sendable {
    struct Contents: Sendable {
        let runtime: ListenerRuntime
        let behaviour: EngineBehaviour
    }

    private let current: Mutex<Contents>

    init(_ contents: Contents) { current = Mutex(contents) }

    var contents: Contents { current.withLock { $0 } }

    func replace(with contents: Contents) { current.withLock { $0 = contents } }

    func makeSessionHandler() -> any ChannelHandler {
        let contents = self.contents
        return contents.behaviour.makeSessionHandler(contents.runtime)
    }
}
