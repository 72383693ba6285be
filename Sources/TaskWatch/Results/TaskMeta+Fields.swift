/// Typed access to the fields of a task's meta. Each accessor parses
/// `TaskMeta.json` again; to read several fields, parse once with
/// ``TaskResult`` (or ``document``) and read from that.
extension TaskMeta {
  /// The whole meta as a JSON value.
  public var document: JSONValue {
    // `json` is valid JSON by construction (``decode(_:)`` validated it).
    (try? JSONValue.parse(json)) ?? .null
  }

  /// The task's return value (SUCCESS), exception (FAILURE, REVOKED, RETRY)
  /// or custom meta (`update_state`, e.g. PROGRESS); `nil` when Celery stored
  /// none (`None`).
  public var result: JSONValue? { TaskFields(document).result }

  /// The exception a FAILURE (or REVOKED, RETRY) stored as its result.
  public var exception: TaskException? { TaskFields(document).exception }

  /// The Python traceback of a failed task.
  public var traceback: String? { TaskFields(document).traceback }

  /// The task's name (`demoapp.add`); stored only with `result_extended`.
  public var name: String? { TaskFields(document).name }

  /// When the task became ready (`date_done`); `nil` before that.
  public var dateDone: WallClockTime? { TaskFields(document).dateDone }

  /// The results of tasks this task started, as stored (`children`): each a
  /// result tuple, `[[id, parent], null]` for a task or `[[id, parent], [child, …]]` for a group.
  public var children: [JSONValue] { TaskFields(document).children }
}

/// The fields of one parsed meta, shared by `TaskMeta`'s accessors and ``TaskResult``.
struct TaskFields {
  let result: JSONValue?
  let exception: TaskException?
  let traceback: String?
  let name: String?
  let dateDone: WallClockTime?
  let children: [JSONValue]

  init(_ document: JSONValue) {
    let stored = document["result"]
    result = stored == .null ? nil : stored
    exception = stored.flatMap(TaskException.init(result:))
    traceback = document["traceback"]?.stringValue
    name = document["name"]?.stringValue
    dateDone = document["date_done"]?.stringValue.flatMap(WallClockTime.init(iso8601:))
    children = document["children"]?.arrayValue ?? []
  }
}
