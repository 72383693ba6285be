/// Texts shown by `--help` and `--version`.
enum HelpText {
  /// The version `--version` prints.
  static let version = "0.1.0"

  /// Examples and the exit-status table, shown at the end of `--help`.
  static var discussion: String {
    let statuses = ExitStatus.allCases.map { status in
      let code = String(status.rawValue)
      return "  " + code + String(repeating: " ", count: 5 - code.count) + status.meaning
    }
    return """
      Prints one JSON object per state change (NDJSON) and exits when every task is \
      ready. Diagnostics go to standard error.

      Examples:
        taskwatch 3f2a9c1e-… 8b7d…                 wait for two tasks
        taskwatch -t 10m --fail-fast - < ids.txt    CI: fail the job on the first FAILURE
        taskwatch --group 4c01…                     every task of a saved group
        taskwatch ID | jq -r 'select(.ready) | .meta.result'

      Exit status:
      \(statuses.joined(separator: "\n"))
      """
  }
}
