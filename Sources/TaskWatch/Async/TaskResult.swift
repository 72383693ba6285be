/// A ready task's result, as ``TaskWatcher/results(for:timeout:)`` returns
/// it: the stored meta parsed once into typed fields, with the raw bytes
/// kept in ``meta``.
///
/// ```swift
/// struct Answer: Decodable { let total: Int }
/// let result = try await watcher.result(for: id, timeout: .seconds(30))
/// switch result.state {
/// case .success: print(try result.result?.decode(Answer.self)?.total ?? 0)
/// default: print(result.exception?.description ?? result.state.name)
/// }
/// ```
public struct TaskResult: Sendable, Equatable {
  /// The task's id.
  public let taskID: String
  /// The stored meta: `TaskMeta.json` has its bytes (valid JSON, one line).
  public let meta: TaskMeta
  /// The task's return value (SUCCESS), exception (FAILURE, REVOKED) or
  /// custom meta; `nil` when Celery stored none (`None`).
  public let result: JSONValue?
  /// The exception of a FAILURE or REVOKED task (`exc_type`, `exc_message`, `exc_module`).
  public let exception: TaskException?
  /// The Python traceback of a failed task.
  public let traceback: String?
  /// The task's name; stored only with Celery's `result_extended`.
  public let name: String?
  /// When the task became ready (`date_done`).
  public let dateDone: WallClockTime?
  /// The result tuples of tasks this task started, as stored (`children`).
  public let children: [JSONValue]

  /// The task's state: SUCCESS, FAILURE or REVOKED (any state for a result
  /// made from a meta that is not ready).
  public var state: TaskState { meta.state }

  /// Creates a result from a task's stored meta, parsing its fields.
  public init(taskID: String, meta: TaskMeta) {
    self.taskID = taskID
    self.meta = meta
    let fields = TaskFields(meta.document)
    result = fields.result
    exception = fields.exception
    traceback = fields.traceback
    name = fields.name
    dateDone = fields.dateDone
    children = fields.children
  }
}
