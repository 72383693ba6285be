import Glibc

/// A loss of connection in progress, and the retry loop that ``BackendLink``
/// runs to end it for every reader of the backend: jittered
/// backoff, within the retry budget counted from the first failed attempt,
/// never past the caller's overall deadline.
struct Outage {
  /// When the first attempt failed: the retry budget counts from here.
  let since: Deadline
  private var attempts = 1
  private var nextAttempt: Deadline
  /// The fault that began the outage, or of the last failed attempt.
  private(set) var lastError: RedisError
  /// Set once an attempt succeeded: the connection is back.
  private(set) var isOver = false

  /// Starts counting a disconnection caused by `error`.
  init(after error: RedisError, policy: ReconnectPolicy) {
    since = .now
    nextAttempt = .after(seconds: policy.delay(beforeAttempt: 1))
    lastError = error
  }

  /// Waits for the next attempt and makes it, again and again, until one
  /// succeeds or `callDeadline` passes.
  /// - Parameters:
  ///   - attempt: connects and resynchronises; a connection fault it throws
  ///     schedules the next attempt, any other error ends the loop.
  ///   - afterFailure: drops whatever a failed attempt left half open.
  /// - Returns: what `attempt` returned, or `nil` while still disconnected at
  ///   `callDeadline`.
  /// - Throws: ``ConsumerError/unavailable(endpoint:seconds:lastError:)`` once
  ///   the budget is spent, ``ConsumerError/deadlinePassed`` and
  ///   ``ConsumerError/interrupted`` as configured.
  mutating func retry<Result>(
    _ configuration: ConsumerConfiguration, until callDeadline: Deadline, attempt: () throws -> Result,
    afterFailure: () -> Void
  ) throws -> Result? {
    let policy = configuration.reconnectPolicy
    while true {
      if let isInterrupted = configuration.isInterrupted, isInterrupted() { throw ConsumerError.interrupted }
      let budgetEnd = since.adding(seconds: policy.retryFor)
      if budgetEnd.hasPassed {
        throw ConsumerError.unavailable(
          endpoint: configuration.backend.serverDescription, seconds: since.secondsAgo, lastError: lastError)
      }
      if let deadline = configuration.deadline, deadline.hasPassed { throw ConsumerError.deadlinePassed }
      var wake = min(nextAttempt, budgetEnd, callDeadline)
      if let deadline = configuration.deadline { wake = min(wake, deadline) }
      SystemCall.sleep(until: wake)  // a signal cuts the sleep short
      guard nextAttempt.hasPassed else {
        if callDeadline.hasPassed { return nil }
        continue
      }
      do {
        let result = try attempt()
        isOver = true
        return result
      } catch let error as RedisError where error.isConnectionFault {
        afterFailure()
        attempts += 1
        lastError = error
        nextAttempt = .after(seconds: policy.delay(beforeAttempt: attempts))
      }
    }
  }
}
