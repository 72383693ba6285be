/// 128 bits standing for a channel's name, as a subscribed connection's
/// ``ChannelKeying`` gives them: a message on a keyed channel is read as
/// ``RedisReply/keyedMessage(key:payload:)``, without the channel's bytes.
package struct ChannelKey: Sendable, Hashable {
  /// The first 64 bits.
  package var first: UInt64
  /// The last 64 bits.
  package var second: UInt64

  /// A key of two words.
  package init(_ first: UInt64, _ second: UInt64) {
    self.first = first
    self.second = second
  }
}

/// Which channels have a key, and the channel each key stands for: two
/// functions, not a protocol (called through an existential from the
/// reader's callbacks, one made the compiler copy the whole reply builder
/// per message).
package struct ChannelKeying: Sendable {
  /// The key of a channel, from its bytes; `nil` for a channel that has
  /// none (read as ``RedisReply/message(channel:payload:)``, bytes and all).
  package let key: @Sendable (_ channel: UnsafeRawBufferPointer) -> ChannelKey?
  /// The bytes of the channel a key stands for.
  package let channel: @Sendable (_ key: ChannelKey) -> [UInt8]

  /// A keying of these two functions.
  package init(
    key: @escaping @Sendable (_ channel: UnsafeRawBufferPointer) -> ChannelKey?,
    channel: @escaping @Sendable (_ key: ChannelKey) -> [UInt8]
  ) {
    self.key = key
    self.channel = channel
  }
}
