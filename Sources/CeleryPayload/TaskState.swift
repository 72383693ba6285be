/// A Celery task state: one of Celery's built-in states or a custom one.
///
/// Custom states (`PROGRESS`, anything passed to `update_state`) are kept by
/// name and are never ready. `PENDING` is never stored by Celery: a missing
/// result key means PENDING.
public struct TaskState: Hashable, Sendable, CustomStringConvertible {
  /// The state's name as Celery writes it, e.g. `SUCCESS`.
  public let name: String
  /// The name's first 7 bytes and, in the top byte, its length (255 for
  /// any longer), made once from the name: equal for equal names, and the
  /// whole name when it is 7 bytes or shorter, so most comparisons end
  /// here, and readiness is a test of it (the three ready names have 7
  /// bytes). Two different names went through the string comparison's slow
  /// path (~60 instructions; ~150 a message at S4), and `isReady` once ran
  /// three string comparisons (228 instructions a message).
  @usableFromInline let key: UInt64

  /// The keys of the ready states, as literals so that `isReady`, inlined
  /// into other modules, reads no lazily initialized global (a call and a
  /// `swift_once` each: ~170 instructions a message at S4).
  @usableFromInline static var successKey: UInt64 { 0x0753_5345_4343_5553 }
  @usableFromInline static var failureKey: UInt64 { 0x0745_5255_4C49_4146 }
  @usableFromInline static var revokedKey: UInt64 { 0x0744_454B_4F56_4552 }

  /// Wraps a state name.
  public init(_ name: String) {
    self.name = name
    var key = UInt64(min(name.utf8.count, 255)) << 56
    for (offset, byte) in name.utf8.prefix(7).enumerated() { key |= UInt64(byte) << (8 * offset) }
    self.key = key
  }

  /// Two states are equal when their names are; readiness follows from the name.
  public static func == (lhs: TaskState, rhs: TaskState) -> Bool {
    lhs.key == rhs.key && (lhs.key >> 56 <= 7 || lhs.name == rhs.name)
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

  /// The states a payload names most, by their names' bytes as a
  /// little-endian word (every name here fits in 8 bytes): Celery's own and
  /// `PROGRESS`, the custom state of most progress reports.
  private static let common: [(word: UInt64, count: Int, state: TaskState)] =
    [pending, received, started, retry, success, failure, revoked, TaskState("PROGRESS")].map { state in
      var word: UInt64 = 0
      for (offset, byte) in state.name.utf8.enumerated() { word |= UInt64(byte) << (8 * offset) }
      return (word, state.name.utf8.count, state)
    }

  /// The state whose name is the `count` bytes at `bytes` when it is one of
  /// the common ones, without making its `String` (decoding and classifying
  /// a name cost ~300 instructions a message at S4); `nil` otherwise.
  static func common(_ bytes: UnsafePointer<UInt8>, count: Int) -> TaskState? {
    guard count <= 8 else { return nil }
    var word: UInt64 = 0
    for offset in 0..<count { word |= UInt64(bytes[offset]) << (8 * offset) }
    for entry in common where entry.word == word && entry.count == count { return entry.state }
    return nil
  }

  /// True for SUCCESS, FAILURE and REVOKED.
  @inlinable public var isReady: Bool {
    key == Self.successKey || isFailure
  }

  /// True for the ready states that are not SUCCESS.
  @inlinable public var isFailure: Bool {
    key == Self.failureKey || key == Self.revokedKey
  }

  /// The state's name.
  public var description: String { name }
}
