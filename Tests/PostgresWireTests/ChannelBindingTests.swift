import Foundation
import NIOCore
import Testing

@testable import PostgresWire

/// SCRAM-SHA-256-PLUS with `tls-server-end-point`. Certificates made with openssl; expected hashes
/// from `openssl x509 -outform DER | sha256sum` (or the hash the signature names); the expected
/// client-final message from an independent Python SCRAM computation.
@Suite struct ChannelBindingTests {
    static func der(_ base64: String) -> [UInt8] { Array(Data(base64Encoded: base64)!) }

    static let ecdsaSHA256 = der("MIIBczCCARmgAwIBAgIUcyfUdbR0aGKWly87aWKwZCkcKfkwCgYIKoZIzj0EAwIwDzENMAsGA1UEAwwEcDI1NjAeFw0yNjEyMDQyMTUyNTJaFw0zNjEyMDEyMTUyNTJaMA8xDTALBgNVBAMMBHAyNTYwWTATBgcqhkjOPQIBBggqhkjOPQMBBwNCAASSNQ+MquorOJjdympzcG6sQHwUF+iaQZZuhl8VipvZiwu0ERrvwbhItbhvFEXIVcTBpIQkSTSe/FDcAkESlsrIo1MwUTAdBgNVHQ4EFgQUy2ZqNO/Jnp12a1W4DhF0sOpXj74wHwYDVR0jBBgwFoAUy2ZqNO/Jnp12a1W4DhF0sOpXj74wDwYDVR0TAQH/BAUwAwEB/zAKBggqhkjOPQQDAgNIADBFAiAQQpKS4oF3NzRLiwUYP6QeMamVXwYZzMqIScCY8nzPGAIhANl884S11m013ik15LQKMcoZl+FyaDV+HMrscuh9/ViS")
    static let ecdsaSHA384 = der("MIIBsTCCATagAwIBAgIUBudHs3hCwV8f2P/aVDcCcxVwbDMwCgYIKoZIzj0EAwMwDzENMAsGA1UEAwwEcDM4NDAeFw0yNjEyMDQyMTUyNTJaFw0zNjEyMDEyMTUyNTJaMA8xDTALBgNVBAMMBHAzODQwdjAQBgcqhkjOPQIBBgUrgQQAIgNiAAQF539mmmgFif2Z8KWntp2ZgRL1GoOGwNTLPEcruyhHT8pcX1BYi3w48n/3iveTlE8OC6OVVmIrzMw7bFWJETwN5dTlwL4Y1/jAXOHHlDuD+E2Ef7spwyHPC1iKzocRH26jUzBRMB0GA1UdDgQWBBRr0phCdH5KFC4PcNn1DCVovvA1DTAfBgNVHSMEGDAWgBRr0phCdH5KFC4PcNn1DCVovvA1DTAPBgNVHRMBAf8EBTADAQH/MAoGCCqGSM49BAMDA2kAMGYCMQCWTHJZ4i2IZ8X+wcydmMM+ALPZxIhiC2m1hLf8fZIBd9vCdfPHkdc8bsArl4/J0QQCMQDkVlLks011a+1/Sf+4aaNlwEYLiUwEOEaHs0kB3oFt94kUXo97fSdTug7E78US3I4=")
    static let rsaSHA1 = der("MIIB+jCCAWOgAwIBAgIUF30cDrkQf0d2tAlXXAOxbYr+2VAwDQYJKoZIhvcNAQEFBQAwDzENMAsGA1UEAwwEc2hhMTAeFw0yNjEyMDQyMTUyNTJaFw0zNjEyMDEyMTUyNTJaMA8xDTALBgNVBAMMBHNoYTEwgZ8wDQYJKoZIhvcNAQEBBQADgY0AMIGJAoGBAP0XXZBNXc4R1bPaSNRs+ZE25rbuO01kO6UKSmhUhQNQPq83jFtimiT9HtvPWYvrXeLQL9LG9g9hr8huSVoK/jpcpIT+TiIC9jnBicJdGQ94NbYNU2j3Oa/INmcYNgLVeOCTsM26j+lfcR23Y5Ll9CT4fCySqXb2Jm7/iFaEENYFAgMBAAGjUzBRMB0GA1UdDgQWBBSGsnVqcyzJ9MV6SudvJ55QHxq/zzAfBgNVHSMEGDAWgBSGsnVqcyzJ9MV6SudvJ55QHxq/zzAPBgNVHRMBAf8EBTADAQH/MA0GCSqGSIb3DQEBBQUAA4GBAIrOlMCfNtLms1FneY6aZr3l3z/xEd5gWCsrGTUSYa81UlFs4qN1pSv/1/8YHUfLFuldOy1rK6W5d0iJrjyqiMA1QvjO+ODYieqSqFWRNtMnf9yVroBRIsmcocb1ClCyvhKvLBED5PV184KtAHevcX67F6zjklf+YgmNZ5KUPoZ2")
    static let ed25519 = der("MIIBLjCB4aADAgECAhRhQlNPoFxF/C4Z86ngy3g4C/ZW2DAFBgMrZXAwDTELMAkGA1UEAwwCZWQwHhcNMjYxMjA0MjE1MjUyWhcNMzYxMjAxMjE1MjUyWjANMQswCQYDVQQDDAJlZDAqMAUGAytlcAMhAL5Yn4E35CC8ayxLoVUsRHn9J8OH0vtO5jITmQZuEadro1MwUTAdBgNVHQ4EFgQUNvPakaDbIehr5EGBMzPFy/iXkoMwHwYDVR0jBBgwFoAUNvPakaDbIehr5EGBMzPFy/iXkoMwDwYDVR0TAQH/BAUwAwEB/zAFBgMrZXADQQC1j4zIPEc2BC2UJFvwZhdzDeMVyHK5Tl4XVoWE9dZCTal64Q6HhdtBbh3KFX3tcNvMq8kI4MZHv7JrerEN5i8I")
    static let ecdsaSHA512 = der("MIIBezCCASGgAwIBAgIUbi0hXTFl0GEw3iRo5hvbM9AUsaUwCgYIKoZIzj0EAwQwEzERMA8GA1UEAwwIcDI1Ni01MTIwHhcNMjYxMjA0MjE1MjUyWhcNMzYxMjAxMjE1MjUyWjATMREwDwYDVQQDDAhwMjU2LTUxMjBZMBMGByqGSM49AgEGCCqGSM49AwEHA0IABB0uUTQHIzEonK4tufVrFg38IlTbc46glOhCfG7Z5kuiY+BoUt7TVsMEeCQsGSclgTH9w7IamJfu2N5i+ecmBR2jUzBRMB0GA1UdDgQWBBTzDRdgr1HuSdRdFXg+d8gvKajzODAfBgNVHSMEGDAWgBTzDRdgr1HuSdRdFXg+d8gvKajzODAPBgNVHRMBAf8EBTADAQH/MAoGCCqGSM49BAMEA0gAMEUCIGpIEhBkdEvaR9xG8IcksOXW3PoE/V642YDCf5qpbjH4AiEA7/8QP/FydOSZjdP362gJT9u+9jlfxaPs9TWL7GWI+VA=")

    static func hex(_ bytes: [UInt8]?) -> String? { bytes.map { $0.map { String(format: "%02x", $0) }.joined() } }

    @Test func theHashFollowsTheCertificatesSignatureAlgorithm() {
        #expect(Self.hex(TLSServerEndPoint.bindingData(certificateDER: Self.ecdsaSHA256)) == "5a18bd45c8792995b9446af120eb057dce4319d5d857ec24be615c0d48a1be7d")
        // RDS's ECC certificate authorities sign with SHA-384: the binding is SHA-384 too.
        #expect(Self.hex(TLSServerEndPoint.bindingData(certificateDER: Self.ecdsaSHA384))
                == "e4154919d8804eb1f8f0ab0b28fd15a12ccbd3d8c30f179d7786996d69a34632661e26b1c0834416a3c3907eb3cd349f")
        #expect(Self.hex(TLSServerEndPoint.bindingData(certificateDER: Self.ecdsaSHA512))
                == "2b3bd83e179969cd38948d6beb97637db08b2eb772c29b36c05eeb79c9c1a946708178a4f827bf78b057dd8e7bc2c9030ea488384aefa69ac3577ed2c8da1ad3")
        // MD5 and SHA-1 signatures bind with SHA-256 (RFC 5929 4.1).
        #expect(Self.hex(TLSServerEndPoint.bindingData(certificateDER: Self.rsaSHA1)) == "868d0be344e8591ac805fbd46db90f16764a7e56f6d926fa40d505200243a016")
        // No hash in the algorithm: no binding, rather than a wrong one.
        #expect(TLSServerEndPoint.bindingData(certificateDER: Self.ed25519) == nil)
    }

    @Test func truncatedOrForeignBytesGiveNoBinding() {
        for length in [0, 1, 2, 10, 40, Self.ecdsaSHA256.count / 2] {
            #expect(TLSServerEndPoint.bindingData(certificateDER: Array(Self.ecdsaSHA256.prefix(length))) == nil)
        }
        #expect(TLSServerEndPoint.bindingData(certificateDER: [0x30, 0x84, 0xFF, 0xFF, 0xFF, 0xFF]) == nil)
        #expect(TLSServerEndPoint.bindingData(certificateDER: Array("not a certificate".utf8)) == nil)
    }

    @Test func scramPlusBindsTheCertificateIntoTheProof() throws {
        var client = SCRAMSHA256Client(password: "pencil", clientNonce: "rOprNGfwEbeRWgbNEkqO", channelBinding: Array(0..<32))
        #expect(client.mechanism == "SCRAM-SHA-256-PLUS")
        #expect(String(decoding: client.clientFirstMessage, as: UTF8.self) == "p=tls-server-end-point,,n=,r=rOprNGfwEbeRWgbNEkqO")
        let final = try client.clientFinalMessage(serverFirst: Array("r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096".utf8))
        #expect(String(decoding: final, as: UTF8.self)
            == "c=cD10bHMtc2VydmVyLWVuZC1wb2ludCwsAAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,p=Q8h71kjaoMzNI7dPksDrhRE/5mTUObF0fUHVIgBOWQg=")
    }
}
