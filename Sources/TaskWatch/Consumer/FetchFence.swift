/// Keeps messages that were in flight during a fetch from being reported
/// after the newer state the fetch returned.
///
/// A snapshot or resync MGET runs after the subscription is confirmed, so
/// messages published before the read may still be on their way on the
/// subscriber when the fetched state has been reported: RETRY (fetched),
/// then STARTED (published just before, still in flight), then RETRY again.
/// Celery stores and publishes in one MULTI, so for a task whose fetch
/// returned payload P, the messages before the one equal to P are older than
/// P, and the messages after it are newer. A fence PING sent on the subscriber
/// after the MGET reply arrived is answered after every message published
/// before the read; until that answer, a covered task's messages that differ
/// from P are held: dropped if the message equal to P follows, reported in
/// order if the answer comes first (then P's own message preceded the
/// subscription, and every message seen since is newer).
///
/// On a Redis Cluster the answer is a marker from every master instead of
/// the PING's (``FenceMarkers``): the rule is the same, its bound is not.
///
/// Per task it keeps one 32-bit mark; a message costs one comparison while a
/// fence is open and nothing otherwise.
struct FetchFence {
  /// Per task: `2n` while covered by fence `n` and waiting, `2n + 1` once the
  /// message equal to the fetched payload came; 0 for never covered.
  private var marks: [UInt32] = []
  /// Messages held while their task is covered, in arrival order.
  private var held: [(index: Int, reply: RedisReply)] = []
  /// The last fence answered (or abandoned).
  private var closed: UInt32 = 0
  /// The last fence that covers tasks.
  private var opened: UInt32 = 0

  /// Whether some fence is still unanswered.
  var isOpen: Bool { opened != closed }

  /// Covers the task at `index` until fence `number` is answered.
  mutating func cover(_ index: Int, until number: UInt32) {
    if marks.count <= index { marks.append(contentsOf: repeatElement(0, count: index + 1 - marks.count)) }
    marks[index] = number &* 2
    opened = number
  }

  /// Whether the task's messages are held now.
  func covers(_ index: Int) -> Bool {
    guard index < marks.count else { return false }
    let mark = marks[index]
    return mark & 1 == 0 && mark / 2 > closed
  }

  /// Notes that the message equal to the fetched payload came: the task's
  /// held messages were older, and its later ones are not held.
  mutating func sawFetchedPayload(_ index: Int) {
    marks[index] |= 1
  }

  /// Forgets the mark of a task that left the reader's table, so the index
  /// can go to another task; its held messages are dropped too.
  mutating func release(_ index: Int) {
    guard index < marks.count else { return }
    marks[index] = 0
    if !held.isEmpty { held.removeAll { $0.index == index } }
  }

  /// Holds a message of a covered task.
  mutating func hold(_ index: Int, _ reply: RedisReply) {
    held.append((index, reply))
  }

  /// Fence `number` was answered: returns the held messages to report now,
  /// in arrival order (those of tasks whose fetched payload never came).
  mutating func close(through number: UInt32) -> [RedisReply] {
    closed = number
    var released = [RedisReply]()
    var still = [(index: Int, reply: RedisReply)]()
    for entry in held {
      let mark = marks[entry.index]
      if mark & 1 == 1 { continue }
      if mark / 2 <= number { released.append(entry.reply) } else { still.append(entry) }
    }
    held = still
    return released
  }

  /// Forgets every fence and held message: the connection is gone, and the
  /// resync after the reconnect reads the stored values again.
  mutating func abandon(through number: UInt32) {
    closed = number
    opened = number
    held.removeAll()
  }
}
