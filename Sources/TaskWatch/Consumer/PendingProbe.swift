/// Looks for why tasks stay PENDING (``PendingHint``), on a short-lived
/// connection of its own so the watch's two connections never see a
/// command they did not send (a `SELECT` would move the command connection
/// to another database).
///
/// It asks only what a user may be allowed: `EXISTS` of each task's group
/// key in the watched database, then `SELECT` of databases 0–15 with `EXISTS`
/// of the task keys in each. A refusal (an ACL without `SELECT` or `EXISTS`,
/// a database the server lacks) or a fault only drops that check: hints are
/// advice, never a reason to disturb or end the watch.
struct PendingProbe {
  let configuration: ConsumerConfiguration
  /// Tasks looked at per check: enough to find a cause, few enough to cost
  /// milliseconds (16 pipelined `EXISTS` batches of at most this many keys).
  static let maximumTasks = 100
  /// The databases looked at, as Redis numbers them by default.
  static let databases = 0..<16

  /// The tasks one check looks into, summed up in memory that does not grow
  /// with their number: at 1,000,000 PENDING tasks a list of their ids was
  /// ~130 MB (the `String`s, the list of those not in Celery's form and the
  /// set of those explained), more than the whole watch of them.
  struct Pending {
    /// How many tasks are PENDING with nothing stored and no message.
    private(set) var count = 0
    /// The first ``PendingProbe/maximumTasks`` of them, in order: those asked about.
    private(set) var sample: [String] = []
    /// How many of them are not in Celery's id form.
    private(set) var foreignCount = 0
    /// The first of those.
    private(set) var firstForeign: String?
    /// The first past the sample in Celery's form: the one named when every
    /// task of the sample is explained.
    private(set) var firstCeleryIDPastSample: String?

    /// Adds the next task (in the order watched) by its id's UTF-8 bytes.
    mutating func add(utf8 id: UnsafeRawBufferPointer) {
      count += 1
      let isCeleryID = PendingHint.isCeleryID(utf8: id)
      if !isCeleryID {
        foreignCount += 1
        if firstForeign == nil { firstForeign = String(decoding: id, as: UTF8.self) }
      }
      if sample.count < PendingProbe.maximumTasks {
        sample.append(String(decoding: id, as: UTF8.self))
      } else if isCeleryID && firstCeleryIDPastSample == nil {
        firstCeleryIDPastSample = String(decoding: id, as: UTF8.self)
      }
    }
  }

  /// The hints for the `pending` tasks (PENDING, nothing stored, no
  /// message) whose cause is not in `reported`, at most one per cause.
  /// - Parameter seconds: how long they have been PENDING, for the wording.
  func hints(for pending: Pending, skipping reported: Set<PendingHint.Cause>, seconds: Double) -> [PendingHint] {
    guard pending.count > 0 else { return [] }
    var hints = [PendingHint]()
    // Every id not in Celery's form is explained by that; of the others
    // only those of the sample can be explained by what the server holds.
    var explained = Set<String>()
    if let first = pending.firstForeign, !reported.contains(.notCeleryID) {
      hints.append(.notCeleryID(taskID: first, count: pending.foreignCount))
    }
    let sample = pending.sample
    let deadline = Deadline.after(seconds: min(configuration.commandTimeout, 2))
    if let connection = try? open(until: deadline) {
      let groups = existing(sample.map { configuration.keyNaming.key(forGroup: $0) }, on: connection, until: deadline)
      if let index = groups.first {
        explained.formUnion(groups.map { sample[$0] })
        if !reported.contains(.groupID) {
          hints.append(.groupID(taskID: sample[index], groupKey: configuration.keyNaming.key(forGroup: sample[index])))
        }
      }
      if !reported.contains(.otherDatabase), let found = otherDatabases(sample, on: connection, until: deadline) {
        explained.insert(found.taskID)
        hints.append(.otherDatabase(taskID: found.taskID, database: configuration.backend.database, foundIn: found.in))
      }
    }
    let unexplainedInSample = sample.filter { PendingHint.isCeleryID($0) && !explained.contains($0) }
    let foreignInSample = sample.count(where: { !PendingHint.isCeleryID($0) })
    let unexplainedCount =
      unexplainedInSample.count + (pending.count - sample.count) - (pending.foreignCount - foreignInSample)
    if let first = unexplainedInSample.first ?? pending.firstCeleryIDPastSample, !reported.contains(.nothingStored) {
      hints.append(.nothingStored(taskID: first, count: unexplainedCount, seconds: seconds))
    }
    return hints
  }

  private func open(until deadline: Deadline) throws -> RedisConnection {
    try configuration.openConnection(
      to: try configuration.serverEndpoint(), selecting: configuration.backend.database, until: deadline)
  }

  /// The positions of `keys` that exist in the connection's database; none
  /// when the server refuses `EXISTS` or the link fails.
  private func existing(_ keys: [String], on connection: RedisConnection, until deadline: Deadline) -> [Int] {
    for key in keys { connection.append(["EXISTS", key]) }
    guard (try? connection.flush(until: deadline)) != nil,
      let replies = try? connection.replies(count: keys.count, until: deadline, operation: "EXISTS")
    else { return [] }
    return replies.indices.filter { replies[$0] == .integer(1) }
  }

  /// The first task whose key exists in another database, with every such
  /// database; databases the user may not `SELECT` are passed over in silence.
  private func otherDatabases(
    _ taskIDs: [String], on connection: RedisConnection, until deadline: Deadline
  ) -> (taskID: String, in: [Int])? {
    let keys = taskIDs.map { configuration.keyNaming.key(forTask: $0) }
    var first: String?
    var databases = [Int]()
    for database in Self.databases where database != configuration.backend.database {
      guard (try? connection.select(database: database, until: deadline)) != nil else {
        // Past the server's last database every SELECT fails the same way.
        if deadline.hasPassed { break }
        continue
      }
      let found = existing(keys, on: connection, until: deadline)
      guard let index = found.first else { continue }
      if first == nil { first = taskIDs[index] }
      if found.contains(where: { taskIDs[$0] == first }) { databases.append(database) }
    }
    return first.map { ($0, databases) }
  }
}
