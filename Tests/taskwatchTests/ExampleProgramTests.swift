import Foundation
import TestSupport
import Testing

/// `examples/watch-tasks`, the small program that uses TaskWatch's async API
/// from a package of its own, run against a real redis-server.
///
/// Enabled when `TASKWATCH_EXAMPLE_BIN` names the built program:
/// `scripts/test` builds it (`scripts/check-example`, which also fails on any
/// build warning) and sets the variable.
@Suite(
  "examples/watch-tasks against a real redis-server",
  .enabled(if: ProcessInfo.processInfo.environment["TASKWATCH_EXAMPLE_BIN"] != nil))
struct ExampleProgramTests {
  let server = SharedRedis.server

  private var executable: String { ProcessInfo.processInfo.environment["TASKWATCH_EXAMPLE_BIN"]! }

  @Test("prints the snapshot, the live changes, then each result; exit 0 when all succeeded")
  func success() throws {
    let stored = UUID().uuidString
    let live = UUID().uuidString
    try server.storeAndPublish(taskID: stored, json: celeryMeta(stored, "SUCCESS", result: "5"))
    let program = try CapturedProcess(executable, [server.url(), stored, live])
    #expect(try server.waitForSubscribers(channel: "celery-task-meta-\(live)"))
    #expect(program.waitForOutput("\(live) PENDING (snapshot)", seconds: 10))
    try server.storeAndPublish(taskID: live, json: celeryMeta(live, "PROGRESS", result: #"{"current": 1}"#))
    try server.storeAndPublish(taskID: live, json: celeryMeta(live, "SUCCESS", result: #"{"rows": 3}"#))
    let run = try program.finish(seconds: 20)
    #expect(run.status == 0, "\(run.stdout)\(run.stderr)")
    #expect(
      run.lines == [
        "\(stored) SUCCESS (snapshot)", "\(live) PENDING (snapshot)", "\(live) PROGRESS (message)",
        "\(live) SUCCESS (message)", "\(stored) SUCCESS result 5", #"\#(live) SUCCESS result {"rows":3}"#,
      ])
  }

  @Test("a FAILURE prints the exception and exits 1")
  func failure() throws {
    let id = UUID().uuidString
    let exception = #"{"exc_type": "ValueError", "exc_message": ["boom"], "exc_module": "builtins"}"#
    try server.storeAndPublish(taskID: id, json: celeryMeta(id, "FAILURE", result: exception))
    let run = try CapturedProcess(executable, [server.url(), id]).finish(seconds: 20)
    #expect(run.status == 1)
    #expect(run.lines.last == "\(id) FAILURE exception ValueError: boom")
  }

  @Test("an unreachable server ends with the error's code after the retry budget")
  func unavailable() throws {
    let port = try FreePort.pick()
    let run = try CapturedProcess(executable, ["redis://127.0.0.1:\(port)/0", UUID().uuidString]).finish(seconds: 30)
    #expect(run.status == 3)
    #expect(run.lines.first?.hasPrefix("note: cannot connect to 127.0.0.1:\(port)") == true)
    #expect(run.lines.last?.hasPrefix("error (unavailable): gave up after") == true)
  }
}
