import Foundation
import TestSupport
import Testing

/// The completion scripts as a user meets them: an interactive bash, zsh and
/// fish in tmux, each loading the checked-in script, and Tab pressed.
@Suite("Completion behaviour in real shells")
struct CompletionBehaviourTests {
  enum Shell: String, CaseIterable, CustomTestStringConvertible {
    case bash, zsh, fish
    var testDescription: String { rawValue }

    /// The checked-in script.
    var script: String {
      switch self {
      case .bash: return Repository.url("completions/taskwatch.bash").path
      case .zsh: return Repository.url("completions/_taskwatch").path
      case .fish: return Repository.url("completions/taskwatch.fish").path
      }
    }

    /// Tabs that list the candidates: bash lists them on the second Tab.
    var listKeys: [String] { self == .bash ? ["Tab", "Tab"] : ["Tab"] }
  }

  /// Starts `shell` interactively in tmux with only the completion script
  /// loaded and a `$ ` prompt; returns once the prompt is shown.
  private func startShell(_ shell: Shell, in home: URL) throws -> Tmux {
    let quoted = "'" + shell.script + "'"
    let command: String
    switch shell {
    case .bash:
      try "PS1='$ '\nsource \(quoted)\n".write(
        to: home.appendingPathComponent("bashrc"), atomically: true, encoding: .utf8)
      command = "bash --noprofile --rcfile '\(home.path)/bashrc' -i"
    case .zsh:
      try "PROMPT='$ '\nautoload -Uz compinit\ncompinit -u -D\nsource \(quoted)\n".write(
        to: home.appendingPathComponent(".zshrc"), atomically: true, encoding: .utf8)
      command = "ZDOTDIR='\(home.path)' zsh -i"
    case .fish:
      command =
        "fish --no-config -C \"set -g fish_greeting ''; function fish_prompt; echo -n '\\$ '; end; source \(quoted)\""
    }
    let tmux = Tmux()
    try tmux.start(
      "env -i HOME='\(home.path)' XDG_CONFIG_HOME='\(home.path)' XDG_DATA_HOME='\(home.path)' "
        + "PATH=/usr/bin:/bin TERM=xterm-256color \(command)", width: 100, height: 30)
    let prompt = try tmux.waitForScreen { $0.split(separator: "\n").last?.hasPrefix("$") == true }
    try #require(prompt.split(separator: "\n").last?.hasPrefix("$") == true, "\(shell) prompt:\n\(prompt)")
    return tmux
  }

  /// Lines a shell prints when a completion function fails.
  private static func errorLines(_ screen: String) -> [Substring] {
    screen.split(separator: "\n").filter {
      $0.contains("_arguments") || $0.contains("error") || $0.contains("command not found")
        || $0.contains("Unknown command")
    }
  }

  @Test("Tab after 'taskwatch --f' offers --fail-fast and --format, no error line", arguments: Shell.allCases)
  func longOption(shell: Shell) throws {
    guard Tmux.isInstalled else {
      Issue.record("tmux is not installed (run scripts/setup)")
      return
    }
    let home = FileManager.default.temporaryDirectory.appendingPathComponent("taskwatch-shell-\(UUID().uuidString)")
    try FileManager.default.createDirectory(at: home, withIntermediateDirectories: true)
    defer { try? FileManager.default.removeItem(at: home) }
    let tmux = try startShell(shell, in: home)
    try tmux.send(["taskwatch --f"], literal: true)
    try tmux.send(shell.listKeys)
    let listed = try tmux.waitForScreen(containing: ["--fail-fast", "--format"])
    #expect(listed.contains("--fail-fast") && listed.contains("--format"), "\(shell):\n\(listed)")
    #expect(Self.errorLines(listed).isEmpty, "\(shell):\n\(listed)")
    // No `help` subcommand is offered for the first word.
    try tmux.send(["C-c"])
    try tmux.send(["taskwatch h"], literal: true)
    try tmux.send(shell.listKeys)
    usleep(500_000)
    let first = try tmux.screen()
    #expect(!first.contains("taskwatch help"), "\(shell) offers a help subcommand:\n\(first)")
    #expect(Self.errorLines(first).isEmpty, "\(shell):\n\(first)")
  }

  @Test("Tab after 'taskwatch --format ' offers auto, json and text", arguments: Shell.allCases)
  func formatValues(shell: Shell) throws {
    guard Tmux.isInstalled else {
      Issue.record("tmux is not installed (run scripts/setup)")
      return
    }
    let home = FileManager.default.temporaryDirectory.appendingPathComponent("taskwatch-shell-\(UUID().uuidString)")
    try FileManager.default.createDirectory(at: home, withIntermediateDirectories: true)
    defer { try? FileManager.default.removeItem(at: home) }
    let tmux = try startShell(shell, in: home)
    try tmux.send(["taskwatch --format "], literal: true)
    try tmux.send(shell.listKeys)
    let listed = try tmux.waitForScreen { screen in
      let words = Set(screen.split(whereSeparator: { $0 == " " || $0 == "\n" }))
      return ["auto", "json", "text"].allSatisfy { words.contains(Substring($0)) }
    }
    let words = Set(listed.split(whereSeparator: { $0 == " " || $0 == "\n" }))
    #expect(["auto", "json", "text"].allSatisfy { words.contains(Substring($0)) }, "\(shell):\n\(listed)")
    #expect(Self.errorLines(listed).isEmpty, "\(shell):\n\(listed)")
    if shell == .fish {
      // One description per value, not the option's help three times.
      #expect(listed.contains("one JSON object per state change"), "\(listed)")
      #expect(!listed.contains("auto (a live table"), "\(listed)")
    }
  }
}
