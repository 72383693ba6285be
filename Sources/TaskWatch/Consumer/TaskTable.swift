import Glibc

/// The consumer's record of the tasks it watches: per task only its id, its
/// last state, a digest of its last payload and whether it is still watched.
///
/// Lookups by id are O(1) and the number of unready tasks is kept as a count,
/// so no message ever costs work proportional to the number of tasks. The id
/// index is an open-addressing table over the UTF-8 bytes of the ids, so a
/// channel name read from the socket is looked up without first becoming a
/// `String` (an allocation and a UTF-8 check per message), and it costs 4–8
/// bytes per task instead of a `[String: Int]` entry. Ids are compared as
/// bytes, as Redis compares channel and key names.
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
  /// The id index: a power-of-two number of slots, at most half full; 0 is an
  /// empty slot, any other value a task's index + 1. Linear probing.
  private(set) var slots: [Int32] = []
  /// How many tasks are still being watched.
  private(set) var watchingCount = 0
  /// Per task, the hold generation it was last held in (see ``hold(_:)``).
  private var holds: [UInt32] = []
  /// The current hold generation; 0 is never current.
  private var holdGeneration: UInt32 = 1

  /// The number of tasks ever added.
  var count: Int { ids.count }

  /// The index of a task, if it was added.
  func index(of taskID: String) -> Int? {
    Self.withUTF8(of: taskID) { index(ofUTF8: $0) }
  }

  /// The index of the task whose id has these UTF-8 bytes, if it was added.
  func index(ofUTF8 bytes: UnsafeRawBufferPointer) -> Int? {
    find(bytes).index
  }

  /// The index of the task whose id is `bytes` after `prefix` (a channel or
  /// key name), if `bytes` starts with `prefix` and the task was added.
  func index(ofUTF8 bytes: [UInt8], droppingPrefix prefix: [UInt8]) -> Int? {
    Self.index(ofUTF8: bytes, droppingPrefix: prefix, slots: slots, ids: ids)
  }

  /// ``index(ofUTF8:droppingPrefix:)`` over the two arrays of the id index,
  /// for the message path: called as a method on the consumer's stored
  /// table, it made the caller copy the whole table first (six retains and
  /// releases, ~570 instructions a message at S4); a caller passing
  /// `table.slots` and `table.ids` loads those two only.
  static func index(ofUTF8 bytes: [UInt8], droppingPrefix prefix: [UInt8], slots: [Int32], ids: [String]) -> Int? {
    guard bytes.count > prefix.count else { return nil }
    return bytes.withUnsafeBytes { bytes in
      let hasPrefix = prefix.withUnsafeBytes { prefix in
        Self.equal(UnsafeRawBufferPointer(rebasing: bytes[..<prefix.count]), prefix)
      }
      guard hasPrefix else { return nil }
      return Self.find(UnsafeRawBufferPointer(rebasing: bytes[prefix.count...]), slots: slots, ids: ids).index
    }
  }

  /// Looks `bytes` up: the task's index if found, else the empty slot where it
  /// would go (-1 while there are no slots).
  private func find(_ bytes: UnsafeRawBufferPointer) -> (index: Int?, slot: Int) {
    Self.find(bytes, slots: slots, ids: ids)
  }

  private static func find(
    _ bytes: UnsafeRawBufferPointer, slots: [Int32], ids: [String]
  ) -> (index: Int?, slot: Int) {
    guard !slots.isEmpty else { return (nil, -1) }
    let mask = slots.count - 1
    var slot = hash(bytes) & mask
    while true {
      let entry = slots[slot]
      if entry == 0 { return (nil, slot) }
      let index = Int(entry) - 1
      if withUTF8(of: ids[index], { equal($0, bytes) }) { return (index, slot) }
      slot = (slot + 1) & mask
    }
  }

  /// Adds a task and returns its index, or `nil` if it is already in the table.
  mutating func add(_ taskID: String) -> Int? {
    let (existing, slot) = Self.withUTF8(of: taskID) { find($0) }
    guard existing == nil else { return nil }
    let index = ids.count
    ids.append(taskID)
    states.append(nil)
    phases.append(.watching)
    digests.append(0)
    holds.append(0)
    watchingCount += 1
    if slots.count < 2 * ids.count {
      rebuildIndex(slotCount: Self.slotCount(for: ids.count))
    } else {
      slots[slot] = Int32(index + 1)
    }
    return index
  }

  /// Reserves room for `count` more tasks.
  mutating func reserve(_ count: Int) {
    ids.reserveCapacity(ids.count + count)
    states.reserveCapacity(states.count + count)
    phases.reserveCapacity(phases.count + count)
    digests.reserveCapacity(digests.count + count)
    holds.reserveCapacity(holds.count + count)
    let wanted = Self.slotCount(for: ids.count + count)
    if wanted > slots.count { rebuildIndex(slotCount: wanted) }
  }

  private static func slotCount(for taskCount: Int) -> Int {
    var count = 16
    while count < 2 * taskCount { count *= 2 }
    return count
  }

  private mutating func rebuildIndex(slotCount: Int) {
    slots = Array(repeating: 0, count: slotCount)
    for index in ids.indices { insert(index) }
  }

  private mutating func insert(_ index: Int) {
    let mask = slots.count - 1
    var slot = Self.withUTF8(of: ids[index]) { Self.hash($0) } & mask
    while slots[slot] != 0 { slot = (slot + 1) & mask }
    slots[slot] = Int32(index + 1)
  }

  private static func equal(_ a: UnsafeRawBufferPointer, _ b: UnsafeRawBufferPointer) -> Bool {
    a.count == b.count && (a.count == 0 || memcmp(a.baseAddress!, b.baseAddress!, a.count) == 0)
  }

  private static func hash(_ bytes: UnsafeRawBufferPointer) -> Int {
    Int(truncatingIfNeeded: FastHash.hash(bytes))
  }

  private static func withUTF8<Result>(of text: String, _ body: (UnsafeRawBufferPointer) -> Result) -> Result {
    if let result = text.utf8.withContiguousStorageIfAvailable({ body(UnsafeRawBufferPointer($0)) }) {
      return result
    }
    return Array(text.utf8).withUnsafeBytes(body)
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
  ) -> (previous: TaskState?, taskID: String)? {
    guard phases[index] == .watching else { return nil }
    let previous = states[index]
    if previous != nil && (!hasPayload || digests[index] == digest) { return nil }
    record(index, state: state, digest: digest)
    return (previous, ids[index])
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
