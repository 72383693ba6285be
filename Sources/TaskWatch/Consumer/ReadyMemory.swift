/// The tasks a ``BackendFeed`` saw become ready recently, kept so that a late
/// repeat of a ready task (a redelivered task storing its result again, a
/// message that was in flight during a resync) is recognised without keeping
/// every ready task forever.
///
/// Two generations of at most ``generationSize`` 64-bit id hashes: when the
/// current one is full, it becomes the previous one and the oldest is
/// dropped. So the last 65,536 ready tasks are always remembered, and at most
/// 131,072 are; the memory is bounded at about 2.1 MB (two sets of 65,536
/// `Int`s at Swift's 3/4 load factor: 131,072 buckets of 8 bytes each).
/// A message for a task forgotten since is taken for a task seen for the
/// first time. Ids are kept as the table's 64-bit hashes, not as strings:
/// two ids of one run with the same hash (odds about 2⁻⁴⁷ at this size)
/// would make the later one look like a repeat.
struct ReadyMemory {
  /// How many ready tasks one generation holds.
  static let generationSize = 1 << 16

  // Both at full size from the start, so the feed's memory is flat from its
  // first task on, not growing by a megabyte until the second generation fills.
  private var current = Set<Int>(minimumCapacity: generationSize)
  private var previous = Set<Int>(minimumCapacity: generationSize)

  /// Remembers a task that became ready, by its id's hash.
  mutating func insert(_ hash: Int) {
    if current.count == Self.generationSize {
      previous = current
      current = Set(minimumCapacity: Self.generationSize)
    }
    current.insert(hash)
  }

  /// Whether a task with this id hash became ready recently.
  func contains(_ hash: Int) -> Bool {
    current.contains(hash) || previous.contains(hash)
  }
}
