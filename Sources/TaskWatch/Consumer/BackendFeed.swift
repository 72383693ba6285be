import Glibc

/// Watches every task on a backend at once: `PSUBSCRIBE <prefix>*` and turn
/// each published result into a ``StateChange``.
///
/// A live feed of a whole deployment's results: tasks appear when their first
/// message arrives (there is no snapshot, as results stored before the feed
/// started are not announced). The rules are the ``ResultConsumer``'s: a
/// payload identical to the task's last one is dropped, a ready task is final
/// for the run, and a READY message counts only once the stored key in our own
/// database confirms it (one pipelined MGET per drained batch), unless
/// ``ConsumerConfiguration/verifyReadyMessages`` is off.
///
/// A policy over the backend engine (`BackendLink`), so faults are handled
/// like the consumer's: an idle subscriber is PINGed every
/// ``ConsumerConfiguration/healthInterval`` (with Sentinel, after checking
/// that the master did not move); a lost link or a transient refusal
/// (`LOADING`) is retried with jittered backoff within
/// ``ReconnectPolicy/retryFor``, then the pattern is subscribed again
/// (confirmation read) and only then the stored results of the unready tasks
/// seen so far are re-read (source `resync`), with messages in flight during
/// that read held until they are known to be newer. Refused credentials are
/// thrown at once. Tasks first published during an outage are not seen. Not
/// `Sendable`: one feed belongs to one thread.
public final class BackendFeed {
  /// The configuration the feed was created with.
  public let configuration: ConsumerConfiguration
  private let link: BackendLink
  private var table = TaskTable()
  private var diagnostics: [ConsumerDiagnostic] = []
  private var warnedUnconfirmed = false
  private var fence = FetchFence()
  private let channelPrefix: [UInt8]
  private var pendingConfirmations: [PendingConfirmation] = []
  /// Replies handled per drained batch, as in ``ResultConsumer``.
  private let maximumBatch = 4096

  /// Creates a feed; nothing connects until ``start()``.
  public init(configuration: ConsumerConfiguration) {
    self.configuration = configuration
    link = BackendLink(configuration: configuration)
    channelPrefix = Array(configuration.keyNaming.taskKeyPrefix.utf8)
  }

  /// The channel pattern: the task key prefix with glob characters escaped, then `*`.
  public var pattern: String {
    var escaped = ""
    for character in configuration.keyNaming.taskKeyPrefix {
      if "*?[]\\".contains(character) { escaped.append("\\") }
      escaped.append(character)
    }
    return escaped + "*"
  }

  /// Every task seen so far, in the order first seen, with its last state;
  /// `isWatched` is false once it is ready.
  public var statuses: [TaskStatus] {
    (0..<table.count).compactMap { index in
      table.states[index].map { TaskStatus(taskID: table.ids[index], state: $0, isWatched: !$0.isReady) }
    }
  }

  /// How many tasks seen so far are ready.
  public var readyCount: Int { table.count - table.watchingCount }

  /// Returns and clears what the feed noticed since the last call.
  public func takeDiagnostics() -> [ConsumerDiagnostic] {
    defer {
      diagnostics.removeAll()
      link.diagnostics.removeAll()
    }
    return link.diagnostics + diagnostics
  }

  /// Connects both connections and PSUBSCRIBEs, reading the confirmation.
  /// When Redis cannot be reached, the fault is reported as a
  /// ``ConsumerDiagnostic/connectionLost(_:retryingFor:)`` and
  /// ``drainEvents(timeout:)`` keeps retrying.
  /// - Throws: `RedisError` for faults no retry can cure (authentication).
  public func start() throws {
    guard link.outage == nil else { return }
    try guarding(firstAttempt: true) { _ = try connectAndResync() }
  }

  /// While the feed is disconnected and retrying: the fault that broke the
  /// connection, or of the last failed attempt to restore it; `nil` while
  /// connected.
  public var connectionProblem: RedisError? { link.outage?.lastError }

  /// Waits up to `timeout` seconds for messages and applies every one that is
  /// buffered (up to a batch); reconnects and resyncs first after a fault,
  /// waiting for the next attempt (never past the timeout). After ``stop()``
  /// (or without ``start()``) it connects first.
  /// - Returns: the changes, in the order the messages arrived.
  /// - Throws: ``ConsumerError`` when the retry budget or the deadline is
  ///   spent or the caller interrupts, `RedisError` for faults no retry can cure.
  public func drainEvents(timeout: Double) throws -> [StateChange] {
    let callDeadline = Deadline.after(seconds: timeout)
    if link.outage != nil {
      let recovered = try link.recover(until: callDeadline) {
        try subscribePattern()
        return (try resync(), table.watchingCount)
      }
      guard let changes = recovered else { return [] }
      if !changes.isEmpty { return changes }
    } else if !link.isConnected {
      var changes = [StateChange]()
      try guarding { changes = try connectAndResync() }
      if !changes.isEmpty || !link.isConnected { return changes }
    }
    var changes = [StateChange]()
    try guarding {
      let replies = try link.read(maximum: maximumBatch, until: callDeadline)
      if !replies.isEmpty { changes = try handle(replies) }
    }
    return changes
  }

  /// Closes both connections; a later ``drainEvents(timeout:)`` reconnects.
  public func stop() {
    link.stop()
    fence.abandon(through: link.fencesSent)
  }

  // MARK: - Protocol steps

  /// Runs `step`; a connection fault starts an outage that a later
  /// ``drainEvents(timeout:)`` recovers from.
  /// - Parameter firstAttempt: the feed's first connection, whose fault may
  ///   show that the URL's scheme does not fit the port: that is final.
  private func guarding(firstAttempt: Bool = false, _ step: () throws -> Void) throws {
    do {
      try step()
    } catch let error as RedisError where error.isConnectionFault {
      if firstAttempt, let mismatch = configuration.tlsModeMismatch(after: error) { throw mismatch }
      link.lose(error)
      fence.abandon(through: link.fencesSent)
    }
  }

  private func connectAndResync() throws -> [StateChange] {
    try link.connect()
    try subscribePattern()
    return try resync()
  }

  private func subscribePattern() throws {
    let pattern = pattern
    try link.subscribe(
      [0], command: "PSUBSCRIBE",
      format: { name, _ in
        var command = RedisCommand(argumentCount: 2)
        command.append(name)
        command.append(pattern)
        return command
      }, keep: { _ in true })
  }

  /// Re-reads the stored results of the unready tasks seen so far and
  /// applies them with source `resync`; a fence then covers the tasks read.
  private func resync() throws -> [StateChange] {
    let unready = (0..<table.count).filter { table.phases[$0] == .watching && table.states[$0] != nil }
    var changes = [StateChange]()
    let fenceNumber = link.fencesSent &+ 1
    var covered = false
    let now = WallClockTime.now
    try link.fetch(unready, slot: keySlot, format: keysCommand) { position, reply in
      let index = unready[position]
      guard case .bulk(let payload) = reply else { return }
      let meta: TaskMeta
      do {
        meta = try TaskMeta.decode(payload)
      } catch let error as DecodeError {
        diagnostics.append(.undecodableMessage(taskID: table.ids[index], error: error))
        return
      }
      if let change = apply(index, meta: meta, digest: ResultMessage.digest(of: payload), source: .resync, at: now) {
        changes.append(change)
      }
      if table.phases[index] == .watching {
        fence.cover(index, until: fenceNumber)
        covered = true
      }
    }
    if covered { _ = try link.sendFence() }
    return changes
  }

  /// A READY message waiting for its stored key, with what was read from it.
  private struct PendingConfirmation {
    let index: Int
    let payload: [UInt8]
    let meta: TaskMeta
    let digest: Int
  }

  /// Applies one drained batch of subscriber replies.
  private func handle(_ batch: [RedisReply]) throws -> [StateChange] {
    let now = WallClockTime.now
    var changes = [StateChange]()
    changes.reserveCapacity(batch.count)  // at most one change per reply: no regrowth
    defer {
      table.releaseHolds()
      pendingConfirmations.removeAll(keepingCapacity: true)
    }
    var replies = batch
    var position = 0
    while position < replies.count {
      let reply = replies[position]
      position += 1
      let event = PubSubEvent(reply)
      guard case .message(let channel, let payload) = event else {
        if let answered = try link.absorb(event, command: "PSUBSCRIBE") {
          replies.insert(contentsOf: fence.close(through: answered), at: position)
        }
        continue
      }
      // The id column, not the table: see `TaskTable.index(ofUTF8:droppingPrefix:ids:)`.
      let known = TaskTable.index(ofUTF8: channel, droppingPrefix: channelPrefix, ids: table.ids)
      if let known {
        guard table.phases[known] == .watching else { continue }
        if fence.isOpen && fence.covers(known) {
          if table.isRepeat(known, digest: ResultMessage.digest(of: payload)) {
            fence.sawFetchedPayload(known)
          } else {
            fence.hold(known, reply)
          }
          continue
        }
      }
      let digest = ResultMessage.digest(of: payload)
      if let known, table.states[known] != nil, table.isRepeat(known, digest: digest) { continue }
      guard channel.count > channelPrefix.count, channel.starts(with: channelPrefix) else { continue }
      let taskID = known.map { table.ids[$0] } ?? String(decoding: channel[channelPrefix.count...], as: UTF8.self)
      let meta: TaskMeta
      do {
        meta = try TaskMeta.decode(payload)
      } catch {
        diagnostics.append(.undecodableMessage(taskID: taskID, error: error))
        continue
      }
      if !meta.hasTaskID(matching: taskID), let payloadTaskID = meta.taskID {
        diagnostics.append(.mismatchedTaskID(taskID: taskID, payloadTaskID: payloadTaskID))
        continue
      }
      guard let index = known ?? table.add(taskID) ?? table.index(of: taskID) else { continue }
      if table.isHeld(index) { continue }
      if meta.state.isReady && configuration.verifyReadyMessages {
        pendingConfirmations.append(PendingConfirmation(index: index, payload: payload, meta: meta, digest: digest))
        table.hold(index)
        continue
      }
      if let change = apply(index, meta: meta, digest: digest, source: .message, at: now) {
        changes.append(change)
      }
    }
    guard !pendingConfirmations.isEmpty else { return changes }
    let confirmations = pendingConfirmations
    try link.fetch(confirmations.map(\.index), slot: keySlot, format: keysCommand) { position, reply in
      let confirmation = confirmations[position]
      // The key exists in our database: the message counts as published.
      guard case .bulk = reply else {
        if !warnedUnconfirmed {
          warnedUnconfirmed = true
          diagnostics.append(
            .unconfirmedReadyMessage(
              taskID: table.ids[confirmation.index], database: configuration.backend.database))
        }
        return
      }
      if let change = apply(
        confirmation.index, meta: confirmation.meta, digest: confirmation.digest, source: .message, at: now)
      {
        changes.append(change)
      }
    }
    return changes
  }

  /// Records a payload for a task and returns the change to report, if any.
  private func apply(
    _ index: Int, meta: TaskMeta, digest: Int, source: StateChange.Source, at time: WallClockTime
  ) -> StateChange? {
    guard table.phases[index] == .watching else { return nil }
    let previous = table.states[index]
    if previous != nil && table.isRepeat(index, digest: digest) { return nil }
    table.record(index, state: meta.state, digest: digest)
    return StateChange(
      taskID: table.ids[index], state: meta.state, previous: previous, source: source, observedAt: time, meta: meta)
  }

  /// The cluster hash slot of the key of the task at `index`.
  private func keySlot(_ index: Int) -> Int {
    ClusterSlot.of(channelPrefix, table.ids[index])
  }

  /// `MGET` of the keys of the tasks at `batch`.
  private func keysCommand(_ batch: ArraySlice<Int>) -> RedisCommand {
    var command = RedisCommand(
      argumentCount: batch.count + 1, reservingCapacity: batch.count * (channelPrefix.count + 48) + 16)
    command.append("MGET")
    // The id's bytes as the table keeps them (a uuid formatted on the stack), no `String` per key.
    let (prefix, ids) = (channelPrefix, table.ids)
    for index in batch { ids.withUTF8(at: index) { command.append(prefix, $0) } }
    return command
  }
}
