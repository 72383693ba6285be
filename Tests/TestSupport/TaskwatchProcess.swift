import Foundation

/// Runs the built `taskwatch` binary and collects what it did.
public final class TaskwatchProcess: @unchecked Sendable {
  /// What a finished run printed and returned.
  public struct Result {
    /// Exit status (or 128 + signal).
    public let status: Int32
    /// Standard output.
    public let stdout: String
    /// Standard error.
    public let stderr: String
    /// Standard output split into lines (no trailing empty line).
    public var lines: [String] { stdout.split(separator: "\n").map(String.init) }
    /// Each stdout line parsed as a JSON object (lines that are not are left out).
    public var objects: [[String: Any]] {
      lines.compactMap { try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any] }
    }
    /// The states of one task's `state` lines, in order.
    public func states(of taskID: String) -> [String] {
      objects.filter { $0["task_id"] as? String == taskID && $0["type"] as? String == "state" }
        .compactMap { $0["state"] as? String }
    }
  }

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

  /// The running child.
  public let child: ChildProcess
  private let lock = NSLock()
  private var output = Data()
  private var errors = Data()
  private let readers = DispatchGroup()

  /// Starts the binary with a clean environment (no TASKWATCH_* or CELERY_* from the caller).
  public init(_ arguments: [String], stdin: String? = nil, environment: [String: String] = [:]) throws {
    var env = ProcessInfo.processInfo.environment
    for name in [
      "TASKWATCH_URL", "CELERY_RESULT_BACKEND", "TASKWATCH_PASSWORD", "TASKWATCH_MASTER_NAME",
      "TASKWATCH_SENTINEL_PASSWORD", "NO_COLOR",
    ] {
      env.removeValue(forKey: name)
    }
    env.merge(environment) { $1 }
    child = try ChildProcess(Self.executable, arguments, environment: env, pipeInput: stdin != nil)
    if let stdin, let input = child.stdin {
      let data = Data(stdin.utf8)
      DispatchQueue.global().async {
        try? input.write(contentsOf: data)
        try? input.close()
      }
    }
    read(child.stdout!) { self.output.append($0) }
    read(child.stderr!) { self.errors.append($0) }
  }

  private func read(_ handle: FileHandle, into append: @escaping @Sendable (Data) -> Void) {
    readers.enter()
    DispatchQueue.global().async {
      while true {
        let chunk = handle.availableData
        if chunk.isEmpty { break }
        self.lock.withLock { append(chunk) }
      }
      self.readers.leave()
    }
  }

  /// What the child printed on stdout so far.
  public var stdoutSoFar: String {
    lock.withLock { String(decoding: output, as: UTF8.self) }
  }

  /// Waits until stdout holds `count` lines, or `seconds` pass; returns whether it did.
  public func waitForLines(_ count: Int, seconds: Double) -> Bool {
    let deadline = Date().addingTimeInterval(seconds)
    while Date() < deadline {
      if stdoutSoFar.split(separator: "\n").count >= count { return true }
      usleep(2_000)
    }
    return false
  }

  /// Waits for the exit, killing the child if it outlives `seconds`.
  public func finish(seconds: Double = 20) throws -> Result {
    guard let status = child.wait(seconds: seconds) else {
      child.signal(SIGKILL)
      _ = child.wait(seconds: 5)
      throw TestSupportError("taskwatch did not finish within \(seconds) s; stdout so far: \(stdoutSoFar)")
    }
    _ = readers.wait(timeout: .now() + 5)
    return lock.withLock {
      Result(
        status: status, stdout: String(decoding: output, as: UTF8.self),
        stderr: String(decoding: errors, as: UTF8.self))
    }
  }

  /// Runs the binary to the end.
  public static func run(
    _ arguments: [String], stdin: String? = nil, environment: [String: String] = [:], seconds: Double = 20
  ) throws -> Result {
    try TaskwatchProcess(arguments, stdin: stdin, environment: environment).finish(seconds: seconds)
  }
}
