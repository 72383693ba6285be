/// The consumer's current knowledge of one task, for summaries.
public struct TaskStatus: Sendable, Equatable {
  /// The task's id.
  public let taskID: String
  /// Its last observed state (PENDING when nothing is stored).
  public let state: TaskState
  /// Whether the consumer still waits for it.
  public let isWatched: Bool
  /// Why its stored result can never be read, when it cannot: the task is
  /// then ready with an unknown outcome, and `state` is the last state read.
  public let unreadable: DecodeError?
  /// For a task found through a parent's `children`: that parent; `nil` for a given id.
  public let parentID: String?
  /// For a task found through `children`: the given id at the top of its tree.
  public let rootID: String?

  /// True when the task is ready: its state is, or its result is unreadable.
  public var isReady: Bool { state.isReady || unreadable != nil }

  /// Creates a status value; `parentID` and `rootID` only for a task found
  /// through a parent's `children`.
  public init(
    taskID: String, state: TaskState, isWatched: Bool, unreadable: DecodeError? = nil,
    parentID: String? = nil, rootID: String? = nil
  ) {
    self.taskID = taskID
    self.state = state
    self.isWatched = isWatched
    self.unreadable = unreadable
    self.parentID = parentID
    self.rootID = rootID
  }
}
