import IAMDBProxy

/// The YAML configuration decoder: any text gets a configuration or a ConfigurationError,
/// never a crash.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzConfiguration(_ start: UnsafePointer<UInt8>, _ count: Int) -> CInt {
    let text = String(decoding: UnsafeBufferPointer(start: start, count: count), as: UTF8.self)
    _ = try? ConfigurationLoader.parse(text, file: "fuzz.yaml")
    return 0
}
