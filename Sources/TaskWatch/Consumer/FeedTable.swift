import Glibc

/// The ``BackendFeed``'s record of the tasks it follows: only those not ready
/// yet, so a feed that runs for weeks keeps as many entries as there are
/// tasks in flight, not as many as it has seen.
///
/// An entry holds a task's id, the hash of its id, its last state (`nil`
/// until a payload was applied: a task known only from a message that was
/// received but not handled before the link died, or whose READY message
/// waits for its confirmation) and a digest of its last payload. A ready
/// task's entry is removed (``remove(_:)``) and its index reused by a later
/// task; the feed remembers ready tasks apart, in a bounded ``ReadyMemory``.
///
/// As in `TaskTable`, lookups by id are O(1) over the UTF-8 bytes of a
/// channel name: an open-addressing index with linear probing, here with
/// backward-shift deletion so removals leave no tombstones. No message costs
/// work proportional to the number of tasks.
struct FeedTable {
  private(set) var ids: [String] = []
  private(set) var states: [TaskState?] = []
  /// Per entry, the hash of its id (the index's probe start, and what
  /// ``ReadyMemory`` keeps once the task is ready).
  private(set) var hashes: [Int] = []
  private var digests: [Int] = []
  /// Per entry, the hold generation it was last held in (see ``hold(_:)``).
  private var holds: [UInt32] = []
  private var live: [Bool] = []
  /// Indices of removed entries, reused first.
  private var free: [Int] = []
  /// The id index: a power-of-two number of slots, at most half full; 0 is an
  /// empty slot, any other value an entry's index + 1.
  private(set) var slots: [Int32] = []
  /// The current hold generation; 0 is never current.
  private var holdGeneration: UInt32 = 1
  /// How many tasks the table holds.
  private(set) var count = 0

  /// The indices of the tasks held, in no particular order.
  var liveIndices: [Int] { live.indices.filter { live[$0] } }

  /// Whether the entry at `index` holds a task (it was not removed).
  func isLive(_ index: Int) -> Bool { live[index] }

  /// The hash of an id's UTF-8 bytes, as the index and ``ReadyMemory`` use it.
  static func hash(_ bytes: UnsafeRawBufferPointer) -> Int {
    Int(truncatingIfNeeded: FastHash.hash(bytes))
  }

  /// The hash of an id, as ``hash(_:)``.
  static func hash(of taskID: String) -> Int {
    withUTF8(of: taskID) { hash($0) }
  }

  /// The index of the task whose id is `bytes` after `prefix` (a channel
  /// name), and the hash of that id; `nil` when `bytes` does not start with
  /// `prefix` or is nothing more.
  func lookUp(_ bytes: [UInt8], droppingPrefix prefix: [UInt8]) -> (index: Int?, hash: Int)? {
    Self.lookUp(bytes, droppingPrefix: prefix, slots: slots, ids: ids, hashes: hashes)
  }

  /// ``lookUp(_:droppingPrefix:)`` over the three arrays of the id index,
  /// for the message path: as in `TaskTable`, a method called on the feed's
  /// stored table made the caller copy the whole table first (a retain and
  /// release per array); a caller passing `table.slots`, `table.ids` and
  /// `table.hashes` loads those only.
  static func lookUp(
    _ bytes: [UInt8], droppingPrefix prefix: [UInt8], slots: [Int32], ids: [String], hashes: [Int]
  ) -> (index: Int?, hash: Int)? {
    guard bytes.count > prefix.count else { return nil }
    return bytes.withUnsafeBytes { bytes in
      let hasPrefix = prefix.withUnsafeBytes { prefix in
        Self.equal(UnsafeRawBufferPointer(rebasing: bytes[..<prefix.count]), prefix)
      }
      guard hasPrefix else { return nil }
      let id = UnsafeRawBufferPointer(rebasing: bytes[prefix.count...])
      let hash = Self.hash(id)
      return (Self.find(id, hash: hash, slots: slots, ids: ids, hashes: hashes).index, hash)
    }
  }

  /// The index of a task, if the table holds it.
  func index(of taskID: String) -> Int? {
    Self.withUTF8(of: taskID) { Self.find($0, hash: Self.hash($0), slots: slots, ids: ids, hashes: hashes).index }
  }

  private static func find(
    _ bytes: UnsafeRawBufferPointer, hash: Int, slots: [Int32], ids: [String], hashes: [Int]
  ) -> (index: Int?, slot: Int) {
    guard !slots.isEmpty else { return (nil, -1) }
    let mask = slots.count - 1
    var slot = hash & mask
    while true {
      let entry = slots[slot]
      if entry == 0 { return (nil, slot) }
      let index = Int(entry) - 1
      if hashes[index] == hash, withUTF8(of: ids[index], { equal($0, bytes) }) { return (index, slot) }
      slot = (slot + 1) & mask
    }
  }

  /// Adds a task (not in the table) whose id hashes to `hash`; returns its index.
  mutating func add(_ taskID: String, hash: Int) -> Int {
    let index: Int
    if let reused = free.popLast() {
      index = reused
      ids[index] = taskID
      states[index] = nil
      hashes[index] = hash
      digests[index] = 0
      holds[index] = 0
      live[index] = true
    } else {
      index = ids.count
      ids.append(taskID)
      states.append(nil)
      hashes.append(hash)
      digests.append(0)
      holds.append(0)
      live.append(true)
    }
    count += 1
    if slots.count < 2 * ids.count {
      var slotCount = 16
      while slotCount < 2 * ids.count { slotCount *= 2 }
      slots = Array(repeating: 0, count: slotCount)
      for entry in live.indices where live[entry] { insert(entry) }
    } else {
      insert(index)
    }
    return index
  }

  private mutating func insert(_ index: Int) {
    let mask = slots.count - 1
    var slot = hashes[index] & mask
    while slots[slot] != 0 { slot = (slot + 1) & mask }
    slots[slot] = Int32(index + 1)
  }

  /// Removes a task; its index may be handed to a later ``add(_:hash:)``.
  mutating func remove(_ index: Int) {
    let mask = slots.count - 1
    var hole = hashes[index] & mask
    while slots[hole] != Int32(index + 1) { hole = (hole + 1) & mask }
    // Backward-shift deletion: move up every later entry of the run whose
    // probe start is not between the hole and itself.
    var next = hole
    while true {
      next = (next + 1) & mask
      let entry = slots[next]
      if entry == 0 { break }
      let home = hashes[Int(entry) - 1] & mask
      if (next &- home) & mask >= (next &- hole) & mask {
        slots[hole] = entry
        hole = next
      }
    }
    slots[hole] = 0
    ids[index] = ""
    states[index] = nil
    live[index] = false
    free.append(index)
    count -= 1
  }

  /// Marks a task as held until ``releaseHolds()``: the feed is reading its
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

  /// True when the task has a state and `digest` equals its last payload's.
  func isRepeat(_ index: Int, digest: Int) -> Bool {
    states[index] != nil && digests[index] == digest
  }

  /// Records a new state and payload digest.
  mutating func record(_ index: Int, state: TaskState, digest: Int) {
    states[index] = state
    digests[index] = digest
  }

  private static func equal(_ a: UnsafeRawBufferPointer, _ b: UnsafeRawBufferPointer) -> Bool {
    a.count == b.count && (a.count == 0 || memcmp(a.baseAddress!, b.baseAddress!, a.count) == 0)
  }

  private static func withUTF8<Result>(of text: String, _ body: (UnsafeRawBufferPointer) -> Result) -> Result {
    if let result = text.utf8.withContiguousStorageIfAvailable({ body(UnsafeRawBufferPointer($0)) }) {
      return result
    }
    return Array(text.utf8).withUnsafeBytes(body)
  }
}
