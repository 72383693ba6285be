import TaskWatch

/// One run of the command: snapshot, then stream until every task is ready,
/// the deadline passes, `--fail-fast` fires, or a signal arrives.
///
/// Generic over its output, built for the writer's concrete type (see
/// ``SessionPlan``): calls through `any StateOutput` checked the boxed
/// writer's uniqueness and projected it on every change (~150 instructions
/// a message at S4).
struct WatchSession<Output: StateOutput> {
  /// What the options resolved.
  let plan: WatchPlan
  /// The ids to watch, deduplicated, in order: the plan's, then the
  /// `--group` children once the groups are read. Handed to the consumer
  /// (and emptied here) when the watch starts.
  var taskIDs: TaskIDSet
  /// Print the summary line at the end (`--summary`).
  let summary: Bool
  /// Where state changes go: NDJSON or the human view.
  var writer: Output

  /// Runs to the end and returns the exit status.
  mutating func run() -> ExitStatus {
    let started = Deadline.now
    let consumer = ResultConsumer(configuration: plan.configuration)
    writer.watchUnready { consumer.statuses.filter(\.isWatched).map(\.state) }
    defer { consumer.stop() }
    var outcome = watch(consumer)
    if case .timedOut = outcome, let problem = consumer.connectionProblem {
      outcome = .failed(
        NoConnection(
          moment: plan.once ? .once : .deadline(plan.timeout ?? 0), everConnected: consumer.hasConnected,
          lastError: problem))
    }
    let diagnostic: String?
    switch outcome {
    case .groupsNotSaved(let groupIDs):
      diagnostic = unsavedGroupsMessage(groupIDs)
    case .timedOut where !plan.once:
      let unready = consumer.watchingCount
      diagnostic =
        "timed out after \(WatchDuration(seconds: plan.timeout ?? 0)) with \(unready) of \(consumer.taskCount) tasks unready"
    default:
      diagnostic = nil
    }
    return SessionLoop.end(
      outcome, writer: &writer, statuses: consumer.statuses, started: started, summary: summary,
      diagnostic: diagnostic)
  }

  private mutating func watch(_ consumer: ResultConsumer) -> ExitStatus.Outcome {
    let deadline = plan.configuration.deadline
    var anyFailed = false
    var firstUnreadable: UndecodableResultError?
    var tasksReported = 0
    func record(_ change: borrowing StateChange) {
      writer.write(change)
      if change.previous == nil { tasksReported += 1 }
      if let reason = change.unreadable {
        let error = UndecodableResultError(taskID: change.taskID, reason: reason)
        // With --fail-fast the run ends with this error, which says it once.
        if !plan.failFast { writer.diagnose(error.description) }
        if firstUnreadable == nil { firstUnreadable = error }
      } else if change.isReady && change.state.isFailure {
        anyFailed = true
      }
    }
    defer { reportDiagnostics(consumer) }
    do {
      if !plan.groupIDs.isEmpty, let outcome = try expandGroups(until: deadline) { return outcome }
      // The snapshot is written as it is read, never held whole.
      // Handed over: the consumer's table keeps the only copy of the ids.
      let ids = taskIDs
      taskIDs = TaskIDSet()
      try consumer.consume(from: consume ids, onChange: record)
      var changes: [StateChange] = []
      while true {
        reportDiagnostics(consumer)
        // Not `for change in changes`, which copied each change out of the
        // array and destroyed the copy (~390 instructions a message at S4).
        changes.handOut(record)
        try writer.flush()
        if plan.failFast && anyFailed { return .failedFast }
        if plan.failFast, let firstUnreadable { return .failed(firstUnreadable) }
        if consumer.watchingCount == 0 {
          return .allReady(anyFailed: anyFailed, anyUnreadable: firstUnreadable != nil)
        }
        // With --children the snapshot covers every task found so far.
        if plan.once && (tasksReported == consumer.taskCount || consumer.connectionProblem != nil) { return .timedOut }
        if let signal = SignalTrap.pending { return .signalled(signal) }
        if let deadline, deadline.hasPassed { return .timedOut }
        changes = try consumer.drainEvents(timeout: SessionLoop.nextWait(before: deadline))
      }
    } catch {
      return SessionLoop.outcome(of: error, atDeadline: .timedOut)
    }
  }

  private mutating func reportDiagnostics(_ consumer: ResultConsumer) {
    for diagnostic in consumer.takeDiagnostics() {
      // --once makes one attempt: "reconnecting" would not be true.
      if plan.once, case .connectionLost = diagnostic { continue }
      writer.note(diagnostic)
    }
  }
}
