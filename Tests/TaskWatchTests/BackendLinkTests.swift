import Foundation
import TestSupport
import Testing

@testable import CeleryPayload
@testable import RedisWire
@testable import TaskWatch

/// The engine's protocol steps one at a time, against a real redis-server.
@Suite("BackendLink: the protocol steps")
struct BackendLinkTests {
  let server = SharedRedis.server

  private func link(batchSize: Int = 1000, database: Int = 0) -> BackendLink {
    BackendLink(
      configuration: ConsumerConfiguration(
        backend: BackendURL(endpoint: server.endpoint, database: database), batchSize: batchSize))
  }

  private func channels(_ count: Int) -> [[UInt8]] {
    (0..<count).map { _ in Array("link-test-\(UUID().uuidString)".utf8) }
  }

  private func format(_ channels: [[UInt8]]) -> (String, ArraySlice<Int>) -> RedisCommand {
    { name, batch in
      var command = RedisCommand(argumentCount: batch.count + 1)
      command.append(name)
      for index in batch { command.append(channels[index]) }
      return command
    }
  }

  @Test("subscribe: batches of 7 for 20 channels, every confirmation read before it returns")
  func subscribeConfirms() throws {
    let link = link(batchSize: 7)
    let names = channels(20)
    try link.connect()
    try link.subscribe(Array(names.indices), command: "SUBSCRIBE", format: format(names), keep: { _ in true })
    for name in names {
      #expect(try server.subscriberCount(channel: String(decoding: name, as: UTF8.self)) == 1)
    }
  }

  @Test("subscribe reports the confirmed prefix as it grows; keys fetched from there come in order")
  func fetchWhileSubscribing() throws {
    let link = link(batchSize: 7)
    let names = channels(40)
    for (index, name) in names.enumerated() where index % 3 == 0 {
      try server.run(["SET", String(decoding: name, as: UTF8.self), "v\(index)"])
    }
    try link.connect()
    var counts = [Int]()
    var pipeline = BackendLink.FetchPipeline()
    var fetched = 0
    var values = [String?]()
    let mget = { (batch: ArraySlice<Int>) in format(names)("MGET", batch) }
    func take(_ position: Int, _ reply: RedisReply) {
      #expect(position == values.count)
      values.append(reply.text)
    }
    try link.subscribe(
      Array(names.indices), command: "SUBSCRIBE", format: format(names), keep: { _ in true },
      confirmed: { count in
        counts.append(count)
        // Every key fetched belongs to a channel whose subscription is confirmed.
        for name in names[fetched..<count] {
          #expect(try server.subscriberCount(channel: String(decoding: name, as: UTF8.self)) == 1)
        }
        try link.sendFetch(Array(fetched..<count)[...], format: mget, on: &pipeline, take)
        fetched = count
      })
    try link.finishFetch(&pipeline, take)
    #expect(counts.last == 40 && counts == counts.sorted() && Set(counts).count == counts.count)
    #expect(values == names.indices.map { $0 % 3 == 0 ? "v\($0)" : nil })
  }

  @Test("fetch: values in key order across batches, an error reply through the funnel")
  func fetchInOrder() throws {
    let link = link(batchSize: 3)
    let keys = channels(8)
    for (index, key) in keys.enumerated() where index % 2 == 0 {
      try server.run(["SET", String(decoding: key, as: UTF8.self), "v\(index)"])
    }
    try link.connect()
    var values = [String?]()
    let mget = { (batch: ArraySlice<Int>) in format(keys)("MGET", batch) }
    let slot = { (index: Int) in ClusterSlot.of(keys[index]) }
    try link.fetch(Array(keys.indices), slot: slot, format: mget) { position, reply in
      #expect(position == values.count)
      values.append(reply.text)
    }
    #expect(values == ["v0", nil, "v2", nil, "v4", nil, "v6", nil])
    // HGETALL of a string key: WRONGTYPE, a refusal of the request.
    let error = #expect(throws: RedisError.self) {
      let hgetall = { (batch: ArraySlice<Int>) in format(keys)("HGETALL", batch) }
      try link.fetch([0], slot: slot, format: hgetall) { _, _ in }
    }
    guard case .rejected(_, _, let reply) = error else {
      Issue.record("not funnelled: \(String(describing: error))")
      return
    }
    #expect(reply.codeText == "WRONGTYPE" && reply.kind == .request)
  }

  @Test("a fence is answered after every message published before it")
  func fenceAfterMessages() throws {
    let link = link()
    let names = channels(1)
    try link.connect()
    try link.subscribe([0], command: "SUBSCRIBE", format: format(names), keep: { _ in true })
    let channel = String(decoding: names[0], as: UTF8.self)
    try server.run(["PUBLISH", channel, "before"])
    let number = try link.sendFence()
    var seen = [String]()
    var answered: UInt32?
    let deadline = Deadline.after(seconds: 5)
    while answered == nil && !deadline.hasPassed {
      for reply in try link.read(maximum: 16, until: .after(seconds: 0.5)) {
        let event = PubSubEvent(reply)
        if case .message(_, let payload) = event {
          seen.append(String(decoding: payload, as: UTF8.self))
        } else if let fence = try link.absorb(event, command: "SUBSCRIBE") {
          answered = fence
        }
      }
    }
    #expect(answered == number)
    #expect(seen == ["before"])
  }

  @Test("unsubscribe: full batches go as they accrue, the rest only when idle")
  func unsubscribeAsTheyAccrue() throws {
    let link = link(batchSize: 4)
    let names = channels(10)
    try link.connect()
    try link.subscribe(Array(names.indices), command: "SUBSCRIBE", format: format(names), keep: { _ in true })
    let first = String(decoding: names[0], as: UTF8.self)
    let last = String(decoding: names[9], as: UTF8.self)
    // Unread input makes the subscriber busy: only the full batches go.
    try server.run(["PUBLISH", last, "busy"])
    let busy = Deadline.after(seconds: 5)
    while !(link.subscriber?.hasPendingInput() ?? false) && !busy.hasPassed { usleep(1_000) }
    var queue = Array(names.indices)
    try link.flushUnsubscribes(&queue, worthwhile: true, format: format(names))
    #expect(queue == [8, 9])
    let deadline = Deadline.after(seconds: 5)
    while try server.subscriberCount(channel: String(decoding: names[7], as: UTF8.self)) != 0 && !deadline.hasPassed {
      usleep(2_000)
    }
    #expect(try server.subscriberCount(channel: first) == 0)
    #expect(try server.subscriberCount(channel: String(decoding: names[7], as: UTF8.self)) == 0)
    #expect(try server.subscriberCount(channel: last) == 1, "the partial batch waits for an idle subscriber")
    _ = try link.read(maximum: 16, until: .after(seconds: 1))
    try link.flushUnsubscribes(&queue, worthwhile: true, format: format(names))
    #expect(queue.isEmpty)
    let idle = Deadline.after(seconds: 5)
    while try server.subscriberCount(channel: last) != 0 && !idle.hasPassed { usleep(2_000) }
    #expect(try server.subscriberCount(channel: last) == 0)
  }
}
