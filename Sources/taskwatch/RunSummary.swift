import TaskWatch

/// The `{"type":"summary",…}` line that `--summary` adds at the end.
struct RunSummary {
  /// Every watched task with its last state.
  let statuses: [TaskStatus]
  /// Seconds since the run started.
  let elapsedSeconds: Double
  /// The status the process exits with.
  let exitStatus: ExitStatus
  /// Names and exceptions of the tasks, when recorded.
  var record: RunRecord? = nil

  /// One task that did not succeed, as the summary lists it.
  struct Problem {
    let taskID: String
    let state: TaskState
    let name: String?
    let excType: String?
    let excMessage: String?
  }

  /// Each task whose last state is not SUCCESS, in the order watched.
  var problems: [Problem] {
    statuses.filter { $0.state != .success }.map { status in
      let detail = record?.record(for: status.taskID)
      return Problem(
        taskID: status.taskID, state: status.state, name: detail?.name, excType: detail?.excType,
        excMessage: detail?.excMessage)
    }
  }

  /// Tasks per state name.
  var counts: [String: Int] {
    var counts: [String: Int] = [:]
    for status in statuses { counts[status.state.name, default: 0] += 1 }
    return counts
  }

  /// The summary as one line of JSON: total, counts per state (sorted by
  /// name), the ids still unready, each task that did not succeed
  /// (`task_id`, `state`, and `name`, `exc_type`, `exc_message` when known),
  /// elapsed seconds and the exit code.
  var json: [UInt8] {
    let counts = self.counts
    var line = Array(#"{"type":"summary","total":"#.utf8) + Array(String(statuses.count).utf8)
    line += Array(#","states":{"#.utf8)
    for (position, name) in counts.keys.sorted().enumerated() {
      if position > 0 { line.append(UInt8(ascii: ",")) }
      JSONText.appendString(name, to: &line)
      line += Array(":\(counts[name]!)".utf8)
    }
    line += Array(#"},"unready":["#.utf8)
    for (position, status) in statuses.filter({ !$0.state.isReady }).enumerated() {
      if position > 0 { line.append(UInt8(ascii: ",")) }
      JSONText.appendString(status.taskID, to: &line)
    }
    line += Array(#"],"not_succeeded":["#.utf8)
    for (position, problem) in problems.enumerated() {
      if position > 0 { line.append(UInt8(ascii: ",")) }
      line += Array(#"{"task_id":"#.utf8)
      JSONText.appendString(problem.taskID, to: &line)
      line += Array(#","state":"#.utf8)
      JSONText.appendString(problem.state.name, to: &line)
      for (key, value) in [("name", problem.name), ("exc_type", problem.excType), ("exc_message", problem.excMessage)] {
        guard let value else { continue }
        line += Array(",\"\(key)\":".utf8)
        JSONText.appendString(value, to: &line)
      }
      line.append(UInt8(ascii: "}"))
    }
    let milliseconds = (elapsedSeconds * 1000).rounded() / 1000
    line += Array(#"],"elapsed_s":\#(milliseconds),"exit_code":\#(exitStatus.rawValue)}"#.utf8)
    return line
  }

  /// The summary for the text view: one line of totals, then one line per
  /// task that did not succeed.
  var textLines: [String] {
    let counts = self.counts
    let states = counts.keys.sorted().map { "\(counts[$0]!) \($0)" }.joined(separator: ", ")
    let milliseconds = (elapsedSeconds * 1000).rounded() / 1000
    var lines = [
      "summary: \(statuses.count) \(statuses.count == 1 ? "task" : "tasks")"
        + (states.isEmpty ? "" : " (\(states))") + ", \(milliseconds)s, exit \(exitStatus.rawValue)"
    ]
    for problem in problems {
      let failure = MetaFields.failureText(type: problem.excType, message: problem.excMessage)
      lines.append(
        "  \(problem.state.name) \(TaskRecord.label(problem.taskID, name: problem.name))"
          + (failure.map { "  " + $0 } ?? ""))
    }
    return lines
  }
}
