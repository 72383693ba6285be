import Foundation
import TaskWatch
import TestSupport
import Testing

/// `--all`: every task on the backend, from PSUBSCRIBE, until `--count`,
/// `--timeout` or a signal. Each test uses a key prefix of its own so tests
/// running in parallel on the shared server never see each other's tasks.
@Suite("--all end to end")
struct AllTasksTests {
  let server = SharedRedis.server

  private func prefix() -> String { "t\(UUID().uuidString.prefix(8).lowercased())-meta-" }

  /// Stores and publishes under `prefix` the way Celery does.
  private func publish(_ prefix: String, _ id: String, _ json: String, store: Bool = true) throws {
    try server.storeAndPublish(taskID: id, payload: Array(json.utf8), keyPrefix: prefix, store: store)
  }

  /// Starts taskwatch and waits until its pattern subscription is in place.
  private func start(_ arguments: [String], prefix: String) throws -> TaskwatchProcess {
    let process = try TaskwatchProcess(["-u", server.url(), "--key-prefix", prefix, "--all"] + arguments)
    let deadline = Deadline.after(seconds: 10)
    while !deadline.hasPassed {
      // PUBSUB NUMPAT counts every pattern on the server; publishing a probe
      // and seeing it is what proves ours is active.
      try publish(prefix, "probe", celeryMeta("probe", "STARTED"), store: false)
      if process.stdoutSoFar.contains("probe") { return process }
      usleep(20_000)
    }
    throw TestSupportError("taskwatch --all did not report a probe within 10 s")
  }

  @Test("streams every task's transitions, drops repeats, stops at --count ready tasks")
  func countReady() throws {
    let prefix = prefix()
    let process = try start(["--count", "2", "--summary"], prefix: prefix)
    try publish(prefix, "a", celeryMeta("a", "STARTED"))
    try publish(prefix, "a", celeryMeta("a", "STARTED"))
    try publish(prefix, "b", celeryMeta("b", "PROGRESS", result: #"{"current": 1, "total": 4}"#))
    try publish(prefix, "a", celeryMeta("a", "SUCCESS", result: "3"))
    try publish(prefix, "a", celeryMeta("a", "FAILURE"))
    try publish(prefix, "b", celeryMeta("b", "SUCCESS"))
    let result = try process.finish()
    #expect(result.status == 0, "stderr: \(result.stderr)")
    #expect(result.states(of: "a") == ["STARTED", "SUCCESS"])
    #expect(result.states(of: "b") == ["PROGRESS", "SUCCESS"])
    let summary = try #require(result.objects.last)
    #expect(summary["type"] as? String == "summary")
    #expect(summary["unready"] as? [String] == ["probe"])
  }

  @Test("a READY message without a stored key does not count; --timeout with tasks unready exits 124")
  func unconfirmedAndTimeout() throws {
    let prefix = prefix()
    let process = try start(["--count", "1", "-t", "4s"], prefix: prefix)
    try publish(prefix, "ghost", celeryMeta("ghost", "SUCCESS"), store: false)
    let result = try process.finish()
    #expect(result.status == 124)
    #expect(result.states(of: "ghost").isEmpty)
    #expect(result.stderr.contains("no stored result"))
  }

  @Test("SIGINT ends the feed with 130; --format text shows the tasks as plain lines")
  func signalAndText() throws {
    let prefix = prefix()
    let process = try start(["--format", "text"], prefix: prefix)
    try publish(prefix, "f", celeryMeta("f", "FAILURE", result: #"{"exc_type": "OSError", "exc_message": ["disk"]}"#))
    let deadline = Deadline.after(seconds: 10)
    while !deadline.hasPassed && !process.stdoutSoFar.contains(" f FAILURE") { usleep(10_000) }
    process.child.signal(SIGINT)
    let result = try process.finish()
    #expect(result.status == 130)
    #expect(result.lines.contains { $0.hasSuffix(" f FAILURE OSError: disk") })
    #expect(result.lines.last == "FAILURE f  OSError: disk")
  }

  @Test("a lost subscriber is reconnected; a result stored meanwhile is found by the resync")
  func reconnect() throws {
    // A private server: CLIENT KILL TYPE pubsub would cut other tests' subscribers.
    let server = try RedisServer()
    let prefix = prefix()
    let process = try TaskwatchProcess(
      ["-u", server.url(), "--key-prefix", prefix, "--all", "--count", "1", "-t", "20s"])
    let deadline = Deadline.after(seconds: 10)
    while !deadline.hasPassed && !process.stdoutSoFar.contains("\"r\"") {
      try server.storeAndPublish(taskID: "r", payload: Array(celeryMeta("r", "STARTED").utf8), keyPrefix: prefix)
      usleep(20_000)
    }
    // The result is stored and the subscriber cut in one transaction: no message announces it.
    let connection = try server.connection()
    for command in [
      ["MULTI"], ["SET", prefix + "r", celeryMeta("r", "SUCCESS")], ["CLIENT", "KILL", "TYPE", "pubsub"], ["EXEC"],
    ] {
      connection.append(command)
    }
    try connection.flush(until: .after(seconds: 5))
    _ = try connection.replies(count: 4, until: .after(seconds: 5), operation: "EXEC")
    let result = try process.finish(seconds: 25)
    #expect(result.status == 0, "stderr: \(result.stderr)")
    #expect(result.states(of: "r") == ["STARTED", "SUCCESS"])
    #expect(result.objects.last?["source"] as? String == "resync")
    #expect(result.stderr.contains("reconnected"))
  }

  @Test(
    "--all refuses ids, --group and --once; --count needs --all",
    arguments: [
      ["--all", "x"], ["--all", "--group", "g"], ["--all", "--once"], ["--count", "2", "x"], ["--all", "--count", "0"],
    ])
  func usage(arguments: [String]) throws {
    #expect(try TaskwatchProcess.run(arguments).status == 64)
  }
}
