import Testing

@testable import TaskWatch

@Suite("TaskMeta decoding")
struct TaskMetaTests {
  private func decode(_ text: String) throws -> TaskMeta {
    try TaskMeta.decode(Array(text.utf8))
  }

  private func text(_ meta: TaskMeta) -> String {
    String(decoding: meta.json, as: UTF8.self)
  }

  @Test("status and task_id are read; the payload passes through unchanged")
  func passThrough() throws {
    let payload =
      #"{"status": "SUCCESS", "result": 5, "traceback": null, "children": [], "date_done": "2026-11-25T19:12:08.938017+00:00", "task_id": "a1"}"#
    let meta = try decode(payload)
    #expect(meta.state == .success)
    #expect(meta.taskID == "a1")
    #expect(text(meta) == payload)
  }

  @Test("Python's NaN and infinities become strings, and the line is compacted")
  func nonFinite() throws {
    let meta = try decode(#"{"status": "SUCCESS", "result": [NaN, Infinity, -Infinity, -1.5e3], "note": "NaN"}"#)
    #expect(text(meta) == #"{"status":"SUCCESS","result":["NaN","Infinity","-Infinity",-1.5e3],"note":"NaN"}"#)
  }

  @Test("line breaks between tokens are removed so the output stays one line")
  func lineBreaks() throws {
    let meta = try decode("{\n  \"status\": \"STARTED\",\n  \"result\": {\"pid\": 1}\n}\n")
    #expect(!meta.json.contains(0x0A))
    #expect(text(meta) == #"{"status":"STARTED","result":{"pid":1}}"#)
  }

  @Test("kombu __type__ envelopes pass through as they are")
  func kombuEnvelopes() throws {
    let payload =
      #"{"status": "SUCCESS", "result": {"__type__": "datetime", "__value__": "2026-11-25T19:12:08"}, "task_id": "x"}"#
    #expect(text(try decode(payload)) == payload)
  }

  @Test("escaped strings decode, including surrogate pairs")
  func escapes() throws {
    let meta = try decode(#"{"status": "PRO\u0047RESS", "task_id": "id-\ud83d\ude00-\"q\""}"#)
    #expect(meta.state == TaskState("PROGRESS"))
    #expect(meta.taskID == "id-😀-\"q\"")
  }

  @Test("without result drops result and traceback only")
  func withoutResult() throws {
    let meta = try decode(
      #"{"status": "FAILURE", "result": {"exc_type": "ValueError"}, "traceback": "Traceback…", "task_id": "t"}"#)
    #expect(String(decoding: meta.jsonWithoutResult(), as: UTF8.self) == #"{"status": "FAILURE","task_id": "t"}"#)
  }

  @Test(
    "non-JSON payloads name the serializer",
    arguments: [
      ([0x80, 0x04, 0x95, 0x10, 0x00], "pickle"),
      ([0x86, 0xA6] + Array("status".utf8), "msgpack"),
      (Array("children: []\nstatus: SUCCESS\n".utf8), "YAML"),
      (Array("\u{0}celery-compressed\u{0}application/x-bz2\u{0}BZh".utf8), "application/x-bz2"),
    ])
  func notJSON(bytes: [UInt8], name: String) {
    #expect {
      try TaskMeta.decode(bytes)
    } throws: { error in
      String(describing: error).contains(name)
    }
  }

  @Test(
    "invalid JSON and non-meta JSON are refused",
    arguments: [
      "", "{", #"{"status": "SUCCESS""#, #"{"status": SUCCESS}"#, #"{"status": "A"} x"#, "[1, 2]",
      #"{"result": 1}"#, #"{"status": 3}"#, #"{"status": ""}"#, "{\"status\": \"a\u{1}b\"}", #"{"a": tru}"#,
      #"{"a": 01x}"#, #"{"a": "\x"}"#, String(repeating: "[", count: 600),
    ])
  func refused(text: String) {
    #expect(throws: DecodeError.self) {
      try TaskMeta.decode(Array(text.utf8))
    }
  }

  @Test("invalid UTF-8 inside strings is repaired so the output stays valid UTF-8")
  func repairsUTF8() throws {
    let meta = try TaskMeta.decode(
      Array(#"{"status": "SUCCESS", "result": ""#.utf8) + [0xFF, 0xFE] + Array(#""}"#.utf8))
    #expect(String(validating: meta.json, as: UTF8.self) != nil)
  }
}

@Suite("TaskState")
struct TaskStateTests {
  @Test("READY_STATES are exactly SUCCESS, FAILURE and REVOKED")
  func readyStates() {
    #expect(TaskState.readyStates == [.success, .failure, .revoked])
    for state in [TaskState.pending, .received, .started, .retry, TaskState("PROGRESS")] {
      #expect(!state.isReady)
    }
    for state in TaskState.readyStates { #expect(state.isReady) }
    #expect(TaskState.failure.isFailure && TaskState.revoked.isFailure && !TaskState.success.isFailure)
  }
}

@Suite("KeyNaming")
struct KeyNamingTests {
  @Test(
    "Celery 5.5's global_keyprefix rule",
    arguments: [
      (nil, "celery-task-meta-x"), ("myapp", "myapp_celery-task-meta-x"), ("myapp:", "myapp:celery-task-meta-x"),
      ("myapp_", "myapp_celery-task-meta-x"), ("myapp-", "myapp-celery-task-meta-x"),
      ("myapp.", "myapp.celery-task-meta-x"), ("", "celery-task-meta-x"),
    ])
  func globalPrefix(prefix: String?, key: String) {
    #expect(KeyNaming(globalKeyPrefix: prefix).key(forTask: "x") == key)
  }

  @Test("key prefix and group keys")
  func keyPrefix() {
    let naming = KeyNaming(keyPrefix: "results:", globalKeyPrefix: "app")
    #expect(naming.key(forTask: "1") == "app_results:1")
    #expect(naming.key(forGroup: "g") == "app_celery-taskset-meta-g")
  }
}
