/// A JSON value a caller can walk (`switch`, subscripts, accessors) or
/// decode into a `Decodable` type of its own (``decode(_:)``): what
/// ``TaskResult/result`` and the other typed accessors of a task's meta return.
///
/// ```swift
/// struct Answer: Decodable { let total: Int }
/// let answer = try result.result?.decode(Answer.self)
/// let total = result.result?["total"]?.intValue
/// ```
///
/// Numbers keep their text, so a Python integer beyond 64 bits or a decimal
/// loses nothing until it is read as a Swift number. Python's `NaN`,
/// `Infinity` and `-Infinity` arrive as the strings `"NaN"`, `"Infinity"`
/// and `"-Infinity"` (see `TaskMeta.json`) and decode as `Double`/`Float`.
public enum JSONValue: Sendable, Hashable, CustomStringConvertible {
  /// `null` (Python's `None`).
  case null
  /// `true` or `false`.
  case bool(Bool)
  /// A number, as its JSON text (`42`, `-1.5e3`).
  case number(String)
  /// A string, unescaped.
  case string(String)
  /// An array's elements, in order.
  case array([JSONValue])
  /// An object's members; of a repeated name, the last (as Python reads it).
  case object([String: JSONValue])

  /// Parses one JSON document.
  /// - Throws: ``TaskWatchError`` with code ``TaskWatchError/Code-swift.struct/unreadableResult``.
  public static func parse(_ bytes: [UInt8]) throws(TaskWatchError) -> JSONValue {
    do {
      return JSONValue(try JSONTree.parse(bytes))
    } catch {
      throw TaskWatchError(wrapping: error)
    }
  }

  /// Converts the parser's tree.
  init(_ tree: JSONTree) {
    switch tree {
    case .null: self = .null
    case .bool(let value): self = .bool(value)
    case .number(let text): self = .number(text)
    case .string(let text): self = .string(text)
    case .array(let elements): self = .array(elements.map(JSONValue.init))
    case .object(let members):
      self = .object(Dictionary(members.map { ($0.key, JSONValue($0.value)) }, uniquingKeysWith: { $1 }))
    }
  }

  /// The member named `key`, when this is an object that has one.
  public subscript(key: String) -> JSONValue? {
    guard case .object(let members) = self else { return nil }
    return members[key]
  }

  /// The element at `index`, when this is an array that long.
  public subscript(index: Int) -> JSONValue? {
    guard case .array(let elements) = self, elements.indices.contains(index) else { return nil }
    return elements[index]
  }

  /// The string, when this is one.
  public var stringValue: String? {
    guard case .string(let text) = self else { return nil }
    return text
  }

  /// The boolean, when this is one.
  public var boolValue: Bool? {
    guard case .bool(let value) = self else { return nil }
    return value
  }

  /// The number as an `Int`, when this is an integral number that fits.
  public var intValue: Int? {
    guard case .number(let text) = self else { return nil }
    if let value = Int(text) { return value }
    guard let value = Double(text), value.rounded() == value, let exact = Int(exactly: value) else { return nil }
    return exact
  }

  /// The number as a `Double` (nearest), also for the strings `"NaN"`,
  /// `"Infinity"` and `"-Infinity"` that stand for Python's non-finite floats.
  public var doubleValue: Double? {
    switch self {
    case .number(let text): return Double(text)
    case .string("NaN"): return .nan
    case .string("Infinity"): return .infinity
    case .string("-Infinity"): return -.infinity
    default: return nil
    }
  }

  /// The elements, when this is an array.
  public var arrayValue: [JSONValue]? {
    guard case .array(let elements) = self else { return nil }
    return elements
  }

  /// The members, when this is an object.
  public var objectValue: [String: JSONValue]? {
    guard case .object(let members) = self else { return nil }
    return members
  }

  /// True for `null`.
  public var isNull: Bool { self == .null }

  /// Decodes the value into `type` (a `Decodable` of the caller's), the way
  /// `JSONDecoder` would with its default strategies. kombu's typed values
  /// (`{"__type__": "datetime", "__value__": "2026-…"}`) decode as their
  /// `__value__` where a single value (a `String`, a number) is expected.
  /// - Throws: ``TaskWatchError`` with code
  ///   ``TaskWatchError/Code-swift.struct/unreadableResult`` and the
  ///   `DecodingError` (or the type's own error) as its cause.
  public func decode<Value: Decodable>(_ type: Value.Type = Value.self) throws(TaskWatchError) -> Value {
    do {
      return try Value(from: JSONValueDecoder(value: self, codingPath: []))
    } catch let error as DecodingError {
      throw TaskWatchError(
        .unreadableResult, "cannot decode \(Value.self) from the result: \(Self.describe(error))",
        underlyingError: error)
    } catch {
      throw TaskWatchError(
        .unreadableResult, "cannot decode \(Value.self) from the result: \(error)", underlyingError: nil)
    }
  }

  /// The value as compact JSON text.
  public var description: String {
    var text = ""
    write(to: &text)
    return text
  }

  private func write(to text: inout String) {
    switch self {
    case .null: text += "null"
    case .bool(let value): text += value ? "true" : "false"
    case .number(let number): text += number
    case .string(let string): Self.writeQuoted(string, to: &text)
    case .array(let elements):
      text += "["
      for (position, element) in elements.enumerated() {
        if position > 0 { text += "," }
        element.write(to: &text)
      }
      text += "]"
    case .object(let members):
      text += "{"
      for (position, key) in members.keys.sorted().enumerated() {
        if position > 0 { text += "," }
        Self.writeQuoted(key, to: &text)
        text += ":"
        members[key]!.write(to: &text)
      }
      text += "}"
    }
  }

  private static func writeQuoted(_ string: String, to text: inout String) {
    text += "\""
    for scalar in string.unicodeScalars {
      switch scalar {
      case "\"": text += "\\\""
      case "\\": text += "\\\\"
      case "\n": text += "\\n"
      case "\r": text += "\\r"
      case "\t": text += "\\t"
      case _ where scalar.value < 0x20:
        let hex = String(scalar.value, radix: 16)
        text += "\\u" + String(repeating: "0", count: 4 - hex.count) + hex
      default: text.unicodeScalars.append(scalar)
      }
    }
    text += "\""
  }

  private static func describe(_ error: DecodingError) -> String {
    let (context, what): (DecodingError.Context, String)
    switch error {
    case .typeMismatch(let type, let errorContext): (context, what) = (errorContext, "expected \(type)")
    case .valueNotFound(let type, let errorContext): (context, what) = (errorContext, "no \(type) value")
    case .keyNotFound(let key, let errorContext): (context, what) = (errorContext, "no member '\(key.stringValue)'")
    case .dataCorrupted(let errorContext): (context, what) = (errorContext, "invalid value")
    @unknown default: return String(describing: error)
    }
    let path = context.codingPath.map { $0.intValue.map { "[\($0)]" } ?? ".\($0.stringValue)" }.joined()
    return "\(what) at \(path.isEmpty ? "the top level" : path): \(context.debugDescription)"
  }
}
