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

  private func payload(_ id: String, _ state: String, result: String = "null") -> String {
    #"{"status": "\#(state)", "result": \#(result), "traceback": null, "children": [], "date_done": null, "task_id": "\#(id)"}"#
  }

  /// Publishes `states` for `id` once its channel has a subscriber.
  private func publishWhenSubscribed(_ id: String, _ states: [(String, String)]) -> Task<Void, any Error> {
    Task.detached { [server] in
      guard try server.waitForSubscribers(channel: "celery-task-meta-\(id)") else {
        throw TestSupportError("nobody subscribed to \(id)")
      }
      for (state, result) in states {
        try server.storeAndPublish(taskID: id, json: payload(id, state, result: result))
      }
    }
  }

  @Test("events: a snapshot per task in order, then live changes, and the sequence ends when all are ready")
  func eventsEndWhenReady() async throws {
    let done = UUID().uuidString
    let live = UUID().uuidString
    try server.storeAndPublish(taskID: done, json: payload(done, "SUCCESS", result: "5"))
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
    try server.storeAndPublish(taskID: second, json: payload(second, "FAILURE"))
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
    #expect(try server.subscriberCount(channel: "celery-task-meta-\(id)") == 0)
  }

  @Test("a stored pickle result ends the watch with code unreadableResult naming the task")
  func unreadable() async throws {
    let id = UUID().uuidString
    try server.storeAndPublish(taskID: id, payload: [0x80, 0x04, 0x95, 0x00])
    let error = await #expect(throws: TaskWatchError.self) {
      _ = try await watcher.results(for: [id], timeout: .seconds(10))
    }
    #expect(error?.code == .unreadableResult)
    #expect(error?.taskID == id)
    #expect(error?.underlyingError is UndecodableResultError)
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
