import Glibc
import RedisWire

/// The keys of a watch's task channels (`celery-task-meta-` and a task id):
/// a channel whose id is in Celery's uuid form is keyed by the id's 128
/// bits, so its messages come without the channel's bytes
/// (``RedisWire/RedisReply/keyedMessage(key:payload:)``).
struct TaskChannelKeys: Sendable {
  /// What every task channel starts with, the key prefix.
  let prefix: [UInt8]

  /// The keying a subscriber reads with.
  var keying: ChannelKeying {
    ChannelKeying(key: { [self] in key(ofChannel: $0) }, channel: { [self] in channel(ofKey: $0) })
  }

  /// The key of a task channel whose id is in uuid form; `nil` for any other channel.
  func key(ofChannel channel: UnsafeRawBufferPointer) -> ChannelKey? {
    guard channel.count == prefix.count + UUIDText.length, let base = channel.baseAddress else { return nil }
    let hasPrefix = prefix.withUnsafeBytes { prefix in
      prefix.count == 0 || memcmp(base, prefix.baseAddress!, prefix.count) == 0
    }
    guard hasPrefix, let (first, second) = UUIDText.parse(UnsafeRawBufferPointer(rebasing: channel[prefix.count...]))
    else { return nil }
    return ChannelKey(first, second)
  }

  /// The channel a key stands for.
  func channel(ofKey key: ChannelKey) -> [UInt8] {
    var channel = prefix
    channel.append(contentsOf: repeatElement(0, count: UUIDText.length))
    channel.withUnsafeMutableBytes { UUIDText.format(key.first, key.second, into: $0.baseAddress! + prefix.count) }
    return channel
  }

  /// Calls `body` with the text of the task id a key stands for (formatted
  /// on the stack: nothing is allocated).
  static func withID<Result>(of key: ChannelKey, _ body: (UnsafeRawBufferPointer) -> Result) -> Result {
    var text: (UInt64, UInt64, UInt64, UInt64, UInt64) = (0, 0, 0, 0, 0)
    return withUnsafeMutableBytes(of: &text) { words in
      UUIDText.format(key.first, key.second, into: words.baseAddress!)
      return body(UnsafeRawBufferPointer(rebasing: words[..<UUIDText.length]))
    }
  }
}
