/// One observed transition of one task: what the consumer delivers.
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
  public let taskID: String
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
  /// For a task found through a parent's `children`
  /// (``ConsumerConfiguration/followChildren``): the task whose meta listed
  /// it; `nil` for a task the caller gave.
  public let parentID: String?
  /// For a task found through `children`: the given task at the top of its
  /// tree; `nil` for a task the caller gave.
  public let rootID: String?

  /// True when `state` is SUCCESS, FAILURE or REVOKED.
  public var isReady: Bool { state.isReady }

  /// Creates a change value; `parentID` and `rootID` only for a task found
  /// through a parent's `children`.
  public init(
    taskID: String, state: TaskState, previous: TaskState?, source: Source,
    observedAt: WallClockTime, meta: TaskMeta?, parentID: String? = nil, rootID: String? = nil
  ) {
    self.taskID = taskID
    self.state = state
    self.previous = previous
    self.source = source
    self.observedAt = observedAt
    self.meta = meta
    self.parentID = parentID
    self.rootID = rootID
  }
}
