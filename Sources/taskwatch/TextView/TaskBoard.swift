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
  /// The task's name, when the meta has one (Celery's `result_extended`).
  var name: String?
  /// The result of a SUCCESS as short text.
  var result: String?
  /// `date_done` (wall-clock seconds) of a task that was already ready when
  /// first seen: its row shows its own age.
  var doneBeforeStart: Double?
  /// With `--children`, the task whose meta listed this one; `nil` for a given id.
  var parentID: String?

  /// Creates a row; the optional parts start empty.
  init(
    taskID: String, state: TaskState, progress: Double? = nil, firstSeen: Double, readyAt: Double? = nil,
    failure: String? = nil, name: String? = nil, result: String? = nil, doneBeforeStart: Double? = nil,
    parentID: String? = nil
  ) {
    self.taskID = taskID
    self.state = state
    self.progress = progress
    self.firstSeen = firstSeen
    self.readyAt = readyAt
    self.failure = failure
    self.name = name
    self.result = result
    self.doneBeforeStart = doneBeforeStart
    self.parentID = parentID
  }

  /// What the row shows after the time: the result of a SUCCESS, the
  /// exception of a FAILURE or REVOKED, or why an UNREADABLE result cannot be read.
  var outcome: String? { state.isFailure || state == .unreadable ? failure : (state == .success ? result : nil) }
}

/// The rows of the human view, fed with state changes in the order they arrive.
///
/// Only this view (and the reports) read into `meta` (with ``JSONTree``); the
/// NDJSON path never parses it. Foundation's `JSONSerialization` did this
/// before: importing Foundation linked ICU and its data into every build and
/// cost start-up time on every run, for a view most runs never show.
struct TaskBoard {
  /// The rows, in the order the tasks were first seen.
  private(set) var rows: [TaskRow] = []
  private var positions: [String: Int] = [:]

  /// Longest result text kept for a row.
  static let resultLength = 200

  /// The row of `taskID`, if it was seen.
  func row(for taskID: String) -> TaskRow? {
    positions[taskID].map { rows[$0] }
  }

  /// Applies one change: adds the task or updates its row.
  mutating func apply(_ change: StateChange) {
    let time = Double(change.observedAt.seconds) + Double(change.observedAt.nanoseconds) / 1e9
    let fields = change.meta.map { MetaFields(json: $0.json) }
    let position: Int
    if let existing = positions[change.taskID] {
      position = existing
    } else {
      position = rows.count
      positions[change.taskID] = position
      rows.append(TaskRow(taskID: change.taskID, state: change.shownState, firstSeen: time, parentID: change.parentID))
      if change.isReady && change.source == .snapshot {
        rows[position].doneBeforeStart = fields?.dateDone.flatMap(CeleryDate.epochSeconds)
      }
    }
    rows[position].state = change.shownState
    rows[position].progress = fields?.result.flatMap(Self.progress(in:))
    if let name = fields?.name { rows[position].name = name }
    if change.isReady && rows[position].readyAt == nil { rows[position].readyAt = time }
    rows[position].failure = change.state.isFailure ? fields?.failure : nil
    rows[position].result =
      change.state == .success
      ? fields?.result.map { String(MetaFields.text(of: $0).prefix(Self.resultLength)) } : nil
    if let reason = change.unreadable { rows[position].failure = "\(reason.problem): \(reason.fix)" }
  }

  /// Celery's PROGRESS convention: `result` is `{"current": i, "total": n}`.
  static func progress(in result: JSONTree) -> Double? {
    guard let current = number(result["current"]), let total = number(result["total"]), total > 0,
      current.isFinite
    else { return nil }
    return min(max(current / total, 0), 1)
  }

  /// A JSON number as a Double; booleans are not numbers here.
  private static func number(_ value: JSONTree?) -> Double? {
    guard case .number(let text)? = value else { return nil }
    return Double(text)
  }
}
