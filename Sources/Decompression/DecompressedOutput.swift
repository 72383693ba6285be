/// The output buffer of a streaming decompressor, with the size cap every
/// method shares: it starts at a guess, doubles as the decoder fills it, and
/// never grows past the limit (plus one byte, to tell "exactly the limit"
/// from "more").
enum DecompressedOutput {
  /// What one call of a decoder's step did.
  enum Step {
    /// Call again: output was written, or the buffer is full.
    case more
    /// The stream ended.
    case finished
    /// The input ran out before the end of the stream.
    case truncated
    /// The stream is corrupt; the reason is the library's.
    case corrupt(String)
    /// The library ran out of memory, or would need more than it may use.
    case outOfMemory(String)
  }

  /// Runs `step` until the stream ends, each time with the free space left
  /// (a pointer and its size); `step` returns how many bytes it wrote there
  /// and what happened.
  /// - Parameters:
  ///   - method: the name errors give the stream ("zlib", "bzip2", …).
  ///   - estimate: a first guess of the output size.
  ///   - limit: the largest output accepted, in bytes.
  /// - Throws: ``DecompressionError/invalidCompressedPayload(_:)``.
  static func collect(
    method: String, estimate: Int, limit: Int,
    _ step: (UnsafeMutablePointer<UInt8>, Int) -> (written: Int, step: Step)
  ) throws(DecompressionError) -> [UInt8] {
    var output = [UInt8](repeating: 0, count: min(max(estimate, 16 * 1024), limit + 1))
    var produced = 0
    while true {
      if produced == output.count {
        guard output.count <= limit else { throw tooLarge(limit) }
        output.append(contentsOf: repeatElement(0, count: min(output.count, limit + 1 - output.count)))
      }
      let (written, outcome) = output.withUnsafeMutableBufferPointer { buffer in
        step(buffer.baseAddress! + produced, buffer.count - produced)
      }
      produced += written
      switch outcome {
      case .more:
        continue
      case .finished:
        guard produced <= limit else { throw tooLarge(limit) }
        output.removeSubrange(produced...)
        return output
      case .truncated:
        throw .invalidCompressedPayload("the \(method) stream is truncated")
      case .corrupt(let reason):
        throw .invalidCompressedPayload("the \(method) stream is corrupt (\(reason))")
      case .outOfMemory(let reason):
        throw .invalidCompressedPayload("\(method): \(reason)")
      }
    }
  }

  /// The error for output beyond `limit`.
  static func tooLarge(_ limit: Int) -> DecompressionError {
    .invalidCompressedPayload("it decompresses to more than \(describe(bytes: limit)), the most taskwatch accepts")
  }

  /// `512 MB` for whole megabytes, else a byte count.
  private static func describe(bytes: Int) -> String {
    bytes % (1024 * 1024) == 0 ? "\(bytes / (1024 * 1024)) MB" : "\(bytes) bytes"
  }
}
