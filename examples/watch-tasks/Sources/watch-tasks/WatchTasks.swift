import Glibc
import TaskWatch

/// `watch-tasks URL TASK-ID...`: follows Celery tasks with TaskWatch's async
/// API, prints each state change as it happens, then each task's result.
///
///     $ watch-tasks redis://127.0.0.1:6379/0 6f1c2e4a-…
///     6f1c2e4a-… PENDING (snapshot)
///     6f1c2e4a-… SUCCESS (message)
///     6f1c2e4a-… SUCCESS result 5
///
/// Exit status: 0 when every task succeeded, 1 when one failed or was
/// revoked, 2 on a usage error, 3 when the watch failed (the error's code is
/// printed), 4 when the 60-second timeout passed.
@main
struct WatchTasks {
  static func main() async {
    let arguments = Array(CommandLine.arguments.dropFirst())
    guard arguments.count >= 2 else {
      say("usage: watch-tasks URL TASK-ID...")
      exit(2)
    }
    let taskIDs = Array(arguments.dropFirst())
    do throws(TaskWatchError) {
      let watcher = try makeWatcher(url: arguments[0])
      for try await event in watcher.events(for: taskIDs, timeout: .seconds(60)) {
        switch event {
        case .change(let change):
          say("\(change.taskID) \(change.state) (\(change.source.rawValue))")
        case .diagnostic(let note):
          say("note: \(note)")
        }
      }
      // Every task is ready now, so this returns at once from the stored results.
      let results = try await watcher.results(for: taskIDs, timeout: .seconds(10))
      for result in results { say(describe(result)) }
      exit(results.allSatisfy { $0.state == .success } ? 0 : 1)
    } catch {
      say("error (\(error.code)): \(error)")
      exit(error.code == .timedOut ? 4 : 3)
    }
  }

  static func makeWatcher(url: String) throws(TaskWatchError) -> TaskWatcher {
    do {
      var configuration = ConsumerConfiguration(backend: try BackendURL.parse(url))
      configuration.timing.retryFor = .seconds(10)
      return TaskWatcher(configuration: configuration)
    } catch {
      throw TaskWatchError(.invalidConfiguration, "\(error)")
    }
  }

  /// Writes one line to standard output at once (`print` would hold it in a
  /// buffer while stdout is a pipe).
  static func say(_ line: String) {
    let bytes = Array((line + "\n").utf8)
    var written = 0
    while written < bytes.count {
      let count = bytes.withUnsafeBytes { write(STDOUT_FILENO, $0.baseAddress! + written, $0.count - written) }
      guard count > 0 || errno == EINTR else { return }
      written += max(count, 0)
    }
  }

  /// One line per result: its value as JSON, or the exception.
  static func describe(_ result: TaskResult) -> String {
    if let exception = result.exception {
      return "\(result.taskID) \(result.state) exception \(exception)"
    }
    // A result that is a whole number also decodes as the caller's own type.
    if let number = try? result.result?.decode(Int.self) {
      return "\(result.taskID) \(result.state) result \(number)"
    }
    return "\(result.taskID) \(result.state) result \(result.result?.description ?? "null")"
  }
}
