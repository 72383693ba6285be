import Foundation
import TestSupport
import Testing

@testable import CeleryPayload
@testable import RedisWire
@testable import TaskWatch

/// `followChildren` against a real redis-server: the cases no well-behaved
/// worker writes (cycles, ids shared by two trees, trees past the bound),
/// with payloads in the shape Celery stores (see `Tests/Fixtures/celery/workflows`
/// for captured ones).
@Suite("ResultConsumer following children against a real redis-server")
struct FollowChildrenTests {
  let server = SharedRedis.server

  private func consumer(maximumTreeSize: Int = 100_000) -> ResultConsumer {
    ResultConsumer(
      configuration: ConsumerConfiguration(
        backend: BackendURL(endpoint: server.endpoint, database: 0), followChildren: true,
        maximumTreeSize: maximumTreeSize))
  }

  /// A meta listing `children` as Celery's task tuples `[[id, null], null]`.

  private func store(_ id: String, _ state: String, children: [String] = []) throws {
    try server.run(["SET", "celery-task-meta-\(id)", celeryMeta(id, state, children: children)])
  }

  private func drain(_ consumer: ResultConsumer, until done: () -> Bool, seconds: Double = 10) throws -> [StateChange] {
    var changes = [StateChange]()
    let deadline = Deadline.after(seconds: seconds)
    while !done() && !deadline.hasPassed {
      changes += try consumer.drainEvents(timeout: 0.2)
    }
    return changes
  }

  @Test("children listed by a published SUCCESS are watched before the drain returns, with parent and root")
  func childrenFromAMessage() throws {
    let (root, a, b) = (UUID().uuidString, UUID().uuidString, UUID().uuidString)
    let consumer = consumer()
    let snapshot = try consumer.consume(from: [root])
    #expect(snapshot.map(\.state) == [.pending] && snapshot[0].parentID == nil && snapshot[0].rootID == nil)
    try store(b, "SUCCESS")
    try server.storeAndPublish(taskID: root, json: celeryMeta(root, "SUCCESS", children: [a, b]))
    let changes = try drain(consumer, until: { consumer.taskCount == 3 })
    // The parent is ready, but its children are watched already: never zero in between.
    #expect(consumer.watchingCount == 1)
    #expect(changes.map(\.taskID) == [root, a, b])
    #expect(changes.map(\.state) == [.success, .pending, .success])
    #expect(changes.map(\.source) == [.message, .snapshot, .snapshot])
    #expect(changes.dropFirst().allSatisfy { $0.parentID == root && $0.rootID == root })
    #expect(changes[0].parentID == nil)
    try server.storeAndPublish(taskID: a, json: celeryMeta(a, "SUCCESS"))
    let last = try drain(consumer, until: { consumer.watchingCount == 0 })
    #expect(last.map(\.taskID) == [a] && last[0].rootID == root)
  }

  @Test("a cycle and an id shared by two trees: each id watched once, the run ends")
  func cyclesAndSharedIDs() throws {
    let (first, second, shared, loop) = (UUID().uuidString, UUID().uuidString, UUID().uuidString, UUID().uuidString)
    try store(first, "SUCCESS", children: [shared, loop])
    try store(second, "SUCCESS", children: [shared])
    try store(shared, "SUCCESS", children: [first, second])
    try store(loop, "SUCCESS", children: [loop, first])
    let consumer = consumer()
    let changes = try consumer.consume(from: [first, second])
    #expect(changes.map(\.taskID) == [first, second, shared, loop])
    #expect(changes.map(\.rootID) == [nil, nil, first, first])
    #expect(consumer.taskCount == 4 && consumer.watchingCount == 0)
  }

  @Test("three levels from the snapshot alone: each level is one more batch")
  func levelsFromTheSnapshot() throws {
    let root = UUID().uuidString
    let middle = (0..<3).map { _ in UUID().uuidString }
    let leaves = middle.map { _ in (0..<3).map { _ in UUID().uuidString } }
    try store(root, "SUCCESS", children: middle)
    for (parent, children) in zip(middle, leaves) {
      try store(parent, "SUCCESS", children: children)
      for leaf in children { try store(leaf, "STARTED") }
    }
    let consumer = consumer()
    let changes = try consumer.consume(from: [root])
    #expect(changes.count == 13 && consumer.watchingCount == 9)
    for (parent, children) in zip(middle, leaves) {
      for leaf in children {
        let change = try #require(changes.first { $0.taskID == leaf })
        #expect(change.parentID == parent && change.rootID == root)
      }
    }
  }

  @Test("a tree past maximumTreeSize stops the consumer with WorkflowTooLargeError")
  func boundedTree() throws {
    let root = UUID().uuidString
    let children = (0..<5).map { _ in UUID().uuidString }
    try store(root, "SUCCESS", children: children)
    #expect(throws: WorkflowTooLargeError(rootID: root, limit: 5)) {
      _ = try consumer(maximumTreeSize: 5).consume(from: [root])
    }
    #expect(try consumer(maximumTreeSize: 6).consume(from: [root]).count == 6)
  }

  @Test("children listed by a payload read in the resync after stop() are followed once reconnected")
  func childrenFromAResync() throws {
    let (root, child) = (UUID().uuidString, UUID().uuidString)
    let consumer = consumer()
    #expect(try consumer.consume(from: [root]).map(\.state) == [.pending])
    consumer.stop()
    try store(child, "STARTED")
    try store(root, "SUCCESS", children: [child])
    let changes = try drain(consumer, until: { consumer.taskCount == 2 })
    #expect(changes.map(\.taskID) == [root, child])
    #expect(changes.map(\.source) == [.resync, .snapshot])
    #expect(changes[1].parentID == root && consumer.watchingCount == 1)
    try server.storeAndPublish(taskID: child, json: celeryMeta(child, "SUCCESS"))
    #expect(try drain(consumer, until: { consumer.watchingCount == 0 }).map(\.state) == [.success])
  }

  @Test("without followChildren, children are not read")
  func offByDefault() throws {
    let (root, child) = (UUID().uuidString, UUID().uuidString)
    try store(root, "SUCCESS", children: [child])
    let consumer = ResultConsumer(
      configuration: ConsumerConfiguration(backend: BackendURL(endpoint: server.endpoint, database: 0)))
    #expect(try consumer.consume(from: [root]).map(\.taskID) == [root])
    #expect(consumer.taskCount == 1)
  }
}
