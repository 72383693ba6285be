import Foundation
import Testing

@testable import CeleryPayload
@testable import TaskWatch

/// One stored meta of `Tests/Fixtures/celery/workflows`, with the ids Celery's
/// own `result_from_tuple` read from its `children` when it was captured.
struct WorkflowFixture: Sendable, CustomTestStringConvertible {
  let file: String
  let taskID: String
  let childIDs: [String]

  var testDescription: String { file }

  static let directory = CeleryFixture.directory.appendingPathComponent("workflows")

  /// Every file `workflows/manifest.json` lists.
  static let all: [WorkflowFixture] = {
    guard let data = try? Data(contentsOf: directory.appendingPathComponent("manifest.json")),
      let manifest = try? JSONSerialization.jsonObject(with: data) as? [String: Any],
      let files = manifest["files"] as? [[String: Any]]
    else { fatalError("cannot read Tests/Fixtures/celery/workflows/manifest.json") }
    return files.map { entry in
      guard let file = entry["file"] as? String, let taskID = entry["task_id"] as? String,
        let childIDs = entry["children_ids"] as? [String]
      else { fatalError("workflows/manifest.json: incomplete entry \(entry)") }
      return WorkflowFixture(file: file, taskID: taskID, childIDs: childIDs)
    }
  }()

  func meta() throws -> TaskMeta {
    try TaskMeta.decode([UInt8](try Data(contentsOf: Self.directory.appendingPathComponent(file))))
  }
}

@Suite("Children in stored metas (captured from real Celery)")
struct TaskChildrenTests {
  @Test("the ids read from children are the ones Celery reads, in its order", arguments: WorkflowFixture.all)
  func childrenAsCeleryReadsThem(fixture: WorkflowFixture) throws {
    let meta = try fixture.meta()
    #expect(meta.taskID == fixture.taskID)
    #expect(TaskChildren.ids(in: meta) == fixture.childIDs)
  }

  @Test("the fixtures cover every form: tasks, a chord header group, chain steps, msgpack, parents, nesting")
  func fixturesCoverTheForms() throws {
    let byFile = Dictionary(uniqueKeysWithValues: WorkflowFixture.all.map { ($0.file, $0) })
    let chord = try #require(byFile["workflow-chord.stored.json"])
    // The header group's own id is in the tuple but is not a task.
    let groupID = try #require(try chord.meta().children.first?.arrayValue?.first?.arrayValue?.first?.stringValue)
    #expect(chord.childIDs.count == 3 && !chord.childIDs.contains(groupID))
    #expect(byFile["workflow-msgpack-spawn.stored.msgpack"]?.childIDs.count == 2)
    #expect(byFile["workflow-chain-child.stored.json"]?.childIDs.count == 1)
    #expect(byFile["workflow-replace.stored.json"]?.childIDs == [])
    // A frozen chain's tuple (two parents) and a group holding a group: six tasks.
    #expect(byFile["workflow-tuple-forms.stored.json"]?.childIDs.count == 6)
  }

  @Test(
    "metas with no children, or children [], list none; other shapes name no task",
    arguments: [
      #"{"status":"SUCCESS","result":1}"#,
      #"{"status":"SUCCESS","children": []}"#,
      #"{"status":"SUCCESS","children":[ ]}"#,
      #"{"status":"SUCCESS","children":null}"#,
      #"{"status":"SUCCESS","children":[1,"x",[["a"]],[[null,null],null],[["",null],null]]}"#,
      #"{"status":"SUCCESS","result":"\"children\": [1]","children":[]}"#,
    ])
  func noChildren(json: String) throws {
    #expect(TaskChildren.ids(in: try TaskMeta.decode(Array(json.utf8))) == [])
  }

  @Test("a bare id in place of [id, parent] is read, as result_from_tuple reads it; repeats count once")
  func bareIDs() throws {
    let json = #"{"status":"SUCCESS","children":[["a",null],[["b",null],null],["a",null]]}"#
    #expect(TaskChildren.ids(in: try TaskMeta.decode(Array(json.utf8))) == ["a", "b"])
  }
}
