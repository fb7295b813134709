/// A packet that does not follow the protocol; `reason` says which part is wrong.
public struct MySQLProtocolError: Error, Sendable, Equatable, CustomStringConvertible {
    public var reason: String
    public init(_ reason: String) { self.reason = reason }
    public var description: String { reason }
}
