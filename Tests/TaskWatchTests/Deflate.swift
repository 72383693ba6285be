import CZlib

/// zlib's `deflate`, to make the compressed payloads Celery writes.
enum Deflate {
  /// `bytes` compressed in one go: window bits 15 give zlib framing (what
  /// kombu writes), 31 gzip framing.
  static func compress(_ bytes: [UInt8], windowBits: Int32 = 15) -> [UInt8] {
    var stream = z_stream()
    let started = deflateInit2_(
      &stream, Z_BEST_COMPRESSION, Z_DEFLATED, windowBits, 8, Z_DEFAULT_STRATEGY, zlibVersion(),
      Int32(MemoryLayout<z_stream>.size))
    precondition(started == Z_OK)
    defer { deflateEnd(&stream) }
    var input = bytes
    var output = [UInt8](repeating: 0, count: Int(deflateBound(&stream, UInt(bytes.count))) + 32)
    let status = input.withUnsafeMutableBufferPointer { source in
      output.withUnsafeMutableBufferPointer { target in
        stream.next_in = source.baseAddress
        stream.avail_in = UInt32(source.count)
        stream.next_out = target.baseAddress
        stream.avail_out = UInt32(target.count)
        return deflate(&stream, Z_FINISH)
      }
    }
    precondition(status == Z_STREAM_END)
    return Array(output.prefix(Int(stream.total_out)))
  }

  /// A Celery 5.7 compressed payload: marker, content type, NUL, body.
  static func celeryPayload(_ body: [UInt8], contentType: String = "application/x-gzip") -> [UInt8] {
    Array("\u{0}celery-compressed\u{0}".utf8) + Array(contentType.utf8) + [0] + body
  }
}
