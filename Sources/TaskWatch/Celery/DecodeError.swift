/// Why a result payload could not be read. Descriptions say what the payload
/// looks like and what to change on the Celery side.
public enum DecodeError: Error, Sendable, Equatable, CustomStringConvertible {
  /// The payload is in a serializer taskwatch will never execute or guess at.
  case unsupportedSerializer(String)
  /// Compressed with a method taskwatch cannot undo.
  case unsupportedCompression(String)
  /// Meant to be JSON but is not valid JSON.
  case invalidJSON(String)
  /// Valid JSON, but not an object with a string `status`.
  case notTaskMeta(String)

  /// A one-line message for the user.
  public var description: String {
    switch self {
    case .unsupportedSerializer(let name):
      return "payload looks like \(name), which taskwatch never executes: configure the worker with "
        + "result_serializer=\"json\" (or \"msgpack\")"
    case .unsupportedCompression(let name):
      return "payload is compressed with \(name), which taskwatch cannot decompress: use "
        + "result_compression=\"zlib\" or \"gzip\", or none"
    case .invalidJSON(let detail):
      return "payload is not valid JSON: \(detail)"
    case .notTaskMeta(let detail):
      return "payload is not a Celery result: \(detail)"
    }
  }
}
