import TaskWatch

/// What the reports know about one task beyond its state.
struct TaskRecord {
  /// The last state seen.
  var state: TaskState
  /// The task's name, when a meta carried it (`result_extended`).
  var name: String?
  /// `exc_type` of a failure.
  var excType: String?
  /// `exc_message` of a failure, as text.
  var excMessage: String?
  /// The failure's traceback.
  var traceback: String?
  /// When the task was seen ready.
  var readyAt: WallClockTime?

  /// `name[id]` as Celery's worker log writes it, or the id alone.
  static func label(_ taskID: String, name: String?) -> String {
    name.map { "\($0)[\(taskID)]" } ?? taskID
  }
}

/// The run as the reports see it, fed with every state change: the number
/// of tasks per state (for the heartbeat), and details of the tasks that
/// need them (for the summary, the reports and `--fail-fast`).
///
/// Details are kept only for tasks with a meta that is not SUCCESS (what the
/// summary lists), or for every task with a meta when `keepEveryTask` is set
/// (the JUnit report has a test case per task): a PENDING task has no meta,
/// so 100,000 snapshot lines of it cost nothing here. Each part costs only
/// when asked for: with neither, a change costs a branch.
struct RunRecord {
  /// When the watch started (wall clock, as ``StateChange/observedAt``).
  let started = WallClockTime.now
  /// Keep the details of tasks.
  let keepsDetails: Bool
  /// Keep details of succeeded tasks too.
  let keepEveryTask: Bool
  /// Details by task id.
  private(set) var details: [String: TaskRecord] = [:]

  /// Creates an empty record.
  init(keepsDetails: Bool, keepEveryTask: Bool) {
    self.keepsDetails = keepsDetails || keepEveryTask
    self.keepEveryTask = keepEveryTask
  }

  /// Takes one change into the details, when they are kept.
  mutating func note(_ change: StateChange) {
    guard keepsDetails, let meta = change.meta, keepEveryTask || change.state != .success else { return }
    let fields = MetaFields(json: meta.json)
    var record = details[change.taskID] ?? TaskRecord(state: change.state)
    record.state = change.state
    record.name = fields.name ?? record.name
    record.excType = fields.excType
    record.excMessage = fields.excMessage
    record.traceback = fields.traceback
    if change.isReady && record.readyAt == nil { record.readyAt = change.observedAt }
    details[change.taskID] = record
  }

  /// The details of a task, if kept. A task that went on to SUCCESS may
  /// still have the details of an earlier state: callers look only at
  /// tasks that did not succeed (and, for JUnit, every task's details are current).
  func record(for taskID: String) -> TaskRecord? { details[taskID] }

  /// Seconds from the start of the watch to `time`.
  func secondsSinceStart(_ time: WallClockTime) -> Double {
    max(0, Double(time.seconds - started.seconds) + Double(time.nanoseconds - started.nanoseconds) / 1e9)
  }
}
