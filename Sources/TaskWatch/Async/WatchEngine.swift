/// One watch, run on its own thread (``EngineThread``): a ``ResultConsumer``
/// over the given tasks, drained until every task is ready, the deadline
/// passes or the watch is cancelled, with everything it reports handed to
/// the iterating task through an ``EventChannel``.
///
/// Whatever ends the watch, both connections are closed before the channel
/// is finished, so a caller that sees the end owns no socket any more.
struct WatchEngine: Sendable {
  let taskIDs: [String]
  let configuration: ConsumerConfiguration
  /// The call's overall deadline, if it has one.
  let deadline: Deadline?
  let channel: EventChannel
  let wakeup: EngineWakeup

  /// Snapshot changes handed over together (one lock per batch).
  private static let snapshotBatch = 1000
  /// A wait without a deadline: as long as a consumer's wait can last.
  private static let unlimited = 1e9

  /// Runs the watch to its end; blocks the calling thread meanwhile.
  func run() {
    let consumer = ResultConsumer(configuration: consumerConfiguration())
    let failure: TaskWatchError?
    do {
      try watch(consumer)
      failure = nil
    } catch {
      failure = wakeup.isCancelled ? .cancelledWait : TaskWatchError(wrapping: error)
    }
    consumer.stop()
    channel.finish(failure)
  }

  /// The caller's configuration with this call's deadline (the earlier of the
  /// two) and the wake-up, which every wait of the consumer then polls.
  private func consumerConfiguration() -> ConsumerConfiguration {
    var configuration = configuration
    if let deadline { configuration.deadline = Deadline.earliest(deadline, configuration.deadline) }
    configuration.wakeup = wakeup
    return configuration
  }

  private func watch(_ consumer: ResultConsumer) throws {
    let deadline = consumer.configuration.deadline
    var snapshot = [WatchEvent]()
    try consumer.consume(from: taskIDs) { change in
      snapshot.append(.change(change))
      if snapshot.count == Self.snapshotBatch {
        channel.send(snapshot)
        snapshot.removeAll(keepingCapacity: true)
      }
    }
    channel.send(snapshot)
    send(consumer.takeDiagnostics(), [])
    while consumer.watchingCount > 0 {
      // A stream that never pauses never polls: look between batches too.
      if wakeup.isCancelled { throw TaskWatchError.cancelledWait }
      if let deadline, deadline.hasPassed {
        throw TaskWatchError(
          .timedOut, "\(consumer.watchingCount) of \(consumer.taskCount) tasks still unready when the timeout passed")
      }
      // One wait until the deadline: a cancellation wakes it (EngineWakeup).
      let changes = try consumer.drainEvents(timeout: deadline?.remainingSeconds ?? Self.unlimited)
      send(consumer.takeDiagnostics(), changes)
    }
  }

  /// Diagnostics first: a reconnect is reported before the resync it caused.
  private func send(_ diagnostics: [ConsumerDiagnostic], _ changes: [StateChange]) {
    guard !diagnostics.isEmpty || !changes.isEmpty else { return }
    channel.send(diagnostics.map(WatchEvent.diagnostic) + changes.map(WatchEvent.change))
  }
}
