import Foundation
import TestSupport

/// The Python side of ``ClusterCeleryTests``: the venv `.venv-cluster` made
/// by `scripts/setup-cluster-python` (Celery, redis-py and
/// `celery-redis-cluster` as pinned in `scripts/requirements-cluster.txt`)
/// and the scripts in `Tests/ClusterCelery`.
enum ClusterCelery {
  /// The venv's interpreter.
  static let python = Repository.url(".venv-cluster/bin/python").path
  /// Where `clusterapp.py` and the scripts are.
  static let scripts = Repository.url("Tests/ClusterCelery").path

  /// True when `scripts/setup` made the venv, or under CI (`CI` set), where
  /// a missing venv must fail the tests rather than skip them.
  static var shouldRun: Bool {
    FileManager.default.isExecutableFile(atPath: python) || ProcessInfo.processInfo.environment["CI"] != nil
  }

  /// How many tasks the worker test sends: `TASKWATCH_CLUSTER_CELERY_TASKS`,
  /// else 2,000 (about 10 s of a solo worker here; 10,000 take about 50 s).
  static var taskCount: Int {
    ProcessInfo.processInfo.environment["TASKWATCH_CLUSTER_CELERY_TASKS"].flatMap { Int($0) } ?? 2_000
  }

  /// The environment the app reads: its broker and its result backend.
  static func environment(broker: String, results: String) -> [String: String] {
    var environment = ProcessInfo.processInfo.environment
    environment.merge([
      "CLUSTER_BROKER_URL": broker, "CLUSTER_RESULT_BACKEND": results, "PYTHONPATH": scripts,
      "PYTHONDONTWRITEBYTECODE": "1",
    ]) { $1 }
    return environment
  }

  /// Runs `Tests/ClusterCelery/<script>` with the venv's Python to its end.
  static func run(
    _ script: String, _ arguments: [String], stdin: String? = nil, environment: [String: String],
    seconds: Double = 60
  ) throws -> CapturedProcess.Result {
    try start(script, arguments, stdin: stdin, environment: environment).finish(seconds: seconds)
  }

  /// Starts one of the scripts beside clusterapp.py; `finish(seconds:)` waits for it.
  static func start(
    _ script: String, _ arguments: [String], stdin: String? = nil, environment: [String: String]
  ) throws -> CapturedProcess {
    try CapturedProcess(python, ["\(scripts)/\(script)"] + arguments, stdin: stdin, environment: environment)
  }
}

/// A `celery -A clusterapp worker` (solo pool: one process, no children),
/// logging to a file of its own, stopped by its PID.
final class ClusterCeleryWorker {
  private let process: ChildProcess
  private let log: URL

  /// Starts the worker with `environment` (see ``ClusterCelery/environment(broker:results:)``).
  init(environment: [String: String]) throws {
    log = FileManager.default.temporaryDirectory.appendingPathComponent("taskwatch-cluster-worker-\(UUID()).log")
    process = try ChildProcess(
      Repository.url(".venv-cluster/bin/celery").path,
      [
        "-A", "clusterapp", "worker", "--pool", "solo", "-n", "cluster-\(UUID())@taskwatch", "--without-gossip",
        "--without-mingle", "--without-heartbeat", "--loglevel", "INFO", "--logfile", log.path,
      ], environment: environment, captureOutput: false)
  }

  /// The worker's log so far.
  var logText: String { (try? String(contentsOf: log, encoding: .utf8)) ?? "" }

  /// Waits until the worker logs that it is ready to take tasks.
  func waitUntilReady(seconds: Double = 30) throws {
    let deadline = Date().addingTimeInterval(seconds)
    while Date() < deadline {
      if logText.contains(" ready.") { return }
      if !process.isRunning { throw TestSupportError("the Celery worker exited: \(logText)") }
      usleep(50_000)
    }
    throw TestSupportError("the Celery worker was not ready within \(seconds) s: \(logText)")
  }

  /// Stops the worker (SIGTERM, a warm shutdown; SIGKILL after 10 s) and
  /// removes its log.
  func stop() {
    process.signal(SIGTERM)
    if process.wait(seconds: 10) == nil {
      process.signal(SIGKILL)
      _ = process.wait(seconds: 5)
    }
    try? FileManager.default.removeItem(at: log)
  }
}
