import Testing

@testable import CeleryPayload
@testable import RedisWire
@testable import TaskWatch

@Suite("JSONValue: walking and decoding a result")
struct JSONValueTests {
  private struct Answer: Decodable, Equatable {
    let total: Int
    let ratio: Double
    let tags: [String]
    let note: String?
    let nested: Nested

    struct Nested: Decodable, Equatable {
      let flag: Bool
      let raw: JSONValue
    }
  }

  private func value(_ text: String) throws -> JSONValue {
    try JSONValue.parse(Array(text.utf8))
  }

  @Test("decodes a caller's Decodable type, optionals and nested JSONValue members included")
  func decodeStruct() throws {
    let json = try value(
      #"{"total": 42, "ratio": 0.5, "tags": ["a", "b"], "nested": {"flag": true, "raw": [1, {"x": null}]}}"#)
    let answer = try json.decode(Answer.self)
    #expect(
      answer
        == Answer(
          total: 42, ratio: 0.5, tags: ["a", "b"], note: nil,
          nested: .init(flag: true, raw: .array([.number("1"), .object(["x": .null])]))))
  }

  @Test("walks with subscripts and accessors")
  func walk() throws {
    let json = try value(#"{"items": [{"id": 7}, {"id": 8.0}], "name": "x\n\u00e9", "big": 123456789012345678901234}"#)
    #expect(json["items"]?[1]?["id"]?.intValue == 8)
    #expect(json["items"]?[2] == nil && json["missing"] == nil && json[0] == nil)
    #expect(json["name"]?.stringValue == "x\né")
    #expect(json["big"] == .number("123456789012345678901234"))
    #expect(json["big"]?.intValue == nil)
    #expect(json["big"]?.doubleValue == 1.2345678901234568e23)
    #expect(try value(#"[1,"a\"b",null,true]"#).description == #"[1,"a\"b",null,true]"#)
  }

  @Test(
    "numbers must fit the type exactly",
    arguments: [("3", true), ("3.0", true), ("2e1", true), ("3.5", false), ("300", false), ("-1", false)])
  func exactIntegers(text: String, fitsUInt8: Bool) throws {
    let decoded = try? value(text).decode(UInt8.self)
    #expect((decoded != nil) == fitsUInt8)
  }

  @Test("Python's non-finite floats, quoted by TaskMeta, decode as Double")
  func nonFinite() throws {
    let meta = try TaskMeta.decode(Array(#"{"status": "SUCCESS", "result": [NaN, Infinity, -Infinity, 1.5]}"#.utf8))
    let numbers = try meta.result?.decode([Double].self) ?? []
    #expect(numbers.count == 4 && numbers[0].isNaN && numbers[1] == .infinity && numbers[2] == -.infinity)
    #expect(numbers[3] == 1.5)
  }

  @Test("kombu's typed values decode as their __value__ where a plain value is expected")
  func kombuEnvelopes() throws {
    #expect(
      try value(#"{"__type__": "datetime", "__value__": "2026-11-25T19:12:08+00:00"}"#).decode(String.self)
        == "2026-11-25T19:12:08+00:00")
    #expect(try value(#"{"__type__": "decimal", "__value__": "3.25"}"#).decode(Double.self) == 3.25)
  }

  @Test("a mismatch throws code unreadableResult naming the path, with the DecodingError as cause")
  func mismatch() throws {
    let json = try value(#"{"total": "many", "ratio": 1, "tags": [], "nested": {"flag": true, "raw": 1}}"#)
    let error = #expect(throws: TaskWatchError.self) { try json.decode(Answer.self) }
    #expect(error?.code == .unreadableResult)
    #expect(error?.underlyingError is DecodingError)
    #expect(error?.description.contains(".total") == true)
    let missing = #expect(throws: TaskWatchError.self) { try value("{}").decode(Answer.self) }
    #expect(missing?.description.contains("total") == true)
    #expect(throws: TaskWatchError.self) { try value("null").decode(Int.self) }
  }

  @Test("invalid JSON throws code unreadableResult")
  func invalid() {
    let error = #expect(throws: TaskWatchError.self) { try JSONValue.parse(Array("{".utf8)) }
    #expect(error?.code == .unreadableResult)
  }
}
