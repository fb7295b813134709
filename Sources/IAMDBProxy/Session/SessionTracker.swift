import Foundation
import NIOCore
import Synchronization

/// Every open client connection of the proxy, so a graceful shutdown can wait for them to
/// finish and close the ones still open when the delay runs out.
final class SessionTracker: Sendable {
    private struct State {
        var channels: [ObjectIdentifier: any Channel] = [:]
        var idleWaiters: [UUID: CheckedContinuation<Bool, Never>] = [:]
    }

    private let state = Mutex(State())

    var count: Int { state.withLock { $0.channels.count } }

    /// Registers a session; returns how many are open with it.
    func opened(_ channel: any Channel) -> Int {
        state.withLock { state in
            state.channels[ObjectIdentifier(channel)] = channel
            return state.channels.count
        }
    }

    func closed(_ channel: any Channel) {
        let waiters = state.withLock { state -> [CheckedContinuation<Bool, Never>] in
            state.channels.removeValue(forKey: ObjectIdentifier(channel))
            guard state.channels.isEmpty else { return [] }
            defer { state.idleWaiters = [:] }
            return Array(state.idleWaiters.values)
        }
        waiters.forEach { $0.resume(returning: true) }
    }

    /// True once no session is open, false if `timeout` passes first.
    func waitUntilIdle(timeout: TimeInterval) async -> Bool {
        let id = UUID()
        return await withCheckedContinuation { continuation in
            let idle = state.withLock { state in
                if state.channels.isEmpty { return true }
                state.idleWaiters[id] = continuation
                return false
            }
            if idle {
                continuation.resume(returning: true)
                return
            }
            DispatchQueue.global().asyncAfter(deadline: .now() + timeout) { [self] in
                state.withLock { $0.idleWaiters.removeValue(forKey: id) }?.resume(returning: false)
            }
        }
    }

    /// Closes every session still open; returns how many there were.
    func closeAll() -> Int {
        let channels = state.withLock { Array($0.channels.values) }
        channels.forEach { $0.close(promise: nil) }
        return channels.count
    }
}
