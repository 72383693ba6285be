/// Texts shown by `--help` and `--version`.
enum HelpText {
  /// Widest line of the discussion. ArgumentParser rewraps longer lines at
  /// the terminal's width (80 when not a terminal) with no indent, which would
  /// break the examples and the exit-status table apart.
  static let width = 78

  /// What `--help` shows after the abstract: what the output is, a few
  /// examples, and the exit-status table.
  static var discussion: String {
    """
    Prints one JSON object per state change (NDJSON) on standard output, or a
    live table when it is a terminal (--format), and exits when every task is
    ready. Diagnostics go to standard error. The output fields, recipes and
    environment are in taskwatch(1).

    Examples:
      taskwatch ID1 ID2                          wait for two tasks
      taskwatch -t 10m --fail-fast - < ids.txt   CI: stop at the first FAILURE
      taskwatch ID | jq -r 'select(.ready) | .meta.result'

    Exit status:
    \(exitStatusTable)
    """
  }

  /// One row per exit status, meanings wrapped under themselves.
  static var exitStatusTable: String {
    let indent = String(repeating: " ", count: 7)
    return ExitStatus.allCases.map { status in
      let code = String(status.rawValue)
      let lead = "  " + code + String(repeating: " ", count: max(1, 5 - code.count))
      return lead + wrap(status.meaning, width: width - lead.count).joined(separator: "\n" + indent)
    }.joined(separator: "\n")
  }

  /// Splits `text` at spaces into lines of at most `width` characters (a
  /// longer word gets a line of its own).
  static func wrap(_ text: String, width: Int) -> [String] {
    var lines: [String] = []
    var line = ""
    for word in text.split(separator: " ") {
      if line.isEmpty {
        line = String(word)
      } else if line.count + 1 + word.count <= width {
        line += " " + word
      } else {
        lines.append(line)
        line = String(word)
      }
    }
    if !line.isEmpty { lines.append(line) }
    return lines
  }
}
