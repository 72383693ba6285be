import Glibc

/// Celery's Redis `ResultConsumer`, in Swift.
///
/// It watches task result channels and turns what it sees into ``StateChange``
/// values. Two connections are used: a subscriber (in RESP2 a subscribed
/// connection accepts nothing but (UN)SUBSCRIBE and PING) and a command
/// connection for `MGET`.
///
/// Consistency protocol, whenever tasks are added:
/// 1. SUBSCRIBE their channels in pipelined batches and read every confirmation;
/// 2. only then MGET their keys and report them with source `snapshot`;
/// 3. stream messages (source `message`), dropping a payload identical to the
///    last one seen for the task, so a state seen by both MGET and PUBLISH is
///    reported once;
/// 4. UNSUBSCRIBE a task once it is ready (batched, once the subscriber is
///    idle); it is final for the run.
///
/// A READY message counts only once the stored key in our own database confirms
/// it (pub/sub ignores the database number); all confirmations of one drained
/// batch share one pipelined MGET.
///
/// The class never prints and never exits; things worth telling the user are
/// collected as ``ConsumerDiagnostic`` values (``takeDiagnostics()``). Not
/// `Sendable`: one consumer belongs to one thread.
public final class ResultConsumer {
  /// The configuration the consumer was created with.
  public let configuration: ConsumerConfiguration
  private var subscriber: RedisConnection?
  private var commands: RedisConnection?
  private var table = TaskTable()
  /// Tasks whose channels are to be unsubscribed, by index.
  private var unsubscribeQueue: [Int] = []
  private var deferredReplies: [RedisReply] = []
  private var diagnostics: [ConsumerDiagnostic] = []
  private var warnedUnconfirmed = false
  /// Set while the consumer is disconnected and retrying.
  private var outage: Outage?
  /// Changes applied just before a connection fault, returned after recovery.
  private var carriedChanges: [StateChange] = []
  /// The subscriber's health check.
  private var health = SubscriberHealth()
  private let channelPrefix: [UInt8]
  /// Scratch lists of ``handle(_:)``, kept between batches: a burst does not
  /// allocate them again, and the first READY message does not pay for
  /// instantiating their types (a first `Set<Int>` insert there cost 220,000
  /// instructions, 0.3 ms of S1's latency).
  private var pendingConfirmations: [PendingConfirmation] = []
  private var pendingRereads: [Int] = []
  /// Replies handled per drained batch: large enough to amortise the
  /// confirmation MGET and the output write, small enough to stay responsive.
  private let maximumBatch = 4096

  /// Creates a consumer; nothing connects until ``start(initialTaskID:)`` or ``consume(from:)-(String)``.
  public init(configuration: ConsumerConfiguration) {
    self.configuration = configuration
    channelPrefix = Array(configuration.keyNaming.taskKeyPrefix.utf8)
    pendingConfirmations.reserveCapacity(64)
    pendingRereads.reserveCapacity(64)
  }

  // MARK: - State

  /// How many tasks are still watched (neither ready nor cancelled).
  public var watchingCount: Int { table.watchingCount }

  /// Whether both connections are up.
  public var isStarted: Bool { subscriber != nil && commands != nil }

  /// Every task ever watched, in the order it was added, with its last state.
  public var statuses: [TaskStatus] {
    (0..<table.count).map { index in
      TaskStatus(
        taskID: table.ids[index], state: table.states[index] ?? .pending,
        isWatched: table.phases[index] == .watching)
    }
  }

  /// Returns and clears what the consumer noticed since the last call.
  public func takeDiagnostics() -> [ConsumerDiagnostic] {
    defer { diagnostics.removeAll() }
    return diagnostics
  }

  // MARK: - The seed's methods

  /// Connects and starts watching a first task (Celery's `start`).
  /// - Returns: the task's snapshot change.
  public func start(initialTaskID: String) throws -> [StateChange] {
    try consume(from: [initialTaskID])
  }

  /// Starts watching one task, connecting first if needed (Celery's `consume_from`).
  /// - Returns: its snapshot change, or nothing if it was already watched.
  public func consume(from taskID: String) throws -> [StateChange] {
    try consume(from: [taskID])
  }

  /// Starts watching many tasks at once: subscribe all, read every
  /// confirmation, then MGET all (the batch form of `consume_from`).
  ///
  /// When Redis cannot be reached the tasks are still added, the fault is
  /// reported as a ``ConsumerDiagnostic/connectionLost(_:retryingFor:)``, and the
  /// snapshot arrives from a later ``drainEvents(timeout:)`` once it reconnects.
  /// - Returns: one snapshot change per new task, in the order given.
  /// - Throws: ``RedisError`` for connection and auth faults,
  ///   ``UndecodableResultError`` for a stored result that can never be read.
  public func consume(from taskIDs: [String]) throws -> [StateChange] {
    var changes = [StateChange]()
    try consume(from: taskIDs) { changes.append($0) }
    return changes
  }

  /// Starts watching many tasks like ``consume(from:)-([String])``, but hands
  /// each snapshot change to `body` as its MGET batch is read instead of
  /// returning them all, so a large watch never holds every snapshot change
  /// (and every stored meta) at once: 12 MB of changes at 100,000 tasks.
  ///
  /// When Redis cannot be reached the tasks are still added and the snapshot
  /// arrives from a later ``drainEvents(timeout:)`` once it reconnects.
  /// - Parameter body: called once per new task, in the order given.
  public func consume(from taskIDs: [String], onChange body: (StateChange) -> Void) throws {
    table.reserve(taskIDs.count)
    let added = taskIDs.compactMap { table.add($0) }
    guard let first = added.first else { return }
    do {
      if outage == nil && !isStarted { try connect() }
      if outage == nil {
        try flushUnsubscribes(force: true)
        try subscribe(added, coveredBySnapshot: { $0 >= first })
        try refresh(added, source: .snapshot, body)
        try flushUnsubscribes()
      }
    } catch let error as RedisError where error.isConnectionFault {
      // Disconnected: ``drainEvents(timeout:)`` reconnects, then reports the
      // tasks not reported yet with source `snapshot`.
      beginOutage(error)
    }
  }

  /// Stops watching a task and unsubscribes its channel (Celery's `cancel_for`).
  public func cancel(for taskID: String) throws {
    guard let index = table.index(of: taskID), table.cancel(index) else { return }
    unsubscribeQueue.append(index)
    try flushUnsubscribes(force: true)
  }

  /// Applies one observed payload (Celery's `on_state_change`): drops exact
  /// repeats and anything for a task that is no longer watched, records the
  /// new state, and queues an UNSUBSCRIBE when the task became ready.
  /// - Parameters:
  ///   - meta: the decoded payload, or `nil` when no result is stored (PENDING).
  ///   - message: the raw payload and where it came from.
  /// - Returns: the change to report, or `nil` when there is nothing new.
  public func handleStateChange(_ meta: TaskMeta?, message: ResultMessage) -> StateChange? {
    guard let index = table.index(of: message.taskID) else { return nil }
    let digest = meta == nil ? 0 : message.digest
    return apply(index, meta: meta, digest: digest, source: message.source, at: .now)
  }

  /// Reads the stored results of watched tasks and applies what changed
  /// (Celery's `on_wait_for_pending`), with source `resync`.
  /// - Parameter taskIDs: the tasks to refresh; `nil` means every watched task.
  public func refreshPending(_ taskIDs: [String]? = nil) throws -> [StateChange] {
    let indices =
      taskIDs?.compactMap { table.index(of: $0) }
      ?? (0..<table.count).filter { table.phases[$0] == .watching }
    let changes = try refresh(indices, source: .resync)
    try flushUnsubscribes()
    return changes
  }

  /// Waits up to `timeout` seconds for messages and applies every one that has
  /// arrived (Celery's `drain_events`).
  ///
  /// Returns as soon as a batch was handled, when the timeout passes, or when
  /// a signal interrupts the wait; an empty result is not an error.
  public func drainEvents(timeout: Double) throws -> [StateChange] {
    let callDeadline = Deadline.after(seconds: timeout)
    var changes = carriedChanges
    carriedChanges.removeAll()
    if outage == nil, let subscriber {
      do {
        return changes + (try drainConnected(subscriber, until: callDeadline))
      } catch let error as RedisError where error.isConnectionFault {
        changes += carriedChanges
        carriedChanges.removeAll()
        beginOutage(error)
      }
    }
    guard outage != nil else { return changes }
    return changes + (try recover(until: callDeadline) ?? [])
  }

  /// Closes both connections (Celery's `stop`). Watched tasks are kept, so a
  /// later ``consume(from:)-(String)`` or ``refreshPending(_:)`` reconnects.
  public func stop() {
    dropConnections()
    outage = nil
  }

  /// Drops connections inherited across `fork()` without writing to them
  /// (Celery's `on_after_fork`): the parent still owns the conversation.
  public func resetAfterFork() {
    stop()
  }

  // MARK: - Protocol steps

  /// Opens both connections (AUTH, SELECT) and starts the health clock. With
  /// Sentinel, the master is looked up again on every call, so each reconnect
  /// follows a failover.
  private func connect() throws {
    let endpoint = try configuration.serverEndpoint()
    let deadline = Deadline.after(seconds: configuration.connectTimeout + configuration.commandTimeout)
    let newSubscriber = try configuration.openConnection(to: endpoint, selecting: nil, until: deadline)
    let newCommands = try configuration.openConnection(
      to: endpoint, selecting: configuration.backend.database, until: deadline)
    subscriber = newSubscriber
    commands = newCommands
    health.noteTraffic()
  }

  private func dropConnections() {
    subscriber = nil
    commands = nil
    deferredReplies.removeAll()
    unsubscribeQueue.removeAll()
  }

  // MARK: - Faults, reconnection and health (steps 5–6)

  /// Drops the connections and starts counting a disconnection.
  private func beginOutage(_ error: RedisError) {
    dropConnections()
    outage = Outage(after: error, policy: configuration.reconnectPolicy)
    diagnostics.append(.connectionLost(error, retryingFor: configuration.reconnectPolicy.retryFor))
  }

  /// Reconnects with jittered backoff, then resubscribes every watched task,
  /// reads every confirmation, and only then re-reads their stored results.
  ///
  /// - Parameter callDeadline: return `nil` (still disconnected) once this
  ///   passes; `nil` means keep trying until the budget runs out.
  /// - Throws: ``ConsumerError/unavailable(endpoint:seconds:lastError:)`` when the
  ///   budget is spent, ``ConsumerError/deadlinePassed`` and
  ///   ``ConsumerError/interrupted`` as configured, and errors that no
  ///   reconnect can cure (authentication).
  private func recover(until callDeadline: Deadline) throws -> [StateChange]? {
    guard var current = outage else { return nil }
    let since = current.since
    defer { outage = current.isOver ? nil : current }
    let changes = try current.retry(
      configuration, until: callDeadline,
      attempt: {
        try connect()
        let watched = (0..<table.count).filter { table.phases[$0] == .watching }
        try subscribe(watched, coveredBySnapshot: { _ in true })
        let changes = try refresh(watched, source: .resync)
        try flushUnsubscribes()
        diagnostics.append(
          .reconnected(
            endpoint: configuration.backend.serverDescription, afterSeconds: since.secondsAgo,
            resubscribed: watched.count))
        return changes
      }, afterFailure: dropConnections)
    return changes
  }

  /// One drain on a live connection, with the health check; with Sentinel,
  /// the check also asks whether the master moved.
  private func drainConnected(_ subscriber: RedisConnection, until callDeadline: Deadline) throws -> [StateChange] {
    var replies = deferredReplies
    deferredReplies.removeAll()
    if replies.isEmpty {
      guard
        let first = try health.nextReply(
          from: subscriber, until: callDeadline, configuration,
          beforePing: { try checkMasterUnmoved(subscriber) })
      else { return [] }
      replies.append(first)
    } else {
      health.noteTraffic()
    }
    while replies.count < maximumBatch, let more = try subscriber.bufferedReply() {
      replies.append(more)
    }
    let changes = try handle(replies)
    try flushUnsubscribes()
    return changes
  }

  /// With Sentinel, a failover that keeps the old master running (`SENTINEL
  /// FAILOVER`, or a partition) leaves it a master for a while before the
  /// sentinels demote it, and results go to the new one meanwhile: when the
  /// sentinels name another master, the link counts as lost. A sentinel that
  /// cannot answer proves nothing, so errors are ignored here.
  private func checkMasterUnmoved(_ subscriber: RedisConnection) throws {
    guard configuration.backend.usesSentinel, let master = try? configuration.serverEndpoint(),
      master != subscriber.endpoint
    else { return }
    throw RedisError.connectionLost(
      endpoint: subscriber.endpoint.description, reason: "the sentinels name \(master) as master now")
  }

  private func checkInterrupted() throws {
    if let isInterrupted = configuration.isInterrupted, isInterrupted() { throw ConsumerError.interrupted }
  }

  /// Sleeps until `deadline`; a signal cuts the sleep short.
  private static func sleep(until deadline: Deadline) {
    let milliseconds = deadline.remainingPollMilliseconds
    if milliseconds > 0 { _ = poll(nil, 0, milliseconds) }
  }

  /// Connects, logs in and selects; with Sentinel, also checks (`ROLE`) that
  /// the server is still the master.
  /// Step 1: SUBSCRIBE in pipelined batches and read every confirmation.
  /// Messages read meanwhile for tasks the coming snapshot covers are dropped
  /// (the stored key is at least as new); others are kept for the next drain.
  ///
  /// The confirmations that have arrived are handled after each batch is
  /// written, not once all are: left in the reply buffer, 100,000 of them
  /// (~8 MB) grew it to 6 MB at the peak of memory.
  private func subscribe(_ indices: [Int], coveredBySnapshot: (Int) -> Bool) throws {
    guard let subscriber, !indices.isEmpty else { return }
    let deadline = Deadline.after(seconds: configuration.commandTimeout + Double(indices.count) / 20_000)
    var confirmed = 0
    func take(_ reply: RedisReply) throws {
      switch PubSubEvent(reply) {
      case .subscribed:
        confirmed += 1
      case .message(let channel, _):
        if let index = index(forChannel: channel), coveredBySnapshot(index) { return }
        deferredReplies.append(reply)
      case .error(let message):
        throw Self.serverError(message, command: "SUBSCRIBE", endpoint: subscriber.endpoint)
      case .other:
        return
      }
    }
    for batch in indices.chunked(by: configuration.batchSize) {
      subscriber.append(channelCommand("SUBSCRIBE", batch))
      try subscriber.flush(until: deadline)
      while let reply = try subscriber.bufferedReply() { try take(reply) }
    }
    while confirmed < indices.count {
      guard let reply = try subscriber.nextReply(until: deadline) else {
        if deadline.hasPassed {
          throw RedisError.timedOut(endpoint: subscriber.endpoint.description, operation: "SUBSCRIBE")
        }
        try checkInterrupted()
        continue
      }
      try take(reply)
    }
  }

  /// Step 2 (and resync): MGET the keys of `indices` and apply them.
  private func refresh(_ indices: [Int], source: StateChange.Source) throws -> [StateChange] {
    var changes = [StateChange]()
    changes.reserveCapacity(indices.count)
    try refresh(indices, source: source) { changes.append($0) }
    return changes
  }

  /// Step 2 (and resync), handing each change to `body` as its MGET batch is read.
  private func refresh(_ indices: [Int], source: StateChange.Source, _ body: (StateChange) -> Void) throws {
    let now = WallClockTime.now
    try fetchStored(indices) { position, reply in
      let index = indices[position]
      let change: StateChange?
      if case .bulk(let payload) = reply {
        let meta = try decodeStored(payload, index: index)
        change = apply(index, meta: meta, digest: ResultMessage.digest(of: payload), source: source, at: now)
      } else {
        change = apply(index, meta: nil, digest: 0, source: source, at: now)
      }
      if let change { body(change) }
    }
  }

  /// Pipelined MGET of the keys of `indices`, in batches; calls `body` with the
  /// position in `indices` and the stored value (`.bulk` or `.null`) of each
  /// key as each batch's reply is read, so no reply outlives its batch.
  ///
  /// Each batch is written as soon as it is formatted (the pipeline stays full,
  /// and 100,000 keys never sit in hiredis's output buffer at once), and the
  /// replies that have arrived are handled after each write: left until every
  /// batch was written, the replies read while the socket was full grew the
  /// reply buffer to 12.6 MB for 100,000 stored results (heaptrack, `--once`).
  /// If `body` throws, the remaining replies are still read, so the connection
  /// stays in step, and then the error is rethrown.
  private func fetchStored(_ indices: [Int], _ body: (Int, RedisReply) throws -> Void) throws {
    guard let commands, !indices.isEmpty else { return }
    let deadline = Deadline.after(seconds: configuration.commandTimeout)
    let batches = indices.chunked(by: configuration.batchSize)
    var sent = 0
    var answered = 0
    var position = 0
    var failure: (any Error)?
    func take(_ reply: RedisReply) throws {
      answered += 1
      switch reply {
      case .array(let elements):
        for element in elements where failure == nil {
          do {
            try body(position, element)
          } catch {
            failure = error
          }
          position += 1
        }
      case .error(let message): throw Self.serverError(message, command: "MGET", endpoint: commands.endpoint)
      default: throw RedisError.commandFailed(command: "MGET", message: "unexpected reply \(reply)")
      }
    }
    for batch in batches {
      var command = RedisCommand(
        argumentCount: batch.count + 1, reservingCapacity: batch.count * (channelPrefix.count + 48) + 16)
      command.append("MGET")
      for index in batch { command.append(channelPrefix, table.ids[index]) }
      commands.append(command)
      try commands.flush(until: deadline)
      sent += 1
      while answered < sent, let reply = try commands.bufferedReply() { try take(reply) }
    }
    while answered < sent {
      try take(try commands.replies(count: 1, until: deadline, operation: "MGET")[0])
    }
    if let failure { throw failure }
  }

  /// A READY message waiting for its stored key, with what was read from it.
  private struct PendingConfirmation {
    let index: Int
    let payload: [UInt8]
    let meta: TaskMeta
    let digest: Int
  }

  /// Steps 3–4 for one drained batch of subscriber replies.
  private func handle(_ replies: [RedisReply]) throws -> [StateChange] {
    let now = WallClockTime.now
    var changes = [StateChange]()
    // A task whose stored key is to be read skips its later messages in the batch.
    defer {
      table.releaseHolds()
      pendingConfirmations.removeAll(keepingCapacity: true)
      pendingRereads.removeAll(keepingCapacity: true)
    }
    for reply in replies {
      let event = PubSubEvent(reply)
      guard case .message(let channel, let payload) = event else {
        if case .error(let message) = event, let subscriber {
          throw Self.serverError(message, command: "SUBSCRIBE", endpoint: subscriber.endpoint)
        }
        continue
      }
      guard let index = index(forChannel: channel), table.phases[index] == .watching else { continue }
      let digest = ResultMessage.digest(of: payload)
      if table.states[index] != nil, table.isRepeat(index, digest: digest) { continue }
      let meta: TaskMeta
      do {
        meta = try TaskMeta.decode(payload)
      } catch {
        diagnostics.append(.undecodableMessage(taskID: table.ids[index], error: error))
        if !table.isHeld(index) {
          pendingRereads.append(index)
          table.hold(index)
        }
        continue
      }
      if !meta.hasTaskID(matching: table.ids[index]), let payloadTaskID = meta.taskID {
        diagnostics.append(.mismatchedTaskID(taskID: table.ids[index], payloadTaskID: payloadTaskID))
        if !table.isHeld(index) {
          pendingRereads.append(index)
          table.hold(index)
        }
        continue
      }
      // The stored key read for a held task is at least as new as this message.
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
    guard !pendingConfirmations.isEmpty || !pendingRereads.isEmpty else { return changes }
    let confirmations = pendingConfirmations
    let indices = confirmations.map(\.index) + pendingRereads
    do {
      try fetchStored(indices) { position, reply in
        let index = indices[position]
        guard case .bulk(let stored) = reply else {
          if position < confirmations.count && !warnedUnconfirmed {
            warnedUnconfirmed = true
            diagnostics.append(
              .unconfirmedReadyMessage(taskID: table.ids[index], database: configuration.backend.database))
          }
          return
        }
        let meta: TaskMeta
        let digest: Int
        if position < confirmations.count, Self.sameBytes(stored, confirmations[position].payload) {
          // The key holds the message's payload (the usual case): reuse its decoding.
          (meta, digest) = (confirmations[position].meta, confirmations[position].digest)
        } else {
          meta = try decodeStored(stored, index: index)
          digest = ResultMessage.digest(of: stored)
        }
        if let change = apply(index, meta: meta, digest: digest, source: .message, at: now) {
          changes.append(change)
        }
      }
    } catch {
      // Changes applied before the fault are reported after the reconnect.
      carriedChanges = changes
      throw error
    }
    return changes
  }

  private static func sameBytes(_ a: [UInt8], _ b: [UInt8]) -> Bool {
    guard a.count == b.count else { return false }
    return a.withUnsafeBytes { a in
      b.withUnsafeBytes { b in a.count == 0 || memcmp(a.baseAddress!, b.baseAddress!, a.count) == 0 }
    }
  }

  /// Records a payload for a task and returns the change to report, if any.
  private func apply(
    _ index: Int, meta: TaskMeta?, digest: Int, source: StateChange.Source, at time: WallClockTime
  ) -> StateChange? {
    guard table.phases[index] == .watching else { return nil }
    let previous = table.states[index]
    if previous != nil && (meta == nil || table.isRepeat(index, digest: digest)) { return nil }
    let state = meta?.state ?? .pending
    let source = source == .resync && previous == nil ? .snapshot : source
    table.record(index, state: state, digest: digest)
    if state.isReady { unsubscribeQueue.append(index) }
    return StateChange(
      taskID: table.ids[index], state: state, previous: previous, source: source, observedAt: time,
      meta: meta)
  }

  /// `SUBSCRIBE` or `UNSUBSCRIBE` with the channels of the tasks at `batch`,
  /// formatted straight into one command.
  private func channelCommand(_ name: String, _ batch: some Collection<Int>) -> RedisCommand {
    var command = RedisCommand(
      argumentCount: batch.count + 1, reservingCapacity: batch.count * (channelPrefix.count + 48) + 16)
    command.append(name)
    for index in batch { command.append(channelPrefix, table.ids[index]) }
    return command
  }

  /// Sends queued UNSUBSCRIBEs without waiting for their confirmations.
  ///
  /// Unless forced they wait while nothing is watched any more (the caller is
  /// about to stop, and closing the connection unsubscribes everything at
  /// once) and while messages are still coming in: a ready task's later
  /// messages are ignored anyway, and in a burst the UNSUBSCRIBEs cost the
  /// server about as much as the messages (S4: 100,000 of them, a quarter of
  /// redis-server's CPU, the bottleneck on two cores).
  private func flushUnsubscribes(force: Bool = false) throws {
    guard !unsubscribeQueue.isEmpty, let subscriber else { return }
    guard force || (table.watchingCount > 0 && deferredReplies.isEmpty && !subscriber.hasPendingInput())
    else { return }
    for batch in unsubscribeQueue.chunked(by: configuration.batchSize) {
      subscriber.append(channelCommand("UNSUBSCRIBE", batch))
    }
    unsubscribeQueue.removeAll(keepingCapacity: true)
    try subscriber.flush(until: .after(seconds: configuration.commandTimeout))
  }

  private func decodeStored(_ payload: [UInt8], index: Int) throws -> TaskMeta {
    do {
      return try TaskMeta.decode(payload)
    } catch {
      throw UndecodableResultError(taskID: table.ids[index], reason: error)
    }
  }

  private func index(forChannel channel: [UInt8]) -> Int? {
    table.index(ofUTF8: channel, droppingPrefix: channelPrefix)
  }

  private static func serverError(_ message: String, command: String, endpoint: RedisEndpoint) -> RedisError {
    RedisError.isAuthenticationError(message)
      ? .authenticationFailed(endpoint: endpoint.description, message: message)
      : .commandFailed(command: command, message: message)
  }
}

extension Array {
  /// Consecutive slices of at most `size` elements.
  func chunked(by size: Int) -> [ArraySlice<Element>] {
    stride(from: 0, to: count, by: size).map { self[$0..<Swift.min($0 + size, count)] }
  }
}
