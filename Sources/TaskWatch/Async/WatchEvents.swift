/// The events of one watch, as an `AsyncSequence` that ends when every task
/// is ready (``TaskWatcher/events(for:timeout:)``).
///
/// Each iteration is a watch of its own: `makeAsyncIterator()` starts an
/// engine thread, which connects, subscribes, reads the snapshot and then
/// streams changes. The iterator's `next()` throws ``TaskWatchError`` — with
/// code `timedOut` when the timeout passes, `cancelled` when the iterating
/// task is cancelled, and the consumer's failures otherwise. Cancelling the
/// task, or dropping the iterator (leaving the `for` loop), wakes the engine
/// at once in whichever wait it is (connecting, subscribing, reading, the
/// pause between reconnects) and it closes its connections; after a
/// cancellation `next()` returns only once they are closed.
///
/// The engine never waits for the iterating task: what it reads is buffered
/// until `next()` takes it, so a consumer that falls behind costs memory
/// (each buffered ``StateChange`` holds its meta), never a missed state.
public struct WatchEvents: AsyncSequence, Sendable {
  /// What the sequence delivers.
  public typealias Element = WatchEvent
  /// What the sequence throws.
  public typealias Failure = TaskWatchError

  let taskIDs: [String]
  let configuration: ConsumerConfiguration
  let timeout: Duration?

  /// Starts a watch; its timeout counts from here.
  public func makeAsyncIterator() -> AsyncIterator {
    AsyncIterator(Run(taskIDs: taskIDs, configuration: configuration, timeout: timeout))
  }

  /// Delivers one watch's events, in the order the engine read them.
  public struct AsyncIterator: AsyncIteratorProtocol {
    /// What the iterator delivers.
    public typealias Element = WatchEvent
    /// What the iterator throws.
    public typealias Failure = TaskWatchError

    private let run: Run
    private var batch: [WatchEvent] = []
    private var position = 0
    private var isFinished = false

    init(_ run: Run) {
      self.run = run
    }

    /// The next event, or `nil` once every task is ready.
    public mutating func next() async throws(TaskWatchError) -> WatchEvent? {
      try await next(isolation: nil)
    }

    /// The next event, or `nil` once every task is ready; runs on `actor`.
    public mutating func next(isolation actor: isolated (any Actor)?) async throws(TaskWatchError) -> WatchEvent? {
      if position < batch.count, !Task.isCancelled {
        defer { position += 1 }
        return batch[position]
      }
      guard !isFinished else { return nil }
      batch = []
      position = 0
      let run = run
      let taken: EventChannel.Batch
      if Task.isCancelled {
        taken = .end(await run.stop())
      } else {
        taken = await withTaskCancellationHandler {
          await run.channel.take()
        } onCancel: {
          run.wakeup?.cancel()
        }
      }
      switch taken {
      case .events(let events):
        if Task.isCancelled { return try await next(isolation: actor) }
        batch = events
        position = 1
        return events[0]
      case .end(let failure):
        isFinished = true
        if Task.isCancelled || failure?.code == .cancelled { throw .cancelledWait }
        if let failure { throw failure }
        return nil
      }
    }
  }

  /// The engine of one iteration, stopped when its last iterator goes away.
  final class Run: Sendable {
    let channel = EventChannel()
    /// `nil` when no engine started (no pipe could be made).
    let wakeup: EngineWakeup?

    init(taskIDs: [String], configuration: ConsumerConfiguration, timeout: Duration?) {
      let deadline = timeout.map { Deadline.after($0) }
      var started: EngineWakeup?
      do throws(TaskWatchError) {
        let wakeup = try Self.makeWakeup()
        let engine = WatchEngine(
          taskIDs: taskIDs, configuration: configuration, deadline: deadline, channel: channel, wakeup: wakeup)
        try EngineThread.start { engine.run() }
        started = wakeup
      } catch {
        channel.finish(error)
      }
      wakeup = started
    }

    /// The engine's wake-up pipe.
    /// - Throws: ``TaskWatchError/Code-swift.struct/unavailable`` when the
    ///   system has no descriptor to spare (`pipe`'s error is in the message).
    private static func makeWakeup() throws(TaskWatchError) -> EngineWakeup {
      do {
        return try EngineWakeup()
      } catch {
        throw TaskWatchError(.unavailable, "cannot make the watch's wake-up pipe: \(error)", underlyingError: error)
      }
    }

    /// Cancels the engine and waits until it has closed its connections.
    func stop() async -> TaskWatchError? {
      wakeup?.cancel()
      return await channel.waitForEnd()
    }

    deinit {
      wakeup?.cancel()
    }
  }
}
