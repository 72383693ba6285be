import Foundation
import TestSupport
import Testing

@testable import CeleryPayload
@testable import RedisWire
@testable import TaskWatch

/// Messages that were in flight on the subscriber while a fetch read a newer
/// state must not be reported after it (the chaos soak's RETRY → STARTED →
/// RETRY). The subscriber's replies are held back in a proxy, so the order in
/// which things reach the consumer is fixed, not raced.
@Suite("ResultConsumer: never an older state after a newer one", .serialized)
struct ConsumerOrderingTests {

  private func drain(_ consumer: ResultConsumer, until done: ([StateChange]) -> Bool) throws -> [StateChange] {
    var changes = [StateChange]()
    let deadline = Deadline.after(seconds: 10)
    while !done(changes) && !deadline.hasPassed {
      changes += try consumer.drainEvents(timeout: 0.2)
    }
    return changes
  }

  @Test("STARTED in flight while the resync reads RETRY: only RETRY is reported, then SUCCESS")
  func staleMessageAfterResync() throws {
    let redis = try RedisServer()
    let proxy = try FaultProxy(upstreamPort: redis.port)
    let id = UUID().uuidString
    let consumer = ResultConsumer(
      configuration: ConsumerConfiguration(backend: try BackendURL.parse(proxy.url())))
    #expect(try consumer.consume(from: [id]).map(\.state) == [.pending])
    proxy.pauseReplies(toConnection: 0)
    try redis.storeAndPublish(taskID: id, json: celeryMeta(id, "STARTED"))
    try redis.storeAndPublish(taskID: id, json: celeryMeta(id, "RETRY"))
    #expect(try consumer.refreshPending().map(\.state) == [.retry])
    proxy.resumeReplies(toConnection: 0)
    // The barrier: published after the stale messages, so once it is seen
    // they have been handled.
    try redis.storeAndPublish(taskID: id, json: celeryMeta(id, "SUCCESS"))
    let changes = try drain(consumer) { $0.contains(where: \.isReady) }
    #expect(changes.map(\.state) == [.success])
    #expect(changes.map(\.previous) == [.retry])
  }

  @Test("messages newer than the fetched state, with no copy of it in flight, are reported in order")
  func newerMessagesAfterSnapshot() throws {
    let redis = try RedisServer()
    let proxy = try FaultProxy(upstreamPort: redis.port)
    let id = UUID().uuidString
    // RETRY was published before anyone subscribed: the snapshot reads it,
    // and no message equal to it will come.
    try redis.storeAndPublish(taskID: id, json: celeryMeta(id, "RETRY"))
    let consumer = ResultConsumer(
      configuration: ConsumerConfiguration(backend: try BackendURL.parse(proxy.url())))
    #expect(try consumer.consume(from: [id]).map(\.state) == [.retry])
    try redis.storeAndPublish(taskID: id, json: celeryMeta(id, "STARTED"))
    try redis.storeAndPublish(taskID: id, json: celeryMeta(id, "SUCCESS"))
    let changes = try drain(consumer) { $0.contains(where: \.isReady) }
    #expect(changes.map(\.state) == [.started, .success])
  }
}
