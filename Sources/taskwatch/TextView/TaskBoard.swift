import TaskWatch

/// One task as the human view shows it.
struct TaskRow: Equatable {
  /// The task's id.
  let taskID: String
  /// Its latest state.
  var state: TaskState
  /// `current / total` from the latest meta, clamped to 0…1, when it has both as numbers.
  var progress: Double?
  /// When the task was first seen (wall-clock seconds).
  let firstSeen: Double
  /// When it became ready (wall-clock seconds).
  var readyAt: Double?
  /// `exc_type: exc_message` of a FAILURE or REVOKED; why an UNREADABLE result cannot be read.
  var failure: String?
}

/// The rows of the human view, fed with state changes in the order they arrive.
///
/// Only this view reads into `meta` (with ``JSONTree``); the NDJSON path
/// never parses it. Foundation's `JSONSerialization` did this before: importing
/// Foundation linked ICU and its data into every build and cost start-up time
/// on every run, for a view most runs never show.
struct TaskBoard {
  /// The rows, in the order the tasks were first seen.
  private(set) var rows: [TaskRow] = []
  private var positions: [String: Int] = [:]

  /// The row of `taskID`, if it was seen.
  func row(for taskID: String) -> TaskRow? {
    positions[taskID].map { rows[$0] }
  }

  /// Applies one change: adds the task or updates its row.
  mutating func apply(_ change: StateChange) {
    let time = Double(change.observedAt.seconds) + Double(change.observedAt.nanoseconds) / 1e9
    let fields = change.meta.flatMap { Self.result(of: $0.json) }
    let position: Int
    if let existing = positions[change.taskID] {
      position = existing
    } else {
      position = rows.count
      positions[change.taskID] = position
      rows.append(TaskRow(taskID: change.taskID, state: change.shownState, firstSeen: time))
    }
    rows[position].state = change.shownState
    rows[position].progress = fields.flatMap(Self.progress(in:))
    if change.isReady && rows[position].readyAt == nil { rows[position].readyAt = time }
    rows[position].failure = change.state.isFailure ? Self.failure(in: fields) : nil
    if let reason = change.unreadable { rows[position].failure = "\(reason.problem): \(reason.fix)" }
  }

  /// The meta's `result` member, whatever its type.
  private static func result(of json: [UInt8]) -> JSONTree? {
    (try? JSONTree.parse(json))?["result"]
  }

  /// Celery's PROGRESS convention: `result` is `{"current": i, "total": n}`.
  static func progress(in result: JSONTree) -> Double? {
    guard let current = number(result["current"]), let total = number(result["total"]), total > 0,
      current.isFinite
    else { return nil }
    return min(max(current / total, 0), 1)
  }

  /// `exc_type: exc_message` from a failure's `result`, or `nil` without `exc_type`.
  static func failure(in result: JSONTree?) -> String? {
    guard case .string(let type)? = result?["exc_type"] else { return nil }
    let message: String
    switch result?["exc_message"] {
    case nil, .null?: message = ""
    case .array(let parts)?: message = parts.map(text(of:)).joined(separator: ", ")
    case let other?: message = text(of: other)
    }
    return message.isEmpty ? type : "\(type): \(message)"
  }

  /// A JSON number as a Double; booleans are not numbers here.
  private static func number(_ value: JSONTree?) -> Double? {
    guard case .number(let text)? = value else { return nil }
    return Double(text)
  }

  /// A value as the view prints it: strings bare, anything else as compact JSON-like text.
  private static func text(of value: JSONTree) -> String {
    switch value {
    case .string(let text): return text
    case .number(let text): return text
    case .bool(let flag): return flag ? "true" : "false"
    case .null: return "null"
    case .array(let elements): return "[" + elements.map(text(of:)).joined(separator: ", ") + "]"
    case .object(let members):
      return "{" + members.map { "\($0.key): \(text(of: $0.value))" }.joined(separator: ", ") + "}"
    }
  }
}
