import Glibc

extension RedisReply {
  /// The words a RESP2 pub/sub reply starts with (`["message", channel,
  /// payload]`, `["subscribe", channel, count]`, `["pong", ""]`, …).
  ///
  /// The reader (``HiredisReader``) returns these very arrays when the first
  /// bulk string of an array is one of them, so a pub/sub reply costs no
  /// allocation for its kind, and `==` against one of them finds the shared
  /// buffer at once.
  /// What a kind means for a subscription is the consumer's business; this is
  /// only the wire vocabulary.
  package enum PubSubKind {
    /// A message on a channel subscribed with SUBSCRIBE.
    package static let message = Array("message".utf8)
    /// A message on a channel matched by a PSUBSCRIBE pattern.
    package static let patternMessage = Array("pmessage".utf8)
    /// A SUBSCRIBE confirmation.
    package static let subscribe = Array("subscribe".utf8)
    /// A PSUBSCRIBE confirmation.
    package static let patternSubscribe = Array("psubscribe".utf8)
    /// An UNSUBSCRIBE confirmation.
    package static let unsubscribe = Array("unsubscribe".utf8)
    /// A PUNSUBSCRIBE confirmation.
    package static let patternUnsubscribe = Array("punsubscribe".utf8)
    /// The answer to PING on a subscribed connection.
    package static let pong = Array("pong".utf8)

    /// The shared copy of the `length` bytes at `bytes` when they are one
    /// of the kinds, else `nil`.
    static func shared(_ bytes: UnsafePointer<CChar>, _ length: Int) -> [UInt8]? {
      // Lengths first: most bulk strings (payloads, channels) are none of these.
      let kind: [UInt8]
      switch length {
      case 4: kind = pong
      case 7: kind = message
      case 8: kind = patternMessage
      case 9: kind = subscribe
      case 10: kind = patternSubscribe
      case 11: kind = unsubscribe
      case 12: kind = patternUnsubscribe
      default: return nil
      }
      // Every kind has 4 to 12 bytes: two overlapping words cover it (memcmp
      // was a call, ~60 instructions a message at S4).
      let last = length >= 8 ? length - 8 : length - 4
      let equal = kind.withUnsafeBytes { kind in
        let text = UnsafeRawPointer(bytes)
        if length >= 8 {
          return kind.loadUnaligned(fromByteOffset: 0, as: UInt64.self)
            == text.loadUnaligned(fromByteOffset: 0, as: UInt64.self)
            && kind.loadUnaligned(fromByteOffset: last, as: UInt64.self)
              == text.loadUnaligned(fromByteOffset: last, as: UInt64.self)
        }
        return kind.loadUnaligned(fromByteOffset: 0, as: UInt32.self)
          == text.loadUnaligned(fromByteOffset: 0, as: UInt32.self)
          && kind.loadUnaligned(fromByteOffset: last, as: UInt32.self)
            == text.loadUnaligned(fromByteOffset: last, as: UInt32.self)
      }
      return equal ? kind : nil
    }
  }
}
