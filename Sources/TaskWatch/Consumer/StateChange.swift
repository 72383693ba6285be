/// One observed transition of one task: what the consumer delivers.
///
/// A task whose stored result can never be decoded (pickle, YAML, a
/// compression kombu does not write, bytes that are not a Celery result) gets
/// one change with ``unreadable`` set: it counts as ready but its outcome is
/// unknown, its `state` is the last state read (PENDING if none), `meta` is
/// `nil`, and the task is final for the run like any ready task.
public struct StateChange: Sendable, Equatable {
  /// Where the consumer learned of the state.
  public enum Source: String, Sendable {
    /// Read from the stored key when the task was first watched.
    case snapshot
    /// Received on the task's pub/sub channel.
    case message
    /// Read from the stored key after a reconnect.
    case resync
  }

  /// The task's id.
  public var taskID: String { identifier.string }
  /// The task's id as it is kept: a uuid as two words, formatted only when asked for.
  package let identifier: TaskIdentifier
  /// The new state.
  public let state: TaskState
  /// The state before this change; `nil` on a task's first change.
  public let previous: TaskState?
  /// How the state was observed.
  public let source: Source
  /// When it was observed (wall clock).
  public let observedAt: WallClockTime
  /// The stored meta; `nil` for a PENDING task that has no stored result.
  public let meta: TaskMeta?
  /// Why the task's stored result can never be read, for the one change that
  /// reports it; `nil` for every readable state.
  public let unreadable: DecodeError?
  /// For a task found through a parent's `children`
  /// (``ConsumerConfiguration/followChildren``): the task whose meta listed
  /// it; `nil` for a task the caller gave.
  public let parentID: String?
  /// For a task found through `children`: the given task at the top of its
  /// tree; `nil` for a task the caller gave.
  public let rootID: String?

  /// True when `state` is SUCCESS, FAILURE or REVOKED, or the stored result is
  /// ``unreadable`` (ready, outcome unknown).
  public var isReady: Bool { state.isReady || unreadable != nil }

  /// True when the task's stored result can never be read (see ``unreadable``).
  public var isUnreadable: Bool { unreadable != nil }

  /// True when the task id is in Celery's uuid form (lowercase hex digits and
  /// hyphens: no byte of it needs escaping in JSON, a URL or a shell word).
  public var taskIDIsUUID: Bool {
    if case .uuid = identifier { return true }
    return false
  }

  /// How many bytes a task id in uuid form has (``taskIDIsUUID``).
  public static var uuidTaskIDLength: Int { 36 }

  /// Writes the task id's ``uuidTaskIDLength`` bytes at `destination` when
  /// it is in uuid form (``taskIDIsUUID``) and returns `true`; writes
  /// nothing and returns `false` for any other id. For a writer that
  /// formats many lines into memory of its own.
  public func formatUUIDTaskID(into destination: UnsafeMutableRawPointer) -> Bool {
    guard case .uuid(let first, let second) = identifier else { return false }
    UUIDText.format(first, second, into: destination)
    return true
  }

  /// Appends the task id's UTF-8 bytes to `buffer` without making a
  /// `String` (a uuid is formatted from its 128 bits on the stack): what a
  /// writer of many lines uses instead of ``taskID``.
  public func appendTaskID(to buffer: inout [UInt8]) {
    identifier.appendUTF8(to: &buffer)
  }

  /// Creates a change value; `unreadable` says why the stored result cannot
  /// be read, for an unreadable task's change, and is `nil` otherwise;
  /// `parentID` and `rootID` only for a task found through a parent's `children`.
  public init(
    taskID: String, state: TaskState, previous: TaskState?, source: Source,
    observedAt: WallClockTime, meta: TaskMeta?, unreadable: DecodeError? = nil,
    parentID: String? = nil, rootID: String? = nil
  ) {
    self.init(
      identifier: TaskIdentifier(taskID), state: state, previous: previous, source: source, observedAt: observedAt,
      meta: meta, unreadable: unreadable, parentID: parentID, rootID: rootID)
  }

  /// Creates a change value from a kept identifier (what the consumers make).
  package init(
    identifier: TaskIdentifier, state: TaskState, previous: TaskState?, source: Source,
    observedAt: WallClockTime, meta: TaskMeta?, unreadable: DecodeError? = nil,
    parentID: String? = nil, rootID: String? = nil
  ) {
    self.identifier = identifier
    self.state = state
    self.previous = previous
    self.source = source
    self.observedAt = observedAt
    self.meta = meta
    self.unreadable = unreadable
    self.parentID = parentID
    self.rootID = rootID
  }
}
