/// Says why a listening socket could not be opened in words and with the fix, rather than as
/// `bind(descriptor:ptr:bytes:) (errno: 98)`.
enum ListenFailure {
    static func describe(_ error: any Error) -> String { SystemErrorWords.describe(error) }
}
