import Glibc
import TaskWatch

/// `--format text` when standard output is not a terminal: one plain line per
/// transition (`observed_at id STATE (was PREVIOUS) 42% exc_type: message`),
/// then the footer and the failures; escape codes only with `--color always`.
struct PlainLineWriter: StateOutput {
  private var board = TaskBoard()
  private var buffer: [UInt8] = []
  private var timestamps = RFC3339Timestamp()
  private let table: LiveTable
  private let descriptor: Int32
  private let started = TerminalView.wallSeconds()

  /// Creates the writer for `descriptor` (standard output by default).
  init(color: Bool, descriptor: Int32 = STDOUT_FILENO) {
    table = LiveTable(width: Int.max, height: Int.max, color: color)
    self.descriptor = descriptor
  }

  mutating func write(_ change: StateChange) {
    board.apply(change)
    guard let row = board.row(for: change.taskID) else { return }
    var segments = [
      LiveTable.Segment(timestamps.string(for: change.observedAt) + " " + change.taskID + " ", .plain),
      LiveTable.Segment(change.state.name, LiveTable.style(of: change.state)),
    ]
    if let previous = change.previous { segments.append(LiveTable.Segment(" (was \(previous.name))", .plain)) }
    if let progress = row.progress {
      segments.append(LiveTable.Segment(" \(Int((progress * 100).rounded(.down)))%", .plain))
    }
    if let failure = row.failure { segments.append(LiveTable.Segment(" " + failure, .plain)) }
    append(table.fit(segments))
  }

  mutating func flush() throws(StandardStreams.OutputClosed) {
    guard !buffer.isEmpty else { return }
    defer { buffer.removeAll(keepingCapacity: true) }
    try StandardStreams.writeAll(buffer, to: descriptor)
  }

  /// Ends with the footer (counts per state, time waited) and the failures,
  /// and with `--summary` the summary's text lines.
  mutating func finish(summary: RunSummary?) throws(StandardStreams.OutputClosed) {
    append(table.footer(board.rows, waited: TerminalView.wallSeconds() - started))
    for line in table.failureLines(board.rows) { append(line) }
    for line in summary?.textLines ?? [] { append(line) }
    try flush()
  }

  private mutating func append(_ line: String) {
    buffer.append(contentsOf: line.utf8)
    buffer.append(UInt8(ascii: "\n"))
  }
}
