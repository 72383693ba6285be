/// The task ids to watch, from arguments and (with `-`) standard input.
///
/// Duplicates are watched once, in the order first given. An id may not be
/// empty or contain whitespace or control characters: such an id is a
/// copy-paste accident, and Redis would happily subscribe to it forever.
struct TaskIDList {
  /// The ids, deduplicated, in order.
  let ids: [String]

  /// Why an id list was refused.
  enum Problem: Error, CustomStringConvertible {
    case empty(fromStandardInput: Bool)
    case invalid(String, reason: String)
    case invalidGroup(String, reason: String)

    var description: String {
      switch self {
      case .empty(true): return "no task ids on standard input"
      case .empty(false): return "no task ids given (pass ids, '-' to read them from standard input, or --group)"
      case .invalid(let id, let reason): return "invalid task id \(Self.quoted(id)): \(reason)"
      case .invalidGroup(let id, let reason): return "invalid group id \(Self.quoted(id)): \(reason)"
      }
    }

    /// The id in quotes with control characters made visible.
    private static func quoted(_ id: String) -> String {
      "'"
        + id.unicodeScalars.map { $0.properties.generalCategory == .control ? $0.escaped(asASCII: true) : String($0) }
        .joined() + "'"
    }
  }

  /// Builds the list from positional arguments; `-` means "read standard input".
  /// - Parameters:
  ///   - arguments: the positional arguments.
  ///   - readStandardInput: called once if `-` is among them.
  ///   - allowEmpty: whether no ids at all is acceptable (with `--group`).
  init(arguments: [String], readStandardInput: () -> [UInt8], allowEmpty: Bool = false) throws(Problem) {
    var ordered = [String]()
    var seen = Set<String>()
    var readStdin = false
    var stdinCount = 0
    func add(_ id: String) throws(Problem) {
      try Self.validate(id)
      if seen.insert(id).inserted { ordered.append(id) }
    }
    for argument in arguments {
      if argument == "-" {
        guard !readStdin else { continue }
        readStdin = true
        let words = Self.words(in: readStandardInput())
        stdinCount = words.count
        seen.reserveCapacity(seen.count + words.count)
        ordered.reserveCapacity(ordered.count + words.count)
        for word in words { try add(word) }
      } else {
        try add(argument)
      }
    }
    if readStdin && stdinCount == 0 { throw .empty(fromStandardInput: true) }
    if ordered.isEmpty && !allowEmpty { throw .empty(fromStandardInput: false) }
    ids = ordered
  }

  /// Splits bytes on ASCII whitespace; blank lines vanish.
  ///
  /// Words are counted first and made into strings directly: `split` built an
  /// array of 100,000 slices (up to 4 MB at the peak of memory) on the way.
  static func words(in bytes: [UInt8]) -> [String] {
    func isSpace(_ byte: UInt8) -> Bool {
      byte == 0x20 || byte == 0x09 || byte == 0x0A || byte == 0x0D || byte == 0x0B || byte == 0x0C
    }
    return bytes.withUnsafeBufferPointer { bytes in
      var count = 0
      var previousIsSpace = true
      for byte in bytes {
        let space = isSpace(byte)
        if !space && previousIsSpace { count += 1 }
        previousIsSpace = space
      }
      var words = [String]()
      words.reserveCapacity(count)
      var start = 0
      while start < bytes.count {
        guard !isSpace(bytes[start]) else {
          start += 1
          continue
        }
        var end = start + 1
        while end < bytes.count && !isSpace(bytes[end]) { end += 1 }
        words.append(String(decoding: UnsafeBufferPointer(rebasing: bytes[start..<end]), as: UTF8.self))
        start = end
      }
      return words
    }
  }

  /// `--group` ids, checked like task ids, duplicates dropped, order kept.
  static func groupIDs(_ ids: [String]) throws(Problem) -> [String] {
    var seen = Set<String>()
    var ordered = [String]()
    for id in ids {
      do {
        try validate(id)
      } catch .invalid(_, let reason) {
        throw .invalidGroup(id, reason: reason)
      }
      if seen.insert(id).inserted { ordered.append(id) }
    }
    return ordered
  }

  /// Refuses empty ids and ids with whitespace or control characters.
  static func validate(_ id: String) throws(Problem) {
    guard !id.isEmpty else { throw .invalid(id, reason: "empty") }
    // Celery's ids are printable ASCII: accept those without the Unicode
    // property tables, which cost ~25,000 instructions per uuid (half of the
    // start-up at 100,000 ids).
    if id.utf8.withContiguousStorageIfAvailable({ $0.allSatisfy { $0 > 0x20 && $0 < 0x7F } }) == true { return }
    for scalar in id.unicodeScalars {
      if scalar.properties.isWhitespace { throw .invalid(id, reason: "contains whitespace") }
      if scalar.properties.generalCategory == .control { throw .invalid(id, reason: "contains a control character") }
    }
    if id.unicodeScalars.contains("\u{FFFD}") { throw .invalid(id, reason: "is not valid UTF-8") }
  }
}
