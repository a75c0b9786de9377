import LifeboatCore
import Foundation

/// What went wrong with a DNS UPDATE, in the operator's words.
public enum DNSUpdateError: Error, Equatable, CustomStringConvertible {
    /// The compare-and-swap prerequisite failed: the record no longer holds what we expected.
    case recordChanged(name: String, expected: [String])
    case refused(zone: String)
    /// REFUSED without a TSIG record on the answer: the server did not accept the signed request
    /// at all. PowerDNS answers so for a wrong secret, an unknown key name and a key not allowed.
    case refusedUnsigned(zone: String, key: String)
    case notAuthoritative(zone: String, server: String)
    case notZone(name: String, zone: String)
    case server(DNSResponseCode, String)
    case tsig(TSIGError)

    public var description: String {
        switch self {
        case .recordChanged(let name, let expected):
            return "\(name) no longer holds \(expected.joined(separator: ", ")): someone else changed it; update not applied (compare-and-swap)"
        case .refused(let zone):
            return "REFUSED: the server does not allow this key to update zone \(zone) (check the zone's update ACL)"
        case .refusedUnsigned(let zone, let key):
            return "REFUSED, unsigned: the server did not accept key \(key) for zone \(zone): a wrong secret, an unknown key name, or a key not allowed to update the zone "
                + "(PowerDNS answers all three alike; check dns.rfc2136.key_name and the secret against the server's key, and the zone's update ACL or TSIG-ALLOW-DNSUPDATE)"
        case .notAuthoritative(let zone, let server):
            return "NOTAUTH: \(server) is not authoritative for \(zone), or did not accept the TSIG signature"
        case .notZone(let name, let zone):
            return "NOTZONE: \(name) is not inside zone \(zone)"
        case .server(let code, let server):
            return "\(server) answered \(code)"
        case .tsig(let error):
            return error.description
        }
    }
}

/// DNS UPDATE (RFC 2136) with TSIG (RFC 8945, hmac-sha256), and the plain queries needed to read
/// a record back. UDP first; TCP when the answer is truncated.
public struct RFC2136Client: Sendable {
    public var server: DNSServer
    public var zone: DNSName
    public var key: TSIGKey?
    public var timeout: Duration
    /// Seconds since the epoch; injectable so tests can provoke BADTIME.
    public var now: @Sendable () -> UInt64

    public init(server: DNSServer, zone: DNSName, key: TSIGKey?, timeout: Duration = .seconds(2),
                now: @escaping @Sendable () -> UInt64 = { UInt64(Date().timeIntervalSince1970) }) {
        self.server = server
        self.zone = zone
        self.key = key
        self.timeout = timeout
        self.now = now
    }

    /// The A addresses of `name` and their TTL, as this server answers (authoritatively).
    public func addresses(of name: DNSName) async throws -> (addresses: [IPv4], ttl: UInt32?) {
        let answer = try await query(name, .a)
        guard answer.responseCode == .noError || answer.responseCode == .nxDomain else {
            throw DNSUpdateError.server(answer.responseCode, server.description)
        }
        let records = answer.answers.filter { $0.type == .a && $0.name == name }
        let addresses = records.compactMap { if case .a(let ip) = $0.data { return ip } else { return nil } }
        return (addresses.sorted(), records.first?.ttl)
    }

    /// The zone's SOA serial.
    public func serial() async throws -> UInt32 {
        let answer = try await query(zone, .soa)
        for record in answer.answers {
            if case .soa(let soa) = record.data { return soa.serial }
        }
        throw DNSUpdateError.server(answer.responseCode, "\(server) gave no SOA for \(zone)")
    }

    public func query(_ name: DNSName, _ type: DNSType) async throws -> DNSMessage {
        var message = DNSMessage(id: UInt16.random(in: 1...UInt16.max))
        message.questions = [DNSQuestion(name: name, type: type)]
        return try await exchange(message, signed: false).message
    }

    /// Replaces the A RRset of `name` with `new`, only if it currently holds exactly `expected`
    /// (an RFC 2136 "RRset exists (value dependent)" prerequisite; empty `expected` means the
    /// name must have no A record). Delete and add travel in one message, applied atomically.
    public func replaceA(_ name: DNSName, expected: [IPv4], new: [IPv4], ttl: UInt32) async throws {
        guard name.isWithin(zone) else { throw DNSUpdateError.notZone(name: name.description, zone: zone.description) }
        var message = DNSMessage(id: UInt16.random(in: 1...UInt16.max), opcode: .update)
        message.questions = [DNSQuestion(name: zone, type: .soa)]
        if expected.isEmpty {
            message.answers = [DNSRecord(name: name, type: .a, dnsClass: .none, ttl: 0, data: .empty)]
        } else {
            message.answers = expected.map { DNSRecord(name: name, type: .a, dnsClass: .internet, ttl: 0, data: .a($0)) }
        }
        message.authority = [DNSRecord(name: name, type: .a, dnsClass: .any, ttl: 0, data: .empty)]
            + new.map { DNSRecord(name: name, type: .a, dnsClass: .internet, ttl: ttl, data: .a($0)) }
        let answer = try await exchange(message, signed: true).message
        switch answer.responseCode {
        case .noError: return
        case .nxRRSet, .yxRRSet, .nxDomain, .yxDomain:
            throw DNSUpdateError.recordChanged(name: name.description, expected: expected.map(\.description))
        case .refused: throw DNSUpdateError.refused(zone: zone.description)
        case .notAuth: throw DNSUpdateError.notAuthoritative(zone: zone.description, server: server.description)
        case .notZone: throw DNSUpdateError.notZone(name: name.description, zone: zone.description)
        default: throw DNSUpdateError.server(answer.responseCode, server.description)
        }
    }

    private func exchange(_ message: DNSMessage, signed: Bool) async throws -> (message: DNSMessage, bytes: [UInt8]) {
        var bytes = message.encode()
        var requestMAC: [UInt8] = []
        let signingKey = signed ? key : nil
        if let signingKey {
            (bytes, requestMAC) = signingKey.sign(message, now: now())
        }
        var raw = try await DNSTransport.exchange(bytes, id: message.id, server: server, tcp: false, timeout: timeout)
        var answer = try DNSMessage.decode(raw)
        if answer.truncated {
            raw = try await DNSTransport.exchange(bytes, id: message.id, server: server, tcp: true, timeout: timeout)
            answer = try DNSMessage.decode(raw)
        }
        guard answer.id == message.id, answer.isResponse else { throw DNSTransportError.mismatchedAnswer(server) }
        if let signingKey {
            let hasTSIG = answer.additional.last?.type == .tsig
            if !hasTSIG, answer.responseCode == .notAuth {
                throw DNSUpdateError.notAuthoritative(zone: zone.description, server: server.description)
            }
            if !hasTSIG, answer.responseCode == .refused { throw DNSUpdateError.refusedUnsigned(zone: zone.description, key: signingKey.name.description) }
            do {
                try signingKey.verify(response: raw, message: answer, requestMAC: requestMAC, now: now())
            } catch let error as TSIGError {
                throw DNSUpdateError.tsig(error)
            }
        }
        return (answer, raw)
    }
}
