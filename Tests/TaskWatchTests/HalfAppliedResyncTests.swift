import Foundation
import TestSupport
import Testing

@testable import RedisWire
@testable import TaskWatch

/// A resync (or a drained batch) that fails after applying part of its
/// changes: the table has recorded them, so no later read reports them
/// again, and unless they are returned they are lost. The proxy silences
/// the command connection at an exact byte count, right after the first
/// MGET batch's reply, so the resync reads that batch and then times out
/// waiting for the next, every time (a cut raced with the consumer's next
/// write: under ThreadSanitizer it failed before reading the first reply).
@Suite("Half-applied resyncs lose nothing", .serialized)
struct HalfAppliedResyncTests {
  private func configuration(_ url: String, retryFor: Double = 30) throws -> ConsumerConfiguration {
    ConsumerConfiguration(
      backend: try BackendURL.parse(url), commandTimeout: 1, batchSize: 2,
      reconnectPolicy: ReconnectPolicy(initialDelay: 0.05, maximumDelay: 0.1, retryFor: retryFor))
  }

  private func key(_ id: String) -> String { "celery-task-meta-" + id }

  /// The bytes of the reply to `MGET` of keys holding `payloads`.
  private func mgetReplySize(_ payloads: ArraySlice<String>) -> Int {
    "*\(payloads.count)\r\n".utf8.count
      + payloads.reduce(0) { $0 + "$\($1.utf8.count)\r\n".utf8.count + $1.utf8.count + 2 }
  }

  private func describe(_ changes: [StateChange]) -> [String] {
    changes.map { "\($0.taskID) \($0.state.name) after \($0.previous?.name ?? "nothing") (\($0.source))" }
  }

  /// Drains until `done` or 15 s.
  private func drain(_ next: (Double) throws -> [StateChange], until done: ([StateChange]) -> Bool) throws
    -> [StateChange]
  {
    var changes = [StateChange]()
    let deadline = Deadline.after(seconds: 15)
    while !done(changes) && !deadline.hasPassed { changes += try next(0.2) }
    return changes
  }

  /// Drains with a long timeout, so the retry budget runs out inside one
  /// call, until a call throws (or 15 s): the changes, then the error.
  /// Every reconnect after the one silenced fails too: their replies are held.
  private func drainUntilFailure(_ next: (Double) throws -> [StateChange]) -> ([StateChange], (any Error)?) {
    var changes = [StateChange]()
    let deadline = Deadline.after(seconds: 15)
    while !deadline.hasPassed {
      do {
        changes += try next(5)
      } catch {
        return (changes, error)
      }
    }
    return (changes, nil)
  }

  private func isUnavailable(_ error: (any Error)?) -> Bool {
    if case .unavailable = error as? ConsumerError { return true }
    return false
  }

  /// Six tasks STARTED, stored and seen; then SUCCESS stored for each with
  /// no message (as while a watcher is disconnected). Returns the ids and
  /// the size of the reply to the resync's first MGET batch (two keys).
  private func storeSixFinished(_ redis: RedisServer, seen: ([String]) throws -> Void) throws -> ([String], Int) {
    let ids = (0..<6).map { _ in newTaskID() }
    try seen(ids)
    let finals = ids.map { celeryMeta($0, "SUCCESS") }
    for (id, meta) in zip(ids, finals) { try redis.run(["SET", key(id), meta]) }
    return (ids, mgetReplySize(finals[0..<2]))
  }

  // MARK: - ResultConsumer

  private func watchSix(_ redis: RedisServer, _ consumer: ResultConsumer) throws -> ([String], Int) {
    try storeSixFinished(redis) { ids in
      for id in ids { try redis.run(["SET", key(id), celeryMeta(id, "STARTED")]) }
      // The subscriber is connection 0, the command connection 1.
      let snapshot = try consumer.consume(from: ids)
      #expect(snapshot.count == 6)
    }
  }

  @Test("ids: a resync cut after its first MGET batch reports every change once")
  func consumerResyncCut() throws {
    let redis = try RedisServer()
    let proxy = try FaultProxy(upstreamPort: redis.port)
    let consumer = ResultConsumer(configuration: try configuration(proxy.url()))
    let (ids, firstBatch) = try watchSix(redis, consumer)
    // The reconnect: subscriber 2, command connection 3, silent after the first batch's reply.
    proxy.silenceReplies(toConnection: 3, afterBytes: firstBatch)
    proxy.cutAll()
    let changes = try drain(consumer.drainEvents) { _ in consumer.watchingCount == 0 }
    #expect(describe(changes) == ids.map { "\($0) SUCCESS after STARTED (resync)" })
    #expect(proxy.acceptedCount == 6, "the resync was cut short once, then made again")
  }

  @Test("ids: when the retry budget runs out after a half-applied resync, its changes come before the error")
  func consumerBudgetSpent() throws {
    let redis = try RedisServer()
    let proxy = try FaultProxy(upstreamPort: redis.port)
    let consumer = ResultConsumer(configuration: try configuration(proxy.url(), retryFor: 1.5))
    let (ids, firstBatch) = try watchSix(redis, consumer)
    proxy.silenceReplies(toConnection: 3, afterBytes: firstBatch)
    for later in 4..<100 { proxy.pauseReplies(toConnection: later) }
    proxy.cutAll()
    let (changes, failure) = drainUntilFailure(consumer.drainEvents)
    #expect(describe(changes) == ids[0..<2].map { "\($0) SUCCESS after STARTED (resync)" })
    #expect(isUnavailable(failure), "then \(String(describing: failure))")
  }

  @Test("ids: a READY message drained as Redis closed the subscriber is returned, though its UNSUBSCRIBE fails")
  func consumerUnsubscribeFails() throws {
    let redis = try RedisServer()
    // One channel per UNSUBSCRIBE: the ready task's goes out at once.
    var settings = try configuration(redis.url())
    settings.batchSize = 1
    let consumer = ResultConsumer(configuration: settings)
    let (done, other) = (newTaskID(), newTaskID())
    for id in [done, other] { try redis.run(["SET", key(id), celeryMeta(id, "STARTED")]) }
    #expect(try consumer.consume(from: [done, other]).count == 2)
    try redis.storeAndPublish(taskID: done, json: celeryMeta(done, "SUCCESS"))
    try redis.run(["CLIENT", "KILL", "TYPE", "pubsub"])
    try redis.run(["SET", key(other), celeryMeta(other, "SUCCESS")])  // read by the resync
    // The message, then the close, are on the consumer's socket before it reads.
    Thread.sleep(forTimeInterval: 0.2)
    let changes = try drain(consumer.drainEvents) { _ in consumer.watchingCount == 0 }
    #expect(
      describe(changes) == [
        "\(done) SUCCESS after STARTED (message)", "\(other) SUCCESS after STARTED (resync)",
      ])
  }

  @Test("ids: refreshPending of some tasks after stop() re-reads every watched task")
  func consumerRefreshSubsetAfterStop() throws {
    let redis = try RedisServer()
    let consumer = ResultConsumer(configuration: try configuration(redis.url()))
    let (asked, other) = (newTaskID(), newTaskID())
    for id in [asked, other] { try redis.run(["SET", key(id), celeryMeta(id, "STARTED")]) }
    #expect(try consumer.consume(from: [asked, other]).count == 2)
    consumer.stop()
    // Stored and published while nothing listens: no message will come again.
    for id in [asked, other] { try redis.storeAndPublish(taskID: id, json: celeryMeta(id, "SUCCESS")) }
    let changes = try consumer.refreshPending([asked])
    #expect(
      describe(changes) == [
        "\(asked) SUCCESS after STARTED (resync)", "\(other) SUCCESS after STARTED (resync)",
      ])
    #expect(consumer.watchingCount == 0)
  }

  @Test("ids: a fence opened by a resync cut short does not hold a task's messages after the next resync")
  func consumerFenceOfFailedAttempt() throws {
    let redis = try RedisServer()
    let proxy = try FaultProxy(upstreamPort: redis.port)
    var settings = try configuration(proxy.url())
    settings.batchSize = 1
    let consumer = ResultConsumer(configuration: settings)
    let (kept, finished) = (newTaskID(), newTaskID())
    for id in [kept, finished] { try redis.run(["SET", key(id), celeryMeta(id, "STARTED")]) }
    #expect(try consumer.consume(from: [kept, finished]).count == 2)
    let progress = celeryMeta(kept, "PROGRESS")
    try redis.run(["SET", key(kept), progress])
    try redis.run(["SET", key(finished), celeryMeta(finished, "SUCCESS")])
    // The first attempt reads `kept` (PROGRESS: a fence is to cover it), then
    // waits for `finished` until its 1 s timeout.
    proxy.silenceReplies(toConnection: 3, afterBytes: mgetReplySize([progress]))
    proxy.cutAll()
    // Meanwhile `kept`'s result is forgotten: the next attempt covers no task, so sends no fence.
    DispatchQueue.global().asyncAfter(deadline: .now() + 0.5) { _ = try? redis.run(["DEL", self.key(kept)]) }
    var changes = try drain(consumer.drainEvents) { _ in consumer.watchingCount == 1 }
    #expect(try redis.waitForSubscribers(channel: key(kept)))
    try redis.storeAndPublish(taskID: kept, json: celeryMeta(kept, "SUCCESS"))
    changes += try drain(consumer.drainEvents) { _ in consumer.watchingCount == 0 }
    #expect(
      describe(changes) == [
        "\(kept) PROGRESS after STARTED (resync)", "\(finished) SUCCESS after STARTED (resync)",
        "\(kept) SUCCESS after PROGRESS (message)",
      ])
  }

  // MARK: - BackendFeed

  private func followSix(_ redis: RedisServer, _ feed: BackendFeed) throws -> ([String], Int) {
    try feed.start()  // the subscriber is connection 0, the command connection 1
    return try storeSixFinished(redis) { ids in
      for id in ids { try redis.storeAndPublish(taskID: id, json: celeryMeta(id, "STARTED")) }
      let seen = try drain(feed.drainEvents) { $0.count >= 6 }
      #expect(describe(seen) == ids.map { "\($0) STARTED after nothing (message)" })
    }
  }

  @Test("--all: a resync cut after its first MGET batch reports every change once")
  func feedResyncCut() throws {
    let redis = try RedisServer()
    let proxy = try FaultProxy(upstreamPort: redis.port)
    let feed = BackendFeed(configuration: try configuration(proxy.url()))
    let (ids, firstBatch) = try followSix(redis, feed)
    proxy.silenceReplies(toConnection: 3, afterBytes: firstBatch)
    proxy.cutAll()
    let changes = try drain(feed.drainEvents) { _ in feed.readyCount == 6 }
    #expect(describe(changes) == ids.map { "\($0) SUCCESS after STARTED (resync)" })
    #expect(proxy.acceptedCount == 6, "the resync was cut short once, then made again")
  }

  @Test("--all: when the retry budget runs out after a half-applied resync, its changes come before the error")
  func feedBudgetSpent() throws {
    let redis = try RedisServer()
    let proxy = try FaultProxy(upstreamPort: redis.port)
    let feed = BackendFeed(configuration: try configuration(proxy.url(), retryFor: 1.5))
    let (ids, firstBatch) = try followSix(redis, feed)
    proxy.silenceReplies(toConnection: 3, afterBytes: firstBatch)
    for later in 4..<100 { proxy.pauseReplies(toConnection: later) }
    proxy.cutAll()
    let (changes, failure) = drainUntilFailure(feed.drainEvents)
    #expect(describe(changes) == ids[0..<2].map { "\($0) SUCCESS after STARTED (resync)" })
    #expect(isUnavailable(failure), "then \(String(describing: failure))")
  }
}
