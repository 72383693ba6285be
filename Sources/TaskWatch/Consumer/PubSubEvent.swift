/// What a reply on a subscribed connection means.
enum PubSubEvent {
  /// A `subscribe` or `psubscribe` confirmation.
  case subscribed
  /// A published message (`message`, or `pmessage` of a pattern
  /// subscription): channel and payload.
  case message(channel: [UInt8], payload: [UInt8])
  /// A published message on a task channel whose id is in uuid form, read
  /// by a subscriber with ``TaskChannelKeys``: the id's key, and the payload.
  case keyedMessage(key: ChannelKey, payload: [UInt8])
  /// An error reply (e.g. `NOAUTH` after a server restart, or `NOPERM`
  /// answering a PING).
  case error(String)
  /// The answer to a PING on a subscribed connection (`["pong", ""]`).
  case pong
  /// Anything else: `unsubscribe` confirmations.
  case other

  /// The kinds of pub/sub replies, as bytes: the reader's shared arrays
  /// (`RedisReply.PubSubKind`), so a reply costs no allocation for its kind
  /// and `==` here finds the shared buffer at once.
  static let messageKind = RedisReply.PubSubKind.message
  /// See ``messageKind``.
  static let subscribeKind = RedisReply.PubSubKind.subscribe
  /// See ``messageKind``.
  static let unsubscribeKind = RedisReply.PubSubKind.unsubscribe
  /// The kind of a pattern subscription's message.
  static let patternMessageKind = RedisReply.PubSubKind.patternMessage
  /// The kind of a pattern subscription's confirmation.
  static let patternSubscribeKind = RedisReply.PubSubKind.patternSubscribe
  /// The kind of a PING's answer on a subscribed connection.
  static let pongKind = RedisReply.PubSubKind.pong

  /// Classifies a RESP2 reply read from a subscribed connection (inlined:
  /// it runs once per message).
  @inline(__always)
  init(_ reply: RedisReply) {
    switch reply {
    case .message(let channel, let payload):
      self = .message(channel: channel, payload: payload)
    case .keyedMessage(let key, let payload):
      self = .keyedMessage(key: key, payload: payload)
    case .array(let parts) where parts.count >= 3:
      guard case .bulk(let kind) = parts[0] else {
        self = .other
        return
      }
      if kind == Self.messageKind, case .bulk(let channel) = parts[1], case .bulk(let payload) = parts[2] {
        self = .message(channel: channel, payload: payload)
      } else if kind == Self.unsubscribeKind {
        // Checked early: a burst of ready tasks brings one per task.
        self = .other
      } else if kind == Self.subscribeKind {
        self = .subscribed
      } else if kind == Self.patternMessageKind, parts.count == 4, case .bulk(let channel) = parts[2],
        case .bulk(let payload) = parts[3]
      {
        self = .message(channel: channel, payload: payload)
      } else if kind == Self.patternSubscribeKind {
        self = .subscribed
      } else {
        self = .other
      }
    case .array(let parts) where parts.count == 2:
      if case .bulk(let kind) = parts[0], kind == Self.pongKind {
        self = .pong
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
