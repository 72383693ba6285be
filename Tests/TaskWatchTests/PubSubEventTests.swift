import Testing

@testable import CeleryPayload
@testable import RedisWire
@testable import TaskWatch

@Suite("Subscriber replies, classified")
struct PubSubEventTests {
  private func bulk(_ text: String) -> RedisReply { .bulk(Array(text.utf8)) }

  @Test("message, pmessage, (p)subscribe, pong, error and the rest")
  func kinds() {
    guard case .message(let channel, let payload) = PubSubEvent(.array([bulk("message"), bulk("c"), bulk("p")]))
    else {
      Issue.record("message not recognised")
      return
    }
    #expect(channel == Array("c".utf8) && payload == Array("p".utf8))
    guard
      case .message(let patternChannel, _) = PubSubEvent(
        .array([bulk("pmessage"), bulk("c*"), bulk("c1"), bulk("p")]))
    else {
      Issue.record("pmessage not recognised")
      return
    }
    #expect(patternChannel == Array("c1".utf8))
    guard
      case .message(let readChannel, let readPayload) = PubSubEvent(
        .message(channel: Array("c2".utf8), payload: Array("q".utf8)))
    else {
      Issue.record("a message read as one value not recognised")
      return
    }
    #expect(readChannel == Array("c2".utf8) && readPayload == Array("q".utf8))
    for confirmation in ["subscribe", "psubscribe"] {
      guard case .subscribed = PubSubEvent(.array([bulk(confirmation), bulk("c"), .integer(1)])) else {
        Issue.record("\(confirmation) not recognised")
        continue
      }
    }
    guard case .pong = PubSubEvent(.array([bulk("pong"), bulk("")])) else {
      Issue.record("pong not recognised")
      return
    }
    guard case .error(let text) = PubSubEvent(.error("NOPERM no ping")) else {
      Issue.record("error not recognised")
      return
    }
    #expect(text == "NOPERM no ping")
    guard case .other = PubSubEvent(.array([bulk("unsubscribe"), bulk("c"), .integer(0)])) else {
      Issue.record("unsubscribe should be other")
      return
    }
  }
}
