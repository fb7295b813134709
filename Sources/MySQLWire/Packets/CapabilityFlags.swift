/// The capability flags of HandshakeV10 and HandshakeResponse41. The low 32 bits are MySQL's;
/// MariaDB sends 32 more ("extended capabilities") in the greeting's and the response's
/// reserved bytes when `clientMySQL` is clear, stored here as bits 32–63.
public struct CapabilityFlags: OptionSet, Sendable, Hashable, CustomStringConvertible {
    public var rawValue: UInt64
    public init(rawValue: UInt64) { self.rawValue = rawValue }

    /// `CLIENT_LONG_PASSWORD` for MySQL; MariaDB servers clear it to say "extended capabilities follow".
    public static let clientMySQL = Self(rawValue: 1 << 0)
    public static let foundRows = Self(rawValue: 1 << 1)
    public static let longFlag = Self(rawValue: 1 << 2)
    public static let connectWithDB = Self(rawValue: 1 << 3)
    public static let noSchema = Self(rawValue: 1 << 4)
    public static let compress = Self(rawValue: 1 << 5)
    public static let odbc = Self(rawValue: 1 << 6)
    public static let localFiles = Self(rawValue: 1 << 7)
    public static let ignoreSpace = Self(rawValue: 1 << 8)
    public static let protocol41 = Self(rawValue: 1 << 9)
    public static let interactive = Self(rawValue: 1 << 10)
    public static let ssl = Self(rawValue: 1 << 11)
    public static let ignoreSigpipe = Self(rawValue: 1 << 12)
    public static let transactions = Self(rawValue: 1 << 13)
    public static let secureConnection = Self(rawValue: 1 << 15)
    public static let multiStatements = Self(rawValue: 1 << 16)
    public static let multiResults = Self(rawValue: 1 << 17)
    public static let psMultiResults = Self(rawValue: 1 << 18)
    public static let pluginAuth = Self(rawValue: 1 << 19)
    public static let connectAttributes = Self(rawValue: 1 << 20)
    public static let pluginAuthLengthEncodedData = Self(rawValue: 1 << 21)
    public static let canHandleExpiredPasswords = Self(rawValue: 1 << 22)
    public static let sessionTrack = Self(rawValue: 1 << 23)
    public static let deprecateEOF = Self(rawValue: 1 << 24)
    public static let optionalResultsetMetadata = Self(rawValue: 1 << 25)
    public static let zstdCompression = Self(rawValue: 1 << 26)
    public static let queryAttributes = Self(rawValue: 1 << 27)
    public static let multiFactorAuthentication = Self(rawValue: 1 << 28)
    public static let capabilityExtension = Self(rawValue: 1 << 29)
    public static let sslVerifyServerCertificate = Self(rawValue: 1 << 30)
    public static let rememberOptions = Self(rawValue: 1 << 31)

    public static let mariaDBProgress = Self(rawValue: 1 << 32)
    public static let mariaDBCommandMulti = Self(rawValue: 1 << 33)
    public static let mariaDBBulkOperations = Self(rawValue: 1 << 34)
    public static let mariaDBExtendedTypeInfo = Self(rawValue: 1 << 35)
    public static let mariaDBCacheMetadata = Self(rawValue: 1 << 36)
    public static let mariaDBBulkUnitResults = Self(rawValue: 1 << 37)

    /// What the proxy never offers a client: compression would hide the command stream the
    /// proxy must frame (for COM_CHANGE_USER and KILL), query attributes change COM_QUERY's
    /// layout, and multi-factor authentication cannot be answered with one token.
    public static let neverOffered: Self = [.compress, .zstdCompression, .queryAttributes, .multiFactorAuthentication]

    /// Flags that only steer the connection phase, which the proxy runs itself on each leg.
    public static let connectionPhaseOnly: Self = [
        .ssl, .secureConnection, .pluginAuth, .pluginAuthLengthEncodedData, .connectWithDB, .connectAttributes,
        .sslVerifyServerCertificate, .rememberOptions, .canHandleExpiredPasswords, .interactive, .clientMySQL,
    ]

    /// What the proxy's own short-lived logins ask for (a KILL, `check --connect`).
    public static let minimalClient: Self = [.protocol41, .secureConnection, .pluginAuth, .pluginAuthLengthEncodedData, .longFlag, .transactions]

    public var lower: UInt32 { UInt32(truncatingIfNeeded: rawValue) }
    public var extended: UInt32 { UInt32(truncatingIfNeeded: rawValue >> 32) }

    public init(lower: UInt32, extended: UInt32 = 0) {
        rawValue = UInt64(lower) | UInt64(extended) << 32
    }

    public var description: String { "0x" + String(rawValue, radix: 16) }
}
