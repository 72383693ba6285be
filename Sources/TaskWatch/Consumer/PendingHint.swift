/// A likely reason why a task (or a `--group`) has stayed PENDING with nothing
/// stored and no message, with the fix: what ``ResultConsumer`` (and
/// ``GroupResolver``) report as ``ConsumerDiagnostic/pendingHint(_:)`` once
/// ``ConsumerConfiguration/pendingHintAfter`` has passed. Each cause is
/// reported at most once per consumer, naming the first task it was found for.
public enum PendingHint: Sendable, Equatable, CustomStringConvertible {
  /// A saved group's key exists under the id: it is a group id, not a task id.
  case groupID(taskID: String, groupKey: String)
  /// The task's key exists in other databases than the one watched.
  case otherDatabase(taskID: String, database: Int, foundIn: [Int])
  /// The id is not a UUID, the form Celery gives task ids.
  case notCeleryID(taskID: String, count: Int)
  /// Nothing else explains it: a result that is never stored, expired or forgotten.
  case nothingStored(taskID: String, count: Int, seconds: Double)
  /// A `--group` id whose group has not been saved: a chord's header never is.
  case groupNotSaved(groupID: String, count: Int, seconds: Double)

  /// Which cause this is; at most one hint per cause is reported per run.
  public enum Cause: Hashable, Sendable, CaseIterable {
    /// ``PendingHint/groupID(taskID:groupKey:)``.
    case groupID
    /// ``PendingHint/otherDatabase(taskID:database:foundIn:)``.
    case otherDatabase
    /// ``PendingHint/notCeleryID(taskID:count:)``.
    case notCeleryID
    /// ``PendingHint/nothingStored(taskID:count:seconds:)``.
    case nothingStored
    /// ``PendingHint/groupNotSaved(groupID:count:seconds:)``.
    case groupNotSaved
  }

  /// The hint's cause.
  public var cause: Cause {
    switch self {
    case .groupID: return .groupID
    case .otherDatabase: return .otherDatabase
    case .notCeleryID: return .notCeleryID
    case .nothingStored: return .nothingStored
    case .groupNotSaved: return .groupNotSaved
    }
  }

  /// Whether `id` has the form Celery gives task and group ids: a UUID
  /// (`str(uuid4())`, 8-4-4-4-12 hexadecimal digits).
  public static func isCeleryID(_ id: String) -> Bool {
    Array(id.utf8).withUnsafeBytes { isCeleryID(utf8: $0) }
  }

  /// ``isCeleryID(_:)`` for an id's UTF-8 bytes.
  static func isCeleryID(utf8 bytes: UnsafeRawBufferPointer) -> Bool {
    guard bytes.count == 36 else { return false }
    for (position, byte) in bytes.enumerated() {
      if [8, 13, 18, 23].contains(position) {
        guard byte == UInt8(ascii: "-") else { return false }
      } else {
        let lowered = byte | 0x20
        let isHex =
          (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(byte)
          || (UInt8(ascii: "a")...UInt8(ascii: "f")).contains(lowered)
        guard isHex else { return false }
      }
    }
    return true
  }

  private static func seconds(_ value: Double) -> String {
    value < 10 ? "\((value * 10).rounded() / 10)s" : "\(Int(value.rounded()))s"
  }

  private static func others(_ count: Int, _ noun: String) -> String {
    count <= 1 ? "" : " (and \(count - 1) other \(noun)\(count == 2 ? "" : "s"))"
  }

  /// A one-line message for the user: what was found, and the fix.
  public var description: String {
    switch self {
    case .groupID(let taskID, let groupKey):
      return "task \(taskID) is still PENDING, but \(groupKey) exists: it is a group id, "
        + "not a task id; watch its tasks with --group \(taskID)"
    case .otherDatabase(let taskID, let database, let foundIn):
      let names = foundIn.map(String.init).joined(separator: ", ")
      return "task \(taskID) has no result in database \(database), but database"
        + (foundIn.count == 1 ? " " : "s ") + names + (foundIn.count == 1 ? " has" : " have")
        + " one: the URL should name database \(foundIn[0]) (e.g. redis://host:6379/\(foundIn[0]))"
    case .notCeleryID(let taskID, let count):
      return "task id \(taskID)\(Self.others(count, "id")) is not a UUID, the form Celery gives task ids: "
        + "check that it is a task's id (AsyncResult.id), not a task name, a key or a log excerpt"
    case .nothingStored(let taskID, let count, let seconds):
      return "task \(taskID)\(Self.others(count, "task")) has been PENDING for \(Self.seconds(seconds)) "
        + "with nothing stored: a task with ignore_result=True, a result older than result_expires, "
        + "or one removed with forget() leaves nothing to read; otherwise no worker has started it yet"
    case .groupNotSaved(let groupID, let count, let seconds):
      return "group \(groupID)\(Self.others(count, "group")) has not been saved after \(Self.seconds(seconds)): "
        + "only GroupResult.save() stores a group, and a chord's header group is never saved; "
        + "watch the header's task ids instead (result.parent.children)"
    }
  }
}
