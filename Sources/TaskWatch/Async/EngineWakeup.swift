import Synchronization

/// How a waiting engine thread learns that the task iterating its events has
/// gone (cancelled, or stopped iterating): the one piece of the watcher that
/// knows how the engine is woken.
///
/// The engine waits in ``ResultConsumer/drainEvents(timeout:)`` slices of at
/// most ``slice`` and looks at the flag between them (and the consumer's
/// `isInterrupted` check looks at it while reconnecting), so a cancellation
/// is seen within one slice.
final class EngineWakeup: Sendable {
  /// The longest one wait of the engine lasts before it looks at the flag:
  /// half of the 100 ms a cancellation may take, the rest for scheduling.
  static let slice = 0.05
  private let cancelled = Atomic<Bool>(false)

  /// Asks the engine to stop; callable from any thread, any number of times.
  func cancel() {
    cancelled.store(true, ordering: .releasing)
  }

  /// Whether ``cancel()`` was called.
  var isCancelled: Bool { cancelled.load(ordering: .acquiring) }

  /// Seconds the engine may wait now: one slice, less when `deadline` is nearer.
  func waitSeconds(before deadline: Deadline?) -> Double {
    guard let deadline else { return Self.slice }
    return min(Self.slice, deadline.remainingSeconds)
  }
}
