import Foundation
import TaskWatch
import TestSupport
import Testing

/// `--children` end to end: the built binary against a real redis-server,
/// with metas in the shape Celery stores (the interop tests run real workers).
@Suite("taskwatch --children end to end")
struct ChildrenOptionTests {
  let server = SharedRedis.server

  private func store(_ id: String, _ state: String, children: [String] = []) throws {
    try server.run(["SET", "celery-task-meta-\(id)", celeryMeta(id, state, children: children)])
  }

  @Test("found tasks' lines carry parent_id and root_id right after task_id; given ids' lines do not")
  func lineFields() throws {
    let (root, child, grandchild) = (newTaskID(), newTaskID(), newTaskID())
    try store(root, "SUCCESS", children: [child])
    try store(child, "SUCCESS", children: [grandchild])
    try store(grandchild, "FAILURE")
    let result = try TaskwatchProcess.run(["-u", server.url(), "--children", "--summary", root])
    #expect(result.status == 1)
    let lines = result.lines
    #expect(lines.count == 4)
    #expect(lines[0].hasPrefix(#"{"type":"state","task_id":"\#(root)","state":"SUCCESS""#))
    #expect(lines[1].hasPrefix(#"{"type":"state","task_id":"\#(child)","parent_id":"\#(root)","root_id":"\#(root)","#))
    #expect(
      lines[2].hasPrefix(#"{"type":"state","task_id":"\#(grandchild)","parent_id":"\#(child)","root_id":"\#(root)","#))
    let summary = try #require(result.objects.last)
    #expect(summary["total"] as? Int == 3)
    #expect(summary["states"] as? [String: Int] == ["SUCCESS": 2, "FAILURE": 1])
  }

  @Test("a found task whose stored result is unreadable (pickle) still names its parent and root")
  func unreadableChildKeepsLineage() throws {
    let (root, child) = (newTaskID(), newTaskID())
    try store(root, "SUCCESS", children: [child])
    try server.storeAndPublish(taskID: child, payload: [0x80, 0x04, 0x95, 0x2A, 0, 0, 0, 0, 0, 0, 0])
    let result = try TaskwatchProcess.run(["-u", server.url(), "--children", root])
    #expect(result.status == 65)
    let line = try #require(result.objects.first { $0["type"] as? String == "unreadable" })
    #expect(line["task_id"] as? String == child)
    #expect(line["parent_id"] as? String == root)
    #expect(line["root_id"] as? String == root)
  }

  @Test("--report junit covers the tree: a testcase per task, found ones grouped by their root, the failure named")
  func junitCoversTheTree() throws {
    let (root, child, grandchild) = (newTaskID(), newTaskID(), newTaskID())
    try store(root, "SUCCESS", children: [child])
    try store(child, "SUCCESS", children: [grandchild])
    try store(grandchild, "FAILURE")
    let file = FileManager.default.temporaryDirectory.appendingPathComponent("children-\(newTaskID()).xml")
    defer { try? FileManager.default.removeItem(at: file) }
    let result = try TaskwatchProcess.run(["-u", server.url(), "--children", "--report", "junit=\(file.path)", root])
    #expect(result.status == 1)
    let xml = try String(contentsOf: file, encoding: .utf8)
    #expect(xml.contains(#"<testsuites name="taskwatch" tests="3" failures="1" errors="0""#))
    #expect(xml.contains(#"<testcase classname="taskwatch" name="\#(root)""#))
    #expect(xml.contains(#"<testcase classname="taskwatch.\#(root)" name="\#(child)""#))
    #expect(xml.contains(#"<testcase classname="taskwatch.\#(root)" name="\#(grandchild)""#))
    #expect(xml.components(separatedBy: "<failure ").count == 2)
  }

  @Test("without --children the same ids end at the parent's SUCCESS")
  func offByDefault() throws {
    let (root, child) = (newTaskID(), newTaskID())
    try store(root, "SUCCESS", children: [child])
    let result = try TaskwatchProcess.run(["-u", server.url(), root])
    #expect(result.status == 0)
    #expect(result.lines.count == 1 && !result.stdout.contains("parent_id"))
  }

  @Test("--children with --all is a usage error")
  func notWithAll() throws {
    let result = try TaskwatchProcess.run(["-u", server.url(), "--children", "--all"])
    #expect(result.status == 64)
    #expect(result.stderr.contains("--children"))
  }
}
