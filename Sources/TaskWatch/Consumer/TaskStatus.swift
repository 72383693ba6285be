/// The consumer's current knowledge of one task, for summaries.
public struct TaskStatus: Sendable, Equatable {
  /// The task's id.
  public let taskID: String
  /// Its last observed state (PENDING when nothing is stored).
  public let state: TaskState
  /// Whether the consumer still waits for it.
  public let isWatched: Bool
  /// For a task found through a parent's `children`: that parent; `nil` for a given id.
  public let parentID: String?
  /// For a task found through `children`: the given id at the top of its tree.
  public let rootID: String?

  /// Creates a status value; `parentID` and `rootID` only for a task found
  /// through a parent's `children`.
  public init(taskID: String, state: TaskState, isWatched: Bool, parentID: String? = nil, rootID: String? = nil) {
    self.taskID = taskID
    self.state = state
    self.isWatched = isWatched
    self.parentID = parentID
    self.rootID = rootID
  }
}
