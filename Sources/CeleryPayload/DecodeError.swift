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

  /// A one-line message for the user.
  public var description: String {
    switch self {
    case .unsupportedSerializer(let name):
      return "payload looks like \(name), which taskwatch never executes: configure the worker with "
        + "result_serializer=\"json\" (or \"msgpack\")"
    case .unsupportedCompression(let name):
      return "payload is compressed with \(name), which taskwatch cannot decompress: configure the worker with "
        + "one of kombu's result_compression methods (zlib, gzip, bzip2, lzma, brotli, zstd), or none"
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
}
