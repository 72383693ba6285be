import CBzip2

/// kombu's `bzip2` compression (Python's `bz2.compress`), through libbz2.
package enum Bzip2Decoder {
  /// Decompresses one bzip2 stream; bytes after its end are ignored.
  /// - Throws: ``DecompressionError/invalidCompressedPayload(_:)``.
  package static func decompress(_ body: UnsafeBufferPointer<UInt8>, limit: Int) throws(DecompressionError) -> [UInt8] {
    guard body.count <= Int(UInt32.max) else {
      throw .invalidCompressedPayload("the compressed body is larger than libbz2 can take in one piece")
    }
    var stream = bz_stream()
    guard BZ2_bzDecompressInit(&stream, 0, 0) == BZ_OK else {
      throw .invalidCompressedPayload("bzip2 could not start (out of memory)")
    }
    defer { BZ2_bzDecompressEnd(&stream) }
    stream.next_in = UnsafeMutableRawPointer(mutating: body.baseAddress)?.assumingMemoryBound(to: CChar.self)
    stream.avail_in = UInt32(body.count)
    return try DecompressedOutput.collect(method: "bzip2", estimate: body.count * 4, limit: limit) { output, space in
      stream.next_out = UnsafeMutableRawPointer(output).assumingMemoryBound(to: CChar.self)
      stream.avail_out = UInt32(clamping: space)
      let status = BZ2_bzDecompress(&stream)
      let written = Int(UInt32(clamping: space) - stream.avail_out)
      switch status {
      case BZ_STREAM_END:
        return (written, .finished)
      case BZ_OK:
        return (written, stream.avail_in == 0 && written < space ? .truncated : .more)
      case BZ_MEM_ERROR:
        return (written, .outOfMemory("out of memory"))
      case BZ_DATA_ERROR_MAGIC:
        return (written, .corrupt("not a bzip2 stream"))
      default:
        return (written, .corrupt("error \(status)"))
      }
    }
  }
}
