import Foundation
import TaskWatch
import TestSupport
import Testing

@testable import taskwatch

/// The CLI's exit status (Swift Testing has a type of the same name).
private typealias ExitStatus = taskwatch.ExitStatus

/// What a shell user meets besides the binary — completions, the man page,
/// `--help`, the README's options and recipes, `scripts/install` — checked
/// against the parser, the exit-status function and a real redis-server, so
/// none of them can drift unnoticed.
@Suite("Shell integration")
struct ShellIntegrationTests {
  /// The long options `taskwatch --help` lists (`--url`, `--help`, …).
  static func helpLongOptions() throws -> [String] {
    let help = try TaskwatchProcess.run(["--help"])
    #expect(help.status == 0)
    // Option rows start two spaces in, after USAGE; wrapped descriptions start further in.
    let rows = help.stdout.split(separator: "\n").drop(while: { !$0.hasPrefix("USAGE:") })
    let options = rows.compactMap { row in
      row.firstMatch(of: /^  (?:-[A-Za-z], )?(--[a-z][a-z0-9-]*)/).map { String($0.output.1) }
    }
    #expect(options.count > 10, "--help lists too few options to be parsed right: \(options)")
    return options
  }

  /// The long options in a piece of text, e.g. `-u, --url url` → `["--url"]`.
  static func longOptions(in text: String) -> [String] {
    text.matches(of: /--[a-z][a-z0-9-]*/).map { String($0.output) }
  }
}

// MARK: - Completions

extension ShellIntegrationTests {
  /// The completion scripts in `completions/` are exactly what the parser
  /// generates. `TASKWATCH_RECORD_COMPLETIONS=1` rewrites them instead.
  @Suite("Completions")
  struct Completions {
    enum Shell: String, CaseIterable, CustomTestStringConvertible {
      case bash, zsh, fish

      /// The checked-in file, relative to the package root.
      var path: String {
        switch self {
        case .bash: return "completions/taskwatch.bash"
        case .zsh: return "completions/_taskwatch"
        case .fish: return "completions/taskwatch.fish"
        }
      }

      var testDescription: String { rawValue }
    }

    @Test("completions/ matches --generate-completion-script byte for byte", arguments: Shell.allCases)
    func regenerated(shell: Shell) throws {
      let generated = try TaskwatchProcess.run(["--generate-completion-script", shell.rawValue])
      #expect(generated.status == 0)
      #expect(generated.stderr.isEmpty)
      let file = Repository.url(shell.path)
      if ProcessInfo.processInfo.environment["TASKWATCH_RECORD_COMPLETIONS"] == "1" {
        if (try? Data(contentsOf: file)) != Data(generated.stdout.utf8) {
          try Data(generated.stdout.utf8).write(to: file)
        }
        return
      }
      let checkedIn = try String(contentsOf: file, encoding: .utf8)
      guard checkedIn != generated.stdout else { return }
      let old = checkedIn.split(separator: "\n", omittingEmptySubsequences: false)
      let new = generated.stdout.split(separator: "\n", omittingEmptySubsequences: false)
      let line = (0..<min(old.count, new.count)).first(where: { old[$0] != new[$0] }) ?? min(old.count, new.count)
      let checkedInLine = line < old.count ? String(old[line]) : "(end of file)"
      let generatedLine = line < new.count ? String(new[line]) : "(end of output)"
      Issue.record(
        """
        \(shell.path) is out of date at line \(line + 1):
          checked in: \(checkedInLine)
          generated:  \(generatedLine)
        Regenerate it with: TASKWATCH_RECORD_COMPLETIONS=1 swift test --filter ShellIntegrationTests.Completions
        """)
    }

    @Test("each completion script parses in its shell (-n)", arguments: Shell.allCases)
    func syntax(shell: Shell) throws {
      let result = try ShellCommand.run(
        try ShellCommand.path(of: shell.rawValue), ["-n", Repository.url(shell.path).path])
      #expect(result.status == 0, "\(shell.rawValue) -n \(shell.path): \(result.stderr)")
      #expect(result.stderr.isEmpty)
    }

    @Test("bash completes a long option from the script")
    func bashCompletes() throws {
      let script = """
        source "$0"
        COMP_LINE="taskwatch --fail"; COMP_WORDS=(taskwatch --fail); COMP_CWORD=1; COMP_POINT=${#COMP_LINE}
        _taskwatch taskwatch --fail taskwatch
        printf '%s\\n' "${COMPREPLY[@]}"
        """
      let result = try ShellCommand.run(
        try ShellCommand.path(of: "bash"), ["-c", script, Repository.url(Shell.bash.path).path])
      #expect(result.status == 0, "\(result.stderr)")
      #expect(result.stdout == "--fail-fast\n")
    }

    @Test("fish completes long options with their help text")
    func fishCompletes() throws {
      let result = try ShellCommand.run(
        try ShellCommand.path(of: "fish"),
        ["--no-config", "-c", "source $argv[1]; complete -C 'taskwatch --no-'", Repository.url(Shell.fish.path).path])
      #expect(result.status == 0, "\(result.stderr)")
      let completed = result.stdout.split(separator: "\n").map { $0.split(separator: "\t").first.map(String.init) }
      #expect(completed == ["--no-result", "--no-verify"])
    }
  }
}

// MARK: - Man page, --help and README

extension ShellIntegrationTests {
  @Suite("Documentation")
  struct Documentation {
    @Test("mandoc -Tlint reports nothing about the man page")
    func mandocLint() throws {
      let result = try ShellCommand.run(
        try ShellCommand.path(of: "mandoc"), ["-Tlint", Repository.url(RenderedManPage.path).path])
      // mandoc also checks each .Xr against its own database, mandoc.db, which
      // Debian (man-db) does not build; for a page that exists it then notes
      // "outdated mandoc.db lacks jq(1) entry": a fact about this host, not
      // about the page. Any other line is a finding.
      let findings = (result.stdout + result.stderr).split(separator: "\n").filter {
        $0.wholeMatch(of: /mandoc: outdated mandoc\.db lacks [\w.-]+\(\d\) entry, run makewhatis \S+/) == nil
      }
      #expect(findings.isEmpty, "mandoc -Tlint:\n\(findings.joined(separator: "\n"))")
      #expect(result.status == 0)
    }

    @Test("the man page renders at 80 columns with groff (as man(1) does) without a warning, under a plain header")
    func groffAt80Columns() throws {
      // man-db renders for MANWIDTH=80 with a line length of 78 columns.
      let result = try ShellCommand.run(
        try ShellCommand.path(of: "groff"),
        ["-ww", "-mandoc", "-Tutf8", "-rLL=78n", "-rLT=78n", Repository.url(RenderedManPage.path).path])
      #expect(result.status == 0)
      #expect(result.stderr.isEmpty, "groff:\n\(result.stderr)")
      let lines = result.stdout.replacing(/.\u{8}/, with: "").split(separator: "\n")
      #expect(lines.first?.contains("General Commands Manual") == true)
      #expect(lines.first?.contains("BSD") == false, "\(lines.first ?? "")")
      // No quotation inside a quotation (‘required (or ‘CERT_REQUIRED’)’).
      let nested = lines.filter { $0.contains(/‘[^’]*‘/) }
      #expect(nested.isEmpty, "nested quotes: \(nested)")
    }

    @Test("the man page has the sections a reader looks for")
    func manSections() throws {
      let page = try RenderedManPage()
      for section in [
        "NAME", "SYNOPSIS", "DESCRIPTION", "OPTIONS", "OUTPUT", "ENVIRONMENT", "EXIT STATUS", "EXAMPLES", "SEE ALSO",
      ] {
        #expect(!page.lines(of: section).isEmpty, "man page lacks \(section)")
      }
      let environment = page.lines(of: "ENVIRONMENT").joined(separator: "\n")
      for variable in ["TASKWATCH_URL", "CELERY_RESULT_BACKEND", "TASKWATCH_PASSWORD", "NO_COLOR"] {
        #expect(environment.contains(variable), "ENVIRONMENT lacks \(variable)")
      }
      let output = page.lines(of: "OUTPUT").joined(separator: "\n")
      for field in ["type", "task_id", "state", "previous", "ready", "source", "observed_at", "meta"] {
        #expect(output.contains("     \(field) "), "OUTPUT does not describe the field \(field)")
      }
      for field in ["total", "states", "unready", "not_succeeded", "elapsed_s", "exit_code"] {
        #expect(output.contains("     \(field) "), "OUTPUT does not describe the summary field \(field)")
      }
    }

    @Test("every long option of --help is an item of the man page's OPTIONS, and only those")
    func manOptions() throws {
      let help = try ShellIntegrationTests.helpLongOptions()
      // Item heads start five spaces in ("     -u, --url url"); a short head
      // shares its line with the description after two spaces.
      let heads = try RenderedManPage().lines(of: "OPTIONS").filter { $0.hasPrefix("     -") }
        .map { $0.dropFirst(5).components(separatedBy: "  ")[0] }
      let documented = Set(heads.flatMap { ShellIntegrationTests.longOptions(in: $0) })
      let missing = help.filter { !documented.contains($0) }
      #expect(missing.isEmpty, "man/taskwatch.1 OPTIONS lacks \(missing)")
      let unknown = documented.subtracting(help)
      #expect(unknown.isEmpty, "man/taskwatch.1 documents options --help does not have: \(unknown.sorted())")
    }

    @Test("every long option of --help is in the README's Options table, and only those")
    func readmeOptions() throws {
      let help = try ShellIntegrationTests.helpLongOptions()
      let readme = try Readme()
      let firstCells = readme.lines(of: "Options").filter { $0.hasPrefix("| `-") }
        .map { String($0.split(separator: "|")[0]) }
      let documented = Set(firstCells.flatMap { ShellIntegrationTests.longOptions(in: $0) })
      let missing = help.filter { !documented.contains($0) }
      #expect(missing.isEmpty, "README.md's Options table lacks \(missing)")
      let unknown = documented.subtracting(help)
      #expect(unknown.isEmpty, "README.md documents options --help does not have: \(unknown.sorted())")
    }

    @Test("the man page's EXIT STATUS lists exactly ExitStatus's codes, each with its meaning")
    func manExitStatus() throws {
      var documented: [(code: Int32, text: String)] = []
      for line in try RenderedManPage().lines(of: "EXIT STATUS") {
        if let match = line.wholeMatch(of: #/ {5}(\d+) +(.+)/#), let code = Int32(match.output.1) {
          documented.append((code, String(match.output.2)))
        }
      }
      #expect(documented.map(\.code) == ExitStatus.allCases.map(\.rawValue))
      for status in ExitStatus.allCases {
        let text = documented.first(where: { $0.code == status.rawValue })?.text ?? ""
        // The page may say more than the one-line meaning, never something else.
        #expect(
          Self.normalized(text).contains(Self.normalized(status.meaning)),
          "man page, exit status \(status.rawValue): \"\(text)\" does not say \"\(status.meaning)\"")
      }
    }

    @Test("the README's exit-status table lists exactly ExitStatus's codes")
    func readmeExitStatus() throws {
      let codes = try Readme().lines(of: "Exit status").compactMap { row -> [Int32]? in
        guard let match = row.firstMatch(of: /^\| ([\d \/]+) \|/) else { return nil }
        return match.output.1.split(separator: "/").compactMap { Int32($0.trimmingCharacters(in: .whitespaces)) }
      }.flatMap { $0 }
      #expect(codes == ExitStatus.allCases.map(\.rawValue))
    }

    @Test("--help ends its discussion with short examples and every exit status, within 80 columns")
    func help() throws {
      let help = try TaskwatchProcess.run(["--help"])
      #expect(help.status == 0)
      let lines = help.stdout.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
      #expect(lines.allSatisfy { $0.count <= 80 }, "\(lines.filter { $0.count > 80 })")
      // Not rewrapped by ArgumentParser: every line of the discussion is a line of the output.
      for line in HelpText.discussion.split(separator: "\n") {
        #expect(lines.contains(String(line)), "--help rewrapped \"\(line)\"")
      }
      let examples = try #require(lines.firstIndex(of: "Examples:"))
      let exitStatus = try #require(lines.firstIndex(of: "Exit status:"))
      let exampleLines = lines[(examples + 1)..<exitStatus].filter { $0.hasPrefix("  taskwatch ") }
      #expect((2...3).contains(exampleLines.count))
      let codes = lines[(exitStatus + 1)...].prefix(while: { !$0.isEmpty }).compactMap { line in
        line.firstMatch(of: /^  (\d+) +/).flatMap { Int32($0.output.1) }
      }
      #expect(codes == ExitStatus.allCases.map(\.rawValue))
    }

    /// Lower case, one space between words, no final period.
    private static func normalized(_ text: String) -> String {
      text.lowercased().split(whereSeparator: \.isWhitespace).joined(separator: " ")
        .trimmingCharacters(in: CharacterSet(charactersIn: "."))
    }
  }
}

// MARK: - Recipes

extension ShellIntegrationTests {
  /// The README's recipes and the man page's EXAMPLES, run as written with
  /// bash, real jq and the built taskwatch against a real redis-server.
  @Suite("Recipes")
  struct Recipes {
    let server = SharedRedis.server

    /// A text each recipe contains, which picks it out of the documents.
    enum Key {
      static let ciWait = "- < deploy-ids.txt > tasks.ndjson"
      static let failures = #"jq -c 'select(.state == "FAILURE")'"#
      static let result = "jq -r 'select(.ready) | .meta.result'"
      static let progress = #"select(.state == "PROGRESS")"#
      static let logIDs = "grep -o 'task_id="
      static let census = "--scan --pattern 'celery-task-meta-*'"
      static let all = [ciWait, failures, result, progress, logIDs, census]
    }

    /// The documented snippets that contain `key`: the README must have one;
    /// the man page may have it too (identical text is run once).
    static func scripts(containing key: String) throws -> [String] {
      let readme = try Readme().shellBlocks(in: "Recipes").filter { $0.contains(key) }
      #expect(readme.count == 1, "README.md's Recipes should have one block containing \(key)")
      let manual = try RenderedManPage().displays(in: "EXAMPLES").filter { $0.contains(key) }
      var scripts: [String] = []
      for script in readme + manual where !scripts.contains(script) { scripts.append(script) }
      return scripts
    }

    @Test("every recipe and every man page example is run by a test below")
    func coverage() throws {
      let readme = try Readme().shellBlocks(in: "Recipes")
      let manual = try RenderedManPage().displays(in: "EXAMPLES")
      #expect(readme.count >= 5)
      #expect(manual.count >= 3)
      for script in readme + manual {
        #expect(Key.all.contains(where: { script.contains($0) }), "no test runs this documented example:\n\(script)")
      }
    }

    @Test("CI: wait for a deploy's tasks, fail the job on FAILURE and say which")
    func ciWait() throws {
      for script in try Self.scripts(containing: Key.ciWait) {
        let (done, failed, pending) = (newTaskID(), newTaskID(), newTaskID())
        try store(done, "SUCCESS")
        try store(failed, "FAILURE", result: Self.exception)
        let failing = try Workspace(server: server)
        try failing.write("deploy-ids.txt", [done, failed, pending].joined(separator: "\n") + "\n")
        let failure = try failing.run(script)
        #expect(failure.status == 1, "\(failure.stderr)")
        #expect(
          failure.stderr
            == "taskwatch: --fail-fast: \(failed) FAILURE: ValueError: boom\n\(failed) FAILURE ValueError\n\(pending) PENDING\n"
        )
        #expect(try failing.read("tasks.ndjson").contains(#""state":"FAILURE""#))
        #expect(try failing.read("tasks.xml").contains("<testsuite name=\"taskwatch\" tests=\"3\" failures=\"1\""))

        let passing = try Workspace(server: server)
        try passing.write("deploy-ids.txt", "\(done)\n")
        let success = try passing.run(script)
        #expect(success.status == 0)
        #expect(success.stderr.isEmpty)
      }
    }

    @Test("stream failures only")
    func failures() throws {
      for script in try Self.scripts(containing: Key.failures) {
        let (done, failed, revoked) = (newTaskID(), newTaskID(), newTaskID())
        try store(done, "SUCCESS")
        try store(failed, "FAILURE", result: Self.exception)
        try store(revoked, "REVOKED")
        let workspace = try Workspace(server: server)
        try workspace.write("task-ids.txt", "\(done) \(failed)\n\(revoked)\n")
        let result = try workspace.run(script)
        #expect(result.status == 0, "\(result.stderr)")
        let lines = result.stdout.split(separator: "\n")
        #expect(lines.count == 1)
        let object = try JSONSerialization.jsonObject(with: Data((lines.first ?? "").utf8)) as? [String: Any]
        #expect(object?["task_id"] as? String == failed)
        #expect(object?["state"] as? String == "FAILURE")
      }
    }

    @Test("the result of one task, printed once it is ready")
    func result() throws {
      for script in try Self.scripts(containing: Key.result) {
        let id = newTaskID()
        let workspace = try Workspace(server: server)
        let shell = try workspace.start(script, taskID: id)
        #expect(try server.waitForSubscribers(channel: "celery-task-meta-\(id)"))
        try server.storeAndPublish(taskID: id, json: celeryMeta(id, "STARTED"))
        try server.storeAndPublish(taskID: id, json: celeryMeta(id, "SUCCESS", result: #""s3://reports/2026-11.pdf""#))
        let result = try shell.finish()
        #expect(result.status == 0, "\(result.stderr)")
        #expect(result.stdout == "s3://reports/2026-11.pdf\n")
      }
    }

    @Test("progress percentage from PROGRESS meta, as it changes")
    func progress() throws {
      for script in try Self.scripts(containing: Key.progress) {
        let id = newTaskID()
        try store(id, "PROGRESS", result: #"{"current": 1, "total": 4}"#)
        let workspace = try Workspace(server: server)
        let shell = try workspace.start(script, taskID: id)
        // The first line is the stored state, read after subscribing: publish
        // the next update only once it is out, or the snapshot may already be 50%.
        #expect(shell.waitForOutput("25%\n", seconds: 10), "the snapshot's 25% did not reach the pipe")
        for current in [2, 3] {
          try server.storeAndPublish(
            taskID: id, json: celeryMeta(id, "PROGRESS", result: #"{"current": \#(current), "total": 4}"#))
        }
        try server.storeAndPublish(taskID: id, json: celeryMeta(id, "SUCCESS", result: "4"))
        let result = try shell.finish()
        #expect(result.status == 0, "\(result.stderr)")
        #expect(result.stdout == "25%\n50%\n75%\n")
      }
    }

    @Test("ids from another command: the tasks a deploy log names")
    func idsFromLog() throws {
      for script in try Self.scripts(containing: Key.logIDs) {
        let (done, pending) = (newTaskID(), newTaskID())
        try store(done, "SUCCESS")
        let workspace = try Workspace(server: server)
        try workspace.write(
          "deploy.log", "12:00:01 queued export task_id=\(done)\n12:00:02 queued mail task_id=\(pending) retries=3\n")
        let result = try workspace.run(script)
        #expect(result.status == 0, "\(result.stderr)")
        #expect(result.stdout == "SUCCESS\t\(done)\nPENDING\t\(pending)\n")
      }
    }

    @Test("ids from another command: every stored result counted by state")
    func census() throws {
      // Counts every key of a database, so it gets a server of its own.
      let own = try RedisServer()
      for script in try Self.scripts(containing: Key.census) {
        try own.run(["FLUSHALL"])
        for (index, state) in ["SUCCESS", "FAILURE", "SUCCESS", "STARTED"].enumerated() {
          let id = "census-\(index)"
          try own.run(["SET", "celery-task-meta-\(id)", celeryMeta(id, state)])
        }
        let result = try Workspace(server: own).run(script)
        #expect(result.status == 0, "\(result.stderr)")
        let counts = result.stdout.split(separator: "\n").map {
          $0.split(separator: " ").joined(separator: " ")
        }
        #expect(counts == ["1 FAILURE", "1 STARTED", "2 SUCCESS"])
      }
    }

    // MARK: Fixtures

    static let exception = #"{"exc_type": "ValueError", "exc_message": ["boom"], "exc_module": "builtins"}"#

    private func store(_ id: String, _ state: String, result: String = "null") throws {
      try server.run(["SET", "celery-task-meta-\(id)", celeryMeta(id, state, result: result)])
    }
  }
}

// MARK: - Install

extension ShellIntegrationTests {
  @Suite("Install")
  struct Install {
    @Test("scripts/install puts the binary, man page and completions under DESTDIR/PREFIX; a rerun changes nothing")
    func install() throws {
      let stage = FileManager.default.temporaryDirectory.appendingPathComponent("taskwatch-stage-\(UUID().uuidString)")
      defer { try? FileManager.default.removeItem(at: stage) }
      let binary = URL(fileURLWithPath: TaskwatchProcess.executable, relativeTo: Repository.root).path
      var environment = ProcessInfo.processInfo.environment
      environment["DESTDIR"] = stage.path
      environment["PREFIX"] = "/opt/taskwatch"
      environment["TASKWATCH_BIN"] = binary
      let expected: [String: String] = [
        "bin/taskwatch": binary,
        "share/man/man1/taskwatch.1": RenderedManPage.path,
        "share/bash-completion/completions/taskwatch": Completions.Shell.bash.path,
        "share/zsh/site-functions/_taskwatch": Completions.Shell.zsh.path,
        "share/fish/vendor_completions.d/taskwatch.fish": Completions.Shell.fish.path,
      ]
      let root = stage.appendingPathComponent("opt/taskwatch")
      for run in 1...2 {
        let result = try ShellCommand.run(Repository.url("scripts/install").path, [], environment: environment)
        #expect(result.status == 0, "run \(run): \(result.stderr)")
        let installed = try Self.files(under: stage)
        #expect(installed == Set(expected.keys.map { "opt/taskwatch/" + $0 }), "run \(run)")
        for (target, source) in expected {
          let sourceURL = URL(fileURLWithPath: source, relativeTo: Repository.root)
          #expect(
            try Data(contentsOf: root.appendingPathComponent(target)) == Data(contentsOf: sourceURL),
            "run \(run): \(target) differs from \(source)")
        }
      }
      for (target, mode) in [("bin/taskwatch", 0o755), ("share/man/man1/taskwatch.1", 0o644)] {
        let attributes = try FileManager.default.attributesOfItem(atPath: root.appendingPathComponent(target).path)
        #expect(attributes[.posixPermissions] as? Int == mode, "mode of \(target)")
      }
    }

    /// Paths of the regular files under `directory`, relative to it.
    private static func files(under directory: URL) throws -> Set<String> {
      var files = Set<String>()
      let prefix = directory.path + "/"
      guard let walker = FileManager.default.enumerator(atPath: directory.path) else { return files }
      for case let path as String in walker {
        var isDirectory: ObjCBool = false
        if FileManager.default.fileExists(atPath: prefix + path, isDirectory: &isDirectory), !isDirectory.boolValue {
          files.insert(path)
        }
      }
      return files
    }
  }
}

/// A temporary directory where a recipe runs: `taskwatch` first on `PATH`,
/// `TASKWATCH_URL` naming the test server, nothing else from the caller's
/// Celery or taskwatch environment.
private final class Workspace {
  let directory: URL
  let environment: [String: String]

  init(server: RedisServer) throws {
    directory = FileManager.default.temporaryDirectory.appendingPathComponent("taskwatch-recipe-\(UUID().uuidString)")
    let bin = directory.appendingPathComponent(".bin")
    try FileManager.default.createDirectory(at: bin, withIntermediateDirectories: true)
    let executable = URL(fileURLWithPath: TaskwatchProcess.executable, relativeTo: Repository.root).path
    try FileManager.default.createSymbolicLink(
      atPath: bin.appendingPathComponent("taskwatch").path, withDestinationPath: executable)
    var environment = ProcessInfo.processInfo.environment
    for name in ["TASKWATCH_URL", "CELERY_RESULT_BACKEND", "TASKWATCH_PASSWORD", "TASK_ID"] {
      environment.removeValue(forKey: name)
    }
    environment["PATH"] = bin.path + ":" + (environment["PATH"] ?? "/usr/bin:/bin")
    environment["TASKWATCH_URL"] = server.url()
    self.environment = environment
  }

  deinit {
    try? FileManager.default.removeItem(at: directory)
  }

  func write(_ name: String, _ text: String) throws {
    try text.write(to: directory.appendingPathComponent(name), atomically: true, encoding: .utf8)
  }

  func read(_ name: String) throws -> String {
    try String(contentsOf: directory.appendingPathComponent(name), encoding: .utf8)
  }

  /// Starts `script` with `TASK_ID` set when given.
  func start(_ script: String, taskID: String? = nil) throws -> ShellCommand {
    var environment = environment
    environment["TASK_ID"] = taskID
    return try ShellCommand(bash: script, in: directory, environment: environment, seconds: 20)
  }

  /// Runs `script` to its end.
  func run(_ script: String, taskID: String? = nil) throws -> ShellCommand.Result {
    try start(script, taskID: taskID).finish()
  }
}
