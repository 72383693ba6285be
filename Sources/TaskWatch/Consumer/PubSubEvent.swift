/// What a reply on a subscribed connection means.
enum PubSubEvent {
  /// A `subscribe` confirmation.
  case subscribed
  /// A published message: channel and payload.
  case message(channel: [UInt8], payload: [UInt8])
  /// An error reply (e.g. `NOAUTH` after a server restart).
  case error(String)
  /// Anything else: `unsubscribe` confirmations, `pong`.
  case other

  /// The kinds of pub/sub replies, as bytes. ``RESPParser`` returns these very
  /// arrays for them, so a reply costs no allocation for its kind and `==`
  /// here finds the shared buffer at once.
  static let messageKind = Array("message".utf8)
  /// See ``messageKind``.
  static let subscribeKind = Array("subscribe".utf8)
  /// See ``messageKind``.
  static let unsubscribeKind = Array("unsubscribe".utf8)

  /// Classifies a RESP2 reply read from a subscribed connection.
  init(_ reply: RedisReply) {
    switch reply {
    case .array(let parts) where parts.count >= 3:
      guard case .bulk(let kind) = parts[0] else {
        self = .other
        return
      }
      if kind == Self.messageKind, case .bulk(let channel) = parts[1], case .bulk(let payload) = parts[2] {
        self = .message(channel: channel, payload: payload)
      } else if kind == Self.subscribeKind {
        self = .subscribed
      } else {
        self = .other
      }
    case .error(let message):
      self = .error(message)
    default:
      self = .other
    }
  }
}
