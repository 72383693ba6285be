/// The output of a streaming decompressor, with the size cap every method
/// shares: the decoder writes into one fixed chunk at a time, each chunk is
/// appended to the output, and the cap is checked after every chunk, so
/// the output never grows past the limit (plus one byte, to tell "exactly
/// the limit" from "more").
///
/// Chunks, not a zero-filled buffer doubled in place: growing the buffer
/// with `append(contentsOf: repeatElement(0, …))` wrote every byte twice,
/// and in a debug or fuzzing build (unspecialized generics) that loop made
/// the 249-byte bzip2 reproducer in Fuzzing/Reproducers, whose first block
/// inflates 7 MB before its CRC fails, take about 3 s to refuse in the
/// debug test suite (now well under 0.5 s; 38 ms in the release binary
/// before and after: the output, not libbz2, was the cost).
enum DecompressedOutput {
  /// The most a decoder writes per step: 64 KB.
  static let chunkSize = 64 * 1024

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

  /// Runs `step` until the stream ends, each time with free space to write
  /// to (a pointer and its size, at most ``chunkSize``); `step` returns how
  /// many bytes it wrote there and what happened.
  /// - Parameters:
  ///   - method: the name errors give the stream ("zlib", "bzip2", …).
  ///   - estimate: a first guess of the output size, reserved up front.
  ///   - limit: the largest output accepted, in bytes.
  /// - Throws: ``DecompressionError/invalidCompressedPayload(_:)``.
  static func collect(
    method: String, estimate: Int, limit: Int,
    _ step: (UnsafeMutablePointer<UInt8>, Int) -> (written: Int, step: Step)
  ) throws(DecompressionError) -> [UInt8] {
    var output = [UInt8]()
    output.reserveCapacity(min(max(estimate, 16 * 1024), limit + 1))
    var chunk = [UInt8](repeating: 0, count: min(chunkSize, limit + 1))
    while true {
      let room = min(chunk.count, limit + 1 - output.count)
      let outcome = chunk.withUnsafeMutableBufferPointer { buffer in
        let (written, outcome) = step(buffer.baseAddress!, room)
        output.append(contentsOf: UnsafeBufferPointer(rebasing: buffer[..<written]))
        return outcome
      }
      guard output.count <= limit else { throw tooLarge(limit) }
      switch outcome {
      case .more:
        continue
      case .finished:
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
