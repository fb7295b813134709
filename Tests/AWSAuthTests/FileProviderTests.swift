import Foundation
import TestSupport
import Testing

@testable import AWSAuth

@Suite struct FileProviderTests {
    @Test func environmentProvider() async throws {
        let full = AWSEnvironment(["AWS_ACCESS_KEY_ID": "AKIDENV", "AWS_SECRET_ACCESS_KEY": "s", "AWS_SESSION_TOKEN": "t"])
        let credentials = try await EnvironmentCredentialProvider(environment: full).credentials()
        #expect(credentials.accessKeyID == "AKIDENV" && credentials.sessionToken == "t" && credentials.source == "environment")
        await #expect(throws: CredentialProviderError.notConfigured(provider: "environment", reason: "AWS_ACCESS_KEY_ID not set")) {
            try await EnvironmentCredentialProvider(environment: AWSEnvironment([:])).credentials()
        }
        await #expect { try await EnvironmentCredentialProvider(environment: AWSEnvironment(["AWS_ACCESS_KEY_ID": "x"])).credentials() } throws: { error in
            if case .failed(_, let reason) = error as? CredentialProviderError { return reason.contains("AWS_SECRET_ACCESS_KEY") }
            return false
        }
    }

    @Test func iniParsingHandlesCommentsAndSubsections() throws {
        let sections = try INIFile.parse(text: """
            # comment
            [profile dev]
            region = eu-west-1
            s3 =
              max_concurrent_requests = 20
            Aws_Access_Key_Id=AKID
            [sso-session corp]
            sso_region=us-east-1
            """)
        #expect(sections.count == 2)
        #expect(sections[0].0 == "profile dev")
        #expect(sections[0].1["region"] == "eu-west-1")
        #expect(sections[0].1["aws_access_key_id"] == "AKID")
        #expect(sections[0].1["max_concurrent_requests"] == nil)
        #expect(sections[0].1["s3"] == "\nmax_concurrent_requests = 20")
    }

    @Test func profilesFromBothFilesAndSelection() async throws {
        let folder = try TemporaryFolder()
        let config = try folder.write("config", "[default]\nregion=us-east-1\n[profile dev]\naws_access_key_id=AKIDCONFIG\naws_secret_access_key=s\n")
        let credentialsFile = try folder.write("credentials", "[default]\naws_access_key_id = AKIDCREDS\naws_secret_access_key = s\naws_session_token = t\n")
        let base = ["AWS_CONFIG_FILE": config, "AWS_SHARED_CREDENTIALS_FILE": credentialsFile]
        let environment = AWSEnvironment(base)
        let fromCredentials = try await StaticProfileCredentialProvider(file: .credentials, profile: "default", environment: environment).credentials()
        #expect(fromCredentials.accessKeyID == "AKIDCREDS" && fromCredentials.sessionToken == "t")
        let fromConfig = try await StaticProfileCredentialProvider(file: .config, profile: "dev", environment: environment).credentials()
        #expect(fromConfig.accessKeyID == "AKIDCONFIG")

        var withProfile = base
        withProfile["AWS_PROFILE"] = "dev"
        withProfile["AWS_EC2_METADATA_DISABLED"] = "true"
        let chosen = try await DefaultCredentialChain.make(environment: AWSEnvironment(withProfile)).credentials()
        #expect(chosen.accessKeyID == "AKIDCONFIG" && chosen.source == "config-file")
    }

    @Test func explicitProfileSkipsEnvironmentKeys() async throws {
        let folder = try TemporaryFolder()
        let credentialsFile = try folder.write("credentials", "[dev]\naws_access_key_id=AKIDDEV\naws_secret_access_key=s\n")
        let environment = AWSEnvironment([
            "AWS_ACCESS_KEY_ID": "AKIDSTRAY", "AWS_SECRET_ACCESS_KEY": "s", "AWS_SHARED_CREDENTIALS_FILE": credentialsFile,
            "AWS_CONFIG_FILE": folder.path + "/none", "AWS_EC2_METADATA_DISABLED": "true",
        ])
        #expect(try await DefaultCredentialChain.make(environment: environment).credentials().accessKeyID == "AKIDSTRAY")
        #expect(try await DefaultCredentialChain.make(profile: "dev", environment: environment).credentials().accessKeyID == "AKIDDEV")
    }

    @Test func noCredentialsNamesEveryProvider() async throws {
        let folder = try TemporaryFolder()
        let environment = AWSEnvironment([
            "HOME": folder.path, "AWS_EC2_METADATA_DISABLED": "true",
        ])
        await #expect { try await DefaultCredentialChain.make(environment: environment).credentials() } throws: { error in
            let text = "\(error)"
            return ["environment", "assume-role", "web-identity", "sso", "shared-credentials-file", "process", "config-file", "container", "imds"]
                .allSatisfy { text.contains($0) } && text.contains("AWS_EC2_METADATA_DISABLED")
        }
    }

    /// True once no process runs `command` (polled: a process's end is not an event we can await
    /// from here), false if one still does after 5 s.
    static func isGone(_ command: String) async throws -> Bool {
        for _ in 0..<100 {
            if try runProcess("/usr/bin/pgrep", ["-f", command]).status != 0 { return true }
            try await Task.sleep(for: .milliseconds(50))
        }
        return false
    }

    /// A credential_process that hangs is stopped at the timeout, not left running.
    @Test func hungCredentialProcessIsTerminated() async throws {
        let folder = try TemporaryFolder()
        let marker = "31.\(Int.random(in: 100_000...999_999))"
        let path = try folder.write("hang.sh", "#!/bin/sh\nexec sleep \(marker)\n", executable: true)
        await #expect { try await ProcessCredentialProvider(command: path, timeout: .milliseconds(300)).credentials() } throws: {
            "\($0)".contains("did not finish")
        }
        #expect(try await Self.isGone("sleep \(marker)"), "the timed-out credential_process must be terminated")
    }

    /// The timeout stops what the helper started too (a helper's own children: `aws-vault` runs
    /// `aws`), not only the helper.
    @Test func aTimedOutCredentialProcessIsStoppedWithItsChildren() async throws {
        let folder = try TemporaryFolder()
        let marker = "32.\(Int.random(in: 100_000...999_999))"
        let path = try folder.write("parent.sh", "#!/bin/sh\nsleep \(marker) &\nwait\n", executable: true)
        await #expect { try await ProcessCredentialProvider(command: path, timeout: .milliseconds(300)).credentials() } throws: {
            "\($0)".contains("did not finish") && "\($0)".contains("the processes it started were stopped")
        }
        #expect(try await Self.isGone("sleep \(marker)"), "the helper's child must be stopped with it")
    }

    /// What a failing helper says on standard error goes into the error (bounded, control
    /// characters escaped), not to the proxy's own standard error.
    @Test func aFailingCredentialProcessIsQuotedInTheError() async throws {
        let folder = try TemporaryFolder()
        let path = try folder.write("fail.sh", "#!/bin/sh\nprintf 'SSO session expired\\033[0m; run aws sso login\\n' >&2\nhead -c 10000 /dev/zero | tr '\\0' x >&2\nexit 2\n", executable: true)
        await #expect { try await ProcessCredentialProvider(command: path).credentials() } throws: { error in
            let text = "\(error)"
            return text.contains("exited with status 2: SSO session expired\\u{1b}[0m; run aws sso login\\u{a}xxx") && text.count < 4_300
        }
    }

    @Test func commandLineIsSplitLikeShlex() throws {
        #expect(try CommandLineSplitting.split(#"aws-vault exec  'my profile' --json "a \"b\" c" d\ e"#)
            == ["aws-vault", "exec", "my profile", "--json", #"a "b" c"#, "d e"])
        #expect(throws: CommandLineSplitting.UnbalancedQuote.self) { try CommandLineSplitting.split("tool 'open") }
        #expect(CommandLineSplitting.resolve("sh", path: "/usr/bin:/bin") != nil)
    }

    @Test func credentialProcess() async throws {
        let folder = try TemporaryFolder()
        let good = try folder.write("good.sh", "#!/bin/sh\ncat <<'JSON'\n\(credentialDocument(key: "AKIDPROC", extra: #""Version":1,"#))\nJSON\n", executable: true)
        let credentials = try await ProcessCredentialProvider(command: good).credentials()
        #expect(credentials.accessKeyID == "AKIDPROC" && credentials.expiration != nil)

        let cases: [(String, String)] = [
            ("#!/bin/sh\necho not json\n", "not a credentials JSON"),
            ("#!/bin/sh\necho '{}' ; exit 3\n", "exited with status 3"),
            ("#!/bin/sh\necho '\(credentialDocument(key: "A"))'\n", "Version"),
            ("#!/bin/sh\necho '\(credentialDocument(key: "A", expiresIn: -60, extra: #""Version":1,"#))'\n", "already expired"),
            ("#!/bin/sh\nsleep 30\n", "did not finish"),
        ]
        for (index, (script, expected)) in cases.enumerated() {
            let path = try folder.write("bad\(index).sh", script, executable: true)
            await #expect { try await ProcessCredentialProvider(command: path, timeout: .milliseconds(500)).credentials() } throws: { error in
                "\(error)".contains(expected)
            }
        }
    }
}

/// The files as botocore reads them (RawConfigParser), where they once differed.
@Suite struct SharedFileDialectTests {
    /// `AWS_CONFIG_FILE=/dev/null` is the usual way to say "no config file".
    @Test func devNullIsAnEmptyFile() throws {
        let files = try SharedConfigFiles.load(environment: AWSEnvironment(["AWS_CONFIG_FILE": "/dev/null", "AWS_SHARED_CREDENTIALS_FILE": "/dev/null"]))
        #expect(files.configProfiles.isEmpty && files.credentialsProfiles.isEmpty)
    }

    /// Texts botocore's reader (`botocore.configloader.raw_config_parse`) parses one way, or
    /// refuses; ours must agree on each (Oracle/botocore_ini.py).
    @Test func theReaderAgreesWithBotocoresOnEveryText() throws {
        let texts = [
            "[default]\naws_secret_access_key = abc #not a comment\ncredential_process = /bin/helper --flag ;x\n",
            "[default]\nregion: eu-west-1\n",
            "[default]\nregion = us-east-1\n[default]\nregion = eu-west-1\n",
            "[default]\nregion = us-east-1\nregion = eu-west-1\n",
            "[default]\n  # an indented comment\nregion = us-east-1\n; another\n",
            "region = us-east-1\n[default]\n",
            "[default]\njust some words\n",
            "[profile dev]\ns3 =\n  max_concurrent_requests = 20\n  addressing_style = path\nregion=ap-south-1\n",
            "[default]\nCredential_Process = helper\n  --continued\n",
            "[default]\n",
            "",
        ]
        let folder = try TemporaryFolder()
        let paths = try texts.enumerated().map { try folder.write("ini\($0.offset)", $0.element) }
        let oracle = repositoryRoot.appendingPathComponent("Tests/AWSAuthTests/Oracle/botocore_ini.py").path
        let result = try runProcess("/usr/bin/env", ["python3", oracle] + paths)
        try #require(result.status == 0, "botocore oracle failed: \(result.stderr)")
        let expected = try JSONSerialization.jsonObject(with: Data(result.stdout.utf8)) as! [Any]
        for (index, path) in paths.enumerated() {
            let ours: Any
            do {
                let sections = try INIFile.parse(path: path)
                ours = Dictionary(sections, uniquingKeysWith: { first, _ in first })
            } catch {
                ours = "error"
            }
            let botocore = expected[index]
            if let refused = botocore as? String {
                #expect(ours as? String == "error", "text \(index): botocore refuses it (\(refused)); ours read \(ours)")
            } else {
                #expect((ours as? [String: [String: String]]) == (botocore as? [String: [String: String]]),
                        "text \(index): botocore read \(botocore), ours \(ours)")
            }
        }
    }
}

/// Configured endpoints, in the SDKs' order: the service's variable, the global variable, the
/// profile's `services` section, the profile's `endpoint_url`; none when told to ignore them.
@Suite struct ConfiguredEndpointTests {
    @Test func theSDKsOrder() throws {
        let folder = try TemporaryFolder()
        let config = try folder.write("config", """
            [profile dev]
            services = local
            endpoint_url = http://profile.example
            [profile plain]
            endpoint_url = http://plain.example
            [profile ignoring]
            endpoint_url = http://ignored.example
            ignore_configured_endpoint_urls = true
            [services local]
            sts =
              endpoint_url = http://sts.local.example
            sso_oidc =
              endpoint_url = http://oidc.local.example
            """)
        let files = ["AWS_CONFIG_FILE": config, "AWS_SHARED_CREDENTIALS_FILE": folder.path + "/none"]
        func endpoint(_ service: String, _ profile: String, _ extra: [String: String] = [:]) -> String? {
            AWSEnvironment(files.merging(extra) { $1 }).endpointOverride(serviceEnvironmentName: service, profile: profile)
        }
        #expect(endpoint("STS", "dev") == "http://sts.local.example")
        #expect(endpoint("SSO_OIDC", "dev") == "http://oidc.local.example")
        #expect(endpoint("SSO", "dev") == "http://profile.example", "no services entry for sso: the profile's endpoint_url")
        #expect(endpoint("STS", "plain") == "http://plain.example")
        #expect(endpoint("STS", "dev", ["AWS_ENDPOINT_URL": "http://global.example"]) == "http://global.example")
        #expect(endpoint("STS", "dev", ["AWS_ENDPOINT_URL": "http://global.example", "AWS_ENDPOINT_URL_STS": "http://sts.example"]) == "http://sts.example")
        #expect(endpoint("STS", "dev", ["AWS_IGNORE_CONFIGURED_ENDPOINT_URLS": "true", "AWS_ENDPOINT_URL_STS": "http://sts.example"]) == nil)
        #expect(endpoint("STS", "ignoring") == nil)
        #expect(endpoint("STS", "default") == nil)
    }
}
