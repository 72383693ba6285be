extension RedisReply {
  /// The words a RESP2 pub/sub reply starts with (`["message", channel,
  /// payload]`, `["subscribe", channel, count]`, `["pong", ""]`, …).
  ///
  /// The reader (``HiredisReader``) returns these very arrays when a bulk
  /// string is one of them, so a pub/sub reply costs no allocation for its
  /// kind, and `==` against one of them finds the shared buffer at once.
  /// What a kind means for a subscription is the consumer's business; this is
  /// only the wire vocabulary.
  enum PubSubKind {
    /// A message on a channel subscribed with SUBSCRIBE.
    static let message = Array("message".utf8)
    /// A message on a channel matched by a PSUBSCRIBE pattern.
    static let patternMessage = Array("pmessage".utf8)
    /// A SUBSCRIBE confirmation.
    static let subscribe = Array("subscribe".utf8)
    /// A PSUBSCRIBE confirmation.
    static let patternSubscribe = Array("psubscribe".utf8)
    /// An UNSUBSCRIBE confirmation.
    static let unsubscribe = Array("unsubscribe".utf8)
    /// A PUNSUBSCRIBE confirmation.
    static let patternUnsubscribe = Array("punsubscribe".utf8)
    /// The answer to PING on a subscribed connection.
    static let pong = Array("pong".utf8)

    /// The shared copy of `bytes` when it is one of the kinds, else `nil`.
    static func shared(_ bytes: UnsafeRawBufferPointer) -> [UInt8]? {
      // Lengths first: most bulk strings (payloads, channels) are none of these.
      switch bytes.count {
      case 4: return bytes.elementsEqual(pong) ? pong : nil
      case 7: return bytes.elementsEqual(message) ? message : nil
      case 8: return bytes.elementsEqual(patternMessage) ? patternMessage : nil
      case 9: return bytes.elementsEqual(subscribe) ? subscribe : nil
      case 10: return bytes.elementsEqual(patternSubscribe) ? patternSubscribe : nil
      case 11: return bytes.elementsEqual(unsubscribe) ? unsubscribe : nil
      case 12: return bytes.elementsEqual(patternUnsubscribe) ? patternUnsubscribe : nil
      default: return nil
      }
    }
  }
}
