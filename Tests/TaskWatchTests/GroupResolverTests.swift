import Foundation
import TestSupport
import Testing

@testable import CeleryPayload
@testable import RedisWire
@testable import TaskWatch

@Suite("GroupResolver against a real redis-server")
struct GroupResolverTests {
  let server = SharedRedis.server

  private func resolver(database: Int = 0, globalKeyPrefix: String? = nil) -> GroupResolver {
    GroupResolver(
      configuration: ConsumerConfiguration(
        backend: BackendURL(endpoint: server.endpoint, database: database),
        keyNaming: KeyNaming(globalKeyPrefix: globalKeyPrefix)))
  }

  /// A group as Celery's JSON serializer saves it; a child is a task id or a
  /// nested group `(id, children)`.
  private func groupJSON(_ id: String, _ children: [Child]) -> String {
    #"{"result": "# + tuple(id, children) + "}"
  }

  private indirect enum Child {
    case task(String)
    case group(String, [Child])
  }

  private func tuple(_ id: String, _ children: [Child]) -> String {
    let inner = children.map { child in
      switch child {
      case .task(let task): return #"[["\#(task)", null], null]"#
      case .group(let group, let nested): return tuple(group, nested)
      }
    }
    return #"[["\#(id)", null], [\#(inner.joined(separator: ", "))]]"#
  }

  private func save(
    _ id: String, payload: [UInt8], keyPrefix: String = "celery-taskset-meta-", store: Bool = true,
    database: Int = 0
  ) throws {
    try server.storeAndPublish(taskID: id, payload: payload, keyPrefix: keyPrefix, database: database, store: store)
  }

  /// Saves a group from another thread once the resolver is subscribed to its channel.
  private func saveOnceSubscribed(_ id: String, payload: [UInt8], channel: String, store: Bool) -> Thread {
    let server = server
    let thread = Thread {
      guard (try? server.waitForSubscribers(channel: channel)) == true else { return }
      try? server.storeAndPublish(
        taskID: id, payload: payload, keyPrefix: String(channel.dropLast(id.count)), store: store)
    }
    thread.start()
    return thread
  }

  @Test("stored groups expand in the order given, nested groups inline, each task once")
  func storedGroups() throws {
    let (outer, inner, other) = (newTaskID(), newTaskID(), newTaskID())
    let (a, b, c, d) = (newTaskID(), newTaskID(), newTaskID(), newTaskID())
    try save(outer, payload: Array(groupJSON(outer, [.task(a), .group(inner, [.task(b), .task(c)]), .task(a)]).utf8))
    try save(other, payload: Array(groupJSON(other, [.task(d), .task(b)]).utf8))
    let resolution = try resolver().resolve([other, outer, other], until: .after(seconds: 5), shouldStop: { false })
    #expect(resolution.taskIDs == [d, b, a, c])
    #expect(resolution.unsavedGroupIDs.isEmpty)
  }

  @Test("a group saved after the resolver started is taken from its publish, without a stored key")
  func savedLater() throws {
    let (group, task) = (newTaskID(), newTaskID())
    let payload = Array(groupJSON(group, [.task(task)]).utf8)
    let saver = saveOnceSubscribed(group, payload: payload, channel: "celery-taskset-meta-\(group)", store: false)
    let started = Date()
    let resolution = try resolver().resolve([group], until: .after(seconds: 10), shouldStop: { false })
    #expect(resolution == GroupResolver.Resolution(taskIDs: [task], unsavedGroupIDs: []))
    #expect(Date().timeIntervalSince(started) < 5)
    _ = saver
  }

  @Test("the deadline ends the wait and names the groups still unsaved")
  func deadline() throws {
    let (saved, missing, task) = (newTaskID(), newTaskID(), newTaskID())
    try save(saved, payload: Array(groupJSON(saved, [.task(task)]).utf8))
    let started = Date()
    let resolution = try resolver().resolve([missing, saved], until: .after(seconds: 0.3), shouldStop: { false })
    let elapsed = Date().timeIntervalSince(started)
    #expect(resolution == GroupResolver.Resolution(taskIDs: [task], unsavedGroupIDs: [missing]))
    #expect(elapsed >= 0.3 && elapsed < 3)
  }

  @Test("a deadline already passed reads what is stored and does not wait")
  func passedDeadline() throws {
    let missing = newTaskID()
    let started = Date()
    let resolution = try resolver().resolve([missing], until: .now, shouldStop: { false })
    #expect(resolution.unsavedGroupIDs == [missing])
    #expect(Date().timeIntervalSince(started) < 1)
  }

  @Test("shouldStop ends an endless wait within a slice")
  func stop() throws {
    let missing = newTaskID()
    let started = Date()
    var asked = 0
    let resolution = try resolver().resolve(
      [missing], until: nil,
      shouldStop: {
        asked += 1
        return asked > 2
      })
    #expect(resolution.unsavedGroupIDs == [missing])
    #expect(asked == 3)
    #expect(Date().timeIntervalSince(started) < 3)
  }

  @Test("global_keyprefix applies to group keys and channels")
  func globalKeyPrefix() throws {
    let (stored, later, a, b) = (newTaskID(), newTaskID(), newTaskID(), newTaskID())
    try save(stored, payload: Array(groupJSON(stored, [.task(a)]).utf8), keyPrefix: "myapp_celery-taskset-meta-")
    let saver = saveOnceSubscribed(
      later, payload: Array(groupJSON(later, [.task(b)]).utf8), channel: "myapp_celery-taskset-meta-\(later)",
      store: true)
    let resolution = try resolver(globalKeyPrefix: "myapp").resolve(
      [stored, later], until: .after(seconds: 10), shouldStop: { false })
    #expect(resolution.taskIDs == [a, b])
    _ = saver
  }

  @Test("a group saved by a msgpack worker with zlib compression expands the same")
  func msgpackCompressed() throws {
    let (group, a, b) = (newTaskID(), newTaskID(), newTaskID())
    func string(_ text: String) -> [UInt8] { [0xD9, UInt8(text.utf8.count)] + Array(text.utf8) }
    func child(_ id: String) -> [UInt8] { [0x92, 0x92] + string(id) + [0xC0, 0xC0] }
    let msgpack =
      [0x81] + string("result") + [0x92, 0x92] + string(group) + [0xC0, 0x92] + child(a) + child(b)
    try save(group, payload: Deflate.celeryPayload(Deflate.compress(msgpack)))
    let resolution = try resolver().resolve([group], until: .after(seconds: 5), shouldStop: { false })
    #expect(resolution.taskIDs == [a, b])
  }

  @Test("the group key is read from the URL's database")
  func database() throws {
    let (group, task) = (newTaskID(), newTaskID())
    try save(group, payload: Array(groupJSON(group, [.task(task)]).utf8), database: 3)
    #expect(try resolver(database: 3).resolve([group], until: .now, shouldStop: { false }).taskIDs == [task])
    #expect(try resolver(database: 0).resolve([group], until: .now, shouldStop: { false }).taskIDs == [])
  }

  @Test(
    "an unreadable group payload is an UndecodableGroupError naming the group",
    arguments: [
      [0x80, 0x04, 0x95, 0x10, 0x00], Array(#"{"status": "SUCCESS"}"#.utf8),
      Array(#"{"result": [["g", null], 5]}"#.utf8),
    ] as [[UInt8]])
  func undecodable(payload: [UInt8]) throws {
    let group = newTaskID()
    try save(group, payload: payload)
    #expect {
      _ = try resolver().resolve([group], until: .after(seconds: 5), shouldStop: { false })
    } throws: { error in
      guard let error = error as? UndecodableGroupError else { return false }
      return error.groupID == group && error.description.hasPrefix("cannot read saved group \(group): payload ")
    }
  }
}
