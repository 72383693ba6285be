import Foundation
import TestSupport
import Testing

@testable import CeleryPayload
@testable import RedisWire
@testable import TaskWatch

@Suite("TaskWatcher against a real redis-server")
struct TaskWatcherTests {
  let server = SharedRedis.server

  private var watcher: TaskWatcher {
    TaskWatcher(configuration: ConsumerConfiguration(backend: BackendURL(endpoint: server.endpoint, database: 0)))
  }

  /// Publishes `states` for `id` once its channel has a subscriber.
  private func publishWhenSubscribed(_ id: String, _ states: [(String, String)]) -> Task<Void, any Error> {
    Task.detached { [server] in
      guard try server.waitForSubscribers(channel: "celery-task-meta-\(id)") else {
        throw TestSupportError("nobody subscribed to \(id)")
      }
      for (state, result) in states {
        try server.storeAndPublish(taskID: id, json: celeryMeta(id, state, result: result))
      }
    }
  }

  @Test("events: a snapshot per task in order, then live changes, and the sequence ends when all are ready")
  func eventsEndWhenReady() async throws {
    let done = UUID().uuidString
    let live = UUID().uuidString
    try server.storeAndPublish(taskID: done, json: celeryMeta(done, "SUCCESS", result: "5"))
    let publisher = publishWhenSubscribed(live, [("STARTED", "null"), ("SUCCESS", "7")])
    var changes = [StateChange]()
    for try await event in watcher.events(for: [done, live], timeout: .seconds(20)) {
      if case .change(let change) = event { changes.append(change) }
    }
    try await publisher.value
    #expect(changes.map(\.taskID) == [done, live, live, live])
    #expect(changes.map(\.state) == [.success, .pending, .started, .success])
    #expect(changes.map(\.source) == [.snapshot, .snapshot, .message, .message])
  }

  @Test("results come back in the order given, a repeated id repeats its result")
  func resultsInOrder() async throws {
    let first = UUID().uuidString
    let second = UUID().uuidString
    try server.storeAndPublish(taskID: second, json: celeryMeta(second, "FAILURE"))
    let publisher = publishWhenSubscribed(first, [("SUCCESS", #"{"answer": 42}"#)])
    let results = try await watcher.results(for: [first, second, first], timeout: .seconds(20))
    try await publisher.value
    #expect(results.map(\.taskID) == [first, second, first])
    #expect(results.map(\.state) == [.success, .failure, .success])
  }

  @Test("2,500 tasks: snapshots handed over in batches, every result once")
  func manyTasks() async throws {
    let ids = (0..<2_500).map { _ in UUID().uuidString }
    let publisher = Task.detached { [server] in
      guard try server.waitForSubscribers(channel: "celery-task-meta-\(ids.last!)", seconds: 20) else {
        throw TestSupportError("the watch never subscribed")
      }
      let connection = try server.connection()
      for id in ids {
        let body = #"{"status": "SUCCESS", "result": 1, "task_id": "\#(id)"}"#
        connection.append(["SETEX", "celery-task-meta-\(id)", "600", body])
        connection.append(["PUBLISH", "celery-task-meta-\(id)", body])
      }
      try connection.flush(until: .after(seconds: 10))
      _ = try connection.replies(count: 2 * ids.count, until: .after(seconds: 10), operation: "PUBLISH")
    }
    var snapshots = 0
    var ready = Set<String>()
    for try await event in watcher.events(for: ids, timeout: .seconds(60)) {
      guard case .change(let change) = event else { continue }
      if change.source == .snapshot { snapshots += 1 }
      if change.isReady { #expect(ready.insert(change.taskID).inserted) }
    }
    try await publisher.value
    #expect(snapshots == ids.count)
    #expect(ready == Set(ids))
  }

  @Test("an empty list of ids needs no connection and returns at once")
  func noTasks() async throws {
    let unreachable = TaskWatcher(
      configuration: ConsumerConfiguration(backend: BackendURL(endpoint: .tcp(host: "127.0.0.1", port: 1))))
    #expect(try await unreachable.results(for: [], timeout: .seconds(5)).isEmpty)
  }

  @Test("the timeout ends the wait with code timedOut and closes the subscription")
  func timeout() async throws {
    let id = UUID().uuidString
    let started = ContinuousClock.now
    let error = await #expect(throws: TaskWatchError.self) {
      _ = try await watcher.results(for: [id], timeout: .milliseconds(300))
    }
    let elapsed = ContinuousClock.now - started
    #expect(error?.code == .timedOut)
    #expect(elapsed >= .milliseconds(300) && elapsed < .seconds(5))
    // The socket is closed; the server unsubscribes once it reads the EOF.
    let deadline = Deadline.after(seconds: 5)
    while try server.subscriberCount(channel: "celery-task-meta-\(id)") != 0 && !deadline.hasPassed {
      try await Task.sleep(for: .milliseconds(5))
    }
    #expect(try server.subscriberCount(channel: "celery-task-meta-\(id)") == 0)
  }

  @Test("events: a stored pickle result is one unreadable change, and the other tasks are watched to the end")
  func unreadableEvent() async throws {
    let (pickled, live) = (UUID().uuidString, UUID().uuidString)
    try server.storeAndPublish(taskID: pickled, payload: [0x80, 0x04, 0x95, 0x00])
    var changes = [StateChange]()
    for try await event in watcher.events(for: [pickled, live], timeout: .seconds(20)) {
      guard case .change(let change) = event else { continue }
      changes.append(change)
      // Published only once the unreadable change is out: the watch went on past it.
      if change.isUnreadable {
        try server.storeAndPublish(taskID: live, json: celeryMeta(live, "SUCCESS", result: "7"))
      }
    }
    #expect(changes.map(\.taskID) == [pickled, live, live])
    #expect(changes[0].unreadable == .unsupportedSerializer("pickle") && changes[0].isReady)
    #expect(changes.map(\.state) == [.pending, .pending, .success])
  }

  @Test("results: a stored pickle result throws unreadableResult naming the task, once the others are ready")
  func unreadable() async throws {
    let (pickled, live) = (UUID().uuidString, UUID().uuidString)
    try server.storeAndPublish(taskID: pickled, payload: [0x80, 0x04, 0x95, 0x00])
    let publisher = publishWhenSubscribed(live, [("SUCCESS", "7")])
    let error = await #expect(throws: TaskWatchError.self) {
      _ = try await watcher.results(for: [live, pickled], timeout: .seconds(10))
    }
    try await publisher.value
    #expect(error?.code == .unreadableResult)
    #expect(error?.taskID == pickled)
    #expect((error?.underlyingError as? UndecodableResultError)?.reason == .unsupportedSerializer("pickle"))
    // The watch ended because every task was ready, not at the timeout, and
    // its connections are closed (Redis drops the subscription as it reads the close).
    let closed = Deadline.after(seconds: 5)
    while try server.subscriberCount(channel: "celery-task-meta-\(live)") != 0 && !closed.hasPassed {
      usleep(10_000)
    }
    #expect(try server.subscriberCount(channel: "celery-task-meta-\(live)") == 0)
  }

  @Test("a refused password ends the watch with code authenticationRefused")
  func authenticationRefused() async throws {
    let guarded = try RedisServer(extraArguments: ["--requirepass", "right"])
    var backend = BackendURL(endpoint: guarded.endpoint)
    backend.password = "wrong"
    let watcher = TaskWatcher(configuration: ConsumerConfiguration(backend: backend))
    let error = await #expect(throws: TaskWatchError.self) {
      _ = try await watcher.results(for: [UUID().uuidString], timeout: .seconds(10))
    }
    #expect(error?.code == .authenticationRefused)
  }

  @Test("a TLS CA file that does not exist ends the watch with code invalidConfiguration")
  func invalidConfiguration() async throws {
    let backend = BackendURL(
      endpoint: server.endpoint, tls: TLSSettings(certificateRequirement: .required, caFile: "/nonexistent/ca.pem"))
    let error = await #expect(throws: TaskWatchError.self) {
      _ = try await TaskWatcher(configuration: ConsumerConfiguration(backend: backend)).results(
        for: [UUID().uuidString], timeout: .seconds(10))
    }
    #expect(error?.code == .invalidConfiguration)
    #expect(error?.underlyingError is TLSSetupError)
  }

  @Test("an unreachable server past the retry budget ends the watch with code unavailable and diagnostics first")
  func unavailable() async throws {
    let port = try FreePort.pick()
    let configuration = ConsumerConfiguration(
      backend: BackendURL(endpoint: .tcp(host: "127.0.0.1", port: port)),
      timing: .init(
        retryFor: .milliseconds(300), reconnectInitialDelay: .milliseconds(20),
        reconnectMaximumDelay: .milliseconds(50)))
    var diagnostics = [ConsumerDiagnostic]()
    let error = await #expect(throws: TaskWatchError.self) {
      for try await event in TaskWatcher(configuration: configuration).events(for: ["x"], timeout: .seconds(10)) {
        if case .diagnostic(let diagnostic) = event { diagnostics.append(diagnostic) }
      }
    }
    #expect(error?.code == .unavailable)
    #expect(error?.underlyingError is ConsumerError)
    guard case .connectionLost = diagnostics.first else {
      Issue.record("expected a connectionLost diagnostic, got \(diagnostics)")
      return
    }
  }

  @Test("cancelling results(for:) during a connect the host never answers ends it with code cancelled")
  func cancelDuringUnansweredConnect() async throws {
    let silent = try SilentListener(.unansweredConnect)
    var configuration = ConsumerConfiguration(backend: BackendURL(endpoint: .tcp(host: "127.0.0.1", port: silent.port)))
    configuration.timing.connectTimeout = .seconds(60)
    let watcher = TaskWatcher(configuration: configuration)
    let call = Task { () -> TaskWatchError.Code? in
      do throws(TaskWatchError) {
        _ = try await watcher.results(for: ["x"], timeout: .seconds(120))
        return nil
      } catch {
        return error.code
      }
    }
    let deadline = Deadline.after(seconds: 20)
    while try silent.unansweredConnects() == 0 && !deadline.hasPassed {
      try await Task.sleep(for: .milliseconds(5))
    }
    #expect(try silent.unansweredConnects() >= 1)
    let cancelled = ContinuousClock.now
    call.cancel()
    #expect(await call.value == .cancelled)
    // Generous: this suite runs beside others (TaskWatcherTimingTests holds the 100 ms promise).
    #expect(ContinuousClock.now - cancelled < .seconds(5))
    // The engine closed the socket it was connecting with. (Another test's
    // retries to a port it picked and released may land here for a moment.)
    let closed = Deadline.after(seconds: 5)
    while try silent.unansweredConnects() != 0 && !closed.hasPassed {
      try await Task.sleep(for: .milliseconds(5))
    }
    #expect(try silent.unansweredConnects() == 0)
  }

  @Test("leaving the loop early stops the engine and closes its subscription")
  func breakStops() async throws {
    let id = UUID().uuidString
    for try await event in watcher.events(for: [id], timeout: .seconds(10)) {
      if case .change = event { break }
    }
    let deadline = Deadline.after(seconds: 5)
    while try server.subscriberCount(channel: "celery-task-meta-\(id)") != 0 && !deadline.hasPassed {
      try await Task.sleep(for: .milliseconds(5))
    }
    #expect(try server.subscriberCount(channel: "celery-task-meta-\(id)") == 0)
  }
}
