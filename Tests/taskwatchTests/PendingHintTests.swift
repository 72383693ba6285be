import Foundation
import TaskWatch
import TestSupport
import Testing

/// `--pending-hint-after`: a task PENDING with nothing stored gets one stderr
/// line per likely cause, with the fix, found on a short-lived connection of
/// its own, against a real redis-server.
@Suite("Hints instead of silent PENDING")
struct PendingHintTests {
  let server = SharedRedis.server

  /// The `taskwatch:` lines of stderr, without the final timeout line.
  private func hints(_ result: CapturedProcess.Result) -> [String] {
    result.stderr.split(separator: "\n").map(String.init).filter { !$0.hasPrefix("taskwatch: timed out") }
  }

  /// Runs taskwatch with a short hint delay until its timeout.
  private func run(_ arguments: [String], url: String? = nil) throws -> CapturedProcess.Result {
    try TaskwatchProcess.run(["-u", url ?? server.url(), "--pending-hint-after", "200ms", "-t", "1500ms"] + arguments)
  }

  @Test("a group id watched as a task: one line saying to use --group")
  func groupID() throws {
    let group = newTaskID()
    try server.run(["SET", "celery-taskset-meta-\(group)", #"{"result": [["\#(group)", null], []]}"#])
    let result = try run([group])
    #expect(result.status == 124)
    #expect(
      hints(result) == [
        "taskwatch: task \(group) is still PENDING, but celery-taskset-meta-\(group) exists: it is a group id, "
          + "not a task id; watch its tasks with --group \(group)"
      ])
  }

  @Test("a result in another database is named, found with SELECT on a connection of its own")
  func otherDatabase() throws {
    let id = newTaskID()
    try server.run(["SET", "celery-task-meta-\(id)", celeryMeta(id, "SUCCESS")], database: 3)
    try server.run(["SET", "celery-task-meta-\(id)", celeryMeta(id, "SUCCESS")], database: 7)
    let result = try run([id], url: server.url(database: 2))
    #expect(result.status == 124)
    #expect(
      hints(result) == [
        "taskwatch: task \(id) has no result in database 2, but databases 3, 7 have one: "
          + "the URL should name database 3 (e.g. redis://host:6379/3)"
      ])
  }

  @Test("ids that are not UUIDs: one line for all of them")
  func notCeleryID() throws {
    let result = try run(["tasks.add", "celery-task-meta-", "4242"])
    #expect(result.status == 124)
    #expect(
      hints(result) == [
        "taskwatch: task id tasks.add (and 2 other ids) is not a UUID, the form Celery gives task ids: "
          + "check that it is a task's id (AsyncResult.id), not a task name, a key or a log excerpt"
      ])
  }

  @Test("nothing found: one reminder of ignore_result, result_expires and forget(), once per run")
  func nothingStored() throws {
    let (a, b) = (newTaskID(), newTaskID())
    let result = try run([a, b])
    #expect(result.status == 124)
    let lines = hints(result)
    #expect(lines.count == 1)
    #expect(lines.first?.hasPrefix("taskwatch: task \(a) (and 1 other task) has been PENDING for 0.2s") == true)
    #expect(lines.first?.contains("ignore_result=True") == true && lines.first?.contains("forget()") == true)
  }

  @Test("several causes at once: one line each, and a task that becomes ready later is still reported")
  func severalCauses() throws {
    let (group, plain, live) = (newTaskID(), newTaskID(), newTaskID())
    try server.run(["SET", "celery-taskset-meta-\(group)", #"{"result": [["\#(group)", null], []]}"#])
    let process = try TaskwatchProcess(
      ["-u", server.url(), "--pending-hint-after", "200ms", "-t", "20s", group, "not-a-uuid", plain, live])
    #expect(process.waitForErrors(seconds: 10) { $0.contains("has been PENDING") })
    try server.storeAndPublish(taskID: live, json: celeryMeta(live, "SUCCESS"))
    #expect(process.waitForLines(5, seconds: 10))
    process.child.signal(SIGINT)
    let result = try process.finish(seconds: 10)
    #expect(result.status == 130)
    #expect(result.states(of: live) == ["PENDING", "SUCCESS"])
    let lines = hints(result)
    #expect(lines.count == 3, "\(lines)")
    #expect(lines.filter { $0.contains("is a group id") }.count == 1)
    #expect(lines.filter { $0.contains("is not a UUID") }.count == 1)
    #expect(lines.filter { $0.contains("has been PENDING") }.count == 1)
    #expect(lines.first { $0.contains("has been PENDING") }?.contains("task \(plain) (and 1 other task)") == true)
  }

  @Test("an ACL user without SELECT or EXISTS gets only the reminder, and the watch goes on undisturbed")
  func leastPrivilege() throws {
    let redis = try RedisServer()
    try redis.run([
      "ACL", "SETUSER", "watcher", "on", ">pw", "~celery-task-meta-*", "&celery-task-meta-*", "+@pubsub", "+get",
      "+mget",
    ])
    let id = newTaskID()
    try redis.run(["SET", "celery-task-meta-\(id)", celeryMeta(id, "SUCCESS")], database: 1)
    let url = "redis://watcher:pw@127.0.0.1:\(redis.port)/0"
    let process = try TaskwatchProcess(["-u", url, "--pending-hint-after", "200ms", "-t", "20s", id])
    #expect(process.waitForErrors(seconds: 10) { $0.contains("has been PENDING") })
    try redis.storeAndPublish(taskID: id, json: celeryMeta(id, "SUCCESS"))
    let result = try process.finish(seconds: 10)
    #expect(result.status == 0, "stderr: \(result.stderr)")
    #expect(result.states(of: id) == ["PENDING", "SUCCESS"])
    #expect(hints(result).count == 1 && !result.stderr.contains("database"), "\(result.stderr)")
  }

  @Test("--pending-hint-after off (or 0) prints no hint")
  func off() throws {
    for value in ["off", "0"] {
      let result = try TaskwatchProcess.run(
        ["-u", server.url(), "--pending-hint-after", value, "-t", "600ms", "not-a-uuid"])
      #expect(result.status == 124)
      #expect(hints(result).isEmpty, "\(result.stderr)")
    }
  }

  @Test("a --group never saved (a chord's header) gets a hint before the timeout")
  func groupNotSaved() throws {
    let group = newTaskID()
    let result = try run(["--group", group])
    #expect(result.status == 124)
    let lines = hints(result)
    #expect(lines.count == 1, "\(result.stderr)")
    #expect(lines.first?.hasPrefix("taskwatch: group \(group) has not been saved after 0.2s") == true)
    #expect(lines.first?.contains("a chord's header group is never saved") == true)
  }
}
