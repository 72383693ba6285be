import Foundation

/// A child process spawned with a clean signal state.
///
/// Foundation's `Process` spawns from a Dispatch thread whose signal mask
/// blocks almost everything, and the child inherits it: a redis-server started
/// that way ignores SIGTERM, and a taskwatch started that way never sees
/// SIGINT. `posix_spawn` with an empty mask and default dispositions avoids both.
public final class ChildProcess: @unchecked Sendable {
  /// The child's PID.
  public let pid: pid_t
  /// Read end of the child's stdout, when captured.
  public let stdout: FileHandle?
  /// Read end of the child's stderr, when captured.
  public let stderr: FileHandle?
  /// Write end of the child's stdin, when piped.
  public let stdin: FileHandle?
  private var exitStatus: Int32?

  /// Spawns `executable` with `arguments`.
  /// - Parameters:
  ///   - captureOutput: pipe stdout and stderr back (otherwise /dev/null).
  ///   - pipeInput: give the child a stdin pipe (otherwise /dev/null).
  public init(
    _ executable: String, _ arguments: [String], environment: [String: String]? = nil,
    captureOutput: Bool = true, pipeInput: Bool = false
  ) throws {
    var actions = posix_spawn_file_actions_t()
    posix_spawn_file_actions_init(&actions)
    defer { posix_spawn_file_actions_destroy(&actions) }
    var attributes = posix_spawnattr_t()
    posix_spawnattr_init(&attributes)
    defer { posix_spawnattr_destroy(&attributes) }
    var emptyMask = sigset_t()
    sigemptyset(&emptyMask)
    var defaults = sigset_t()
    sigfillset(&defaults)
    posix_spawnattr_setsigmask(&attributes, &emptyMask)
    posix_spawnattr_setsigdefault(&attributes, &defaults)
    posix_spawnattr_setflags(&attributes, Int16(POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF))

    var outputPipe: [Int32] = [-1, -1]
    var errorPipe: [Int32] = [-1, -1]
    var inputPipe: [Int32] = [-1, -1]
    if captureOutput {
      guard pipe(&outputPipe) == 0, pipe(&errorPipe) == 0 else { throw TestSupportError("pipe() failed") }
      posix_spawn_file_actions_adddup2(&actions, outputPipe[1], 1)
      posix_spawn_file_actions_adddup2(&actions, errorPipe[1], 2)
      posix_spawn_file_actions_addclose(&actions, outputPipe[0])
      posix_spawn_file_actions_addclose(&actions, errorPipe[0])
    } else {
      posix_spawn_file_actions_addopen(&actions, 1, "/dev/null", O_WRONLY, 0)
      posix_spawn_file_actions_addopen(&actions, 2, "/dev/null", O_WRONLY, 0)
    }
    if pipeInput {
      guard pipe(&inputPipe) == 0 else { throw TestSupportError("pipe() failed") }
      posix_spawn_file_actions_adddup2(&actions, inputPipe[0], 0)
      posix_spawn_file_actions_addclose(&actions, inputPipe[1])
    } else {
      posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
    }

    let argv = ([executable] + arguments).map { strdup($0) } + [nil]
    defer { argv.forEach { free($0) } }
    let env = (environment ?? ProcessInfo.processInfo.environment).map { strdup("\($0.key)=\($0.value)") } + [nil]
    defer { env.forEach { free($0) } }
    var child: pid_t = 0
    let result = posix_spawn(&child, executable, &actions, &attributes, argv, env)
    for descriptor in [outputPipe[1], errorPipe[1], inputPipe[0]] where descriptor >= 0 { close(descriptor) }
    guard result == 0 else {
      for descriptor in [outputPipe[0], errorPipe[0], inputPipe[1]] where descriptor >= 0 { close(descriptor) }
      throw TestSupportError("cannot start \(executable): \(String(cString: strerror(result)))")
    }
    pid = child
    stdout = captureOutput ? FileHandle(fileDescriptor: outputPipe[0], closeOnDealloc: true) : nil
    stderr = captureOutput ? FileHandle(fileDescriptor: errorPipe[0], closeOnDealloc: true) : nil
    stdin = pipeInput ? FileHandle(fileDescriptor: inputPipe[1], closeOnDealloc: true) : nil
  }

  deinit {
    if exitStatus == nil {
      kill(pid, SIGKILL)
      _ = wait(seconds: 5)
    }
  }

  /// Sends `signal` to the child.
  public func signal(_ signal: Int32) {
    if exitStatus == nil { kill(pid, signal) }
  }

  /// True while the child has not been reaped.
  public var isRunning: Bool {
    if exitStatus != nil { return false }
    return poll() == nil
  }

  /// Waits up to `seconds` for the child to exit; returns its status
  /// (exit code, or 128 + signal), or `nil` if it is still running.
  public func wait(seconds: Double) -> Int32? {
    let deadline = Date().addingTimeInterval(seconds)
    while true {
      if let status = poll() { return status }
      if Date() >= deadline { return nil }
      usleep(1_000)
    }
  }

  private func poll() -> Int32? {
    if let exitStatus { return exitStatus }
    var status: Int32 = 0
    let result = waitpid(pid, &status, WNOHANG)
    guard result == pid else { return nil }
    let code = (status & 0x7F) == 0 ? (status >> 8) & 0xFF : 128 + (status & 0x7F)
    exitStatus = code
    return code
  }
}
