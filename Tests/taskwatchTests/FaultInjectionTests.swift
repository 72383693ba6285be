import Foundation
import TaskWatch
import TestSupport
import Testing

/// Real faults against a real redis-server: a proxy that refuses, cuts and
/// blackholes, server restarts, bad payloads, and load. Each test has its own
/// deadline through `TaskwatchProcess.finish(seconds:)`.
@Suite("Fault injection", .serialized)
struct FaultInjectionTests {

  private func source(of state: String, for id: String, in result: TaskwatchProcess.Result) -> String? {
    result.objects.last { $0["task_id"] as? String == id && $0["state"] as? String == state }?["source"] as? String
  }

  @Test("1. cut while unready; SUCCESS stored while the proxy refuses; resume → reported via resync, exit 0")
  func cutAndResync() throws {
    let redis = try RedisServer()
    let proxy = try FaultProxy(upstreamPort: redis.port)
    let id = newTaskID()
    let process = try TaskwatchProcess(["-u", proxy.url(), id])
    #expect(try redis.waitForSubscribers(channel: "celery-task-meta-\(id)"))
    #expect(process.waitForLines(1, seconds: 10), "the snapshot comes before any fault")
    proxy.setMode(.refuse)
    try redis.storeAndPublish(taskID: id, json: celeryMeta(id, "SUCCESS"))
    #expect(process.waitForErrors(seconds: 10) { $0.contains("reconnecting") }, "the cut is noticed")
    proxy.setMode(.forward)
    let result = try process.finish(seconds: 15)
    #expect(result.status == 0)
    #expect(source(of: "SUCCESS", for: id, in: result) == "resync")
    #expect(result.stderr.contains("reconnecting"))
    #expect(result.stderr.contains("reconnected to 127.0.0.1:\(proxy.port)"))
  }

  @Test("2. blackhole with --health-interval 1s; SUCCESS stored meanwhile → reported within 10 s")
  func blackhole() throws {
    let redis = try RedisServer()
    let proxy = try FaultProxy(upstreamPort: redis.port)
    let id = newTaskID()
    let process = try TaskwatchProcess(["-u", proxy.url(), "--health-interval", "1s", id])
    #expect(try redis.waitForSubscribers(channel: "celery-task-meta-\(id)"))
    #expect(process.waitForLines(1, seconds: 10), "the snapshot comes before any fault")
    let started = Date()
    proxy.setMode(.blackhole)
    try redis.storeAndPublish(taskID: id, json: celeryMeta(id, "SUCCESS"))
    #expect(process.waitForErrors(seconds: 8) { $0.contains("no reply to PING") }, "the dead link is noticed")
    proxy.setMode(.forward)
    let result = try process.finish(seconds: 10)
    #expect(Date().timeIntervalSince(started) < 10)
    #expect(result.status == 0)
    #expect(result.states(of: id) == ["PENDING", "SUCCESS"])
    #expect(result.stderr.contains("no reply to PING within 2.0s"))
  }

  @Test("3. Redis restarted with its data mid-watch → the result stored after the restart is reported")
  func restart() throws {
    let redis = try RedisServer()
    let (early, late) = (newTaskID(), newTaskID())
    try redis.run(["SET", "celery-task-meta-\(early)", celeryMeta(early, "STARTED")])
    let process = try TaskwatchProcess(["-u", redis.url(), early, late])
    #expect(try redis.waitForSubscribers(channel: "celery-task-meta-\(late)"))
    #expect(process.waitForLines(2, seconds: 10), "the snapshot comes before the restart")
    try redis.run(["SAVE"])
    redis.stop()
    try redis.start(arguments: ["--dbfilename", "dump.rdb"])
    #expect(try redis.waitForSubscribers(channel: "celery-task-meta-\(late)", seconds: 10))
    try redis.storeAndPublish(taskID: late, json: celeryMeta(late, "SUCCESS"))
    try redis.storeAndPublish(taskID: early, json: celeryMeta(early, "SUCCESS"))
    let result = try process.finish(seconds: 15)
    #expect(result.status == 0)
    #expect(result.states(of: early) == ["STARTED", "SUCCESS"])
    #expect(result.states(of: late) == ["PENDING", "SUCCESS"])
    #expect(result.stderr.contains("server closed the connection; reconnecting"))
  }

  @Test("4. an outage longer than --retry-for 2s exits 69 within about 6 s, saying why")
  func outage() throws {
    let redis = try RedisServer()
    let id = newTaskID()
    let process = try TaskwatchProcess(["-u", redis.url(), "--retry-for", "2s", id])
    #expect(try redis.waitForSubscribers(channel: "celery-task-meta-\(id)"))
    #expect(process.waitForLines(1, seconds: 10), "the snapshot comes before any fault")
    let started = Date()
    redis.crash()
    let result = try process.finish(seconds: 10)
    #expect(Date().timeIntervalSince(started) < 6)
    #expect(result.status == 69)
    #expect(result.stderr.contains("gave up after 2"))
    #expect(result.stderr.contains("connection refused"))
  }

  @Test("5. started while Redis is down; Redis starts once it has retried → works")
  func lateStart() throws {
    let port = try FreePort.pick()
    let id = newTaskID()
    let process = try TaskwatchProcess(["-u", "redis://127.0.0.1:\(port)/0", id])
    #expect(process.waitForErrors(seconds: 10) { $0.contains("connection refused; reconnecting") })
    let redis = try RedisServer(port: port)
    try redis.storeAndPublish(taskID: id, json: celeryMeta(id, "SUCCESS"))
    let result = try process.finish(seconds: 15)
    #expect(result.status == 0)
    #expect(result.states(of: id).last == "SUCCESS")
    #expect(result.stderr.contains("connection refused; reconnecting"))
  }

  @Test("6. NOAUTH after Redis restarted with a password → 77, no retry storm")
  func noauthAfterRestart() throws {
    let redis = try RedisServer()
    let id = newTaskID()
    let process = try TaskwatchProcess(["-u", redis.url(), "--retry-for", "20s", id])
    #expect(try redis.waitForSubscribers(channel: "celery-task-meta-\(id)"))
    #expect(process.waitForLines(1, seconds: 10), "the snapshot comes before any fault")
    redis.stop()
    try redis.start(arguments: ["--requirepass", "n0w-secret"])
    let started = Date()
    let result = try process.finish(seconds: 10)
    #expect(result.status == 77)
    #expect(Date().timeIntervalSince(started) < 5)
    #expect(result.stderr.contains("NOAUTH"))
  }

  @Test("8. garbage bytes on a watched channel → warning, the real SUCCESS still reported, exit 0")
  func garbage() throws {
    let redis = SharedRedis.server
    let id = newTaskID()
    let process = try TaskwatchProcess(["-u", redis.url(), id])
    #expect(try redis.waitForSubscribers(channel: "celery-task-meta-\(id)"))
    #expect(process.waitForLines(1, seconds: 10), "the snapshot comes before any fault")
    try redis.storeAndPublish(taskID: id, payload: [0xDE, 0xAD, 0xBE, 0xEF, 0x00, 0x0A], store: false)
    try redis.storeAndPublish(taskID: id, json: #"{"task_id": "\#(id)"}"#, store: false)
    try redis.storeAndPublish(taskID: id, json: celeryMeta("someone-else", "SUCCESS"), store: false)
    // One warning per bad message; the result is stored only after all three
    // were seen, or the re-read they trigger could find it first.
    #expect(process.waitForErrors(seconds: 10) { $0.components(separatedBy: "skipped").count - 1 == 3 })
    try redis.storeAndPublish(taskID: id, json: celeryMeta(id, "SUCCESS"))
    let result = try process.finish(seconds: 10)
    #expect(result.status == 0)
    #expect(result.states(of: id) == ["PENDING", "SUCCESS"])
    #expect(result.stderr.components(separatedBy: "skipped").count - 1 == 3)
  }

  @Test("10. 20,000 ids via stdin, finished by a pipelined publisher right after subscription")
  func twentyThousand() throws {
    let redis = SharedRedis.server
    let ids = (0..<20_000).map { _ in newTaskID() }
    let process = try TaskwatchProcess(["-u", redis.url(), "-"], stdin: ids.joined(separator: "\n"))
    #expect(try redis.waitForSubscribers(channel: "celery-task-meta-\(ids.last!)", seconds: 20))
    #expect(process.waitForLines(ids.count, seconds: 20), "the snapshot comes before the burst")
    let publisher = try redis.connection()
    for id in ids {
      let key = "celery-task-meta-\(id)"
      let body = celeryMeta(id, "SUCCESS")
      publisher.append(["MULTI"])
      publisher.append(["SETEX", key, "600", body])
      publisher.append(["PUBLISH", key, body])
      publisher.append(["EXEC"])
    }
    try publisher.flush(until: .after(seconds: 20))
    _ = try publisher.replies(count: ids.count * 4, until: .after(seconds: 20), operation: "EXEC")
    let result = try process.finish(seconds: 60)
    #expect(result.status == 0)
    let successes = result.objects.filter { $0["state"] as? String == "SUCCESS" }.compactMap {
      $0["task_id"] as? String
    }
    #expect(successes.count == 20_000)
    #expect(Set(successes).count == 20_000)
  }

  @Test("11. a 40 MB result with the pubsub output buffer lowered so Redis kills the subscriber → still reported")
  func largePayload() throws {
    let redis = try RedisServer(extraArguments: ["--client-output-buffer-limit", "pubsub 1mb 1mb 0"])
    let id = newTaskID()
    let process = try TaskwatchProcess(["-u", redis.url(), id])
    #expect(try redis.waitForSubscribers(channel: "celery-task-meta-\(id)"))
    #expect(process.waitForLines(1, seconds: 10), "the snapshot comes before any fault")
    let big = String(repeating: "x", count: 40 * 1024 * 1024)
    try redis.storeAndPublish(taskID: id, json: #"{"status": "SUCCESS", "result": "\#(big)", "task_id": "\#(id)"}"#)
    let result = try process.finish(seconds: 30)
    #expect(result.status == 0)
    let meta = result.objects.last?["meta"] as? [String: Any]
    #expect((meta?["result"] as? String)?.count == big.count)
    #expect(result.stderr.contains("reconnected"), "Redis should have cut the subscriber for its output buffer")
  }

  @Test("12. SUCCESS published from another db while our key is absent → not ready, one warning")
  func wrongDatabase() throws {
    let redis = SharedRedis.server
    let id = newTaskID()
    let process = try TaskwatchProcess(["-u", redis.url(database: 3), "-t", "1500ms", id])
    #expect(try redis.waitForSubscribers(channel: "celery-task-meta-\(id)"))
    #expect(process.waitForLines(1, seconds: 10), "the snapshot comes before any fault")
    try redis.storeAndPublish(taskID: id, json: celeryMeta(id, "SUCCESS"), database: 4)
    try redis.storeAndPublish(taskID: id, json: celeryMeta(id, "SUCCESS") + " ", database: 4)
    let result = try process.finish(seconds: 10)
    #expect(result.status == 124)
    #expect(result.states(of: id) == ["PENDING"])
    #expect(result.stderr.components(separatedBy: "may name the wrong database").count - 1 == 1)
  }

  /// Waits until `redis` (a server of the test's own) has a pattern subscriber.
  private func waitForPattern(_ redis: RedisServer, seconds: Double = 10) throws -> Bool {
    let deadline = Deadline.after(seconds: seconds)
    while !deadline.hasPassed {
      if case .integer(let count) = try redis.run(["PUBSUB", "NUMPAT"]), count > 0 { return true }
      usleep(5_000)
    }
    return false
  }

  @Test("13. --all: Redis restarted with a password → NOAUTH on PSUBSCRIBE exits 77 at once, like ids mode")
  func noauthUnderAll() throws {
    let redis = try RedisServer()
    let process = try TaskwatchProcess(["-u", redis.url(), "--all", "--retry-for", "20s"])
    #expect(try waitForPattern(redis))
    redis.stop()
    try redis.start(arguments: ["--requirepass", "n0w-secret"])
    let started = Date()
    let result = try process.finish(seconds: 10)
    #expect(result.status == 77, "stderr: \(result.stderr)")
    #expect(Date().timeIntervalSince(started) < 5)
    #expect(result.stderr.contains("NOAUTH"))
  }

  @Test("14. --all: the resync MGET answered -LOADING is retried until the data set is loaded")
  func loadingUnderAll() throws {
    let redis = try RedisServer(extraArguments: ["--enable-debug-command", "local"])
    let id = newTaskID()
    let process = try TaskwatchProcess(["-u", redis.url(), "--all", "--count", "1", "-t", "40s"])
    #expect(try waitForPattern(redis))
    try redis.storeAndPublish(taskID: id, json: celeryMeta(id, "STARTED"))
    #expect(process.waitForOutput("STARTED", seconds: 10))
    // The result is stored while nothing is published, so only the resync
    // after the restart can find it; the filler keys make loading slow.
    try redis.run(["SET", "celery-task-meta-\(id)", celeryMeta(id, "SUCCESS")])
    try redis.run(["DEBUG", "POPULATE", "3000", "filler", "10"])
    try redis.run(["SAVE"])
    redis.stop()
    try redis.start(arguments: [
      "--dbfilename", "dump.rdb", "--key-load-delay", "1000", "--loading-process-events-interval-bytes", "1024",
    ])
    let result = try process.finish(seconds: 30)
    #expect(result.status == 0, "stderr: \(result.stderr)")
    #expect(result.states(of: id) == ["STARTED", "SUCCESS"])
    #expect(source(of: "SUCCESS", for: id, in: result) == "resync")
    let errors = try redis.run(["INFO", "errorstats"]).text ?? ""
    #expect(errors.contains("errorstat_LOADING"), "the resync met the loading server: \(errors)")
  }

  @Test("15. a database the server does not have (SELECT 16) is a usage error: 64 at once, ids and --all")
  func databaseOutOfRange() throws {
    let redis = SharedRedis.server
    for arguments in [[newTaskID()], ["--all"]] {
      let started = Date()
      let result = try TaskwatchProcess.run(["-u", redis.url(database: 16)] + arguments)
      #expect(result.status == 64, "stderr: \(result.stderr)")
      #expect(result.stderr.contains("DB index is out of range"))
      #expect(!result.stderr.contains("reconnecting"))
      #expect(Date().timeIntervalSince(started) < 5)
    }
  }
}
