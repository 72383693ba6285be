import TaskWatch

/// The members of a task's meta that the human view and the reports show,
/// read with ``JSONTree`` (only when a view or report asks: the NDJSON path
/// never parses meta).
struct MetaFields {
  /// The task's name (`name`, stored with Celery's `result_extended`).
  var name: String?
  /// The `result` member, whatever its type.
  var result: JSONTree?
  /// `result.exc_type` of a failure.
  var excType: String?
  /// `result.exc_message` as text: Python's args list joined with `, `.
  var excMessage: String?
  /// The `traceback` string.
  var traceback: String?
  /// `date_done`, as stored (ISO 8601, or kombu's `{"__type__": "datetime"}` envelope).
  var dateDone: String?

  /// Reads the fields of a meta's JSON; a meta that does not parse has none.
  init(json: [UInt8]) {
    guard let tree = try? JSONTree.parse(json) else { return }
    if case .string(let name)? = tree["name"] { self.name = name }
    result = tree["result"]
    if case .string(let type)? = result?["exc_type"] {
      excType = type
      switch result?["exc_message"] {
      case nil, .null?: excMessage = nil
      case .array(let parts)?: excMessage = parts.map(Self.text(of:)).joined(separator: ", ")
      case let other?: excMessage = Self.text(of: other)
      }
    }
    if case .string(let traceback)? = tree["traceback"] { self.traceback = traceback }
    switch tree["date_done"] {
    case .string(let text)?: dateDone = text
    case let envelope? where envelope["__value__"] != nil:
      if case .string(let text)? = envelope["__value__"] { dateDone = text }
    default: break
    }
  }

  /// `exc_type: exc_message`, or just `exc_type`; `nil` without `exc_type`.
  var failure: String? { Self.failureText(type: excType, message: excMessage) }

  /// `type: message`, or just `type`; `nil` without a type.
  static func failureText(type: String?, message: String?) -> String? {
    guard let type else { return nil }
    guard let message, !message.isEmpty else { return type }
    return "\(type): \(message)"
  }

  /// A value as the view prints it: strings bare, anything else as compact JSON-like text.
  static func text(of value: JSONTree) -> String {
    switch value {
    case .string(let text): return text
    case .number(let text): return text
    case .bool(let flag): return flag ? "true" : "false"
    case .null: return "null"
    case .array(let elements): return "[" + elements.map(text(of:)).joined(separator: ", ") + "]"
    case .object(let members):
      return "{" + members.map { "\($0.key): \(text(of: $0.value))" }.joined(separator: ", ") + "}"
    }
  }
}
