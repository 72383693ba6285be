import Glibc
import TaskWatch

/// The live view on a terminal: the table is redrawn in place (cursor up,
/// erase down) whenever something changed, once a second for the clocks, and
/// after a resize (SIGWINCH), and it stays on screen at the end with the
/// failures listed under it.
struct TerminalView: StateOutput {
  private var board = TaskBoard()
  private let color: Bool
  private let descriptor: Int32
  private var size: (width: Int, height: Int)
  private let started = Self.wallSeconds()
  /// Lines of the last drawing, which the next one moves up over.
  private var drawnLines = 0
  private var changed = true
  private var resized = false
  private var lastDrawn = 0.0

  /// Creates the view for a terminal on `descriptor` and starts listening for resizes.
  init(color: Bool, descriptor: Int32 = STDOUT_FILENO) {
    self.color = color
    self.descriptor = descriptor
    size = Terminal.size(of: descriptor)
    ResizeTrap.install()
  }

  mutating func write(_ change: StateChange) {
    board.apply(change)
    changed = true
  }

  /// Redraws when something changed (at most ten times a second, so a busy
  /// `--all` feed does not spend its time drawing), the terminal was
  /// resized, or a second passed (the elapsed times tick).
  mutating func flush() throws(StandardStreams.OutputClosed) {
    noteResize()
    let now = Self.wallSeconds()
    guard resized || (changed && now - lastDrawn >= 0.1) || now - lastDrawn >= 1 else { return }
    try draw(table.render(board.rows, now: now, waited: now - started))
  }

  /// Draws the final table and lists the failures under it, then with
  /// `--summary` the summary's text lines.
  mutating func finish(summary: RunSummary?) throws(StandardStreams.OutputClosed) {
    noteResize()
    let now = Self.wallSeconds()
    try draw(table.finalLines(board.rows, now: now, waited: now - started) + (summary?.textLines ?? []))
  }

  /// Erases the table, prints the diagnostic where it was and redraws the
  /// table under it at the next flush, so the line stays readable and the
  /// redraw does not move up over a line it did not draw.
  mutating func diagnose(_ message: String) {
    if drawnLines > 0 {
      try? StandardStreams.writeAll(Array("\u{1B}[\(drawnLines)A\r\u{1B}[J".utf8), to: descriptor)
      drawnLines = 0
    }
    StandardStreams.diagnose(message)
    changed = true
  }

  /// The renderer for the current size; one column is kept free so a full
  /// line never makes the terminal wrap.
  private var table: LiveTable {
    LiveTable(width: max(size.width - 1, 1), height: size.height, color: color)
  }

  private mutating func noteResize() {
    guard ResizeTrap.takeResize() else { return }
    size = Terminal.size(of: descriptor)
    resized = true
  }

  private mutating func draw(_ lines: [String]) throws(StandardStreams.OutputClosed) {
    var text = ""
    if resized {
      // Old lines were rewrapped at the new width, so counting them is
      // unreliable: start again from a clear screen.
      text += "\u{1B}[H\u{1B}[2J"
    } else if drawnLines > 0 {
      text += "\u{1B}[\(drawnLines)A"
    }
    text += "\r\u{1B}[J"
    for line in lines { text += line + "\n" }
    try StandardStreams.writeAll(Array(text.utf8), to: descriptor)
    drawnLines = lines.count
    changed = false
    resized = false
    lastDrawn = Self.wallSeconds()
  }

  /// Wall-clock seconds, the clock of ``StateChange/observedAt``.
  static func wallSeconds() -> Double {
    let now = WallClockTime.now
    return Double(now.seconds) + Double(now.nanoseconds) / 1e9
  }
}
