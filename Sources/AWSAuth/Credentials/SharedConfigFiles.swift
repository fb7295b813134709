import Foundation

/// The shared AWS `config` and `credentials` files. In `config`, sections are
/// `[default]`, `[profile NAME]` and `[sso-session NAME]`; in `credentials` they are `[NAME]`.
/// Missing files are empty; an unreadable file is an error naming it.
public struct SharedConfigFiles: Sendable {
    public typealias Section = [String: String]

    public var configProfiles: [String: Section] = [:]
    public var credentialsProfiles: [String: Section] = [:]
    public var ssoSessions: [String: Section] = [:]
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
            }
        }
        for (title, section) in try INIFile.parse(path: files.credentialsPath) {
            files.credentialsProfiles[title] = section
        }
        return files
    }

    /// A profile's settings: the credentials file's keys win over the config file's.
    public func profile(_ name: String) -> Section? {
        let config = configProfiles[name]
        let credentials = credentialsProfiles[name]
        if config == nil && credentials == nil { return nil }
        return (config ?? [:]).merging(credentials ?? [:]) { _, fromCredentials in fromCredentials }
    }
}

/// Which profile to use: one named in our configuration or by a flag, else `AWS_PROFILE`,
/// else `AWS_DEFAULT_PROFILE`, else `default`.
public struct ProfileSelection: Sendable, Equatable {
    public let name: String
    /// Named in the proxy's configuration or on the command line: the environment provider is
    /// then skipped, as botocore does for a session created with an explicit profile.
    public let isExplicit: Bool

    public init(explicit: String?, environment: AWSEnvironment) {
        if let explicit, !explicit.isEmpty {
            name = explicit
            isExplicit = true
        } else {
            name = environment["AWS_PROFILE"] ?? environment["AWS_DEFAULT_PROFILE"] ?? "default"
            isExplicit = false
        }
    }
}

/// The INI dialect of the AWS files: `#`/`;` comment lines, `key = value`, and indented
/// sub-settings (as in `s3 =` blocks) which belong to the key above and are skipped here.
enum INIFile {
    static func parse(path: String) throws -> [(String, [String: String])] {
        guard FileManager.default.fileExists(atPath: path) else { return [] }
        guard let data = FileManager.default.contents(atPath: path) else {
            throw CredentialProviderError.failed(provider: "shared-config", reason: "cannot read \(path)")
        }
        return parse(text: String(decoding: data, as: UTF8.self))
    }

    static func parse(text: String) -> [(String, [String: String])] {
        var sections: [(String, [String: String])] = []
        for rawLine in text.split(whereSeparator: \.isNewline) {
            let line = rawLine.trimmingCharacters(in: .whitespaces)
            if line.isEmpty || line.hasPrefix("#") || line.hasPrefix(";") { continue }
            if rawLine.first == " " || rawLine.first == "\t" { continue }
            if line.hasPrefix("[") && line.hasSuffix("]") {
                sections.append((line.dropFirst().dropLast().trimmingCharacters(in: .whitespaces), [:]))
                continue
            }
            guard !sections.isEmpty, let equals = line.firstIndex(of: "=") else { continue }
            let key = line[..<equals].trimmingCharacters(in: .whitespaces).lowercased()
            var value = line[line.index(after: equals)...].trimmingCharacters(in: .whitespaces)
            if let comment = value.range(of: " #") ?? value.range(of: " ;") {
                value = value[..<comment.lowerBound].trimmingCharacters(in: .whitespaces)
            }
            sections[sections.count - 1].1[key] = value
        }
        return sections
    }
}
