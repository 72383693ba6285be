import ArgumentParser
import Glibc
import TaskWatch

/// The `taskwatch` command: watch Celery task results on Redis, print one JSON
/// line per state change, and exit when every task is ready.
@main
struct TaskwatchCommand: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "taskwatch",
    abstract: "Watch Celery task results on Redis and exit when every task is ready.",
    discussion: HelpText.discussion,
    version: HelpText.version
  )

  @OptionGroup(title: "Connection")
  var connection: ConnectionOptions

  @OptionGroup(title: "Keys")
  var keys: KeyOptions

  @OptionGroup(title: "Waiting")
  var waiting: WaitingOptions

  @OptionGroup(title: "Output")
  var output: OutputOptions

  @Argument(help: ArgumentHelp("Task ids to watch; '-' reads them from standard input.", valueName: "task-id"))
  var taskIDs: [String] = []

  func validate() throws {
    if let timeout = waiting.timeout, timeout.seconds == 0 {
      throw ValidationError(
        "--timeout 0 would not wait at all; use --once to print the current states and exit")
    }
    if connection.connectTimeout.seconds == 0 {
      throw ValidationError("--connect-timeout must be greater than 0")
    }
  }

  func run() throws {
    SignalTrap.install()
    let status: ExitStatus
    do {
      var session = try makeSession()
      status = session.run()
    } catch {
      StandardStreams.diagnose(String(describing: error))
      status = ExitStatus.forOutcome(.failed(error))
    }
    // Let the reader of our last line run first if it was woken onto this
    // CPU: tearing down the process takes it for ~1 ms (S1: the ready line
    // reached the reader 1.9 ms after the PUBLISH at p50 without this, 0.6
    // ms with it).
    sched_yield()
    // Every line went out with write(2); nothing is left to flush. Throwing
    // ExitCode instead made swift-argument-parser build the usage text on the
    // way out: ~1 ms between the last line and the exit.
    Glibc.exit(status.rawValue)
  }

  /// Resolves the environment and files after parsing and builds the session.
  private func makeSession() throws -> WatchSession {
    let backend = try connection.resolvedBackend(environment: Environment.value(of:))
    let ids = try TaskIDList(arguments: taskIDs, readStandardInput: StandardStreams.readStandardInput).ids
    var writer = NDJSONWriter()
    writer.omitResult = output.noResult
    writer.quiet = output.quiet
    let configuration = ConsumerConfiguration(
      backend: backend,
      keyNaming: KeyNaming(keyPrefix: keys.keyPrefix, globalKeyPrefix: keys.globalKeyPrefix),
      connectTimeout: connection.connectTimeout.seconds,
      verifyReadyMessages: !waiting.noVerify)
    return WatchSession(
      configuration: configuration, taskIDs: ids, timeout: waiting.timeout?.seconds, once: waiting.once,
      failFast: waiting.failFast, summary: output.summary, writer: writer)
  }
}

/// Reads environment variables.
enum Environment {
  /// The value of `name`, or `nil` when unset or empty.
  static func value(of name: String) -> String? {
    guard let raw = getenv(name) else { return nil }
    let value = String(cString: raw)
    return value.isEmpty ? nil : value
  }
}
