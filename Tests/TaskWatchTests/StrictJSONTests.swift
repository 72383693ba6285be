import Testing

@testable import CeleryPayload
@testable import RedisWire
@testable import TaskWatch

/// The output contract for payloads: every meta that goes out is strict JSON
/// (RFC 8259), whatever the stored bytes were; valid JSON of any depth is
/// read; invalid JSON is refused rather than copied.
@Suite("Strict JSON pass-through")
struct StrictJSONTests {
  private func decode(_ text: String) throws -> TaskMeta {
    try TaskMeta.decode(Array(text.utf8))
  }

  private func text(_ meta: TaskMeta) -> String {
    String(decoding: meta.json, as: UTF8.self)
  }

  /// A SUCCESS meta whose result is `depth` nested arrays (`[[[…1…]]]`) or
  /// objects (`{"a":{"a":…1…}}`).
  private func deepMeta(depth: Int, objects: Bool, innermost: String = "1") -> String {
    let open = objects ? #"{"a":"# : "["
    let close = objects ? "}" : "]"
    return #"{"status": "SUCCESS", "result": "# + String(repeating: open, count: depth) + innermost
      + String(repeating: close, count: depth) + #", "task_id": "deep"}"#
  }

  @Test("results nested 600 and 100,000 levels deep are read and passed through", arguments: [600, 100_000])
  func deepResults(depth: Int) throws {
    for objects in [false, true] {
      let payload = deepMeta(depth: depth, objects: objects)
      let meta = try decode(payload)
      #expect(meta.state == .success)
      #expect(meta.taskID == "deep")
      #expect(text(meta) == payload)
      #expect(String(decoding: meta.jsonWithoutResult(), as: UTF8.self) == #"{"status": "SUCCESS","task_id": "deep"}"#)
    }
  }

  @Test("a deep result that needs rewriting (NaN, a line break) is rewritten, not refused")
  func deepRewrite() throws {
    let meta = try decode(deepMeta(depth: 100_000, objects: false, innermost: "NaN").replacing(", ", with: ",\n"))
    let expected = deepMeta(depth: 100_000, objects: false, innermost: #""NaN""#).replacing(", ", with: ",")
      .replacing(": ", with: ":")
    #expect(text(meta) == expected, "\(meta.json.count) bytes")
  }

  @Test("a deep document that is broken at the bottom is still refused")
  func deepInvalid() {
    for broken in [deepMeta(depth: 5_000, objects: true, innermost: "01"), String(repeating: "[", count: 100_000)] {
      #expect(throws: DecodeError.self) { try decode(broken) }
    }
  }

  @Test("JSONTree reads any valid depth up to its limit, and says so beyond it")
  func treeDepth() throws {
    let tree = try JSONTree.parse(Array(deepMeta(depth: 600, objects: true).utf8))
    var node = tree["result"]
    var levels = 0
    while let inner = node?["a"] {
      node = inner
      levels += 1
    }
    #expect(levels == 600)
    #expect(throws: DecodeError.tooDeep(JSONTree.maximumDepth)) {
      try JSONTree.parse(Array(deepMeta(depth: 100_000, objects: false).utf8))
    }
    #expect(throws: DecodeError.self) { try JSONTree.parse(Array("[01]".utf8)) }
  }

  @Test(
    "lone surrogate escapes go out as \\ufffd; pairs and other escapes are kept",
    arguments: [
      (#""\ud83d""#, #""\ufffd""#),
      (#""cut \ud83d""#, #""cut \ufffd""#),
      (#""\ude00x""#, #""\ufffdx""#),
      (#""\ud83d\u0041""#, #""\ufffd\u0041""#),
      (#""\ud83d\ud83d\ude00""#, #""\ufffd\ud83d\ude00""#),
      (#""\uD83D\uDE00 ok""#, #""\uD83D\uDE00 ok""#),
      (#""\\ud83d""#, #""\\ud83d""#),
      (#""\ufffd""#, #""\ufffd""#),
    ])
  func loneSurrogates(stored: String, written: String) throws {
    let meta = try decode(#"{"status":"SUCCESS","result":"# + stored + "}")
    #expect(text(meta) == #"{"status":"SUCCESS","result":"# + written + "}")
  }

  @Test("one string decoder: a lone surrogate is U+FFFD in task_id, status and JSONTree alike")
  func oneDecoder() throws {
    let payload = #"{"status": "PRO\ud83dGRESS", "task_id": "id-\ud83d", "result": {"k": "\ud83d-\ud83d\ude00"}}"#
    let meta = try decode(payload)
    #expect(meta.taskID == "id-\u{FFFD}")
    #expect(meta.state == TaskState("PRO\u{FFFD}GRESS"))
    guard case .string(let value) = try JSONTree.parse(Array(payload.utf8))["result"]?["k"] else {
      Issue.record("no result.k")
      return
    }
    #expect(value == "\u{FFFD}-😀")
  }

  @Test(
    "RFC 8259 violations are refused, not copied to the output (issue 21's minimized inputs among them)",
    arguments: [
      #"[-Infinity,1e5,-025]"#, "-025", "00", "01", "-01", "01.5", "1.", ".5", "-", "1e", "1e+", "+1", "0x10",
      "1.e3", "--1", "-NaN", "nan", "infinity", "Infinity1", "truex", #""\x""#, #""\u12G4""#, #""\u12""#,
      "\"tab\there\"", "\"nl\nhere\"", "[1,]", "[,1]", "[1 2]", #"{"a":1,}"#, #"{"a" 1}"#, #"{1:2}"#, "'s'",
      "[1]]", "\u{0C}1",
    ])
  func grammar(value: String) {
    #expect(throws: DecodeError.self) {
      try decode(#"{"status": "SUCCESS", "result": "# + value + "}")
    }
  }

  @Test(
    "valid numbers, literals and Python's tokens are accepted",
    arguments: [
      "0", "-0", "0.5", "-0.0e-0", "1E+2", "10", "123456789012345678901234567890", "1e999", "true", "false",
      "null", "NaN", "Infinity", "-Infinity", #""\/\b\f\n\r\t\u00e9""#, "[]", "{}", "[[],{}]", "\u{7F}0",
    ])
  func accepted(value: String) throws {
    let value = value == "\u{7F}0" ? "\"\u{7F}\"" : value
    let meta = try decode(#"{"status": "SUCCESS", "result": "# + value + "}")
    #expect(meta.state == .success)
  }
}

@Suite("msgpack decoding stays linear")
struct MessagePackBoundsTests {
  /// issue 21's reproducer, `size` bytes: a map whose `status` is followed
  /// by a key that is a map whose key is a map whose key is a map…, each of
  /// one entry, closed by `nil` keys and values (`81 81 81 … c0 c0 c0 …`).
  private func nestedMapKeys(size: Int) -> [UInt8] {
    let header: [UInt8] = [0x86, 0xA6] + Array("status".utf8) + [0xA6] + Array("SUCCES".utf8)
    let depth = (size - header.count - 1) / 2
    return header + Array(repeating: 0x81, count: depth) + Array(repeating: 0xC0, count: size - header.count - depth)
  }

  @Test(
    "nested map keys (399 and 689 bytes, as fuzzed) are refused at once, without gigabytes",
    .timeLimit(.minutes(1)), arguments: [399, 689])
  func nestedKeys(size: Int) {
    let payload = nestedMapKeys(size: size)
    #expect(payload.count == size)
    let deadline = Deadline.after(seconds: 0.5)
    #expect(throws: DecodeError.self) { try TaskMeta.decode(payload) }
    #expect(!deadline.hasPassed, "decoding \(size) bytes outlived its 0.5 s deadline")
  }

  @Test("an array key holding map keys is refused; an array key of scalars is rendered once")
  func containerKeys() throws {
    // {[ {[1]: 2} ]: 3}
    #expect(throws: DecodeError.self) { try MessagePackJSON.convert([0x81, 0x91, 0x81, 0x91, 0x01, 0x02, 0x03]) }
    // {[ {1: 2} ]: 3}: a map inside an array key, with a scalar key, is quoted twice, no more
    let text = String(decoding: try MessagePackJSON.convert([0x81, 0x91, 0x81, 0x01, 0x02, 0x03]), as: UTF8.self)
    #expect(text == #"{"[{\"1\":2}]":3}"#)
  }

  @Test("cost is linear: 64 KB of nested one-entry maps decode in well under a second")
  func linearWork() throws {
    // [ {"a": {"a": … } } ] at msgpack's own depth limit, repeated side by side.
    var payload: [UInt8] = [0xDC, 0x00, 0x80]
    for _ in 0..<128 {
      payload += Array(repeating: [0x81, 0xA1, 0x61], count: 100).flatMap { $0 } + [0xC0]
    }
    let deadline = Deadline.after(seconds: 1)
    let json = try MessagePackJSON.convert(payload)
    #expect(!deadline.hasPassed)
    #expect(json.count < payload.count * 3)
  }
}
