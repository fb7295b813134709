import Testing

@testable import IAMDBProxy

@Suite struct ProxyVersionTests {
    @Test func versionIsSemantic() {
        let parts = ProxyVersion.string.split(separator: ".")
        #expect(parts.count == 3 && parts.allSatisfy { Int($0) != nil })
    }
}
