import Foundation
import TaskWatch
import TestSupport
import Testing

/// The human view end to end: the live table in a real terminal (tmux), plain
/// lines on a pipe, and NDJSON unchanged with `--format json`.
@Suite("Text view end to end")
struct TextViewEndToEndTests {
  let server = SharedRedis.server

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
    let id = newTaskID()
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

  /// Stores `count` tasks the way a busy deploy looks: done long ago,
  /// failed, started, reporting progress, and queued. Returns the ids.
  private func storeBusyDeploy(count: Int = 300) throws -> [String] {
    let ids = (0..<count).map { _ in newTaskID() }
    let connection = try server.connection()
    for (index, id) in ids.enumerated() {
      let json: String
      switch index {
      case 0..<126:
        json =
          #"{"status": "SUCCESS", "result": \#(index), "traceback": null, "children": [], "date_done": "2026-01-01T00:00:00+00:00", "task_id": "\#(id)", "name": "tasks.add"}"#
      case 126..<128:
        json =
          #"{"status": "FAILURE", "result": {"exc_type": "ValueError", "exc_message": ["bad row \#(index)"]}, "traceback": null, "children": [], "date_done": null, "task_id": "\#(id)", "name": "tasks.import_csv"}"#
      case 128..<148:
        json =
          #"{"status": "STARTED", "result": {"pid": 1}, "traceback": null, "children": [], "date_done": null, "task_id": "\#(id)"}"#
      case 148..<150: json = progress(id, index - 147, of: 4)
      default: continue
      }
      connection.append(["SET", "celery-task-meta-\(id)", json])
    }
    try connection.flush(until: .after(seconds: 10))
    _ = try connection.replies(count: 150, until: .after(seconds: 10), operation: "SET")
    return ids
  }

  @Test("300 tasks at 80x24: frames of at most 23 lines redrawn in place, the scrollback does not grow")
  func manyTasksInPlace() throws {
    guard Tmux.isInstalled else {
      Issue.record("tmux is not installed (run scripts/setup)")
      return
    }
    let ids = try storeBusyDeploy()
    let file = FileManager.default.temporaryDirectory.appendingPathComponent("taskwatch-300-\(UUID().uuidString)")
    try ids.joined(separator: "\n").write(to: file, atomically: true, encoding: .utf8)
    defer { try? FileManager.default.removeItem(at: file) }
    let tmux = Tmux()
    try tmux.start(
      // No PENDING hint: on a loaded machine it could land (a line above the
      // table, as it should) before "waited 4s" is seen.
      "env TERM=xterm-256color '\(TaskwatchProcess.executable)' -u '\(server.url())' -t 60 --pending-hint-after off "
        + "- < '\(file.path)'",
      width: 80, height: 24)
    let first = try tmux.waitForScreen(containing: ["300 tasks", "waited 1s"])
    let history = try tmux.historySize()
    // At least three redraws (the clock ticks every second) and one transition.
    try server.storeAndPublish(taskID: ids[200], json: progress(ids[200], 1, of: 2))
    let later = try tmux.waitForScreen(containing: ["waited 4s"])
    #expect(try tmux.historySize() == history, "the scrollback grew while the table was live")
    #expect(history == 0, "the first frame fitted the screen")
    for screen in [first, later] {
      let lines = screen.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
      let drawn = lines.filter { !$0.isEmpty }
      #expect(drawn.count <= 23, "\(screen)")
      #expect(drawn.allSatisfy { $0.count < 80 }, "\(screen)")
      #expect(drawn.first?.hasPrefix("TASK ") == true, "\(screen)")
      // Failures, then the running tasks (reporting ones first), then the counted rest.
      #expect(drawn[1].hasPrefix("tasks.import_csv ") && drawn[1].contains("FAILURE  "), "\(screen)")
      #expect(drawn[1].hasSuffix("ValueError: bad row 126"), "\(screen)")
      #expect(drawn[3].contains(" PROGRESS "), "\(screen)")
      #expect(drawn[drawn.count - 2].contains("pending, +126 done"), "\(screen)")
      #expect(drawn.last?.hasPrefix("300 tasks: 2 FAILURE, ") == true, "\(screen)")
      #expect(drawn.last?.contains("  waited ") == true, "\(screen)")
    }
    #expect(later.contains("+149 pending, +126 done"), "one pending task became PROGRESS:\n\(later)")
  }

  @Test("a task already done when the watch starts shows its own age")
  func ageOfDoneTasks() throws {
    guard Tmux.isInstalled else {
      Issue.record("tmux is not installed (run scripts/setup)")
      return
    }
    let id = newTaskID()
    try server.run([
      "SET", "celery-task-meta-\(id)",
      #"{"status": "SUCCESS", "result": "s3://reports/1.pdf", "traceback": null, "children": [], "date_done": "2026-01-01T00:00:00+00:00", "task_id": "\#(id)", "name": "tasks.report"}"#,
    ])
    let pending = newTaskID()
    let tmux = Tmux()
    try tmux.start(
      "env TERM=xterm-256color '\(TaskwatchProcess.executable)' -u '\(server.url())' -t 30 \(id) \(pending)",
      width: 100, height: 20)
    let screen = try tmux.waitForScreen(containing: ["tasks.report \(id.prefix(8))", " ago  s3://reports/1.pdf"])
    #expect(screen.contains(" ago  s3://reports/1.pdf"), "\(screen)")
    #expect(screen.contains("d"), "months ago, in days:\n\(screen)")
  }

  @Test("TERM=dumb gets plain lines, no cursor movement")
  func dumbTerminal() throws {
    guard Tmux.isInstalled else {
      Issue.record("tmux is not installed (run scripts/setup)")
      return
    }
    let id = newTaskID()
    try server.run(["SET", "celery-task-meta-\(id)", finished(id, "SUCCESS")])
    let log = FileManager.default.temporaryDirectory.appendingPathComponent("taskwatch-dumb-\(UUID().uuidString)")
    defer { try? FileManager.default.removeItem(at: log) }
    let tmux = Tmux()
    // script(1) records every byte written to the terminal.
    try tmux.start(
      "env TERM=dumb script -q -c \"'\(TaskwatchProcess.executable)' -u '\(server.url())' \(id)\" '\(log.path)'; sleep 30",
      width: 80, height: 24)
    let screen = try tmux.waitForScreen(containing: ["1 task: 1 SUCCESS"])
    #expect(screen.contains(" \(id) SUCCESS"), "\(screen)")
    let bytes = try Data(contentsOf: log)
    #expect(
      !bytes.contains(0x1B),
      "escape sequences on a dumb terminal: \(String(decoding: bytes, as: UTF8.self).debugDescription)")
  }

  @Test("the footer counts the ids given while connecting, and says so while reconnecting")
  func connectionInFooter() throws {
    guard Tmux.isInstalled else {
      Issue.record("tmux is not installed (run scripts/setup)")
      return
    }
    let closed = Tmux()
    try closed.start(
      "env TERM=xterm-256color '\(TaskwatchProcess.executable)' -u redis://127.0.0.1:\(try FreePort.pick())/0 -t 20 a b c",
      width: 80, height: 24)
    let connecting = try closed.waitForScreen(containing: ["3 tasks: connecting  waited"])
    #expect(connecting.contains("3 tasks: connecting  waited"), "\(connecting)")

    let proxy = try FaultProxy(upstreamPort: server.port)
    let id = newTaskID()
    let tmux = Tmux()
    try tmux.start(
      "env TERM=xterm-256color '\(TaskwatchProcess.executable)' -u '\(proxy.url())' -t 30 \(id)", width: 80, height: 24)
    _ = try tmux.waitForScreen(containing: ["1 task: 1 PENDING"])
    proxy.setMode(.refuse)
    let lost = try tmux.waitForScreen(containing: ["reconnecting  1 task: 1 PENDING"])
    #expect(lost.contains("reconnecting  1 task: 1 PENDING"), "\(lost)")
    proxy.setMode(.forward)
    let back = try tmux.waitForScreen {
      $0.contains("reconnected") && $0.contains("1 task: 1 PENDING") && !$0.contains("reconnecting  1 task")
    }
    #expect(back.contains("1 task: 1 PENDING"), "\(back)")
  }

  @Test("--format text to a pipe: one plain line per transition, no escape codes, failures listed at the end")
  func plainLines() throws {
    let (ok, bad) = (newTaskID(), newTaskID())
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
    let id = newTaskID()
    try server.run(["SET", "celery-task-meta-\(id)", finished(id, "SUCCESS")])
    let result = try TaskwatchProcess.run(
      ["-u", server.url(), "--format", "text", "--color", "always", id], environment: ["NO_COLOR": "1"])
    #expect(result.status == 0)
    #expect(result.stdout.contains("\u{1B}[32mSUCCESS"))
  }

  @Test("--format json and the default on a pipe print the same NDJSON")
  func jsonUnchanged() throws {
    let id = newTaskID()
    try server.run(["SET", "celery-task-meta-\(id)", finished(id, "SUCCESS")])
    let explicit = try TaskwatchProcess.run(["-u", server.url(), "--format", "json", "--summary", id])
    let auto = try TaskwatchProcess.run(["-u", server.url(), "--summary", id])
    #expect(explicit.status == 0 && auto.status == 0)
    #expect(explicit.objects.map { $0["type"] as? String } == ["state", "summary"])
    #expect(auto.objects.map { $0["type"] as? String } == ["state", "summary"])
    #expect(explicit.objects.first?["task_id"] as? String == id)
  }
}
