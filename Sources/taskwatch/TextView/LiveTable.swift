import TaskWatch

/// Renders task rows as lines of text for a terminal of a given size: the
/// pure part of the live view, with no I/O, so it is tested at a fixed width.
///
/// A frame is a header row, one row per task (`task  STATE  time  detail`),
/// and the footer, and is at most `height - 1` lines, so drawing it never
/// scrolls the terminal and redrawing it in place never grows the
/// scrollback. The task column shows the task's name and the start of its id
/// when the meta names the task (Celery's `result_extended`), else the id;
/// the detail is a progress bar (Celery's PROGRESS convention), the result of
/// a SUCCESS or the `exc_type: exc_message` of a failure, as far as the width
/// allows. When the rows do not fit, the failed and running tasks come first,
/// then the waiting ones, then the succeeded ones, and what is left out is
/// counted on one line (`+150 pending, +126 done`). With `--children` the
/// rows form a tree (``TaskTree``): each task indented under its parent, and
/// large families folded under their parent first. The footer keeps the
/// totals and the time waited whatever the width, dropping counts first.
struct LiveTable {
  /// Columns available; no line is longer.
  let width: Int
  /// Lines of the terminal; a frame uses at most one less.
  let height: Int
  /// Whether to colour states with ANSI escapes.
  let color: Bool

  /// The state of the connection, for the footer.
  enum Connection: Equatable {
    /// Before anything was read: the footer counts the ids given.
    case connecting
    /// Connected (or the run is over).
    case connected
    /// The link was lost and is being restored.
    case reconnecting
  }

  /// What the footer says besides the rows' counts.
  struct Status {
    /// The number of tasks given, shown while nothing is read yet.
    var expectedTasks: Int?
    /// The connection.
    var connection: Connection = .connected
  }

  /// Width of the state column (longer custom states are cut).
  private static let stateWidth = 10
  /// Narrowest task column.
  private static let minimumTaskWidth = 9
  /// Narrowest detail worth showing.
  private static let minimumDetail = 8

  /// A task's group in a folded table, in the order shown.
  /// Running tasks that report something (PROGRESS and other custom
  /// states) come before the merely STARTED ones.
  private enum Group: Int, CaseIterable {
    case failed, reporting, started, waiting, done

    init(_ state: TaskState) {
      switch state {
      case .failure, .revoked: self = .failed
      case .success: self = .done
      case .pending, .received, .retry: self = .waiting
      case .started: self = .started
      default: self = .reporting
      }
    }

    /// How the overflow line names the tasks left out.
    var overflowName: String {
      switch self {
      case .failed: return "failed"
      case .reporting, .started: return "running"
      case .waiting: return "pending"
      case .done: return "done"
      }
    }
  }

  /// The frame: the header, the rows that fit, one overflow line when some
  /// do not, and the footer; never more than `height - 1` lines.
  /// - Parameters:
  ///   - rows: every task, in the order first seen.
  ///   - now: wall-clock seconds, for the elapsed time of unready tasks.
  ///   - waited: seconds since the run started.
  ///   - status: the footer's connection state and expected count.
  func render(_ rows: [TaskRow], now: Double, waited: Double, status: Status = Status()) -> [String] {
    let lines = max(height - 1, 1)
    guard lines > 1 else { return [footer(rows, waited: waited, status: status)] }
    // The header is dropped first on a very short terminal.
    let withHeader = lines >= 4 && !rows.isEmpty
    let capacity = lines - 1 - (withHeader ? 1 : 0)
    if TaskTree.isTree(rows), let tree = TaskTree.lines(rows, capacity: capacity) {
      return render(tree, footer: footer(rows, waited: waited, status: status), header: withHeader, now: now)
    }
    var shown: [TaskRow]
    var overflow: String?
    if rows.count <= capacity {
      shown = rows
    } else {
      var grouped = Array(repeating: [TaskRow](), count: Group.allCases.count)
      for row in rows { grouped[Group(row.state).rawValue].append(row) }
      let room = capacity - 1
      shown = Array(grouped.joined().prefix(room))
      var left = shown.count
      var hidden: [(name: String, count: Int)] = []
      for group in Group.allCases {
        let count = grouped[group.rawValue].count
        let visible = min(left, count)
        left -= visible
        guard count > visible else { continue }
        if let last = hidden.last, last.name == group.overflowName {
          hidden[hidden.count - 1].count += count - visible
        } else {
          hidden.append((group.overflowName, count - visible))
        }
      }
      overflow = hidden.map { "+\($0.count) \($0.name)" }.joined(separator: ", ")
    }
    let times = shown.map { Self.time(of: $0, now: now) }
    let columns = layout(for: shown, times: times)
    var frame: [String] = []
    if withHeader { frame.append(header(columns)) }
    frame += zip(shown, times).map { row($0, time: $1, columns) }
    if let overflow { frame.append(fit([Segment(overflow, .dim)])) }
    frame.append(footer(rows, waited: waited, status: status))
    return frame
  }

  /// A tree's frame: the header, its lines (rows indented by depth, fold
  /// lines dim), and the footer.
  private func render(_ tree: [TaskTree.Line], footer: String, header withHeader: Bool, now: Double) -> [String] {
    var shown: [(row: TaskRow, depth: Int)] = []
    for case .task(let row, let depth) in tree { shown.append((row, depth)) }
    let times = shown.map { Self.time(of: $0.row, now: now) }
    let columns = layout(for: shown.map(\.row), times: times, depths: shown.map(\.depth))
    var frame: [String] = []
    if withHeader { frame.append(header(columns)) }
    var next = 0
    for line in tree {
      switch line {
      case .task(let row, let depth):
        frame.append(self.row(row, time: times[next], columns, depth: depth))
        next += 1
      case .folded(let counts, let depth):
        let text = counts.map { "+\($0.count) \($0.name)" }.joined(separator: ", ")
        frame.append(fit([Segment(Self.indent(depth) + text, .dim)]))
      }
    }
    frame.append(footer)
    return frame
  }

  /// Two spaces per level below the root.
  static func indent(_ depth: Int) -> String {
    String(repeating: "  ", count: depth)
  }

  /// The lines shown once the run is over: the table, then one line per
  /// failed task with its `exc_type: exc_message` (these may scroll).
  func finalLines(_ rows: [TaskRow], now: Double, waited: Double) -> [String] {
    render(rows, now: now, waited: waited) + failureLines(rows)
  }

  /// One line per FAILURE, REVOKED or UNREADABLE task: `STATE id exc_type: exc_message` (or why it cannot be read).
  func failureLines(_ rows: [TaskRow]) -> [String] {
    rows.filter { $0.state.isFailure || $0.state == .unreadable }.map { row in
      var segments = [Segment(row.state.name, Self.style(of: row.state)), Segment(" " + row.taskID, .plain)]
      if let name = row.name { segments.append(Segment(" " + name, .plain)) }
      if let failure = row.failure { segments.append(Segment("  " + failure, .plain)) }
      return fit(segments)
    }
  }

  /// `N tasks: 1 PENDING, 2 SUCCESS  waited 12s`, states in name order. When
  /// the width is short, counts are dropped from the end (`…`) before the
  /// total or the time waited; while connecting it counts the ids given,
  /// and while reconnecting it says so first.
  func footer(_ rows: [TaskRow], waited: Double, status: Status = Status()) -> String {
    var counts: [TaskState: Int] = [:]
    for row in rows { counts[row.state, default: 0] += 1 }
    let waitedText = "  waited " + Self.duration(waited)
    var lead: [Segment] = []
    if status.connection == .reconnecting { lead.append(Segment("reconnecting  ", .yellow)) }
    let connecting = rows.isEmpty && status.connection == .connecting
    let total = connecting ? (status.expectedTasks ?? 0) : rows.count
    lead.append(Segment(total == 1 ? "1 task" : "\(total) tasks", .plain))
    if connecting { lead.append(Segment(": connecting", .dim)) }
    let states = counts.keys.sorted(by: { $0.name < $1.name })
    var shownStates = states.count
    while true {
      var segments = lead
      for (position, state) in states.prefix(shownStates).enumerated() {
        segments.append(Segment(position == 0 ? ": \(counts[state]!) " : ", \(counts[state]!) ", .plain))
        segments.append(Segment(state.name, Self.style(of: state)))
      }
      if shownStates < states.count { segments.append(Segment(shownStates == 0 ? ": …" : ", …", .plain)) }
      let length = segments.reduce(0) { $0 + $1.text.count } + waitedText.count
      if length <= width || shownStates == 0 {
        segments.append(Segment(waitedText, .dim))
        return fit(segments)
      }
      shownStates -= 1
    }
  }

  // MARK: - Rows

  /// Column widths for a set of rows.
  private struct Columns {
    var task: Int
    var time: Int
    var detail: Int
    /// Whether any row shows a detail, so the header names the column.
    var anyDetail: Bool
  }

  /// The task column takes what its longest label needs, the detail what
  /// remains; the task column gives way to keep a bar or a short detail.
  private func layout(for rows: [TaskRow], times: [String], depths: [Int]? = nil) -> Columns {
    let time = max(4, times.map(\.count).max() ?? 0)
    let fixed = 2 + Self.stateWidth + 1 + time
    let indents = depths ?? Array(repeating: 0, count: rows.count)
    let longest = max(zip(rows, indents).map { Self.label(of: $0).count + 2 * $1 }.max() ?? 0, 4)
    let hasBar = rows.contains { $0.progress != nil }
    let wantedDetail = hasBar ? 2 + barWidth + 7 : (rows.contains { $0.outcome != nil } ? 2 + Self.minimumDetail : 0)
    let task = max(Self.minimumTaskWidth, min(longest, width - fixed - wantedDetail))
    return Columns(task: task, time: time, detail: max(0, width - fixed - task - 2), anyDetail: wantedDetail > 0)
  }

  private func header(_ columns: Columns) -> String {
    var text =
      "TASK".padded(to: columns.task) + "  " + "STATE".padded(to: Self.stateWidth) + " "
      + "TIME".padded(to: columns.time, left: true)
    if columns.anyDetail && columns.detail >= Self.minimumDetail { text += "  DETAIL" }
    return fit([Segment(text, .dim)])
  }

  private func row(_ row: TaskRow, time: String, _ columns: Columns, depth: Int = 0) -> String {
    let style = Self.style(of: row.state)
    let label = Self.indent(depth) + Self.label(of: row)
    var segments = [
      Segment(Self.shortened(label, to: columns.task).padded(to: columns.task) + "  ", .plain),
      Segment(Self.shortened(row.state.name, to: Self.stateWidth).padded(to: Self.stateWidth), style),
      Segment(" " + time.padded(to: columns.time, left: true), .dim),
    ]
    if let progress = row.progress, columns.detail >= barWidth + 7 {
      let filled = Int((progress * Double(barWidth)).rounded(.down))
      segments.append(Segment("  [", .plain))
      segments.append(
        Segment(String(repeating: "#", count: filled) + String(repeating: "-", count: barWidth - filled), style))
      segments.append(Segment("] " + "\(Int((progress * 100).rounded(.down)))%".padded(to: 4, left: true), .plain))
    } else if let outcome = row.outcome, columns.detail >= Self.minimumDetail {
      segments.append(
        Segment(
          "  " + Self.shortened(outcome, to: columns.detail),
          row.state.isFailure || row.state == .unreadable ? style : .plain))
    }
    return fit(segments)
  }

  /// The task column: `name 6f1c2e4a` when the meta named the task, else the id.
  static func label(of row: TaskRow) -> String {
    guard let name = row.name else { return row.taskID }
    return name + " " + String(row.taskID.prefix(8))
  }

  /// How long the task took or has been watched; for a task that was
  /// already ready when first seen, how long ago it finished (`3m ago`).
  static func time(of row: TaskRow, now: Double) -> String {
    if let done = row.doneBeforeStart { return duration(now - done) + " ago" }
    return duration((row.readyAt ?? now) - row.firstSeen)
  }

  /// Bar cells: 20, or 10 on a terminal narrower than 73 columns (the view
  /// keeps the last column free, so an 80-column terminal is 79 here).
  private var barWidth: Int { width >= 72 ? 20 : 10 }

  /// `text` cut to `width` characters, ending in `…` when cut.
  static func shortened(_ text: String, to width: Int) -> String {
    guard text.count > width else { return text }
    return width <= 1 ? String(text.prefix(width)) : String(text.prefix(width - 1)) + "…"
  }

  /// A duration in whole units read at a glance: `12s`, `3m05s`, `1h02m`, `2d03h`.
  static func duration(_ seconds: Double) -> String {
    let total = max(0, Int(seconds.rounded(.down)))
    if total < 60 { return "\(total)s" }
    if total < 3600 { return "\(total / 60)m" + String(format2: total % 60) + "s" }
    if total < 86400 { return "\(total / 3600)h" + String(format2: total / 60 % 60) + "m" }
    return "\(total / 86400)d" + String(format2: total / 3600 % 24) + "h"
  }

  // MARK: - Styling

  /// How a piece of a line is coloured.
  enum Style: Equatable {
    case plain, dim, green, red, yellow, blue

    /// The SGR escape that starts the style.
    var escape: String {
      switch self {
      case .plain: return ""
      case .dim: return "\u{1B}[2m"
      case .green: return "\u{1B}[32m"
      case .red: return "\u{1B}[31m"
      case .yellow: return "\u{1B}[33m"
      case .blue: return "\u{1B}[34m"
      }
    }
  }

  /// The colour of a state: green SUCCESS, red FAILURE/REVOKED, yellow RETRY,
  /// plain PENDING, blue for every running state (custom ones included).
  static func style(of state: TaskState) -> Style {
    switch state {
    case .success: return .green
    case .failure, .revoked, .unreadable: return .red
    case .retry: return .yellow
    case .pending: return .plain
    default: return .blue
    }
  }

  /// A run of text in one style.
  struct Segment {
    let text: String
    let style: Style
    init(_ text: String, _ style: Style) {
      self.text = text
      self.style = style
    }
  }

  /// Joins segments into one line of at most ``width`` visible characters,
  /// with colour escapes around the styled ones when colour is on. Control
  /// characters in the text (line breaks, escapes: a result can hold any)
  /// become spaces.
  func fit(_ segments: [Segment]) -> String {
    var line = ""
    var remaining = width
    for segment in segments where remaining > 0 {
      var text = segment.text
      // A result may hold any character: never let one move the cursor.
      if text.unicodeScalars.contains(where: { $0.properties.generalCategory == .control }) {
        text = String(
          String.UnicodeScalarView(
            text.unicodeScalars.map { $0.properties.generalCategory == .control ? " " : $0 }))
      }
      if text.count > remaining { text = Self.shortened(text, to: remaining) }
      remaining -= text.count
      if color && segment.style != .plain && !text.isEmpty {
        line += segment.style.escape + text + "\u{1B}[0m"
      } else {
        line += text
      }
    }
    while line.hasSuffix(" ") { line.removeLast() }
    return line
  }
}

extension String {
  /// Two digits with a leading zero.
  fileprivate init(format2 value: Int) {
    self = value < 10 ? "0\(value)" : "\(value)"
  }

  /// Padded with spaces to `width` characters, on the right (or the left).
  fileprivate func padded(to width: Int, left: Bool = false) -> String {
    let padding = String(repeating: " ", count: max(0, width - count))
    return left ? padding + self : self + padding
  }
}
