import Foundation

/// A child process whose stdout and stderr are read while it runs, so tests can
/// watch lines arrive and then collect everything with a deadline.
open class CapturedProcess: @unchecked Sendable {
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

  /// The running child.
  public let child: ChildProcess
  private let lock = NSLock()
  private var output = Data()
  private var errors = Data()
  private let readers = DispatchGroup()

  /// Starts `executable`; `stdin`, when given, is written to it and closed.
  public init(_ executable: String, _ arguments: [String], stdin: String? = nil, environment: [String: String]? = nil)
    throws
  {
    child = try ChildProcess(executable, arguments, environment: environment, pipeInput: stdin != nil)
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

  /// What the child printed on stderr so far.
  public var stderrSoFar: String {
    lock.withLock { String(decoding: errors, as: UTF8.self) }
  }

  /// Waits until stderr satisfies `condition`, or `seconds` pass; returns whether it did.
  public func waitForErrors(seconds: Double, _ condition: (String) -> Bool) -> Bool {
    let deadline = Date().addingTimeInterval(seconds)
    while Date() < deadline {
      if condition(stderrSoFar) { return true }
      usleep(2_000)
    }
    return false
  }

  /// Waits until stdout holds `count` lines, or `seconds` pass; returns whether it did.
  public func waitForLines(_ count: Int, seconds: Double) -> Bool {
    waitFor(seconds: seconds) { $0.split(separator: "\n").count >= count }
  }

  /// Waits until stdout holds `text`, or `seconds` pass; returns whether it did.
  public func waitForOutput(_ text: String, seconds: Double) -> Bool {
    waitFor(seconds: seconds) { $0.contains(text) }
  }

  private func waitFor(seconds: Double, _ condition: (String) -> Bool) -> Bool {
    let deadline = Date().addingTimeInterval(seconds)
    while Date() < deadline {
      if condition(stdoutSoFar) { return true }
      usleep(2_000)
    }
    return false
  }

  /// Waits for the exit, killing the child if it outlives `seconds`.
  public func finish(seconds: Double = 20) throws -> Result {
    guard let status = child.wait(seconds: seconds) else {
      child.signal(SIGKILL)
      _ = child.wait(seconds: 5)
      throw TestSupportError("\(child.pid) did not finish within \(seconds) s; stdout so far: \(stdoutSoFar)")
    }
    _ = readers.wait(timeout: .now() + 5)
    return lock.withLock {
      Result(
        status: status, stdout: String(decoding: output, as: UTF8.self),
        stderr: String(decoding: errors, as: UTF8.self))
    }
  }
}
