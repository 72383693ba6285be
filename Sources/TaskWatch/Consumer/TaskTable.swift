/// The consumer's record of the tasks it watches: per task only its id, its
/// last state, a digest of its last payload and whether it is still watched.
///
/// Lookups by id are O(1) and the number of unready tasks is kept as a count,
/// so no message ever costs work proportional to the number of tasks.
struct TaskTable {
  /// Where a task stands in the subscription's life cycle.
  enum Phase: UInt8 {
    /// Subscribed and waiting for a ready state.
    case watching
    /// Reached a ready state; final for this run.
    case ready
    /// Removed with `cancel(for:)` before it was ready.
    case cancelled
  }

  private(set) var ids: [String] = []
  private(set) var states: [TaskState?] = []
  private(set) var phases: [Phase] = []
  private var digests: [Int] = []
  private var indexByID: [String: Int] = [:]
  /// How many tasks are still being watched.
  private(set) var watchingCount = 0

  /// The number of tasks ever added.
  var count: Int { ids.count }

  /// The index of a task, if it was added.
  func index(of taskID: String) -> Int? {
    indexByID[taskID]
  }

  /// Adds a task and returns its index, or `nil` if it is already in the table.
  mutating func add(_ taskID: String) -> Int? {
    guard indexByID[taskID] == nil else { return nil }
    let index = ids.count
    ids.append(taskID)
    states.append(nil)
    phases.append(.watching)
    digests.append(0)
    indexByID[taskID] = index
    watchingCount += 1
    return index
  }

  /// Reserves room for `count` more tasks.
  mutating func reserve(_ count: Int) {
    ids.reserveCapacity(ids.count + count)
    states.reserveCapacity(states.count + count)
    phases.reserveCapacity(phases.count + count)
    digests.reserveCapacity(digests.count + count)
    indexByID.reserveCapacity(indexByID.count + count)
  }

  /// True when `digest` equals the last payload digest recorded for the task.
  func isRepeat(_ index: Int, digest: Int) -> Bool {
    digests[index] == digest
  }

  /// Records a new state and payload digest; a ready state ends the watch.
  mutating func record(_ index: Int, state: TaskState, digest: Int) {
    states[index] = state
    digests[index] = digest
    if state.isReady, phases[index] == .watching {
      phases[index] = .ready
      watchingCount -= 1
    }
  }

  /// Stops watching a task that is not ready; returns whether it was watched.
  mutating func cancel(_ index: Int) -> Bool {
    guard phases[index] == .watching else { return false }
    phases[index] = .cancelled
    watchingCount -= 1
    return true
  }
}
