/// What ``TaskWatcher/events(for:timeout:)`` delivers: a task's new state, or
/// something the library noticed and carried on from.
public enum WatchEvent: Sendable, Equatable {
  /// A task changed state (its first snapshot, a message, or a resync after a
  /// reconnect), exactly as ``ResultConsumer`` reports it.
  case change(StateChange)
  /// A lost link, a recovery, a skipped message: worth logging, not fatal.
  case diagnostic(ConsumerDiagnostic)
}
