import Testing

@testable import CeleryPayload
@testable import RedisWire
@testable import TaskWatch

@Suite("msgpack to JSON")
struct MessagePackJSONTests {
  private func json(_ bytes: [UInt8]) throws -> String {
    String(decoding: try MessagePackJSON.convert(bytes), as: UTF8.self)
  }

  /// Bytes from hex digits, spaces ignored.
  private static func hex(_ text: String) -> [UInt8] {
    let digits = Array(text.replacingOccurrences(of: " ", with: "").utf8)
    return stride(from: 0, to: digits.count, by: 2).map {
      UInt8(String(decoding: digits[$0..<($0 + 2)], as: UTF8.self), radix: 16)!
    }
  }

  @Test(
    "scalars, including the edges of every integer width",
    arguments: [
      ("c0", "null"), ("c2", "false"), ("c3", "true"),
      ("00", "0"), ("7f", "127"), ("e0", "-32"), ("ff", "-1"),
      ("cc ff", "255"), ("cd ffff", "65535"), ("ce ffffffff", "4294967295"),
      ("cf ffffffffffffffff", "18446744073709551615"), ("cf 0000000000000000", "0"),
      ("d0 80", "-128"), ("d0 7f", "127"), ("d1 8000", "-32768"), ("d2 80000000", "-2147483648"),
      ("d3 8000000000000000", "-9223372036854775808"), ("d3 7fffffffffffffff", "9223372036854775807"),
      ("d3 ffffffffffffffff", "-1"),
    ])
  func scalars(bytes: String, expected: String) throws {
    #expect(try json(Self.hex(bytes)) == expected)
  }

  @Test(
    "floats: shortest round-trip text; float32 widened like Python; NaN and infinities as strings",
    arguments: [
      ("cb 3ff8000000000000", "1.5"), ("ca 3fc00000", "1.5"), ("ca 3dcccccd", "0.10000000149011612"),
      ("cb 4014000000000000", "5.0"), ("cb 8000000000000000", "-0.0"), ("cb 0000000000000001", "5e-324"),
      ("cb 7ff8000000000000", #""NaN""#), ("cb 7ff0000000000000", #""Infinity""#),
      ("cb fff0000000000000", #""-Infinity""#), ("ca 7fc00000", #""NaN""#), ("ca ff800000", #""-Infinity""#),
    ])
  func floats(bytes: String, expected: String) throws {
    #expect(try json(Self.hex(bytes)) == expected)
  }

  @Test("strings of every width, escaped for JSON, UTF-8 kept and repaired")
  func strings() throws {
    #expect(try json([0xA0]) == #""""#)
    #expect(try json([0xA3] + Array("abc".utf8)) == #""abc""#)
    let long = String(repeating: "x", count: 300)
    #expect(try json([0xD9, 40] + Array(long.prefix(40).utf8)) == "\"\(long.prefix(40))\"")
    #expect(try json([0xDA, 0x01, 0x2C] + Array(long.utf8)) == "\"\(long)\"")
    #expect(try json([0xDB, 0, 0, 0x01, 0x2C] + Array(long.utf8)) == "\"\(long)\"")
    let tricky = "a\"b\\c\n\r\t\u{8}\u{C}\u{1}\u{1F}/é😀"
    let bytes = Array(tricky.utf8)
    #expect(try json([0xA0 | UInt8(bytes.count)] + bytes) == #""a\"b\\c\n\r\t\b\f\u0001\u001f/é😀""#)
    #expect(try json([0xA3, 0xFF, 0x41, 0xC3]) == "\"\u{FFFD}A\u{FFFD}\"")
  }

  @Test(
    "bin: kombu's bytes envelope for UTF-8, its base64 envelope otherwise (all three widths)",
    arguments: [
      ("c4 03 616263", #"{"__type__":"bytes","__value__":"abc"}"#),
      ("c4 00", #"{"__type__":"bytes","__value__":""}"#),
      ("c4 02 0a22", #"{"__type__":"bytes","__value__":"\n\""}"#),
      ("c4 03 ff00fe", #"{"__type__":"base64","__value__":"/wD+"}"#),
      ("c4 01 ff", #"{"__type__":"base64","__value__":"/w=="}"#),
      ("c5 0002 fffe", #"{"__type__":"base64","__value__":"//4="}"#),
      ("c6 00000004 fffefdfc", #"{"__type__":"base64","__value__":"//79/A=="}"#),
    ])
  func binary(bytes: String, expected: String) throws {
    #expect(try json(Self.hex(bytes)) == expected)
  }

  @Test(
    "arrays and maps of every width; keys that are not strings become strings",
    arguments: [
      ("90", "[]"), ("93 01 a1 61 c0", #"[1,"a",null]"#), ("dc 0002 01 02", "[1,2]"),
      ("dd 00000001 c3", "[true]"), ("80", "{}"), ("82 a1 61 01 a1 62 92 c2 80", #"{"a":1,"b":[false,{}]}"#),
      ("de 0001 a1 6b 90", #"{"k":[]}"#), ("df 00000001 a1 6b c0", #"{"k":null}"#),
      ("83 01 a1 61 c0 a1 62 ff a1 63", #"{"1":"a","null":"b","-1":"c"}"#),
      ("81 92 01 a1 78 01", #"{"[1,\"x\"]":1}"#), ("81 cb 3ff8000000000000 c3", #"{"1.5":true}"#),
    ])
  func containers(bytes: String, expected: String) throws {
    #expect(try json(Self.hex(bytes)) == expected)
  }

  @Test(
    "the timestamp extension becomes kombu's datetime envelope; other extensions stay readable",
    arguments: [
      ("d6 ff 00000000", #"{"__type__":"datetime","__value__":"1970-01-01T00:00:00+00:00"}"#),
      ("d6 ff 38bb0c00", #"{"__type__":"datetime","__value__":"2000-02-29T00:00:00+00:00"}"#),
      ("d7 ff dfa2fa006b073308", #"{"__type__":"datetime","__value__":"2026-11-25T19:12:08.938000+00:00"}"#),
      (
        "c7 0c ff 00000001ffffffffffffffff",
        #"{"__type__":"datetime","__value__":"1969-12-31T23:59:59.000000001+00:00"}"#
      ),
      (
        "c7 0c ff 000000000000003afff44180",
        #"{"__type__":"msgpack_ext","__value__":{"code":-1,"base64":"AAAAAAAAADr/9EGA"}}"#
      ),
      ("d4 05 aa", #"{"__type__":"msgpack_ext","__value__":{"code":5,"base64":"qg=="}}"#),
      ("c7 02 07 0102", #"{"__type__":"msgpack_ext","__value__":{"code":7,"base64":"AQI="}}"#),
      ("d5 80 0102", #"{"__type__":"msgpack_ext","__value__":{"code":-128,"base64":"AQI="}}"#),
    ])
  func extensions(bytes: String, expected: String) throws {
    #expect(try json(Self.hex(bytes)) == expected)
  }

  @Test(
    "malformed input is refused with a msgpack error",
    arguments: [
      "", "c1", "92 01", "a3 6162", "d9", "d9 05 61", "cd ff", "01 02", "81 a1 61", "c4 05 00",
      "dd ffffffff 01", "df ffffffff", "d8 05 00", "c7 03 01 00",
    ])
  func malformed(bytes: String) {
    #expect {
      try MessagePackJSON.convert(Self.hex(bytes))
    } throws: { error in
      guard case DecodeError.invalidMessagePack = error else { return false }
      return String(describing: error).hasPrefix("payload is not valid msgpack: ")
    }
  }

  @Test("nesting is limited to 512 levels, as for JSON")
  func depth() throws {
    let limit = MessagePackJSON.maximumDepth
    let deepest = [UInt8](repeating: 0x91, count: limit) + [0xC0]
    #expect(try json(deepest) == String(repeating: "[", count: limit) + "null" + String(repeating: "]", count: limit))
    #expect(throws: DecodeError.invalidMessagePack("nested deeper than 512 levels")) {
      try MessagePackJSON.convert([0x81, 0xA0] + [UInt8](repeating: 0x91, count: limit) + [0xC0])
    }
  }

  @Test("a msgpack meta decodes through TaskMeta to the same fields as JSON")
  func throughTaskMeta() throws {
    let payload: [UInt8] =
      [0x83, 0xA6] + Array("status".utf8) + [0xA7] + Array("SUCCESS".utf8) + [0xA6] + Array("result".utf8)
      + [0x92, 0xCB, 0x7F, 0xF8, 0, 0, 0, 0, 0, 0, 0x05] + [0xA7] + Array("task_id".utf8) + [0xA2] + Array("t1".utf8)
    let meta = try TaskMeta.decode(payload)
    #expect(meta.state == .success)
    #expect(meta.taskID == "t1")
    #expect(String(decoding: meta.json, as: UTF8.self) == #"{"status":"SUCCESS","result":["NaN",5],"task_id":"t1"}"#)
  }
}
