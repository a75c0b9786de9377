import LifeboatCore

/// Where a monitor keeps what must survive a restart: the machine's snapshot and the journal.
public protocol StateStore: Sendable {
    /// The last saved snapshot and how long ago (wall time) it was saved; nil on first start.
    func loadSnapshot() throws -> (snapshot: MachineSnapshot, age: Duration)?
    /// Saved before the actions of a decision are carried out, so a restart resumes them.
    func saveSnapshot(_ snapshot: MachineSnapshot) throws
    /// Appends one journal line (decision, transition, step, alert, operator command).
    func record(epoch: Epoch, kind: String, step: String?, node: String?, message: String) throws
}
