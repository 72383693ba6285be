import TaskWatch

/// A session resolved from the options, waiting for its writer: run with the
/// writer the output options pick, by that writer's concrete type (see
/// ``SelectedOutput``), so each session is specialized for its output.
protocol SessionPlan {
  /// Builds the session around `writer` and runs it to the end.
  /// - Parameter summary: whether the session builds the run summary (for
  ///   `--summary` or a report).
  func run<Output: StateOutput>(writer: Output, summary: Bool) -> ExitStatus
}

/// A watch of given ids (and `--group` children): a ``WatchSession``.
struct WatchPlan: SessionPlan {
  /// See ``WatchSession/configuration``.
  let configuration: ConsumerConfiguration
  /// See ``WatchSession/taskIDs``.
  let taskIDs: TaskIDSet
  /// See ``WatchSession/groupIDs``.
  let groupIDs: [String]
  /// See ``WatchSession/timeout``.
  let timeout: Double?
  /// See ``WatchSession/once``.
  let once: Bool
  /// See ``WatchSession/failFast``.
  let failFast: Bool

  func run<Output: StateOutput>(writer: Output, summary: Bool) -> ExitStatus {
    var session = WatchSession(
      configuration: configuration, taskIDs: taskIDs, groupIDs: groupIDs, timeout: timeout, once: once,
      failFast: failFast, summary: summary, writer: writer)
    return session.run()
  }
}

/// An `--all` feed: a ``FeedSession``.
struct FeedPlan: SessionPlan {
  /// See ``FeedSession/configuration``.
  let configuration: ConsumerConfiguration
  /// See ``FeedSession/count``.
  let count: Int?
  /// See ``FeedSession/timeout``.
  let timeout: Double?
  /// See ``FeedSession/failFast``.
  let failFast: Bool

  func run<Output: StateOutput>(writer: Output, summary: Bool) -> ExitStatus {
    var session = FeedSession(
      configuration: configuration, count: count, timeout: timeout, failFast: failFast, summary: summary,
      writer: writer)
    return session.run()
  }
}
