import Synchronization

/// The hand-over between one engine thread and the task iterating its events.
///
/// The engine appends events as it reads them and never waits for the
/// iterating task; the task takes everything buffered at once (one lock per
/// batch, not per event) and suspends, without holding a thread, while
/// nothing is buffered.
final class EventChannel: Sendable {
  /// What the iterating task gets from one ``take()``.
  enum Batch: Sendable {
    /// Events, oldest first; never empty.
    case events([WatchEvent])
    /// The engine stopped: `nil` once every task was ready, else why.
    case end(TaskWatchError?)
  }

  private struct State {
    var events: [WatchEvent] = []
    var end: TaskWatchError??
    var waiter: CheckedContinuation<Batch, Never>?
  }

  private let state = Mutex(State())

  /// Engine side: buffers `events` and wakes the task if it waits.
  func send(_ events: [WatchEvent]) {
    guard !events.isEmpty else { return }
    let (waiter, batch) = state.withLock { state -> (CheckedContinuation<Batch, Never>?, [WatchEvent]) in
      state.events.append(contentsOf: events)
      guard let waiter = state.waiter else { return (nil, []) }
      state.waiter = nil
      defer { state.events = [] }
      return (waiter, state.events)
    }
    waiter?.resume(returning: .events(batch))
  }

  /// Engine side, once and last: the engine has stopped and closed its
  /// connections. A failure drops the events not taken yet.
  func finish(_ failure: TaskWatchError?) {
    let (waiter, batch) = state.withLock { state -> (CheckedContinuation<Batch, Never>?, Batch) in
      state.end = .some(failure)
      if failure != nil { state.events = [] }
      guard let waiter = state.waiter else { return (nil, .end(nil)) }
      state.waiter = nil
      return (waiter, Self.takeReady(&state)!)
    }
    waiter?.resume(returning: batch)
  }

  /// Task side: everything buffered, or the end; suspends until one is there.
  func take() async -> Batch {
    await withCheckedContinuation { continuation in
      let ready = state.withLock { state -> Batch? in
        if let batch = Self.takeReady(&state) { return batch }
        state.waiter = continuation
        return nil
      }
      if let ready { continuation.resume(returning: ready) }
    }
  }

  /// Task side, after a cancellation: drops buffered events and waits for
  /// the engine to stop.
  func waitForEnd() async -> TaskWatchError? {
    while true {
      state.withLock { $0.events = [] }
      if case .end(let failure) = await take() { return failure }
    }
  }

  private static func takeReady(_ state: inout State) -> Batch? {
    if !state.events.isEmpty {
      defer { state.events = [] }
      return .events(state.events)
    }
    if let end = state.end { return .end(end) }
    return nil
  }
}
