import Glibc

/// Celery's Redis `ResultConsumer`: watches the result channels of given
/// tasks and turns what it sees into ``StateChange`` values.
///
/// A policy over the backend engine (`BackendLink`, which owns the two
/// connections, the health check and the reconnects): a subscriber (in RESP2
/// a subscribed connection accepts nothing but (UN)SUBSCRIBE and PING) and a
/// command connection for `MGET`.
///
/// Consistency protocol, whenever tasks are added:
/// 1. SUBSCRIBE their channels in pipelined batches and read every confirmation;
/// 2. only then MGET their keys and report them with source `snapshot`;
/// 3. stream messages (source `message`), dropping a payload identical to the
///    last one seen for the task, so a state seen by both MGET and PUBLISH is
///    reported once, and holding back messages that were in flight during the
///    MGET until they are known to be newer (`FetchFence`);
/// 4. UNSUBSCRIBE a task once it is ready (batched, sent as batches fill and
///    when the subscriber is idle); it is final for the run.
///
/// A READY message counts only once the stored key in our own database confirms
/// it (pub/sub ignores the database number); all confirmations of one drained
/// batch share one pipelined MGET.
///
/// A stored result that can never be decoded (pickle, YAML, a compression
/// kombu does not write, bytes that are not a Celery result) ends that task's
/// watch only: it is reported once as a change with
/// ``StateChange/unreadable`` set, counts as ready with an unknown outcome,
/// is unsubscribed, and the other tasks are watched on. An undecodable
/// *published* message is only a diagnostic, and the task's key is re-read.
///
/// With ``ConsumerConfiguration/pendingHintAfter`` set, tasks still PENDING
/// with nothing stored and no message after that long are looked into on a
/// short-lived connection of their own (group key, other databases, id
/// format), and one ``ConsumerDiagnostic/pendingHint(_:)`` per cause found is
/// reported, at most once per cause.
///
/// With ``ConsumerConfiguration/followChildren`` every payload applied
/// (snapshot, message or resync) is read for the tasks it lists in
/// `children` (`TaskChildren`); those not yet watched are added through the
/// same steps 1–2, in one batch per round, before the call that found them
/// returns, so ``watchingCount`` never reaches zero while a listed child is
/// unready. Each id is watched once, whichever tree lists it first, so
/// shared ids and cycles end.
///
/// The class never prints and never exits; things worth telling the user are
/// collected as ``ConsumerDiagnostic`` values (``takeDiagnostics()``). Not
/// `Sendable`: one consumer belongs to one thread.
public final class ResultConsumer {
  /// The configuration the consumer was created with.
  public let configuration: ConsumerConfiguration
  private let link: BackendLink
  private var table = TaskTable()
  /// Tasks whose channels are to be unsubscribed, by index.
  private var unsubscribeQueue: [Int] = []
  private var diagnostics: [ConsumerDiagnostic] = []
  private var warnedUnconfirmed = false
  /// Why each unreadable task's stored result cannot be read, by index (rare: a dictionary).
  private var unreadableReasons: [Int: DecodeError] = [:]
  /// Tasks added together, and when to look why those still PENDING are
  /// (``ConsumerConfiguration/pendingHintAfter``), in the order added.
  private var hintChecks: [(due: Deadline, tasks: Range<Int>)] = []
  /// The causes already hinted at: one line per cause per run.
  private var hintedCauses = Set<PendingHint.Cause>()
  private static let taskHintCauses: Set<PendingHint.Cause> = [.groupID, .otherDatabase, .notCeleryID, .nothingStored]
  /// Changes applied and not returned yet: a resync's as each MGET batch is
  /// read, a drained batch's when a fault came after it was applied. The
  /// next ``drainEvents(timeout:)`` or ``refreshPending(_:)`` returns them,
  /// whatever failed after they were applied (the table has recorded them,
  /// so no later read would report them again).
  private var carriedChanges: [StateChange] = []
  /// An error that ended a call which still had changes to return: that
  /// call returned the changes, the next one throws it.
  private var deferredFailure: (any Error)?
  /// Messages in flight during a fetch, held until known to be newer.
  private var fence = FetchFence()
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
  /// Where each task found through `children` hangs in its tree, by index
  /// (tasks the caller gave have no entry).
  private var lineage: [Int: Lineage] = [:]
  /// How many tasks each tree has, by the index of its given root; only
  /// roots whose payloads listed children have an entry.
  private var treeSizes: [Int: Int] = [:]
  /// Children read from applied payloads, not yet added.
  private var discovered: [(id: String, parent: Int)] = []

  /// The parent and the root of a task found through `children`.
  private struct Lineage {
    let parent: Int
    let root: Int
  }

  /// Creates a consumer; nothing connects until ``start(initialTaskID:)`` or ``consume(from:)-(String)``.
  public init(configuration: ConsumerConfiguration) {
    self.configuration = configuration
    link = BackendLink(configuration: configuration)
    channelPrefix = Array(configuration.keyNaming.taskKeyPrefix.utf8)
    link.taskChannelKeys = TaskChannelKeys(prefix: channelPrefix)
    pendingConfirmations.reserveCapacity(64)
    pendingRereads.reserveCapacity(64)
  }

  // MARK: - State

  /// How many tasks were ever added (given, or found through `children`).
  public var taskCount: Int { table.count }

  /// How many tasks are still watched (neither ready nor cancelled).
  public var watchingCount: Int { table.watchingCount }

  /// Whether both connections are up.
  public var isStarted: Bool { link.isConnected }

  /// Whether the consumer has ever been connected and subscribed.
  public private(set) var hasConnected = false

  /// While the consumer is disconnected and retrying: the fault that broke
  /// the connection, or of the last failed attempt to restore it; `nil` while
  /// connected (and before the first attempt).
  public var connectionProblem: RedisError? { link.outage?.lastError }

  /// Every task ever watched, in the order it was added, with its last state.
  public var statuses: [TaskStatus] {
    (0..<table.count).map { index in
      let family = lineageIDs(of: index)
      return TaskStatus(
        taskID: table.ids[index], state: table.states[index] ?? .pending,
        isWatched: table.phases[index] == .watching, unreadable: unreadableReasons[index],
        parentID: family?.parent, rootID: family?.root)
    }
  }

  /// How many tasks ended the watch with a stored result that can never be read.
  public var unreadableCount: Int { unreadableReasons.count }

  /// Returns and clears what the consumer noticed since the last call.
  public func takeDiagnostics() -> [ConsumerDiagnostic] {
    defer {
      diagnostics.removeAll()
      link.diagnostics.removeAll()
    }
    return link.diagnostics + diagnostics
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
  /// - Throws: `RedisError` for faults no reconnect can cure (authentication).
  ///   A stored result that can never be read is not thrown: that task's
  ///   change has ``StateChange/unreadable`` set.
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
  /// - Parameters:
  ///   - taskIDs: the tasks to watch; repeats and tasks already watched are skipped.
  ///   - body: called once per new task, in the order given.
  public func consume(from taskIDs: [String], onChange body: (StateChange) -> Void) throws {
    table.reserve(taskIDs.count)
    try startWatching(taskIDs.compactMap { table.add($0) }, body)
  }

  /// Starts watching the tasks of `ids` like ``consume(from:onChange:)``:
  /// the form for a large list the caller built itself (the CLI, from
  /// standard input). The first call takes the set over as the table's id
  /// column, so a caller that then lets go of it does not keep the ids twice.
  package func consume(from ids: TaskIDSet, onChange body: (StateChange) -> Void) throws {
    guard table.count > 0 else {
      table = TaskTable(watching: ids)
      return try startWatching(Array(ids.indices), body)
    }
    table.reserve(ids.count)
    var added = [Int]()
    for position in ids.indices {
      if let index = ids.withUTF8(at: position, { table.add(utf8: $0) }) { added.append(index) }
    }
    try startWatching(added, body)
  }

  /// Steps 1–2 for tasks just added to the table, at `added`.
  private func startWatching(_ added: [Int], _ body: (StateChange) -> Void) throws {
    if let first = added.first, let last = added.last, let after = configuration.pendingHintAfter, after > 0,
      !hintedCauses.isSuperset(of: Self.taskHintCauses)
    {
      hintChecks.append((Deadline.after(seconds: after), first..<(last + 1)))
    }
    guard let first = added.first, link.outage == nil else { return }
    try guarding(firstAttempt: !hasConnected) {
      if !link.isConnected {
        // Stopped (or never started): the tasks watched before come back too.
        try link.connect()
        let earlier = watchedIndices(before: first)
        try subscribeAndRefresh(earlier, coveredBySnapshot: { _ in true }, source: .resync) {
          carriedChanges.append($0)
        }
      }
      try flushUnsubscribes(force: true)
      try subscribeAndRefresh(
        added, coveredBySnapshot: { $0 >= first }, source: .snapshot, subscribed: { hasConnected = true }, body)
      try flushUnsubscribes()
    }
    try followDiscoveredChildren(body)
  }

  /// Stops watching a task and unsubscribes its channel (Celery's `cancel_for`).
  public func cancel(for taskID: String) throws {
    guard let index = table.index(of: taskID), table.cancel(index) else { return }
    unsubscribeQueue.append(index)
    try guarding { try flushUnsubscribes(force: true) }
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
    return apply(index, meta: meta, state: meta?.state ?? .pending, digest: digest, source: message.source, at: .now)
  }

  /// Reads the stored results of watched tasks and applies what changed
  /// (Celery's `on_wait_for_pending`), with source `resync`. While the
  /// consumer is retrying a lost connection it reads nothing, and
  /// ``drainEvents(timeout:)`` resyncs once the link is back.
  ///
  /// After ``stop()`` it reconnects first, resubscribes every watched task
  /// and re-reads every one of them, not only `taskIDs`: what was stored
  /// while disconnected (and the messages that arrived while resubscribing)
  /// would otherwise be missed for the others, since no message of that
  /// time comes again.
  ///
  /// Changes applied by an earlier call and not returned yet (a fault cut
  /// it short) come first. If this call fails after applying changes, it
  /// returns them and the next call throws the error.
  /// - Parameter taskIDs: the tasks to refresh; `nil` means every watched task.
  public func refreshPending(_ taskIDs: [String]? = nil) throws -> [StateChange] {
    try returningChanges {
      guard link.outage == nil else { return }
      try guarding {
        if link.isConnected {
          let indices = taskIDs?.compactMap { table.index(of: $0) } ?? watchedIndices()
          try refresh(indices, source: .resync) { carriedChanges.append($0) }
          try flushUnsubscribes()
        } else {
          try link.connect()
          try resubscribeAndResync()
        }
      }
      try followDiscoveredChildren { carriedChanges.append($0) }
    }
  }

  /// Waits up to `timeout` seconds for messages and applies every one that has
  /// arrived (Celery's `drain_events`).
  ///
  /// Returns as soon as a batch was handled, when the timeout passes, or when
  /// a signal interrupts the wait; an empty result is not an error. While
  /// disconnected it waits for the next reconnect attempt (never past the
  /// timeout) and makes it; after ``stop()`` it reconnects, resubscribes and
  /// resyncs; with nothing to watch and no connection it just waits.
  ///
  /// Children found in what it applied (``ConsumerConfiguration/followChildren``)
  /// are added before it returns, their snapshot changes after the others.
  ///
  /// Every change applied is returned exactly once: changes applied before
  /// a fault (a resync cut short half way, a batch whose UNSUBSCRIBE failed)
  /// come with the next call. A call that fails after applying changes (the
  /// retry budget spent after a half-applied resync) returns them, and the
  /// next call throws the error.
  public func drainEvents(timeout: Double) throws -> [StateChange] {
    try returningChanges {
      let drained = try drainOnce(timeout: timeout)
      // An assignment when nothing was carried, not `+`: that copied every
      // change of the batch (~200 instructions a message at S4).
      if carriedChanges.isEmpty {
        carriedChanges = drained
      } else if !drained.isEmpty {
        carriedChanges += drained
      }
      try followDiscoveredChildren { carriedChanges.append($0) }
    }
  }

  /// Runs `step`, whose changes accrue in ``carriedChanges``, and returns
  /// them. An error thrown by `step` is thrown at once if there is nothing
  /// to return, else deferred to the next call: the table has recorded
  /// those changes, so they would never be reported otherwise.
  private func returningChanges(_ step: () throws -> Void) throws -> [StateChange] {
    if let failure = deferredFailure {
      deferredFailure = nil
      throw failure
    }
    do {
      try step()
    } catch {
      guard !carriedChanges.isEmpty else { throw error }
      deferredFailure = error
    }
    defer { carriedChanges = [] }
    return carriedChanges
  }

  /// One drain: returns a batch drained on a live connection; a resync's
  /// changes go to ``carriedChanges`` as they are applied.
  private func drainOnce(timeout: Double) throws -> [StateChange] {
    let callDeadline = Deadline.after(seconds: timeout)
    if link.outage == nil && link.isConnected { lookForPendingHints() }
    if link.outage == nil && !link.isConnected {
      guard table.watchingCount > 0 else {
        try BackendLink.pause(until: callDeadline, wakeup: configuration.wakeup)
        return []
      }
      try guarding {
        try link.connect()
        try resubscribeAndResync()
      }
      return []
    }
    if link.outage == nil {
      do {
        return try drainConnected(until: callDeadline)
      } catch let error as RedisError where error.isConnectionFault {
        lose(error)
      }
    }
    _ = try link.recover(until: callDeadline) {
      do {
        try resubscribeAndResync()
      } catch {
        // The attempt may have covered tasks for a fence it never sent: left
        // open, it held their messages for good if the next attempt covered none.
        fence.abandon(through: link.fencesSent)
        throw error
      }
      return ((), table.watchingCount)
    }
    return []
  }

  /// Closes both connections (Celery's `stop`). Watched tasks are kept, so a
  /// later ``consume(from:)-(String)``, ``refreshPending(_:)`` or
  /// ``drainEvents(timeout:)`` reconnects, resubscribes them and re-reads
  /// their stored results.
  public func stop() {
    link.stop()
    fence.abandon(through: link.fencesSent)
    unsubscribeQueue.removeAll()
  }

  /// Drops connections inherited across `fork()` without writing to them
  /// (Celery's `on_after_fork`): the parent still owns the conversation.
  public func resetAfterFork() {
    stop()
  }

  // MARK: - Hints

  /// Once tasks have been PENDING with nothing stored and no message for
  /// ``ConsumerConfiguration/pendingHintAfter``, looks for why (on a
  /// connection of its own, ``PendingProbe``) and queues one
  /// ``ConsumerDiagnostic/pendingHint(_:)`` per cause not reported yet.
  private func lookForPendingHints() {
    guard let after = configuration.pendingHintAfter, let check = hintChecks.first, check.due.hasPassed else { return }
    var pending = PendingProbe.Pending()
    while let check = hintChecks.first, check.due.hasPassed {
      hintChecks.removeFirst()
      for index in check.tasks where table.phases[index] == .watching && table.states[index] == .pending {
        table.ids.withUTF8(at: index) { pending.add(utf8: $0) }
      }
    }
    let hints = PendingProbe(configuration: configuration).hints(for: pending, skipping: hintedCauses, seconds: after)
    for hint in hints where hintedCauses.insert(hint.cause).inserted {
      diagnostics.append(.pendingHint(hint))
    }
    if hintedCauses.isSuperset(of: Self.taskHintCauses) { hintChecks.removeAll() }
  }

  // MARK: - Protocol steps

  /// Runs `step`; a connection fault starts an outage that a later
  /// ``drainEvents(timeout:)`` recovers from.
  /// - Parameter firstAttempt: the first connection of the consumer, whose
  ///   fault may show that the URL's scheme does not fit the port: that is
  ///   final (see ``ConsumerConfiguration/tlsModeMismatch(after:)``).
  private func guarding(firstAttempt: Bool = false, _ step: () throws -> Void) throws {
    do {
      try step()
    } catch let error as RedisError where error.isConnectionFault {
      if firstAttempt, let mismatch = configuration.tlsModeMismatch(after: error) { throw mismatch }
      lose(error)
    }
  }

  private func lose(_ error: RedisError) {
    link.lose(error)
    fence.abandon(through: link.fencesSent)
    unsubscribeQueue.removeAll()
  }

  /// The tasks still watched among the first `end` (all by default), in
  /// order. Sized up front: a filtered array grew to 12.6 MB for 1,000,000
  /// tasks (heaptrack), and one of every task was built on the first
  /// connect only to keep those added earlier (none).
  private func watchedIndices(before end: Int? = nil) -> [Int] {
    let end = end ?? table.count
    var indices = [Int]()
    indices.reserveCapacity(end == table.count ? table.watchingCount : 0)
    for index in 0..<end where table.phases[index] == .watching { indices.append(index) }
    return indices
  }

  /// After a connect: resubscribes every watched task, reads every
  /// confirmation, and only then re-reads their stored results. Each change
  /// goes to ``carriedChanges`` as its MGET batch is read, so a fault in a
  /// later batch does not lose those of the earlier ones.
  private func resubscribeAndResync() throws {
    try subscribeAndRefresh(
      watchedIndices(), coveredBySnapshot: { _ in true }, source: .resync, subscribed: { hasConnected = true },
      { carriedChanges.append($0) })
    try flushUnsubscribes()
  }

  /// One drain on a live connection. When the UNSUBSCRIBE of the batch's
  /// ready tasks fails (a subscriber Redis closed right after the batch),
  /// the batch's changes are carried to the next call.
  private func drainConnected(until callDeadline: Deadline) throws -> [StateChange] {
    let replies = try link.read(maximum: maximumBatch, until: callDeadline)
    guard !replies.isEmpty else { return [] }
    let changes = try handle(replies)
    do {
      try flushUnsubscribes()
    } catch {
      carriedChanges += changes
      throw error
    }
    return changes
  }

  /// Step 1: SUBSCRIBE in pipelined batches and read every confirmation.
  /// Messages read meanwhile for tasks the coming snapshot covers are dropped
  /// (the stored key is at least as new); others are kept for the next drain.
  private func subscribe(_ indices: [Int], coveredBySnapshot: (Int) -> Bool) throws {
    try link.subscribe(indices, command: "SUBSCRIBE", format: channelCommand) { channel in
      guard let index = index(forChannel: channel) else { return false }
      return !coveredBySnapshot(index)
    }
  }

  /// Step 2 (and resync), handing each change to `body` as its MGET batch
  /// is read; then a fence covers the tasks whose stored state is not final.
  private func refresh(_ indices: [Int], source: StateChange.Source, _ body: (StateChange) -> Void) throws {
    let (now, fenceNumber) = (WallClockTime.now, link.fencesSent &+ 1)
    var covered = false
    func take(_ position: Int, _ reply: RedisReply) {
      if applyFetched(reply, index: indices[position], source: source, at: now, fence: fenceNumber, body) {
        covered = true
      }
    }
    try link.fetch(indices, slot: keySlot, format: keysCommand, take)
    if covered { _ = try link.sendFence() }
  }

  /// Steps 1 and 2 overlapped: SUBSCRIBE `indices` in pipelined batches and,
  /// as soon as every confirmation of a batch's worth of them is in, MGET
  /// their keys on the command connection while the later batches are still
  /// being subscribed. Each key is still read only after its own channel's
  /// subscription is confirmed, so no result published in between is lost;
  /// the server's work on the subscriptions and ours on the snapshot run at
  /// the same time (1,000,000 ids: spawn → last snapshot line 4.53 s → 3.6 s,
  /// redis-cli's SUBSCRIBE of the same channels 3.9 s; the server spends
  /// ~2.7 µs per channel subscribed, the whole of the wait).
  ///
  /// A message read meanwhile is dropped when the task's key is still to
  /// be read (the stored value is at least as new); once the key's MGET is
  /// sent, it is kept for the next drain, where the fence orders it against
  /// the value read. Messages of tasks not covered (`coveredBySnapshot`)
  /// are always kept.
  /// - Parameter subscribed: called once every subscription is confirmed.
  private func subscribeAndRefresh(
    _ indices: [Int], coveredBySnapshot: (Int) -> Bool, source: StateChange.Source,
    subscribed: () -> Void = {}, _ body: (StateChange) -> Void
  ) throws {
    guard !indices.isEmpty else { return }
    guard link.router == nil else {
      // A cluster reads each key from its slot's master, in no set order:
      // every subscription first, then the fetch.
      try subscribe(indices, coveredBySnapshot: coveredBySnapshot)
      subscribed()
      return try refresh(indices, source: source, body)
    }
    let (now, fenceNumber) = (WallClockTime.now, link.fencesSent &+ 1)
    var covered = false
    func take(_ position: Int, _ reply: RedisReply) {
      if applyFetched(reply, index: indices[position], source: source, at: now, fence: fenceNumber, body) {
        covered = true
      }
    }
    let batchSize = configuration.batchSize
    var pipeline = BackendLink.FetchPipeline()
    var fetched = 0
    try link.subscribe(
      indices, command: "SUBSCRIBE", format: channelCommand,
      keep: { channel in
        guard let index = index(forChannel: channel) else { return false }
        return !coveredBySnapshot(index) || (fetched > 0 && index <= indices[fetched - 1])
      },
      confirmed: { count in
        if count == indices.count { subscribed() }
        while count - fetched >= batchSize || (count == indices.count && fetched < count) {
          let end = min(fetched + batchSize, count)
          try link.sendFetch(indices[fetched..<end], format: keysCommand, on: &pipeline, take)
          fetched = end
        }
      })
    try link.finishFetch(&pipeline, take)
    if covered { _ = try link.sendFence() }
  }

  /// Step 2 for one key: applies its stored value (PENDING when there is
  /// none) and hands the change to `body`; an unready task with a stored
  /// value is covered by fence `fenceNumber`.
  /// - Returns: whether the task was covered.
  private func applyFetched(
    _ reply: RedisReply, index: Int, source: StateChange.Source, at now: WallClockTime, fence fenceNumber: UInt32,
    _ body: (StateChange) -> Void
  ) -> Bool {
    var covered = false
    let change: StateChange?
    if case .bulk(let payload) = reply {
      change = applyStored(payload, index: index, source: source, at: now)
      if table.phases[index] == .watching {
        fence.cover(index, until: fenceNumber)
        covered = true
      }
    } else {
      change = apply(index, meta: nil, state: .pending, digest: 0, source: source, at: now)
    }
    if let change { body(change) }
    return covered
  }

  /// A READY message waiting for its stored key, with what was read from it.
  private struct PendingConfirmation {
    let index: Int
    let payload: [UInt8]
    let meta: TaskMeta
    let digest: Int
  }

  /// Steps 3–4 for one drained batch of subscriber replies.
  private func handle(_ batch: [RedisReply]) throws -> [StateChange] {
    let now = WallClockTime.now
    var changes = [StateChange]()
    // At most one change per reply: no regrowth of the array (~180
    // instructions of copying a message at S4).
    changes.reserveCapacity(batch.count)
    // A task whose stored key is to be read skips its later messages in the batch.
    defer {
      table.releaseHolds()
      pendingConfirmations.removeAll(keepingCapacity: true)
      pendingRereads.removeAll(keepingCapacity: true)
    }
    var replies = batch
    var position = 0
    while position < replies.count {
      let reply = replies[position]
      position += 1
      let index: Int
      let payload: [UInt8]
      // The channel's name, or its key (TaskChannelKeys) for a uuid id.
      let channel: TaskChannel
      switch PubSubEvent(reply) {
      case .keyedMessage(let key, let message):
        guard let found = table.index(ofKey: key) else { continue }
        (index, payload, channel) = (found, message, .key(key))
      case .message(let name, let message):
        guard let found = self.index(forChannel: name) else {
          // Not a task's: on a cluster, perhaps a fence marker (only here, so
          // a task's message pays nothing for it).
          if let answered = link.absorbMarker(channel: name, payload: message) {
            replies.insert(contentsOf: fence.close(through: answered), at: position)
          }
          continue
        }
        (index, payload, channel) = (found, message, .name(name))
      case let event:
        if let answered = try link.absorb(event, command: "SUBSCRIBE") {
          // Held messages come next, before the rest of the batch.
          replies.insert(contentsOf: fence.close(through: answered), at: position)
        }
        continue
      }
      guard table.phases[index] == .watching else { continue }
      let digest = ResultMessage.digest(of: payload)
      if fence.isOpen && fence.covers(index) {
        if table.isRepeat(index, digest: digest) {
          fence.sawFetchedPayload(index)
        } else {
          fence.hold(index, reply)
        }
        continue
      }
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
      if !hasTaskID(meta, channel: channel), let payloadTaskID = meta.taskID {
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
      if let change = apply(index, meta: meta, state: meta.state, digest: digest, source: .message, at: now) {
        changes.append(change)
      }
    }
    guard !pendingConfirmations.isEmpty || !pendingRereads.isEmpty else { return changes }
    let confirmations = pendingConfirmations
    let indices = confirmations.map(\.index) + pendingRereads
    do {
      try link.fetch(indices, slot: keySlot, format: keysCommand) { position, reply in
        let index = indices[position]
        guard case .bulk(let stored) = reply else {
          if position < confirmations.count && !warnedUnconfirmed {
            warnedUnconfirmed = true
            diagnostics.append(
              .unconfirmedReadyMessage(taskID: table.ids[index], database: configuration.backend.database))
          }
          return
        }
        let change: StateChange?
        if position < confirmations.count, Self.sameBytes(stored, confirmations[position].payload) {
          // The key holds the message's payload (the usual case): reuse its decoding.
          let confirmation = confirmations[position]
          change = apply(
            index, meta: confirmation.meta, state: confirmation.meta.state, digest: confirmation.digest,
            source: .message, at: now)
        } else {
          change = applyStored(stored, index: index, source: .message, at: now)
        }
        if let change { changes.append(change) }
      }
    } catch {
      // Changes applied before the fault are reported after the reconnect.
      carriedChanges += changes
      throw error
    }
    // A task whose stored key is unreadable too is reported once, by its change.
    for change in changes where change.isUnreadable {
      diagnostics.removeAll {
        if case .undecodableMessage(let taskID, _) = $0 { return taskID == change.taskID }
        return false
      }
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
  /// - Parameter state: `meta`'s state, or PENDING without one: passed by the
  ///   callers, which hold `meta` unwrapped, since `meta?.state` here copied
  ///   the whole meta (−74 instructions a message at S4).
  private func apply(
    _ index: Int, meta: TaskMeta?, state: TaskState, digest: Int, source: StateChange.Source,
    at time: WallClockTime
  ) -> StateChange? {
    // One access to the table instead of four (each access to a stored
    // property of the class is an exclusivity check): −163 instructions a
    // message at S4.
    guard let (previous, identifier) = table.recordIfNew(index, state: state, digest: digest, hasPayload: meta != nil)
    else { return nil }
    let source = source == .resync && previous == nil ? .snapshot : source
    if state.isReady { unsubscribeQueue.append(index) }
    if configuration.followChildren, let meta {
      for child in TaskChildren.ids(in: meta) { discovered.append((child, index)) }
    }
    let family = lineageIDs(of: index)
    return StateChange(
      identifier: identifier, state: state, previous: previous, source: source, observedAt: time,
      meta: meta, parentID: family?.parent, rootID: family?.root)
  }

  /// The ids of the parent and the root of a task found through
  /// `--children`, or `nil` for a given id (or without `followChildren`).
  private func lineageIDs(of index: Int) -> (parent: String, root: String)? {
    // The setting first: it is a constant, `lineage` a stored variable whose
    // every read is an exclusivity check (76 instructions a message at S4).
    guard configuration.followChildren, !lineage.isEmpty, let family = lineage[index] else { return nil }
    return (table.ids[family.parent], table.ids[family.root])
  }

  // MARK: - Children

  /// Adds the children read from applied payloads that are not watched yet
  /// (steps 1–2 for them, as one batch), then theirs, until a round finds
  /// none new; each snapshot change goes to `body`. While the link is down
  /// the children are only added: the resync after the reconnect reads them.
  /// - Throws: ``WorkflowTooLargeError`` when a tree would exceed
  ///   ``ConsumerConfiguration/maximumTreeSize``.
  private func followDiscoveredChildren(_ body: (StateChange) -> Void) throws {
    while !discovered.isEmpty {
      let round = discovered
      discovered.removeAll()
      var added = [Int]()
      for (id, parent) in round {
        let root = lineage[parent]?.root ?? parent
        guard table.index(of: id) == nil else { continue }
        let size = treeSizes[root, default: 1] + 1
        guard size <= configuration.maximumTreeSize else {
          throw WorkflowTooLargeError(rootID: table.ids[root], limit: configuration.maximumTreeSize)
        }
        guard let index = table.add(id) else { continue }
        treeSizes[root] = size
        lineage[index] = Lineage(parent: parent, root: root)
        added.append(index)
      }
      guard let first = added.first, link.outage == nil, link.isConnected else { return }
      try guarding {
        try flushUnsubscribes(force: true)
        try subscribeAndRefresh(added, coveredBySnapshot: { $0 >= first }, source: .snapshot, body)
        try flushUnsubscribes()
      }
    }
  }

  /// `SUBSCRIBE` or `UNSUBSCRIBE` with the channels of the tasks at `batch`,
  /// formatted straight into one command.
  private func channelCommand(_ name: String, _ batch: ArraySlice<Int>) -> RedisCommand {
    var command = RedisCommand(
      argumentCount: batch.count + 1, reservingCapacity: batch.count * (channelPrefix.count + 48) + 16)
    command.append(name)
    // Hoisted: no retain and release of the prefix and of the id columns
    // per argument (four of each a channel, 2,000,000 arguments to subscribe
    // and snapshot 1,000,000 ids). A uuid id is formatted on the stack.
    let (prefix, ids) = (channelPrefix, table.ids)
    for index in batch {
      ids.withUTF8(at: index) { command.append(prefix, $0) }
    }
    return command
  }

  /// The cluster hash slot of the key of the task at `index`.
  private func keySlot(_ index: Int) -> Int {
    // In place: `table.ids[index]` built a String per key (2.8 % at S4 on a cluster).
    table.ids.withUTF8(at: index) { ClusterSlot.of(channelPrefix, $0) }
  }

  /// `MGET` of the keys of the tasks at `batch` (a task's key is its channel's name).
  private func keysCommand(_ batch: ArraySlice<Int>) -> RedisCommand {
    channelCommand("MGET", batch)
  }

  /// Sends queued UNSUBSCRIBEs (see ``BackendLink/flushUnsubscribes(_:worthwhile:force:format:)``):
  /// unless forced, only while something is still watched.
  private func flushUnsubscribes(force: Bool = false) throws {
    try link.flushUnsubscribes(
      &unsubscribeQueue, worthwhile: table.watchingCount > 0, force: force, format: channelCommand)
  }

  /// Decodes a stored payload and applies it; a payload that can never be
  /// decoded ends the task's watch as unreadable instead.
  private func applyStored(
    _ payload: [UInt8], index: Int, source: StateChange.Source, at time: WallClockTime
  ) -> StateChange? {
    let digest = ResultMessage.digest(of: payload)
    let meta: TaskMeta
    do {
      meta = try TaskMeta.decode(payload)
    } catch {
      return applyUnreadable(index, reason: error, digest: digest, source: source, at: time)
    }
    return apply(index, meta: meta, state: meta.state, digest: digest, source: source, at: time)
  }

  /// Ends the watch of a task whose stored result can never be read: ready
  /// with an unknown outcome, unsubscribed, reported once.
  private func applyUnreadable(
    _ index: Int, reason: DecodeError, digest: Int, source: StateChange.Source, at time: WallClockTime
  ) -> StateChange? {
    guard table.phases[index] == .watching else { return nil }
    let previous = table.states[index]
    table.finishUnreadable(index, digest: digest)
    unreadableReasons[index] = reason
    unsubscribeQueue.append(index)
    let source = source == .resync && previous == nil ? .snapshot : source
    let family = lineageIDs(of: index)
    return StateChange(
      identifier: table.ids.identifier(at: index), state: previous ?? .pending, previous: previous, source: source,
      observedAt: time, meta: nil, unreadable: reason, parentID: family?.parent, rootID: family?.root)
  }

  private func index(forChannel channel: [UInt8]) -> Int? {
    table.index(ofChannel: channel, droppingPrefix: channelPrefix)
  }

  /// A message's channel as the subscriber read it.
  private enum TaskChannel {
    /// The channel's name.
    case name([UInt8])
    /// The key of a channel of a uuid id (``TaskChannelKeys``).
    case key(ChannelKey)
  }

  /// Whether a message's payload names the task its channel does (or no
  /// task): the channel's bytes after the prefix, or the uuid of a keyed
  /// channel formatted on the stack.
  private func hasTaskID(_ meta: TaskMeta, channel: TaskChannel) -> Bool {
    switch channel {
    case .name(let name):
      return name.withUnsafeBytes {
        meta.hasTaskID(matchingUTF8: UnsafeRawBufferPointer(rebasing: $0[channelPrefix.count...]))
      }
    case .key(let key):
      return TaskChannelKeys.withID(of: key) { meta.hasTaskID(matchingUTF8: $0) }
    }
  }
}
