import Testing

@testable import CeleryPayload
@testable import RedisWire
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
      (Array("\u{0}celery-compressed\u{0}application/x-snappy\u{0}sNaPpY".utf8), "application/x-snappy"),
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

  /// A payload whose `k` member is `plain` with `special` inserted at `cut`.
  private func payload(_ plain: String, inserting special: [UInt8], at cut: Int) -> [UInt8] {
    Array(#"{"status": "S", "k": ""#.utf8) + Array(plain.utf8.prefix(cut)) + special
      + Array(plain.utf8.dropFirst(cut)) + Array(#"", "task_id": "\#(plain)"}"#.utf8)
  }

  @Test("strings are scanned 8 bytes at a time: every length, a special byte at every place")
  func stringScanning() throws {
    for length in 0..<26 {
      let plain = String(repeating: "a", count: length)
      for cut in 0...length {
        for escape in [#"\""#, #"\\"#, #"\u00e9"#, #"\n"#] {
          let bytes = payload(plain, inserting: Array(escape.utf8), at: cut)
          let meta = try TaskMeta.decode(bytes)
          #expect(meta.json == bytes)
          #expect(meta.taskID == plain && meta.hasTaskID(matching: plain))
        }
        let accented = payload(plain, inserting: Array("é".utf8), at: cut)
        #expect(try TaskMeta.decode(accented).json == accented)
        let broken = try TaskMeta.decode(payload(plain, inserting: [0xFF], at: cut))
        #expect(String(validating: broken.json, as: UTF8.self)?.contains("\u{FFFD}") == true)
        #expect(throws: DecodeError.self) { try TaskMeta.decode(payload(plain, inserting: [0x1F], at: cut)) }
        #expect(throws: DecodeError.self) {
          try TaskMeta.decode(Array(#"{"status": "S", "k": ""#.utf8) + Array(plain.utf8.prefix(cut)))
        }
      }
    }
  }

  @Test("task_id is compared as written, or decoded when it has escapes")
  func taskIDMatching() throws {
    let plain = try decode(#"{"status": "S", "task_id": "a1"}"#)
    #expect(plain.hasTaskID(matching: "a1"))
    #expect(!plain.hasTaskID(matching: "a2") && !plain.hasTaskID(matching: "a"))
    let escaped = try decode(#"{"status": "S", "task_id": "a\u0031"}"#)
    #expect(escaped.hasTaskID(matching: "a1") && !escaped.hasTaskID(matching: "a\\u0031"))
    #expect(try decode(#"{"status": "S"}"#).hasTaskID(matching: "anything"))
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
    // Close to a ready name is not ready: longer, shorter, other case.
    for name in ["SUCCESSFUL", "SUCCES", "success", "FAILURE\u{0}", "REVOKEDX", ""] {
      #expect(!TaskState(name).isReady, "\(name)")
    }
  }

  @Test("states are equal exactly when their names are, also past the seventh byte")
  func equality() {
    let names = [
      "PROGRESS", "PROGRESSING", "PROGRES", "PROGREST", "RECEIVED", "SUCCESS", "SUCCESS ", "A", "A\u{0}", "",
      "état", "étape", String(repeating: "x", count: 300), String(repeating: "x", count: 301),
    ]
    for first in names {
      for second in names {
        #expect((TaskState(first) == TaskState(second)) == (first == second), "\(first) \(second)")
        if first == second { #expect(TaskState(first).hashValue == TaskState(second).hashValue) }
      }
    }
  }

  @Test("a common state named in a payload is the same state as one made from its name")
  func commonStates() throws {
    for name in [
      "PENDING", "RECEIVED", "STARTED", "RETRY", "SUCCESS", "FAILURE", "REVOKED", "PROGRESS", "PROGRES", "X",
    ] {
      let meta = try TaskMeta.decode(Array(#"{"status": "\#(name)"}"#.utf8))
      #expect(meta.state == TaskState(name) && meta.state.name == name && meta.state.isReady == TaskState(name).isReady)
    }
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
