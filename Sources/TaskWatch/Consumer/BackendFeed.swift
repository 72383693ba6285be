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
/// Faults are handled like the consumer's: an idle subscriber is PINGed
/// every ``ConsumerConfiguration/healthInterval``; a lost link is retried with
/// jittered backoff within ``ReconnectPolicy/retryFor``, then the pattern is
/// subscribed again (confirmation read) and only then the stored results of
/// the unready tasks seen so far are re-read (source `resync`). Tasks first
/// published during an outage are not seen. Not `Sendable`: one feed belongs
/// to one thread.
public final class BackendFeed {
  /// The configuration the feed was created with.
  public let configuration: ConsumerConfiguration
  private var subscriber: RedisConnection?
  private var commands: RedisConnection?
  private var ids: [String] = []
  private var positions: [String: Int] = [:]
  private var states: [TaskState] = []
  private var digests: [Int] = []
  private var diagnostics: [ConsumerDiagnostic] = []
  private var warnedUnconfirmed = false
  /// When the current outage began, how many attempts failed, the next try.
  private var outage: Outage?
  /// The subscriber's health check.
  private var health = SubscriberHealth()
  private let channelPrefix: [UInt8]
  /// Replies handled per drained batch, as in ``ResultConsumer``.
  private let maximumBatch = 4096

  /// Creates a feed; nothing connects until ``start()``.
  public init(configuration: ConsumerConfiguration) {
    self.configuration = configuration
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
    ids.indices.map { TaskStatus(taskID: ids[$0], state: states[$0], isWatched: !states[$0].isReady) }
  }

  /// How many tasks seen so far are ready.
  public private(set) var readyCount = 0

  /// Returns and clears what the feed noticed since the last call.
  public func takeDiagnostics() -> [ConsumerDiagnostic] {
    defer { diagnostics.removeAll() }
    return diagnostics
  }

  /// Connects both connections and PSUBSCRIBEs, reading the confirmation.
  /// When Redis cannot be reached, the fault is reported as a
  /// ``ConsumerDiagnostic/connectionLost(_:retryingFor:)`` and
  /// ``drainEvents(timeout:)`` keeps retrying.
  /// - Throws: ``RedisError`` for faults no retry can cure (authentication).
  public func start() throws {
    do {
      try connect()
    } catch let error as RedisError where error.isConnectionFault {
      if let mismatch = configuration.tlsModeMismatch(after: error) { throw mismatch }
      beginOutage(error)
    }
  }

  /// While the feed is disconnected and retrying: the fault that broke the
  /// connection, or of the last failed attempt to restore it; `nil` while
  /// connected.
  public var connectionProblem: RedisError? { outage?.lastError }

  /// Waits up to `timeout` seconds for messages and applies every one that is
  /// buffered (up to a batch); reconnects and resyncs first after a fault.
  /// - Returns: the changes, in the order the messages arrived.
  /// - Throws: ``ConsumerError`` when the retry budget or the deadline is
  ///   spent or the caller interrupts, ``RedisError`` for faults no retry can cure.
  public func drainEvents(timeout: Double) throws -> [StateChange] {
    let callDeadline = Deadline.after(seconds: timeout)
    if outage != nil {
      guard let changes = try recover(until: callDeadline) else { return [] }
      if !changes.isEmpty { return changes }
    }
    guard let subscriber else { return [] }
    do {
      return try drainConnected(subscriber, until: callDeadline)
    } catch let error as RedisError where error.isConnectionFault {
      beginOutage(error)
      return []
    }
  }

  private func drainConnected(_ subscriber: RedisConnection, until callDeadline: Deadline) throws -> [StateChange] {
    guard var reply = try health.nextReply(from: subscriber, until: callDeadline, configuration) else { return [] }
    var messages: [(taskID: String, payload: [UInt8])] = []
    while true {
      switch reply {
      case .array(let parts) where parts.count == 4:
        if case .bulk(let kind) = parts[0], kind.elementsEqual("pmessage".utf8),
          case .bulk(let channel) = parts[2], case .bulk(let payload) = parts[3],
          channel.starts(with: channelPrefix)
        {
          messages.append((String(decoding: channel[channelPrefix.count...], as: UTF8.self), payload))
        }
      case .error(let message):
        throw RedisError.commandFailed(command: "PSUBSCRIBE", message: message)
      default:
        break
      }
      guard messages.count < maximumBatch, let next = try subscriber.bufferedReply() else { break }
      reply = next
    }
    return try apply(messages, source: .message)
  }

  /// Closes both connections.
  public func stop() {
    subscriber = nil
    commands = nil
  }

  // MARK: - Connections, faults and health

  private func connect() throws {
    let deadline = Deadline.after(seconds: configuration.connectTimeout + configuration.commandTimeout)
    let endpoint = try configuration.serverEndpoint()
    let newSubscriber = try configuration.openConnection(to: endpoint, selecting: nil, until: deadline)
    let newCommands = try configuration.openConnection(
      to: endpoint, selecting: configuration.backend.database, until: deadline)
    newSubscriber.append(["PSUBSCRIBE", pattern])
    try newSubscriber.flush(until: deadline)
    while true {
      guard let reply = try newSubscriber.nextReply(until: deadline) else {
        if deadline.hasPassed {
          throw RedisError.timedOut(endpoint: newSubscriber.endpoint.description, operation: "PSUBSCRIBE")
        }
        try checkInterrupted()
        continue
      }
      if case .error(let message) = reply { throw RedisError.commandFailed(command: "PSUBSCRIBE", message: message) }
      if case .array(let parts) = reply, parts.first?.bytes.map({ $0.elementsEqual("psubscribe".utf8) }) == true {
        break
      }
    }
    subscriber = newSubscriber
    commands = newCommands
    health.noteTraffic()
  }

  private func beginOutage(_ error: RedisError) {
    stop()
    outage = Outage(after: error, policy: configuration.reconnectPolicy)
    diagnostics.append(.connectionLost(error, retryingFor: configuration.reconnectPolicy.retryFor))
  }

  /// Reconnects with jittered backoff, subscribes the pattern again, then
  /// re-reads the stored results of the unready tasks seen so far.
  /// - Returns: the resync changes, or `nil` while still disconnected at `callDeadline`.
  private func recover(until callDeadline: Deadline) throws -> [StateChange]? {
    guard var current = outage else { return nil }
    let since = current.since
    defer { outage = current.isOver ? nil : current }
    return try current.retry(
      configuration, until: callDeadline,
      attempt: {
        try connect()
        let unready = ids.indices.filter { !states[$0].isReady }.map { ids[$0] }
        let changes = try resync(unready)
        diagnostics.append(
          .reconnected(
            endpoint: configuration.backend.serverDescription, afterSeconds: since.secondsAgo,
            resubscribed: unready.count))
        return changes
      }, afterFailure: stop)
  }

  private func checkInterrupted() throws {
    if let isInterrupted = configuration.isInterrupted, isInterrupted() { throw ConsumerError.interrupted }
  }

  // MARK: - Applying messages

  private func apply(_ messages: [(taskID: String, payload: [UInt8])], source: StateChange.Source) throws
    -> [StateChange]
  {
    var decoded: [(taskID: String, meta: TaskMeta, digest: Int)] = []
    for message in messages {
      if let position = positions[message.taskID], states[position].isReady { continue }
      do {
        let meta = try TaskMeta.decode(message.payload)
        if let payloadTaskID = meta.taskID, payloadTaskID != message.taskID {
          diagnostics.append(.mismatchedTaskID(taskID: message.taskID, payloadTaskID: payloadTaskID))
          continue
        }
        decoded.append((message.taskID, meta, ResultMessage.digest(of: message.payload)))
      } catch {
        diagnostics.append(.undecodableMessage(taskID: message.taskID, error: error))
      }
    }
    // A stored result confirms itself; a published READY needs the stored key.
    let readyIDs = decoded.filter { $0.meta.state.isReady }.map(\.taskID)
    let confirmed = source == .message ? try confirmations(of: readyIDs) : Set(readyIDs)
    var changes: [StateChange] = []
    for message in decoded {
      if message.meta.state.isReady && !confirmed.contains(message.taskID) {
        if !warnedUnconfirmed {
          warnedUnconfirmed = true
          diagnostics.append(
            .unconfirmedReadyMessage(taskID: message.taskID, database: configuration.backend.database))
        }
        continue
      }
      let previous: TaskState?
      let position: Int
      if let known = positions[message.taskID] {
        if states[known].isReady || digests[known] == message.digest { continue }
        position = known
        previous = states[known]
      } else {
        position = ids.count
        positions[message.taskID] = position
        ids.append(message.taskID)
        states.append(message.meta.state)
        digests.append(0)
        previous = nil
      }
      states[position] = message.meta.state
      digests[position] = message.digest
      if message.meta.state.isReady { readyCount += 1 }
      changes.append(
        StateChange(
          taskID: message.taskID, state: message.meta.state, previous: previous, source: source,
          observedAt: .now, meta: message.meta))
    }
    return changes
  }

  /// MGETs the stored results of `taskIDs` and applies them with source `resync`.
  private func resync(_ taskIDs: [String]) throws -> [StateChange] {
    guard let commands, !taskIDs.isEmpty else { return [] }
    let batches = taskIDs.chunked(by: configuration.batchSize)
    for batch in batches {
      commands.append(["MGET"] + batch.map { configuration.keyNaming.key(forTask: $0) })
    }
    let deadline = Deadline.after(seconds: configuration.commandTimeout)
    try commands.flush(until: deadline)
    let replies = try commands.replies(count: batches.count, until: deadline, operation: "MGET")
    var stored: [(taskID: String, payload: [UInt8])] = []
    for (batch, reply) in zip(batches, replies) {
      guard case .array(let values) = reply else { continue }
      for (taskID, value) in zip(batch, values) {
        if let payload = value.bytes { stored.append((taskID, payload)) }
      }
    }
    return try apply(stored, source: .resync)
  }

  /// The ids among `taskIDs` whose stored key exists in our database: one
  /// pipelined MGET for the whole batch.
  private func confirmations(of taskIDs: [String]) throws -> Set<String> {
    guard configuration.verifyReadyMessages else { return Set(taskIDs) }
    guard let commands, !taskIDs.isEmpty else { return [] }
    let unique = Array(Set(taskIDs))
    let batches = unique.chunked(by: configuration.batchSize)
    for batch in batches {
      commands.append(["MGET"] + batch.map { configuration.keyNaming.key(forTask: $0) })
    }
    let deadline = Deadline.after(seconds: configuration.commandTimeout)
    try commands.flush(until: deadline)
    let replies = try commands.replies(count: batches.count, until: deadline, operation: "MGET")
    var confirmed = Set<String>()
    for (batch, reply) in zip(batches, replies) {
      guard case .array(let values) = reply else { continue }
      for (taskID, value) in zip(batch, values) where value != .null { confirmed.insert(taskID) }
    }
    return confirmed
  }
}
