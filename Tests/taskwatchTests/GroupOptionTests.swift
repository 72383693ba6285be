import Foundation
import TaskWatch
import TestSupport
import Testing

@testable import taskwatch

/// The CLI's exit status (Swift Testing has a type of the same name).
private typealias ExitStatus = taskwatch.ExitStatus

/// `--group` end to end: the built binary against a real redis-server.
@Suite("taskwatch --group end to end")
struct GroupEndToEndTests {
  let server = SharedRedis.server

  private func taskPayload(_ id: String, _ state: String) -> String {
    #"{"status": "\#(state)", "result": null, "traceback": null, "children": [], "date_done": null, "task_id": "\#(id)"}"#
  }

  /// A flat group as Celery's JSON serializer saves it.
  private func groupPayload(_ id: String, _ children: [String]) -> [UInt8] {
    let tuples = children.map { #"[["\#($0)", null], null]"# }.joined(separator: ", ")
    return Array(#"{"result": [["\#(id)", null], [\#(tuples)]]}"#.utf8)
  }

  private func saveGroup(_ id: String, _ children: [String], store: Bool = true) throws {
    try server.storeAndPublish(
      taskID: id, payload: groupPayload(id, children), keyPrefix: "celery-taskset-meta-", store: store)
  }

  @Test("a stored group's tasks are watched after the positional ids, each once")
  func storedGroup() throws {
    let (group, a, b, positional) = (newTaskID(), newTaskID(), newTaskID(), newTaskID())
    for id in [a, b, positional] { try server.run(["SET", "celery-task-meta-\(id)", taskPayload(id, "SUCCESS")]) }
    try saveGroup(group, [a, positional, b])
    let result = try TaskwatchProcess.run(["-u", server.url(), positional, "--group", group, "--group", group])
    #expect(result.status == 0)
    #expect(result.stderr.isEmpty)
    #expect(result.objects.compactMap { $0["task_id"] as? String } == [positional, a, b])
  }

  @Test("a group saved after the start is waited for, then its tasks are streamed")
  func savedLater() throws {
    let (group, a, b) = (newTaskID(), newTaskID(), newTaskID())
    let process = try TaskwatchProcess(["-u", server.url(), "-t", "20s", "--group", group])
    #expect(try server.waitForSubscribers(channel: "celery-taskset-meta-\(group)"))
    #expect(process.stdoutSoFar.isEmpty)
    try saveGroup(group, [a, b], store: false)
    #expect(try server.waitForSubscribers(channel: "celery-task-meta-\(b)"))
    #expect(process.waitForLines(2, seconds: 10))
    for id in [a, b] { try server.storeAndPublish(taskID: id, json: taskPayload(id, "SUCCESS")) }
    let result = try process.finish()
    #expect(result.status == 0)
    #expect(result.states(of: a) == ["PENDING", "SUCCESS"])
    #expect(result.states(of: b) == ["PENDING", "SUCCESS"])
  }

  @Test("an unsaved group: --timeout exits 124 naming it, --once too")
  func unsaved() throws {
    let group = newTaskID()
    let started = Date()
    let timedOut = try TaskwatchProcess.run(["-u", server.url(), "-t", "300ms", "--summary", "--group", group])
    #expect(Date().timeIntervalSince(started) < 5)
    #expect(timedOut.status == 124)
    #expect(timedOut.stderr == "taskwatch: timed out after 300ms waiting for group \(group) to be saved\n")
    #expect(timedOut.objects.map { $0["type"] as? String } == ["summary"])
    let once = try TaskwatchProcess.run(["-u", server.url(), "--once", "--group", group])
    #expect(once.status == 124)
    #expect(once.stderr == "taskwatch: group \(group) is not saved (yet)\n")
    #expect(once.stdout.isEmpty)
  }

  @Test("SIGTERM while waiting for a group exits 143 at once")
  func signalWhileWaiting() throws {
    let group = newTaskID()
    let process = try TaskwatchProcess(["-u", server.url(), "--group", group])
    #expect(try server.waitForSubscribers(channel: "celery-taskset-meta-\(group)"))
    let sent = Date()
    process.child.signal(SIGTERM)
    let result = try process.finish(seconds: 5)
    #expect(Date().timeIntervalSince(sent) < 1)
    #expect(result.status == 143)
  }

  @Test("Redis down when the run starts: the group read is retried, then the tasks are watched")
  func groupWhileRedisStarts() throws {
    let port = try FreePort.pick()
    let (group, task) = (newTaskID(), newTaskID())
    let process = try TaskwatchProcess(["-u", "redis://127.0.0.1:\(port)/0", "--group", group])
    #expect(process.waitForErrors(seconds: 10) { $0.contains("connection refused; reconnecting") })
    let redis = try RedisServer(port: port)
    try redis.storeAndPublish(taskID: task, json: taskPayload(task, "SUCCESS"))
    try redis.storeAndPublish(
      taskID: group, payload: groupPayload(group, [task]), keyPrefix: "celery-taskset-meta-")
    let result = try process.finish(seconds: 15)
    #expect(result.status == 0)
    #expect(result.states(of: task) == ["SUCCESS"])
    #expect(result.stderr.contains("connection refused; reconnecting"))
    #expect(result.stderr.contains("read the groups"))
  }

  @Test("an unreadable group exits 65 naming the group and the serializer")
  func undecodable() throws {
    let group = newTaskID()
    try server.storeAndPublish(
      taskID: group, payload: [0x80, 0x04, 0x95, 0x10, 0x00], keyPrefix: "celery-taskset-meta-")
    let result = try TaskwatchProcess.run(["-u", server.url(), "--group", group])
    #expect(result.status == 65)
    #expect(result.stderr.hasPrefix("taskwatch: cannot read saved group \(group): payload looks like pickle"))
  }

  @Test(
    "bad group ids are usage errors",
    arguments: [
      (["--group", "bad\u{7F}id"], #"invalid group id 'bad\u{7F}id': contains a control character"#),
      (["--group", ""], "invalid group id '': empty"),
      (["--group"], "--group"),
    ])
  func usage(arguments: [String], fragment: String) throws {
    let result = try TaskwatchProcess.run(["-u", "redis://127.0.0.1:1/0"] + arguments)
    #expect(result.status == 64)
    #expect(result.stderr.contains(fragment))
    #expect(result.stdout.isEmpty)
  }
}

@Suite("--group ids and outcomes")
struct GroupOptionUnitTests {
  @Test("group ids: checked like task ids, duplicates once, order kept")
  func groupIDs() throws {
    #expect(try TaskIDList.groupIDs(["b", "a", "b"]) == ["b", "a"])
    #expect(throws: TaskIDList.Problem.self) { try TaskIDList.groupIDs(["ok", "x\u{7}"]) }
    #expect(try TaskIDList(arguments: [], readStandardInput: { [] }, allowEmpty: true).ids.isEmpty)
  }

  @Test("unsaved groups end with 124 and an unreadable group with 65")
  func exitStatuses() {
    #expect(ExitStatus.forOutcome(.groupsNotSaved(["g"])) == .timedOut)
    #expect(
      ExitStatus.forOutcome(.failed(UndecodableGroupError(groupID: "g", reason: .notGroupMeta("x")))) == .undecodable)
  }
}
