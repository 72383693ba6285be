import CBrotli

/// kombu's `brotli` compression (PyPI's `brotli`), through libbrotlidec.
package enum BrotliDecoder {
  /// Decompresses one brotli stream; bytes after its end are refused, as
  /// Python's `brotli.decompress` refuses them.
  /// - Throws: ``DecompressionError/invalidCompressedPayload(_:)``.
  package static func decompress(_ body: UnsafeBufferPointer<UInt8>, limit: Int) throws(DecompressionError) -> [UInt8] {
    guard let state = BrotliDecoderCreateInstance(nil, nil, nil) else {
      throw .invalidCompressedPayload("brotli could not start (out of memory)")
    }
    defer { BrotliDecoderDestroyInstance(state) }
    var availableIn = body.count
    var nextIn = body.baseAddress
    return try DecompressedOutput.collect(method: "brotli", estimate: body.count * 4, limit: limit) { output, space in
      var availableOut = space
      var nextOut: UnsafeMutablePointer<UInt8>? = output
      let result = BrotliDecoderDecompressStream(state, &availableIn, &nextIn, &availableOut, &nextOut, nil)
      let written = space - availableOut
      switch result {
      case BROTLI_DECODER_RESULT_SUCCESS:
        return (written, availableIn == 0 ? .finished : .corrupt("data after the end of the stream"))
      case BROTLI_DECODER_RESULT_NEEDS_MORE_OUTPUT:
        return (written, .more)
      case BROTLI_DECODER_RESULT_NEEDS_MORE_INPUT:
        return (written, .truncated)
      default:
        let reason = BrotliDecoderErrorString(BrotliDecoderGetErrorCode(state)).map { String(cString: $0) }
        return (written, .corrupt(reason ?? "error"))
      }
    }
  }
}
