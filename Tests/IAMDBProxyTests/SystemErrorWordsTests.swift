import NIOCore
import Testing

@testable import IAMDBProxy

/// Operating-system errors in words, for the messages a person reads.
@Suite struct SystemErrorWordsTests {
    @Test func refusedAndInUseAreSaidInWords() {
        #expect(SystemErrorWords.describe(IOError(errnoCode: 111, reason: "connect")).hasPrefix("connection refused (nothing listens"))
        #expect(SystemErrorWords.describe(IOError(errnoCode: 98, reason: "bind")).hasPrefix("the address is already in use"))
        #expect(SystemErrorWords.describe(IOError(errnoCode: 5, reason: "read")).contains("errno: 5"), "unknown ones keep NIO's text")
    }
}
