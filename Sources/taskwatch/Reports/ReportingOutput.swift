import Glibc
import TaskWatch

/// Wraps the output the run loop writes to with what CI needs around it:
/// the details the `--summary` line lists, the `--report` files and
/// annotations written at exit whatever the exit status, the heartbeat on
/// standard error, and the `--fail-fast` line naming the task that failed.
struct ReportingOutput<Inner: StateOutput>: StateOutput {
  /// The NDJSON writer or the human view.
  private var inner: Inner
  private var record: RunRecord
  private var heartbeat: Heartbeat?
  /// The tasks still unready, read when a heartbeat line is due (see
  /// ``watchUnready(_:)``).
  private var unready: () -> [TaskState] = { [] }
  /// Print the summary (`--summary`); the session builds it for the reports too.
  private let printSummary: Bool
  private let reports: [ReportRequest]
  private let failFast: Bool
  private let stepSummaryPath: String?

  /// Creates the wrapper.
  /// - Parameters:
  ///   - heartbeat: seconds without a change before a `still waiting` line; `nil` for none.
  ///   - stepSummaryPath: `GITHUB_STEP_SUMMARY`, for the github report.
  init(
    wrapping inner: Inner, printSummary: Bool, reports: [ReportRequest], failFast: Bool,
    heartbeat: Double?, stepSummaryPath: String?
  ) {
    self.inner = inner
    self.printSummary = printSummary
    self.reports = reports
    self.failFast = failFast
    self.stepSummaryPath = stepSummaryPath
    let junit = reports.contains { if case .junit = $0 { return true } else { return false } }
    record = RunRecord(
      keepsDetails: printSummary || !reports.isEmpty || failFast, keepEveryTask: junit)
    self.heartbeat = heartbeat.map(Heartbeat.init(interval:))
  }

  mutating func write(_ change: StateChange) {
    record.note(change)
    heartbeat?.noteChange()
    inner.write(change)
    if failFast && change.isReady && change.state.isFailure {
      let detail = record.record(for: change.taskID)
      let failure = detail.flatMap { MetaFields.failureText(type: $0.excType, message: $0.excMessage) }
      inner.diagnose(
        "--fail-fast: \(TaskRecord.label(change.taskID, name: detail?.name)) \(change.state.name)"
          + (failure.map { ": " + $0 } ?? ""))
    }
  }

  mutating func watchUnready(_ unready: @escaping () -> [TaskState]) {
    self.unready = unready
    inner.watchUnready(unready)
  }

  mutating func flush() throws(StandardStreams.OutputClosed) {
    try inner.flush()
    if let line = heartbeat?.line(unready: unready) { inner.diagnose(line) }
  }

  mutating func finish(summary: RunSummary?) throws(StandardStreams.OutputClosed) {
    var summary = summary
    summary?.record = record
    var closed: StandardStreams.OutputClosed?
    do {
      try inner.finish(summary: printSummary ? summary : nil)
    } catch {
      closed = error
    }
    if let summary { writeReports(summary) }
    if let closed { throw closed }
  }

  mutating func diagnose(_ message: String) {
    inner.diagnose(message)
  }

  mutating func note(_ diagnostic: ConsumerDiagnostic) {
    inner.note(diagnostic)
  }

  private func writeReports(_ summary: RunSummary) {
    for report in reports {
      switch report {
      case .junit(let path):
        do {
          try JUnitReport(summary: summary, record: record, ended: .now).write(to: path)
        } catch {
          StandardStreams.diagnose(String(describing: error))
        }
      case .github:
        GitHubReport(summary: summary, record: record).emit(stepSummaryPath: stepSummaryPath)
      }
    }
  }
}
