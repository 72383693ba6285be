import TaskWatch

/// Renders task rows as lines of text for a terminal of a given size: the
/// pure part of the live view, with no I/O, so it is tested at a fixed width.
///
/// A row is `id  STATE  elapsed  [bar] pct`; the bar appears when the latest
/// meta carries Celery's PROGRESS convention. When the rows do not fit, the
/// unready and failed tasks come first and the succeeded ones are counted on
/// a `+N done` line. The last line is the footer: counts per state and the
/// time waited.
struct LiveTable {
  /// Columns available; no line is longer.
  let width: Int
  /// Lines available, footer included.
  let height: Int
  /// Whether to colour states with ANSI escapes.
  let color: Bool

  /// Width of the state column (longer custom states are cut).
  private static let stateWidth = 10
  /// Width of the elapsed column.
  private static let elapsedWidth = 6

  /// The table: the rows that fit, a `+N done` line when some do not, and the footer.
  /// - Parameters:
  ///   - rows: every task, in the order first seen.
  ///   - now: wall-clock seconds, for the elapsed time of unready tasks.
  ///   - waited: seconds since the run started.
  func render(_ rows: [TaskRow], now: Double, waited: Double) -> [String] {
    var lines: [String] = []
    let capacity = height - 1
    if rows.count <= capacity {
      lines = rows.map { row($0, idWidth: idWidth(for: rows), now: now) }
    } else if capacity > 0 {
      let ordered =
        rows.filter { !$0.state.isReady } + rows.filter { $0.state.isFailure }
        + rows.filter { $0.state == .success }
      let shown = Array(ordered.prefix(capacity - 1))
      let hidden = ordered.dropFirst(shown.count)
      let done = hidden.filter { $0.state == .success }.count
      lines = shown.map { row($0, idWidth: idWidth(for: shown), now: now) }
      var overflow = done > 0 ? "+\(done) done" : ""
      if hidden.count > done { overflow += (overflow.isEmpty ? "" : ", ") + "+\(hidden.count - done) more" }
      lines.append(fit([Segment(overflow, .dim)]))
    }
    lines.append(footer(rows, waited: waited))
    return lines
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
      if let failure = row.failure { segments.append(Segment("  " + failure, .plain)) }
      return fit(segments)
    }
  }

  /// `N tasks: 1 PENDING, 2 SUCCESS  waited 12s`, states in name order.
  func footer(_ rows: [TaskRow], waited: Double) -> String {
    var counts: [TaskState: Int] = [:]
    for row in rows { counts[row.state, default: 0] += 1 }
    var segments = [Segment(rows.count == 1 ? "1 task" : "\(rows.count) tasks", .plain)]
    for (position, state) in counts.keys.sorted(by: { $0.name < $1.name }).enumerated() {
      segments.append(Segment(position == 0 ? ": \(counts[state]!) " : ", \(counts[state]!) ", .plain))
      segments.append(Segment(state.name, Self.style(of: state)))
    }
    segments.append(Segment("  waited " + Self.duration(waited), .dim))
    return fit(segments)
  }

  // MARK: - Rows

  private func row(_ row: TaskRow, idWidth: Int, now: Double) -> String {
    let style = Self.style(of: row.state)
    var segments = [
      Segment(Self.shortened(row.taskID, to: idWidth).padded(to: idWidth) + "  ", .plain),
      Segment(Self.shortened(row.state.name, to: Self.stateWidth).padded(to: Self.stateWidth), style),
      Segment(
        " " + Self.duration((row.readyAt ?? now) - row.firstSeen).padded(to: Self.elapsedWidth, left: true), .dim),
    ]
    if let progress = row.progress {
      let filled = Int((progress * Double(barWidth)).rounded(.down))
      segments.append(Segment("  [", .plain))
      segments.append(
        Segment(String(repeating: "#", count: filled) + String(repeating: "-", count: barWidth - filled), style))
      segments.append(Segment("] " + "\(Int((progress * 100).rounded(.down)))%".padded(to: 4, left: true), .plain))
    }
    return fit(segments)
  }

  /// Bar cells: 20, or 10 on a narrow terminal.
  private var barWidth: Int { width >= 80 ? 20 : 10 }

  /// The id column: every id whole when it fits beside the other columns,
  /// else cut (at least 9 characters, enough to tell UUIDs apart).
  private func idWidth(for rows: [TaskRow]) -> Int {
    let longest = rows.map(\.taskID.count).max() ?? 0
    let others =
      2 + Self.stateWidth + 1 + Self.elapsedWidth + (rows.contains { $0.progress != nil } ? 3 + barWidth + 6 : 0)
    return min(longest, max(9, width - others))
  }

  /// `text` cut to `width` characters, ending in `…` when cut.
  static func shortened(_ text: String, to width: Int) -> String {
    guard text.count > width else { return text }
    return width <= 1 ? String(text.prefix(width)) : String(text.prefix(width - 1)) + "…"
  }

  /// A duration in whole units read at a glance: `12s`, `3m05s`, `1h02m`.
  static func duration(_ seconds: Double) -> String {
    let total = max(0, Int(seconds.rounded(.down)))
    if total < 60 { return "\(total)s" }
    if total < 3600 { return "\(total / 60)m" + String(format2: total % 60) + "s" }
    return "\(total / 3600)h" + String(format2: total / 60 % 60) + "m"
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
  /// with colour escapes around the styled ones when colour is on.
  func fit(_ segments: [Segment]) -> String {
    var line = ""
    var remaining = width
    for segment in segments where remaining > 0 {
      let text = segment.text.count > remaining ? Self.shortened(segment.text, to: remaining) : segment.text
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
