import NIOCore

/// Whether a relayed MySQL session may be reset (`COM_RESET_CONNECTION`) and given to another
/// client when its client sends `COM_QUIT`: a command boundary the proxy can prove. Fed each
/// command byte the client sends and every packet the server sends (the body only when
/// `wantsBody` asks: the first packet of a response and the few short enough to be an EOF), it
/// follows each response to its end — OK, ERR, or a result set's last EOF without
/// `SERVER_MORE_RESULTS_EXISTS`, a prepared statement's definitions — and keeps the last status
/// flags. Anything it cannot follow (LOAD DATA LOCAL, cursors, COM_FIELD_LIST, replication
/// commands, an unknown command) poisons the session: it is closed, never reused. Needs EOF
/// packets: a listener that reuses sessions does not offer CLIENT_DEPRECATE_EOF. Pure.
public struct MySQLSessionReuseTracker: Sendable {
    public enum Verdict: Sendable, Equatable {
        case reusable
        case notReusable(String)
    }

    enum Expected: Sendable, Equatable {
        /// OK, ERR or a result set (COM_QUERY, COM_STMT_EXECUTE).
        case result
        /// One packet, whatever it is (COM_PING, COM_INIT_DB, COM_STATISTICS, COM_SET_OPTION …).
        case single
        /// COM_STMT_PREPARE's answer.
        case prepare
    }

    enum Reading: Sendable, Equatable {
        case first
        /// Column definitions still to come, then their EOF; `rows`: a result set (else a prepare's columns).
        case definitions(remaining: Int, rows: Bool, thenColumns: Int)
        case definitionsEOF(rows: Bool, thenColumns: Int)
        case rows
    }

    static let inTransaction: UInt16 = 0x0001
    static let moreResultsExist: UInt16 = 0x0008
    static let cursorExists: UInt16 = 0x0040

    /// Commands sent whose response has not ended (the first is being read).
    private var pending: [Expected] = []
    private var reading = Reading.first
    /// The next server packet continues a 16 MiB one.
    private var continuing = false
    public private(set) var statusFlags: UInt16 = 0x0002
    public private(set) var poisoned: String?

    public init() {}

    public mutating func clientCommand(_ command: UInt8) {
        switch command {
        case 0x03, 0x17: pending.append(.result)  // COM_QUERY, COM_STMT_EXECUTE
        case 0x16: pending.append(.prepare)  // COM_STMT_PREPARE
        case 0x02, 0x09, 0x0C, 0x0E, 0x1A, 0x1B, 0x1F: pending.append(.single)  // INIT_DB, STATISTICS, PROCESS_KILL, PING, STMT_RESET, SET_OPTION, RESET_CONNECTION
        case 0x18, 0x19, 0x01: break  // STMT_SEND_LONG_DATA, STMT_CLOSE: no answer; QUIT
        case 0x1C: poisoned = "the client fetched from a cursor"
        default: poisoned = "the client sent command 0x\(String(command, radix: 16))"
        }
    }

    /// Whether `serverPacket` needs the body of a packet of `length` bytes coming next.
    public func wantsBody(length: Int) -> Bool {
        guard !continuing, !pending.isEmpty else { return false }
        switch reading {
        case .first: return true
        case .definitions: return false
        case .definitionsEOF, .rows: return length < 9
        }
    }

    /// One server packet (`body`: its payload when `wantsBody` asked for it).
    public mutating func serverPacket(length: Int, body: ByteBuffer?) {
        defer { continuing = length == 0xFF_FFFF }
        guard !continuing else { return }
        guard let expected = pending.first else {
            poisoned = poisoned ?? "the server sent a packet no command asked for"
            return
        }
        switch reading {
        case .first:
            guard let body, let first = body.getInteger(at: body.readerIndex, as: UInt8.self) else {
                poisoned = poisoned ?? "a response the proxy could not read"
                return finishResponse()
            }
            readFirst(first, body: body, expected: expected)
        case .definitions(let remaining, let rows, let thenColumns):
            reading = remaining > 1 ? .definitions(remaining: remaining - 1, rows: rows, thenColumns: thenColumns)
                : .definitionsEOF(rows: rows, thenColumns: thenColumns)
        case .definitionsEOF(let rows, let thenColumns):
            guard length < 9, let body, body.getInteger(at: body.readerIndex, as: UInt8.self) == 0xFE else {
                poisoned = poisoned ?? "a result set without the EOF after its definitions"
                return finishResponse()
            }
            if rows {
                let status = eofStatus(body)
                // A cursor's rows come later, fetched: not a stream the proxy follows.
                if status & Self.cursorExists != 0 {
                    poisoned = poisoned ?? "the client opened a cursor"
                    return finishResponse()
                }
                reading = .rows
            } else if thenColumns > 0 {
                reading = .definitions(remaining: thenColumns, rows: false, thenColumns: 0)
            } else {
                finishResponse()
            }
        case .rows:
            guard length < 9, let body, let first = body.getInteger(at: body.readerIndex, as: UInt8.self) else { return }
            if first == 0xFE {
                ended(status: eofStatus(body))
            } else if first == 0xFF {
                finishResponse()
            }
        }
    }

    private mutating func readFirst(_ first: UInt8, body: ByteBuffer, expected: Expected) {
        switch (first, expected) {
        case (0xFF, _):
            finishResponse()
        case (0x00, .prepare):
            // stmt id (4), columns (2), params (2): params' definitions, then the columns'.
            guard let columns = body.getInteger(at: body.readerIndex + 5, endianness: .little, as: UInt16.self),
                let parameters = body.getInteger(at: body.readerIndex + 7, endianness: .little, as: UInt16.self)
            else {
                poisoned = poisoned ?? "a malformed COM_STMT_PREPARE answer"
                return finishResponse()
            }
            if parameters > 0 {
                reading = .definitions(remaining: Int(parameters), rows: false, thenColumns: Int(columns))
            } else if columns > 0 {
                reading = .definitions(remaining: Int(columns), rows: false, thenColumns: 0)
            } else {
                finishResponse()
            }
        case (0x00, _):
            var ok = body
            ok.moveReaderIndex(forwardBy: 1)
            guard ok.readLengthEncodedInteger() != nil, ok.readLengthEncodedInteger() != nil,
                let status = ok.readInteger(endianness: .little, as: UInt16.self)
            else {
                poisoned = poisoned ?? "a malformed OK packet"
                return finishResponse()
            }
            expected == .result ? ended(status: status) : finishResponse(status: status)
        case (0xFE, _) where body.readableBytes < 9:
            expected == .result ? ended(status: eofStatus(body)) : finishResponse(status: eofStatus(body))
        case (0xFB, .result):
            poisoned = poisoned ?? "the server asked for a LOAD DATA LOCAL file"
            finishResponse()
        case (_, .result):
            var count = body
            guard let columns = count.readLengthEncodedInteger(), columns > 0, columns < 10_000 else {
                poisoned = poisoned ?? "a result set the proxy could not read"
                return finishResponse()
            }
            reading = .definitions(remaining: Int(columns), rows: true, thenColumns: 0)
        case (_, .single):
            finishResponse()
        case (_, .prepare):
            poisoned = poisoned ?? "a COM_STMT_PREPARE answer the proxy could not read"
            finishResponse()
        }
    }

    /// A result (OK or a result set's EOF) ended: another follows when the server says so.
    private mutating func ended(status: UInt16) {
        statusFlags = status
        if status & Self.moreResultsExist != 0 {
            reading = .first
        } else {
            finishResponse()
        }
    }

    private mutating func finishResponse(status: UInt16? = nil) {
        if let status { statusFlags = status }
        if !pending.isEmpty { pending.removeFirst() }
        reading = .first
    }

    private func eofStatus(_ body: ByteBuffer) -> UInt16 {
        body.getInteger(at: body.readerIndex + 3, endianness: .little, as: UInt16.self) ?? 0
    }

    /// The verdict when the client sends COM_QUIT.
    public var verdict: Verdict {
        if let poisoned { return .notReusable(poisoned) }
        if !pending.isEmpty { return .notReusable("a command was still running") }
        if statusFlags & Self.inTransaction != 0 { return .notReusable("a transaction was open") }
        return .reusable
    }
}
