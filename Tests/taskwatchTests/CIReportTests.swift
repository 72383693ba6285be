import Foundation
import TaskWatch
import TestSupport
import Testing

/// What a CI job gets besides the exit status: the `--summary` line with the
/// failures, JUnit XML (read back with Python's xml.etree), GitHub
/// annotations and step summary, the heartbeat, and `--fail-fast` naming
/// the task.
@Suite("CI reports")
struct CIReportTests {
  let server = SharedRedis.server

  private func store(_ id: String, _ state: String, result: String = "null", name: String? = nil) throws {
    let traceback =
      state == "FAILURE" ? #""Traceback (most recent call last):\n  File \"t.py\", line 3\nValueError: boom""# : "null"
    let extended = name.map { #", "name": "\#($0)""# } ?? ""
    try server.run([
      "SET", "celery-task-meta-\(id)",
      #"{"status": "\#(state)", "result": \#(result), "traceback": \#(traceback), "children": [], "date_done": null, "task_id": "\#(id)"\#(extended)}"#,
    ])
  }

  private static let exception =
    #"{"exc_type": "ValueError", "exc_message": ["boom <&>", 2], "exc_module": "builtins"}"#

  private func temporaryFile(_ name: String) -> URL {
    FileManager.default.temporaryDirectory.appendingPathComponent("taskwatch-\(UUID().uuidString)-\(name)")
  }

  @Test("--summary lists each task that did not succeed: id, state, name, exc_type, exc_message as text")
  func summaryListsFailures() throws {
    let (ok, bad, pending) = (newTaskID(), newTaskID(), newTaskID())
    try store(ok, "SUCCESS", name: "tasks.add")
    try store(bad, "FAILURE", result: Self.exception, name: "tasks.fail")
    let result = try TaskwatchProcess.run(["-u", server.url(), "--summary", "-t", "500ms", ok, bad, pending])
    #expect(result.status == 124)
    let summary = try #require(result.objects.last)
    #expect(summary["type"] as? String == "summary")
    let problems = try #require(summary["not_succeeded"] as? [[String: Any]])
    #expect(problems.count == 2)
    #expect(problems[0]["task_id"] as? String == bad)
    #expect(problems[0]["state"] as? String == "FAILURE")
    #expect(problems[0]["name"] as? String == "tasks.fail")
    #expect(problems[0]["exc_type"] as? String == "ValueError")
    #expect(problems[0]["exc_message"] as? String == "boom <&>, 2")
    #expect(problems[1]["task_id"] as? String == pending)
    #expect(problems[1]["state"] as? String == "PENDING")
    #expect(problems[1]["name"] == nil && problems[1]["exc_type"] == nil)
  }

  @Test("--summary with --format text ends with the summary's lines")
  func textSummary() throws {
    let (ok, bad) = (newTaskID(), newTaskID())
    try store(ok, "SUCCESS")
    try store(bad, "FAILURE", result: Self.exception, name: "tasks.fail")
    let result = try TaskwatchProcess.run(["-u", server.url(), "--summary", "--format", "text", ok, bad])
    #expect(result.status == 1)
    let lines = result.lines
    let start = try #require(lines.firstIndex { $0.hasPrefix("summary: 2 tasks (1 FAILURE, 1 SUCCESS), ") })
    #expect(lines[start].hasSuffix(", exit 1"))
    #expect(lines[(start + 1)...] == ["  FAILURE tasks.fail[\(bad)]  ValueError: boom <&>, 2"])
  }

  /// The JUnit file as Python's xml.etree reads it, as JSON.
  private func parseJUnit(_ file: URL) throws -> [String: Any] {
    let script = """
      import json, sys, xml.etree.ElementTree as ET
      root = ET.parse(sys.argv[1]).getroot()
      suites = root.findall('testsuite')
      out = {"root": root.tag, "suites": len(suites), "attrs": dict(suites[0].attrib), "cases": []}
      for case in suites[0].findall('testcase'):
          entry = {"name": case.get("name"), "classname": case.get("classname"), "time": float(case.get("time"))}
          for kind in ("failure", "error", "skipped"):
              child = case.find(kind)
              if child is not None:
                  entry[kind] = {"type": child.get("type"), "message": child.get("message"), "text": child.text}
          out["cases"].append(entry)
      print(json.dumps(out))
      """
    let python = Repository.url(".venv/bin/python3").path
    let interpreter =
      FileManager.default.isExecutableFile(atPath: python) ? python : try ShellCommand.path(of: "python3")
    let parsed = try ShellCommand.run(interpreter, ["-c", script, file.path])
    try #require(parsed.status == 0, "xml.etree could not read the report: \(parsed.stderr)")
    return try #require(try JSONSerialization.jsonObject(with: Data(parsed.stdout.utf8)) as? [String: Any])
  }

  @Test("--report junit=FILE: one testsuite, a testcase per task, failure with traceback, error for unready")
  func junit() throws {
    let (ok, bad, pending) = (newTaskID(), newTaskID(), newTaskID())
    try store(ok, "SUCCESS", name: "tasks.add")
    try store(bad, "FAILURE", result: Self.exception, name: "tasks.fail")
    let file = temporaryFile("junit.xml")
    defer { try? FileManager.default.removeItem(at: file) }
    let process = try TaskwatchProcess([
      "-u", server.url(), "--report", "junit=\(file.path)", "-t", "2s", ok, bad, pending,
    ])
    #expect(try server.waitForSubscribers(channel: "celery-task-meta-\(pending)"))
    usleep(300_000)
    try server.storeAndPublish(
      taskID: pending,
      json:
        #"{"status": "REVOKED", "result": {"exc_type": "TaskRevokedError", "exc_message": ["revoked"]}, "traceback": null, "children": [], "date_done": null, "task_id": "\#(pending)"}"#
    )
    let result = try process.finish()
    #expect(result.status == 1, "\(result.stderr)")
    let report = try parseJUnit(file)
    #expect(report["root"] as? String == "testsuites")
    #expect(report["suites"] as? Int == 1)
    let attributes = try #require(report["attrs"] as? [String: String])
    #expect(attributes["tests"] == "3" && attributes["failures"] == "2" && attributes["errors"] == "0")
    let cases = try #require(report["cases"] as? [[String: Any]])
    #expect(cases.map { $0["name"] as? String } == ["tasks.add[\(ok)]", "tasks.fail[\(bad)]", pending])
    #expect(cases[0]["failure"] == nil && cases[0]["error"] == nil)
    let failure = try #require(cases[1]["failure"] as? [String: Any])
    #expect(failure["type"] as? String == "ValueError")
    #expect(failure["message"] as? String == "ValueError: boom <&>, 2")
    #expect((failure["text"] as? String)?.hasSuffix("\nValueError: boom") == true)
    let revoked = try #require(cases[2]["failure"] as? [String: Any])
    #expect(revoked["type"] as? String == "TaskRevokedError")
    // Time from the start of the watch to ready: the revoked task waited for its message.
    #expect((cases[2]["time"] as? Double ?? 0) >= 0.2, "\(cases[2])")
    #expect((cases[0]["time"] as? Double ?? 1) < 0.5)
  }

  @Test("an unreadable result: UNREADABLE in --summary's not_succeeded, an <error> in JUnit, an ::error for GitHub")
  func unreadable() throws {
    let (ok, pickled) = (newTaskID(), newTaskID())
    try store(ok, "SUCCESS")
    try server.storeAndPublish(taskID: pickled, payload: [0x80, 0x04, 0x95, 0x2A, 0, 0, 0, 0, 0, 0, 0])
    let file = temporaryFile("junit.xml")
    defer { try? FileManager.default.removeItem(at: file) }
    let result = try TaskwatchProcess.run([
      "-u", server.url(), "--summary", "--report", "junit=\(file.path)", "--report", "github", ok, pickled,
    ])
    #expect(result.status == 65, "\(result.stderr)")
    let summary = try #require(result.objects.last)
    let problems = try #require(summary["not_succeeded"] as? [[String: Any]])
    #expect(problems.count == 1)
    #expect(problems.first?["task_id"] as? String == pickled && problems.first?["state"] as? String == "UNREADABLE")
    #expect((problems.first?["reason"] as? String)?.contains(#"result_serializer="json""#) == true)
    let report = try parseJUnit(file)
    let attributes = try #require(report["attrs"] as? [String: String])
    #expect(attributes["tests"] == "2" && attributes["failures"] == "0" && attributes["errors"] == "1")
    let cases = try #require(report["cases"] as? [[String: Any]])
    let error = try #require(cases.last?["error"] as? [String: Any])
    #expect(error["type"] as? String == "UNREADABLE")
    #expect(
      (error["message"] as? String)?.hasPrefix("cannot read the stored result: payload looks like pickle") == true)
    #expect(
      result.stderr.split(separator: "\n").contains {
        $0.hasPrefix("::error title=Celery task result unreadable::\(pickled) UNREADABLE: payload looks like pickle")
      }, "\(result.stderr)")
  }

  @Test("the JUnit report is written whatever the exit: 124 with unready tasks, 69 without Redis")
  func junitOnEveryExit() throws {
    let pending = newTaskID()
    let file = temporaryFile("junit.xml")
    defer { try? FileManager.default.removeItem(at: file) }
    let timedOut = try TaskwatchProcess.run([
      "-u", server.url(), "--report", "junit=\(file.path)", "-t", "300ms", pending,
    ])
    #expect(timedOut.status == 124)
    var cases = try #require(try parseJUnit(file)["cases"] as? [[String: Any]])
    #expect((cases.first?["error"] as? [String: Any])?["type"] as? String == "PENDING")
    try FileManager.default.removeItem(at: file)
    let down = try TaskwatchProcess.run([
      "-u", "redis://127.0.0.1:\(try FreePort.pick())/0", "--report", "junit=\(file.path)", "-t", "500ms", pending,
    ])
    #expect(down.status == 69)
    cases = try #require(try parseJUnit(file)["cases"] as? [[String: Any]])
    #expect(cases.count == 1 && cases.first?["error"] != nil)
  }

  @Test("GITHUB_ACTIONS=true: an ::error line per failed task, and a Markdown table in GITHUB_STEP_SUMMARY")
  func github() throws {
    let (ok, bad) = (newTaskID(), newTaskID())
    try store(ok, "SUCCESS")
    try store(
      bad, "FAILURE", result: #"{"exc_type": "KeyError", "exc_message": ["a,b: 100%\nnext"]}"#, name: "tasks.fail")
    let stepSummary = temporaryFile("step-summary.md")
    try "# earlier step\n".write(to: stepSummary, atomically: true, encoding: .utf8)
    defer { try? FileManager.default.removeItem(at: stepSummary) }
    let result = try TaskwatchProcess.run(
      ["-u", server.url(), ok, bad], environment: ["GITHUB_ACTIONS": "true", "GITHUB_STEP_SUMMARY": stepSummary.path])
    #expect(result.status == 1)
    let annotations = result.stderr.split(separator: "\n").filter { $0.hasPrefix("::") }
    #expect(
      annotations == ["::error title=Celery task FAILURE::tasks.fail[\(bad)] FAILURE: KeyError: a,b: 100%25%0Anext"])
    let markdown = try String(contentsOf: stepSummary, encoding: .utf8)
    #expect(
      markdown.hasPrefix("# earlier step\n### taskwatch: 2 tasks (1 FAILURE, 1 SUCCESS), exit 1\n"), "\(markdown)")
    #expect(
      markdown.contains(
        "| task | state | error |\n|---|---|---|\n| tasks.fail[\(bad)] | FAILURE | KeyError: a,b: 100% next |"))
    // Outside GitHub Actions, only --report github turns it on.
    let plain = try TaskwatchProcess.run(["-u", server.url(), ok, bad])
    #expect(!plain.stderr.contains("::error"))
    let asked = try TaskwatchProcess.run(["-u", server.url(), "--report", "github", ok, bad])
    #expect(asked.stderr.contains("::error title=Celery task FAILURE::"))
  }

  @Test("a heartbeat on stderr when nothing changes and the streams are not terminals; --heartbeat 0 turns it off")
  func heartbeat() throws {
    let (pending, progress) = (newTaskID(), newTaskID())
    try store(progress, "PROGRESS", result: #"{"current": 1, "total": 3}"#)
    let result = try TaskwatchProcess.run(["-u", server.url(), "--heartbeat", "1s", "-t", "3s", pending, progress])
    #expect(result.status == 124)
    let beats = result.stderr.split(separator: "\n").filter { $0.hasPrefix("taskwatch: still waiting") }
    #expect((2...3).contains(beats.count), "\(result.stderr)")
    #expect(beats.first == "taskwatch: still waiting: 2 unready (1 PENDING, 1 PROGRESS)")
    let quiet = try TaskwatchProcess.run(["-u", server.url(), "--heartbeat", "0", "-t", "1500ms", pending])
    #expect(!quiet.stderr.contains("still waiting"), "\(quiet.stderr)")
  }

  @Test("--fail-fast says on stderr which task failed")
  func failFastNamesTheTask() throws {
    let (bad, pending) = (newTaskID(), newTaskID())
    try store(bad, "FAILURE", result: Self.exception, name: "tasks.fail")
    let result = try TaskwatchProcess.run(["-u", server.url(), "--fail-fast", pending, bad])
    #expect(result.status == 1)
    #expect(result.stderr == "taskwatch: --fail-fast: tasks.fail[\(bad)] FAILURE: ValueError: boom <&>, 2\n")
  }
}
