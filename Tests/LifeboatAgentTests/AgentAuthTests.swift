import Foundation
import LifeboatAgent
import LifeboatAgentAPI
import Testing

@Suite struct AgentAuthTests {
    let key = AgentSigning.key("k3y")

    func signed(_ body: String = "{}", path: String = "/v1/actions/fence", at now: Date = Date()) -> (ts: String, nonce: String, sig: String) {
        let headers = Dictionary(uniqueKeysWithValues: AgentSigning.headers(key: key, method: "POST", path: path, body: Array(body.utf8), now: now))
        return (headers[AgentSigning.timestampHeader]!, headers[AgentSigning.nonceHeader]!, headers[AgentSigning.signatureHeader]!)
    }

    @Test func aSignedRequestIsAcceptedOnceOnly() {
        let verifier = RequestVerifier(key: key)
        let s = signed()
        #expect(verifier.verify(method: "POST", path: "/v1/actions/fence", timestamp: s.ts, nonce: s.nonce, signature: s.sig, body: Array("{}".utf8)) == nil)
        #expect(verifier.verify(method: "POST", path: "/v1/actions/fence", timestamp: s.ts, nonce: s.nonce, signature: s.sig, body: Array("{}".utf8)) == .replayed)
    }

    @Test func anythingAlteredOrMissingIsRefused() {
        let verifier = RequestVerifier(key: key)
        let s = signed(#"{"epoch":3}"#)
        let body = Array(#"{"epoch":3}"#.utf8)
        #expect(verifier.verify(method: "POST", path: "/v1/actions/fence", timestamp: nil, nonce: nil, signature: nil, body: body) == .unsigned)
        #expect(verifier.verify(method: "POST", path: "/v1/actions/fence", timestamp: s.ts, nonce: s.nonce, signature: "v1=zz", body: body) == .badSignature)
        #expect(verifier.verify(method: "POST", path: "/v1/actions/fence", timestamp: s.ts, nonce: s.nonce, signature: s.sig, body: Array(#"{"epoch":4}"#.utf8)) == .badSignature, "body altered")
        #expect(verifier.verify(method: "POST", path: "/v1/actions/sync-now", timestamp: s.ts, nonce: s.nonce, signature: s.sig, body: body) == .badSignature, "path altered")
        #expect(verifier.verify(method: "POST", path: "/v1/actions/fence", timestamp: String(Int(s.ts)! + 1), nonce: s.nonce, signature: s.sig, body: body) == .badSignature, "timestamp altered")
        #expect(verifier.verify(method: "POST", path: "/v1/actions/fence", timestamp: "yesterday", nonce: s.nonce, signature: s.sig, body: body) == .malformed)
        let other = RequestVerifier(key: AgentSigning.key("another key"))
        #expect(other.verify(method: "POST", path: "/v1/actions/fence", timestamp: s.ts, nonce: s.nonce, signature: s.sig, body: body) == .badSignature, "wrong key")
    }

    @Test func anOldOrFutureTimestampIsStale() {
        let verifier = RequestVerifier(key: key, window: .seconds(30))
        let old = signed(at: Date().addingTimeInterval(-31))
        #expect(verifier.verify(method: "POST", path: "/v1/actions/fence", timestamp: old.ts, nonce: old.nonce, signature: old.sig, body: Array("{}".utf8)) == .stale)
        let future = signed(at: Date().addingTimeInterval(31))
        #expect(verifier.verify(method: "POST", path: "/v1/actions/fence", timestamp: future.ts, nonce: future.nonce, signature: future.sig, body: Array("{}".utf8)) == .stale)
        let recent = signed(at: Date().addingTimeInterval(-20))
        #expect(verifier.verify(method: "POST", path: "/v1/actions/fence", timestamp: recent.ts, nonce: recent.nonce, signature: recent.sig, body: Array("{}".utf8)) == nil)
    }

    @Test func theNonceMemoryIsBounded() {
        let verifier = RequestVerifier(key: key, window: .seconds(30), capacity: 10)
        var first: (ts: String, nonce: String, sig: String)?
        for i in 0..<25 {
            let s = signed(at: Date().addingTimeInterval(Double(i - 25)))
            if i == 0 { first = s }
            #expect(verifier.verify(method: "POST", path: "/v1/actions/fence", timestamp: s.ts, nonce: s.nonce, signature: s.sig, body: Array("{}".utf8)) == nil)
        }
        // The first nonce was forgotten to stay within capacity, but its timestamp is now refused.
        let f = first!
        #expect(verifier.verify(method: "POST", path: "/v1/actions/fence", timestamp: f.ts, nonce: f.nonce, signature: f.sig, body: Array("{}".utf8)) != nil)
    }
}
