import Crypto
import Foundation

/// The client side of SCRAM-SHA-256 (RFC 5802/7677) as PostgreSQL uses it: an empty user name
/// (the server takes the startup packet's), and either no channel binding (`n,,`) or, as
/// SCRAM-SHA-256-PLUS, `tls-server-end-point` binding to the verified server certificate.
public struct SCRAMSHA256Client: Sendable {
    public static let mechanism = "SCRAM-SHA-256"
    public static let channelBindingMechanism = "SCRAM-SHA-256-PLUS"

    let password: String
    let clientNonce: String
    /// `n,,` or `p=tls-server-end-point,,`: sent first, and bound into the proof.
    let gs2Header: String
    let channelBinding: [UInt8]
    private(set) var clientFirstBare: String
    private(set) var expectedServerSignature: [UInt8]?

    /// `user` stays empty for PostgreSQL; the RFC test vectors name one. `channelBinding`: the
    /// `TLSServerEndPoint` data, for SCRAM-SHA-256-PLUS.
    public init(password: String, user: String = "", clientNonce: String? = nil, channelBinding: [UInt8]? = nil) {
        self.password = password
        var random = SystemRandomNumberGenerator()
        self.clientNonce = clientNonce ?? Data((0..<18).map { _ in UInt8.random(in: 0...255, using: &random) }).base64EncodedString()
        clientFirstBare = "n=\(user),r=\(self.clientNonce)"
        gs2Header = channelBinding == nil ? "n,," : "p=\(TLSServerEndPoint.name),,"
        self.channelBinding = channelBinding ?? []
    }

    public var mechanism: String { channelBinding.isEmpty ? Self.mechanism : Self.channelBindingMechanism }

    public var clientFirstMessage: [UInt8] { Array("\(gs2Header)\(clientFirstBare)".utf8) }

    /// Answers the server-first message with the client-final message.
    public mutating func clientFinalMessage(serverFirst: [UInt8]) throws(PostgresProtocolError) -> [UInt8] {
        let serverFirstText = String(decoding: serverFirst, as: UTF8.self)
        var attributes: [Character: String] = [:]
        for part in serverFirstText.split(separator: ",") where part.count >= 2 && part.dropFirst().first == "=" {
            attributes[part.first!] = String(part.dropFirst(2))
        }
        guard let nonce = attributes["r"], nonce.hasPrefix(clientNonce), nonce.count > clientNonce.count,
            let saltText = attributes["s"], let salt = Data(base64Encoded: saltText),
            let iterationsText = attributes["i"], let iterations = Int(iterationsText), iterations > 0, iterations <= 1_000_000
        else { throw .malformed("bad SCRAM server-first message") }
        let saltedPassword = Self.pbkdf2(password: Array(password.utf8), salt: Array(salt), iterations: iterations)
        let clientKey = Self.hmac(saltedPassword, "Client Key")
        let storedKey = Array(SHA256.hash(data: clientKey))
        let clientFinalWithoutProof = "c=\(Data(Array(gs2Header.utf8) + channelBinding).base64EncodedString()),r=\(nonce)"
        let authMessage = "\(clientFirstBare),\(serverFirstText),\(clientFinalWithoutProof)"
        let clientSignature = Self.hmac(storedKey, authMessage)
        let proof = zip(clientKey, clientSignature).map { $0 ^ $1 }
        expectedServerSignature = Self.hmac(Self.hmac(saltedPassword, "Server Key"), authMessage)
        return Array("\(clientFinalWithoutProof),p=\(Data(proof).base64EncodedString())".utf8)
    }

    /// Checks the server-final message: the server proves it knew the password too.
    public func verify(serverFinal: [UInt8]) throws(PostgresProtocolError) {
        let text = String(decoding: serverFinal, as: UTF8.self)
        guard text.hasPrefix("v="), let signature = Data(base64Encoded: String(text.dropFirst(2))),
            let expected = expectedServerSignature, Array(signature) == expected
        else { throw .malformed("SCRAM server signature does not verify") }
    }

    static func hmac(_ key: [UInt8], _ message: String) -> [UInt8] { hmac(key, Array(message.utf8)) }

    static func hmac(_ key: [UInt8], _ message: [UInt8]) -> [UInt8] {
        Array(HMAC<SHA256>.authenticationCode(for: message, using: SymmetricKey(data: key)))
    }

    /// PBKDF2-HMAC-SHA256 for one 32-byte block, which is all SCRAM-SHA-256 needs.
    static func pbkdf2(password: [UInt8], salt: [UInt8], iterations: Int) -> [UInt8] {
        let key = SymmetricKey(data: password)
        var block = Array(HMAC<SHA256>.authenticationCode(for: salt + [0, 0, 0, 1], using: key))
        var result = block
        for _ in 1..<iterations {
            block = Array(HMAC<SHA256>.authenticationCode(for: block, using: key))
            for index in result.indices { result[index] ^= block[index] }
        }
        return result
    }
}

/// PostgreSQL's MD5 password answer: `"md5" + md5hex(md5hex(password + user) + salt)`.
public enum MD5PasswordAnswer {
    public static func answer(password: String, user: String, salt: [UInt8]) -> String {
        let inner = hex(Insecure.MD5.hash(data: Array((password + user).utf8)))
        return "md5" + hex(Insecure.MD5.hash(data: Array(inner.utf8) + salt))
    }

    private static func hex<Bytes: Sequence>(_ bytes: Bytes) -> String where Bytes.Element == UInt8 {
        bytes.map { String($0, radix: 16).count == 1 ? "0" + String($0, radix: 16) : String($0, radix: 16) }.joined()
    }
}
