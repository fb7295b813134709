import NIOCore

/// How long a login waits before it tries again (the server throttled it, or it reached a
/// read-only server through a writer listener): exponential from 50 ms, capped at
/// 2 s, each wait between half and all of its step (jitter, so the sessions a burst throttled do
/// not come back at once), and only while the retry can still finish inside the handshake
/// timeout. Pure: the caller gives the clock and the randomness.
struct LoginBackoff {
    static let firstStep: TimeAmount = .milliseconds(50)
    static let largestStep: TimeAmount = .seconds(2)
    /// What a retried login needs at least, after its wait, to have a chance to finish.
    static let loginRoom: TimeAmount = .milliseconds(100)

    private(set) var retries = 0

    /// The wait before the next attempt, or nil when it would end too close to `deadline`.
    /// `random` is in 0...1.
    mutating func nextDelay(now: NIODeadline, deadline: NIODeadline, random: Double) -> TimeAmount? {
        let step = min(Self.firstStep.nanoseconds << min(retries, 20), Self.largestStep.nanoseconds)
        let delay = TimeAmount.nanoseconds(step / 2 + Int64(Double(step / 2) * min(max(random, 0), 1)))
        guard now + delay + Self.loginRoom < deadline else { return nil }
        retries += 1
        return delay
    }
}
