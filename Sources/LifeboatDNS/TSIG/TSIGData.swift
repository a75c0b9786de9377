/// The RDATA of a TSIG record (RFC 8945 §4.2).
public struct TSIGData: Sendable, Equatable {
    public var algorithm: DNSName
    /// Seconds since the epoch, 48 bits on the wire.
    public var timeSigned: UInt64
    public var fudge: UInt16
    public var mac: [UInt8]
    public var originalID: UInt16
    public var error: UInt16
    public var other: [UInt8]

    func write(to out: inout [UInt8]) {
        algorithm.write(to: &out)
        out.appendUInt48(timeSigned)
        out.appendUInt16(fudge)
        out.appendUInt16(UInt16(mac.count))
        out += mac
        out.appendUInt16(originalID)
        out.appendUInt16(error)
        out.appendUInt16(UInt16(other.count))
        out += other
    }

    static func read(from reader: inout WireReader) throws -> TSIGData {
        let algorithm = try reader.name()
        let time = try reader.uint48()
        let fudge = try reader.uint16()
        let mac = try reader.take(Int(try reader.uint16()))
        let originalID = try reader.uint16()
        let error = try reader.uint16()
        let other = try reader.take(Int(try reader.uint16()))
        return TSIGData(algorithm: algorithm, timeSigned: time, fudge: fudge, mac: mac, originalID: originalID, error: error, other: other)
    }
}
