/// RFC 3986 percent-encoding as SigV4 requires it: the unreserved characters
/// `A-Z a-z 0-9 - . _ ~` stay, every other UTF-8 byte becomes `%XX` with upper-case hex.
/// (botocore's `percent_encode(value, safe='-_.~')`; `@` becomes `%40`, space `%20`.)
enum PercentEncoding {
    private static let hexDigits: [UInt8] = Array("0123456789ABCDEF".utf8)

    static func isUnreserved(_ byte: UInt8) -> Bool {
        switch byte {
        case UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "a")...UInt8(ascii: "z"),
            UInt8(ascii: "0")...UInt8(ascii: "9"),
            UInt8(ascii: "-"), UInt8(ascii: "."), UInt8(ascii: "_"), UInt8(ascii: "~"):
            return true
        default:
            return false
        }
    }

    static func encodedBytes(_ value: String) -> [UInt8] {
        let utf8 = value.utf8
        // Worst case three bytes out per byte in: one allocation, no regrowth.
        return [UInt8](unsafeUninitializedCapacity: utf8.count * 3) { buffer, count in
            var index = 0
            for byte in utf8 {
                if isUnreserved(byte) {
                    buffer[index] = byte
                    index += 1
                } else {
                    buffer[index] = UInt8(ascii: "%")
                    buffer[index + 1] = hexDigits[Int(byte >> 4)]
                    buffer[index + 2] = hexDigits[Int(byte & 0x0F)]
                    index += 3
                }
            }
            count = index
        }
    }

    static func encode(_ value: String) -> String {
        if value.utf8.allSatisfy(isUnreserved) { return value }
        return String(decoding: encodedBytes(value), as: UTF8.self)
    }
}

enum Hex {
    private static let digits: [UInt8] = Array("0123456789abcdef".utf8)

    static func lowercase<Bytes: Sequence>(_ bytes: Bytes) -> String where Bytes.Element == UInt8 {
        var out: [UInt8] = []
        out.reserveCapacity(64)
        for byte in bytes {
            out.append(digits[Int(byte >> 4)])
            out.append(digits[Int(byte & 0x0F)])
        }
        return String(decoding: out, as: UTF8.self)
    }
}
