public enum DNSWireError: Error, Equatable, CustomStringConvertible {
    case badName(String)
    case truncated(at: Int)
    case badPointer(at: Int)
    case badRecord(String)

    public var description: String {
        switch self {
        case .badName(let name): return "not a valid DNS name: '\(name)'"
        case .truncated(let offset): return "DNS message ends early (at byte \(offset))"
        case .badPointer(let offset): return "DNS message has a bad compression pointer at byte \(offset)"
        case .badRecord(let why): return "DNS record not understood: \(why)"
        }
    }
}
