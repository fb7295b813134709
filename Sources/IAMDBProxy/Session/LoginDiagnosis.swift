/// A table that turns a server's login refusal into its likely cause, matched on the server's
/// words. Each engine has its rows; the matching is this one piece.
protocol LoginDiagnosis {
    /// A row applies when the reason contains every `match` (lower case).
    static var rows: [(match: [String], cause: String)] { get }
}

extension LoginDiagnosis {
    /// The cause of the first row that applies to `reason`, or nil.
    static func likelyCause(of reason: String) -> String? {
        let text = reason.lowercased()
        return rows.first { row in row.match.allSatisfy { text.contains($0) } }?.cause
    }
}
