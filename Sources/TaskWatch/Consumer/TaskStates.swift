/// The last state of each task, one byte a task: a code into the few
/// distinct states a run sees (`STARTED`, `PROGRESS`, `SUCCESS`, …).
///
/// A `TaskState?` per task took 16 bytes or more (it holds a `String`);
/// 1,000,000 tasks with only a handful of states between them need one byte
/// each. Should a run see more than ``paletteLimit`` distinct states (a
/// custom state per step, say), the states past that are kept by task in a
/// dictionary, so every state is still exact.
struct TaskStates {
  /// Per task: 0 no state yet, 1…``paletteLimit`` a palette entry + 1,
  /// ``overflowCode`` a state in ``overflow``.
  private var codes: [UInt8] = []
  /// The distinct states seen, in the order first seen.
  private var palette: [TaskState] = []
  /// The states of tasks whose state is not in the palette (rare).
  private var overflow: [Int: TaskState] = [:]
  /// The codes set last and the one before, tried before the palette is
  /// searched: a burst sets the same state or two alternating ones (the
  /// search cost ~300 instructions a message at S4).
  private var recentCodes: (UInt8, UInt8) = (0, 0)
  /// How many distinct states get a code of their own.
  static let paletteLimit = 254
  private static let overflowCode = UInt8(paletteLimit + 1)

  /// No tasks.
  init() {}

  /// `count` tasks without a state.
  init(count: Int) {
    codes = Array(repeating: 0, count: count)
  }

  /// The number of tasks.
  var count: Int { codes.count }

  /// Adds a task with `state`.
  mutating func append(_ state: TaskState?) {
    codes.append(0)
    if let state { self[codes.count - 1] = state }
  }

  /// Reserves room for `count` tasks in all.
  mutating func reserveCapacity(_ count: Int) {
    codes.reserveCapacity(count)
  }

  /// The state of the task at `index`.
  subscript(index: Int) -> TaskState? {
    get {
      let code = codes[index]
      if code == 0 { return nil }
      if code == Self.overflowCode { return overflow[index] }
      return palette[Int(code) - 1]
    }
    set {
      if codes[index] == Self.overflowCode { overflow[index] = nil }
      guard let state = newValue else {
        codes[index] = 0
        return
      }
      if let code = recentCode(of: state) {
        codes[index] = code
      } else if let position = palette.firstIndex(of: state) {
        codes[index] = UInt8(position + 1)
        recentCodes = (UInt8(position + 1), recentCodes.0)
      } else if palette.count < Self.paletteLimit {
        palette.append(state)
        codes[index] = UInt8(palette.count)
        recentCodes = (UInt8(palette.count), recentCodes.0)
      } else {
        codes[index] = Self.overflowCode
        overflow[index] = state
      }
    }
  }

  /// The code of `state` if it is one of ``recentCodes``.
  @inline(__always)
  private func recentCode(of state: TaskState) -> UInt8? {
    let (last, before) = recentCodes
    if last != 0 && palette[Int(last) - 1] == state { return last }
    if before != 0 && palette[Int(before) - 1] == state { return before }
    return nil
  }
}
