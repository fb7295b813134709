import Foundation
import NIOCore
import Synchronization

/// Every open client connection of the proxy, so a graceful shutdown can wait for them to
/// finish and close the ones still open when the delay runs out.
final class SessionTracker: Sendable {
    private struct State {
        var channels: [ObjectIdentifier: any Channel] = [:]
        /// Resumed with true when the last session closes; `outlastingStop` ones ignore `stopWaiting`.
        var idleWaiters: [UUID: (continuation: CheckedContinuation<Bool, Never>, outlastingStop: Bool)] = [:]
        /// `stopWaiting` was called: waits end at once.
        var waitsEnded = false
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
            return state.idleWaiters.values.map(\.continuation)
        }
        waiters.forEach { $0.resume(returning: true) }
    }

    /// True once no session is open, false if `timeout` passes first (or, unless
    /// `outlastingStop`, once `stopWaiting` was called: the drain's wait, not the wait for ended
    /// sessions to finish closing).
    func waitUntilIdle(timeout: TimeInterval, outlastingStop: Bool = false) async -> Bool {
        let id = UUID()
        return await withCheckedContinuation { continuation in
            let answer = state.withLock { state -> Bool? in
                if state.channels.isEmpty { return true }
                if state.waitsEnded, !outlastingStop { return false }
                state.idleWaiters[id] = (continuation, outlastingStop)
                return nil
            }
            if let answer {
                continuation.resume(returning: answer)
                return
            }
            DispatchQueue.global().asyncAfter(deadline: .now() + timeout) { [self] in
                state.withLock { $0.idleWaiters.removeValue(forKey: id) }?.continuation.resume(returning: false)
            }
        }
    }

    /// Ends every wait for idleness now and from now on (answering false unless idle): the
    /// operator asked a second time to stop.
    func stopWaiting() {
        let waiters = state.withLock { state -> [CheckedContinuation<Bool, Never>] in
            state.waitsEnded = true
            let stopped = state.idleWaiters.filter { !$0.value.outlastingStop }
            for id in stopped.keys { state.idleWaiters.removeValue(forKey: id) }
            return stopped.values.map(\.continuation)
        }
        waiters.forEach { $0.resume(returning: false) }
    }

    /// Asks every session still open to end (`SessionEndRequest`: the engine's shutdown error
    /// at the next message boundary), closing any that has not within twice the boundary wait;
    /// returns how many there were.
    func endAll() -> Int {
        let channels = state.withLock { Array($0.channels.values) }
        for channel in channels { SessionEndRequest.send(to: channel, reason: .shutdown) }
        return channels.count
    }
}
