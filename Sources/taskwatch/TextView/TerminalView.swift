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
  private var status = LiveTable.Status(connection: .connecting)

  /// Creates the view for a terminal on `descriptor` and starts listening for resizes.
  /// - Parameter expectedTasks: the number of ids given, counted in the footer while connecting.
  init(color: Bool, expectedTasks: Int? = nil, descriptor: Int32 = STDOUT_FILENO) {
    self.color = color
    status.expectedTasks = expectedTasks
    self.descriptor = descriptor
    size = Terminal.size(of: descriptor)
    ResizeTrap.install()
  }

  mutating func write(_ change: StateChange) {
    board.apply(change)
    if status.connection == .connecting { status.connection = .connected }
    changed = true
  }

  /// Shows the connection's state in the footer, then prints the diagnostic.
  mutating func note(_ diagnostic: ConsumerDiagnostic) {
    switch diagnostic {
    case .connectionLost: status.connection = board.rows.isEmpty ? .connecting : .reconnecting
    case .reconnected: status.connection = .connected
    default: break
    }
    diagnose(diagnostic.description)
  }

  /// Redraws when something changed (at most ten times a second, so a busy
  /// `--all` feed does not spend its time drawing), the terminal was
  /// resized, or a second passed (the elapsed times tick).
  mutating func flush() throws(StandardStreams.OutputClosed) {
    noteResize()
    let now = Self.wallSeconds()
    guard resized || (changed && now - lastDrawn >= 0.1) || now - lastDrawn >= 1 else { return }
    try draw(table.render(board.rows, now: now, waited: now - started, status: status))
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
    // Each line overwrites the old one and clears its own rest (EL), and
    // only what a shorter frame leaves below is erased (ED): erasing the whole
    // frame from its top-left corner made tmux file the screen into its
    // history at every redraw (23 lines a second at 80x24).
    text += "\r"
    for line in lines { text += line + "\u{1B}[K\n" }
    if lines.count < drawnLines { text += "\u{1B}[J" }
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
