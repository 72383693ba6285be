import Foundation
import TestSupport
import Testing

@testable import RedisWire
@testable import TaskWatch

/// `--all` under faults: what the feed received or applied before a link
/// died is reported, never lost with the connection (the chaos soak's lost
/// tasks and `previous` states never printed). The proxy holds replies back,
/// so what reaches the feed when is fixed, not raced.
@Suite("BackendFeed: nothing received is lost to a fault", .serialized)
struct BackendFeedFaultTests {
  private func feed(through proxy: FaultProxy) throws -> BackendFeed {
    BackendFeed(configuration: ConsumerConfiguration(backend: try BackendURL.parse(proxy.url())))
  }

  private func drain(_ feed: BackendFeed, until done: ([StateChange]) -> Bool) throws -> [StateChange] {
    var changes = [StateChange]()
    let deadline = Deadline.after(seconds: 15)
    while !done(changes) && !deadline.hasPassed {
      changes += try feed.drainEvents(timeout: 0.2)
    }
    return changes
  }

  private func describe(_ changes: [StateChange]) -> [String] {
    changes.map { "\($0.taskID) \($0.state.name) after \($0.previous?.name ?? "nothing") (\($0.source))" }
  }

  @Test("a change applied before the confirmation MGET is cut is returned; a first message that was READY is resynced")
  func confirmationCut() throws {
    let redis = try RedisServer()
    let proxy = try FaultProxy(upstreamPort: redis.port)
    let feed = try feed(through: proxy)
    try feed.start()  // the subscriber is connection 0, the command connection 1
    let (started, finished) = (newTaskID(), newTaskID())
    proxy.pauseReplies(toConnection: 1)
    try redis.storeAndPublish(taskID: started, json: celeryMeta(started, "STARTED"))
    try redis.storeAndPublish(taskID: finished, json: celeryMeta(finished, "SUCCESS"))
    Thread.sleep(forTimeInterval: 0.3)  // both messages wait on the subscriber: one batch
    DispatchQueue.global().asyncAfter(deadline: .now() + 0.5) { proxy.cutAll() }
    // Blocks in the confirmation of `finished` until the cut.
    var changes = try feed.drainEvents(timeout: 2)
    #expect(describe(changes) == ["\(started) STARTED after nothing (message)"])
    changes += try drain(feed) { $0.contains(where: \.isReady) }
    try redis.storeAndPublish(taskID: started, json: celeryMeta(started, "SUCCESS"))
    changes += try drain(feed) { $0.contains(where: \.isReady) }
    #expect(
      describe(changes) == [
        "\(started) STARTED after nothing (message)", "\(finished) SUCCESS after nothing (resync)",
        "\(started) SUCCESS after STARTED (message)",
      ])
  }

  @Test("messages that arrived with the subscriber's close (a killed client) are handled")
  func messagesBeforeClose() throws {
    let redis = try RedisServer()
    let proxy = try FaultProxy(upstreamPort: redis.port)
    let feed = try feed(through: proxy)
    try feed.start()
    let ids = [newTaskID(), newTaskID()]
    proxy.pauseReplies(toConnection: 0)
    for id in ids { try redis.storeAndPublish(taskID: id, json: celeryMeta(id, "STARTED")) }
    Thread.sleep(forTimeInterval: 0.2)
    _ = try redis.run(["CLIENT", "KILL", "TYPE", "pubsub"])
    proxy.resumeReplies(toConnection: 0)
    // The held messages and then the close reach the feed's socket before it reads.
    Thread.sleep(forTimeInterval: 0.4)
    let changes = try drain(feed) { $0.count >= 2 }
    #expect(describe(changes) == ids.map { "\($0) STARTED after nothing (message)" })
  }

  @Test("a message buffered on the subscriber when the resync MGET is cut is covered by the next resync")
  func bufferedDuringResync() throws {
    let redis = try RedisServer()
    let proxy = try FaultProxy(upstreamPort: redis.port)
    let feed = try feed(through: proxy)
    try feed.start()
    let (seen, newcomer) = (newTaskID(), newTaskID())
    try redis.storeAndPublish(taskID: seen, json: celeryMeta(seen, "STARTED"))
    var changes = try drain(feed) { !$0.isEmpty }
    // The reconnect: subscriber 2 (its confirmation held), command connection 3.
    proxy.pauseReplies(toConnection: 2)
    proxy.cutAll()
    let orchestration = Thread {
      let deadline = Deadline.after(seconds: 10)
      while proxy.acceptedCount < 4 && !deadline.hasPassed { Thread.sleep(forTimeInterval: 0.02) }
      Thread.sleep(forTimeInterval: 0.2)
      while (try? redis.run(["PUBSUB", "NUMPAT"])) != .integer(1) && !deadline.hasPassed {
        Thread.sleep(forTimeInterval: 0.02)
      }
      // Arrives right behind the confirmation; the resync's MGET then hangs.
      try? redis.storeAndPublish(taskID: newcomer, json: celeryMeta(newcomer, "STARTED"))
      proxy.pauseReplies(toConnection: 3)
      proxy.resumeReplies(toConnection: 2)
      Thread.sleep(forTimeInterval: 0.5)
      proxy.cutAll()
    }
    orchestration.start()
    changes += try drain(feed) { !$0.isEmpty }
    #expect(
      describe(changes) == [
        "\(seen) STARTED after nothing (message)", "\(newcomer) STARTED after nothing (resync)",
      ])
  }

  @Test("ready tasks leave the table; their late repeats are still dropped")
  func readyTasksLeave() throws {
    let redis = try RedisServer()
    let feed = BackendFeed(configuration: ConsumerConfiguration(backend: try BackendURL.parse(redis.url())))
    try feed.start()
    let ids = (0..<5).map { _ in newTaskID() }
    for id in ids { try redis.storeAndPublish(taskID: id, json: celeryMeta(id, "SUCCESS")) }
    for id in ids {
      try redis.storeAndPublish(taskID: id, json: celeryMeta(id, "SUCCESS", extra: #", "date_done": "later""#))
    }
    let barrier = newTaskID()
    try redis.storeAndPublish(taskID: barrier, json: celeryMeta(barrier, "STARTED"))
    let changes = try drain(feed) { $0.contains { $0.taskID == barrier } }
    // READY messages are reported once their keys confirm them, after the batch.
    #expect(
      Set(describe(changes))
        == Set(
          ids.map { "\($0) SUCCESS after nothing (message)" } + ["\(barrier) STARTED after nothing (message)"]))
    #expect(changes.count == ids.count + 1)
    #expect(feed.statuses.map(\.taskID) == [barrier])
    #expect(feed.readyCount == 5)
  }
}

@Suite("FeedTable and ReadyMemory")
struct FeedTableTests {
  @Test("removals keep every other task findable, and indices are reused")
  func removals() {
    var table = FeedTable()
    var model = [String: Int]()
    var generator = SystemRandomNumberGenerator()
    for round in 0..<4000 {
      if model.isEmpty || Int.random(in: 0..<3, using: &generator) > 0 {
        let id = "task-\(round)"
        model[id] = table.add(id, hash: FeedTable.hash(of: id))
      } else {
        let id = model.keys.randomElement(using: &generator)!
        table.remove(model.removeValue(forKey: id)!)
        #expect(table.index(of: id) == nil)
      }
    }
    #expect(table.count == model.count)
    for (id, index) in model { #expect(table.index(of: id) == index) }
    #expect(Set(table.liveIndices) == Set(model.values))
    #expect(table.ids.count < 4000 * 2 / 3, "removed indices were handed out again")
  }

  @Test("the last generationSize ready tasks are remembered, at most twice that")
  func readyMemoryBounds() {
    var memory = ReadyMemory()
    let size = ReadyMemory.generationSize
    for hash in 0..<(2 * size + 1) { memory.insert(hash) }
    #expect(!memory.contains(0))
    #expect(!memory.contains(size - 1))
    #expect((size + 1...2 * size).allSatisfy { memory.contains($0) })
  }
}
