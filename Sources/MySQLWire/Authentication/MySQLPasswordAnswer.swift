import Crypto

/// What a client answers a MySQL/MariaDB authentication plugin with when it knows the password
/// (Secrets Manager users; IAM tokens always go as `mysql_clear_password`). The scrambles prove
/// the password against the server's nonce without sending it; the clear plugins send it, which
/// the proxy only ever does over its verified TLS.
public enum MySQLPasswordAnswer {
    public static let nativePassword = "mysql_native_password"
    public static let cachingSHA2Password = "caching_sha2_password"
    public static let clearPassword = "mysql_clear_password"
    /// MySQL's RSA plugin: over TLS the password goes in clear.
    public static let sha256Password = "sha256_password"
    /// MariaDB's PAM conversation; its one password prompt takes the clear password.
    public static let dialog = "dialog"

    /// caching_sha2_password's AuthMoreData: the scramble matched the server's cache.
    public static let fastAuthenticationSucceeded: [UInt8] = [0x03]
    /// caching_sha2_password's AuthMoreData: the server wants the password itself (over TLS).
    public static let fullAuthenticationRequested: [UInt8] = [0x04]

    /// The plugins a known password can answer.
    public static let supportedPlugins = [nativePassword, cachingSHA2Password, clearPassword, sha256Password, dialog]

    public static func isSupported(_ plugin: String) -> Bool { supportedPlugins.contains(plugin) }

    /// The answer `plugin` expects for `password` and the server's 20-byte `nonce`, or nil for a
    /// plugin the proxy cannot answer (client_ed25519, GSSAPI, mysql_old_password).
    public static func answer(plugin: String, password: String, nonce: [UInt8]) -> [UInt8]? {
        switch plugin {
        case nativePassword: return native(password: Array(password.utf8), nonce: nonce)
        case cachingSHA2Password: return cachingSHA2(password: Array(password.utf8), nonce: nonce)
        case clearPassword, sha256Password, dialog: return clear(password)
        default: return nil
        }
    }

    /// The password's bytes and a NUL, as the clear plugins and a full authentication send it.
    public static func clear(_ password: String) -> [UInt8] { Array(password.utf8) + [0] }

    /// SHA1(password) XOR SHA1(nonce + SHA1(SHA1(password))); empty for an empty password.
    static func native(password: [UInt8], nonce: [UInt8]) -> [UInt8] {
        guard !password.isEmpty else { return [] }
        let hashed = Array(Insecure.SHA1.hash(data: password))
        let twice = Array(Insecure.SHA1.hash(data: hashed))
        let mask = Array(Insecure.SHA1.hash(data: nonce.prefix(20) + twice))
        return zip(hashed, mask).map { $0 ^ $1 }
    }

    /// SHA256(password) XOR SHA256(SHA256(SHA256(password)) + nonce); empty for an empty password.
    static func cachingSHA2(password: [UInt8], nonce: [UInt8]) -> [UInt8] {
        guard !password.isEmpty else { return [] }
        let hashed = Array(SHA256.hash(data: password))
        let twice = Array(SHA256.hash(data: hashed))
        let mask = Array(SHA256.hash(data: twice + nonce.prefix(20)))
        return zip(hashed, mask).map { $0 ^ $1 }
    }
}
