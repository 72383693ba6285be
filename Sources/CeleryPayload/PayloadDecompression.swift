/// Undoes Celery 5.7's `result_compression`, for every method kombu offers.
///
/// | kombu setting | content type | decoder |
/// |---|---|---|
/// | `zlib`, `gzip` | `application/x-gzip` (both a zlib stream) | ``ZlibDecoder`` |
/// | `bzip2` | `application/x-bz2` | ``Bzip2Decoder`` |
/// | `lzma`, `xz` | `application/x-lzma` (an xz container) | ``XZDecoder`` |
/// | `brotli` | `application/x-brotli` | ``BrotliDecoder`` |
/// | `zstd`, `zstandard` | `application/zstd` | ``ZstdDecoder`` |
///
/// Every method shares one cap on the decompressed size
/// (``DecompressedOutput``).
import Decompression

enum PayloadDecompression {
  /// The content type kombu writes for its `zlib` and `gzip` compressions.
  static let zlibContentType = "application/x-gzip"

  /// The largest decompressed payload accepted: far above any real result
  /// (Redis caps a value at 512 MB), and a bound on what a decompression bomb
  /// can make taskwatch allocate.
  static let maximumDecompressedSize = 512 * 1024 * 1024

  /// The decoder for a content type kombu writes.
  private static func decoder(
    for contentType: String
  ) -> ((UnsafeBufferPointer<UInt8>, Int) throws(DecompressionError) -> [UInt8])? {
    switch contentType {
    case zlibContentType: return ZlibDecoder.decompress
    case "application/x-bz2": return Bzip2Decoder.decompress
    case "application/x-lzma": return XZDecoder.decompress
    case "application/x-brotli": return BrotliDecoder.decompress
    case "application/zstd": return ZstdDecoder.decompress
    default: return nil
    }
  }

  /// Decompresses the body of a compressed payload.
  /// - Parameters:
  ///   - body: the bytes after the marker and the content type.
  ///   - contentType: the content type written in the marker.
  ///   - limit: the largest output accepted, in bytes.
  /// - Throws: ``DecodeError/unsupportedCompression(_:)`` for a content
  ///   type kombu does not write, ``DecodeError/invalidCompressedPayload(_:)``
  ///   for a corrupt or truncated body or one that decompresses beyond `limit`.
  static func decompress(
    _ body: ArraySlice<UInt8>, contentType: String, limit: Int = maximumDecompressedSize
  ) throws(DecodeError) -> [UInt8] {
    guard let decoder = decoder(for: contentType) else { throw .unsupportedCompression(methodName(of: contentType)) }
    guard !body.isEmpty else { throw .invalidCompressedPayload("the compressed body is empty (truncated)") }
    do {
      return try body.withUnsafeBufferPointer { buffer throws(DecompressionError) in try decoder(buffer, limit) }
    } catch {
      switch error {
      case .invalidCompressedPayload(let reason): throw .invalidCompressedPayload(reason)
      }
    }
  }

  /// A name the user recognises for a content type taskwatch cannot
  /// decompress: the content type itself.
  static func methodName(of contentType: String) -> String {
    contentType.isEmpty ? "an unnamed method" : contentType
  }
}
