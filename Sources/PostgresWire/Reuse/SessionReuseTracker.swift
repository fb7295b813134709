import NIOCore

/// Whether a relayed PostgreSQL session may be reset and given to another client when its client
/// ends it with `Terminate`. Fed the type byte (and for ReadyForQuery the status) of every
/// message each way at its boundary; pure. Safe means: the server's last ReadyForQuery said `I`
/// (no transaction, none failed), every query and every extended-protocol batch the client sent
/// was answered by a ReadyForQuery, and no COPY is open — the states `DISCARD ALL` cannot undo
/// or cannot run in.
public struct SessionReuseTracker: Sendable {
    public enum Verdict: Sendable, Equatable {
        case reusable
        case notReusable(String)
    }

    /// ReadyForQuery status: `I` idle, `T` in a transaction, `E` in a failed transaction.
    public private(set) var transactionStatus: UInt8 = UInt8(ascii: "I")
    /// Queries and Syncs sent that no ReadyForQuery has answered yet.
    public private(set) var unansweredSyncPoints = 0
    /// Parse/Bind/Execute/Describe/Close/Flush sent since the last Sync: a half-sent batch.
    public private(set) var openBatch = false
    public private(set) var inCopy = false
    /// Something no reset can vouch for (a function call, an unknown message).
    public private(set) var poisoned: String?

    public init() {}

    public mutating func clientMessage(type: UInt8) {
        switch type {
        case UInt8(ascii: "Q"): unansweredSyncPoints += 1
        case UInt8(ascii: "S"):
            unansweredSyncPoints += 1
            openBatch = false
        case UInt8(ascii: "P"), UInt8(ascii: "B"), UInt8(ascii: "E"), UInt8(ascii: "D"), UInt8(ascii: "C"), UInt8(ascii: "H"):
            openBatch = true
        case UInt8(ascii: "d"), UInt8(ascii: "c"), UInt8(ascii: "f"), UInt8(ascii: "X"):
            break
        case UInt8(ascii: "F"): poisoned = "the client used the fast-path function call protocol"
        default: poisoned = "the client sent message type \(type)"
        }
    }

    public mutating func serverMessage(type: UInt8, readyStatus: UInt8? = nil) {
        switch type {
        case UInt8(ascii: "Z"):
            transactionStatus = readyStatus ?? UInt8(ascii: "?")
            unansweredSyncPoints = max(0, unansweredSyncPoints - 1)
            inCopy = false
        case UInt8(ascii: "G"), UInt8(ascii: "H"), UInt8(ascii: "W"): inCopy = true
        case UInt8(ascii: "c"): inCopy = false
        default: break
        }
    }

    /// The verdict when the client sends `Terminate`.
    public var verdict: Verdict {
        if let poisoned { return .notReusable(poisoned) }
        if inCopy { return .notReusable("a COPY was open") }
        if openBatch { return .notReusable("an extended-protocol batch was not ended with Sync") }
        if unansweredSyncPoints > 0 { return .notReusable("a query was still running") }
        switch transactionStatus {
        case UInt8(ascii: "I"): return .reusable
        case UInt8(ascii: "T"): return .notReusable("a transaction was open")
        case UInt8(ascii: "E"): return .notReusable("a failed transaction was open")
        default: return .notReusable("the session's transaction status is unknown")
        }
    }
}
