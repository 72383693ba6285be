import Foundation
import TestSupport
import Testing

/// One run of ``ClusterCeleryTests``: a broker of its own, a Celery worker
/// storing on `cluster`, and taskwatch following `ids`, which are sent in
/// two halves: the first, then (once taskwatch has printed a SUCCESS from
/// the worker) the second, then `midway` runs while the worker still has
/// most of the second half to store.
struct ClusterCeleryRun {
  /// taskwatch's output.
  let result: CapturedProcess.Result
  /// Every task's states in the order printed.
  let states: [String: [String]]
  /// The worker's log, for failure messages.
  let workerLog: String

  init(cluster: RedisClusterFixture, ids: [String], midway: () throws -> Void = {}) throws {
    let broker = try RedisServer()
    defer { broker.stop() }
    let environment = ClusterCelery.environment(broker: broker.url(), results: cluster.url(seeds: 1))
    let worker = try ClusterCeleryWorker(environment: environment)
    defer { worker.stop() }
    try worker.waitUntilReady()
    // One solo worker leaves tasks queued for longer than the PENDING hint's 10 s.
    let process = try TaskwatchProcess(
      [
        "-u", cluster.url(seeds: 3), "-t", "\(60 + ids.count / 50)s", "--retry-for", "40s",
        "--pending-hint-after", "off", "--summary", "-",
      ], stdin: ids.joined(separator: "\n"))
    // The snapshot's PENDING lines come after the subscription is confirmed.
    #expect(process.waitForLines(ids.count, seconds: 60), "\(process.stderrSoFar)")
    let half = ids.count / 2
    try Self.send(ids[..<half], environment: environment)
    #expect(process.waitForOutput(#""state":"SUCCESS""#, seconds: 60), "\(worker.logText.suffix(2_000))")
    // `midway` runs while the worker is still storing: the first half's
    // results are going in, the second half is being sent. Run after the
    // second half was sent, it came too late on a loaded machine (the
    // worker had stored every result, so the master killed there saw none).
    let sending = try Self.startSending(ids[half...], environment: environment)
    try midway()
    Self.expectSent(try sending.finish(seconds: 120), count: ids.count - half)
    result = try process.finish(seconds: Double(90 + ids.count / 50))
    workerLog = worker.logText
    var states: [String: [String]] = [:]
    for object in result.objects where object["type"] as? String == "state" {
      if let id = object["task_id"] as? String, let state = object["state"] as? String {
        states[id, default: []].append(state)
      }
    }
    self.states = states
  }

  /// The ids whose states are not exactly `expected`, and one of them with its states.
  func tasks(in ids: [String], notPrinting expected: [String]) -> (count: Int, example: String) {
    let wrong = ids.filter { states[$0] != expected }
    return (wrong.count, wrong.first.map { "\($0): \(states[$0] ?? [])" } ?? "")
  }

  /// Sends `clusterapp.add(i, 1)` for each id, `i` its position in `ids`.
  private static func send(_ ids: ArraySlice<String>, environment: [String: String]) throws {
    expectSent(try startSending(ids, environment: environment).finish(seconds: 120), count: ids.count)
  }

  /// Starts sending `clusterapp.add(i, 1)` for each id (see ``send(_:environment:)``).
  private static func startSending(_ ids: ArraySlice<String>, environment: [String: String]) throws
    -> CapturedProcess
  {
    try ClusterCelery.start("send_tasks.py", [], stdin: ids.joined(separator: "\n"), environment: environment)
  }

  /// Checks that the sender sent `count` tasks.
  private static func expectSent(_ sent: CapturedProcess.Result, count: Int) {
    #expect(sent.status == 0 && sent.stdout == "\(count)\n", "\(sent.stderr)")
  }
}
