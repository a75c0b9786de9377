import LifeboatCore
/// A DNS message (RFC 1035 §4), also used for UPDATE (RFC 2136 §2: the sections are zone,
/// prerequisite, update and additional).
public struct DNSMessage: Sendable, Equatable {
    public var id: UInt16
    public var isResponse = false
    public var opcode: DNSOpcode = .query
    public var authoritative = false
    public var truncated = false
    public var recursionDesired = false
    public var recursionAvailable = false
    /// The 4-bit header RCODE.
    public var rcode: UInt8 = 0
    public var questions: [DNSQuestion] = []
    public var answers: [DNSRecord] = []
    public var authority: [DNSRecord] = []
    public var additional: [DNSRecord] = []
    /// When decoded: where the last additional record (a TSIG, if any) starts.
    public internal(set) var lastAdditionalOffset: Int?

    public init(id: UInt16, opcode: DNSOpcode = .query) {
        self.id = id
        self.opcode = opcode
    }

    public var responseCode: DNSResponseCode { DNSResponseCode(rawValue: UInt16(rcode)) }

    // MARK: Encoding (no compression: always valid, and what TSIG signs)

    public func encode() -> [UInt8] {
        var out: [UInt8] = []
        out.appendUInt16(id)
        var flags: UInt16 = 0
        if isResponse { flags |= 0x8000 }
        flags |= UInt16(opcode.rawValue & 0x0F) << 11
        if authoritative { flags |= 0x0400 }
        if truncated { flags |= 0x0200 }
        if recursionDesired { flags |= 0x0100 }
        if recursionAvailable { flags |= 0x0080 }
        flags |= UInt16(rcode & 0x0F)
        out.appendUInt16(flags)
        out.appendUInt16(UInt16(questions.count))
        out.appendUInt16(UInt16(answers.count))
        out.appendUInt16(UInt16(authority.count))
        out.appendUInt16(UInt16(additional.count))
        for q in questions {
            q.name.write(to: &out)
            out.appendUInt16(q.type.rawValue)
            out.appendUInt16(q.dnsClass.rawValue)
        }
        for record in answers + authority + additional { Self.write(record, to: &out) }
        return out
    }

    static func write(_ record: DNSRecord, to out: inout [UInt8]) {
        record.name.write(to: &out)
        out.appendUInt16(record.type.rawValue)
        out.appendUInt16(record.dnsClass.rawValue)
        out.appendUInt32(record.ttl)
        var rdata: [UInt8] = []
        switch record.data {
        case .a(let address): rdata = address.bytes
        case .soa(let soa):
            soa.primaryServer.write(to: &rdata)
            soa.responsible.write(to: &rdata)
            for value in [soa.serial, soa.refresh, soa.retry, soa.expire, soa.minimum] { rdata.appendUInt32(value) }
        case .name(let name): name.write(to: &rdata)
        case .tsig(let tsig): tsig.write(to: &rdata)
        case .empty: break
        case .raw(let bytes): rdata = bytes
        }
        out.appendUInt16(UInt16(rdata.count))
        out += rdata
    }

    // MARK: Decoding

    public static func decode(_ bytes: [UInt8]) throws -> DNSMessage {
        var reader = WireReader(bytes)
        var message = DNSMessage(id: try reader.uint16())
        let flags = try reader.uint16()
        message.isResponse = flags & 0x8000 != 0
        message.opcode = DNSOpcode(rawValue: UInt8((flags >> 11) & 0x0F)) ?? .query
        message.authoritative = flags & 0x0400 != 0
        message.truncated = flags & 0x0200 != 0
        message.recursionDesired = flags & 0x0100 != 0
        message.recursionAvailable = flags & 0x0080 != 0
        message.rcode = UInt8(flags & 0x0F)
        let counts = (try reader.uint16(), try reader.uint16(), try reader.uint16(), try reader.uint16())
        for _ in 0..<counts.0 {
            message.questions.append(DNSQuestion(name: try reader.name(), type: DNSType(rawValue: try reader.uint16()), dnsClass: DNSClass(rawValue: try reader.uint16())))
        }
        for _ in 0..<counts.1 { message.answers.append(try reader.record()) }
        for _ in 0..<counts.2 { message.authority.append(try reader.record()) }
        for _ in 0..<counts.3 {
            message.lastAdditionalOffset = reader.offset
            message.additional.append(try reader.record())
        }
        return message
    }
}

struct WireReader {
    let bytes: [UInt8]
    var offset = 0

    init(_ bytes: [UInt8]) { self.bytes = bytes }

    mutating func uint8() throws -> UInt8 {
        guard offset < bytes.count else { throw DNSWireError.truncated(at: offset) }
        defer { offset += 1 }
        return bytes[offset]
    }

    mutating func uint16() throws -> UInt16 { UInt16(try uint8()) << 8 | UInt16(try uint8()) }
    mutating func uint32() throws -> UInt32 { UInt32(try uint16()) << 16 | UInt32(try uint16()) }
    mutating func uint48() throws -> UInt64 { UInt64(try uint16()) << 32 | UInt64(try uint32()) }

    mutating func take(_ count: Int) throws -> [UInt8] {
        guard count >= 0, offset + count <= bytes.count else { throw DNSWireError.truncated(at: offset) }
        defer { offset += count }
        return Array(bytes[offset..<offset + count])
    }

    /// A name, following compression pointers (RFC 1035 §4.1.4).
    mutating func name() throws -> DNSName {
        var labels: [String] = []
        var position = offset
        var jumped = false
        var jumps = 0
        while true {
            guard position < bytes.count else { throw DNSWireError.truncated(at: position) }
            let length = Int(bytes[position])
            if length & 0xC0 == 0xC0 {
                guard position + 1 < bytes.count else { throw DNSWireError.truncated(at: position) }
                let target = (length & 0x3F) << 8 | Int(bytes[position + 1])
                guard target < position, jumps < 64 else { throw DNSWireError.badPointer(at: position) }
                if !jumped { offset = position + 2 }
                jumped = true
                jumps += 1
                position = target
                continue
            }
            guard length & 0xC0 == 0 else { throw DNSWireError.badPointer(at: position) }
            position += 1
            if length == 0 { break }
            guard position + length <= bytes.count else { throw DNSWireError.truncated(at: position) }
            labels.append(String(decoding: bytes[position..<position + length], as: UTF8.self))
            position += length
        }
        if !jumped { offset = position }
        return DNSName(labels: labels)
    }

    mutating func record() throws -> DNSRecord {
        let name = try name()
        let type = DNSType(rawValue: try uint16())
        let dnsClass = DNSClass(rawValue: try uint16())
        let ttl = try uint32()
        let length = Int(try uint16())
        let end = offset + length
        guard end <= bytes.count else { throw DNSWireError.truncated(at: offset) }
        let data: DNSRecordData
        if length == 0 {
            data = .empty
        } else {
            switch type {
            case .a:
                guard length == 4 else { throw DNSWireError.badRecord("A record with \(length) bytes") }
                data = .a(IPv4(bytes: try take(4)))
            case .soa:
                data = .soa(SOA(primaryServer: try self.name(), responsible: try self.name(), serial: try uint32(),
                                refresh: try uint32(), retry: try uint32(), expire: try uint32(), minimum: try uint32()))
            case .ns, .cname:
                data = .name(try self.name())
            case .tsig:
                data = .tsig(try TSIGData.read(from: &self))
            default:
                data = .raw(try take(length))
            }
        }
        guard offset == end else { throw DNSWireError.badRecord("\(type) data is \(length) bytes but \(offset - end + length) were read") }
        return DNSRecord(name: name, type: type, dnsClass: dnsClass, ttl: ttl, data: data)
    }
}

extension [UInt8] {
    mutating func appendUInt16(_ value: UInt16) {
        append(UInt8(value >> 8))
        append(UInt8(value & 0xFF))
    }

    mutating func appendUInt32(_ value: UInt32) {
        appendUInt16(UInt16(value >> 16))
        appendUInt16(UInt16(value & 0xFFFF))
    }

    mutating func appendUInt48(_ value: UInt64) {
        appendUInt16(UInt16((value >> 32) & 0xFFFF))
        appendUInt32(UInt32(value & 0xFFFF_FFFF))
    }
}
