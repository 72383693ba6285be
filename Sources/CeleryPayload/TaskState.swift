/// A Celery task state: one of Celery's built-in states or a custom one.
///
/// Custom states (`PROGRESS`, anything passed to `update_state`) are kept by
/// name and are never ready. `PENDING` is never stored by Celery: a missing
/// result key means PENDING.
public struct TaskState: Hashable, Sendable, CustomStringConvertible {
  /// The state's name as Celery writes it, e.g. `SUCCESS`.
  public let name: String

  /// Wraps a state name.
  public init(_ name: String) {
    self.name = name
  }

  /// Unknown to the backend: no result stored (yet).
  public static let pending = TaskState("PENDING")
  /// Received by a worker.
  public static let received = TaskState("RECEIVED")
  /// Started by a worker (only with `task_track_started`).
  public static let started = TaskState("STARTED")
  /// Failed and scheduled for a retry.
  public static let retry = TaskState("RETRY")
  /// Finished with a result.
  public static let success = TaskState("SUCCESS")
  /// Finished with an exception.
  public static let failure = TaskState("FAILURE")
  /// Revoked before or while it ran.
  public static let revoked = TaskState("REVOKED")

  /// Celery's READY_STATES: the task will not change any more (for this run).
  public static let readyStates: Set<TaskState> = [.success, .failure, .revoked]

  /// True for SUCCESS, FAILURE and REVOKED.
  public var isReady: Bool {
    self == .success || self == .failure || self == .revoked
  }

  /// True for the ready states that are not SUCCESS.
  public var isFailure: Bool {
    self == .failure || self == .revoked
  }

  /// The state's name.
  public var description: String { name }
}
