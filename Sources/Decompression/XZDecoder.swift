import CLzma

/// kombu's `lzma` compression (Python's `lzma.compress`, an xz container;
/// the older `.lzma` format is read too), through liblzma.
package enum XZDecoder {
  /// The most memory the decoder may use: far above what any xz preset
  /// needs (preset 9 decodes in 65 MB).
  static let memoryLimit: UInt64 = 256 * 1024 * 1024

  /// Decompresses concatenated xz streams, as Python's `lzma.decompress` does.
  /// - Throws: ``DecompressionError/invalidCompressedPayload(_:)``.
  package static func decompress(_ body: UnsafeBufferPointer<UInt8>, limit: Int) throws(DecompressionError) -> [UInt8] {
    var stream = lzma_stream()
    // LZMA_CONCATENATED (0x08; a UINT32_C macro Swift does not import).
    guard lzma_auto_decoder(&stream, memoryLimit, 0x08) == LZMA_OK else {
      throw .invalidCompressedPayload("lzma could not start (out of memory)")
    }
    defer { lzma_end(&stream) }
    stream.next_in = body.baseAddress
    stream.avail_in = body.count
    return try DecompressedOutput.collect(method: "xz", estimate: body.count * 4, limit: limit) { output, space in
      stream.next_out = output
      stream.avail_out = space
      let status = lzma_code(&stream, LZMA_FINISH)
      let written = space - stream.avail_out
      switch status {
      case LZMA_STREAM_END:
        return (written, .finished)
      case LZMA_OK:
        return (written, .more)
      case LZMA_BUF_ERROR:
        // No progress possible: with room left, the input is incomplete.
        return (written, written < space ? .truncated : .more)
      case LZMA_MEM_ERROR:
        return (written, .outOfMemory("out of memory"))
      case LZMA_MEMLIMIT_ERROR:
        return (written, .outOfMemory("the stream needs more than \(memoryLimit >> 20) MB to decode"))
      case LZMA_FORMAT_ERROR:
        return (written, .corrupt("not an xz or lzma stream"))
      default:
        return (written, .corrupt("liblzma error \(status.rawValue)"))
      }
    }
  }
}
