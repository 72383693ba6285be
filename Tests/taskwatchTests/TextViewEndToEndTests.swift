import Foundation
import TaskWatch
import TestSupport
import Testing

/// The human view end to end: the live table in a real terminal (tmux), plain
/// lines on a pipe, and NDJSON unchanged with `--format json`.
@Suite("Text view end to end")
struct TextViewEndToEndTests {
  let server = SharedRedis.server

  private func newID() -> String { UUID().uuidString.lowercased() }

  private func progress(_ id: String, _ current: Int, of total: Int) -> String {
    #"{"status": "PROGRESS", "result": {"current": \#(current), "total": \#(total)}, "traceback": null, "children": [], "date_done": null, "task_id": "\#(id)"}"#
  }

  private func finished(_ id: String, _ state: String, result: String = "null") -> String {
    #"{"status": "\#(state)", "result": \#(result), "traceback": null, "children": [], "date_done": null, "task_id": "\#(id)"}"#
  }

  @Test("in a terminal: a live row with a progress bar, redrawn on resize; the final state stays on screen")
  func liveTableInTmux() throws {
    guard Tmux.isInstalled else {
      Issue.record("tmux is not installed (run scripts/setup)")
      return
    }
    let id = newID()
    try server.run(["SET", "celery-task-meta-\(id)", progress(id, 3, of: 10)])
    let tmux = Tmux()
    let command =
      "env TERM=xterm-256color '\(TaskwatchProcess.executable)' -u '\(server.url())' -t 60 \(id); echo EXIT=$?; sleep 60"
    try tmux.run(["new-session", "-d", "-s", "view", "-x", "100", "-y", "20", command])
    let running = try tmux.waitForScreen(containing: [id, "PROGRESS", "[######--------------]  30%", "1 task"])
    #expect(running.contains("[######--------------]  30%"), "screen:\n\(running)")
    #expect(try server.waitForSubscribers(channel: "celery-task-meta-\(id)"))
    try server.storeAndPublish(taskID: id, json: progress(id, 7, of: 10))
    let later = try tmux.waitForScreen(containing: ["[##############------]  70%"])
    #expect(later.contains("70%"), "screen:\n\(later)")
    // A narrower terminal (SIGWINCH): the bar shrinks to 10 cells and the id is cut.
    try tmux.run(["resize-window", "-t", "view", "-x", "50", "-y", "20"])
    let narrow = try tmux.waitForScreen(containing: ["[#######---]  70%"])
    #expect(narrow.contains("[#######---]  70%"), "screen:\n\(narrow)")
    #expect(narrow.split(separator: "\n").allSatisfy { $0.count < 50 }, "screen:\n\(narrow)")
    // A diagnostic goes above the table, which is redrawn under it, not over it.
    try server.storeAndPublish(taskID: id, json: "not a result", store: false)
    let warned = try tmux.waitForScreen(containing: ["skipped an undecodable message", "[#######---]  70%"])
    #expect(warned.contains("skipped an undecodable message"), "screen:\n\(warned)")
    try server.storeAndPublish(taskID: id, json: finished(id, "SUCCESS", result: "42"))
    let final = try tmux.waitForScreen(containing: ["EXIT=0"])
    #expect(final.contains("EXIT=0"), "screen:\n\(final)")
    let rows = final.split(separator: "\n").filter { $0.hasPrefix(id.prefix(11)) }
    #expect(rows.count == 1, "the table was redrawn in place, not appended:\n\(final)")
    #expect(rows.first?.contains("SUCCESS") == true)
    #expect(final.contains("1 task: 1 SUCCESS"))
    #expect(final.contains("skipped an undecodable message"), "the diagnostic stays on screen:\n\(final)")
  }

  @Test("--format text to a pipe: one plain line per transition, no escape codes, failures listed at the end")
  func plainLines() throws {
    let (ok, bad) = (newID(), newID())
    try server.run(["SET", "celery-task-meta-\(ok)", finished(ok, "SUCCESS")])
    let process = try TaskwatchProcess(["-u", server.url(), "--format", "text", ok, bad])
    // The two snapshot lines first, so the PROGRESS below is a transition.
    #expect(process.waitForLines(2, seconds: 10))
    try server.storeAndPublish(taskID: bad, json: progress(bad, 1, of: 4))
    #expect(process.waitForLines(3, seconds: 10))
    try server.storeAndPublish(
      taskID: bad, json: finished(bad, "FAILURE", result: #"{"exc_type": "ValueError", "exc_message": ["boom"]}"#))
    let result = try process.finish()
    #expect(result.status == 1)
    #expect(!result.stdout.contains("\u{1B}"))
    let lines = result.lines
    try #require(lines.count == 6, "\(lines)")
    #expect(lines[0].hasSuffix(" \(ok) SUCCESS"))
    #expect(lines[1].hasSuffix(" \(bad) PENDING"))
    #expect(lines[2].hasSuffix(" \(bad) PROGRESS (was PENDING) 25%"))
    #expect(lines[3].hasSuffix(" \(bad) FAILURE (was PROGRESS) ValueError: boom"))
    #expect(lines[4].hasPrefix("2 tasks: 1 FAILURE, 1 SUCCESS  waited "))
    #expect(lines[5] == "FAILURE \(bad)  ValueError: boom")
  }

  @Test("--color always colours plain lines; NO_COLOR does not override it")
  func colourAlways() throws {
    let id = newID()
    try server.run(["SET", "celery-task-meta-\(id)", finished(id, "SUCCESS")])
    let result = try TaskwatchProcess.run(
      ["-u", server.url(), "--format", "text", "--color", "always", id], environment: ["NO_COLOR": "1"])
    #expect(result.status == 0)
    #expect(result.stdout.contains("\u{1B}[32mSUCCESS"))
  }

  @Test("--format json and the default on a pipe print the same NDJSON")
  func jsonUnchanged() throws {
    let id = newID()
    try server.run(["SET", "celery-task-meta-\(id)", finished(id, "SUCCESS")])
    let explicit = try TaskwatchProcess.run(["-u", server.url(), "--format", "json", "--summary", id])
    let auto = try TaskwatchProcess.run(["-u", server.url(), "--summary", id])
    #expect(explicit.status == 0 && auto.status == 0)
    #expect(explicit.objects.map { $0["type"] as? String } == ["state", "summary"])
    #expect(auto.objects.map { $0["type"] as? String } == ["state", "summary"])
    #expect(explicit.objects.first?["task_id"] as? String == id)
  }
}
