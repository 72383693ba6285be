/// Waits for Celery tasks from async code: the library's `Sendable` front
/// door for servers (Vapor, Hummingbird) and tools.
///
/// ```swift
/// let watcher = TaskWatcher(configuration: ConsumerConfiguration(backend: try BackendURL.parse(url)))
/// for try await event in watcher.events(for: ids) {  // ends when every task is ready
///   switch event {
///   case .change(let change): print(change.taskID, change.state)
///   case .diagnostic(let note): logger.warning("\(note)")
///   }
/// }
/// let results = try await watcher.results(for: ids, timeout: .seconds(30))
/// ```
///
/// Every call is a watch of its own, with its own two connections, on a
/// thread of its own (never the cooperative pool, so any number of waits
/// leave other tasks running). It follows ``ResultConsumer``'s consistency
/// protocol: subscribe, read every confirmation, then read the stored results.
/// Cancelling the calling task ends the call and closes its connections.
///
/// The configuration's ``ConsumerConfiguration/deadline`` and
/// ``ConsumerConfiguration/isInterrupted`` still apply (the earlier deadline
/// wins), but a per-call `timeout` and task cancellation are the usual way.
public struct TaskWatcher: Sendable {
  /// The backend, key naming and tuning every call uses.
  public var configuration: ConsumerConfiguration

  /// Creates a watcher; nothing connects until a call starts a watch.
  public init(configuration: ConsumerConfiguration) {
    self.configuration = configuration
  }

  /// The state changes of `taskIDs`: first one snapshot change per task in
  /// the order given (its stored state, or PENDING), then each new state as
  /// it is published; the sequence ends once every task is ready.
  /// - Parameters:
  ///   - taskIDs: the tasks to watch; repeats are watched once.
  ///   - timeout: how long the iteration may take, counted from its start;
  ///     `nil` waits until every task is ready. Past it, the iterator throws
  ///     a ``TaskWatchError`` with code ``TaskWatchError/Code-swift.struct/timedOut``.
  public func events(for taskIDs: [String], timeout: Duration? = nil) -> WatchEvents {
    WatchEvents(taskIDs: taskIDs, configuration: configuration, timeout: timeout)
  }

  /// Waits until every task in `taskIDs` is ready and returns their results
  /// in the order given (a repeated id repeats its result).
  /// - Parameters:
  ///   - taskIDs: the tasks to wait for.
  ///   - timeout: how long to wait; `nil` waits until every task is ready.
  ///
  /// A task whose stored result can never be read (pickle, YAML, …) does not
  /// cut the others short: the call waits until every other task is ready,
  /// then throws `unreadableResult` naming the first such task in the order
  /// given. To keep the other results too, iterate ``events(for:timeout:)``,
  /// where that task's change has ``StateChange/unreadable`` set.
  /// - Throws: ``TaskWatchError``: `timedOut` when the timeout passes first,
  ///   `cancelled` when the calling task is cancelled, `unreadableResult`
  ///   (with ``TaskWatchError/taskID`` and an ``UndecodableResultError``)
  ///   once the others are ready, and the watch's failures.
  public func results(for taskIDs: [String], timeout: Duration? = nil) async throws(TaskWatchError) -> [TaskResult] {
    var ready = [String: TaskResult]()
    var unreadable = [String: DecodeError]()
    for try await event in events(for: taskIDs, timeout: timeout) {
      guard case .change(let change) = event, change.isReady else { continue }
      if let reason = change.unreadable {
        unreadable[change.taskID] = reason
      } else if let meta = change.meta {
        ready[change.taskID] = TaskResult(taskID: change.taskID, meta: meta)
      }
    }
    if let taskID = taskIDs.first(where: { unreadable[$0] != nil }) {
      throw TaskWatchError(wrapping: UndecodableResultError(taskID: taskID, reason: unreadable[taskID]!))
    }
    return taskIDs.compactMap { ready[$0] }
  }

  /// Waits until one task is ready and returns its result.
  /// - Parameters:
  ///   - taskID: the task to wait for.
  ///   - timeout: how long to wait; `nil` waits until it is ready.
  /// - Throws: as ``results(for:timeout:)``.
  public func result(for taskID: String, timeout: Duration? = nil) async throws(TaskWatchError) -> TaskResult {
    let results = try await results(for: [taskID], timeout: timeout)
    return results[0]
  }
}
