import TaskWatch

/// A session resolved from the options, waiting for its writer: run with the
/// writer the output options pick, by that writer's concrete type (see
/// ``SelectedOutput``), so each session is specialized for its output.
protocol SessionPlan {
  /// Builds the session around `writer` and runs it to the end (once:
  /// what the plan hands over to the session may be gone after it).
  /// - Parameter summary: whether the session builds the run summary (for
  ///   `--summary` or a report).
  mutating func run<Output: StateOutput>(writer: Output, summary: Bool) -> ExitStatus
}

/// A watch of given ids (and `--group` children): a ``WatchSession``.
struct WatchPlan: SessionPlan {
  /// The consumer's settings.
  let configuration: ConsumerConfiguration
  /// The ids given, deduplicated, in order; handed over to the session when
  /// it runs (empty after), so the consumer's table holds the only copy (a
  /// shared one would be copied whole on the first id added: ~17 MB at
  /// 1,000,000 ids).
  var taskIDs: TaskIDSet
  /// The saved groups whose tasks are watched too (`--group`).
  let groupIDs: [String]
  /// Overall deadline in seconds from the start (`--timeout`), if any.
  let timeout: Double?
  /// Print the snapshot and stop (`--once`).
  let once: Bool
  /// Stop at the first FAILURE or REVOKED (`--fail-fast`).
  let failFast: Bool

  mutating func run<Output: StateOutput>(writer: Output, summary: Bool) -> ExitStatus {
    let ids = taskIDs
    taskIDs = TaskIDSet()
    var session = WatchSession(plan: self, taskIDs: ids, summary: summary, writer: writer)
    return session.run()
  }
}

/// An `--all` feed: a ``FeedSession``.
struct FeedPlan: SessionPlan {
  /// The feed's settings.
  let configuration: ConsumerConfiguration
  /// Stop once this many tasks are ready (`--count`).
  let count: Int?
  /// Overall deadline in seconds from the start (`--timeout`), if any.
  let timeout: Double?
  /// Stop at the first FAILURE or REVOKED (`--fail-fast`).
  let failFast: Bool

  mutating func run<Output: StateOutput>(writer: Output, summary: Bool) -> ExitStatus {
    var session = FeedSession(plan: self, summary: summary, writer: writer)
    return session.run()
  }
}
