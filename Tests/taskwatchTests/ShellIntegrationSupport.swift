import Foundation
import TestSupport

/// Files of this repository, found from this source file's path, so the tests
/// work from any working directory.
enum Repository {
  /// The package root.
  static let root = URL(fileURLWithPath: #filePath)
    .deletingLastPathComponent()  // taskwatchTests
    .deletingLastPathComponent()  // Tests
    .deletingLastPathComponent()

  /// The absolute URL of `path` (relative to the package root).
  static func url(_ path: String) -> URL {
    root.appendingPathComponent(path)
  }

  /// The text of the file at `path` (relative to the package root).
  static func text(_ path: String) throws -> String {
    try String(contentsOf: url(path), encoding: .utf8)
  }
}

/// A command run to its end with a deadline, stdout and stderr read while it runs.
///
/// Scripts run under `timeout -s KILL`, which puts them in a process group of
/// their own and kills the whole group at the deadline, so a pipeline that
/// hangs (taskwatch waiting forever) cannot outlive the test.
final class ShellCommand: CapturedProcess, @unchecked Sendable {
  private let seconds: Double

  /// Starts `executable` with `arguments`, killed by `timeout(1)` after `seconds`.
  init(_ executable: String, _ arguments: [String], environment: [String: String]? = nil, seconds: Double = 20)
    throws
  {
    self.seconds = seconds
    let timeout = try Self.path(of: "timeout")
    try super.init(
      timeout, ["-s", "KILL", String(Int(seconds.rounded(.up))), executable] + arguments, environment: environment)
  }

  /// Starts `script` with `bash` in `directory`.
  convenience init(bash script: String, in directory: URL, environment: [String: String], seconds: Double = 20)
    throws
  {
    try self.init(
      try Self.path(of: "bash"), ["-c", "cd -- \"$0\" || exit 99\n" + script, directory.path],
      environment: environment, seconds: seconds)
  }

  /// Runs `executable` to its end.
  static func run(
    _ executable: String, _ arguments: [String], environment: [String: String]? = nil, seconds: Double = 20
  ) throws -> Result {
    try ShellCommand(executable, arguments, environment: environment, seconds: seconds).finish()
  }

  /// Waits for the end (the deadline is enforced by `timeout`, and again here).
  func finish() throws -> Result {
    try finish(seconds: seconds + 10)
  }

  /// The full path of `tool` on `PATH`.
  static func path(of tool: String) throws -> String {
    let directories = (ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin").split(separator: ":")
    for directory in directories {
      let candidate = "\(directory)/\(tool)"
      if FileManager.default.isExecutableFile(atPath: candidate) { return candidate }
    }
    throw TestSupportError("\(tool) is not installed (run scripts/setup)")
  }
}

/// The man page as `mandoc` renders it for a terminal, split into sections.
///
/// Checking the rendered text, not the mdoc source, checks what a reader sees:
/// `Fl -once` must come out as `--once`.
struct RenderedManPage {
  /// The source, relative to the package root.
  static let path = "man/taskwatch.1"

  /// Section heading → the section's lines.
  let sections: [String: [String]]

  /// Renders the page with `mandoc -Tascii`, lines wide enough that no
  /// paragraph wraps, and drops the overstrike used for bold and underline.
  init() throws {
    let result = try ShellCommand.run(
      try ShellCommand.path(of: "mandoc"), ["-Tascii", "-Owidth=1000", Repository.url(Self.path).path])
    guard result.status == 0 else { throw TestSupportError("mandoc failed: \(result.stderr)") }
    let plain = result.stdout.replacing(/.\u{8}/, with: "")
    var sections: [String: [String]] = [:]
    var current = ""
    for line in plain.split(separator: "\n", omittingEmptySubsequences: false) {
      if let first = line.first, first.isUppercase, line.allSatisfy({ $0.isUppercase || $0 == " " }) {
        current = String(line)
        continue
      }
      sections[current, default: []].append(String(line))
    }
    self.sections = sections
  }

  /// The lines of `section` (empty when there is no such section).
  func lines(of section: String) -> [String] {
    sections[section] ?? []
  }

  /// The literal displays of `section`: runs of lines indented deeper than
  /// the prose, with the common indentation removed.
  func displays(in section: String) -> [String] {
    var blocks: [[String]] = []
    var block: [String] = []
    for line in lines(of: section) {
      if line.hasPrefix(String(repeating: " ", count: 6)) {
        block.append(line)
      } else if !block.isEmpty {
        blocks.append(block)
        block = []
      }
    }
    if !block.isEmpty { blocks.append(block) }
    return blocks.map { lines in
      let indent = lines.map { $0.prefix(while: { $0 == " " }).count }.min() ?? 0
      return lines.map { String($0.dropFirst(indent)) }.joined(separator: "\n") + "\n"
    }
  }
}

/// README.md, read by section.
struct Readme {
  /// The whole text.
  let text: String

  /// Reads README.md.
  init() throws {
    text = try Repository.text("README.md")
  }

  /// The lines of the `## title` section, up to the next `## ` heading.
  func lines(of title: String) -> [String] {
    var inside = false
    var lines: [String] = []
    for line in text.split(separator: "\n", omittingEmptySubsequences: false) {
      if line.hasPrefix("## ") {
        inside = line == "## \(title)"
        continue
      }
      if inside { lines.append(String(line)) }
    }
    return lines
  }

  /// The fenced ```` ```sh ```` blocks of a section, each ending in a newline.
  func shellBlocks(in title: String) -> [String] {
    var blocks: [String] = []
    var block: [String]?
    for line in lines(of: title) {
      if block == nil, line == "```sh" {
        block = []
      } else if let current = block, line == "```" {
        blocks.append(current.joined(separator: "\n") + "\n")
        block = nil
      } else {
        block?.append(line)
      }
    }
    return blocks
  }
}
