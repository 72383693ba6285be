import TaskWatch

/// The `still waiting: …` line on standard error after a quiet minute, for
/// CI logs where no live view shows that taskwatch is alive
/// (`--heartbeat`, on when standard output or standard error is not a terminal).
struct Heartbeat {
  /// Seconds without a change before a line.
  let interval: Double
  private var next: Deadline
  private var changed = false

  /// Starts the clock.
  init(interval: Double) {
    self.interval = interval
    next = .after(seconds: interval)
  }

  /// A change was seen: the quiet interval starts again at the next
  /// ``line(_:)`` (a flag here, so a burst does not read the clock per change).
  mutating func noteChange() {
    changed = true
  }

  /// The line to print now, if a quiet interval has passed; called before
  /// every wait. The unready tasks' states are read only then: counted per
  /// change instead, they cost ~160 instructions a message at S4.
  mutating func line(unready: () -> [TaskState]) -> String? {
    if changed {
      changed = false
      next = .after(seconds: interval)
      return nil
    }
    guard next.hasPassed else { return nil }
    next = .after(seconds: interval)
    var counts: [(state: TaskState, count: Int)] = []
    let states = unready()
    for state in states {
      if let index = counts.firstIndex(where: { $0.state == state }) {
        counts[index].count += 1
      } else {
        counts.append((state, 1))
      }
    }
    counts.sort { $0.count != $1.count ? $0.count > $1.count : $0.state.name < $1.state.name }
    let parts = counts.map { "\($0.count) \($0.state.name)" }.joined(separator: ", ")
    return "still waiting: \(states.count) unready" + (parts.isEmpty ? "" : " (\(parts))")
  }
}
