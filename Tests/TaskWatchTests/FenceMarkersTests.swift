import Testing

@testable import RedisWire
@testable import TaskWatch

/// The cluster fence's bookkeeping, no server: markers of several masters
/// arriving in any order across masters (in order per master).
@Suite("FenceMarkers: a cluster fence answered by a marker from every master")
struct FenceMarkersTests {
  private func marker(_ number: UInt32) -> [UInt8] { Array(String(number).utf8) }

  @Test("answered only once every master's marker came")
  func everyMaster() {
    var markers = FenceMarkers()
    markers.sent(1, count: 3, deadline: .after(seconds: 10))
    #expect(markers.receive(marker(1)) == nil)
    #expect(markers.receive(marker(1)) == nil)
    #expect(markers.deadline != nil, "still waiting")
    #expect(markers.receive(marker(1)) == 1)
    #expect(markers.deadline == nil)
  }

  @Test("a newer fence complete first (its map had other masters) waits for the older one, then answers both")
  func inOrder() {
    var markers = FenceMarkers()
    markers.sent(1, count: 2, deadline: .after(seconds: 10))
    markers.sent(2, count: 1, deadline: .after(seconds: 10))
    #expect(markers.receive(marker(2)) == nil, "fence 1 still has a marker due")
    #expect(markers.receive(marker(1)) == nil)
    #expect(markers.receive(marker(1)) == 2, "the newest fence answered, so every older one")
  }

  @Test("markers of fences abandoned with a lost connection, or not numbers, answer nothing")
  func stale() {
    var markers = FenceMarkers()
    markers.sent(4, count: 1, deadline: .after(seconds: 10))
    markers.abandon()
    #expect(markers.receive(marker(4)) == nil)
    markers.sent(5, count: 1, deadline: .after(seconds: 10))
    #expect(markers.receive(marker(4)) == nil)
    #expect(markers.receive(Array("five".utf8)) == nil)
    #expect(markers.receive(marker(5)) == 5)
  }

  @Test("each link listens on its own random channel")
  func channels() {
    let (one, two) = (FenceMarkers.randomChannel(), FenceMarkers.randomChannel())
    #expect(one != two)
    #expect(one.count == "taskwatch-fence:".utf8.count + 16)
    #expect(String(decoding: one, as: UTF8.self).hasPrefix("taskwatch-fence:"))
  }
}
