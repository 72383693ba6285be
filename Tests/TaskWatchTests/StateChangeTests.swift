import Testing

@testable import CeleryPayload
@testable import TaskWatch

@Suite("StateChange task ids (no server)")
struct StateChangeTests {
  private func change(_ id: String) -> StateChange {
    StateChange(
      taskID: id, state: .pending, previous: nil, source: .snapshot,
      observedAt: WallClockTime(seconds: 0, nanoseconds: 0), meta: nil)
  }

  @Test("a uuid id is kept as its 128 bits and given back byte for byte")
  func uuidIDs() {
    for id in [
      "d4f1e7a2-0b3c-4e5f-9a8b-7c6d5e4f3a2b", "00000000-0000-0000-0000-000000000000",
      "ffffffff-ffff-ffff-ffff-ffffffffffff",
    ] {
      let change = change(id)
      #expect(change.taskIDIsUUID, "\(id)")
      #expect(change.taskID == id)
      var bytes: [UInt8] = [1]
      change.appendTaskID(to: &bytes)
      #expect(bytes == [1] + Array(id.utf8))
      var formatted = [UInt8](repeating: 0, count: StateChange.uuidTaskIDLength + 1)
      #expect(formatted.withUnsafeMutableBytes { change.formatUUIDTaskID(into: $0.baseAddress!) })
      #expect(formatted == Array(id.utf8) + [0], "exactly the id's bytes")
    }
  }

  @Test("any other id is kept as text and given back byte for byte")
  func otherIDs() {
    let ids = [
      "D4F1E7A2-0B3C-4E5F-9A8B-7C6D5E4F3A2B", "d4f1e7a20b3c4e5f9a8b7c6d5e4f3a2b",
      "d4f1e7a2-0b3c-4e5f-9a8b-7c6d5e4f3a2", "g4f1e7a2-0b3c-4e5f-9a8b-7c6d5e4f3a2b",
      "", "tâche-été", "a\"quote",
    ]
    for id in ids {
      let change = change(id)
      #expect(!change.taskIDIsUUID, "\(id)")
      #expect(change.taskID == id)
      var bytes = [UInt8]()
      change.appendTaskID(to: &bytes)
      #expect(bytes == Array(id.utf8))
      var untouched = [UInt8](repeating: 7, count: StateChange.uuidTaskIDLength)
      #expect(!untouched.withUnsafeMutableBytes { change.formatUUIDTaskID(into: $0.baseAddress!) })
      #expect(untouched == [UInt8](repeating: 7, count: StateChange.uuidTaskIDLength))
    }
  }

  @Test("changes compare by id whatever form it is kept in")
  func equality() {
    #expect(change("d4f1e7a2-0b3c-4e5f-9a8b-7c6d5e4f3a2b") == change("d4f1e7a2-0b3c-4e5f-9a8b-7c6d5e4f3a2b"))
    #expect(change("d4f1e7a2-0b3c-4e5f-9a8b-7c6d5e4f3a2b") != change("D4F1E7A2-0B3C-4E5F-9A8B-7C6D5E4F3A2B"))
  }
}
