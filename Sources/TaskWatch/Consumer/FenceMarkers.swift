/// The fence of a ``BackendLink`` to a Redis Cluster: after a fetch, a marker
/// `PUBLISH`ed through every master on a channel only this link's subscriber
/// listens on, and the fence counts as answered once every marker came.
///
/// On one server a PING on the subscriber bounds the messages published
/// before a fetch (``FetchFence``). On a cluster it does not: a message
/// published on another node reaches the subscriber's node over the cluster
/// bus, and may still be crossing it when the subscriber's own node answers
/// the PING. Each node forwards what is published on it over one TCP link to
/// each other node, in order, so a marker published on node X after the
/// fetch reply arrives after every message published on X before it; with a
/// marker through every master, every message published before the fetch has
/// arrived once all markers have.
///
/// Why masters: the publishers route `PUBLISH` by the channel's hash slot,
/// and Celery's channel is the result key, so a task's messages go to the
/// master that stores its key. redis-py's `RedisCluster` takes the channel
/// of `PUBLISH` as its key (`CommandsParser._get_pubsub_keys`) and sends it to
/// the slot's primary (`PUBLISH` is not a read command, so
/// `read_from_replicas` does not apply); `celery-redis-cluster` is Celery's
/// Redis backend over that client. A publisher that publishes on a replica,
/// or with a map so stale that it names a node that is no master now, is not
/// bounded.
///
/// Per fence it keeps a number and the markers still due; the payload of a
/// marker is its fence's number in decimal. Fences are answered in order, so
/// a marker of a map with other masters (after `MOVED`) cannot answer an
/// older fence early.
struct FenceMarkers {
  /// Fences sent and not answered yet, oldest first: number, markers still
  /// due, and when the subscriber counts as lost if some are still due.
  private var waiting: [(number: UInt32, due: Int, deadline: Deadline)] = []

  /// A new marker channel: `taskwatch-fence:` and 16 random hex digits, one
  /// per link, so two watchers never answer each other's fences.
  static func randomChannel() -> [UInt8] {
    let hex = String(UInt64.random(in: .min ... .max), radix: 16)
    return Array(("taskwatch-fence:" + String(repeating: "0", count: 16 - hex.count) + hex).utf8)
  }

  /// The deadline of the oldest unanswered fence, if any.
  var deadline: Deadline? { waiting.first?.deadline }

  /// Notes that fence `number` was published through `count` masters.
  mutating func sent(_ number: UInt32, count: Int, deadline: Deadline) {
    waiting.append((number, count, deadline))
  }

  /// Takes in a marker's payload.
  /// - Returns: the newest fence answered by it (every older one is answered
  ///   too), if any; `nil` for a marker of a fence already abandoned.
  mutating func receive(_ payload: [UInt8]) -> UInt32? {
    guard let number = UInt32(String(decoding: payload, as: UTF8.self)),
      let position = waiting.firstIndex(where: { $0.number == number })
    else { return nil }
    waiting[position].due -= 1
    var answered: UInt32?
    while let first = waiting.first, first.due <= 0 {
      answered = first.number
      waiting.removeFirst()
    }
    return answered
  }

  /// Forgets every fence sent: the connection is gone.
  mutating func abandon() {
    waiting.removeAll()
  }
}
