import Testing

@testable import CeleryPayload
@testable import TaskWatch
@testable import taskwatch

@Suite("Handing a batch of changes out (no server)")
struct ChangeHandOffTests {
  private func change(_ number: Int, _ state: TaskState) -> StateChange {
    StateChange(
      taskID: "task-\(number)", state: state, previous: number.isMultiple(of: 2) ? nil : .started,
      source: .message, observedAt: WallClockTime(seconds: number, nanoseconds: 0), meta: nil)
  }

  @Test("every change once, in order, whole")
  func order() {
    let batch = (0..<5).map { change($0, $0 == 4 ? .success : .started) }
    var handed = batch
    var seen: [StateChange] = []
    handed.handOut { seen.append(copy $0) }
    #expect(seen == batch)
  }

  @Test("an empty batch calls nothing")
  func empty() {
    var handed: [StateChange] = []
    var calls = 0
    handed.handOut { _ in calls += 1 }
    #expect(calls == 0)
  }
}
