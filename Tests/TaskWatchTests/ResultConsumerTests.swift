import Foundation
import TestSupport
import Testing

@testable import CeleryPayload
@testable import RedisWire
@testable import TaskWatch

@Suite("ResultConsumer against a real redis-server")
struct ResultConsumerTests {
  let server = SharedRedis.server

  private func consumer(database: Int = 0, verify: Bool = true) -> ResultConsumer {
    ResultConsumer(
      configuration: ConsumerConfiguration(
        backend: BackendURL(endpoint: server.endpoint, database: database), verifyReadyMessages: verify))
  }

  /// Drains until `count` changes arrived or `seconds` passed.
  private func drain(_ consumer: ResultConsumer, count: Int, seconds: Double = 10) throws -> [StateChange] {
    var changes = [StateChange]()
    let deadline = Deadline.after(seconds: seconds)
    while changes.count < count && !deadline.hasPassed {
      changes += try consumer.drainEvents(timeout: 0.2)
    }
    return changes
  }

  @Test("results stored before start are reported from the snapshot, unknown ones as PENDING")
  func snapshot() throws {
    let done = UUID().uuidString
    let waiting = UUID().uuidString
    try server.run(["SET", "celery-task-meta-\(done)", celeryMeta(done, "SUCCESS")])
    let consumer = consumer()
    let changes = try consumer.consume(from: [done, waiting, done])
    #expect(changes.map(\.taskID) == [done, waiting])
    #expect(changes.map(\.state) == [.success, .pending])
    #expect(changes.map(\.source) == [.snapshot, .snapshot])
    #expect(changes[1].meta == nil && changes[0].previous == nil)
    #expect(consumer.watchingCount == 1)
  }

  @Test("live transitions arrive in order; a duplicate publish is reported once")
  func liveTransitions() throws {
    let id = UUID().uuidString
    let consumer = consumer()
    _ = try consumer.start(initialTaskID: id)
    for state in ["RECEIVED", "STARTED", "STARTED"] {
      try server.storeAndPublish(taskID: id, json: celeryMeta(id, state))
    }
    for step in 1...3 {
      try server.storeAndPublish(taskID: id, json: celeryMeta(id, "PROGRESS", extra: #", "step": \#(step)"#))
    }
    try server.storeAndPublish(taskID: id, json: celeryMeta(id, "SUCCESS"))
    try server.storeAndPublish(taskID: id, json: celeryMeta(id, "SUCCESS"))
    let changes = try drain(consumer, count: 6)
    #expect(changes.map(\.state.name) == ["RECEIVED", "STARTED", "PROGRESS", "PROGRESS", "PROGRESS", "SUCCESS"])
    #expect(changes.map(\.previous?.name) == ["PENDING", "RECEIVED", "STARTED", "PROGRESS", "PROGRESS", "PROGRESS"])
    #expect(changes.allSatisfy { $0.source == .message })
    #expect(consumer.watchingCount == 0)
    #expect(try consumer.drainEvents(timeout: 0.2).isEmpty)
  }

  @Test("a ready task is UNSUBSCRIBEd while the others stay subscribed")
  func unsubscribeWhenReady() throws {
    let first = UUID().uuidString
    let second = UUID().uuidString
    let consumer = consumer()
    _ = try consumer.consume(from: [first, second])
    #expect(try server.subscriberCount(channel: "celery-task-meta-\(first)") == 1)
    try server.storeAndPublish(taskID: first, json: celeryMeta(first, "SUCCESS"))
    #expect(try drain(consumer, count: 1).map(\.state) == [.success])
    let deadline = Deadline.after(seconds: 5)
    while try server.subscriberCount(channel: "celery-task-meta-\(first)") != 0 && !deadline.hasPassed {
      usleep(5_000)
    }
    #expect(try server.subscriberCount(channel: "celery-task-meta-\(first)") == 0)
    #expect(try server.subscriberCount(channel: "celery-task-meta-\(second)") == 1)
  }

  @Test("after a burst, the ready tasks' channels are unsubscribed once the stream is idle")
  func unsubscribeAfterBurst() throws {
    let ids = (0..<300).map { _ in UUID().uuidString }
    let busy = UUID().uuidString
    let consumer = consumer()
    _ = try consumer.consume(from: ids + [busy])
    let publisher = try server.connection()
    for (step, id) in ids.enumerated() {
      for (key, body) in [
        (id, celeryMeta(id, "SUCCESS")), (busy, celeryMeta(busy, "PROGRESS", extra: #", "step": \#(step)"#)),
      ] {
        publisher.append(["SETEX", "celery-task-meta-\(key)", "600", body])
        publisher.append(["PUBLISH", "celery-task-meta-\(key)", body])
      }
    }
    try publisher.flush(until: .after(seconds: 10))
    _ = try publisher.replies(count: 4 * ids.count, until: .after(seconds: 10), operation: "PUBLISH")
    let changes = try drain(consumer, count: 2 * ids.count)
    #expect(changes.filter(\.isReady).count == ids.count)
    #expect(consumer.watchingCount == 1)
    _ = try consumer.drainEvents(timeout: 0.1)
    let deadline = Deadline.after(seconds: 5)
    while try server.subscriberCount(channel: "celery-task-meta-\(ids.last!)") != 0 && !deadline.hasPassed {
      _ = try consumer.drainEvents(timeout: 0.05)
    }
    for id in [ids.first!, ids.last!] {
      #expect(try server.subscriberCount(channel: "celery-task-meta-\(id)") == 0)
    }
    #expect(try server.subscriberCount(channel: "celery-task-meta-\(busy)") == 1)
  }

  @Test("2,500 ids subscribe in batches and all complete")
  func manyTasks() throws {
    let ids = (0..<2_500).map { _ in UUID().uuidString }
    let consumer = consumer()
    let snapshot = try consumer.consume(from: ids)
    #expect(snapshot.count == 2_500)
    #expect(try server.subscriberCount(channel: "celery-task-meta-\(ids.last!)") == 1)
    let publisher = try server.connection()
    for id in ids {
      let key = "celery-task-meta-\(id)"
      let body = celeryMeta(id, "SUCCESS")
      publisher.append(["SETEX", key, "600", body])
      publisher.append(["PUBLISH", key, body])
    }
    try publisher.flush(until: .after(seconds: 10))
    _ = try publisher.replies(count: 5_000, until: .after(seconds: 10), operation: "PUBLISH")
    let changes = try drain(consumer, count: 2_500, seconds: 20)
    #expect(changes.count == 2_500)
    #expect(Set(changes.map(\.taskID)) == Set(ids))
    #expect(consumer.watchingCount == 0)
  }

  @Test("a READY message without a stored key in our database is not trusted")
  func unconfirmedReady() throws {
    let id = UUID().uuidString
    let consumer = consumer(database: 1)
    _ = try consumer.start(initialTaskID: id)
    try server.storeAndPublish(taskID: id, json: celeryMeta(id, "SUCCESS"), database: 2)
    #expect(try drain(consumer, count: 1, seconds: 1).isEmpty)
    #expect(consumer.watchingCount == 1)
    #expect(
      consumer.takeDiagnostics() == [.unconfirmedReadyMessage(taskID: id, database: 1)])
    try server.storeAndPublish(taskID: id, json: celeryMeta(id, "SUCCESS"), database: 1)
    #expect(try drain(consumer, count: 1).map(\.state) == [.success])
  }

  @Test("an undecodable message is skipped with a diagnostic and the stored key re-read")
  func undecodableMessage() throws {
    let id = UUID().uuidString
    let consumer = consumer()
    _ = try consumer.start(initialTaskID: id)
    try server.run(["SET", "celery-task-meta-\(id)", celeryMeta(id, "STARTED")])
    try server.storeAndPublish(taskID: id, payload: [0x80, 0x04, 0x95, 0x00], store: false)
    let changes = try drain(consumer, count: 1)
    #expect(changes.map(\.state) == [.started])
    #expect(consumer.takeDiagnostics().count == 1)
  }

  @Test("a stored result that cannot be decoded ends only its task's watch, as unreadable")
  func undecodableStored() throws {
    let (pickled, done, waiting) = (UUID().uuidString, UUID().uuidString, UUID().uuidString)
    try server.storeAndPublish(taskID: pickled, payload: [0x80, 0x04, 0x95, 0x10], store: true)
    try server.run(["SET", "celery-task-meta-\(done)", celeryMeta(done, "SUCCESS")])
    let consumer = consumer()
    let changes = try consumer.consume(from: [pickled, done, waiting])
    #expect(changes.map(\.taskID) == [pickled, done, waiting])
    #expect(changes[0].unreadable == .unsupportedSerializer("pickle"))
    #expect(changes[0].isReady && changes[0].isUnreadable && changes[0].meta == nil)
    #expect(changes[0].state == .pending && changes[0].previous == nil && changes[0].source == .snapshot)
    #expect(changes.dropFirst().allSatisfy { $0.unreadable == nil })
    #expect(consumer.watchingCount == 1 && consumer.unreadableCount == 1)
    #expect(consumer.statuses.map(\.unreadable) == [.unsupportedSerializer("pickle"), nil, nil])
    #expect(consumer.statuses.map(\.isReady) == [true, true, false])
    // The others are watched on, and the unreadable task's channel is left.
    try server.storeAndPublish(taskID: waiting, json: celeryMeta(waiting, "SUCCESS"))
    let later = try drain(consumer, count: 1)
    #expect(later.map(\.taskID) == [waiting] && later.map(\.state) == [.success])
    #expect(try server.subscriberCount(channel: "celery-task-meta-\(pickled)") == 0)
  }

  @Test("an undecodable message whose stored key is undecodable too: the task is unreadable, reported once")
  func undecodableMessageThenKey() throws {
    let (id, other) = (UUID().uuidString, UUID().uuidString)
    let consumer = consumer()
    _ = try consumer.consume(from: [id, other])
    try server.storeAndPublish(taskID: id, json: celeryMeta(id, "STARTED"))
    #expect(try drain(consumer, count: 1).map(\.state) == [.started])
    try server.storeAndPublish(taskID: id, payload: Array("\u{0}celery-compressed\u{0}application/x-foo\u{0}x".utf8))
    let changes = try drain(consumer, count: 1)
    #expect(changes.map(\.taskID) == [id])
    #expect(changes.first?.unreadable == .unsupportedCompression("application/x-foo"))
    #expect(changes.first?.state == .started && changes.first?.previous == .started)
    #expect(changes.first?.source == .message)
    // The message's warning would say the same again: the change is the one report.
    #expect(consumer.takeDiagnostics().isEmpty)
    #expect(consumer.watchingCount == 1)
  }

  @Test("cancel(for:) unsubscribes and forgets the task's later messages")
  func cancel() throws {
    let id = UUID().uuidString
    let consumer = consumer()
    _ = try consumer.start(initialTaskID: id)
    try consumer.cancel(for: id)
    #expect(consumer.watchingCount == 0)
    try server.storeAndPublish(taskID: id, json: celeryMeta(id, "SUCCESS"))
    #expect(try consumer.drainEvents(timeout: 0.3).isEmpty)
  }

  @Test("the streaming snapshot hands over the same changes, in order, as they are read")
  func streamingSnapshot() throws {
    let ids = (0..<2_500).map { _ in UUID().uuidString }
    for id in ids.prefix(1_200).suffix(3) {
      try server.run(["SET", "celery-task-meta-\(id)", celeryMeta(id, "STARTED")])
    }
    var streamed = [StateChange]()
    let consumer = consumer()
    try consumer.consume(from: ids + [ids[0]]) { streamed.append($0) }
    #expect(streamed.map(\.taskID) == ids)
    #expect(streamed.filter { $0.state == .started }.map(\.taskID) == Array(ids.prefix(1_200).suffix(3)))
    let again = try self.consumer().consume(from: ids)
    #expect(again.map(\.taskID) == streamed.map(\.taskID) && again.map(\.state) == streamed.map(\.state))
  }

  @Test("an undecodable stored result mid-snapshot leaves the connection in step")
  func undecodableMidSnapshot() throws {
    let ids = (0..<1_500).map { _ in UUID().uuidString }
    try server.run(["SET", "celery-task-meta-\(ids[10])", "\u{80}\u{4}garbage"])
    try server.run(["SET", "celery-task-meta-\(ids[1_400])", celeryMeta(ids[1_400], "STARTED")])
    let consumer = consumer()
    let changes = try consumer.consume(from: ids)
    // Every task after the unreadable one has its own snapshot state: replies
    // out of step would mix these up.
    #expect(changes.map(\.taskID) == ids)
    #expect(changes.filter(\.isUnreadable).map(\.taskID) == [ids[10]])
    #expect(changes[1_400].state == .started && changes[1_401].state == .pending)
    try server.run(["SET", "celery-task-meta-\(ids[1_401])", celeryMeta(ids[1_401], "SUCCESS")])
    let refreshed = try consumer.refreshPending([ids[10], ids[1_400], ids[1_401]])
    #expect(refreshed.map(\.taskID) == [ids[1_401]] && refreshed.map(\.state) == [.success])
  }

  @Test("a READY message is reported with what the stored key holds")
  func confirmedFromStore() throws {
    let id = UUID().uuidString
    let consumer = consumer()
    _ = try consumer.start(initialTaskID: id)
    try server.run(["SET", "celery-task-meta-\(id)", celeryMeta(id, "FAILURE")])
    try server.storeAndPublish(taskID: id, json: celeryMeta(id, "SUCCESS"), store: false)
    let changes = try drain(consumer, count: 1)
    #expect(changes.map(\.state) == [.failure])
    #expect(changes.first?.meta?.json == Array(celeryMeta(id, "FAILURE").utf8))
  }

  @Test("a message naming another task is not trusted; the stored key is read instead")
  func mismatchedTaskID() throws {
    let id = UUID().uuidString
    let other = UUID().uuidString
    let consumer = consumer()
    _ = try consumer.start(initialTaskID: id)
    try server.run(["SET", "celery-task-meta-\(id)", celeryMeta(id, "STARTED")])
    try server.storeAndPublish(taskID: id, json: celeryMeta(other, "SUCCESS"), store: false)
    #expect(try drain(consumer, count: 1).map(\.state) == [.started])
    #expect(consumer.takeDiagnostics() == [.mismatchedTaskID(taskID: id, payloadTaskID: other)])
  }

  @Test("refreshPending reports stored changes with source resync")
  func refreshPending() throws {
    let id = UUID().uuidString
    let consumer = consumer()
    _ = try consumer.start(initialTaskID: id)
    try server.run(["SET", "celery-task-meta-\(id)", celeryMeta(id, "SUCCESS")])
    let changes = try consumer.refreshPending()
    #expect(changes.map(\.source) == [.resync])
    #expect(changes.map(\.state) == [.success])
  }
}

/// Steps 1 and 2 overlap (a batch's keys are read while later batches are
/// still being subscribed), so messages can arrive for tasks whose key is
/// read already: none may be lost, none reported after a newer state.
@Suite("ResultConsumer: a burst while subscribing and reading the keys")
struct SubscribeWhileFetchingTests {
  let server = SharedRedis.server

  @Test("1,000 tasks in batches of 50, STARTED then SUCCESS published throughout: all SUCCESS, in order")
  func burstDuringSnapshot() throws {
    // Small enough to block a test thread for well under a second.
    let ids = (0..<1_000).map { _ in newTaskID() }
    let consumer = ResultConsumer(
      configuration: ConsumerConfiguration(
        backend: BackendURL(endpoint: server.endpoint, database: 0), batchSize: 50))
    let endpoint = server.endpoint
    let published = DispatchSemaphore(value: 0)
    let thread = Thread {
      defer { published.signal() }
      guard let publisher = try? RedisConnection(endpoint: endpoint, connectTimeout: 2) else { return }
      // One pipelined MULTI/SETEX/PUBLISH/EXEC per message, as a worker writes them.
      for state in ["STARTED", "SUCCESS"] {
        for (offset, id) in ids.enumerated() {
          let key = Array("celery-task-meta-\(id)".utf8)
          let payload = Array(celeryMeta(id, state).utf8)
          publisher.append(["MULTI"])
          publisher.append([Array("SETEX".utf8), key, Array("600".utf8), payload])
          publisher.append([Array("PUBLISH".utf8), key, payload])
          publisher.append(["EXEC"])
          if offset % 100 == 99 {
            try? publisher.flush(until: .after(seconds: 5))
            _ = try? publisher.replies(count: 400, until: .after(seconds: 5), operation: "EXEC")
          }
        }
      }
    }
    thread.start()
    var changes = try consumer.consume(from: ids)
    let deadline = Deadline.after(seconds: 30)
    while consumer.watchingCount > 0 && !deadline.hasPassed {
      changes += try consumer.drainEvents(timeout: 0.2)
    }
    _ = published.wait(timeout: .now() + 10)
    #expect(consumer.watchingCount == 0)
    var seen = [String: [TaskState]]()
    for change in changes { seen[change.taskID, default: []].append(change.state) }
    let order: [TaskState] = [.pending, .started, .success]
    for id in ids {
      let states = seen[id] ?? []
      #expect(states.last == .success, "\(id): \(states)")
      #expect(states == order.filter(states.contains), "\(id): \(states)")
    }
  }
}

@Suite("ResultConsumer without a connection")
struct ResultConsumerLifecycleTests {
  let server = SharedRedis.server

  @Test("drainEvents before anything is watched waits out its timeout instead of spinning")
  func drainWaitsWhenIdle() throws {
    let consumer = ResultConsumer(
      configuration: ConsumerConfiguration(backend: BackendURL(endpoint: server.endpoint, database: 0)))
    let started = Deadline.now
    #expect(try consumer.drainEvents(timeout: 0.2).isEmpty)
    #expect(started.secondsAgo >= 0.19)
  }

  @Test("drainEvents while Redis is down waits for the next attempt, never past its timeout")
  func drainWaitsWhileDown() throws {
    let port = try FreePort.pick()
    let consumer = ResultConsumer(
      configuration: ConsumerConfiguration(
        backend: BackendURL(endpoint: .tcp(host: "127.0.0.1", port: port), database: 0),
        reconnectPolicy: ReconnectPolicy(initialDelay: 5, maximumDelay: 5, retryFor: 30)))
    _ = try consumer.consume(from: ["t"])
    var calls = 0
    let started = Deadline.now
    while started.secondsAgo < 0.5 {
      _ = try consumer.drainEvents(timeout: 0.1)
      calls += 1
    }
    #expect(calls <= 6, "each call waited about its timeout")
  }

  @Test("after stop(), drainEvents reconnects, resubscribes and resyncs; refreshPending too")
  func reconnectAfterStop() throws {
    let id = UUID().uuidString
    let consumer = ResultConsumer(
      configuration: ConsumerConfiguration(backend: BackendURL(endpoint: server.endpoint, database: 0)))
    _ = try consumer.consume(from: [id])
    let channel = "celery-task-meta-\(id)"
    consumer.stop()
    #expect(!consumer.isStarted)
    let closed = Deadline.after(seconds: 5)
    while try server.subscriberCount(channel: channel) != 0 && !closed.hasPassed { usleep(2_000) }
    #expect(try server.subscriberCount(channel: channel) == 0)
    try server.run(["SET", channel, celeryMeta(id, "STARTED")])
    let resynced = try consumer.drainEvents(timeout: 1)
    #expect(resynced.map(\.state) == [.started] && resynced.map(\.source) == [.resync])
    #expect(consumer.isStarted)
    #expect(try server.subscriberCount(channel: channel) == 1)
    consumer.stop()
    try server.run(["SET", channel, celeryMeta(id, "SUCCESS")])
    #expect(try consumer.refreshPending().map(\.state) == [.success])
    #expect(consumer.isStarted)
  }
}

@Suite("BackendFeed without a connection")
struct BackendFeedLifecycleTests {
  @Test("drainEvents while Redis is down waits for the next attempt instead of spinning")
  func drainWaitsWhileDown() throws {
    let port = try FreePort.pick()
    let feed = BackendFeed(
      configuration: ConsumerConfiguration(
        backend: BackendURL(endpoint: .tcp(host: "127.0.0.1", port: port), database: 0),
        reconnectPolicy: ReconnectPolicy(initialDelay: 5, maximumDelay: 5, retryFor: 30)))
    try feed.start()
    var calls = 0
    let started = Deadline.now
    while started.secondsAgo < 0.5 {
      _ = try feed.drainEvents(timeout: 0.1)
      calls += 1
    }
    #expect(calls <= 6, "each call waited about its timeout")
    #expect(feed.takeDiagnostics().count == 1, "one connectionLost, no retry storm")
  }
}
