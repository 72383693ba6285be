/// A Celery task state: one of Celery's built-in states or a custom one.
///
/// Custom states (`PROGRESS`, anything passed to `update_state`) are kept by
/// name and are never ready. `PENDING` is never stored by Celery: a missing
/// result key means PENDING.
public struct TaskState: Hashable, Sendable, CustomStringConvertible {
  /// The state's name as Celery writes it, e.g. `SUCCESS`.
  public let name: String
  /// Readiness, decided once from the name: `isReady` ran three string
  /// comparisons each time (at S4, `isReady` 228 and string comparison 363
  /// instructions a message; now 24 and 30), now one byte test.
  private let readiness: Readiness

  /// What a name means for the watch.
  private enum Readiness: UInt8 {
    case unready, success, failed
  }

  /// Wraps a state name.
  public init(_ name: String) {
    self.name = name
    // The three ready names have 7 bytes: most others are told apart by their length alone.
    guard name.utf8.count == 7 else {
      readiness = .unready
      return
    }
    switch name {
    case "SUCCESS": readiness = .success
    case "FAILURE", "REVOKED": readiness = .failed
    default: readiness = .unready
    }
  }

  /// Two states are equal when their names are; readiness follows from the name.
  public static func == (lhs: TaskState, rhs: TaskState) -> Bool {
    lhs.readiness == rhs.readiness && lhs.name == rhs.name
  }

  /// Hashes the name.
  public func hash(into hasher: inout Hasher) {
    hasher.combine(name)
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
    readiness != .unready
  }

  /// True for the ready states that are not SUCCESS.
  public var isFailure: Bool {
    readiness == .failed
  }

  /// The state's name.
  public var description: String { name }
}
