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
    version: TaskwatchVersion.banner
  )

  @OptionGroup(title: "Connection")
  var connection: ConnectionOptions

  @OptionGroup(title: "Keys")
  var keys: KeyOptions

  @OptionGroup(title: "Watch everything")
  var feed: FeedOptions

  @OptionGroup(title: "Waiting")
  var waiting: WaitingOptions

  @OptionGroup(title: "Output")
  var output: OutputOptions

  @OptionGroup(title: "CI reports")
  var reports: ReportOptions

  @Argument(help: ArgumentHelp("Task ids to watch; '-' reads them from standard input.", valueName: "task-id"))
  var taskIDs: [String] = []

  /// Parses the arguments and runs, with taskwatch's own wording for what
  /// the parser reports: a usage error is one `taskwatch: …` line and a
  /// pointer to `--help` on standard error (exit 64), not the parser's
  /// `Error:`/`Usage:` block; completion scripts come from
  /// ``CompletionScript``.
  static func main() {
    let arguments = Array(CommandLine.arguments.dropFirst())
    let command: TaskwatchCommand
    do {
      command = try parse(arguments)
    } catch {
      let code = exitCode(for: error)
      guard code != .success else {
        // --help, --version, --generate-completion-script.
        let text =
          CompletionScript.requestedShell(in: arguments).map(CompletionScript.generate(for:))
          ?? fullMessage(for: error)
        try? StandardStreams.writeAll(Array((text.hasSuffix("\n") ? text : text + "\n").utf8), to: STDOUT_FILENO)
        Glibc.exit(0)
      }
      StandardStreams.diagnose(UsageMessage.line(for: message(for: error)))
      try? StandardStreams.writeAll(Array("see 'taskwatch --help'\n".utf8), to: STDERR_FILENO)
      Glibc.exit(code == .validationFailure ? ExitStatus.usage.rawValue : code.rawValue)
    }
    command.run()
  }

  func validate() throws {
    // There is no help subcommand (older completion scripts offered one): say
    // so rather than watch a task named "help" until the timeout.
    if taskIDs == ["help"] { throw ValidationError("there is no 'help' command: use --help") }
    if let timeout = waiting.timeout, timeout.seconds == 0 {
      throw ValidationError(
        "--timeout 0 would not wait at all; use --once to print the current states and exit")
    }
    if connection.connectTimeout.seconds == 0 {
      throw ValidationError("--connect-timeout must be greater than 0")
    }
    if waiting.healthInterval.seconds == 0 {
      throw ValidationError("--health-interval must be greater than 0")
    }
    if feed.all && (!taskIDs.isEmpty || !keys.groups.isEmpty) {
      throw ValidationError("--all watches every task: give no task ids and no --group")
    }
    if feed.all && waiting.children {
      throw ValidationError("--children follows given tasks: --all already watches every task")
    }
    if feed.all && waiting.once { throw ValidationError("--once needs task ids: --all has nothing to look up") }
    if let count = feed.count {
      guard feed.all else { throw ValidationError("--count needs --all") }
      guard count > 0 else { throw ValidationError("--count must be greater than 0") }
    }
  }

  func run() {
    SignalTrap.install()
    let status: ExitStatus
    do {
      if feed.all {
        var plan = try makeFeedPlan()
        status = run(&plan)
      } else {
        var plan = try makeWatchPlan()
        status = run(&plan, expectedTasks: plan.taskIDs.count)
      }
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

  /// Resolves the environment and files after parsing: the watch to run.
  private func makeWatchPlan() throws -> WatchPlan {
    let configuration = try makeConfiguration()
    let naming = configuration.keyNaming
    let groupIDs = try TaskIDList.groupIDs(keys.groups, keyPrefix: naming.groupKeyPrefix)
    let ids = try TaskIDList(
      arguments: taskIDs, keyPrefix: naming.taskKeyPrefix, readStandardInput: StandardStreams.readStandardInput,
      allowEmpty: !groupIDs.isEmpty
    ).ids
    return WatchPlan(
      configuration: configuration, taskIDs: ids, groupIDs: groupIDs, timeout: waiting.timeout?.seconds,
      once: waiting.once, failFast: waiting.failFast)
  }

  /// The feed to run for `--all`.
  private func makeFeedPlan() throws -> FeedPlan {
    FeedPlan(
      configuration: try makeConfiguration(), count: feed.count, timeout: waiting.timeout?.seconds,
      failFast: waiting.failFast)
  }

  /// Runs `plan` with the output the options pick, wrapped for the reports
  /// when they need it: each combination is a specialization of its own,
  /// the writer's type known to the session.
  private func run<Plan: SessionPlan>(_ plan: inout Plan, expectedTasks: Int? = nil) -> ExitStatus {
    let requests = reports.requests(environment: Environment.value(of:))
    let streamsAreTerminals = Terminal.outputIsTerminal && isatty(STDERR_FILENO) == 1
    let heartbeat = reports.heartbeat.seconds > 0 && !streamsAreTerminals ? reports.heartbeat.seconds : nil
    let reporting = output.summary || !requests.isEmpty || waiting.failFast || heartbeat != nil
    func run<Inner: StateOutput>(_ inner: Inner) -> ExitStatus {
      guard reporting else { return plan.run(writer: inner, summary: false) }
      let writer = ReportingOutput(
        wrapping: inner, printSummary: output.summary, reports: requests, failFast: waiting.failFast,
        heartbeat: heartbeat, stepSummaryPath: Environment.value(of: "GITHUB_STEP_SUMMARY"))
      return plan.run(writer: writer, summary: output.summary || !requests.isEmpty)
    }
    switch output.makeOutput(
      outputIsTerminal: Terminal.outputIsTerminal, environment: Environment.value(of:), expectedTasks: expectedTasks)
    {
    case .ndjson(let writer): return run(writer)
    case .plain(let writer): return run(writer)
    case .terminal(let writer): return run(writer)
    }
  }

  /// The consumer's settings from the options and the environment.
  private func makeConfiguration() throws -> ConsumerConfiguration {
    let backend = try connection.resolvedBackend(environment: Environment.value(of:))
    var configuration = ConsumerConfiguration(
      backend: backend,
      keyNaming: KeyNaming(keyPrefix: keys.keyPrefix, globalKeyPrefix: keys.globalKeyPrefix),
      connectTimeout: connection.connectTimeout.seconds,
      verifyReadyMessages: !waiting.noVerify,
      reconnectPolicy: ReconnectPolicy(retryFor: waiting.retryFor.seconds),
      healthInterval: waiting.healthInterval.seconds,
      deadline: waiting.timeout.map { .after(seconds: $0.seconds) },
      isInterrupted: { SignalTrap.pending != nil },
      followChildren: waiting.children)
    configuration.pendingHintAfter = waiting.pendingHintAfter.seconds
    return configuration
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
