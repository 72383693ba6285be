import Foundation
import TaskWatch
import TestSupport
import Testing

@testable import taskwatch

/// Runs the built `taskwatch` binary against a real redis-server and checks
/// stdout lines, stderr and the exit status.
@Suite("taskwatch end to end")
struct EndToEndTests {
  let server = SharedRedis.server

  private func store(_ id: String, _ state: String) throws {
    try server.run(["SET", "celery-task-meta-\(id)", celeryMeta(id, state)])
  }

  /// Starts taskwatch, waits until it is subscribed to `id`'s channel.
  private func startWatching(_ arguments: [String], channelOf id: String) throws -> TaskwatchProcess {
    let process = try TaskwatchProcess(arguments)
    #expect(try server.waitForSubscribers(channel: "celery-task-meta-\(id)"))
    return process
  }

  @Test("stored results: snapshot lines in the order given, exit 0")
  func snapshotSuccess() throws {
    let (a, b) = (newTaskID(), newTaskID())
    try store(a, "SUCCESS")
    try store(b, "SUCCESS")
    let result = try TaskwatchProcess.run(["-u", server.url(), b, a])
    #expect(result.status == 0)
    #expect(result.stderr.isEmpty)
    let objects = result.objects
    #expect(objects.count == 2)
    #expect(objects.map { $0["task_id"] as? String } == [b, a])
    #expect(objects.allSatisfy { $0["source"] as? String == "snapshot" && $0["previous"] is NSNull })
    #expect(objects.allSatisfy { ($0["observed_at"] as? String)?.hasSuffix("Z") == true })
  }

  @Test("live transitions reach the pipe in order; FAILURE exits 1")
  func liveFailure() throws {
    let id = newTaskID()
    let process = try startWatching(["-u", server.url(), id], channelOf: id)
    #expect(process.waitForLines(1, seconds: 10))
    try server.storeAndPublish(taskID: id, json: celeryMeta(id, "STARTED"))
    #expect(process.waitForLines(2, seconds: 10))
    try server.storeAndPublish(taskID: id, json: celeryMeta(id, "FAILURE"))
    let result = try process.finish()
    #expect(result.status == 1)
    #expect(result.states(of: id) == ["PENDING", "STARTED", "FAILURE"])
    #expect(result.objects.last?["previous"] as? String == "STARTED")
    #expect(result.objects.last?["ready"] as? Bool == true)
  }

  @Test("the first line arrives on a pipe before the last task finishes")
  func streaming() throws {
    let (done, later) = (newTaskID(), newTaskID())
    try store(done, "SUCCESS")
    let process = try startWatching(["-u", server.url(), done, later], channelOf: later)
    #expect(process.waitForLines(2, seconds: 10))
    #expect(process.child.isRunning)
    try server.storeAndPublish(taskID: later, json: celeryMeta(later, "SUCCESS"))
    #expect(try process.finish().status == 0)
  }

  @Test("ids from stdin")
  func standardInput() throws {
    let ids = (0..<50).map { _ in newTaskID() }
    for id in ids { try store(id, "SUCCESS") }
    let result = try TaskwatchProcess.run(
      ["-u", server.url(), "-"], stdin: "\n" + ids.joined(separator: "\n") + "\n\n" + ids[0] + "\n")
    #expect(result.status == 0)
    #expect(result.objects.compactMap { $0["task_id"] as? String } == ids)
  }

  @Test("ids as pasted: a Python list, commas, key names from redis-cli --scan, # comments in a file")
  func pastedIDs() throws {
    let (a, b, c, d) = (newTaskID(), newTaskID(), newTaskID(), newTaskID())
    for id in [a, b, c, d] { try store(id, "SUCCESS") }
    let file = "# deploy 42\n['\(a)', '\(b)']\ncelery-task-meta-\(c)  # from redis-cli --scan\n"
    let result = try TaskwatchProcess.run(["-u", server.url(), "\(d),\(a)", "-"], stdin: file)
    #expect(result.status == 0, "\(result.stderr)")
    #expect(result.objects.compactMap { $0["task_id"] as? String } == [d, a, b, c])
    let prefixed = try TaskwatchProcess.run(
      ["-u", server.url(), "--global-keyprefix", "app", "app_celery-task-meta-\(a)", "--once"])
    #expect(prefixed.status == 124, "app_celery-task-meta-<id> is <id> under the app_ prefix: \(prefixed.stderr)")
    #expect(prefixed.objects.first?["task_id"] as? String == a)
  }

  @Test("--once prints current states: 124 with unready tasks, 0 when all succeeded")
  func once() throws {
    let (done, pending) = (newTaskID(), newTaskID())
    try store(done, "SUCCESS")
    let unready = try TaskwatchProcess.run(["-u", server.url(), "--once", done, pending])
    #expect(unready.status == 124)
    #expect(unready.states(of: pending) == ["PENDING"])
    #expect(unready.stderr.isEmpty)
    #expect(try TaskwatchProcess.run(["-u", server.url(), "--once", done]).status == 0)
  }

  @Test("--timeout with a task unready exits 124 and says so; --summary closes the stream")
  func timeoutAndSummary() throws {
    let (done, pending) = (newTaskID(), newTaskID())
    try store(done, "FAILURE")
    let result = try TaskwatchProcess.run(["-u", server.url(), "-t", "300ms", "--summary", done, pending])
    #expect(result.status == 124)
    #expect(result.stderr.contains("timed out after 300ms with 1 of 2 tasks unready"))
    let summary = try #require(result.objects.last)
    #expect(summary["type"] as? String == "summary")
    #expect(summary["total"] as? Int == 2)
    #expect(summary["unready"] as? [String] == [pending])
    #expect(summary["exit_code"] as? Int == 124)
    #expect((summary["states"] as? [String: Int]) == ["FAILURE": 1, "PENDING": 1])
  }

  @Test("--fail-fast stops at the first FAILURE with tasks still unready")
  func failFast() throws {
    let (failed, pending) = (newTaskID(), newTaskID())
    try store(failed, "REVOKED")
    let result = try TaskwatchProcess.run(["-u", server.url(), "--fail-fast", failed, pending], seconds: 10)
    #expect(result.status == 1)
  }

  @Test("--quiet prints nothing; --no-result drops result and traceback")
  func quietAndNoResult() throws {
    let id = newTaskID()
    try store(id, "SUCCESS")
    let quiet = try TaskwatchProcess.run(["-u", server.url(), "-q", id])
    #expect(quiet.status == 0 && quiet.stdout.isEmpty)
    let bare = try TaskwatchProcess.run(["-u", server.url(), "--no-result", id])
    let meta = try #require(bare.objects.first?["meta"] as? [String: Any])
    #expect(meta["result"] == nil && meta["traceback"] == nil && meta["status"] as? String == "SUCCESS")
  }

  @Test("a closed stdout (| head -n 1) ends the run quietly with 0")
  func closedPipe() throws {
    let id = newTaskID()
    // The marker file appears once head has read its line and exited.
    let marker = FileManager.default.temporaryDirectory.appendingPathComponent("taskwatch-head-\(id)")
    defer { try? FileManager.default.removeItem(at: marker) }
    let shell = try ChildProcess(
      "/bin/bash",
      [
        "-c",
        "\"$0\" -u \"$1\" \"$2\" 2>\"$3\" | { head -n 1 >/dev/null; : >\"$4\"; }; echo \"${PIPESTATUS[0]}\"",
        TaskwatchProcess.executable, server.url(), id, "/dev/stderr", marker.path,
      ])
    #expect(try server.waitForSubscribers(channel: "celery-task-meta-\(id)"))
    let headGone = Deadline.after(seconds: 10)
    while !FileManager.default.fileExists(atPath: marker.path) && !headGone.hasPassed { usleep(2_000) }
    #expect(FileManager.default.fileExists(atPath: marker.path), "head read the snapshot line and exited")
    for state in ["STARTED", "RETRY", "STARTED", "SUCCESS"] {
      try server.storeAndPublish(taskID: id, json: celeryMeta(id, state) + " ")
    }
    #expect(shell.wait(seconds: 10) == 0)
    let output = String(decoding: shell.stdout!.readDataToEndOfFile(), as: UTF8.self)
    let errors = String(decoding: shell.stderr!.readDataToEndOfFile(), as: UTF8.self)
    #expect(output == "0\n")
    #expect(errors.isEmpty)
  }

  @Test("SIGINT exits 130 and SIGTERM 143 within a second, summary still printed")
  func signals() throws {
    for (signal, status) in [(SIGINT, Int32(130)), (SIGTERM, Int32(143))] {
      let id = newTaskID()
      let process = try startWatching(["-u", server.url(), "--summary", id], channelOf: id)
      #expect(process.waitForLines(1, seconds: 10))
      let sent = Date()
      process.child.signal(signal)
      let result = try process.finish(seconds: 5)
      #expect(Date().timeIntervalSince(sent) < 1)
      #expect(result.status == status)
      #expect(result.objects.last?["type"] as? String == "summary")
      #expect(result.objects.last?["exit_code"] as? Int == Int(status))
    }
  }

  private static let pickle: [UInt8] = [0x80, 0x04, 0x95, 0x2A, 0, 0, 0, 0, 0, 0, 0]

  @Test("a pickle result is one unreadable line; the other tasks are watched to the end, then exit 65")
  func pickle() throws {
    let (pickled, done, live) = (newTaskID(), newTaskID(), newTaskID())
    try server.storeAndPublish(taskID: pickled, payload: Self.pickle)
    try store(done, "SUCCESS")
    let process = try startWatching(["-u", server.url(), "--summary", pickled, done, live], channelOf: live)
    #expect(process.waitForLines(3, seconds: 10))
    try server.storeAndPublish(taskID: live, json: celeryMeta(live, "STARTED"))
    #expect(process.waitForLines(4, seconds: 10))
    try server.storeAndPublish(taskID: live, json: celeryMeta(live, "SUCCESS"))
    let result = try process.finish()
    #expect(result.status == 65)
    let objects = result.objects
    #expect(objects.map { $0["type"] as? String } == ["unreadable", "state", "state", "state", "state", "summary"])
    let line = objects[0]
    #expect(line["task_id"] as? String == pickled && line["serializer"] as? String == "pickle")
    #expect(line["reason"] as? String == "payload looks like pickle, which taskwatch never executes")
    #expect(line["fix"] as? String == #"configure the worker with result_serializer="json" (or "msgpack")"#)
    #expect(line["ready"] as? Bool == true && line["source"] as? String == "snapshot" && line["previous"] is NSNull)
    #expect(result.states(of: done) == ["SUCCESS"])
    #expect(result.states(of: live) == ["PENDING", "STARTED", "SUCCESS"])
    let summary = objects[5]
    #expect((summary["states"] as? [String: Int]) == ["UNREADABLE": 1, "SUCCESS": 2])
    #expect(summary["unreadable"] as? [String] == [pickled] && summary["unready"] as? [String] == [])
    #expect(summary["exit_code"] as? Int == 65)
    #expect(
      result.stderr
        == "taskwatch: cannot read the stored result of task \(pickled): payload looks like pickle, which taskwatch "
        + #"never executes: configure the worker with result_serializer="json" (or "msgpack")"# + "\n")
  }

  @Test("a FAILURE outranks an unreadable result (exit 1); --timeout outranks it (124)")
  func unreadablePrecedence() throws {
    let (pickled, failed, waiting) = (newTaskID(), newTaskID(), newTaskID())
    try server.storeAndPublish(taskID: pickled, payload: Self.pickle)
    try store(failed, "FAILURE")
    let failure = try TaskwatchProcess.run(["-u", server.url(), pickled, failed])
    #expect(failure.status == 1)
    #expect(failure.objects.map { $0["type"] as? String } == ["unreadable", "state"])
    let timeout = try TaskwatchProcess.run(["-u", server.url(), "--timeout", "300ms", pickled, waiting])
    #expect(timeout.status == 124)
    let once = try TaskwatchProcess.run(["-u", server.url(), "--once", pickled])
    #expect(once.status == 65)
  }

  @Test("--fail-fast stops at the first unreadable result with 65, the others unready")
  func unreadableFailFast() throws {
    let (waiting, pickled) = (newTaskID(), newTaskID())
    try server.storeAndPublish(taskID: pickled, payload: Self.pickle)
    let result = try TaskwatchProcess.run(["-u", server.url(), "--fail-fast", "--summary", waiting, pickled])
    #expect(result.status == 65)
    #expect(result.objects.last?["unready"] as? [String] == [waiting])
    #expect(result.stderr.split(separator: "\n").count == 1 && result.stderr.contains("pickle"))
  }

  @Test("--format text shows an unreadable task as UNREADABLE with the fix")
  func unreadableText() throws {
    let (pickled, done) = (newTaskID(), newTaskID())
    try server.storeAndPublish(taskID: pickled, payload: Self.pickle)
    try store(done, "SUCCESS")
    let result = try TaskwatchProcess.run(["-u", server.url(), "--format", "text", pickled, done])
    #expect(result.status == 65)
    #expect(result.lines.first?.contains("\(pickled) UNREADABLE") == true, "\(result.stdout)")
    #expect(result.stdout.contains(#"UNREADABLE \#(pickled)  payload looks like pickle"#), "\(result.stdout)")
  }

  @Test("an unreachable server is retried for --retry-for, then exit 69 with a readable line")
  func unreachable() throws {
    let port = try FreePort.pick()
    let result = try TaskwatchProcess.run(["-u", "redis://127.0.0.1:\(port)/0", "--retry-for", "300ms", "x"])
    #expect(result.status == 69)
    let lines = result.stderr.split(separator: "\n")
    #expect(
      lines.first == "taskwatch: cannot connect to 127.0.0.1:\(port): connection refused; reconnecting (for up to 0.3s)"
    )
    #expect(
      lines.last?.hasPrefix("taskwatch: gave up after 0.3s without a working connection to 127.0.0.1:\(port)") == true)
    #expect(lines.last?.hasSuffix("last error: cannot connect to 127.0.0.1:\(port): connection refused") == true)
  }

  @Test("passwords: wrong one exits 77; the right one from file, environment or URL works")
  func passwords() throws {
    let own = try RedisServer(extraArguments: ["--requirepass", "s3cr:et"])
    let id = newTaskID()
    try own.run(["SET", "celery-task-meta-\(id)", celeryMeta(id, "SUCCESS")], password: "s3cr:et")
    let wrong = try TaskwatchProcess.run(["-u", "redis://:nope@127.0.0.1:\(own.port)/0", id])
    #expect(wrong.status == 77)
    #expect(wrong.stderr.hasPrefix("taskwatch: authentication to 127.0.0.1:\(own.port) refused"))
    #expect(!wrong.stderr.contains("nope"))
    let none = try TaskwatchProcess.run(["-u", own.url(), id])
    #expect(none.status == 77)
    #expect(try TaskwatchProcess.run(["-u", "redis://:s3cr%3Aet@127.0.0.1:\(own.port)/0", id]).status == 0)
    #expect(
      try TaskwatchProcess.run(["-u", own.url(), id], environment: ["TASKWATCH_PASSWORD": "s3cr:et"]).status == 0)
    let file = FileManager.default.temporaryDirectory.appendingPathComponent("pw-\(UUID().uuidString)")
    try "s3cr:et\n".write(to: file, atomically: true, encoding: .utf8)
    defer { try? FileManager.default.removeItem(at: file) }
    #expect(
      try TaskwatchProcess.run(
        ["-u", own.url(), "--password-file", file.path, id], environment: ["TASKWATCH_PASSWORD": "wrong"]
      ).status == 0)
    let missing = try TaskwatchProcess.run(["-u", own.url(), "--password-file", "/nonexistent/pw", id])
    #expect(missing.status == 64)
    #expect(missing.stderr.contains("cannot read password file /nonexistent/pw"))
  }

  @Test("the URL comes from --url, then TASKWATCH_URL, then CELERY_RESULT_BACKEND")
  func urlChain() throws {
    let id = newTaskID()
    try store(id, "SUCCESS")
    let dead = "redis://127.0.0.1:\(try FreePort.pick())/0"
    #expect(try TaskwatchProcess.run([id], environment: ["TASKWATCH_URL": server.url()]).status == 0)
    #expect(try TaskwatchProcess.run([id], environment: ["CELERY_RESULT_BACKEND": server.url()]).status == 0)
    #expect(
      try TaskwatchProcess.run([id], environment: ["TASKWATCH_URL": server.url(), "CELERY_RESULT_BACKEND": dead])
        .status == 0)
    #expect(try TaskwatchProcess.run(["-u", server.url(), id], environment: ["TASKWATCH_URL": dead]).status == 0)
    let bad = try TaskwatchProcess.run([id], environment: ["CELERY_RESULT_BACKEND": "rpc://"])
    #expect(bad.status == 64)
    #expect(bad.stderr.hasPrefix("taskwatch: CELERY_RESULT_BACKEND: unsupported URL scheme 'rpc://'"))
  }

  @Test(
    "usage errors exit 64 with one clear line",
    arguments: [
      (["-u", "localhost:6379", "x"], "invalid backend URL"),
      (["-u", "rediss://h:1/0", "x"], "a TLS URL needs ssl_cert_reqs"),
      (["-u", "redis://127.0.0.1:1/0", "-t", "0", "x"], "use --once"),
      (["-u", "redis://127.0.0.1:1/0", "-t", "soon", "x"], "soon"),
      (["-u", "redis://127.0.0.1:1/0"], "no task ids given"),
      (["-u", "redis://127.0.0.1:1/0", "bad\u{1}id"], #"invalid task id 'bad\u{01}id': contains a control character"#),
      (["-u", "redis://127.0.0.1:1/0", "x", ""], "invalid task id '': empty"),
      (["--bogus", "x"], "--bogus"),
      (["--fial-fast", "x"], "unknown option '--fial-fast'. Did you mean '--fail-fast'?"),
      (["--format", "yaml", "x"], "the value 'yaml' is invalid for '--format <format>'"),
      (["--count"], "missing value for '--count <n>'"),
      (["help"], "there is no 'help' command: use --help"),
      (["-u", "sentinel://127.0.0.1:1", "x"], "a sentinel:// URL needs the master's name"),
      (["-u", "redis://127.0.0.1:1/0", "--master-name", "m", "x"], "--master-name needs a sentinel:// URL"),
    ])
  func usage(arguments: [String], fragment: String) throws {
    let result = try TaskwatchProcess.run(arguments)
    #expect(result.status == 64)
    #expect(result.stderr.contains(fragment))
    #expect(result.stdout.isEmpty)
    // One `taskwatch: …` line, then at most a pointer to --help: never the
    // parser's multi-line `Error:`/`Usage:` block.
    let lines = result.stderr.split(separator: "\n", omittingEmptySubsequences: false).dropLast()
    #expect(lines.first?.hasPrefix("taskwatch: ") == true, "\(result.stderr)")
    #expect(lines.count == 1 || (lines.count == 2 && lines.last == "see 'taskwatch --help'"), "\(result.stderr)")
    #expect(!result.stderr.contains("Error:") && !result.stderr.contains("Usage:"), "\(result.stderr)")
  }

  @Test("--version and --help")
  func versionAndHelp() throws {
    let version = try TaskwatchProcess.run(["--version"])
    #expect(version.status == 0 && version.stdout == "taskwatch \(TaskwatchVersion.current)\n")
    #expect(version.stdout.wholeMatch(of: /taskwatch 0\.\d+\.\d+\n/) != nil)
    let help = try TaskwatchProcess.run(["--help"])
    #expect(help.status == 0)
    #expect(help.stdout.contains("Exit status:"))
    #expect(help.stdout.contains("124  --timeout passed"))
  }
}
