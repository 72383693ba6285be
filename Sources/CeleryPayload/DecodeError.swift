/// Why a result payload could not be read. Descriptions say what the payload
/// looks like and what to change on the Celery side.
public enum DecodeError: Error, Sendable, Equatable, CustomStringConvertible {
  /// The payload is in a serializer taskwatch will never execute or guess at.
  case unsupportedSerializer(String)
  /// Compressed with a content type kombu does not write.
  case unsupportedCompression(String)
  /// Compressed with a method taskwatch knows, but the body does not inflate:
  /// corrupt, truncated, or larger than taskwatch accepts.
  case invalidCompressedPayload(String)
  /// Meant to be JSON but is not valid JSON.
  case invalidJSON(String)
  /// Valid JSON nested deeper than a tree is built for (``JSONTree/maximumDepth``).
  case tooDeep(Int)
  /// Meant to be msgpack but is not valid msgpack.
  case invalidMessagePack(String)
  /// Valid JSON, but not an object with a string `status`.
  case notTaskMeta(String)
  /// Readable, but not a saved group (`{"result": [[id, parent], [child, …]]}`).
  case notGroupMeta(String)

  /// A one-line message for the user: what is wrong and, for a serializer
  /// or compression taskwatch does not read, what to change.
  public var description: String {
    switch self {
    case .unsupportedSerializer, .unsupportedCompression: return "\(problem): \(fix)"
    default: return problem
    }
  }

  /// What is wrong with the payload, without the fix.
  public var problem: String {
    switch self {
    case .unsupportedSerializer(let name):
      return "payload looks like \(name), which taskwatch never executes"
    case .unsupportedCompression(let name):
      return "payload is compressed with \(name), which taskwatch cannot decompress"
    case .invalidCompressedPayload(let detail):
      return "compressed payload cannot be decompressed: \(detail)"
    case .invalidJSON(let detail):
      return "payload is not valid JSON: \(detail)"
    case .tooDeep(let limit):
      return "payload nests deeper than \(limit) levels, more than taskwatch reads into a tree here"
    case .invalidMessagePack(let detail):
      return "payload is not valid msgpack: \(detail)"
    case .notTaskMeta(let detail):
      return "payload is not a Celery result: \(detail)"
    case .notGroupMeta(let detail):
      return "payload is not a saved Celery group: \(detail)"
    }
  }

  /// What to change so that the result can be read.
  public var fix: String {
    switch self {
    case .unsupportedSerializer:
      return "configure the worker with result_serializer=\"json\" (or \"msgpack\")"
    case .unsupportedCompression:
      return "configure the worker with one of kombu's result_compression methods "
        + "(zlib, gzip, bzip2, lzma, brotli, zstd), or none"
    case .invalidCompressedPayload, .invalidJSON, .invalidMessagePack, .notTaskMeta, .notGroupMeta:
      return "check that only Celery writes keys under this prefix (--key-prefix, --global-keyprefix) "
        + "and that the worker's result_serializer is json or msgpack"
    case .tooDeep:
      return "read the stored bytes as they are (TaskMeta.json) instead of as a tree"
    }
  }

  /// The serializer the payload is in, when that is why it cannot be read.
  public var serializer: String? {
    if case .unsupportedSerializer(let name) = self { return name }
    return nil
  }

  /// The compression the payload is in, when that is why it cannot be read.
  public var compression: String? {
    if case .unsupportedCompression(let name) = self { return name }
    return nil
  }
}
