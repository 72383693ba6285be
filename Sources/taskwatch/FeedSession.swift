import ArgumentParser
import TaskWatch

/// `--all` and `--count`: watch every task on the backend instead of given ids.
struct FeedOptions: ParsableArguments {
  @Flag(help: "Watch every task on the backend (PSUBSCRIBE to the key prefix) instead of given ids.")
  var all = false

  @Option(help: ArgumentHelp("With --all, stop once this many tasks are ready.", valueName: "n"))
  var count: Int?
}

/// One `--all` run: stream every task's transitions until `--count` tasks are
/// ready, `--fail-fast` sees a failure, the deadline passes, or a signal arrives.
///
/// Generic over its output, like ``WatchSession``.
struct FeedSession<Output: StateOutput> {
  /// What the options resolved.
  let plan: FeedPlan
  /// Print the summary at the end (`--summary`).
  let summary: Bool
  /// Where state changes go.
  var writer: Output
  /// With `--summary`: the tasks that became ready, in that order. The feed
  /// itself forgets ready tasks (constant memory); only a run that asked for
  /// a summary of every task keeps one status per task, here.
  var finished: [TaskStatus] = []

  /// Runs to the end and returns the exit status: at `--count` or the
  /// deadline, 0 or 1 by whether a task failed, or 124 at the deadline when a
  /// task seen is still unready.
  mutating func run() -> ExitStatus {
    let started = Deadline.now
    let feed = BackendFeed(configuration: plan.configuration)
    writer.watchUnready { feed.statuses.map(\.state) }
    defer { feed.stop() }
    var outcome = watch(feed)
    if case .timedOut = outcome, let problem = feed.connectionProblem {
      outcome = .failed(NoConnection(moment: .deadline(plan.timeout ?? 0), everConnected: true, lastError: problem))
    }
    var diagnostic: String?
    if case .timedOut = outcome {
      let unready = feed.statuses.count
      diagnostic =
        "timed out after \(WatchDuration(seconds: plan.timeout ?? 0)) with \(unready) of \(unready + feed.readyCount) tasks unready"
    }
    return SessionLoop.end(
      outcome, writer: &writer, statuses: finished + feed.statuses, started: started, summary: summary,
      diagnostic: diagnostic)
  }

  private mutating func watch(_ feed: BackendFeed) -> ExitStatus.Outcome {
    let deadline = plan.configuration.deadline
    var anyFailed = false
    func atDeadline() -> ExitStatus.Outcome {
      !feed.statuses.isEmpty || feed.connectionProblem != nil
        ? .timedOut : .allReady(anyFailed: anyFailed)
    }
    defer { reportDiagnostics(feed) }
    do {
      try feed.start()
      try writer.flush()
      while true {
        if let signal = SignalTrap.pending { return .signalled(signal) }
        if let deadline, deadline.hasPassed { return atDeadline() }
        var changes = try feed.drainEvents(timeout: SessionLoop.nextWait(before: deadline))
        reportDiagnostics(feed)
        // Not `for change in changes`, which copied each change (see handOut).
        changes.handOut { change in
          writer.write(change)
          if change.isReady && change.state.isFailure { anyFailed = true }
          if summary && change.isReady {
            finished.append(TaskStatus(taskID: change.taskID, state: change.state, isWatched: false))
          }
        }
        try writer.flush()
        if plan.failFast && anyFailed { return .failedFast }
        if let count = plan.count, feed.readyCount >= count { return .allReady(anyFailed: anyFailed) }
      }
    } catch {
      return SessionLoop.outcome(of: error, atDeadline: atDeadline())
    }
  }

  private mutating func reportDiagnostics(_ feed: BackendFeed) {
    for diagnostic in feed.takeDiagnostics() {
      writer.note(diagnostic)
    }
  }
}
