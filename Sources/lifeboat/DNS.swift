import ArgumentParser
import LifeboatConfig
import LifeboatCore
import LifeboatDNS

extension Lifeboat {
    struct DNS: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "dns",
            abstract: "Show or move the DNS record that sends clients to the primary region.",
            discussion: "Both commands read the dns: section of the config file (see docs/dns.md).",
            subcommands: [Show.self, Point.self]
        )

        struct ConfigOption: ParsableArguments {
            @Option(name: [.short, .long], help: "The config file with a dns: section.")
            var config: String = "/etc/lifeboat/lifeboat.yml"

            func load() throws -> (LifeboatConfiguration, DNSConfig, DNSTrafficSwitch) {
                let loaded = try loadingConfig { try ConfigLoader.load(path: config) }
                guard let dns = loaded.dns else {
                    printError("\(config): no dns: section; traffic switching is not configured")
                    throw ExitCode(1)
                }
                do {
                    return (loaded, dns, try TrafficSwitchFactory.make(dns))
                } catch {
                    printError("\(config): dns: \(error)")
                    throw ExitCode(1)
                }
            }
        }

        struct Show: AsyncParsableCommand {
            static let configuration = CommandConfiguration(
                abstract: "Print the record's current targets, which region they belong to, and what each authoritative server answers."
            )

            @OptionGroup var options: ConfigOption

            func run() async throws {
                let (_, dns, traffic) = try options.load()
                let current: (targets: [IPv4], ttl: Int?)
                do {
                    current = try await traffic.provider.currentTargets()
                } catch {
                    printError("cannot read \(dns.record) from \(traffic.provider.name): \(error)")
                    throw ExitCode(1)
                }
                let region = dns.targets.first { $0.value == current.targets }?.key
                print("\(traffic.provider.record)  \(current.targets.map(\.description).joined(separator: ", "))  TTL \(current.ttl.map(String.init) ?? "?")s  "
                    + "(\(region.map { "region \($0)" } ?? "no configured region"); provider \(traffic.provider.name))")
                for verifier in traffic.verifiers {
                    let answer = (try? await verifier.answer()).map { $0.map(\.description).joined(separator: ", ") } ?? "no answer"
                    print("  \(verifier.name) answers \(answer)")
                }
                for (name, targets) in dns.targets.sorted(by: { $0.key < $1.key }) {
                    print("  when \(name) is primary: \(targets.map(\.description).joined(separator: ", "))")
                }
            }
        }

        struct Point: AsyncParsableCommand {
            static let configuration = CommandConfiguration(
                abstract: "Point the record at a region's targets, then verify the authoritative answer.",
                discussion: """
                    For an operator moving traffic by hand, e.g. after a failover left the state \
                    promoted-traffic-not-switched. The record is changed from whatever it holds now \
                    (compare-and-swap against what was just read, so a concurrent change is not overwritten). \
                    A record holding none of any configured region's targets is refused unless --force: \
                    it may not be the record Lifeboat should manage.
                    """
            )

            @OptionGroup var options: ConfigOption

            @Option(help: "The region whose targets the record should hold.")
            var to: String

            @Flag(help: "Show what would change without changing it.")
            var dryRun = false

            @Flag(help: "Replace the record even when it holds none of any region's targets (it may not be Lifeboat's record).")
            var force = false

            func run() async throws {
                let (config, dns, traffic) = try options.load()
                guard dns.targets[to] != nil else {
                    let regions = config.topology.regions.map(\.name).joined(separator: ", ")
                    throw ValidationError("unknown region '\(to)'; regions with DNS targets: \(regions)")
                }
                do {
                    let change = try await traffic.point(to: to, from: nil, dryRun: dryRun, force: force)
                    print(change.summary)
                    if change.changed && !dryRun {
                        print(try await traffic.verify(change.targets))
                        if let old = change.oldTTL { print("resolvers may keep the old answer for up to \(old)s (its TTL)") }
                    }
                } catch {
                    printError("dns point: \(error)")
                    throw ExitCode(1)
                }
            }
        }
    }
}
