/// The consumer's current knowledge of one task, for summaries.
public struct TaskStatus: Sendable, Equatable {
  /// The task's id.
  public let taskID: String
  /// Its last observed state (PENDING when nothing is stored).
  public let state: TaskState
  /// Whether the consumer still waits for it.
  public let isWatched: Bool
}
