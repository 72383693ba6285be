import Foundation
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
  /// `exc_type: exc_message` of a FAILURE or REVOKED.
  var failure: String?
}

/// The rows of the human view, fed with state changes in the order they arrive.
///
/// Only this view reads into `meta` (with `JSONSerialization`); the NDJSON path
/// never parses it.
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
      rows.append(TaskRow(taskID: change.taskID, state: change.state, firstSeen: time))
    }
    rows[position].state = change.state
    rows[position].progress = fields.flatMap(Self.progress(in:))
    if change.isReady && rows[position].readyAt == nil { rows[position].readyAt = time }
    rows[position].failure = change.state.isFailure ? Self.failure(in: fields) : nil
  }

  /// The meta's `result` member, whatever its type.
  private static func result(of json: [UInt8]) -> Any? {
    guard let object = try? JSONSerialization.jsonObject(with: Data(json)) as? [String: Any] else { return nil }
    return object["result"]
  }

  /// Celery's PROGRESS convention: `result` is `{"current": i, "total": n}`.
  static func progress(in result: Any) -> Double? {
    guard let fields = result as? [String: Any], let current = number(fields["current"]),
      let total = number(fields["total"]), total > 0, current.isFinite
    else { return nil }
    return min(max(current / total, 0), 1)
  }

  /// `exc_type: exc_message` from a failure's `result`, or `nil` without `exc_type`.
  static func failure(in result: Any?) -> String? {
    guard let fields = result as? [String: Any], let type = fields["exc_type"] as? String else { return nil }
    let message: String
    switch fields["exc_message"] {
    case let text as String: message = text
    case let parts as [Any]: message = parts.map { "\($0)" }.joined(separator: ", ")
    case nil, is NSNull: message = ""
    case let other?: message = "\(other)"
    }
    return message.isEmpty ? type : "\(type): \(message)"
  }

  /// A JSON number as a Double; booleans (which Foundation also bridges to
  /// NSNumber, with the `c` type code) are not numbers here.
  private static func number(_ value: Any?) -> Double? {
    guard let number = value as? NSNumber, String(cString: number.objCType) != "c" else { return nil }
    return number.doubleValue
  }
}
