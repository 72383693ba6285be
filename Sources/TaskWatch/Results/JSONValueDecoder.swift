/// The `Decoder` behind ``JSONValue/decode(_:)``: reads a ``JSONValue`` tree
/// into any `Decodable`, with `JSONDecoder`'s default rules (numbers must
/// fit the type exactly, missing keys are `nil` only for optionals) and no
/// Foundation, which the CLI leaves out for its start-up time.
struct JSONValueDecoder: Decoder {
  let value: JSONValue
  let codingPath: [any CodingKey]
  var userInfo: [CodingUserInfoKey: Any] { [:] }

  func container<Key: CodingKey>(keyedBy type: Key.Type) throws -> KeyedDecodingContainer<Key> {
    guard case .object(let members) = value else { throw mismatch([String: JSONValue].self, value, codingPath) }
    return KeyedDecodingContainer(Keyed<Key>(members: members, codingPath: codingPath))
  }

  func unkeyedContainer() throws -> any UnkeyedDecodingContainer {
    guard case .array(let elements) = value else { throw mismatch([JSONValue].self, value, codingPath) }
    return Unkeyed(elements: elements, codingPath: codingPath)
  }

  func singleValueContainer() throws -> any SingleValueDecodingContainer {
    Single(value: value, codingPath: codingPath)
  }

  // MARK: - Containers

  private struct Keyed<Key: CodingKey>: KeyedDecodingContainerProtocol {
    let members: [String: JSONValue]
    let codingPath: [any CodingKey]
    var allKeys: [Key] { members.keys.compactMap { Key(stringValue: $0) } }

    func contains(_ key: Key) -> Bool { members[key.stringValue] != nil }

    private func member(_ key: Key) throws -> JSONValue {
      guard let value = members[key.stringValue] else {
        throw DecodingError.keyNotFound(
          key, .init(codingPath: codingPath, debugDescription: "no member named '\(key.stringValue)'"))
      }
      return value
    }

    func decodeNil(forKey key: Key) throws -> Bool { try member(key) == .null }

    func decode<T: Decodable>(_ type: T.Type, forKey key: Key) throws -> T {
      try JSONValueDecoder.decode(type, from: try member(key), codingPath: codingPath + [key])
    }

    func nestedContainer<NestedKey: CodingKey>(
      keyedBy type: NestedKey.Type, forKey key: Key
    ) throws -> KeyedDecodingContainer<NestedKey> {
      try JSONValueDecoder(value: try member(key), codingPath: codingPath + [key]).container(keyedBy: type)
    }

    func nestedUnkeyedContainer(forKey key: Key) throws -> any UnkeyedDecodingContainer {
      try JSONValueDecoder(value: try member(key), codingPath: codingPath + [key]).unkeyedContainer()
    }

    func superDecoder() throws -> any Decoder {
      JSONValueDecoder(value: members["super"] ?? .null, codingPath: codingPath + [AnyKey("super")])
    }

    func superDecoder(forKey key: Key) throws -> any Decoder {
      JSONValueDecoder(value: members[key.stringValue] ?? .null, codingPath: codingPath + [key])
    }
  }

  private struct Unkeyed: UnkeyedDecodingContainer {
    let elements: [JSONValue]
    let codingPath: [any CodingKey]
    var currentIndex = 0
    var count: Int? { elements.count }
    var isAtEnd: Bool { currentIndex >= elements.count }

    init(elements: [JSONValue], codingPath: [any CodingKey]) {
      self.elements = elements
      self.codingPath = codingPath
    }

    private var currentPath: [any CodingKey] { codingPath + [AnyKey(index: currentIndex)] }

    private mutating func next<T>(_ type: T.Type) throws -> JSONValue {
      guard !isAtEnd else {
        throw DecodingError.valueNotFound(
          type, .init(codingPath: currentPath, debugDescription: "the array has only \(elements.count) elements"))
      }
      defer { currentIndex += 1 }
      return elements[currentIndex]
    }

    mutating func decodeNil() throws -> Bool {
      guard !isAtEnd, elements[currentIndex] == .null else { return false }
      currentIndex += 1
      return true
    }

    mutating func decode<T: Decodable>(_ type: T.Type) throws -> T {
      let path = currentPath
      return try JSONValueDecoder.decode(type, from: try next(type), codingPath: path)
    }

    mutating func nestedContainer<NestedKey: CodingKey>(
      keyedBy type: NestedKey.Type
    ) throws -> KeyedDecodingContainer<NestedKey> {
      let path = currentPath
      return try JSONValueDecoder(value: try next([String: JSONValue].self), codingPath: path).container(
        keyedBy: type)
    }

    mutating func nestedUnkeyedContainer() throws -> any UnkeyedDecodingContainer {
      let path = currentPath
      return try JSONValueDecoder(value: try next([JSONValue].self), codingPath: path).unkeyedContainer()
    }

    mutating func superDecoder() throws -> any Decoder {
      let path = currentPath
      return JSONValueDecoder(value: try next(JSONValue.self), codingPath: path)
    }
  }

  private struct Single: SingleValueDecodingContainer {
    let value: JSONValue
    let codingPath: [any CodingKey]

    func decodeNil() -> Bool { value == .null }

    /// kombu's `{"__type__": …, "__value__": …}` stands for its `__value__`
    /// where a plain value is expected.
    private var plain: JSONValue {
      guard case .object(let members) = value, members.count == 2, members["__type__"]?.stringValue != nil,
        let inner = members["__value__"]
      else { return value }
      return inner
    }

    func decode(_ type: Bool.Type) throws -> Bool {
      guard let result = plain.boolValue else { throw mismatch(type, value, codingPath) }
      return result
    }

    func decode(_ type: String.Type) throws -> String {
      guard let result = plain.stringValue else { throw mismatch(type, value, codingPath) }
      return result
    }

    func decode(_ type: Double.Type) throws -> Double {
      guard let result = number(type) ?? nonFinite() else { throw mismatch(type, value, codingPath) }
      return result
    }

    func decode(_ type: Float.Type) throws -> Float {
      guard let result = number(type) ?? nonFinite().map(Float.init) else { throw mismatch(type, value, codingPath) }
      return result
    }

    func decode(_ type: Int.Type) throws -> Int { try integer(type) }
    func decode(_ type: Int8.Type) throws -> Int8 { try integer(type) }
    func decode(_ type: Int16.Type) throws -> Int16 { try integer(type) }
    func decode(_ type: Int32.Type) throws -> Int32 { try integer(type) }
    func decode(_ type: Int64.Type) throws -> Int64 { try integer(type) }
    func decode(_ type: UInt.Type) throws -> UInt { try integer(type) }
    func decode(_ type: UInt8.Type) throws -> UInt8 { try integer(type) }
    func decode(_ type: UInt16.Type) throws -> UInt16 { try integer(type) }
    func decode(_ type: UInt32.Type) throws -> UInt32 { try integer(type) }
    func decode(_ type: UInt64.Type) throws -> UInt64 { try integer(type) }

    func decode<T: Decodable>(_ type: T.Type) throws -> T {
      try JSONValueDecoder.decode(type, from: value, codingPath: codingPath)
    }

    /// A number's text as a float type; decimals arrive as kombu strings too.
    private func number<F: LosslessStringConvertible>(_ type: F.Type) -> F? {
      switch plain {
      case .number(let text): return F(text)
      case .string(let text) where value != plain: return F(text)
      default: return nil
      }
    }

    private func nonFinite() -> Double? {
      guard case .string = value else { return nil }
      return value.doubleValue
    }

    /// An integer type, from integral text (`3`) or an exact float (`3.0`, `3e2`).
    private func integer<I: FixedWidthInteger>(_ type: I.Type) throws -> I {
      guard case .number(let text) = plain else { throw mismatch(type, value, codingPath) }
      if let result = I(text) { return result }
      if let double = Double(text), double.rounded() == double, let result = I(exactly: double) { return result }
      throw DecodingError.dataCorrupted(
        .init(codingPath: codingPath, debugDescription: "the number \(text) does not fit in \(type)"))
    }
  }

  // MARK: - Helpers

  /// Decodes any `Decodable` from a value, with the few types the standard
  /// library's decoders treat specially handled the same way here.
  static func decode<T: Decodable>(_ type: T.Type, from value: JSONValue, codingPath: [any CodingKey]) throws -> T {
    if type == JSONValue.self { return value as! T }
    return try T(from: JSONValueDecoder(value: value, codingPath: codingPath))
  }

  private struct AnyKey: CodingKey {
    let stringValue: String
    let intValue: Int?
    init(_ string: String) { (stringValue, intValue) = (string, nil) }
    init(index: Int) { (stringValue, intValue) = ("Index \(index)", index) }
    init?(stringValue: String) { self.init(stringValue) }
    init?(intValue: Int) { self.init(index: intValue) }
  }
}

/// The error for a value of the wrong kind.
private func mismatch(_ type: Any.Type, _ value: JSONValue, _ codingPath: [any CodingKey]) -> DecodingError {
  if value == .null {
    return .valueNotFound(type, .init(codingPath: codingPath, debugDescription: "found null"))
  }
  let kind: String
  switch value {
  case .null: kind = "null"
  case .bool: kind = "a boolean"
  case .number: kind = "a number"
  case .string: kind = "a string"
  case .array: kind = "an array"
  case .object: kind = "an object"
  }
  return .typeMismatch(type, .init(codingPath: codingPath, debugDescription: "found \(kind)"))
}

extension JSONValue: Decodable {
  /// Decodes any JSON value (so a caller's type can hold a ``JSONValue`` member).
  public init(from decoder: any Decoder) throws {
    if let decoder = decoder as? JSONValueDecoder {
      self = decoder.value
      return
    }
    let container = try decoder.singleValueContainer()
    if container.decodeNil() {
      self = .null
    } else if let value = try? container.decode(Bool.self) {
      self = .bool(value)
    } else if let value = try? container.decode(String.self) {
      self = .string(value)
    } else if let value = try? container.decode(Double.self) {
      self = .number(String(value))
    } else if let value = try? container.decode([JSONValue].self) {
      self = .array(value)
    } else {
      self = .object(try container.decode([String: JSONValue].self))
    }
  }
}
