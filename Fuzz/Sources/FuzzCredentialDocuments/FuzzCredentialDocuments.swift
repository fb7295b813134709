import Foundation
@testable import AWSAuth

/// What credential endpoints and files answer, parsed: the JSON of the container, IMDS and
/// credential_process providers, the XML of STS, the INI of the shared files, ISO 8601 times.
/// The first input byte picks the parser.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzCredentialDocuments(_ start: UnsafePointer<UInt8>, _ count: Int) -> CInt {
    let input = UnsafeBufferPointer(start: start, count: count)
    guard let control = input.first else { return 0 }
    let text = String(decoding: input.dropFirst(), as: UTF8.self)
    switch control % 4 {
    case 0: _ = try? CredentialDocument.credentials(from: text, provider: "fuzz", now: Date(timeIntervalSince1970: 1_800_000_000))
    case 1: _ = try? INIFile.parse(text: text)
    case 2: for name in ["AccessKeyId", "SecretAccessKey", "SessionToken", "Expiration", "Code", "Message"] { _ = XMLText.first(name, in: text) }
    default: _ = ISO8601.parse(text)
    }
    return 0
}
