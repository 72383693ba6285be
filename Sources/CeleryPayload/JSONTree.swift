/// A parsed JSON document, for the small payloads read in full (saved
/// groups, and a meta's `result` in the human view). The consumer never
/// parses task metas with it: they are scanned, not parsed (`JSONScanner`).
package enum JSONTree: Sendable {
  /// An object's members, in document order.
  case object([(key: String, value: JSONTree)])
  /// An array's elements.
  case array([JSONTree])
  /// A string, unescaped.
  case string(String)
  /// A number, as its text.
  case number(String)
  /// `true` or `false`.
  case bool(Bool)
  /// `null`.
  case null

  /// Deepest nesting built into a tree. The document is validated at any
  /// depth (`JSONScanner`), but a tree is freed recursively, so a deeper
  /// one is refused with ``DecodeError/tooDeep(_:)`` rather than risk the
  /// stack.
  package static let maximumDepth = 10_000

  /// Parses one JSON document (RFC 8259, whitespace around it allowed, and
  /// Python's `NaN`/`Infinity`/`-Infinity`, read as the strings taskwatch
  /// prints for them).
  /// - Throws: ``DecodeError/invalidJSON(_:)``, or
  ///   ``DecodeError/tooDeep(_:)`` beyond ``maximumDepth``.
  package static func parse(_ bytes: [UInt8]) throws(DecodeError) -> JSONTree {
    _ = try bytes.withUnsafeBufferPointer { buffer throws(DecodeError) in try JSONScanner.validate(buffer) }
    var builder = Builder(bytes: bytes)
    return try builder.build()
  }

  /// The value of the first member named `key`, when this is an object.
  package subscript(key: String) -> JSONTree? {
    guard case .object(let members) = self else { return nil }
    return members.first(where: { $0.key == key })?.value
  }

  /// Builds the tree of a document the scanner validated, with an explicit
  /// stack of open containers.
  private struct Builder {
    /// A container being filled.
    struct Open {
      var isObject: Bool
      var members: [(key: String, value: JSONTree)] = []
      var elements: [JSONTree] = []
      /// In an object, the key read whose value comes next.
      var key: String?
    }

    let bytes: [UInt8]
    var index = 0
    var open: [Open] = []

    mutating func build() throws(DecodeError) -> JSONTree {
      while true {
        let value: JSONTree
        switch bytes[index] {
        case UInt8(ascii: " "), UInt8(ascii: "\t"), UInt8(ascii: "\n"), UInt8(ascii: "\r"), UInt8(ascii: ","),
          UInt8(ascii: ":"):
          index += 1
          continue
        case UInt8(ascii: "{"), UInt8(ascii: "["):
          guard open.count < JSONTree.maximumDepth else { throw .tooDeep(JSONTree.maximumDepth) }
          open.append(Open(isObject: bytes[index] == UInt8(ascii: "{")))
          index += 1
          continue
        case UInt8(ascii: "}"), UInt8(ascii: "]"):
          index += 1
          let closed = open.removeLast()
          value = closed.isObject ? .object(closed.members) : .array(closed.elements)
        case UInt8(ascii: "\""):
          let text = string()
          if let last = open.indices.last, open[last].isObject, open[last].key == nil {
            open[last].key = text
            continue
          }
          value = .string(text)
        case UInt8(ascii: "t"):
          index += 4
          value = .bool(true)
        case UInt8(ascii: "f"):
          index += 5
          value = .bool(false)
        case UInt8(ascii: "n"):
          index += 4
          value = .null
        case UInt8(ascii: "N"):
          index += 3
          value = .string("NaN")
        case UInt8(ascii: "I"):
          index += 8
          value = .string("Infinity")
        case UInt8(ascii: "-") where bytes[index + 1] == UInt8(ascii: "I"):
          index += 9
          value = .string("-Infinity")
        default:
          value = number()
        }
        guard let last = open.indices.last else { return value }
        if open[last].isObject {
          open[last].members.append((open[last].key ?? "", value))
          open[last].key = nil
        } else {
          open[last].elements.append(value)
        }
      }
    }

    /// The string starting at `index`, decoded by the one string decoder.
    private mutating func string() -> String {
      let start = index
      index += 1
      while bytes[index] != UInt8(ascii: "\"") {
        index += bytes[index] == UInt8(ascii: "\\") ? 2 : 1
      }
      index += 1
      return JSONString.decode(bytes, start..<index)
    }

    private mutating func number() -> JSONTree {
      let start = index
      while index < bytes.count, Self.isNumberByte(bytes[index]) { index += 1 }
      return .number(String(decoding: bytes[start..<index], as: UTF8.self))
    }

    private static func isNumberByte(_ byte: UInt8) -> Bool {
      switch byte {
      case UInt8(ascii: "0")...UInt8(ascii: "9"), UInt8(ascii: "-"), UInt8(ascii: "+"), UInt8(ascii: "."),
        UInt8(ascii: "e"), UInt8(ascii: "E"):
        return true
      default:
        return false
      }
    }
  }
}
