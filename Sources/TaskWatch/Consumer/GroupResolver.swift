/// Expands saved groups (`GroupResult.save()`) into the ids of their tasks,
/// waiting for groups that are not saved yet.
///
/// Celery stores a group under `celery-taskset-meta-<id>` and PUBLISHes the
/// same bytes on the channel of that name, so the consumer's protocol works
/// here too, as a policy over the same engine (`BackendLink`): SUBSCRIBE
/// every group's channel and read the confirmations, only then MGET the keys
/// (on a second connection), and take the groups still missing from their
/// publish when it comes. Nested groups are stored inline
/// and expanded by `SavedGroup`. Groups still unsaved after
/// ``ConsumerConfiguration/pendingHintAfter`` get one
/// ``PendingHint/groupNotSaved(groupID:count:seconds:)`` diagnostic (a chord's
/// header group is never saved).
///
/// Not `Sendable`: one resolver belongs to one thread.
public final class GroupResolver {
  /// The connection settings and key naming (`global_keyprefix` applies).
  public let configuration: ConsumerConfiguration
  /// Longest single wait, so `shouldStop` is asked at least this often.
  private let waitSlice = 0.25
  private var diagnostics: [ConsumerDiagnostic] = []

  /// What a resolution found.
  public struct Resolution: Sendable, Equatable {
    /// The tasks of every group found, groups in the order given, each
    /// group's tasks in stored order, each id once.
    public var taskIDs: [String]
    /// The groups still not saved when the wait ended (the deadline passed or
    /// `shouldStop` said so), in the order given; empty when all were found.
    public var unsavedGroupIDs: [String]
  }

  /// Creates a resolver; nothing connects until ``resolve(_:until:shouldStop:)``.
  public init(configuration: ConsumerConfiguration) {
    self.configuration = configuration
  }

  /// Reads the groups, waiting for the ones not saved yet.
  ///
  /// Connection faults and transient refusals are retried like the
  /// consumer's (jittered backoff within ``ReconnectPolicy/retryFor``, never
  /// past ``ConsumerConfiguration/deadline``) until the stored groups have
  /// been read once; after that the wait for unsaved groups ends at
  /// `deadline`, reconnecting meanwhile if the link breaks. What the
  /// resolver noticed is kept for ``takeDiagnostics()``.
  /// - Parameters:
  ///   - groupIDs: the groups, in order (duplicates are read once).
  ///   - deadline: when to stop waiting for unsaved groups; `nil` waits for
  ///     ever. A deadline already passed still reads what is stored.
  ///   - shouldStop: asked between waits (and after a signal interrupts
  ///     one); `true` ends the wait at once.
  /// - Throws: `RedisError` for faults no retry can cure (authentication),
  ///   ``ConsumerError`` when the retry budget or the overall deadline is
  ///   spent, ``UndecodableGroupError`` for a group payload that cannot be read.
  public func resolve(_ groupIDs: [String], until deadline: Deadline?, shouldStop: () -> Bool) throws
    -> Resolution
  {
    try resolve(groupIDs, until: deadline, shouldStop: shouldStop) { diagnostics.append($0) }
  }

  /// Reads the groups like ``resolve(_:until:shouldStop:)``, handing what the
  /// resolver notices (a lost connection, a reconnect) to `diagnose` as it
  /// happens.
  public func resolve(
    _ groupIDs: [String], until deadline: Deadline?, shouldStop: () -> Bool,
    diagnose: (ConsumerDiagnostic) -> Void
  ) throws -> Resolution {
    var seen = Set<String>()
    let groups = groupIDs.filter { seen.insert($0).inserted }
    guard !groups.isEmpty else { return Resolution(taskIDs: [], unsavedGroupIDs: []) }
    let channels = groups.map { Array(configuration.keyNaming.key(forGroup: $0).utf8) }
    var found = [SavedGroup?](repeating: nil, count: groups.count)
    let link = BackendLink(configuration: configuration)
    defer { link.stop() }
    func report() {
      for diagnostic in link.diagnostics { diagnose(diagnostic) }
      link.diagnostics.removeAll()
    }
    func format(_ name: String, _ batch: ArraySlice<Int>) -> RedisCommand {
      var command = RedisCommand(argumentCount: batch.count + 1)
      command.append(name)
      for index in batch { command.append(channels[index]) }
      return command
    }
    /// Subscribes the missing groups' channels, then reads their keys.
    func readMissing() throws -> Int {
      let missing = found.indices.filter { found[$0] == nil }
      try link.subscribe(missing, command: "SUBSCRIBE", format: format, keep: { _ in true })
      let keys = { (batch: ArraySlice<Int>) in format("MGET", batch) }
      let slot = { (index: Int) in ClusterSlot.of(channels[index]) }
      try link.fetch(missing, slot: slot, format: keys) { position, reply in
        let index = missing[position]
        if case .bulk(let payload) = reply { found[index] = try decode(payload, groupID: groups[index]) }
      }
      return missing.count
    }
    func guarding(_ step: () throws -> Void) throws {
      do {
        try step()
      } catch let error as RedisError where error.isConnectionFault {
        link.lose(error)
      }
      report()
    }

    let hintDue = configuration.pendingHintAfter.flatMap { $0 > 0 ? Deadline.after(seconds: $0) : nil }
    var hinted = false
    var readOnce = false
    try guarding {
      try link.connect()
      _ = try readMissing()
      readOnce = true
    }
    while !shouldStop() {
      if readOnce && (!found.contains(nil) || deadline?.hasPassed == true) { break }
      if !hinted, readOnce, let hintDue, hintDue.hasPassed, let after = configuration.pendingHintAfter {
        hinted = true
        let unsaved = groups.indices.filter { found[$0] == nil }
        diagnose(.pendingHint(.groupNotSaved(groupID: groups[unsaved[0]], count: unsaved.count, seconds: after)))
      }
      let slice = Deadline.earliest(.after(seconds: waitSlice), readOnce ? deadline : nil)
      if link.outage != nil {
        let recovered = try link.recover(until: slice) { (try readMissing(), found.filter { $0 == nil }.count) }
        if recovered != nil { readOnce = true }
        report()
        continue
      }
      try guarding {
        for reply in try link.read(maximum: 64, until: slice) {
          let event = PubSubEvent(reply)
          guard case .message(let channel, let payload) = event else {
            _ = try link.absorb(event, command: "SUBSCRIBE")
            continue
          }
          if let index = channels.firstIndex(of: channel), found[index] == nil {
            found[index] = try decode(payload, groupID: groups[index])
          }
        }
      }
    }

    var taskIDs = [String]()
    var known = Set<String>()
    for group in found.compactMap({ $0 }) {
      for id in group.taskIDs where known.insert(id).inserted { taskIDs.append(id) }
    }
    let unsaved = zip(groups, found).filter { $0.1 == nil }.map(\.0)
    return Resolution(taskIDs: taskIDs, unsavedGroupIDs: unsaved)
  }

  /// Returns and clears what ``resolve(_:until:shouldStop:)`` noticed.
  public func takeDiagnostics() -> [ConsumerDiagnostic] {
    defer { diagnostics.removeAll() }
    return diagnostics
  }

  private func decode(_ payload: [UInt8], groupID: String) throws -> SavedGroup {
    do {
      return try SavedGroup.decode(payload)
    } catch {
      throw UndecodableGroupError(groupID: groupID, reason: error)
    }
  }
}
