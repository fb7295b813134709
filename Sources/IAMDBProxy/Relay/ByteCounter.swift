import Synchronization

/// Bytes relayed by one listener in one direction, added to by every relayed read and read
/// by `/metrics` when scraped: an atomic, because a lock per read would cost the data path.
final class ByteCounter: Sendable {
    private let total = Atomic<Int>(0)
    func add(_ count: Int) { total.wrappingAdd(count, ordering: .relaxed) }
    var value: Int { total.load(ordering: .relaxed) }
}
