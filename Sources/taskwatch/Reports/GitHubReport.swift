import Glibc
import TaskWatch

/// `--report github` (on by itself when `GITHUB_ACTIONS=true`): one
/// `::error` workflow command per failed task on standard error, which GitHub
/// shows as an annotation, a `::warning` per task still unready, and, when
/// `GITHUB_STEP_SUMMARY` names a file, a Markdown table of the run appended
/// to it.
struct GitHubReport {
  /// The run's summary, with every task.
  let summary: RunSummary
  /// Details of the tasks.
  let record: RunRecord

  /// Rows of the step summary's task table at most; the rest are counted.
  static let maximumRows = 100

  /// The workflow command lines, one per task that did not succeed.
  var annotations: [String] {
    summary.statuses.filter { $0.state != .success }.map { status in
      let detail = record.record(for: status.taskID)
      let label = TaskRecord.label(status.taskID, name: detail?.name)
      if status.state.isFailure {
        let text = detail.flatMap { MetaFields.failureText(type: $0.excType, message: $0.excMessage) }
        let message = label + " " + status.state.name + (text.map { ": " + $0 } ?? "")
        return "::error title=\(Self.property("Celery task \(status.state.name)"))::\(Self.data(message))"
      }
      let title = Self.property("Celery task unready")
      return "::warning title=\(title)::\(Self.data(label + " still " + status.state.name + " when taskwatch exited"))"
    }
  }

  /// The step summary: a heading with the counts, then a table of the tasks
  /// that did not succeed.
  var markdown: String {
    var counts: [String: Int] = [:]
    for status in summary.statuses { counts[status.state.name, default: 0] += 1 }
    let states = counts.keys.sorted().map { "\(counts[$0]!) \($0)" }.joined(separator: ", ")
    var text = "### taskwatch: \(summary.statuses.count) tasks (\(states)), exit \(summary.exitStatus.rawValue)\n\n"
    let problems = summary.statuses.filter { $0.state != .success }
    guard !problems.isEmpty else { return text + "Every task reached SUCCESS.\n\n" }
    text += "| task | state | error |\n|---|---|---|\n"
    for status in problems.prefix(Self.maximumRows) {
      let detail = record.record(for: status.taskID)
      let error = detail.flatMap { MetaFields.failureText(type: $0.excType, message: $0.excMessage) } ?? ""
      text +=
        "| \(Self.cell(TaskRecord.label(status.taskID, name: detail?.name))) | \(status.state.name) | \(Self.cell(error)) |\n"
    }
    if problems.count > Self.maximumRows { text += "\n… and \(problems.count - Self.maximumRows) more.\n" }
    return text + "\n"
  }

  /// Prints the annotations and appends the step summary.
  func emit(stepSummaryPath: String?) {
    let lines = annotations.map { $0 + "\n" }.joined()
    try? StandardStreams.writeAll(Array(lines.utf8), to: STDERR_FILENO)
    guard let stepSummaryPath, let file = fopen(stepSummaryPath, "a") else { return }
    defer { fclose(file) }
    let bytes = Array(markdown.utf8)
    _ = fwrite(bytes, 1, bytes.count, file)
  }

  /// A workflow command's message: `%`, CR and LF escaped.
  static func data(_ text: String) -> String {
    text.replacing("%", with: "%25").replacing("\r", with: "%0D").replacing("\n", with: "%0A")
  }

  /// A workflow command's property value: also `:` and `,` escaped.
  static func property(_ text: String) -> String {
    data(text).replacing(":", with: "%3A").replacing(",", with: "%2C")
  }

  /// A Markdown table cell: one line, `|` and HTML escaped (GitHub renders HTML in Markdown).
  private static func cell(_ text: String) -> String {
    String(text.map { $0.isNewline ? " " : $0 }).replacing("&", with: "&amp;").replacing("<", with: "&lt;")
      .replacing(">", with: "&gt;").replacing("|", with: "\\|")
  }
}
