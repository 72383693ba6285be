import TaskWatch

/// The `{"type":"summary",…}` line that `--summary` adds at the end.
struct RunSummary {
  /// Every watched task with its last state.
  let statuses: [TaskStatus]
  /// Seconds since the run started.
  let elapsedSeconds: Double
  /// The status the process exits with.
  let exitStatus: ExitStatus

  /// The summary as one line of JSON: total, counts per state (sorted by name;
  /// an unreadable result counts as `UNREADABLE`), the ids still unready, the
  /// ids whose stored result cannot be read, elapsed seconds and the exit code.
  var json: [UInt8] {
    var counts: [String: Int] = [:]
    for status in statuses { counts[status.shownState.name, default: 0] += 1 }
    var line = Array(#"{"type":"summary","total":"#.utf8) + Array(String(statuses.count).utf8)
    line += Array(#","states":{"#.utf8)
    for (position, name) in counts.keys.sorted().enumerated() {
      if position > 0 { line.append(UInt8(ascii: ",")) }
      JSONText.appendString(name, to: &line)
      line += Array(":\(counts[name]!)".utf8)
    }
    line += Array(#"},"unready":["#.utf8)
    for (position, status) in statuses.filter({ !$0.isReady }).enumerated() {
      if position > 0 { line.append(UInt8(ascii: ",")) }
      JSONText.appendString(status.taskID, to: &line)
    }
    line += Array(#"],"unreadable":["#.utf8)
    for (position, status) in statuses.filter({ $0.unreadable != nil }).enumerated() {
      if position > 0 { line.append(UInt8(ascii: ",")) }
      JSONText.appendString(status.taskID, to: &line)
    }
    let milliseconds = (elapsedSeconds * 1000).rounded() / 1000
    line += Array(#"],"elapsed_s":\#(milliseconds),"exit_code":\#(exitStatus.rawValue)}"#.utf8)
    return line
  }
}
