import NIOCore

/// Takes the server's messages one by one from a buffer for an exchange the proxy runs itself
/// (a reset, a topology read), and bounds how many one answer may have, so a misbehaving server
/// cannot keep the proxy reading. Pure.
struct BoundedMessageReader: Sendable {
    enum Problem: Error, Sendable {
        case malformed(String)
        case tooMany
    }

    let maximumMessages: Int
    private var messages = 0

    init(maximumMessages: Int) { self.maximumMessages = maximumMessages }

    /// The next whole message, nil when the buffer holds only part of one.
    mutating func next(from buffer: inout ByteBuffer) -> Result<BackendMessage, Problem>? {
        let message: BackendMessage
        do {
            guard let decoded = try BackendMessage.decode(from: &buffer) else { return nil }
            message = decoded
        } catch {
            return .failure(.malformed("\(error)"))
        }
        messages += 1
        return messages <= maximumMessages ? .success(message) : .failure(.tooMany)
    }
}
