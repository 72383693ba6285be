import Foundation
import TaskWatch
import TestSupport
import Testing

/// Exits that say what happened: Redis that was never reachable, or not at
/// the deadline, is 69 with the last connection error, never 124 ("tasks
/// slow"); `--once` is one look.
@Suite("Honest exits")
struct HonestExitTests {
  private func closedPortURL() throws -> String {
    "redis://127.0.0.1:\(try FreePort.pick())/0"
  }

  private func seconds(since start: Date) -> Double { Date().timeIntervalSince(start) }

  @Test("never connected at --timeout: 69 with the last connection error, at the deadline")
  func neverConnected() throws {
    let started = Date()
    let result = try TaskwatchProcess.run(["-u", try closedPortURL(), "--timeout", "2s", "x"])
    let elapsed = seconds(since: started)
    #expect(result.status == 69, "\(result.stderr)")
    #expect(elapsed >= 1.9 && elapsed < 4, "\(elapsed) s")
    let last = result.stderr.split(separator: "\n").last.map(String.init) ?? ""
    #expect(last.hasPrefix("taskwatch: timed out after 2s without ever connecting; last error: cannot connect to"))
    #expect(last.hasSuffix("connection refused"), "\(result.stderr)")
  }

  @Test("--all that never connected: 69 at --timeout, not 0")
  func feedNeverConnected() throws {
    let result = try TaskwatchProcess.run(["-u", try closedPortURL(), "--all", "--timeout", "1s"])
    #expect(result.status == 69, "\(result.stderr)")
    #expect(result.stderr.contains("connection refused"))
  }

  @Test("--once against a closed port: one attempt, then 69 (no 30 s of retries)")
  func onceIsOneLook() throws {
    let started = Date()
    let result = try TaskwatchProcess.run(["-u", try closedPortURL(), "--once", "x"])
    #expect(result.status == 69, "\(result.stderr)")
    #expect(seconds(since: started) < 3, "\(seconds(since: started)) s")
    #expect(result.stderr.hasPrefix("taskwatch: cannot look up the tasks (--once): cannot connect to "))
    #expect(result.stderr.hasSuffix(": connection refused\n"), "\(result.stderr)")
    #expect(
      result.stderr.split(separator: "\n").count == 1, "no 'reconnecting' line for a single look: \(result.stderr)")
    #expect(result.stdout.isEmpty)
  }

  @Test("connected, then Redis gone at the deadline: 69 'while disconnected', with the last error")
  func outageAtDeadline() throws {
    let server = SharedRedis.server
    let proxy = try FaultProxy(upstreamPort: server.port)
    let id = UUID().uuidString.lowercased()
    let process = try TaskwatchProcess(["-u", proxy.url(), "--timeout", "3s", id])
    #expect(try server.waitForSubscribers(channel: "celery-task-meta-\(id)"))
    #expect(process.waitForLines(1, seconds: 10))
    proxy.setMode(.refuse)
    let result = try process.finish(seconds: 10)
    #expect(result.status == 69, "\(result.stderr)")
    #expect(result.stderr.contains("timed out after 3s while disconnected; last error:"), "\(result.stderr)")
  }

  @Test("--group with Redis down: 69 at --timeout and for --once, not 'not saved' (124)")
  func groupsWithoutRedis() throws {
    let url = try closedPortURL()
    let started = Date()
    let timedOut = try TaskwatchProcess.run(["-u", url, "--group", "g", "--timeout", "1s"])
    #expect(timedOut.status == 69, "\(timedOut.stderr)")
    #expect(timedOut.stderr.contains("timed out after 1s without ever connecting; last error:"), "\(timedOut.stderr)")
    #expect(seconds(since: started) < 3)
    let once = try TaskwatchProcess.run(["-u", url, "--group", "g", "--once"])
    #expect(once.status == 69, "\(once.stderr)")
    #expect(once.stderr.hasPrefix("taskwatch: cannot look up the tasks (--once): "), "\(once.stderr)")
  }

  @Test("a slow task with Redis up is still 124")
  func slowTaskIsStill124() throws {
    let result = try TaskwatchProcess.run(["-u", SharedRedis.server.url(), "--timeout", "300ms", "never-done"])
    #expect(result.status == 124, "\(result.stderr)")
  }
}
