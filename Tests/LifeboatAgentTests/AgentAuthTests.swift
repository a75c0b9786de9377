import Foundation
import LifeboatAgent
import LifeboatAgentAPI
import Testing

@Suite struct AgentAuthTests {
    let key = AgentSigning.key("k3y")

    func signed(_ body: String = "{}", path: String = "/v1/actions/fence", node: String = "pg-a", epoch: UInt64 = 3,
                at now: Date = Date()) -> [String: String] {
        Dictionary(uniqueKeysWithValues: AgentSigning.headers(key: key, method: "POST", path: path, node: node, epoch: epoch, body: Array(body.utf8), now: now))
    }

    func verify(_ verifier: RequestVerifier, _ headers: [String: String], body: String = "{}", path: String = "/v1/actions/fence",
                node: String = "pg-a") -> AuthFailure? {
        switch verifier.verify(method: "POST", path: path, node: node, headers: { headers[$0] }, body: Array(body.utf8)) {
        case .success: return nil
        case .failure(let failure): return failure
        }
    }

    @Test func aSignedRequestIsAcceptedOnceOnlyAndSaysWhatItWasSignedFor() {
        let verifier = RequestVerifier(key: key)
        let s = signed(epoch: 7)
        let accepted = verifier.verify(method: "POST", path: "/v1/actions/fence", node: "pg-a", headers: { s[$0] }, body: Array("{}".utf8))
        #expect(accepted == .success(VerifiedRequest(node: "pg-a", epoch: 7)))
        #expect(verify(verifier, s) == .replayed)
    }

    @Test func aRequestSignedForOneNodeIsRefusedByAnother() {
        // Every agent shares the key: without the node in the signature, a fence captured on its
        // way to one node could be replayed to any other.
        let verifier = RequestVerifier(key: key)
        let forA = signed(node: "pg-a")
        #expect(verify(verifier, forA, node: "pg-b") == .wrongNode)
        var relabelled = forA
        relabelled[AgentSigning.nodeHeader] = "pg-b"
        #expect(verify(verifier, relabelled, node: "pg-b") == .badSignature, "the node is signed, not just sent")
        #expect(verify(verifier, forA, node: "pg-a") == nil, "a refused copy does not burn the nonce for the right node")
    }

    @Test func anythingAlteredOrMissingIsRefused() {
        let verifier = RequestVerifier(key: key)
        let body = #"{"epoch":3}"#
        let s = signed(body)
        #expect(verify(verifier, [:], body: body) == .unsigned)
        var missingNode = s
        missingNode[AgentSigning.nodeHeader] = nil
        #expect(verify(verifier, missingNode, body: body) == .unsigned)
        var badSig = s
        badSig[AgentSigning.signatureHeader] = "v2=zz"
        #expect(verify(verifier, badSig, body: body) == .badSignature)
        var v1 = s
        v1[AgentSigning.signatureHeader] = "v1=" + String(s[AgentSigning.signatureHeader]!.dropFirst(3))
        #expect(verify(verifier, v1, body: body) == .oldVersion)
        #expect(verify(verifier, s, body: #"{"epoch":4}"#) == .badSignature, "body altered")
        #expect(verify(verifier, s, body: body, path: "/v1/actions/sync-now") == .badSignature, "path altered")
        var epoch = s
        epoch[AgentSigning.epochHeader] = "9"
        #expect(verify(verifier, epoch, body: body) == .badSignature, "epoch altered")
        var ts = s
        ts[AgentSigning.timestampHeader] = String(Int(s[AgentSigning.timestampHeader]!)! + 1)
        #expect(verify(verifier, ts, body: body) == .badSignature, "timestamp altered")
        var word = s
        word[AgentSigning.timestampHeader] = "yesterday"
        #expect(verify(verifier, word, body: body) == .malformed)
        let other = RequestVerifier(key: AgentSigning.key("another key"))
        #expect(verify(other, s, body: body) == .badSignature, "wrong key")
    }

    @Test func anOldOrFutureTimestampIsStale() {
        let verifier = RequestVerifier(key: key, window: .seconds(30))
        #expect(verify(verifier, signed(at: Date().addingTimeInterval(-31))) == .stale)
        #expect(verify(verifier, signed(at: Date().addingTimeInterval(31))) == .stale)
        #expect(verify(verifier, signed(at: Date().addingTimeInterval(-20))) == nil)
    }

    @Test func theNonceMemoryIsBounded() {
        let verifier = RequestVerifier(key: key, window: .seconds(30), capacity: 10)
        var first: [String: String]?
        for i in 0..<25 {
            let s = signed(at: Date().addingTimeInterval(Double(i - 25)))
            if i == 0 { first = s }
            #expect(verify(verifier, s) == nil)
        }
        // The first nonce was forgotten to stay within capacity, but its timestamp is now refused.
        #expect(verify(verifier, first!) != nil)
    }
}
