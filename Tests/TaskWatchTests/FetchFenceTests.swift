import Testing

@testable import CeleryPayload
@testable import RedisWire
@testable import TaskWatch

/// The fence's rules on scripted sequences, no server: what arrives on the
/// subscriber after a fetch, and what may be reported.
@Suite("FetchFence: messages in flight during a fetch")
struct FetchFenceTests {
  private func message(_ text: String) -> RedisReply {
    .array([.bulk(Array("message".utf8)), .bulk(Array("c".utf8)), .bulk(Array(text.utf8))])
  }

  @Test("closed, it covers nothing and costs one comparison")
  func closedByDefault() {
    let fence = FetchFence()
    #expect(!fence.isOpen)
    #expect(!fence.covers(0) && !fence.covers(1_000))
  }

  @Test("RETRY fetched, STARTED in flight, RETRY again: only the fetched RETRY stands")
  func olderStateBeforeTheFetchedOne() {
    var fence = FetchFence()
    fence.cover(3, until: 1)
    #expect(fence.isOpen && fence.covers(3) && !fence.covers(2))
    fence.hold(3, message("STARTED"))  // differs from the fetched RETRY
    fence.sawFetchedPayload(3)  // the RETRY message itself
    #expect(!fence.covers(3), "messages after the fetched one are newer")
    #expect(fence.close(through: 1).isEmpty, "the held STARTED was older: dropped")
    #expect(!fence.isOpen)
  }

  @Test("no equal message before the fence's answer: the held ones are newer, released in order")
  func newerStatesReleasedInOrder() {
    var fence = FetchFence()
    fence.cover(0, until: 1)
    fence.cover(1, until: 1)
    fence.hold(0, message("A1"))
    fence.hold(1, message("B1"))
    fence.hold(0, message("A2"))
    #expect(fence.close(through: 1) == [message("A1"), message("B1"), message("A2")])
    #expect(!fence.covers(0) && !fence.covers(1))
  }

  @Test("two fences: answering the first releases only what it covers")
  func twoFences() {
    var fence = FetchFence()
    fence.cover(0, until: 1)
    fence.cover(1, until: 2)
    fence.hold(0, message("A"))
    fence.hold(1, message("B"))
    #expect(fence.close(through: 1) == [message("A")])
    #expect(fence.isOpen && fence.covers(1))
    #expect(fence.close(through: 2) == [message("B")])
    #expect(!fence.isOpen)
  }

  @Test("a task covered again by a later fetch waits for the later fence")
  func coveredAgain() {
    var fence = FetchFence()
    fence.cover(0, until: 1)
    fence.sawFetchedPayload(0)
    fence.cover(0, until: 2)
    #expect(fence.covers(0))
    fence.hold(0, message("X"))
    #expect(fence.close(through: 1).isEmpty)
    #expect(fence.close(through: 2) == [message("X")])
  }

  @Test("a lost connection abandons every fence and held message")
  func abandon() {
    var fence = FetchFence()
    fence.cover(0, until: 4)
    fence.hold(0, message("A"))
    fence.abandon(through: 4)
    #expect(!fence.isOpen && !fence.covers(0))
    #expect(fence.close(through: 5).isEmpty)
  }
}
