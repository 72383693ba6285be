import CZstd

/// kombu's `zstd` compression (`compression.zstd`, or `backports.zstd`
/// before Python 3.14), through libzstd.
package enum ZstdDecoder {
  /// Decompresses every frame of `body`, as Python's `zstd.decompress` does.
  /// - Throws: ``DecompressionError/invalidCompressedPayload(_:)``.
  package static func decompress(_ body: UnsafeBufferPointer<UInt8>, limit: Int) throws(DecompressionError) -> [UInt8] {
    guard let context = ZSTD_createDCtx() else {
      throw .invalidCompressedPayload("zstd could not start (out of memory)")
    }
    defer { ZSTD_freeDCtx(context) }
    var input = ZSTD_inBuffer(src: body.baseAddress, size: body.count, pos: 0)
    return try DecompressedOutput.collect(method: "zstd", estimate: body.count * 4, limit: limit) { output, space in
      var buffer = ZSTD_outBuffer(dst: output, size: space, pos: 0)
      let hint = ZSTD_decompressStream(context, &buffer, &input)
      if ZSTD_isError(hint) != 0 {
        return (buffer.pos, .corrupt(String(cString: ZSTD_getErrorName(hint))))
      }
      let inputLeft = input.pos < input.size
      // 0: a frame ended; another may follow in the input.
      if hint == 0 && !inputLeft { return (buffer.pos, .finished) }
      return (buffer.pos, !inputLeft && buffer.pos < space ? .truncated : .more)
    }
  }
}
