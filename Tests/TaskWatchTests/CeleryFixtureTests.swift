import Foundation
import Testing

@testable import CeleryPayload
@testable import RedisWire
@testable import TaskWatch

/// One file of `Tests/Fixtures/celery` as `manifest.json` describes it.
struct CeleryFixture: Sendable, CustomTestStringConvertible {
  let file: String
  let kind: String
  let serializer: String
  let compression: String?
  let status: String?
  let id: String
  let decodes: Bool
  /// `expected_meta` re-serialized, or `nil` where the manifest has `null`.
  let expectedMeta: Data?

  var testDescription: String { file }

  /// The fixture directory, found from this source file.
  static let directory = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
    .appendingPathComponent("Fixtures/celery")

  /// Every file the manifest lists.
  static let all: [CeleryFixture] = {
    guard let data = try? Data(contentsOf: directory.appendingPathComponent("manifest.json")),
      let manifest = try? JSONSerialization.jsonObject(with: data) as? [String: Any],
      let files = manifest["files"] as? [[String: Any]]
    else { fatalError("cannot read Tests/Fixtures/celery/manifest.json") }
    return files.map { entry in
      guard let file = entry["file"] as? String, let kind = entry["kind"] as? String,
        let serializer = entry["serializer"] as? String,
        let id = (entry["task_id"] ?? entry["group_id"]) as? String,
        let decodes = entry["taskwatch_decodes"] as? Bool
      else { fatalError("manifest.json: incomplete entry \(entry)") }
      return CeleryFixture(
        file: file, kind: kind, serializer: serializer, compression: entry["compression"] as? String,
        status: entry["status"] as? String, id: id, decodes: decodes,
        expectedMeta: (entry["expected_meta"] as? [String: Any]).flatMap {
          try? JSONSerialization.data(withJSONObject: $0)
        })
    }
  }()

  /// The captured bytes.
  func payload() throws -> [UInt8] {
    [UInt8](try Data(contentsOf: Self.directory.appendingPathComponent(file)))
  }

  /// Another file's captured bytes.
  static func payload(of file: String) throws -> [UInt8] {
    [UInt8](try Data(contentsOf: directory.appendingPathComponent(file)))
  }
}

/// JSON text parsed with Foundation, for comparing documents rather than bytes.
func parsedJSON(_ bytes: some Sequence<UInt8>) throws -> NSObject {
  try #require(try JSONSerialization.jsonObject(with: Data(bytes), options: [.fragmentsAllowed]) as? NSObject)
}

@Suite("Celery 5.7 fixtures (captured from real workers)")
struct CeleryFixtureTests {
  @Test("the manifest lists every serializer and compression the capture produced")
  func coverage() {
    let all = CeleryFixture.all
    #expect(all.count > 70)
    #expect(Set(all.map(\.serializer)) == ["json", "msgpack", "pickle", "yaml"])
    #expect(Set(all.compactMap(\.compression)) == ["zlib", "gzip", "bzip2", "lzma", "brotli", "zstd"])
    #expect(!all.contains { $0.compression != nil && !$0.decodes }, "every kombu compression is decoded")
    #expect(all.contains { $0.kind == "group" })
  }

  @Test(
    "every task payload taskwatch decodes gives its expected meta",
    arguments: CeleryFixture.all.filter { $0.kind == "task" && $0.decodes && $0.expectedMeta != nil })
  func decodes(fixture: CeleryFixture) throws {
    let meta = try TaskMeta.decode(try fixture.payload())
    #expect(meta.state.name == fixture.status)
    #expect(meta.taskID == fixture.id)
    #expect(String(validating: meta.json, as: UTF8.self) != nil)
    #expect(!meta.json.contains(0x0A))
    #expect(try parsedJSON(meta.json) == parsedJSON(try #require(fixture.expectedMeta)))
  }

  @Test(
    "pickle and YAML payloads are refused with an error that names them",
    arguments: CeleryFixture.all.filter { !$0.decodes })
  func refused(fixture: CeleryFixture) throws {
    let expected: DecodeError
    switch fixture.compression ?? fixture.serializer {
    case "pickle": expected = .unsupportedSerializer("pickle")
    case "yaml": expected = .unsupportedSerializer("YAML")
    default:
      Issue.record("no expectation for \(fixture.file)")
      return
    }
    #expect(throws: expected) { try TaskMeta.decode(try fixture.payload()) }
  }

  @Test(
    "msgpack bytes render as the kombu envelope a JSON worker writes for the same value",
    arguments: [
      ("msgpack-typed-bytes.stored.msgpack", "typed-bytes.stored.json"),
      ("msgpack-typed-binary.stored.msgpack", "typed-binary.stored.json"),
    ])
  func msgpackBytesMatchJSON(msgpackFile: String, jsonFile: String) throws {
    let fromMsgpack = try parsedJSON(try TaskMeta.decode(try CeleryFixture.payload(of: msgpackFile)).json)
    let fromJSON = try parsedJSON(try TaskMeta.decode(try CeleryFixture.payload(of: jsonFile)).json)
    let result = try #require((fromJSON as? [String: Any])?["result"] as? NSObject)
    #expect((fromMsgpack as? [String: Any])?["result"] as? NSObject == result)
  }

  @Test(
    "every saved group decodes to its expected document and its children, nested ones expanded",
    arguments: CeleryFixture.all.filter { $0.kind == "group" })
  func groups(fixture: CeleryFixture) throws {
    let payload = try fixture.payload()
    let group = try SavedGroup.decode(payload)
    #expect(group.groupID == fixture.id)
    let expected = try JSONSerialization.jsonObject(with: try #require(fixture.expectedMeta))
    #expect(try parsedJSON(try TaskMeta.jsonBytes(of: payload)) == expected as? NSObject)
    #expect(group.taskIDs == Self.leafIDs(of: expected))
    #expect(!group.taskIDs.isEmpty && !group.taskIDs.contains(fixture.id))
  }

  @Test("the captured groups: plain, flattened by Celery, and nested with its children inline")
  func groupShapes() throws {
    let plain = try SavedGroup.decode(try CeleryFixture.payload(of: "group.stored.json"))
    #expect(plain.taskIDs == ["6aa296d1-e252-479f-bf16-3375ecb79dd1", "0335ba31-04c0-4db9-83d4-448d1da007d6"])
    #expect(try SavedGroup.decode(try CeleryFixture.payload(of: "group-flattened.stored.json")).taskIDs.count == 3)
    let nested = try SavedGroup.decode(try CeleryFixture.payload(of: "group-nested.stored.json"))
    #expect(
      nested.taskIDs == [
        "97b18279-4245-47de-893d-f971dbe4c6e9", "059a3afc-55b7-4c6b-9477-c6c650dc05e8",
        "009294e7-8296-4fa0-8a26-33d580a184cd",
      ])
  }

  /// The task ids of a group document, walked with Foundation: an
  /// independent reading of Celery's `[[id, parent], children-or-null]` tuples.
  private static func leafIDs(of document: Any) -> [String] {
    guard let result = (document as? [String: Any])?["result"] as? [Any], let children = result.last as? [Any]
    else { return [] }
    func walk(_ nodes: [Any]) -> [String] {
      nodes.flatMap { node -> [String] in
        guard let tuple = node as? [Any], tuple.count == 2 else { return [] }
        if let nested = tuple[1] as? [Any] { return walk(nested) }
        return ((tuple[0] as? [Any])?.first as? String).map { [$0] } ?? []
      }
    }
    return walk(children)
  }
}
