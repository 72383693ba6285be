/// A ready task's result, as ``TaskWatcher/results(for:timeout:)`` returns it.
public struct TaskResult: Sendable, Equatable {
  /// The task's id.
  public let taskID: String
  /// The stored meta: ``TaskMeta/json`` has the raw bytes.
  public let meta: TaskMeta

  /// The task's state: SUCCESS, FAILURE or REVOKED.
  public var state: TaskState { meta.state }

  /// Creates a result from a task's stored meta.
  public init(taskID: String, meta: TaskMeta) {
    self.taskID = taskID
    self.meta = meta
  }
}
