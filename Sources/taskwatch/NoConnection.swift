import TaskWatch

/// The run ended (at `--timeout`, or after the one look of `--once`) while
/// Redis was unreachable: exit 69 with the last connection error, never 124,
/// so CI can tell "Redis is down" from "the tasks are slow".
struct NoConnection: Error, CustomStringConvertible {
  /// When the run gave up.
  enum Moment {
    /// The `--timeout` deadline, this many seconds from the start.
    case deadline(Double)
    /// `--once`: the one attempt failed.
    case once
  }

  /// When the run gave up.
  let moment: Moment
  /// Whether a connection was ever made during the run.
  let everConnected: Bool
  /// The fault of the last attempt.
  let lastError: RedisError

  var description: String {
    switch moment {
    case .once:
      return "cannot look up the tasks (--once): \(lastError)"
    case .deadline(let seconds) where everConnected:
      return "timed out after \(WatchDuration(seconds: seconds)) while disconnected; last error: \(lastError)"
    case .deadline(let seconds):
      return "timed out after \(WatchDuration(seconds: seconds)) without ever connecting; last error: \(lastError)"
    }
  }
}
