import NIOCore

/// A fuzz input for a handshake with two peers: the first byte's low bits choose the listener's
/// settings, its high four bits where the client's bytes end and the server's begin.
public struct TwoSidedInput {
    public let control: UInt8
    public let clientBytes: ByteBuffer
    public let serverBytes: ByteBuffer

    public init?(_ start: UnsafePointer<UInt8>, _ count: Int) {
        let input = UnsafeBufferPointer(start: start, count: count)
        guard let control = input.first else { return nil }
        let rest = input.dropFirst()
        let split = rest.count * Int(control >> 4) / 15
        self.control = control
        clientBytes = ByteBuffer(bytes: rest.prefix(split))
        serverBytes = ByteBuffer(bytes: rest.dropFirst(split))
    }

    /// Setting bit `index` (0 to 3) of the control byte.
    public func flag(_ index: Int) -> Bool { control & (1 << index) != 0 }
}
