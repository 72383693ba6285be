import Foundation
import TaskWatch
import TestSupport

/// A tmux server of our own (`-L` with our PID and a random part), killed
/// only through its own socket: the terminal for the tests of the live view
/// and of the shell completions.
final class Tmux {
  let socket = "taskwatch-test-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"

  /// Whether tmux is installed.
  static var isInstalled: Bool { FileManager.default.isExecutableFile(atPath: "/usr/bin/tmux") }

  /// Runs one tmux command. Only `capture-pane` output is read: a
  /// `new-session` starts the tmux server, which would inherit a pipe.
  @discardableResult
  func run(_ arguments: [String], capture: Bool = false, seconds: Double = 10) throws -> String {
    let child = try ChildProcess(
      "/usr/bin/tmux", ["-L", socket, "-f", "/dev/null"] + arguments, captureOutput: capture)
    // Read to the end before waiting, so a long capture cannot fill the pipe.
    let output = capture ? String(decoding: child.stdout!.readDataToEndOfFile(), as: UTF8.self) : ""
    guard let status = child.wait(seconds: seconds) else {
      child.signal(SIGKILL)
      _ = child.wait(seconds: 5)
      throw TestSupportError("tmux \(arguments.first ?? "") did not finish within \(seconds) s")
    }
    guard status == 0 else { throw TestSupportError("tmux \(arguments) exited \(status)") }
    return output
  }

  /// Starts a detached session `view` of `width`×`height` running `command`
  /// (a `sh -c` line).
  func start(_ command: String, width: Int = 80, height: Int = 24) throws {
    try run(["new-session", "-d", "-s", "view", "-x", String(width), "-y", String(height), command])
    // Keep the pane when the command ends, so its last screen can be read.
    try run(["set-option", "-t", "view", "remain-on-exit", "on"])
  }

  /// Types `keys` (tmux key names, e.g. `Tab`, `C-c`, or literal text with `literal`).
  func send(_ keys: [String], literal: Bool = false) throws {
    try run(["send-keys", "-t", "view"] + (literal ? ["-l"] : []) + keys)
  }

  /// The visible screen.
  func screen() throws -> String {
    try run(["capture-pane", "-p", "-t", "view"], capture: true)
  }

  /// Lines scrolled off the top of the pane so far (`history_size`).
  func historySize() throws -> Int {
    let text = try run(["display-message", "-p", "-t", "view", "#{history_size}"], capture: true)
    guard let size = Int(text.trimmingCharacters(in: .whitespacesAndNewlines)) else {
      throw TestSupportError("tmux history_size: \(text)")
    }
    return size
  }

  /// Waits until the screen satisfies `condition`; returns the last capture.
  func waitForScreen(seconds: Double = 15, _ condition: (String) -> Bool) throws -> String {
    let deadline = Deadline.after(seconds: seconds)
    var screen = ""
    while !deadline.hasPassed {
      screen = try self.screen()
      if condition(screen) { return screen }
      usleep(50_000)
    }
    return screen
  }

  /// Waits until the pane shows every one of `needles`; returns the last capture.
  func waitForScreen(containing needles: [String], seconds: Double = 15) throws -> String {
    try waitForScreen(seconds: seconds) { screen in needles.allSatisfy(screen.contains) }
  }

  deinit {
    _ = try? run(["kill-server"])
    if ProcessInfo.processInfo.environment["TMUX_TMPDIR"] == nil { unlink("/tmp/tmux-\(getuid())/\(socket)") }
  }
}
