import CZlib

/// kombu's `zlib` and `gzip` compressions (both a zlib stream, RFC 1950;
/// gzip framing, RFC 1952, is read too), through zlib's `inflate`.
package enum ZlibDecoder {
  /// Inflates `body` (`inflateInit2` with window bits 15 + 32, which detects
  /// the header). Bytes after the end of the stream are ignored, as Python's
  /// `zlib.decompress` ignores them.
  /// - Throws: ``DecompressionError/invalidCompressedPayload(_:)``.
  package static func decompress(_ body: UnsafeBufferPointer<UInt8>, limit: Int) throws(DecompressionError) -> [UInt8] {
    guard body.count <= Int(UInt32.max) else {
      throw .invalidCompressedPayload("the compressed body is larger than zlib can take in one piece")
    }
    var stream = z_stream()
    guard inflateInit2_(&stream, 15 + 32, zlibVersion(), Int32(MemoryLayout<z_stream>.size)) == Z_OK else {
      throw .invalidCompressedPayload("zlib could not start (out of memory)")
    }
    defer { inflateEnd(&stream) }
    stream.next_in = UnsafeMutablePointer(mutating: body.baseAddress)
    stream.avail_in = UInt32(body.count)
    return try DecompressedOutput.collect(method: "zlib", estimate: body.count * 4, limit: limit) { output, space in
      stream.next_out = output
      stream.avail_out = UInt32(clamping: space)
      let status = inflate(&stream, Z_NO_FLUSH)
      let written = Int(UInt32(clamping: space) - stream.avail_out)
      switch status {
      case Z_STREAM_END:
        return (written, .finished)
      case Z_OK, Z_BUF_ERROR:
        // No progress with room left means the input ran out.
        return (written, stream.avail_in == 0 && written < space ? .truncated : .more)
      case Z_MEM_ERROR:
        return (written, .outOfMemory("out of memory"))
      default:
        return (written, .corrupt(stream.msg.map { String(cString: $0) } ?? "error \(status)"))
      }
    }
  }
}
