import CZlib

/// Undoes Celery 5.7's `result_compression`.
///
/// kombu writes the content type `application/x-gzip` for both the `zlib`
/// and the `gzip` setting, and both give a zlib stream (RFC 1950); a gzip
/// stream (RFC 1952) is accepted as well, since zlib tells the two apart by
/// their header. Other methods (bzip2, lzma/xz, brotli, zstd) are refused with
/// an error that names them.
enum PayloadDecompression {
  /// The content type kombu writes for its `zlib` and `gzip` compressions.
  static let zlibContentType = "application/x-gzip"

  /// The largest decompressed payload accepted: far above any real result
  /// (Redis caps a value at 512 MB), and a bound on what a decompression bomb
  /// can make taskwatch allocate.
  static let maximumDecompressedSize = 512 * 1024 * 1024

  /// Decompresses the body of a compressed payload.
  /// - Parameters:
  ///   - body: the bytes after the marker and the content type.
  ///   - contentType: the content type written in the marker.
  ///   - limit: the largest output accepted, in bytes.
  /// - Throws: ``DecodeError/unsupportedCompression(_:)`` for a method other
  ///   than zlib/gzip, ``DecodeError/invalidCompressedPayload(_:)`` for a
  ///   corrupt or truncated body or one that inflates beyond `limit`.
  static func decompress(
    _ body: ArraySlice<UInt8>, contentType: String, limit: Int = maximumDecompressedSize
  ) throws(DecodeError) -> [UInt8] {
    guard contentType == zlibContentType else { throw .unsupportedCompression(methodName(of: contentType)) }
    return try inflate(body, limit: limit)
  }

  /// A name the user recognises for a compression content type: the Celery
  /// setting that produces it, and the content type itself.
  static func methodName(of contentType: String) -> String {
    switch contentType {
    case "": return "an unnamed method"
    case "application/x-bz2": return "bzip2 (application/x-bz2)"
    case "application/x-lzma": return "lzma/xz (application/x-lzma)"
    case "application/x-brotli": return "brotli (application/x-brotli)"
    case "application/zstd": return "zstd (application/zstd)"
    default: return contentType
    }
  }

  /// Inflates a zlib or gzip stream (`inflateInit2` with window bits 15 + 32,
  /// which detects the header), growing the output up to `limit` bytes.
  /// Bytes after the end of the stream are ignored, as Python's
  /// `zlib.decompress` ignores them.
  static func inflate(_ body: ArraySlice<UInt8>, limit: Int) throws(DecodeError) -> [UInt8] {
    guard body.count <= Int(UInt32.max) else {
      throw .invalidCompressedPayload("the compressed body is larger than zlib can take in one piece")
    }
    var stream = z_stream()
    guard inflateInit2_(&stream, 15 + 32, zlibVersion(), Int32(MemoryLayout<z_stream>.size)) == Z_OK else {
      throw .invalidCompressedPayload("zlib could not start (out of memory)")
    }
    defer { inflateEnd(&stream) }
    var output = [UInt8](repeating: 0, count: min(max(body.count * 4, 16 * 1024), limit + 1))
    var produced = 0
    let failure: String? = body.withUnsafeBufferPointer { input in
      stream.next_in = UnsafeMutablePointer(mutating: input.baseAddress)
      stream.avail_in = UInt32(input.count)
      while true {
        if produced == output.count {
          guard output.count <= limit else {
            return "it decompresses to more than \(describe(bytes: limit)), the most taskwatch accepts"
          }
          output.append(contentsOf: repeatElement(0, count: min(output.count, limit + 1 - output.count)))
        }
        let status = output.withUnsafeMutableBufferPointer { buffer in
          stream.next_out = buffer.baseAddress! + produced
          stream.avail_out = UInt32(buffer.count - produced)
          let status = CZlib.inflate(&stream, Z_NO_FLUSH)
          produced = buffer.count - Int(stream.avail_out)
          return status
        }
        switch status {
        case Z_STREAM_END:
          return produced > limit
            ? "it decompresses to more than \(describe(bytes: limit)), the most taskwatch accepts" : nil
        case Z_OK:
          if stream.avail_in == 0 && produced < output.count { return "the zlib stream is truncated" }
        case Z_BUF_ERROR:
          // No progress was possible: either the output is full (grow it) or the input ran out.
          if produced < output.count { return "the zlib stream is truncated" }
        case Z_MEM_ERROR:
          return "out of memory"
        default:
          let reason = stream.msg.map { String(cString: $0) } ?? "error \(status)"
          return "the zlib stream is corrupt (\(reason))"
        }
      }
    }
    if let failure { throw .invalidCompressedPayload(failure) }
    output.removeSubrange(produced...)
    return output
  }

  /// `512 MB` for whole megabytes, else a byte count.
  private static func describe(bytes: Int) -> String {
    bytes % (1024 * 1024) == 0 ? "\(bytes / (1024 * 1024)) MB" : "\(bytes) bytes"
  }
}
