/// A task id as a ``StateChange`` carries it: an id in Celery's uuid form
/// as its 128 bits, any other as its `String`.
///
/// A change is made per message; a 36-byte id as a `String` is a heap
/// allocation, made, validated and freed each time (~700 instructions a
/// message at S4, callgrind). Kept as two words, the id is formatted only
/// when someone asks for the `String`, or straight into the output line
/// (``withUTF8(_:)``). Two identifiers are equal when their ids are: an id
/// has one form, the uuid form exactly when ``UUIDText/parse(_:)`` takes it.
package enum TaskIdentifier: Sendable, Hashable {
  /// A uuid in the form `uuid4()` gives (lowercase, hyphenated): its first
  /// 16 hex digits and its last 16.
  case uuid(UInt64, UInt64)
  /// Any other id.
  case text(String)

  /// The identifier of an id.
  package init(_ id: String) {
    var id = id
    let uuid = id.withUTF8 { UUIDText.parse(UnsafeRawBufferPointer($0)) }
    self = uuid.map { .uuid($0.0, $0.1) } ?? .text(id)
  }

  /// The id as text.
  package var string: String {
    switch self {
    case .uuid(let first, let second):
      return String(unsafeUninitializedCapacity: UUIDText.length) { buffer in
        UUIDText.format(first, second, into: UnsafeMutableRawPointer(buffer.baseAddress!))
        return UUIDText.length
      }
    case .text(let text):
      return text
    }
  }

  /// Appends the id's UTF-8 bytes to `buffer` (a uuid formatted on the
  /// stack first: nothing is allocated). Not generic, unlike
  /// ``withUTF8(_:)``: called from another module, that one is not
  /// specialized, and instantiated its result's metadata per call (~900
  /// instructions a line).
  package func appendUTF8(to buffer: inout [UInt8]) {
    switch self {
    case .uuid(let first, let second):
      // Formatted into words on the stack (a tuple, not a temporary
      // allocation, whose closure was not inlined: −150 instructions a line).
      var text: (UInt64, UInt64, UInt64, UInt64, UInt64) = (0, 0, 0, 0, 0)
      withUnsafeMutableBytes(of: &text) { words in
        UUIDText.format(first, second, into: words.baseAddress!)
        buffer.append(contentsOf: UnsafeRawBufferPointer(rebasing: words[..<UUIDText.length]))
      }
    case .text(var text):
      text.withUTF8 { buffer.append(contentsOf: $0) }
    }
  }

  /// Calls `body` with the id's UTF-8 bytes (a uuid is formatted into a
  /// buffer on the stack: nothing is allocated).
  @inline(__always)
  package func withUTF8<Result>(_ body: (UnsafeRawBufferPointer) -> Result) -> Result {
    switch self {
    case .uuid(let first, let second):
      return withUnsafeTemporaryAllocation(byteCount: UUIDText.length, alignment: 8) { buffer in
        UUIDText.format(first, second, into: buffer.baseAddress!)
        return body(UnsafeRawBufferPointer(buffer))
      }
    case .text(var text):
      return text.withUTF8 { body(UnsafeRawBufferPointer($0)) }
    }
  }
}
