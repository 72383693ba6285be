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
/// Constant memory: the feed's table holds only the tasks seen and not ready
/// yet. A ready task leaves it; the last 65,536 to 131,072 ready tasks are
/// remembered by id hash (`ReadyMemory`, about 2 MB), so their late repeats
/// are dropped. A message for a task that became ready longer ago than that
/// is taken for a new task: printed again, with `previous` null (for a READY
/// message, once its stored key confirms it).
///
/// A policy over the backend engine (`BackendLink`), so faults are handled
/// like the consumer's: an idle subscriber is PINGed every
/// ``ConsumerConfiguration/healthInterval`` (with Sentinel, after checking
/// that the master did not move); a lost link or a transient refusal
/// (`LOADING`) is retried with jittered backoff within
/// ``ReconnectPolicy/retryFor``, then the pattern is subscribed again
/// (confirmation read) and only then the stored results of the unready tasks
/// seen so far are re-read (source `resync`), with messages in flight during
/// that read held until they are known to be newer. What the resync covers:
/// every task seen and not ready, including those known only from a message
/// that was received but not handled when the link died, and those whose
/// READY message was waiting for its confirmation. What it cannot cover: a
/// task whose every message was published while the feed was not subscribed
/// (plain Redis cannot list the keys written since a moment); its later
/// messages, if any, are reported as they come. Changes applied before a
/// fault are always returned, never lost with the connection. Refused
/// credentials are thrown at once. Not `Sendable`: one feed belongs to one
/// thread.
public final class BackendFeed {
  /// The configuration the feed was created with.
  public let configuration: ConsumerConfiguration
  private let link: BackendLink
  private var table = FeedTable()
  private var readyMemory = ReadyMemory()
  private var diagnostics: [ConsumerDiagnostic] = []
  private var warnedUnconfirmed = false
  private var fence = FetchFence()
  private let channelPrefix: [UInt8]
  private var pendingConfirmations: [PendingConfirmation] = []
  /// Changes applied to the table and not returned yet: returned by the
  /// next ``drainEvents(timeout:)`` even when the step that made them
  /// failed afterwards (a resync or a confirmation MGET cut short).
  private var unreported: [StateChange] = []
  /// An error that ended a ``drainEvents(timeout:)`` which still had
  /// changes to return: that call returned them, the next one throws it.
  private var deferredFailure: (any Error)?
  /// Replies handled per drained batch, as in ``ResultConsumer``.
  private let maximumBatch = 4096

  /// Creates a feed; nothing connects until ``start()``.
  public init(configuration: ConsumerConfiguration) {
    self.configuration = configuration
    link = BackendLink(configuration: configuration)
    link.keepsStrandedMessages = true
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

  /// The tasks seen and not ready yet, with their last state, in no
  /// particular order (ready tasks leave the feed; count them with
  /// ``readyCount``).
  public var statuses: [TaskStatus] {
    table.liveIndices.compactMap { index in
      table.states[index].map { TaskStatus(taskID: table.ids[index], state: $0, isWatched: true) }
    }
  }

  /// How many ready lines the feed has returned.
  public private(set) var readyCount = 0

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
    try guarding(firstAttempt: true) { try connectAndResync() }
  }

  /// While the feed is disconnected and retrying: the fault that broke the
  /// connection, or of the last failed attempt to restore it; `nil` while
  /// connected.
  public var connectionProblem: RedisError? { link.outage?.lastError }

  /// Waits up to `timeout` seconds for messages and applies every one that is
  /// buffered (up to a batch); reconnects and resyncs first after a fault,
  /// waiting for the next attempt (never past the timeout). After ``stop()``
  /// (or without ``start()``) it connects first.
  ///
  /// Every change applied is returned exactly once. A call that fails after
  /// applying changes (the retry budget spent after a resync cut short half
  /// way) returns them, and the next call throws the error.
  /// - Returns: the changes, in the order the messages arrived.
  /// - Throws: ``ConsumerError`` when the retry budget or the deadline is
  ///   spent or the caller interrupts, `RedisError` for faults no retry can cure.
  public func drainEvents(timeout: Double) throws -> [StateChange] {
    if let failure = deferredFailure {
      deferredFailure = nil
      throw failure
    }
    do {
      try drainOnce(until: Deadline.after(seconds: timeout))
    } catch {
      guard !unreported.isEmpty else { throw error }
      deferredFailure = error
    }
    return takeUnreported()
  }

  /// One drain: recovers or reconnects first if needed, else reads and
  /// handles one batch; every change goes to ``unreported``.
  private func drainOnce(until callDeadline: Deadline) throws {
    if link.outage != nil {
      let resubscribed: Int? = try link.recover(until: callDeadline) {
        do {
          try subscribePattern()
          try resync()
        } catch {
          // As in ResultConsumer: no fence of a failed attempt stays open.
          fence.abandon(through: link.fencesSent)
          throw error
        }
        return (table.count, table.count)
      }
      if resubscribed == nil || !unreported.isEmpty { return }
    } else if !link.isConnected {
      try guarding { try connectAndResync() }
      if !unreported.isEmpty || !link.isConnected { return }
    }
    try guarding {
      let replies = try link.read(maximum: maximumBatch, until: callDeadline)
      if !replies.isEmpty { try handle(replies) }
    }
  }

  /// Hands the queued changes over (their storage too: keeping the
  /// capacity would copy it, as the returned array shares it).
  private func takeUnreported() -> [StateChange] {
    defer { unreported = [] }
    return unreported
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

  private func connectAndResync() throws {
    try link.connect()
    try subscribePattern()
    try resync()
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
  /// First the messages received on a lost connection and never handled
  /// add their tasks, so the read covers those too.
  private func resync() throws {
    adoptStrandedMessages()
    let unready = table.liveIndices
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
      apply(index, meta: meta, digest: ResultMessage.digest(of: payload), source: .resync, at: now)
      if table.isLive(index) {
        fence.cover(index, until: fenceNumber)
        covered = true
      }
    }
    if covered { _ = try link.sendFence() }
  }

  /// Adds the tasks of the messages a lost connection left unhandled, unless
  /// known or recently ready; the resync reads their stored results (never
  /// older than the messages).
  private func adoptStrandedMessages() {
    for reply in link.takeStrandedMessages() {
      guard case .message(let channel, _) = PubSubEvent(reply),
        let (known, hash) = table.lookUp(channel, droppingPrefix: channelPrefix),
        known == nil, !readyMemory.contains(hash)
      else { continue }
      _ = table.add(String(decoding: channel[channelPrefix.count...], as: UTF8.self), hash: hash)
    }
  }

  /// A READY message waiting for its stored key, with what was read from it.
  private struct PendingConfirmation {
    let index: Int
    let payload: [UInt8]
    let meta: TaskMeta
    let digest: Int
  }

  /// Applies one drained batch of subscriber replies.
  private func handle(_ batch: [RedisReply]) throws {
    let now = WallClockTime.now
    unreported.reserveCapacity(unreported.count + batch.count)  // at most one change per reply: no regrowth
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
      // The three arrays, not the table: see `FeedTable.lookUp(_:droppingPrefix:slots:ids:hashes:)`.
      guard
        let (known, hash) = FeedTable.lookUp(
          channel, droppingPrefix: channelPrefix, slots: table.slots, ids: table.ids, hashes: table.hashes)
      else {
        // Not a task's: on a cluster, perhaps a fence marker.
        if let answered = link.absorbMarker(channel: channel, payload: payload) {
          replies.insert(contentsOf: fence.close(through: answered), at: position)
        }
        continue
      }
      if let known {
        if fence.isOpen && fence.covers(known) {
          if table.isRepeat(known, digest: ResultMessage.digest(of: payload)) {
            fence.sawFetchedPayload(known)
          } else {
            fence.hold(known, reply)
          }
          continue
        }
      } else if readyMemory.contains(hash) {
        continue  // a late repeat of a task that is ready: final for the run
      }
      let digest = ResultMessage.digest(of: payload)
      if let known, table.isRepeat(known, digest: digest) { continue }
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
      let index = known ?? table.add(taskID, hash: hash)
      if table.isHeld(index) { continue }
      if meta.state.isReady && configuration.verifyReadyMessages {
        // Until confirmed, the task stays in the table (with no state if
        // this is its first message), so a resync covers it if the
        // confirmation is cut short.
        pendingConfirmations.append(PendingConfirmation(index: index, payload: payload, meta: meta, digest: digest))
        table.hold(index)
        continue
      }
      apply(index, meta: meta, digest: digest, source: .message, at: now)
    }
    guard !pendingConfirmations.isEmpty else { return }
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
      apply(confirmation.index, meta: confirmation.meta, digest: confirmation.digest, source: .message, at: now)
    }
  }

  /// Records a payload for a task and queues the change to report, if any.
  /// A ready task leaves the table for the ready memory.
  private func apply(
    _ index: Int, meta: TaskMeta, digest: Int, source: StateChange.Source, at time: WallClockTime
  ) {
    if table.isRepeat(index, digest: digest) { return }
    let previous = table.states[index]
    unreported.append(
      StateChange(
        taskID: table.ids[index], state: meta.state, previous: previous, source: source, observedAt: time, meta: meta))
    guard meta.state.isReady else { return table.record(index, state: meta.state, digest: digest) }
    readyCount += 1
    readyMemory.insert(table.hashes[index])
    fence.release(index)
    table.remove(index)
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
    for index in batch { command.append(channelPrefix, table.ids[index]) }
    return command
  }
}
