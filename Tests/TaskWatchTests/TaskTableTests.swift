import Testing

@testable import CeleryPayload
@testable import RedisWire
@testable import TaskWatch

@Suite("TaskTable (no server)")
struct TaskTableTests {
  private func index(_ table: TaskTable, utf8 text: String) -> Int? {
    Array(text.utf8).withUnsafeBytes { table.index(ofUTF8: $0) }
  }

  @Test("ids are found by string and by bytes across index growth; duplicates are refused")
  func lookups() {
    var table = TaskTable()
    let ids = (0..<5_000).map { "task-\($0)" }
    for (position, id) in ids.enumerated() {
      #expect(table.add(id) == position)
      if position % 997 == 0 { table.reserve(position) }  // rebuilds the index midway
    }
    #expect(table.add("task-42") == nil)
    #expect(table.count == 5_000 && table.watchingCount == 5_000)
    for (position, id) in ids.enumerated() {
      #expect(table.index(of: id) == position)
      #expect(index(table, utf8: id) == position)
    }
    #expect(table.index(ofChannel: Array("chan:task-7".utf8), droppingPrefix: Array("chan:".utf8)) == 7)
    #expect(table.index(ofChannel: Array("chan:task-7".utf8), droppingPrefix: Array("chat:".utf8)) == nil)
    #expect(table.index(ofChannel: Array("chan:".utf8), droppingPrefix: Array("chan:".utf8)) == nil)
    #expect(table.index(ofChannel: Array("task-7".utf8), droppingPrefix: []) == 7)
    #expect(table.index(of: "task-5000") == nil)
    #expect(index(table, utf8: "task-") == nil)
    #expect(TaskTable().index(of: "x") == nil)
  }

  @Test("ids are compared as bytes, as Redis compares channel names")
  func bytes() {
    var table = TaskTable()
    #expect(table.add("caf\u{E9}") == 0)
    #expect(table.add("cafe\u{301}") == 1)  // canonically equal, other bytes: another channel
    #expect(table.add("") == 2)
    #expect(table.index(of: "cafe\u{301}") == 1 && table.index(of: "") == 2)
  }

  @Test("a ready state or a cancel ends the watch once")
  func phases() {
    var table = TaskTable()
    _ = table.add("a")
    _ = table.add("b")
    table.record(0, state: .started, digest: 7)
    #expect(table.watchingCount == 2 && table.isRepeat(0, digest: 7) && !table.isRepeat(0, digest: 8))
    table.record(0, state: .success, digest: 8)
    #expect(table.watchingCount == 1 && table.phases[0] == .ready)
    #expect(table.cancel(1) && !table.cancel(1) && !table.cancel(0))
    #expect(table.watchingCount == 0)
  }

  @Test("holds last until they are all released at once")
  func holds() {
    var table = TaskTable()
    _ = table.add("a")
    _ = table.add("b")
    table.hold(1)
    #expect(!table.isHeld(0) && table.isHeld(1))
    table.releaseHolds()
    #expect(!table.isHeld(0) && !table.isHeld(1))
    table.hold(0)
    #expect(table.isHeld(0) && !table.isHeld(1))
  }
}
