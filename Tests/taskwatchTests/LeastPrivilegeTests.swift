import Foundation
import TaskWatch
import TestSupport
import Testing

/// The least-privilege ACL user Celery's own `get()` / `join_native()` need:
/// no `+ping`. The health PING's `NOPERM` reply still proves the link alive,
/// so the watch outlives many health intervals and never blames authentication.
@Suite("A least-privilege ACL user (no +ping)", .serialized)
struct LeastPrivilegeTests {

  /// A server with the `watcher` user of the ACL in the issue.
  private func server() throws -> RedisServer {
    let redis = try RedisServer()
    try redis.run([
      "ACL", "SETUSER", "watcher", "on", ">pw", "~celery-task-meta-*", "&celery-task-meta-*", "+@pubsub", "+get",
      "+mget",
    ])
    return redis
  }

  /// How many times the server refused `ping` to an ACL user (`ACL LOG`
  /// aggregates identical refusals into one entry with a count).
  private func refusedPings(_ redis: RedisServer) throws -> Int64 {
    guard case .array(let entries) = try redis.run(["ACL", "LOG"]) else { return 0 }
    for case .array(let fields) in entries {
      let pairs = stride(from: 0, to: fields.count - 1, by: 2).map { (fields[$0].text, fields[$0 + 1]) }
      guard pairs.contains(where: { $0.0 == "object" && $0.1.text == "ping" }),
        case .integer(let count)? = pairs.first(where: { $0.0 == "count" })?.1
      else { continue }
      return count
    }
    return 0
  }

  private func waitForRefusedPings(_ redis: RedisServer, atLeast count: Int64) throws -> Bool {
    let deadline = Deadline.after(seconds: 15)
    while !deadline.hasPassed {
      if try refusedPings(redis) >= count { return true }
      usleep(20_000)
    }
    return false
  }

  @Test("ids: the watch outlives three refused health PINGs, then reports SUCCESS, exit 0")
  func ids() throws {
    let redis = try server()
    let id = newTaskID()
    try redis.run(["SET", "celery-task-meta-\(id)", celeryMeta(id, "STARTED")])
    let url = "redis://watcher:pw@127.0.0.1:\(redis.port)/0"
    let process = try TaskwatchProcess(["-u", url, "--health-interval", "300ms", id])
    #expect(process.waitForLines(1, seconds: 10))
    #expect(try waitForRefusedPings(redis, atLeast: 3))
    try redis.storeAndPublish(taskID: id, json: celeryMeta(id, "SUCCESS"))
    let result = try process.finish(seconds: 10)
    #expect(result.status == 0, "stderr: \(result.stderr)")
    #expect(result.states(of: id) == ["STARTED", "SUCCESS"])
    #expect(!result.stderr.contains("refused"))
  }

  @Test("--all: the same user, three refused health PINGs, then --count 1 is reached, exit 0")
  func all() throws {
    let redis = try server()
    let id = newTaskID()
    let url = "redis://watcher:pw@127.0.0.1:\(redis.port)/0"
    let process = try TaskwatchProcess(["-u", url, "--all", "--count", "1", "--health-interval", "300ms"])
    #expect(try waitForRefusedPings(redis, atLeast: 3))
    try redis.storeAndPublish(taskID: id, json: celeryMeta(id, "SUCCESS"))
    let result = try process.finish(seconds: 10)
    #expect(result.status == 0, "stderr: \(result.stderr)")
    #expect(result.states(of: id) == ["SUCCESS"])
    #expect(!result.stderr.contains("refused"))
  }
}
