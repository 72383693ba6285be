/// The exception a failed (or revoked, or retried) task stored as its
/// `result`: `{"exc_type": "ValueError", "exc_message": ["boom"], "exc_module": "builtins"}`.
public struct TaskException: Sendable, Hashable, CustomStringConvertible {
  /// The exception's class name (`exc_type`), e.g. `ValueError`.
  public let type: String
  /// What `str(exception)` says in Python: the only argument when there is
  /// one (as text), the arguments' JSON otherwise.
  public let message: String
  /// The module of the exception's class (`exc_module`), e.g. `builtins`; `nil` when not stored.
  public let module: String?
  /// The exception's arguments as stored (`exc_message`).
  public let arguments: [JSONValue]

  /// Reads an exception from a stored `result`; `nil` unless it has a string `exc_type`.
  public init?(result: JSONValue) {
    guard let type = result["exc_type"]?.stringValue else { return nil }
    self.type = type
    module = result["exc_module"]?.stringValue
    switch result["exc_message"] {
    case .array(let arguments)?:
      self.arguments = arguments
      if arguments.count == 1 {
        message = arguments[0].stringValue ?? arguments[0].description
      } else {
        message = arguments.isEmpty ? "" : JSONValue.array(arguments).description
      }
    case let single?:
      arguments = [single]
      message = single.stringValue ?? single.description
    case nil:
      arguments = []
      message = ""
    }
  }

  /// `module.Type: message`, as Python prints an uncaught exception's last line.
  public var description: String {
    let name = module.map { $0 == "builtins" ? type : "\($0).\(type)" } ?? type
    return message.isEmpty ? name : "\(name): \(message)"
  }
}
