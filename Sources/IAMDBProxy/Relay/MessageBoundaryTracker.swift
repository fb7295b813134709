import NIOCore

/// Finds where each message starts in one direction of a relayed stream that arrives in
/// arbitrary pieces, asks the observer about each, and returns the bytes to pass on. Pure:
/// no channel, tested byte by byte.
///
/// Cost: when the observer forwards everything and wants no body, a read is passed on as the
/// same buffer (no copy, no allocation), and the work is one header read per message. A header split between reads
/// is held (at most `headerLength` bytes) until it is whole, so a dropped message never has
/// half a header already sent; a wanted body is held until complete (at most `maximumHeldBody`).
struct MessageBoundaryTracker<Observer: RelayMessageObserver> {
    typealias Framing = Observer.Framing
    static var maximumHeldBody: Int { 4096 }

    private enum Current {
        /// Passing the rest of the message on, or leaving it out.
        case forwarding, dropping
        /// Holding the message (header first) until its body is complete.
        case holding(Framing.Header)
    }

    private var current = Current.forwarding
    /// Body bytes of the current message not yet seen.
    private var remainingBody = 0
    /// A header split between reads, or a whole held message so far.
    private var held = ByteBuffer()

    /// At a message boundary with nothing held: bytes injected now cannot split a message.
    var isAtBoundary: Bool { remainingBody == 0 && held.readableBytes == 0 }

    /// Scans `bytes` and hands what to pass on to `emit`, in order (usually `bytes` itself, once).
    mutating func scan(_ bytes: ByteBuffer, observer: Observer, emit: (ByteBuffer) -> Void) {
        var emitted = false
        var index = bytes.readerIndex
        let end = bytes.writerIndex
        // Start of the bytes since the last cut that are passed on as they are.
        var runStart = index

        func cutRun(at position: Int) {
            if position > runStart, let slice = bytes.getSlice(at: runStart, length: position - runStart) {
                emitted = true
                emit(slice)
            }
            runStart = position
        }

        while index < end {
            if remainingBody > 0 {
                let count = min(remainingBody, end - index)
                switch current {
                case .forwarding:
                    break
                case .dropping:
                    cutRun(at: index)
                    runStart = index + count
                case .holding:
                    if let slice = bytes.getSlice(at: index, length: count) { held.writeImmutableBuffer(slice) }
                    runStart = index + count
                }
                index += count
                remainingBody -= count
                if remainingBody == 0, case .holding(let header) = current {
                    emitted = decideHeld(header, observer: observer, emit: emit) || emitted
                }
                continue
            }
            // A message starts at `index` (or its header began in an earlier read and is held).
            let headerLength = Framing.headerLength
            let header: Framing.Header
            let headerStart = index
            if held.readableBytes == 0, end - index >= headerLength {
                header = Framing.header(in: bytes, at: index)
                index += headerLength
            } else {
                cutRun(at: index)
                let count = min(headerLength - held.readableBytes, end - index)
                if let slice = bytes.getSlice(at: index, length: count) { held.writeImmutableBuffer(slice) }
                index += count
                runStart = index
                guard held.readableBytes == headerLength else { break }
                header = Framing.header(in: held, at: held.readerIndex)
            }
            let bodyLength = Framing.bodyLength(of: header)
            remainingBody = bodyLength
            if bodyLength > 0, bodyLength <= Self.maximumHeldBody, observer.wantsBody(header) {
                if held.readableBytes == 0 {
                    // The header is in place in `bytes`: hold it from here on.
                    cutRun(at: headerStart)
                    if let slice = bytes.getSlice(at: headerStart, length: headerLength) { held.writeImmutableBuffer(slice) }
                    runStart = index
                }
                current = .holding(header)
                continue
            }
            let verdict = observer.observe(header, body: nil)
            if held.readableBytes > 0 {
                if case .forward = verdict {
                    emitted = true
                    emit(held)
                }
                held = ByteBuffer()
            } else if case .drop = verdict {
                cutRun(at: headerStart)
                runStart = index
            }
            current = verdict == .drop ? .dropping : .forwarding
            if remainingBody == 0, case .dropping = current { current = .forwarding }
        }
        if !emitted, runStart == bytes.readerIndex {
            if index > runStart { emit(bytes) }
            return
        }
        cutRun(at: index)
    }

    /// The held message is complete: asks the observer, passes it on unless dropped; says whether it emitted.
    private mutating func decideHeld(_ header: Framing.Header, observer: Observer, emit: (ByteBuffer) -> Void) -> Bool {
        var body = held
        body.moveReaderIndex(forwardBy: Framing.headerLength)
        let forward = observer.observe(header, body: body) == .forward
        if forward { emit(held) }
        held = ByteBuffer()
        current = .forwarding
        return forward
    }
}
