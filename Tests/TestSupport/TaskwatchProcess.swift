import Foundation

/// The built `taskwatch` binary, run with a clean environment.
public final class TaskwatchProcess: CapturedProcess, @unchecked Sendable {
  /// The binary: `$TASKWATCH_BIN`, or `taskwatch` next to the test bundle.
  public static var executable: String {
    if let path = ProcessInfo.processInfo.environment["TASKWATCH_BIN"] { return path }
    let bundle = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent()
    for candidate in [bundle, bundle.deletingLastPathComponent()] {
      let url = candidate.appendingPathComponent("taskwatch")
      if FileManager.default.isExecutableFile(atPath: url.path) { return url.path }
    }
    return ".build/debug/taskwatch"
  }

  /// Starts the binary; TASKWATCH_* and CELERY_* settings of the caller are
  /// removed so only `environment` applies.
  public init(_ arguments: [String], stdin: String? = nil, environment: [String: String] = [:]) throws {
    var env = ProcessInfo.processInfo.environment
    for name in [
      "TASKWATCH_URL", "CELERY_RESULT_BACKEND", "TASKWATCH_PASSWORD", "TASKWATCH_MASTER_NAME",
      "TASKWATCH_SENTINEL_PASSWORD", "TASKWATCH_TLS_CA", "TASKWATCH_TLS_CERT", "TASKWATCH_TLS_KEY", "NO_COLOR",
      "GITHUB_ACTIONS", "GITHUB_STEP_SUMMARY",
    ] {
      env.removeValue(forKey: name)
    }
    env.merge(environment) { $1 }
    try super.init(Self.executable, arguments, stdin: stdin, environment: env)
  }

  /// Runs the binary to the end.
  public static func run(
    _ arguments: [String], stdin: String? = nil, environment: [String: String] = [:], seconds: Double = 20
  ) throws -> Result {
    try TaskwatchProcess(arguments, stdin: stdin, environment: environment).finish(seconds: seconds)
  }
}
