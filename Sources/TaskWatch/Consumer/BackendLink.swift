import Glibc

/// The one protocol engine under every reader of the backend
/// (``ResultConsumer``, ``BackendFeed``, ``GroupResolver``): it owns the
/// subscriber and command connections, the subscriber's health check, the
/// outage and its backoff, and every protocol step.
///
/// - SUBSCRIBE (or PSUBSCRIBE) in pipelined batches, then read every
///   confirmation (``subscribe(_:command:format:keep:)``);
/// - only then MGET on the command connection, in streamed batches
///   (``fetch(_:format:_:)``);
/// - read the subscriber in batches, PINGing it when idle and requiring the
///   reply within a deadline; with Sentinel, asking first whether the master
///   moved (``read(maximum:until:)``);
/// - UNSUBSCRIBE in batches, sent as they accrue
///   (``flushUnsubscribes(worthwhile:format:)``);
/// - on a fault, reconnect with jittered backoff and let the reader
///   resubscribe, confirm and resync (``recover(until:resume:)``).
///
/// Channels are named by the reader: the engine deals in handles (a reader's
/// own indices) and asks the reader to format the commands for them, so a
/// batch of 1,000 channels becomes one command with no intermediate strings.
/// Every error reply goes through `RedisError.reply(_:to:from:)`.
/// Not `Sendable`: one link belongs to one thread.
final class BackendLink {
  /// The settings of the reader that owns the link.
  let configuration: ConsumerConfiguration
  /// The subscribed connection (RESP2: only (UN)SUBSCRIBE and PING).
  private(set) var subscriber: RedisConnection?
  /// The command connection, in the configured database (not with a cluster).
  private(set) var commands: RedisConnection?
  /// With a Redis Cluster: the slot map and a command connection per master,
  /// in place of ``commands``.
  private(set) var router: ClusterRouter?
  /// The nodes of the last cluster map, tried after the seeds on a reconnect.
  private var knownClusterNodes: [RedisEndpoint] = []
  /// Cluster connects so far: each puts the subscriber on the next master.
  private var clusterConnects = 0
  /// Set while disconnected and retrying.
  private(set) var outage: Outage?
  /// What the link noticed (lost, reconnected), for the reader to hand on.
  var diagnostics: [ConsumerDiagnostic] = []
  private var health = SubscriberHealth()
  /// Subscriber replies read during a protocol step that belong to the
  /// stream; the next ``read(maximum:until:)`` returns them first.
  private var deferred: [RedisReply] = []
  /// PINGs sent on the subscriber and not answered yet, oldest first.
  private var pings: [Ping] = []
  /// Fences sent on this link so far (see ``sendFence()``).
  private(set) var fencesSent: UInt32 = 0
  /// With a Redis Cluster: the fences answered by markers published through
  /// every master; `nil` on one server (a PING is the fence there), and
  /// while the subscriber may not listen on the marker channel (then the
  /// PING stands in).
  private var markers: FenceMarkers?
  /// This link's marker channel (see ``FenceMarkers``).
  private let markerChannel = FenceMarkers.randomChannel()
  /// Whether ``disconnect()`` keeps the messages a protocol step had set
  /// aside for the reader (``takeStrandedMessages()``) instead of dropping
  /// them: a reader whose resync cannot re-read every task it follows (the
  /// feed learns of a task only from its messages) needs them.
  var keepsStrandedMessages = false
  /// Set by a watch of given tasks: every subscriber reads their channels'
  /// messages keyed (``PubSubEvent/keyedMessage(key:payload:)``).
  var taskChannelKeys: TaskChannelKeys?
  /// Replies received on a connection that was closed before the reader
  /// handled them (those set aside by a protocol step, and those already
  /// buffered on the subscriber), kept while ``keepsStrandedMessages``.
  private var stranded: [RedisReply] = []
  /// The most replies ``disconnect()`` keeps from a dying subscriber.
  private static let strandedLimit = 65_536

  /// Why a PING was sent on the subscriber.
  private enum Ping {
    /// The idle-link health check.
    case health
    /// A fence after a fetch, with its number.
    case fence(UInt32)
  }

  /// Creates a link; nothing connects until ``connect()``.
  init(configuration: ConsumerConfiguration) {
    self.configuration = configuration
  }

  /// Whether both connections are up.
  var isConnected: Bool { subscriber != nil && (commands != nil || router != nil) }

  // MARK: - Connecting, faults and recovery

  /// Opens both connections (AUTH, SELECT) and starts the health clock.
  /// With Sentinel, the master is looked up again on every call, so each
  /// reconnect follows a failover.
  func connect() throws {
    if configuration.backend.usesCluster { return try connectToCluster() }
    let endpoint = try configuration.serverEndpoint()
    let deadline = Deadline.after(seconds: configuration.connectTimeout + configuration.commandTimeout)
    let newSubscriber = try configuration.openConnection(to: endpoint, selecting: nil, until: deadline)
    newSubscriber.readsPubSubMessages = true
    newSubscriber.channelKeying = taskChannelKeys?.keying
    let newCommands = try configuration.openConnection(
      to: endpoint, selecting: configuration.backend.database, until: deadline)
    subscriber = newSubscriber
    commands = newCommands
    health.noteTraffic()
  }

  /// With a Redis Cluster: reads the slot map (seeds first, then the nodes
  /// of the last map) and subscribes on a reachable node, a different master
  /// each time where it can (classic pub/sub reaches every node); command
  /// connections open as fetches need them.
  private func connectToCluster() throws {
    let deadline = Deadline.after(seconds: configuration.connectTimeout + configuration.commandTimeout)
    let newRouter = try ClusterRouter(configuration: configuration, known: knownClusterNodes, until: deadline)
    knownClusterNodes = newRouter.map.nodes
    clusterConnects += 1
    var lastFault: RedisError?
    for node in newRouter.subscriberCandidates(offset: clusterConnects - 1) {
      do {
        let newSubscriber = try configuration.openConnection(to: node, selecting: nil, until: deadline)
        markers = try listenForMarkers(on: newSubscriber, until: deadline)
        subscriber = newSubscriber
        router = newRouter
        health.noteTraffic()
        return
      } catch let error as RedisError where error.isConnectionFault {
        lastFault = error
      }
    }
    throw lastFault ?? RedisError.connectFailed(endpoint: configuration.backend.serverDescription, reason: "no node")
  }

  /// SUBSCRIBEs a new cluster subscriber to the marker channel and reads the
  /// confirmation (nothing else can arrive before it).
  /// - Returns: the link's markers, or `nil` when the server refuses the
  ///   channel (an ACL user limited to `&celery-task-meta-*`): the fence is
  ///   then a PING, exact only for messages published on the subscriber's node.
  private func listenForMarkers(on subscriber: RedisConnection, until deadline: Deadline) throws -> FenceMarkers? {
    // Messages as `.message` values, as the single-server subscriber reads
    // them (the cluster one had been left reading plain arrays).
    subscriber.readsPubSubMessages = true
    subscriber.channelKeying = taskChannelKeys?.keying
    subscriber.append([Array("SUBSCRIBE".utf8), markerChannel])
    try subscriber.flush(until: deadline)
    guard let reply = try subscriber.nextReply(until: deadline) else {
      throw RedisError.timedOut(endpoint: subscriber.endpoint.description, operation: "SUBSCRIBE")
    }
    guard case .subscribed = PubSubEvent(reply) else { return nil }
    return FenceMarkers()
  }

  /// Closes both connections and forgets everything tied to them.
  func disconnect() {
    if keepsStrandedMessages {
      stranded += deferred
      // What the subscriber holds already (its reply buffer, the socket's
      // receive queue) when the command connection is the one that failed;
      // bounded, so a subscriber still flooded with messages cannot keep
      // the drain going: beyond it they are dropped, as a reset would.
      while stranded.count < Self.strandedLimit, let subscriber, let reply = try? subscriber.bufferedReply() {
        stranded.append(reply)
      }
    }
    subscriber = nil
    commands = nil
    router = nil
    deferred.removeAll()
    pings.removeAll()
    markers = nil
  }

  /// Returns and forgets the messages received on lost connections and never
  /// handed to the reader (kept only while ``keepsStrandedMessages``).
  func takeStrandedMessages() -> [RedisReply] {
    defer { stranded.removeAll() }
    return stranded
  }

  /// Closes the connections, ends any outage: the reader stopped.
  func stop() {
    disconnect()
    outage = nil
  }

  /// Drops the connections after `error` and starts counting a disconnection.
  func lose(_ error: RedisError) {
    disconnect()
    outage = Outage(after: error, policy: configuration.reconnectPolicy)
    diagnostics.append(.connectionLost(error, retryingFor: configuration.reconnectPolicy.retryFor))
  }

  /// Reconnects with jittered backoff; after each successful connect,
  /// `resume` resubscribes, confirms and resyncs.
  /// - Parameters:
  ///   - callDeadline: return `nil` (still disconnected) once this passes.
  ///   - resume: the reader's steps after a connect; returns its result and
  ///     how many channels it subscribed again. A connection fault it throws
  ///     schedules the next attempt.
  /// - Returns: what `resume` returned, or `nil` while still disconnected
  ///   (also when there is no outage).
  /// - Throws: ``ConsumerError/unavailable(endpoint:seconds:lastError:)`` when
  ///   the budget is spent, ``ConsumerError/deadlinePassed`` and
  ///   ``ConsumerError/interrupted`` as configured, and errors no reconnect
  ///   can cure (authentication).
  func recover<Result>(until callDeadline: Deadline, resume: () throws -> (Result, resubscribed: Int)) throws
    -> Result?
  {
    guard var current = outage else { return nil }
    defer { outage = current.isOver ? nil : current }
    let since = current.since
    return try current.retry(
      configuration, until: callDeadline,
      attempt: {
        try connect()
        let (result, count) = try resume()
        diagnostics.append(
          .reconnected(
            endpoint: configuration.backend.serverDescription, afterSeconds: since.secondsAgo, resubscribed: count))
        return result
      }, afterFailure: disconnect)
  }

  /// Waits until `deadline` without a connection (between retries, or for a
  /// reader with nothing to do); a signal cuts the wait short.
  /// - Throws: ``WakeupError/cancelled`` when `wakeup` is cancelled first.
  static func pause(until deadline: Deadline, wakeup: EngineWakeup?) throws {
    if let wakeup { return try wakeup.sleep(until: deadline) }
    SystemCall.sleep(until: deadline)
  }

  private func checkInterrupted() throws {
    if let isInterrupted = configuration.isInterrupted, isInterrupted() { throw ConsumerError.interrupted }
  }

  // MARK: - Subscribing

  /// SUBSCRIBE (or PSUBSCRIBE) the channels of `handles` in pipelined
  /// batches and read every confirmation.
  ///
  /// The confirmations that have arrived are handled after each batch is
  /// written, not once all are: left in the reply buffer, 100,000 of them
  /// (~8 MB) grew it to 6 MB at the peak of memory.
  /// - Parameters:
  ///   - command: `SUBSCRIBE` or `PSUBSCRIBE`; one confirmation per channel.
  ///   - format: builds the command for a batch of handles.
  ///   - keep: for a message read meanwhile: `true` keeps it for the next
  ///     ``read(maximum:until:)``, `false` drops it (the coming fetch covers it).
  ///   - confirmed: called with how many of `handles`, from the first, have
  ///     every confirmation in, each time that number grows: the keys of
  ///     those may be read already (see ``sendFetch(_:format:on:_:)``).
  func subscribe(
    _ handles: [Int], command: String, format: (String, ArraySlice<Int>) -> RedisCommand,
    keep: (_ channel: [UInt8]) -> Bool, confirmed confirmedCount: (Int) throws -> Void = { _ in }
  ) throws {
    guard let subscriber, !handles.isEmpty else { return }
    let deadline = Deadline.after(seconds: configuration.commandTimeout + Double(handles.count) / 20_000)
    var confirmed = 0
    func take(_ reply: RedisReply) throws {
      switch PubSubEvent(reply) {
      case .subscribed:
        confirmed += 1
      case .message(let channel, _):
        if keep(channel) || channel == markerChannel { deferred.append(reply) }
      case .keyedMessage(let key, _):
        // A task's channel (never the marker's); its bytes made for `keep`
        // only here, for a message read while subscribing.
        if let keys = taskChannelKeys, keep(keys.channel(ofKey: key)) { deferred.append(reply) }
      case .error(let message):
        // The answer to a PING sent earlier belongs to the stream.
        guard pings.isEmpty else { return deferred.append(reply) }
        throw RedisError.reply(message, to: command, from: subscriber.endpoint.description)
      case .pong:
        deferred.append(reply)
      case .other:
        return
      }
    }
    var reported = 0
    for batch in handles.chunked(by: configuration.batchSize) {
      subscriber.append(format(command, batch))
      try subscriber.flush(until: deadline)
      while let reply = try subscriber.bufferedReply() { try take(reply) }
      if confirmed > reported {
        reported = confirmed
        try confirmedCount(confirmed)
      }
    }
    while confirmed < handles.count {
      guard let reply = try subscriber.nextReply(until: deadline) else {
        if deadline.hasPassed {
          throw RedisError.timedOut(endpoint: subscriber.endpoint.description, operation: command)
        }
        try checkInterrupted()
        continue
      }
      try take(reply)
      while confirmed < handles.count, let reply = try subscriber.bufferedReply() { try take(reply) }
      if confirmed > reported {
        reported = confirmed
        try confirmedCount(confirmed)
      }
    }
    health.noteTraffic()
  }

  // MARK: - Fetching stored values

  /// Pipelined MGET of the keys of `handles`, in batches; calls `body` with
  /// the position in `handles` and the stored value (`.bulk` or `.null`) of
  /// each key as each batch's reply is read, so no reply outlives its batch.
  ///
  /// Each batch is written as soon as it is formatted (the pipeline stays
  /// full, and 100,000 keys never sit in the output buffer at once), and the
  /// replies that have arrived are handled after each write: left until
  /// every batch was written, the replies read while the socket was full grew
  /// the reply buffer to 12.6 MB for 100,000 stored results (heaptrack,
  /// `--once`). If `body` throws, the remaining replies are still read, so
  /// the connection stays in step, and then the error is rethrown. An error
  /// reply (`-LOADING`, `-NOPERM`) is thrown through the error funnel.
  ///
  /// With a Redis Cluster, ``ClusterRouter/fetch(_:slot:format:_:)`` reads
  /// each key from its slot's master instead (positions then come in no
  /// particular order).
  /// - Parameters:
  ///   - slot: the cluster hash slot of a handle's key (used only with a cluster).
  ///   - format: builds the MGET command for a batch of handles.
  @inline(__always)
  func fetch(
    _ handles: [Int], slot: (Int) -> Int, format: (ArraySlice<Int>) -> RedisCommand,
    _ body: (Int, RedisReply) throws -> Void
  ) throws {
    if let router, !handles.isEmpty { return try router.fetch(handles, slot: slot, format: format, body) }
    var pipeline = FetchPipeline()
    for batch in handles.chunked(by: configuration.batchSize) {
      try sendFetch(batch, format: format, on: &pipeline, body)
    }
    try finishFetch(&pipeline, body)
  }

  /// A pipelined MGET fed one batch at a time (``sendFetch(_:format:on:_:)``),
  /// so a reader can read the keys of the channels whose subscriptions are
  /// confirmed while the later ones are still being subscribed. On the
  /// command connection only: not with a cluster (a ``router``).
  struct FetchPipeline {
    fileprivate var sent = 0
    fileprivate var answered = 0
    /// The position, in all the handles sent so far, of the next value.
    fileprivate var position = 0
    fileprivate var failure: (any Error)?
    fileprivate var deadline = Deadline.now
  }

  /// Writes the MGET of one more batch of keys and hands `body` the values
  /// of every batch whose reply is in (see ``fetch(_:format:_:)``).
  func sendFetch(
    _ batch: ArraySlice<Int>, format: (ArraySlice<Int>) -> RedisCommand, on pipeline: inout FetchPipeline,
    _ body: (Int, RedisReply) throws -> Void
  ) throws {
    guard let commands, !batch.isEmpty else { return }
    pipeline.deadline = Deadline.after(seconds: configuration.commandTimeout)
    commands.append(format(batch))
    try commands.flush(until: pipeline.deadline)
    pipeline.sent += 1
    while pipeline.answered < pipeline.sent, let reply = try commands.bufferedReply() {
      try take(reply, into: &pipeline, from: commands, body)
    }
  }

  /// Waits for the values of every batch sent, then rethrows what `body` threw.
  func finishFetch(_ pipeline: inout FetchPipeline, _ body: (Int, RedisReply) throws -> Void) throws {
    guard let commands else { return }
    while pipeline.answered < pipeline.sent {
      let reply = try commands.replies(count: 1, until: pipeline.deadline, operation: "MGET")[0]
      try take(reply, into: &pipeline, from: commands, body)
    }
    if let failure = pipeline.failure { throw failure }
  }

  private func take(
    _ reply: RedisReply, into pipeline: inout FetchPipeline, from commands: RedisConnection,
    _ body: (Int, RedisReply) throws -> Void
  ) throws {
    pipeline.answered += 1
    switch reply {
    case .array(let elements):
      for element in elements where pipeline.failure == nil {
        do {
          try body(pipeline.position, element)
        } catch {
          pipeline.failure = error
        }
        pipeline.position += 1
      }
    case .error(let message): throw RedisError.reply(message, to: "MGET", from: commands.endpoint.description)
    default: throw RedisError.commandFailed(command: "MGET", message: "unexpected reply \(reply)")
    }
  }

  // MARK: - Reading the stream

  /// Waits until `callDeadline` for the subscriber's next replies and
  /// returns them with whatever else is buffered, up to `maximum`; the
  /// replies kept by a protocol step come first.
  ///
  /// Runs the health check whenever it falls due meanwhile: with Sentinel it
  /// first asks whether the sentinels still name this master (a failover
  /// that keeps the old master running leaves it a master for a while,
  /// and results go to the new one meanwhile), then PINGs.
  /// - Returns: the replies; empty when none came in time or there is no
  ///   connection.
  /// - Throws: `RedisError.connectionLost(endpoint:reason:)` when a PING
  ///   went unanswered or the master moved, and whatever the connection throws.
  func read(maximum: Int, until callDeadline: Deadline) throws -> [RedisReply] {
    guard let subscriber else { return [] }
    if let markerDeadline = markers?.deadline, markerDeadline.hasPassed {
      throw RedisError.connectionLost(
        endpoint: subscriber.endpoint.description,
        reason: "a fence marker published through every master did not arrive within \(configuration.commandTimeout)s")
    }
    var replies = deferred
    deferred.removeAll()
    if replies.isEmpty {
      let due = health.checkDue(configuration)
      guard let first = try subscriber.nextReply(until: min(callDeadline, due, markers?.deadline ?? due)) else {
        if due.hasPassed {
          try health.check(configuration, endpoint: subscriber.endpoint) {
            try checkMasterUnmoved(subscriber)
            subscriber.append(["PING"])
            try subscriber.flush(until: .after(seconds: configuration.healthTimeout))
            pings.append(.health)
          }
        }
        return []
      }
      replies.append(first)
    }
    health.noteTraffic()
    do {
      while replies.count < maximum, let more = try subscriber.bufferedReply() {
        replies.append(more)
      }
    } catch let error as RedisError where error.isConnectionFault {
      // The replies read before the fault were received: they are returned
      // to be handled, and the connection throws the fault again on the
      // next read. Thrown away here, a burst that ended with Redis closing
      // the link (an output-buffer limit) lost the messages before it.
    }
    return replies
  }

  /// Takes in a reply of the stream that is not a message: the answer to a
  /// PING (a `pong`, or an error reply such as `NOPERM` for an ACL user
  /// without `+ping`, which proves the link alive all the same), or an
  /// error that ends the stream.
  /// - Returns: the number of the fence this reply answers, if it does.
  /// - Throws: the funnelled `RedisError` for an error reply no PING awaits.
  func absorb(_ event: PubSubEvent, command: String) throws -> UInt32? {
    switch event {
    case .pong:
      return answerPing()
    case .error(let message):
      guard pings.isEmpty else { return answerPing() }
      throw RedisError.reply(message, to: command, from: subscriber?.endpoint.description ?? "Redis")
    case .message, .keyedMessage, .subscribed, .other:
      return nil
    }
  }

  private func answerPing() -> UInt32? {
    guard !pings.isEmpty else { return nil }
    if case .fence(let number) = pings.removeFirst() { return number }
    return nil
  }

  /// Sends a fence: after a fetch it marks where messages older than the
  /// fetched values can stop arriving. On one server, a PING on the
  /// subscriber, whose answer comes after every message published before it
  /// was sent. On a cluster, a marker published through every master
  /// (``FenceMarkers``), answered once the subscriber has received them all.
  /// - Returns: the fence's number (1, 2, …), answered through
  ///   ``absorb(_:command:)`` (a PING) or ``absorbMarker(channel:payload:)``.
  func sendFence() throws -> UInt32 {
    guard let subscriber else { return fencesSent }
    fencesSent &+= 1
    if let router, markers != nil {
      let timeout = configuration.commandTimeout
      let count = try router.publishMarker(
        on: markerChannel, Array(String(fencesSent).utf8), until: .after(seconds: timeout))
      markers?.sent(fencesSent, count: count, deadline: .after(seconds: timeout))
      return fencesSent
    }
    subscriber.append(["PING"])
    try subscriber.flush(until: .after(seconds: configuration.commandTimeout))
    pings.append(.fence(fencesSent))
    return fencesSent
  }

  /// Takes in a message on a channel the reader does not know: a fence
  /// marker (see ``sendFence()``) or nothing of the link's.
  /// - Returns: the number of the newest fence answered by it, if any.
  func absorbMarker(channel: [UInt8], payload: [UInt8]) -> UInt32? {
    guard markers != nil, channel == markerChannel else { return nil }
    return markers?.receive(payload)
  }

  /// With Sentinel: when the sentinels name another master than the one
  /// this link talks to, the link counts as lost. A sentinel that cannot
  /// answer proves nothing, so errors are ignored here.
  private func checkMasterUnmoved(_ subscriber: RedisConnection) throws {
    guard configuration.backend.usesSentinel, let master = try? configuration.serverEndpoint(),
      master != subscriber.endpoint
    else { return }
    throw RedisError.connectionLost(
      endpoint: subscriber.endpoint.description, reason: "the sentinels name \(master) as master now")
  }

  // MARK: - Unsubscribing

  /// Sends the UNSUBSCRIBEs queued in `queue` (handles, in the order they
  /// became ready) without waiting for their confirmations, and removes
  /// what was sent. The reader keeps the queue (appending to it is a step of
  /// every ready task, so it stays a local array) and empties it when the
  /// connection is lost.
  ///
  /// Full batches go as they accrue, so a burst never queues more than one
  /// batch per drained read (at 1,000,000 ids, sending them only when the
  /// stream paused made a burst of ~733 commands that doubled peak memory).
  /// The rest goes when the subscriber is idle. Nothing goes unless
  /// `worthwhile` (the reader still watches something: closing the
  /// connection unsubscribes everything at once) or `force`.
  /// - Parameter format: builds `UNSUBSCRIBE` for a batch of handles.
  func flushUnsubscribes(
    _ unsubscribeQueue: inout [Int], worthwhile: Bool, force: Bool = false,
    format: (String, ArraySlice<Int>) -> RedisCommand
  ) throws {
    guard !unsubscribeQueue.isEmpty, let subscriber, worthwhile || force else { return }
    let batchSize = configuration.batchSize
    let idle = force || (deferred.isEmpty && !subscriber.hasPendingInput())
    let sending = idle ? unsubscribeQueue.count : unsubscribeQueue.count - unsubscribeQueue.count % batchSize
    guard sending > 0 else { return }
    for start in stride(from: 0, to: sending, by: batchSize) {
      subscriber.append(format("UNSUBSCRIBE", unsubscribeQueue[start..<min(start + batchSize, sending)]))
    }
    unsubscribeQueue.removeFirst(sending)
    if unsubscribeQueue.isEmpty { unsubscribeQueue.removeAll(keepingCapacity: true) }
    try subscriber.flush(until: .after(seconds: configuration.commandTimeout))
  }
}

extension Array {
  /// Consecutive slices of at most `size` elements.
  func chunked(by size: Int) -> [ArraySlice<Element>] {
    stride(from: 0, to: count, by: size).map { self[$0..<Swift.min($0 + size, count)] }
  }
}
