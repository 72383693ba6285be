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
  /// The ids, deduplicated, in order (a uuid in 16 bytes: 1,000,000 ids
  /// from standard input take 24 MB, not the ~130 MB of `String`s and the
  /// set that deduplicated them).
  let ids: TaskIDSet

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
  ///   - readStandardInput: called if `-` is among them, until it returns
  ///     `nil` or nothing: the next chunk of standard input each time. The ids are
  ///     taken from each chunk as it comes, so the input is never held whole
  ///     (1,000,000 ids are 37 MB).
  ///   - allowEmpty: whether no ids at all is acceptable (with `--group`).
  init(
    arguments: [String], keyPrefix: String = KeyNaming.defaultTaskKeyPrefix, readStandardInput: () -> [UInt8]?,
    allowEmpty: Bool = false
  ) throws(Problem) {
    var ids = TaskIDSet()
    var readStdin = false
    var stdinCount = 0
    var problem: Problem?
    let prefix = Array(keyPrefix.utf8)
    // Returns whether to go on: the first invalid id ends the list.
    func add(_ id: UnsafeRawBufferPointer) -> Bool {
      do {
        try Self.validate(utf8: id)
      } catch {
        problem = error
        return false
      }
      ids.insert(utf8: id)
      return true
    }
    for argument in arguments {
      if argument == "-" {
        guard !readStdin else { continue }
        readStdin = true
        var scanner = WordScanner(keyPrefix: prefix, comments: true)
        while problem == nil, let chunk = readStandardInput(), !chunk.isEmpty {
          chunk.withUnsafeBufferPointer { chunk in
            scanner.feed(chunk) { id in
              stdinCount += 1
              return add(id)
            }
          }
        }
        if problem == nil {
          scanner.finish { id in
            stdinCount += 1
            return add(id)
          }
        }
      } else {
        // An empty argument is a variable that was not set: say so rather
        // than watch the other ids without it.
        guard argument.contains(where: { !$0.isWhitespace }) else { throw .invalid(argument, reason: "empty") }
        Self.forEachWord(in: Array(argument.utf8), keyPrefix: prefix, comments: false, add)
      }
      if let problem { throw problem }
    }
    if readStdin && stdinCount == 0 { throw .empty(fromStandardInput: true) }
    if ids.isEmpty && !allowEmpty { throw .empty(fromStandardInput: false) }
    self.ids = ids
  }

  /// The ids in `bytes`: words separated by ASCII whitespace and commas,
  /// `[ ] ' "` trimmed from both ends, `keyPrefix` dropped from the front;
  /// with `comments`, a word starting with `#` and the rest of its line are
  /// skipped. What is left empty is no id.
  static func words(in bytes: [UInt8], keyPrefix: [UInt8] = [], comments: Bool = true) -> [String] {
    var words = [String]()
    forEachWord(in: bytes, keyPrefix: keyPrefix, comments: comments) { word in
      words.append(String(decoding: word, as: UTF8.self))
      return true
    }
    return words
  }

  /// Calls `body` with each id in `bytes` (see ``words(in:keyPrefix:comments:)``)
  /// until it returns `false`.
  private static func forEachWord(
    in bytes: [UInt8], keyPrefix: [UInt8], comments: Bool, _ body: (UnsafeRawBufferPointer) -> Bool
  ) {
    var scanner = WordScanner(keyPrefix: keyPrefix, comments: comments)
    var going = true
    bytes.withUnsafeBufferPointer { bytes in
      scanner.feed(bytes) { word in
        going = body(word)
        return going
      }
    }
    if going { scanner.finish(body) }
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
    var problem: Problem?
    Array(id.utf8).withUnsafeBytes { bytes in
      do throws(Problem) {
        try validate(utf8: bytes)
      } catch {
        problem = error
      }
    }
    if let problem { throw problem }
  }

  /// ``validate(_:)`` for an id's UTF-8 bytes.
  static func validate(utf8 id: UnsafeRawBufferPointer) throws(Problem) {
    guard !id.isEmpty else { throw .invalid("", reason: "empty") }
    // Celery's ids are printable ASCII: accept those without the Unicode
    // property tables, which cost ~25,000 instructions per uuid (half of the
    // start-up at 100,000 ids).
    if id.allSatisfy({ $0 > 0x20 && $0 < 0x7F }) { return }
    let text = String(decoding: id, as: UTF8.self)
    for scalar in text.unicodeScalars {
      if scalar.properties.isWhitespace { throw .invalid(text, reason: "contains whitespace") }
      if scalar.properties.generalCategory == .control { throw .invalid(text, reason: "contains a control character") }
    }
    if text.unicodeScalars.contains("\u{FFFD}") { throw .invalid(text, reason: "is not valid UTF-8") }
  }
}
