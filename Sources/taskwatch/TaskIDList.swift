import TaskWatch

/// The task ids to watch, from arguments and (with `-`) standard input,
/// taken as users paste them.
///
/// Ids are separated by whitespace and commas; `[ ] ' "` around an id are
/// dropped (a Python list pasted as is: `['id1', 'id2']`), and so is the key
/// prefix (`celery-task-meta-<id>` from `redis-cli --scan`, with
/// `--key-prefix`/`--global-keyprefix` applied). On standard input a word
/// starting with `#` starts a comment that runs to the end of its line.
/// Duplicates are watched once, in the order first given. An id may not
/// contain control characters or non-ASCII whitespace: such an id is a
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
  ///   - keyPrefix: the full prefix of result keys, stripped from ids that start with it.
  ///   - readStandardInput: called once if `-` is among them.
  ///   - allowEmpty: whether no ids at all is acceptable (with `--group`).
  init(
    arguments: [String], keyPrefix: String = KeyNaming.defaultTaskKeyPrefix, readStandardInput: () -> [UInt8],
    allowEmpty: Bool = false
  ) throws(Problem) {
    var ordered = [String]()
    var seen = Set<String>()
    var readStdin = false
    var stdinCount = 0
    let prefix = Array(keyPrefix.utf8)
    func add(_ id: String) throws(Problem) {
      try Self.validate(id)
      if seen.insert(id).inserted { ordered.append(id) }
    }
    for argument in arguments {
      if argument == "-" {
        guard !readStdin else { continue }
        readStdin = true
        let words = Self.words(in: readStandardInput(), keyPrefix: prefix, comments: true)
        stdinCount = words.count
        seen.reserveCapacity(seen.count + words.count)
        ordered.reserveCapacity(ordered.count + words.count)
        for word in words { try add(word) }
      } else {
        // An empty argument is a variable that was not set: say so rather
        // than watch the other ids without it.
        guard argument.contains(where: { !$0.isWhitespace }) else { throw .invalid(argument, reason: "empty") }
        for word in Self.words(in: Array(argument.utf8), keyPrefix: prefix, comments: false) { try add(word) }
      }
    }
    if readStdin && stdinCount == 0 { throw .empty(fromStandardInput: true) }
    if ordered.isEmpty && !allowEmpty { throw .empty(fromStandardInput: false) }
    ids = ordered
  }

  /// The ids in `bytes`: words separated by ASCII whitespace and commas,
  /// `[ ] ' "` trimmed from both ends, `keyPrefix` dropped from the front;
  /// with `comments`, a word starting with `#` and the rest of its line are
  /// skipped. What is left empty is no id.
  ///
  /// Words are counted first and made into strings directly: `split` built an
  /// array of 100,000 slices (up to 4 MB at the peak of memory) on the way.
  static func words(in bytes: [UInt8], keyPrefix: [UInt8] = [], comments: Bool = true) -> [String] {
    bytes.withUnsafeBufferPointer { bytes in
      var count = 0
      forEachWord(in: bytes, keyPrefix: keyPrefix, comments: comments) { _ in count += 1 }
      var words = [String]()
      words.reserveCapacity(count)
      forEachWord(in: bytes, keyPrefix: keyPrefix, comments: comments) { word in
        words.append(String(decoding: UnsafeBufferPointer(rebasing: bytes[word]), as: UTF8.self))
      }
      return words
    }
  }

  /// Calls `body` with the range of each id in `bytes` (see ``words(in:keyPrefix:comments:)``).
  private static func forEachWord(
    in bytes: UnsafeBufferPointer<UInt8>, keyPrefix: [UInt8], comments: Bool, _ body: (Range<Int>) -> Void
  ) {
    func isSeparator(_ byte: UInt8) -> Bool {
      byte == 0x20 || byte == 0x09 || byte == 0x0A || byte == 0x0D || byte == 0x0B || byte == 0x0C
        || byte == UInt8(ascii: ",")
    }
    func isWrapper(_ byte: UInt8) -> Bool {
      byte == UInt8(ascii: "[") || byte == UInt8(ascii: "]") || byte == UInt8(ascii: "'") || byte == UInt8(ascii: "\"")
    }
    var start = 0
    while start < bytes.count {
      guard !isSeparator(bytes[start]) else {
        start += 1
        continue
      }
      var end = start + 1
      if comments && bytes[start] == UInt8(ascii: "#") {
        while end < bytes.count && bytes[end] != 0x0A { end += 1 }
        start = end
        continue
      }
      while end < bytes.count && !isSeparator(bytes[end]) { end += 1 }
      var first = start
      var last = end
      while first < last && isWrapper(bytes[first]) { first += 1 }
      while last > first && isWrapper(bytes[last - 1]) { last -= 1 }
      if !keyPrefix.isEmpty && last - first > keyPrefix.count
        && keyPrefix.withUnsafeBufferPointer({ prefix in
          prefix.elementsEqual(UnsafeBufferPointer(rebasing: bytes[first..<(first + prefix.count)]))
        })
      {
        first += keyPrefix.count
      }
      if first < last { body(first..<last) }
      start = end
    }
  }

  /// `--group` ids, cleaned and checked like task ids (`keyPrefix` is the
  /// group key prefix), duplicates dropped, order kept.
  static func groupIDs(_ values: [String], keyPrefix: String = KeyNaming.defaultGroupKeyPrefix) throws(Problem)
    -> [String]
  {
    var seen = Set<String>()
    var ordered = [String]()
    var ids: [String] = []
    for value in values {
      guard value.contains(where: { !$0.isWhitespace }) else { throw .invalidGroup(value, reason: "empty") }
      ids += words(in: Array(value.utf8), keyPrefix: Array(keyPrefix.utf8), comments: false)
    }
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
