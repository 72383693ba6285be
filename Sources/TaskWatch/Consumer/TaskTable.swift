import Glibc

/// The consumer's record of the tasks it watches: per task only its id, its
/// last state, a digest of its last payload and whether it is still watched.
///
/// Lookups by id are O(1) and the number of unready tasks is kept as a count,
/// so no message ever costs work proportional to the number of tasks. The
/// ids are a ``TaskIDSet`` (a uuid in 16 bytes, looked up straight from a
/// channel name's bytes), the state a byte (``TaskStates``): about 38 bytes
/// per task in all, where `String` ids and `TaskState?` values took ~130.
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

  /// The ids, in the order added (``TaskIDSet``: a uuid takes 16 bytes).
  private(set) var ids = TaskIDSet()
  /// Per task its last state, `nil` before the first.
  private(set) var states = TaskStates()
  private(set) var phases: [Phase] = []
  private var digests: [Int] = []
  /// How many tasks are still being watched.
  private(set) var watchingCount = 0
  /// Per task, the hold generation it was last held in (see ``hold(_:)``).
  private var holds: [UInt32] = []
  /// The current hold generation; 0 is never current.
  private var holdGeneration: UInt32 = 1

  /// An empty table.
  init() {}

  /// A table of the tasks in `ids`, in their order, every one watched and
  /// without a state: the set becomes the table's id column as it is, so
  /// a caller that built it (the CLI, from 1,000,000 ids on standard input)
  /// and lets go of it does not have the ids twice.
  init(watching ids: TaskIDSet) {
    self.ids = ids
    states = TaskStates(count: ids.count)
    phases = Array(repeating: .watching, count: ids.count)
    digests = Array(repeating: 0, count: ids.count)
    holds = Array(repeating: 0, count: ids.count)
    watchingCount = ids.count
  }

  /// The number of tasks ever added.
  var count: Int { ids.count }

  /// The index of a task, if it was added.
  func index(of taskID: String) -> Int? {
    ids.index(of: taskID)
  }

  /// The index of the task whose id has these UTF-8 bytes, if it was added.
  func index(ofUTF8 bytes: UnsafeRawBufferPointer) -> Int? {
    ids.index(ofUTF8: bytes)
  }

  /// The index of the task whose channel (or key) name is `bytes`: `prefix`,
  /// then the id; `nil` unless it starts with `prefix` and the task was
  /// added. `mutating` though it changes nothing: called on the
  /// consumer's stored table, a non-mutating method made the caller copy the
  /// whole table first (~570 instructions a message at S4), and passing
  /// `table.ids` to a static function copied the id set (four retains and
  /// releases, ~600); an inout access to the stored table copies neither.
  mutating func index(ofChannel bytes: [UInt8], droppingPrefix prefix: [UInt8]) -> Int? {
    guard bytes.count > prefix.count else { return nil }
    return bytes.withUnsafeBytes { bytes in
      let hasPrefix = prefix.withUnsafeBytes { prefix in
        prefix.count == 0 || memcmp(bytes.baseAddress!, prefix.baseAddress!, prefix.count) == 0
      }
      guard hasPrefix else { return nil }
      return ids.index(ofUTF8: UnsafeRawBufferPointer(rebasing: bytes[prefix.count...]))
    }
  }

  /// The index of the task a keyed channel names (``TaskChannelKeys``), if
  /// it is in the table. Mutating for the same reason as
  /// ``index(ofChannel:droppingPrefix:)``.
  mutating func index(ofKey key: ChannelKey) -> Int? {
    ids.index(ofUUID: key.first, key.second)
  }

  /// Adds a task and returns its index, or `nil` if it is already in the table.
  mutating func add(_ taskID: String) -> Int? {
    let (inserted, index) = ids.insert(taskID)
    return inserted ? appended(index) : nil
  }

  /// Adds the task whose id has these UTF-8 bytes, like ``add(_:)``.
  mutating func add(utf8 bytes: UnsafeRawBufferPointer) -> Int? {
    let (inserted, index) = ids.insert(utf8: bytes)
    return inserted ? appended(index) : nil
  }

  private mutating func appended(_ index: Int) -> Int {
    states.append(nil)
    phases.append(.watching)
    digests.append(0)
    holds.append(0)
    watchingCount += 1
    return index
  }

  /// Reserves room for `count` more tasks.
  mutating func reserve(_ count: Int) {
    ids.reserveCapacity(count)
    states.reserveCapacity(self.count + count)
    phases.reserveCapacity(phases.count + count)
    digests.reserveCapacity(digests.count + count)
    holds.reserveCapacity(holds.count + count)
  }

  /// Marks a task as held until ``releaseHolds()``: the consumer is reading its
  /// stored key and skips its other messages meanwhile.
  mutating func hold(_ index: Int) {
    holds[index] = holdGeneration
  }

  /// Whether the task is held.
  func isHeld(_ index: Int) -> Bool {
    holds[index] == holdGeneration
  }

  /// Releases every hold at once, in O(1).
  mutating func releaseHolds() {
    holdGeneration &+= 1
    if holdGeneration == 0 {
      // After 2^32 batches: clear the marks so none looks current by accident.
      for index in holds.indices { holds[index] = 0 }
      holdGeneration = 1
    }
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

  /// ``record(_:state:digest:)`` when the task is watched and the payload is
  /// new: a first state, or one whose digest differs from the last (a
  /// missing payload, `hasPayload` false, is new only as a first state).
  /// - Returns: the state before and the task's id; `nil` when nothing was recorded.
  mutating func recordIfNew(
    _ index: Int, state: TaskState, digest: Int, hasPayload: Bool
  ) -> (previous: TaskState?, identifier: TaskIdentifier)? {
    guard phases[index] == .watching else { return nil }
    let previous = states[index]
    if previous != nil && (!hasPayload || digests[index] == digest) { return nil }
    record(index, state: state, digest: digest)
    return (previous, ids.identifier(at: index))
  }

  /// Ends the watch of a task whose stored result can never be read: ready,
  /// outcome unknown, its last readable state kept.
  mutating func finishUnreadable(_ index: Int, digest: Int) {
    digests[index] = digest
    if phases[index] == .watching {
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
