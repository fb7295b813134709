import ArgumentParser
import IAMDBProxy

@main
struct IAMDBProxyCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "iam-db-proxy",
        abstract: "A local proxy that logs unmodified applications in to RDS / Aurora with IAM database authentication.",
        discussion: """
            Applications connect in plaintext to a loopback listener with no password; the proxy opens \
            TLS to the database and answers its password request with an IAM auth token signed from \
            the standard AWS credentials chain.
            """,
        version: ProxyVersion.string,
        subcommands: [RunCommand.self, CheckCommand.self, TokenCommand.self, HealthCommand.self, VersionCommand.self],
        defaultSubcommand: RunCommand.self
    )

    /// `--user=` means what `--user ""` means (ArgumentParser would call it a missing value),
    /// so an empty value gets the command's own message about it.
    static func main() async {
        await main(emptyValuesSpelledOut(Array(CommandLine.arguments.dropFirst())))
    }

    static func emptyValuesSpelledOut(_ arguments: [String]) -> [String] {
        arguments.flatMap { argument in
            argument.hasPrefix("--") && argument.hasSuffix("=") && argument.count > 3 ? [String(argument.dropLast()), ""] : [argument]
        }
    }
}

struct VersionCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "version", abstract: "Print the version.")

    func run() {
        print("iam-db-proxy \(ProxyVersion.string)")
    }
}
