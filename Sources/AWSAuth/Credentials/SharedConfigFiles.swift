import Foundation

/// The shared AWS `config` and `credentials` files. In `config`, sections are
/// `[default]`, `[profile NAME]` and `[sso-session NAME]`; in `credentials` they are `[NAME]`.
/// Missing files are empty; an unreadable file is an error naming it.
public struct SharedConfigFiles: Sendable {
    public typealias Section = [String: String]

    public var configProfiles: [String: Section] = [:]
    public var credentialsProfiles: [String: Section] = [:]
    public var ssoSessions: [String: Section] = [:]
    /// `[services NAME]` sections of the config file: per-service settings a profile names.
    public var services: [String: Section] = [:]
    public var configPath: String = ""
    public var credentialsPath: String = ""

    public init() {}

    public static func load(environment: AWSEnvironment) throws -> SharedConfigFiles {
        var files = SharedConfigFiles()
        files.configPath = environment.configFilePath
        files.credentialsPath = environment.credentialsFilePath
        for (title, section) in try INIFile.parse(path: files.configPath) {
            if title == "default" {
                files.configProfiles["default"] = section
            } else if title.hasPrefix("profile ") {
                files.configProfiles[title.dropFirst("profile ".count).trimmingCharacters(in: .whitespaces)] = section
            } else if title.hasPrefix("sso-session ") {
                files.ssoSessions[title.dropFirst("sso-session ".count).trimmingCharacters(in: .whitespaces)] = section
            } else if title.hasPrefix("services ") {
                files.services[title.dropFirst("services ".count).trimmingCharacters(in: .whitespaces)] = section
            }
        }
        for (title, section) in try INIFile.parse(path: files.credentialsPath) {
            files.credentialsProfiles[title] = section
        }
        return files
    }

    /// The `key = value` lines of a nested value (`sts =` followed by indented settings).
    public static func nestedSettings(_ value: String) -> [String: String] {
        var settings: [String: String] = [:]
        for line in value.split(whereSeparator: \.isNewline) {
            guard let equals = line.firstIndex(of: "=") else { continue }
            settings[line[..<equals].trimmingCharacters(in: .whitespaces).lowercased()] = line[line.index(after: equals)...].trimmingCharacters(in: .whitespaces)
        }
        return settings
    }

    /// A profile's settings: the credentials file's keys win over the config file's.
    public func profile(_ name: String) -> Section? {
        let config = configProfiles[name]
        let credentials = credentialsProfiles[name]
        if config == nil && credentials == nil { return nil }
        return (config ?? [:]).merging(credentials ?? [:]) { _, fromCredentials in fromCredentials }
    }
}

/// Which profile to use: one named in our configuration or by a flag, else
/// `AWS_DEFAULT_PROFILE`, else `AWS_PROFILE` (botocore reads them in that order), else `default`.
public struct ProfileSelection: Sendable, Equatable {
    public let name: String
    /// Named in the proxy's configuration or on the command line: the environment provider and
    /// the web-identity variables are then skipped, as botocore does for a session created with
    /// an explicit profile.
    public let isExplicit: Bool
    /// Where the name came from (`--profile`, `AWS_PROFILE`, …); nil for the implicit `default`.
    public let namedBy: String?

    public init(explicit: String?, environment: AWSEnvironment) {
        if let explicit, !explicit.isEmpty {
            name = explicit
            isExplicit = true
            namedBy = "--profile / aws.profile"
        } else if let variable = ["AWS_DEFAULT_PROFILE", "AWS_PROFILE"].first(where: { environment[$0] != nil }) {
            name = environment[variable]!
            isExplicit = false
            namedBy = variable
        } else {
            name = "default"
            isExplicit = false
            namedBy = nil
        }
    }

    /// A profile that was named must exist in one of the files (botocore's ProfileNotFound):
    /// otherwise the chain would go on to the container or instance role and sign as them.
    public func checkExists(environment: AWSEnvironment) throws {
        guard let namedBy else { return }
        let files = try SharedConfigFiles.load(environment: environment)
        guard files.profile(name) == nil else { return }
        throw CredentialProviderError.failed(
            provider: "profile",
            reason: "the profile \(name) (from \(namedBy)) is in neither \(files.configPath) nor \(files.credentialsPath); "
                + "check the name, or AWS_CONFIG_FILE / AWS_SHARED_CREDENTIALS_FILE")
    }
}

/// The INI dialect of the AWS files, as botocore reads it (Python's `RawConfigParser`, strict):
/// `#` and `;` start a comment only at the start of a line (never inside a value, where a
/// secret or a `credential_process` command may hold them), `key = value` or `key: value`,
/// keys in lower case, a line indented deeper than its key continues the value (`s3 =` blocks),
/// and a repeated section or key, a key line without `=` or `:`, or a key before any section is
/// an error naming the file and line — botocore refuses such a file too.
enum INIFile {
    struct ParseError: Error, CustomStringConvertible {
        let line: Int
        let reason: String
        var description: String { "line \(line): \(reason)" }
    }

    static func parse(path: String) throws -> [(String, [String: String])] {
        guard FileManager.default.fileExists(atPath: path) else { return [] }
        // FileHandle, not FileManager.contents: the latter answers nil for /dev/null.
        guard let handle = FileHandle(forReadingAtPath: path) else {
            throw CredentialProviderError.failed(provider: "shared-config", reason: "cannot read \(path)")
        }
        defer { try? handle.close() }
        let data = (try? handle.readToEnd()) ?? Data()
        let text = String(decoding: data, as: UTF8.self)
        switch Result(catching: { try parse(text: text) }) {
        case .success(let sections): return sections
        case .failure(let error): throw CredentialProviderError.failed(provider: "shared-config", reason: "\(path) \(error) (botocore refuses this file too)")
        }
    }

    static func parse(text: String) throws -> [(String, [String: String])] {
        var sections: [(String, [String: String])] = []
        var seen: Set<String> = []
        var current: (key: String, indent: Int)?
        for (index, rawLine) in text.split(omittingEmptySubsequences: false, whereSeparator: \.isNewline).enumerated() {
            let line = rawLine.trimmingCharacters(in: .whitespaces)
            if line.hasPrefix("#") || line.hasPrefix(";") { continue }
            let indent = rawLine.prefix { $0 == " " || $0 == "\t" }.count
            if line.isEmpty { continue }
            if let (key, keyIndent) = current, indent > keyIndent, !sections.isEmpty {
                let value = sections[sections.count - 1].1[key] ?? ""
                sections[sections.count - 1].1[key] = value + "\n" + line
                continue
            }
            current = nil
            if line.hasPrefix("["), let close = line.lastIndex(of: "]"), close > line.index(after: line.startIndex) {
                let title = line[line.index(after: line.startIndex)..<close].trimmingCharacters(in: .whitespaces)
                guard seen.insert(title).inserted else { throw ParseError(line: index + 1, reason: "section [\(title)] appears twice") }
                sections.append((title, [:]))
                continue
            }
            guard !sections.isEmpty else { throw ParseError(line: index + 1, reason: "a setting before any [section]") }
            guard let delimiter = line.firstIndex(where: { $0 == "=" || $0 == ":" }) else {
                throw ParseError(line: index + 1, reason: "neither key = value nor a [section]")
            }
            let key = line[..<delimiter].trimmingCharacters(in: .whitespaces).lowercased()
            guard !key.isEmpty else { throw ParseError(line: index + 1, reason: "a value without a key") }
            guard sections[sections.count - 1].1[key] == nil else {
                throw ParseError(line: index + 1, reason: "\(key) appears twice in [\(sections[sections.count - 1].0)]")
            }
            sections[sections.count - 1].1[key] = line[line.index(after: delimiter)...].trimmingCharacters(in: .whitespaces)
            current = (key, indent)
        }
        return sections
    }
}
