import Foundation
import LifeboatConfig
import LifeboatDNS
import Testing

/// SigV4 against AWS's published vectors: the aws-sig-v4-test-suite cases get-vanilla,
/// post-vanilla and get-vanilla-query-order-key-case (credentials AKIDEXAMPLE, 2015-08-30T12:36:00Z,
/// us-east-1, service "service"), the signing key of the IAM example in AWS's "derive a signing
/// key" documentation, and the GET Object example of the Amazon S3 API Reference ("Signature
/// Calculations for the Authorization Header"). Source and date: Fixtures/README.md.
@Suite struct SigV4Tests {
    static let suiteDate = Date(timeIntervalSince1970: 1_440_938_160)  // 2015-08-30T12:36:00Z
    static let suite = SigV4Signer(accessKeyID: "AKIDEXAMPLE", secretAccessKey: Secret("wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"),
                                   region: "us-east-1", service: "service")

    @Test func getVanilla() {
        let signed = Self.suite.sign(method: "GET", host: "example.amazonaws.com", path: "/", date: Self.suiteDate)
        #expect(signed.canonicalRequest == "GET\n/\n\nhost:example.amazonaws.com\nx-amz-date:20150830T123600Z\n\nhost;x-amz-date\ne3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855")
        #expect(signed.authorization == "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/service/aws4_request, SignedHeaders=host;x-amz-date, Signature=5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31")
        #expect(signed.headers.first { $0.name == "X-Amz-Date" }?.value == "20150830T123600Z")
    }

    @Test func postVanilla() {
        #expect(Self.suite.sign(method: "POST", host: "example.amazonaws.com", path: "/", date: Self.suiteDate).signature
            == "5da7c1a2acd57cee7505fc6676e4e544621c30862966e37dddb68e92efbe5d6b")
    }

    @Test func getVanillaQueryOrderKeyCase() {
        let signed = Self.suite.sign(method: "GET", host: "example.amazonaws.com", path: "/?Param2=value2&Param1=value1", date: Self.suiteDate)
        #expect(signed.canonicalRequest.split(separator: "\n", omittingEmptySubsequences: false)[2] == "Param1=value1&Param2=value2")
        #expect(signed.signature == "b97d918cfa904a5beff61c982a1b6f458b799221646efd99d3219ec94cdf2500")
    }

    @Test func theDocumentedSigningKey() {
        let key = SigV4Signer.signingKey(secret: Secret("wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"), day: "20150830", region: "us-east-1", service: "iam")
        #expect(key.map { ($0 < 16 ? "0" : "") + String($0, radix: 16) }.joined() == "c4afb1cc5771d871763a393e44b703571b55cc28424d1a5e86da6ed3c154a4b9")
    }

    @Test func theS3GetObjectExample() {
        let s3 = SigV4Signer(accessKeyID: "AKIAIOSFODNN7EXAMPLE", secretAccessKey: Secret("wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"),
                             region: "us-east-1", service: "s3")
        let signed = s3.sign(method: "GET", host: "examplebucket.s3.amazonaws.com", path: "/test.txt",
                             headers: [("Range", "bytes=0-9"), ("x-amz-content-sha256", "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855")],
                             date: Date(timeIntervalSince1970: 1_369_353_600))  // 2013-05-24T00:00:00Z
        #expect(signed.authorization?.contains("SignedHeaders=host;range;x-amz-content-sha256;x-amz-date,") == true, "\(signed.authorization ?? "")")
        #expect(signed.signature == "f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41")
    }

    @Test func temporaryCredentialsSignTheirTokenAndTheSecretNeverShows() {
        let signer = SigV4Signer(accessKeyID: "AKIDEXAMPLE", secretAccessKey: Secret("wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"),
                                 sessionToken: Secret("session-token-1"), region: "us-east-1", service: "route53")
        let a = signer.sign(method: "POST", host: "route53.amazonaws.com", path: "/2013-04-01/hostedzone/Z1/rrset", body: Array("<a/>".utf8), date: Self.suiteDate)
        let b = signer.sign(method: "POST", host: "route53.amazonaws.com", path: "/2013-04-01/hostedzone/Z1/rrset", body: Array("<b/>".utf8), date: Self.suiteDate)
        #expect(a.headers.first { $0.name == "X-Amz-Security-Token" }?.value == "session-token-1")
        #expect(a.authorization?.contains("SignedHeaders=host;x-amz-date;x-amz-security-token,") == true)
        #expect(a.signature != b.signature, "the body is signed")
        #expect(!"\(a)".contains("wJalrXUtnFEMI") && !"\(signer)".contains("wJalrXUtnFEMI"))
    }
}
